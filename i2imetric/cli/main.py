"""The ``i2imetric`` command line.

Each subcommand lives in its own module exposing ``configure_parser(parser)`` and
``run(args) -> int``. The library's own commands are listed in :data:`COMMANDS`; other
packages add theirs through the ``i2imetric.commands`` entry-point group. That is how the
trainer (installed as ``i2imetric_training``) provides ``i2imetric train`` without the
library ever importing it. Command modules keep their heavy imports (torch, open_clip)
inside ``run``, so ``i2imetric --help`` stays quick.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import I2IError
from ..version import __version__

COMMANDS = {
    "score": ("i2imetric.cli.score", "score one triplet, or a manifest of them"),
    "eval": ("i2imetric.cli.eval", "score a manifest with baselines, resumably, on one or many processes"),
    "models": ("i2imetric.cli.models", "list model configs and pretrained scorers"),
    "perturb": ("i2imetric.cli.perturb", "turn a folder of images into edit/distractor training pairs"),
    "meta-eval": ("i2imetric.cli.meta_eval", "agreement of the metric and baselines with human labels"),
    "bench": ("i2imetric.cli.bench", "the editing benchmarks under their published protocols, and their table"),
    "setdist": ("i2imetric.cli.setdist", "Frechet distance and MMD between two sets of images or edits"),
    "report": ("i2imetric.cli.report", "one self-contained HTML report of a results file"),
    "demo": ("i2imetric.cli.demo", "score held-out edit cases with the shipped scorer, with heatmaps"),
}

ENTRY_POINT_GROUP = "i2imetric.commands"
USER_ERRORS = (I2IError, FileNotFoundError)


def _plugin_commands() -> dict:
    """Commands other installed packages register: ``name = "module"`` in ENTRY_POINT_GROUP."""
    from importlib.metadata import entry_points

    found = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name not in COMMANDS:
            found[entry.name] = entry.value
    return found


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(prog="i2imetric", description="A learned metric for image edits.")
    parser.add_argument("--version", action="version", version=f"i2imetric {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = {}
    for name, (module_name, help_text) in COMMANDS.items():
        modules[name] = _add_command(subparsers, name, module_name, help_text)
    for name, module_name in sorted(_plugin_commands().items()):
        modules[name] = _add_command(subparsers, name, module_name, None)
    return parser, modules


def _add_command(subparsers, name: str, module_name: str, help_text):
    module = importlib.import_module(module_name)
    help_text = help_text or getattr(module, "HELP", None)
    module.configure_parser(subparsers.add_parser(name, help=help_text, description=help_text))
    return module


def main(argv: list[str] | None = None) -> int:
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(modules[args.command].run(args) or 0)
    except USER_ERRORS as exc:
        # A user's mistake deserves its one-line explanation, not a traceback.
        print(f"i2imetric {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
