"""Helpers shared by the subcommands."""

from __future__ import annotations

import sys


def add_metric_argument(parser, default: str = "demo") -> None:
    parser.add_argument(
        "--metric",
        default=default,
        help=f"a pretrained scorer name (see `i2imetric models`), a checkpoint folder, an hf-hub: id, "
        f"or a model config name for an untrained metric (default: {default})",
    )
    parser.add_argument("--device", default=None, help="torch device, e.g. cuda (default: cpu)")


def metric_from_argument(name: str, device: str | None = None):
    """Load a trained metric, or build an untrained one from a model config (with a warning)."""
    from ..config import list_models
    from ..factory import create_metric, load_metric
    from ..pretrained import list_pretrained

    if name in list_models() and name not in list_pretrained():
        print(
            f"warning: {name!r} is a model config, not a trained scorer: the metric is UNTRAINED and scores "
            "with the zero-shot prior of a random base. Use a trained checkpoint for real scores.",
            file=sys.stderr,
        )
        return create_metric(name, device=device)
    return load_metric(name, device=device)
