"""Resumable training state on disk: safetensors for tensors, JSON for the rest, never a pickle.

``accelerator.save_state`` pickles the optimizer, scheduler, RNG states and registered
objects, and ``load_state`` unpickles them with ``weights_only=False``: a run folder handed
over by someone else would run their code. This module writes the same state itself into
``OUTPUT_DIR/state``::

    state.json              format, step, best accuracy, accelerate's accumulation counter,
                            and the size and sha256 of every other file; written last
    model.safetensors       the trainable parameters, by name
    optimizer.safetensors   per-parameter optimizer tensors, "<parameter>::<key>"
                            (AdamW: exp_avg, exp_avg_sq, step)
    optimizer.json          parameter groups (lr, betas, ..., their parameters by name) and any
                            per-parameter state that is not a tensor
    scheduler.json          the LR scheduler's state_dict
    scaler.json             the fp16 gradient scaler's state (mixed_precision=fp16 only)
    rng-<rank>.safetensors  torch CPU and CUDA generator states of process <rank> (uint8)
    rng-<rank>.json         Python's and NumPy's generator states of process <rank>

A save goes to ``state.tmp-<pid>``, is flushed to disk, then swapped in: ``state`` is
renamed to ``state.old-<pid>``, the new folder to ``state``, and the old one deleted. A kill
at any moment leaves either the previous complete state or the new one;
:func:`recover_state_dir` tidies the leftovers on the next start. Loading checks every file
against ``state.json``, so a torn, missing or mixed-in file is a :class:`CheckpointError`
naming it, never a silent resume from a mixed state.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from i2imetric.errors import CheckpointError
from i2imetric.hub.weights import sha256_file

__all__ = ["TrainingState", "recover_state_dir", "remove_state", "MANIFEST", "STATE_FORMAT", "STATE_VERSION"]

MANIFEST = "state.json"
MANIFEST_KEYS = ("step", "best_accuracy", "accelerator_step", "num_processes", "files")
STATE_FORMAT = "i2imetric-training-state"
STATE_VERSION = 1
MODEL_FILE = "model.safetensors"
OPTIMIZER_TENSORS = "optimizer.safetensors"
OPTIMIZER_JSON = "optimizer.json"
SCHEDULER_FILE = "scheduler.json"
SCALER_FILE = "scaler.json"
# Separates a parameter's name from its optimizer-state key; parameter names contain dots.
KEY_SEPARATOR = "::"
FRESH_HINT = "rerun with --fresh to start over (this deletes the saved state)"


def rng_files(rank: int) -> tuple[str, str]:
    return f"rng-{rank}.safetensors", f"rng-{rank}.json"


class TrainingState:
    """Everything a resumed run needs, saved and loaded without unpickling.

    Args:
        accelerator: the run's ``Accelerator`` (process rank, accumulation counter, scaler).
        metric: the unwrapped model; only its trainable parameters are state, the frozen
            ones are rebuilt identically from the config.
        optimizer, scheduler: as returned by ``accelerator.prepare``.
        progress: an object with ``state_dict()``/``load_state_dict()`` of JSON values.
    """

    def __init__(self, accelerator, metric, optimizer, scheduler, progress):
        self.accelerator, self.metric = accelerator, metric
        self.optimizer, self.scheduler, self.progress = optimizer, scheduler, progress

    # ------------------------------------------------------------------ saving

    def save(self, state_dir: Path) -> None:
        """Write the state to a temporary folder, then swap it in for ``state_dir`` at once."""
        accelerator, state_dir = self.accelerator, Path(state_dir)
        temp = self._temp_dir(state_dir)
        if accelerator.is_main_process:
            shutil.rmtree(temp, ignore_errors=True)
            temp.mkdir(parents=True)
        accelerator.wait_for_everyone()
        self._write_rng(temp, accelerator.process_index)
        if accelerator.is_main_process:
            self._write_model(temp)
            self._write_optimizer(temp)
            _write_json(temp / SCHEDULER_FILE, self.scheduler.state_dict())
            if self._scaler() is not None:
                _write_json(temp / SCALER_FILE, self._scaler().state_dict())
        accelerator.wait_for_everyone()  # every rank's RNG file is on disk before the manifest hashes it
        if accelerator.is_main_process:
            self._write_manifest(temp)
            _swap_in(temp, state_dir)
        accelerator.wait_for_everyone()

    def _temp_dir(self, state_dir: Path) -> Path:
        """``state.tmp-<pid of the main process>``: every rank writes into the same folder."""
        owner = [os.getpid()]
        if self.accelerator.num_processes > 1:
            from accelerate.utils import broadcast_object_list

            broadcast_object_list(owner)  # travels over the process group, not through a file
        return state_dir.with_name(f"{state_dir.name}.tmp-{owner[0]}")

    def _write_model(self, folder: Path) -> None:
        tensors = {name: p.detach().cpu().contiguous() for name, p in self._trainable().items()}
        _write_safetensors(folder / MODEL_FILE, tensors)

    def _write_optimizer(self, folder: Path) -> None:
        state = self.optimizer.state_dict()
        names = self._optimizer_parameter_names()
        tensors, other = {}, {}
        for index, per_parameter in state["state"].items():
            for key, value in per_parameter.items():
                if torch.is_tensor(value):
                    tensors[f"{names[index]}{KEY_SEPARATOR}{key}"] = value.detach().cpu().contiguous()
                else:
                    other.setdefault(names[index], {})[key] = value
        groups = [{**group, "params": [names[i] for i in group["params"]]} for group in state["param_groups"]]
        _write_safetensors(folder / OPTIMIZER_TENSORS, tensors)
        _write_json(folder / OPTIMIZER_JSON, {"param_groups": groups, "non_tensor_state": other})

    def _write_rng(self, folder: Path, rank: int) -> None:
        tensor_file, json_file = rng_files(rank)
        tensors = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            for device, generator_state in enumerate(torch.cuda.get_rng_state_all()):
                tensors[f"cuda.{device}"] = generator_state
        _write_safetensors(folder / tensor_file, tensors)
        version, internal, gauss = random.getstate()
        kind, keys, position, has_gauss, cached = np.random.get_state()
        _write_json(folder / json_file, {
            "python": {"version": version, "internal": list(internal), "gauss_next": gauss},
            "numpy": {"kind": kind, "keys": keys.tolist(), "pos": int(position), "has_gauss": int(has_gauss),
                      "cached_gaussian": float(cached)},
        }, indent=None)  # 1,249 generator words; one per line would help no reader

    def _write_manifest(self, folder: Path) -> None:
        files = {}
        for path in sorted(folder.iterdir()):
            files[path.name] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
        manifest = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            **self.progress.state_dict(),
            "accelerator_step": self.accelerator.step,
            "num_processes": self.accelerator.num_processes,
            "files": files,
        }
        # Its own atomic replace: a state.json that exists is a whole one, so recovery may trust it.
        _write_json(folder / MANIFEST, manifest)

    # ----------------------------------------------------------------- loading

    def load(self, state_dir: Path) -> None:
        """Restore model, optimizer, scheduler, scaler, RNG and progress from ``state_dir``.

        Raises:
            CheckpointError: a file is missing, torn, corrupt, from another save, or does not
                fit this run's model; the message names the file and suggests ``--fresh``.
        """
        state_dir = Path(state_dir)
        manifest = read_manifest(state_dir, self._expected_files())
        if manifest["num_processes"] != self.accelerator.num_processes:
            # Each process draws its groups by (step, rank): another count would not continue the same run.
            raise CheckpointError(
                f"{state_dir / MANIFEST}: saved by {manifest['num_processes']} process(es), resumed with "
                f"{self.accelerator.num_processes}; launch with as many processes, or {FRESH_HINT}"
            )
        self._load_model(state_dir / MODEL_FILE)
        self._load_optimizer(state_dir / OPTIMIZER_TENSORS, state_dir / OPTIMIZER_JSON)
        with _reading(state_dir / SCHEDULER_FILE):
            self.scheduler.load_state_dict(_read_json(state_dir / SCHEDULER_FILE))
        if self._scaler() is not None:
            with _reading(state_dir / SCALER_FILE):
                self._scaler().load_state_dict(_read_json(state_dir / SCALER_FILE))
        self._load_rng(state_dir, self.accelerator.process_index)
        with _reading(state_dir / MANIFEST):
            self.progress.load_state_dict(manifest)
            # accelerate counts micro-batches to know when gradients sync under accumulation.
            self.accelerator.step = int(manifest["accelerator_step"])

    def _expected_files(self) -> list[str]:
        expected = [MODEL_FILE, OPTIMIZER_TENSORS, OPTIMIZER_JSON, SCHEDULER_FILE]
        expected += rng_files(self.accelerator.process_index)
        if self._scaler() is not None:
            expected.append(SCALER_FILE)
        return expected

    def _load_model(self, path: Path) -> None:
        saved = _read_safetensors(path)
        trainable = self._trainable()
        if saved.keys() != trainable.keys():
            missing, extra = sorted(trainable.keys() - saved.keys()), sorted(saved.keys() - trainable.keys())
            raise CheckpointError(
                f"{path}: holds the trainable parameters of another model (missing {missing[:3]}, unexpected "
                f"{extra[:3]}); was model, model_overrides or trainable changed since it was saved? {FRESH_HINT}"
            )
        with torch.no_grad():
            for name, parameter in trainable.items():
                if saved[name].shape != parameter.shape:
                    raise CheckpointError(f"{path}: {name} has shape {tuple(saved[name].shape)}, the model "
                                          f"{tuple(parameter.shape)}; {FRESH_HINT}")
                parameter.copy_(saved[name])

    def _load_optimizer(self, tensor_path: Path, json_path: Path) -> None:
        tensors = _read_safetensors(tensor_path)
        index_of = {name: index for index, name in enumerate(self._optimizer_parameter_names())}
        with _reading(json_path):
            saved = _read_json(json_path)
            groups = [{**group, "params": [index_of[name] for name in group["params"]]}
                      for group in saved["param_groups"]]
            state: dict = {}
            for name, values in saved["non_tensor_state"].items():
                state.setdefault(index_of[name], {}).update(values)
        with _reading(tensor_path):
            for key, tensor in tensors.items():
                name, field = key.rsplit(KEY_SEPARATOR, 1)
                state.setdefault(index_of[name], {})[field] = tensor
        with _reading(json_path):
            self.optimizer.load_state_dict({"state": state, "param_groups": groups})

    def _load_rng(self, state_dir: Path, rank: int) -> None:
        tensor_file, json_file = rng_files(rank)
        tensors = _read_safetensors(state_dir / tensor_file)
        with _reading(state_dir / tensor_file):
            torch.set_rng_state(tensors["torch"])
            if torch.cuda.is_available():
                for device in range(torch.cuda.device_count()):
                    if f"cuda.{device}" in tensors:  # saved on a machine with as many GPUs
                        torch.cuda.set_rng_state(tensors[f"cuda.{device}"], device)
        with _reading(state_dir / json_file):
            saved = _read_json(state_dir / json_file)
            python, numpy_state = saved["python"], saved["numpy"]
            random.setstate((python["version"], tuple(python["internal"]), python["gauss_next"]))
            np.random.set_state((numpy_state["kind"], np.array(numpy_state["keys"], dtype=np.uint32),
                                 numpy_state["pos"], numpy_state["has_gauss"], numpy_state["cached_gaussian"]))

    # ----------------------------------------------------------------- helpers

    def _trainable(self) -> dict[str, torch.nn.Parameter]:
        return {name: p for name, p in self.metric.named_parameters() if p.requires_grad}

    def _optimizer_parameter_names(self) -> list[str]:
        """Parameter names in the optimizer's own order (its state_dict numbers them so)."""
        name_of = {id(p): name for name, p in self.metric.named_parameters()}
        return [name_of[id(p)] for group in self.optimizer.param_groups for p in group["params"]]

    def _scaler(self):
        return getattr(self.accelerator, "scaler", None)


