"""A checkpoint is a folder, and loading one never runs code from it.

::

    i2imetric_config.json   architecture, base weights source (tag, hub id, or file+sha256),
                            preprocessing, LoRA config, calibration, score range, versions
    model.safetensors       every trainable tensor (head, LoRA; all weights for "full")
    README.md               the model card
    base.safetensors        only for a base that exists nowhere else (random or tiny bases)

Loading reads safetensors only, matches keys strictly and checks shapes. Pickle files are
refused outright, a base file is checked against its recorded sha256, and a config written
by a newer major format is refused rather than half-understood.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import torch
from safetensors.torch import load_file, save_file

from .config import SUBSCORE_NAMES, MetricConfig
from .encoders import check_recorded_file, resolve_open_clip_weights, resolve_timm_weights
from .errors import CheckpointError
from .metric import Calibration, I2IMetric
from .preprocess import Preprocess
from .pretrained import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME
from .version import __version__
from .weights import WeightsSource, sha256_file

__all__ = ["CONFIG_NAME", "WEIGHTS_NAME", "CARD_NAME", "FORMAT_VERSION", "save_checkpoint", "load_checkpoint"]

BASE_NAME = "base.safetensors"
TIMM_BASE_NAME = "timm_base.safetensors"
FORMAT_VERSION = "1.0"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def trainable_tensors(metric: I2IMetric) -> dict[str, torch.Tensor]:
    """Every tensor training may change, by its name in the metric."""
    return {name: p.detach().cpu().contiguous() for name, p in metric.named_parameters() if p.requires_grad}


def save_checkpoint(metric: I2IMetric, folder: str | Path, card: Optional[str] = None, bundle_base: bool = False) -> Path:
    """Write ``metric`` to ``folder`` (created if needed) and return the folder.

    Args:
        metric: the metric to save.
        folder: the checkpoint folder.
        card: the model card's markdown (default: a short generated card, unless one exists).
        bundle_base: copy a local-file base into the folder, recorded by relative path and
            sha256, so the folder is self-contained (the shipped demo scorer does this).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(trainable_tensors(metric), str(folder / WEIGHTS_NAME))
    base_source = metric.base_source
    if bundle_base and base_source.kind == "file":
        base_source = _copy_base_file(base_source, folder / BASE_NAME)
    base_source = _relative_if_inside(_bundle_if_needed(base_source, metric.clip.model, folder / BASE_NAME, metric), folder)
    timm_source = metric.timm_source
    if metric.timm is not None:
        timm_source = _bundle_if_needed(metric.timm_source, metric.timm.model, folder / TIMM_BASE_NAME, metric)
    config = {
        "format_version": FORMAT_VERSION,
        "i2imetric_version": __version__,
        "model": metric.config.to_dict(),
        "open_clip_config": metric.clip.open_clip_config,
        "preprocess": {
            "open_clip": metric.clip.preprocess.to_dict(),
            "timm": metric.timm.preprocess.to_dict() if metric.timm is not None else None,
        },
        "base_weights": base_source.to_dict(),
        "timm_weights": timm_source.to_dict() if timm_source is not None else None,
        "calibration": vars(metric.calibration) if metric.calibration is not None else None,
        "higher_is_better": True,
        "score_range": {"raw": [None, None], "calibrated": [0.0, 1.0]},
        "subscores": list(SUBSCORE_NAMES),
    }
    with open(folder / CONFIG_NAME, "w", encoding="utf-8") as handle:
        json.dump(config, handle, indent=2)
        handle.write("\n")
    if card is not None or not (folder / CARD_NAME).exists():
        (folder / CARD_NAME).write_text(card if card is not None else _default_card(metric), encoding="utf-8")
    return folder


def load_checkpoint(folder: str | Path, device: Optional[str] = None, base_weights: Optional[str] = None) -> I2IMetric:
    """Load a checkpoint folder into an :class:`I2IMetric` in eval mode.

    Args:
        folder: the checkpoint folder.
        device: target device (CPU by default).
        base_weights: a local base weights file to use instead of the recorded source (its
            sha256 is still checked when one was recorded).
    """
    from .factory import build_metric

    folder = Path(folder)
    stored = _read_config(folder)
    config = MetricConfig.from_dict(stored["model"], where=f"{folder / CONFIG_NAME}: model")
    base_file, base_source = _resolve_base(stored, folder, base_weights)
    timm_file, timm_source = _resolve_timm(stored, folder, config)
    metric = build_metric(
        config,
        stored["open_clip_config"],
        Preprocess.from_dict(stored["preprocess"]["open_clip"]),
        base_file,
        base_source,
        timm_file,
        timm_source,
    )
    if metric.timm is not None and stored["preprocess"].get("timm"):
        metric.timm.preprocess = Preprocess.from_dict(stored["preprocess"]["timm"])
    _load_trainable(metric, folder / WEIGHTS_NAME)
    if stored.get("calibration"):
        metric.calibration = Calibration(**stored["calibration"])
    return metric.to(device or "cpu").eval()


# ----------------------------------------------------------------------- saving


def _bundle_if_needed(source: WeightsSource, module: torch.nn.Module, path: Path, metric: I2IMetric) -> WeightsSource:
    """A random base exists nowhere else: write it next to the checkpoint, with its sha256.

    Bases with a tag, hub id or file source are recorded, not copied. A "full" fine-tune
    stores every weight in model.safetensors already.
    """
    if source.kind != "random" or metric.config.trainable == "full":
        return source
    save_file(_frozen_base_state(module), str(path))
    return WeightsSource("file", path.name, sha256_file(path))


