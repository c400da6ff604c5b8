"""``i2imetric setdist``: Frechet distance and MMD between sets, in CLIP space or the metric's z.

``--a`` is the reference; every ``--b`` is compared with it under one RBF bandwidth, so
their MMD values can be compared with each other (a bandwidth per pair would make each
MMD value depend on its own kernel).
"""

from __future__ import annotations

import argparse
import json
import math
import os

from ..errors import I2IInputError
from .common import add_metric_argument, metric_from_argument

_NEGATIVE_MMD = (
    "The unbiased MMD^2 estimates 0 for two samples of one distribution, so it can come out "
    "negative (a folder against itself does): read a value whose interval holds 0 as no "
    "detectable difference."
)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    add_metric_argument(parser)
    parser.add_argument(
        "--a",
        required=True,
        help="the reference: a folder of images, a manifest, or a result file of eval (.jsonl, .csv, .parquet)",
    )
    parser.add_argument(
        "--b",
        required=True,
        nargs="+",
        help="one or more sets to compare with --a, in the same forms; all share one MMD bandwidth",
    )
    parser.add_argument(
        "--space",
        choices=("clip", "z"),
        default="clip",
        help="clip: CLIP image embeddings (CMMD-style); z: the metric's joint latent of each "
        "(source, instruction, output), which needs manifests or results files (default: clip)",
    )
    parser.add_argument(
        "--sigma",
        type=float,
        help="RBF bandwidth of the MMD (default: the median pairwise distance within --a, printed)",
    )
    parser.add_argument(
        "--bootstrap", type=int, default=200, metavar="N", help="bootstrap resamples of the MMD^2 interval; 0: none (default: 200)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and of the median's subsample")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    _check_arguments(args)
    from ..evaluation.setlevel import embed_set, reference_sigma, set_distance

    metric = metric_from_argument(args.metric, args.device)
    x = embed_set(metric, args.a, args.space, args.batch_size)
    sets = [(path, embed_set(metric, path, args.space, args.batch_size)) for path in args.b]
    if args.sigma is None:
        sigma, sigma_source = reference_sigma(x, seed=args.seed), f"median pairwise distance within --a ({len(x)} items)"
    else:
        sigma, sigma_source = args.sigma, "given by --sigma"
    comparisons = []
    for path, y in sets:
        result = set_distance(x, y, sigma=sigma, seed=args.seed, n_resamples=args.bootstrap)
        comparisons.append({"b": path, **{k: v for k, v in result.items() if k not in ("sigma", "sigma_source")}})
    if args.json:
        out = {"space": args.space, "a": args.a, "sigma": sigma, "sigma_source": sigma_source, "comparisons": comparisons}
        print(json.dumps(out, allow_nan=False))
        return 0
    print(f"{args.space} space; reference --a {args.a}: {len(x)} items")
    print(f"RBF sigma {sigma:.4g}: {sigma_source}, the same for every --b")
    for result in comparisons:
        print(f"\n--b {result['b']}: {result['n_y']} items")
        print(f"  frechet distance  {result['fd']:.6g}")
        print(f"  MMD^2 (unbiased)  {result['mmd2_unbiased']:.6g}{_interval_text(result)}")
    print("\n" + _NEGATIVE_MMD)
    return 0


def _check_arguments(args: argparse.Namespace) -> None:
    """Refuse bad options and missing sets before torch is imported."""
    for flag, path in [("--a", args.a), *(("--b", path) for path in args.b)]:
        if not os.path.isdir(path) and not os.path.isfile(path):
            raise I2IInputError(f"{flag} {path}: neither a folder of images nor a manifest / results file")
    if args.sigma is not None and not (math.isfinite(args.sigma) and args.sigma > 0):
        raise I2IInputError(f"--sigma {args.sigma}: the RBF bandwidth must be a finite number > 0")
    if args.bootstrap < 0:
        raise I2IInputError(f"--bootstrap {args.bootstrap}: give a number of resamples >= 0 (0 skips the interval)")
    if args.batch_size < 1:
        raise I2IInputError(f"--batch-size {args.batch_size}: give a positive number")


def _interval_text(result: dict) -> str:
    if result["mmd2_low"] is None:
        return "  (no interval: --bootstrap 0)"
    level = round(100 * result["confidence"])
    return (
        f"  {level}% CI [{result['mmd2_low']:.6g}, {result['mmd2_high']:.6g}] "
        f"({result['n_resamples']} two-sample bootstrap resamples)"
    )