# --------------------------------------------------------------------- manifest


def read_manifest(state_dir: Path, expected: list[str]) -> dict:
    """Read ``state.json`` and check every expected file against its size and sha256.

    Raises:
        CheckpointError: no manifest (an old pickled accelerate state, or no state at all),
            a corrupt one, another format or version, or a file missing or not the one saved.
    """
    path = state_dir / MANIFEST
    if not path.is_file():
        pickles = sorted(p.name for p in state_dir.glob("*") if p.suffix in (".pkl", ".bin", ".pt"))
        if pickles:
            raise CheckpointError(
                f"{state_dir}: a state in accelerate's pickle format ({', '.join(pickles[:3])}), which is never "
                f"loaded because unpickling can run code; {FRESH_HINT}"
            )
        raise CheckpointError(f"{path}: missing, so the state in {state_dir} is incomplete; {FRESH_HINT}")
    with _reading(path):
        manifest = _read_json(path)
        if manifest.get("format") != STATE_FORMAT or manifest.get("version") != STATE_VERSION:
            raise CheckpointError(
                f"{path}: not an i2imetric training state of version {STATE_VERSION} "
                f"(format {manifest.get('format')!r}, version {manifest.get('version')!r}); {FRESH_HINT}"
            )
        missing = [key for key in MANIFEST_KEYS if key not in manifest]
        if missing:
            raise CheckpointError(f"{path}: lacks {', '.join(missing)}; {FRESH_HINT}")
        for name in expected:
            _check_file(state_dir / name, manifest["files"].get(name))
    return manifest


