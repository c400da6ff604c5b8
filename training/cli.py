"""``i2imetric train``: train or fine-tune a scorer from a YAML config.

Registered in the ``i2imetric.commands`` entry-point group (see ``setup.cfg``), so the
library's command line finds it without the library importing the trainer. The same
arguments work as ``python -m i2imetric_training.train``.
"""

from __future__ import annotations

import argparse

HELP = "train or fine-tune a scorer from a YAML config"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    from .config import shipped_config_names

    parser.add_argument(
        "--config",
        required=True,
        help="training YAML: a path, or the name of a shipped config "
        f"({', '.join(shipped_config_names())}); e.g. --config finetune_domain",
    )
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. steps=200 optim.lr=3e-4")
    parser.add_argument("--fresh", action="store_true", help="delete OUTPUT_DIR/state and start over")


def run(args: argparse.Namespace) -> int:
    from .train import run as run_training

    return run_training(args)
