"""``i2imetric train``: the CLI face of the ``training`` package.

The library never imports ``training`` (training depends on the library, not the reverse),
so this module only declares the arguments and imports the trainer when the command runs.
"""

from __future__ import annotations

import argparse


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="training YAML (see configs/)")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. steps=200 optim.lr=3e-4")
    parser.add_argument("--fresh", action="store_true", help="delete OUTPUT_DIR/state and start over")


def run(args: argparse.Namespace) -> int:
    from training.train import run as run_training

    return run_training(args)