def _check_file(path: Path, record) -> None:
    if record is None:
        raise CheckpointError(
            f"{path}: not part of the saved state (saved with other settings, e.g. without mixed_precision=fp16, "
            f"or by other processes?); {FRESH_HINT}"
        )
    if not path.is_file():
        raise CheckpointError(f"{path}: missing from the saved state; {FRESH_HINT}")
    if path.stat().st_size != record["bytes"] or sha256_file(path) != record["sha256"]:
        raise CheckpointError(
            f"{path}: not the file {MANIFEST} recorded (torn by a kill, corrupted, or copied in from another "
            f"save); {FRESH_HINT}"
        )


# ---------------------------------------------------------------- atomic files


def recover_state_dir(state_dir: Path) -> None:
    """Finish or undo a save that a kill interrupted, and delete its leftovers.

    ``state`` itself is always complete (it only ever appears by a rename). Without it, a kill
    fell between the two renames of a swap, or during the very first save: a temporary folder
    whose ``state.json`` exists was complete and becomes ``state``; otherwise the renamed-away
    old state comes back. Run on the main process only, before anything loads.
    """
    state_dir = Path(state_dir)
    temps = sorted(state_dir.parent.glob(f"{state_dir.name}.tmp-*"))
    olds = sorted(state_dir.parent.glob(f"{state_dir.name}.old-*"))
    if not state_dir.exists():
        complete = [temp for temp in temps if (temp / MANIFEST).is_file()]
        if complete:
            os.rename(max(complete, key=lambda temp: (temp / MANIFEST).stat().st_mtime), state_dir)
        elif olds:
            os.rename(olds[-1], state_dir)
    for leftover in temps + olds:
        shutil.rmtree(leftover, ignore_errors=True)


