"""Helpers shared by the subcommands.

Arguments and paths are checked here before anything imports torch or open_clip, so a
typo costs a fraction of a second, not the seconds of a model import.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import CheckpointError, I2IInputError


def add_metric_argument(parser, default: str = "demo") -> None:
    parser.add_argument(
        "--metric",
        default=default,
        help=f"a pretrained scorer name (see `i2imetric models`), a checkpoint folder, an hf-hub: id, "
        f"or a model config name for an untrained metric (default: {default})",
    )
    parser.add_argument("--device", default=None, help="torch device, e.g. cuda (default: cpu)")


def require_files(**paths) -> None:
    """Refuse a missing input file at once, naming its option: ``require_files(source=args.source)``."""
    for option, path in paths.items():
        if path is not None and not Path(path).is_file():
            flag = "--" + option.replace("_", "-")
            raise I2IInputError(f"{flag} {path}: no such file (working folder: {Path.cwd()})")


def metric_from_argument(name: str, device: str | None = None):
    """Load a trained metric, or build an untrained one from a model config (with a warning)."""
    from ..hub.pretrained import checkpoint_dirs_text, list_pretrained
    from ..models.config import list_models

    pretrained = list_pretrained()
    is_config = name in list_models() and name not in pretrained
    if not (is_config or name in pretrained or name.startswith("hf-hub:") or Path(name).is_dir()):
        raise CheckpointError(
            f"--metric {name!r} is not a checkpoint folder, an hf-hub: id, a registered name "
            f"({', '.join(pretrained) or 'none found'}) or a model config ({', '.join(list_models())}); "
            f"registered names are the folders of {checkpoint_dirs_text()}"
        )
    from ..models.factory import create_metric, load_metric

    if is_config:
        print(
            f"warning: {name!r} is a model config, not a trained scorer: the metric is UNTRAINED and scores "
            "with the zero-shot prior of a random base. Use a trained checkpoint for real scores.",
            file=sys.stderr,
        )
        return create_metric(name, device=device)
    return load_metric(name, device=device)
