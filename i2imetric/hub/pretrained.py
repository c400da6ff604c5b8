"""The registry of named scorers that :func:`i2imetric.load_metric` accepts besides paths.

A name is the folder name of a checkpoint in ``$I2IMETRIC_CHECKPOINTS`` (a path list) or in
the shipped scorers' folder. This module reads only folder listings, never torch, so
``i2imetric models`` answers in a fraction of a second.

It also names the files of a checkpoint folder (the format is :mod:`i2imetric.models.checkpoint`).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Optional

from ..errors import BaseWeightsError, CheckpointError
from .refs import hub_ref

__all__ = [
    "CHECKPOINTS_ENV",
    "SHIPPED_CHECKPOINTS",
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "CARD_NAME",
    "list_pretrained",
    "checkpoint_folder",
    "registered_checkpoints",
    "checkpoint_dirs_text",
]

CONFIG_NAME = "i2imetric_config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"

CHECKPOINTS_ENV = "I2IMETRIC_CHECKPOINTS"
_PACKAGE_DIR = Path(__file__).resolve().parents[1]
# Installed, the shipped scorers are package data (setup.py maps the repository's
# checkpoints/ to i2imetric/checkpoints); a source checkout keeps them beside the package.
SHIPPED_CHECKPOINTS = (
    _PACKAGE_DIR / "checkpoints" if (_PACKAGE_DIR / "checkpoints").is_dir() else _PACKAGE_DIR.parent / "checkpoints"
)


def list_pretrained() -> list[str]:
    """Names :func:`i2imetric.load_metric` accepts besides paths (the shipped and registered scorers).

    Example:
        >>> "demo" in list_pretrained()
        True
    """
    return sorted(registered_checkpoints())


def checkpoint_folder(name_or_path: str | os.PathLike, cache_dir: Optional[str] = None) -> Path:
    """The local checkpoint folder for what :func:`i2imetric.load_metric` was given.

    Args:
        name_or_path: a checkpoint folder; a registered name such as ``"demo"``; or
            ``"hf-hub:org/name"``, a hub repo holding such a folder (fetched into the cache).
        cache_dir: the Hugging Face cache, for ``hf-hub:`` names.

    Raises:
        CheckpointError: none of these; the message lists the registered names.
    """
    text = str(name_or_path)
    if Path(text).is_dir():
        return Path(text)
    if hub_ref(text) is not None:
        return _fetch_hub_checkpoint(hub_ref(text), cache_dir)
    registered = registered_checkpoints()
    if text in registered:
        return registered[text]
    raise CheckpointError(
        f"{text!r} is not a checkpoint folder, an hf-hub: id, or a registered name "
        f"({', '.join(sorted(registered)) or 'none found'}); registered names are the folders of "
        f"{checkpoint_dirs_text()}"
    )


def registered_checkpoints() -> dict[str, Path]:
    """Each registered name and its folder; ``$I2IMETRIC_CHECKPOINTS`` wins over the shipped ones."""
    found: dict[str, Path] = {}
    for directory in _checkpoint_dirs():
        if directory.is_dir():
            for child in sorted(directory.iterdir()):
                if (child / CONFIG_NAME).is_file():
                    found.setdefault(child.name, child)
    return found


def checkpoint_dirs_text() -> str:
    """Where registered names come from, for error messages."""
    return f"${CHECKPOINTS_ENV} and {SHIPPED_CHECKPOINTS}"


def _checkpoint_dirs() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get(CHECKPOINTS_ENV, "").split(os.pathsep) if p]
    return dirs + [SHIPPED_CHECKPOINTS]


def _fetch_hub_checkpoint(repo_id: str, cache_dir: Optional[str]) -> Path:
    """Download (or find cached) the files of a checkpoint folder held in a hub repo."""
    from .weights import CHECKPOINT_HINT, fetch_hub_file  # imports torch: only when a hub folder is asked for

    def fetch(filename: str) -> str:
        return fetch_hub_file(repo_id, [filename], cache_dir, local_hint=CHECKPOINT_HINT)

    config_path = Path(fetch(CONFIG_NAME))
    fetch(WEIGHTS_NAME)
    # A bundled base file (tiny bases travel with the checkpoint) sits next to the config.
    # Only what is needed to find a bundled base is read here; load_checkpoint checks the rest.
    try:
        base = json.loads(config_path.read_text(encoding="utf-8")).get("base_weights") or {}
        bundled = base.get("ref") if base.get("kind") == "file" else None
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
        raise CheckpointError(f"hf-hub:{repo_id}: {config_path} is not an i2imetric checkpoint config ({exc})") from exc
    if isinstance(bundled, str) and not Path(bundled).is_absolute():
        fetch(bundled)
    with contextlib.suppress(BaseWeightsError):
        fetch(CARD_NAME)  # the model card is optional
    return config_path.parent