def remove_state(state_dir: Path) -> None:
    """Delete the state and any leftovers of an interrupted save (``--fresh``)."""
    state_dir = Path(state_dir)
    shutil.rmtree(state_dir, ignore_errors=True)
    for leftover in [*state_dir.parent.glob(f"{state_dir.name}.tmp-*"), *state_dir.parent.glob(f"{state_dir.name}.old-*")]:
        shutil.rmtree(leftover, ignore_errors=True)


def _swap_in(temp: Path, state_dir: Path) -> None:
    old = state_dir.with_name(f"{state_dir.name}.old-{os.getpid()}")
    if state_dir.exists():
        os.rename(state_dir, old)
    os.rename(temp, state_dir)
    _fsync_dir(state_dir.parent)
    shutil.rmtree(old, ignore_errors=True)


def _write_safetensors(path: Path, tensors: dict) -> None:
    save_file(tensors, str(path))
    _fsync_file(path)


def _write_json(path: Path, data, indent: int | None = 1) -> None:
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=indent)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(folder: Path) -> None:
    """Make renames inside ``folder`` durable (POSIX; elsewhere a folder cannot be opened)."""
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _read_json(path: Path):
    if not path.is_file():
        raise CheckpointError(f"{path}: missing from the saved state; {FRESH_HINT}")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _read_safetensors(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"{path}: missing from the saved state; {FRESH_HINT}")
    with _reading(path):
        return load_file(str(path), device="cpu")


@contextlib.contextmanager
def _reading(path: Path):
    """Turn what a damaged or mismatched state file makes parsing raise into a CheckpointError naming it."""
    try:
        yield
    except CheckpointError:
        raise
    except (SafetensorError, ValueError, KeyError, TypeError, IndexError, AttributeError, RuntimeError) as exc:
        # ValueError covers bad JSON and undecodable bytes; the rest are a file of the wrong shape.
        raise CheckpointError(f"{path}: unreadable or does not fit this run ({type(exc).__name__}: {exc}); "
                              f"{FRESH_HINT}") from exc
