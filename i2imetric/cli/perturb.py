"""``i2imetric perturb``: turn a folder of images into edit/distractor training pairs.

The work is :func:`i2imetric.data.synthetic.perturb.perturb_folder`; this module is its
command line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..data.synthetic.perturb import perturb_folder


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the ``i2imetric perturb`` arguments to ``parser``."""
    parser.add_argument("--images", required=True, type=Path, help="folder of images, searched recursively")
    parser.add_argument("--out", required=True, type=Path, help="output folder; rerun into it to resume")
    parser.add_argument("--n", type=int, default=4, help="pairwise records per image (default: 4)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--size",
        type=int,
        default=None,
        metavar="PX",
        help="downscale written images so the longer side is at most PX; edits run at full resolution first",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``i2imetric perturb``; exit status 1 when no record could be made."""
    summary = perturb_folder(args.images, args.out, n=args.n, seed=args.seed, size=args.size)
    print(summary.describe())
    return 0 if summary.records_total else 1
