"""Finding, fetching and verifying pretrained weights, safely and never by surprise.

A base's weights come from one of four places, recorded in a checkpoint as a
:class:`WeightsSource`:

* ``open_clip``: a pretrained tag of an OpenCLIP architecture (``"openai"``), fetched
  through the Hugging Face cache exactly where open_clip itself would put it;
* ``hf-hub``: ``"hf-hub:org/repo"`` or ``"hf-hub:org/repo/file.safetensors"``;
* ``file``: a local file, checked against its recorded sha256;
* ``random``: no weights (tiny test models).

Nothing is downloaded unless a pretrained source was asked for and is not cached. Offline
(``HF_HUB_OFFLINE=1``) a missing file fails at once, naming the cache and how to pass a
local file instead. ``.pt``/``.bin`` files load with ``weights_only=True``; safetensors
never unpickle.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional

import torch

from ..errors import BaseWeightsError, CheckpointError
from .refs import HUB_PREFIX, hub_ref

__all__ = [
    "WeightsSource",
    "sha256_file",
    "verify_sha256",
    "hub_is_offline",
    "fetch_hub_file",
    "read_state_dict",
    "check_tensors",
    "check_weights_file",
    "iter_weights_file",
    "FLOAT_DTYPES",
    "HUB_PREFIX",
    "hub_ref",
    "resolve_open_clip_weights",
    "resolve_timm_weights",
    "check_recorded_file",
]

SAFE_SUFFIXES = (".safetensors",)
TORCH_SUFFIXES = (".pt", ".pth", ".bin")
SOURCE_KINDS = ("open_clip", "hf-hub", "timm", "file", "random")
# Loading casts a stored tensor to the model's dtype. Between floating types that only
# rounds; from an integer or bool it silently turns garbage into plausible-looking weights.
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
# Buffers that hold integers by design (BatchNorm's step counter, HF text models' position
# ids), so a base file may store them as integers.
INTEGER_BUFFER_SUFFIXES = ("num_batches_tracked", "position_ids")


@dataclass
class WeightsSource:
    """Where a set of weights came from; stored in the checkpoint config."""

    kind: str  # "open_clip" | "hf-hub" | "timm" | "file" | "random"
    ref: Optional[str] = None  # the tag, the hub id, "model.tag" for timm, or the file path
    sha256: Optional[str] = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict, where: str = "weights source") -> "WeightsSource":
        """Read a source from a checkpoint config, checking every field.

        Args:
            data: the stored mapping (``kind``, ``ref``, ``sha256``).
            where: the file and key it came from, for error messages.

        Raises:
            CheckpointError: not a mapping, an unknown key or kind, a missing ``ref``, or a
                ``file`` source without a 64-hex-digit ``sha256``.
        """
        if not isinstance(data, dict):
            raise CheckpointError(f"{where}: expected a mapping with 'kind', 'ref', 'sha256', got {data!r}")
        unknown = sorted(set(data) - {"kind", "ref", "sha256"})
        if unknown:
            raise CheckpointError(f"{where}: unknown key(s) {unknown}; valid keys: ['kind', 'ref', 'sha256']")
        kind, ref, sha256 = data.get("kind"), data.get("ref"), data.get("sha256")
        if kind not in SOURCE_KINDS:
            raise CheckpointError(f"{where}.kind: {kind!r} is not one of {list(SOURCE_KINDS)}")
        if kind != "random" and (not isinstance(ref, str) or not ref):
            raise CheckpointError(f"{where}.ref: a {kind!r} source needs its tag, id or path as a string, got {ref!r}")
        if kind == "timm" and "." not in ref:
            raise CheckpointError(f"{where}.ref: a timm source is recorded as 'model.tag', got {ref!r}")
        if sha256 is not None or kind == "file":
            _check_sha256_field(sha256, kind, f"{where}.sha256")
        return cls(kind, ref, sha256)


def _check_sha256_field(value, kind: str, where: str) -> None:
    if not isinstance(value, str) or len(value) != 64 or any(c not in "0123456789abcdefABCDEF" for c in value):
        needed = "; a file source must record the file's sha256" if kind == "file" else ""
        raise CheckpointError(
            f"{where}: expected 64 hex digits, got {value!r}{needed}. Re-create the checkpoint, or record "
            "the sha256 of the original file (i2imetric.hub.weights.sha256_file)."
        )


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so multi-GB weights don't fill memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str | os.PathLike, expected: str) -> None:
    """Raise :class:`BaseWeightsError` unless ``path`` hashes to ``expected``."""
    if not isinstance(expected, str):
        raise BaseWeightsError(f"{path}: no sha256 was recorded to check it against (got {expected!r})")
    actual = sha256_file(path)
    if actual != expected.lower():
        raise BaseWeightsError(
            f"{path}: sha256 is {actual}, but the checkpoint recorded {expected}; this is not the "
            "file the metric was trained on. Pass the original file (or re-create the checkpoint)."
        )


def hub_is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


# What to do instead when a hub file cannot be had here: for base weights, and for a whole
# checkpoint folder (which load_metric takes as a path).
WEIGHTS_HINT = ("download the file on a machine with internet and pass its local path as "
                "`pretrained=/path/to/weights.safetensors`")
CHECKPOINT_HINT = ("download the repo's folder on a machine with internet (e.g. `hf download {repo} --local-dir "
                   "DIR`) and pass that folder to `load_metric(DIR)` or `--metric DIR`")


def fetch_hub_file(repo_id: str, filenames: list[str], cache_dir: Optional[str] = None,
                   local_hint: str = WEIGHTS_HINT) -> str:
    """Return a local path to the first of ``filenames`` found in hub repo ``repo_id``.

    The cache is tried first for every candidate, so a cached file never touches the
    network. Only then, and only when not offline, is a download attempted.

    ``local_hint`` says what to do instead in the error (:data:`WEIGHTS_HINT` for a base's
    weights, :data:`CHECKPOINT_HINT` for a checkpoint's files; ``{repo}`` is filled in).

    Raises:
        BaseWeightsError: offline and not cached, or the download failed.
    """
    from huggingface_hub import hf_hub_download

    for filename in filenames:
        try:
            return hf_hub_download(repo_id, filename, cache_dir=cache_dir, local_files_only=True)
        except Exception:  # noqa: BLE001 - any miss means "not in the cache"
            continue
    cache = cache_dir or _hub_cache_dir()
    local_hint = local_hint.format(repo=repo_id)
    if hub_is_offline():
        raise BaseWeightsError(
            f"hf-hub:{repo_id} ({' or '.join(filenames)}) is not in the cache at {cache} and "
            f"HF_HUB_OFFLINE=1 forbids downloading; {local_hint}"
        )
    errors = []
    for filename in filenames:
        try:
            return hf_hub_download(repo_id, filename, cache_dir=cache_dir)
        except Exception as exc:  # noqa: BLE001 - reported together below
            errors.append(f"{filename}: {type(exc).__name__}: {exc}")
    raise BaseWeightsError(
        f"could not fetch hf-hub:{repo_id} into {cache}:\n  " + "\n  ".join(errors) + f"\nOtherwise {local_hint}"
    )


def _hub_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def read_state_dict(path: str | os.PathLike, error: type = BaseWeightsError) -> dict[str, torch.Tensor]:
    """Load a weights file without ever executing pickled code.

    safetensors files are read directly; ``.pt``/``.pth``/``.bin`` go through
    ``torch.load(weights_only=True)``, which refuses arbitrary objects.

    Args:
        path: the weights file.
        error: the exception class to raise (a checkpoint's own file raises CheckpointError).
    """
    return dict(iter_weights_file(path, error))


def iter_weights_file(path: str | os.PathLike, error: type = BaseWeightsError) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield ``(name, tensor)`` from a weights file; safetensors one tensor at a time.

    Reading a safetensors file lazily keeps a check of a multi-GB base to one tensor in
    memory. A truncated or garbled file raises ``error`` naming it, not a raw SafetensorError.
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: weights file not found")
    if path.suffix in SAFE_SUFFIXES:
        yield from _iter_safetensors(path, error)
    elif path.suffix in TORCH_SUFFIXES:
        yield from _load_torch_file(path, error).items()
    else:
        raise error(f"{path}: unsupported weights format {path.suffix!r}; use .safetensors, .pt, .pth or .bin")


def _iter_safetensors(path: Path, error: type) -> Iterator[tuple[str, torch.Tensor]]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            for name in handle.keys():
                yield name, handle.get_tensor(name)
    except SafetensorError as exc:
        raise error(
            f"{path}: not a readable safetensors file ({exc}); it is truncated or corrupt. "
            "Copy or download it again."
        ) from exc


def _load_torch_file(path: Path, error: type) -> dict:
    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling refusals come in many types
        raise error(
            f"{path}: could not load it safely ({exc}); only plain tensor state dicts are accepted. "
            "Convert it to safetensors with safetensors.torch.save_file."
        ) from exc
    if not isinstance(loaded, dict):
        raise error(f"{path}: does not hold a state dict of tensors")
    return loaded.get("state_dict", loaded)


def check_tensors(
    tensors: Iterable[tuple[str, torch.Tensor]],
    path: str | os.PathLike,
    error: type = CheckpointError,
    integer_suffixes: tuple = (),
) -> None:
    """Refuse tensors that loading would silently turn into wrong weights.

    Args:
        tensors: ``(name, tensor)`` pairs, e.g. a state dict's ``items()``. Values that
            are not tensors are left to the loader, which refuses them itself.
        path: the file they came from, named in the message.
        error: the exception class to raise.
        integer_suffixes: names ending in one of these may hold integers (counters, ids).

    Raises:
        error: a tensor whose dtype is not float16/bfloat16/float32/float64 (integers,
            bool, complex, float8), or one holding NaN or infinity; the message names the
            file and the tensor.
    """
    for name, tensor in tensors:
        if not isinstance(tensor, torch.Tensor):
            continue
        if tensor.dtype not in FLOAT_DTYPES:
            if integer_suffixes and name.endswith(integer_suffixes) and _is_integer(tensor):
                continue
            raise error(
                f"{path}: tensor {name!r} is stored as {str(tensor.dtype).replace('torch.', '')}; weights must be "
                "float16, bfloat16, float32 or float64, and loading would silently cast it into different "
                "numbers. Re-save the original floating-point weights."
            )
        finite = torch.isfinite(tensor)
        if not bool(finite.all()):
            bad = int((~finite).sum())
            raise error(
                f"{path}: tensor {name!r} holds {bad} NaN or infinite value(s) of {tensor.numel()}, so every "
                "score would be NaN; the file is corrupt or its training diverged. Use an earlier or the "
                "original file."
            )


def check_weights_file(path: str | os.PathLike, error: type = BaseWeightsError) -> None:
    """:func:`check_tensors` over a base weights file, before any loader casts it.

    Integer counters and position ids (see ``INTEGER_BUFFER_SUFFIXES``) are allowed.
    """
    check_tensors(iter_weights_file(path, error), path, error, INTEGER_BUFFER_SUFFIXES)


def _is_integer(tensor: torch.Tensor) -> bool:
    return not tensor.is_floating_point() and not tensor.is_complex() and tensor.dtype != torch.bool


# ----------------------------------------------------------------- weight lookup


def resolve_open_clip_weights(architecture: Optional[str], pretrained: str, cache_dir: Optional[str] = None):
    """Find base weights for ``pretrained`` (a tag, ``hf-hub:`` id, or local file).

    Returns:
        ``(local_path, WeightsSource, tag_config)``; ``tag_config`` holds the tag's
        preprocessing and ``quick_gelu`` when ``pretrained`` was an OpenCLIP tag, else ``{}``.
    """
    if hub_ref(pretrained) is not None:
        path = _fetch_hf_hub_ref(hub_ref(pretrained), cache_dir)
        return path, WeightsSource("hf-hub", pretrained), {}
    if _looks_like_path(pretrained):
        return _local_file(pretrained)
    if architecture is None:
        raise BaseWeightsError(
            f"pretrained={pretrained!r}: a tag needs a built-in OpenCLIP architecture; this config has an inline "
            "open_clip_config, so pass a local weights file or an hf-hub: id"
        )
    import open_clip

    tag_config = open_clip.get_pretrained_cfg(architecture, pretrained)
    if not tag_config:
        tags = open_clip.list_pretrained_tags_by_model(architecture)
        raise BaseWeightsError(
            f"pretrained={pretrained!r} is neither a local file nor an OpenCLIP tag of {architecture}; tags: {tags}"
        )
    path = _fetch_open_clip_tag(architecture, pretrained, tag_config, cache_dir)
    return path, WeightsSource("open_clip", pretrained), dict(tag_config)


def resolve_timm_weights(model_name: str, pretrained: str, cache_dir: Optional[str] = None):
    """Like :func:`resolve_open_clip_weights`, for a timm model's pretrained tag or file."""
    if hub_ref(pretrained) is not None:
        path = _fetch_hf_hub_ref(hub_ref(pretrained), cache_dir)
        return path, WeightsSource("hf-hub", pretrained)
    if _looks_like_path(pretrained):
        path, source, _ = _local_file(pretrained)
        return path, source
    import timm

    pretrained_cfg = timm.models.get_pretrained_cfg(f"{model_name}.{pretrained}")
    hub_id = getattr(pretrained_cfg, "hf_hub_id", None) if pretrained_cfg else None
    if not hub_id:
        raise BaseWeightsError(f"timm has no hub weights for {model_name}.{pretrained}; pass a local file instead")
    path = fetch_hub_file(hub_id, ["model.safetensors", "pytorch_model.bin"], cache_dir)
    return path, WeightsSource("timm", f"{model_name}.{pretrained}")


def _fetch_hf_hub_ref(ref: str, cache_dir: Optional[str]) -> str:
    parts = ref.strip("/").split("/")
    if len(parts) < 2:
        raise BaseWeightsError(f"hf-hub:{ref}: expected 'hf-hub:org/repo' or 'hf-hub:org/repo/file.safetensors'")
    repo_id = "/".join(parts[:2])
    filenames = ["/".join(parts[2:])] if len(parts) > 2 else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
    return fetch_hub_file(repo_id, filenames, cache_dir)


def _fetch_open_clip_tag(architecture: str, tag: str, tag_config: dict, cache_dir: Optional[str]) -> str:
    hub = tag_config.get("hf_hub", "")
    if not hub:
        raise BaseWeightsError(
            f"{architecture}/{tag} is only published at {tag_config.get('url')}; download it there and pass "
            "the local file as `pretrained=`"
        )
    repo_id, filename = hub.rstrip("/").rsplit("/", 1) if not hub.endswith("/") else (hub.rstrip("/"), "")
    # Mirror open_clip: prefer a safetensors twin of the published file.
    if filename:
        stem = filename.rsplit(".", 1)[0]
        filenames = [stem + ".safetensors", filename] if not filename.endswith(".safetensors") else [filename]
    else:
        filenames = ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
    return fetch_hub_file(repo_id, filenames, cache_dir)


def _looks_like_path(ref: str) -> bool:
    return ref.endswith((".safetensors", ".pt", ".pth", ".bin")) or "/" in ref or "\\" in ref


def _local_file(ref: str):
    path = Path(ref).expanduser()
    if not path.is_file():
        raise BaseWeightsError(f"pretrained={ref!r}: no such weights file")
    return str(path), WeightsSource("file", str(path.resolve()), sha256_file(path)), {}


def check_recorded_file(source: WeightsSource, folder) -> str:
    """Locate a recorded ``file`` source (absolute, or relative to ``folder``) and verify it."""
    path = Path(source.ref)
    if not path.is_absolute():
        path = Path(folder) / path
    if not path.is_file():
        raise BaseWeightsError(f"{path}: the base weights file recorded in the checkpoint is missing")
    verify_sha256(path, source.sha256)
    return str(path)