def _relative_if_inside(source: WeightsSource, folder: Path) -> WeightsSource:
    """Record a base file inside the checkpoint folder by name, so the folder can move."""
    if source.kind != "file":
        return source
    path = Path(source.ref)
    if path.is_absolute() and path.resolve().parent == folder.resolve():
        return WeightsSource("file", path.name, source.sha256)
    return source


def _copy_base_file(source: WeightsSource, target: Path) -> WeightsSource:
    import shutil

    if Path(source.ref).resolve() != target.resolve():
        shutil.copyfile(source.ref, target)
    return WeightsSource("file", target.name, sha256_file(target))


def _frozen_base_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The module's original weights, with peft's LoRA tensors and wrapper names removed."""
    state = {}
    for name, tensor in module.state_dict().items():
        if "lora_" in name:
            continue
        state[name.replace(".base_layer", "")] = tensor.detach().cpu().contiguous()
    return state


def _default_card(metric: I2IMetric) -> str:
    config = metric.config
    return (
        f"# i2imetric checkpoint: {config.name}\n\n"
        f"{config.description}\n\n"
        f"- base: {metric.base_source.kind} {metric.base_source.ref or ''}\n"
        f"- trainable: {config.trainable}; {metric.parameter_count()}\n"
        "- training data and validation numbers: not recorded (this card was written automatically).\n"
    )


# ---------------------------------------------------------------------- loading


def _read_config(folder: Path) -> dict:
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: not a checkpoint folder")
    config_path = folder / CONFIG_NAME
    if not config_path.is_file():
        raise CheckpointError(f"{folder}: missing {CONFIG_NAME}; is this an i2imetric checkpoint folder?")
    if not (folder / WEIGHTS_NAME).is_file():
        pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
        if pickles:
            raise CheckpointError(
                f"{folder}: found {pickles} but no {WEIGHTS_NAME}; pickle files are refused because loading them "
                "can run arbitrary code. Convert the tensors with safetensors.torch.save_file."
            )
        raise CheckpointError(f"{folder}: missing {WEIGHTS_NAME}")
    try:
        with open(config_path, encoding="utf-8") as handle:
            stored = json.load(handle)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{config_path}: not valid JSON ({exc})") from exc
    _check_format_version(stored, config_path)
    for key in ("model", "open_clip_config", "preprocess", "base_weights"):
        if key not in stored:
            raise CheckpointError(f"{config_path}: missing required key {key!r}")
    return stored


def _check_format_version(stored: dict, config_path: Path) -> None:
    version = str(stored.get("format_version", ""))
    try:
        major = int(version.split(".")[0])
    except ValueError:
        raise CheckpointError(f"{config_path}: missing or invalid format_version {version!r}") from None
    ours = int(FORMAT_VERSION.split(".")[0])
    if major > ours:
        raise CheckpointError(
            f"{config_path}: written in checkpoint format {version} by i2imetric "
            f"{stored.get('i2imetric_version', '?')}; this is i2imetric {__version__} (format {FORMAT_VERSION}). "
            "Upgrade i2imetric to load it."
        )


def _resolve_base(stored: dict, folder: Path, override: Optional[str]):
    source = WeightsSource.from_dict(stored["base_weights"])
    if override is not None:
        recorded = WeightsSource("file", str(Path(override).resolve()), source.sha256)
        return (check_recorded_file(recorded, folder) if source.sha256 else str(override)), recorded
    if source.kind == "file":
        path = check_recorded_file(source, folder)
        # In memory the source is absolute, so saving the metric elsewhere still finds it.
        return path, WeightsSource("file", str(Path(path).resolve()), source.sha256)
    if source.kind in ("open_clip", "hf-hub"):
        architecture = stored["model"]["base"].get("open_clip")
        path, _, _ = resolve_open_clip_weights(architecture, source.ref, None)
        return path, source
    if source.kind == "random" and stored["model"].get("trainable") == "full":
        return None, source  # every weight is in model.safetensors
    raise CheckpointError(f"{folder}: base_weights {source.to_dict()} cannot be resolved")


def _resolve_timm(stored: dict, folder: Path, config: MetricConfig):
    if config.timm is None:
        return None, None
    source = WeightsSource.from_dict(stored["timm_weights"]) if stored.get("timm_weights") else WeightsSource("random")
    if source.kind == "file":
        return check_recorded_file(source, folder), source
    if source.kind in ("timm", "hf-hub"):
        tag = source.ref.split(".", 1)[1] if source.kind == "timm" else source.ref
        path, _ = resolve_timm_weights(config.timm.model, tag, None)
        return path, source
    return None, source


def _load_trainable(metric: I2IMetric, path: Path) -> None:
    """Copy the saved tensors in, refusing any mismatch of names or shapes."""
    saved = load_file(str(path), device="cpu")
    expected = {name: p for name, p in metric.named_parameters() if p.requires_grad}
    missing = sorted(set(expected) - set(saved))
    unexpected = sorted(set(saved) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: tensor names do not match the architecture in the config: "
            f"missing {_preview(missing)}, unexpected {_preview(unexpected)}"
        )
    wrong_shapes = [
        f"{name}: file {tuple(saved[name].shape)} vs model {tuple(p.shape)}"
        for name, p in expected.items()
        if saved[name].shape != p.shape
    ]
    if wrong_shapes:
        raise CheckpointError(f"{path}: tensor shapes do not match: {_preview(wrong_shapes)}")
    with torch.no_grad():
        for name, parameter in expected.items():
            parameter.copy_(saved[name])


def _preview(items: list, limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return f"[{shown}{', ...' if len(items) > limit else ''}] ({len(items)})"
