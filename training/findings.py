"""Measured answers to the project's open questions, one subcommand each, for ``docs/findings.md``.

    python -m i2imetric_training.findings q1 --out findings/q1 --quick
    python -m i2imetric_training.findings q1 --out findings/q1 --doc docs/findings.md
    python -m i2imetric_training.findings q2 --out findings/q2 --quick

Each question lives in its own module (``findings_q1`` ...) with ``HELP``,
``configure_parser(parser)`` and ``run(args) -> int``, registered in :data:`QUESTIONS`; a
question is imported only when it is asked, so one question's imports never slow another.
Every run writes its tables (markdown and JSON), figures and a generated section under
``--out``, and is resumable: what it generated and scored is cached there and reused.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module in this package, one line of help).
QUESTIONS: dict[str, tuple[str, str]] = {
    "q1": ("findings_q1", "is a learned edit metric better than FID-style ones? simulated editors of known quality"),
    "q2": ("findings_q2", "is CLIP the right backbone? ShapesCLIP vs a DINO-style ViT's patches, half vs double data"),
    "q3": ("findings_q3", "what the joint latent z holds: probes, instruction retrieval, condensation, set level"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m i2imetric_training.findings", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="question", required=True, metavar="QUESTION")
    for name, (module_name, help_text) in QUESTIONS.items():
        module = importlib.import_module(f"{__package__ or 'i2imetric_training'}.{module_name}")
        sub = commands.add_parser(name, help=help_text, description=module.__doc__.split("\n\n")[0])
        module.configure_parser(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from i2imetric.errors import I2IError

    try:
        return args.run(args)
    except I2IError as exc:  # a wrong argument or a stale --out: one line, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
