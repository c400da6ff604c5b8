"""The registry of named scorers that :func:`i2imetric.load_metric` accepts besides paths.

A name is the folder name of a checkpoint in ``$I2IMETRIC_CHECKPOINTS`` (a path list) or in
the shipped scorers' folder. This module reads only folder listings, never torch, so
``i2imetric models`` answers in a fraction of a second.

It also names the files of a checkpoint folder (the format is :mod:`i2imetric.checkpoint`).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "CHECKPOINTS_ENV",
    "SHIPPED_CHECKPOINTS",
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "CARD_NAME",
    "list_pretrained",
    "registered_checkpoints",
    "checkpoint_dirs_text",
]

CONFIG_NAME = "i2imetric_config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"

CHECKPOINTS_ENV = "I2IMETRIC_CHECKPOINTS"
_PACKAGE_DIR = Path(__file__).resolve().parent
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
