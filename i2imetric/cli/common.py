"""Helpers shared by the subcommands.

Arguments and paths are checked here before anything imports torch or open_clip, so a
typo costs a fraction of a second, not the seconds of a model import.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import CheckpointError, I2IInputError

# `--metric untrained:CONFIG`: an untrained metric from a model config must be asked for by name.
UNTRAINED_PREFIX = "untrained:"


def add_metric_argument(parser, default: str = "demo") -> None:
    parser.add_argument(
        "--metric",
        default=default,
        help=f"a pretrained scorer name (see `i2imetric models`), a checkpoint folder, an hf-hub: id, "
        f"or {UNTRAINED_PREFIX}CONFIG for an UNTRAINED metric built from a model config, e.g. "
        f"{UNTRAINED_PREFIX}test-tiny (its scores mean nothing) (default: {default})",
    )
    parser.add_argument("--device", default=None, help="torch device, e.g. cuda (default: cpu)")


def require_files(**paths) -> None:
    """Refuse a missing input file at once, naming its option: ``require_files(source=args.source)``."""
    for option, path in paths.items():
        if path is not None and not Path(path).is_file():
            flag = "--" + option.replace("_", "-")
            raise I2IInputError(f"{flag} {path}: no such file (working folder: {Path.cwd()})")


def metric_from_argument(name: str, device: str | None = None):
    """Load a trained metric; or, for ``untrained:CONFIG``, build an untrained one from a model config (with a warning).

    A bare model config name is refused, saying how to ask for the untrained metric, so
    nobody scores with random weights by mistake.
    """
    from ..hub.pretrained import checkpoint_folder, list_pretrained
    from ..models.config import list_models

    if name.startswith(UNTRAINED_PREFIX):
        config = name[len(UNTRAINED_PREFIX) :]
        if config not in list_models():
            raise CheckpointError(
                f"--metric {name!r}: {config!r} is not a model config; choose from {', '.join(list_models())}"
            )
        from ..models.factory import create_metric

        print(
            f"warning: {config!r} is a model config, not a trained scorer: the metric is UNTRAINED and scores "
            "with the zero-shot prior of a random base. Use a trained checkpoint for real scores.",
            file=sys.stderr,
        )
        return create_metric(config, device=device)
    pretrained = list_pretrained()
    if name in list_models() and name not in pretrained:
        raise CheckpointError(
            f"--metric {name!r} is a model config, not a trained scorer; to score with an UNTRAINED metric "
            f"built from it, ask for one: --metric {UNTRAINED_PREFIX}{name}"
        )
    try:
        # Resolved here, torch-free, so a wrong name is refused before any model import.
        folder = checkpoint_folder(name)
    except CheckpointError as exc:
        raise CheckpointError(
            f"--metric {exc}; an untrained metric from a model config is {UNTRAINED_PREFIX}CONFIG "
            f"({', '.join(list_models())})"
        ) from None
    from ..models.factory import load_metric

    return load_metric(folder, device=device)
