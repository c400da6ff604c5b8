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
from typing import Optional

import torch

from .errors import BaseWeightsError

__all__ = [
    "WeightsSource",
    "sha256_file",
    "verify_sha256",
    "hub_is_offline",
    "fetch_hub_file",
    "read_state_dict",
]

SAFE_SUFFIXES = (".safetensors",)
TORCH_SUFFIXES = (".pt", ".pth", ".bin")


@dataclass
class WeightsSource:
    """Where a set of weights came from; stored in the checkpoint config."""

    kind: str  # "open_clip" | "hf-hub" | "file" | "random"
    ref: Optional[str] = None  # the tag, the hub id, or the file path
    sha256: Optional[str] = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict) -> "WeightsSource":
        return cls(**data)


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so multi-GB weights don't fill memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str | os.PathLike, expected: str) -> None:
    """Raise :class:`BaseWeightsError` unless ``path`` hashes to ``expected``."""
    actual = sha256_file(path)
    if actual != expected.lower():
        raise BaseWeightsError(
            f"{path}: sha256 is {actual}, but the checkpoint recorded {expected}; this is not the "
            "file the metric was trained on. Pass the original file (or re-create the checkpoint)."
        )


def hub_is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


def fetch_hub_file(repo_id: str, filenames: list[str], cache_dir: Optional[str] = None) -> str:
    """Return a local path to the first of ``filenames`` found in hub repo ``repo_id``.

    The cache is tried first for every candidate, so a cached file never touches the
    network. Only then, and only when not offline, is a download attempted.

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
    local_hint = (
        "download the file on a machine with internet and pass its local path as "
        "`pretrained=/path/to/weights.safetensors`"
    )
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


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a weights file without ever executing pickled code.

    safetensors files are read directly; ``.pt``/``.pth``/``.bin`` go through
    ``torch.load(weights_only=True)``, which refuses arbitrary objects.
    """
    path = Path(path)
    if not path.is_file():
        raise BaseWeightsError(f"{path}: weights file not found")
    if path.suffix in SAFE_SUFFIXES:
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    if path.suffix in TORCH_SUFFIXES:
        try:
            loaded = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - unpickling refusals come in many types
            raise BaseWeightsError(
                f"{path}: refused to load ({exc}); only plain tensor state dicts are accepted. "
                "Convert it to safetensors with safetensors.torch.save_file."
            ) from exc
        return loaded.get("state_dict", loaded) if isinstance(loaded, dict) else _not_a_state_dict(path)
    raise BaseWeightsError(f"{path}: unsupported weights format {path.suffix!r}; use .safetensors, .pt, .pth or .bin")


def _not_a_state_dict(path: Path):
    raise BaseWeightsError(f"{path}: does not hold a state dict of tensors")
