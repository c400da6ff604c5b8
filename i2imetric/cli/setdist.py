"""``i2imetric setdist``: Frechet distance and MMD between two sets, in CLIP space or the metric's z."""

from __future__ import annotations

import argparse
import json

from .common import add_metric_argument, metric_from_argument


def configure_parser(parser: argparse.ArgumentParser) -> None:
    add_metric_argument(parser)
    parser.add_argument(
        "--a", required=True, help="a folder of images, a manifest, or a result file of eval (.jsonl, .csv, .parquet)"
    )
    parser.add_argument("--b", required=True, help="the set to compare with, in the same form")
    parser.add_argument(
        "--space",
        choices=("clip", "z"),
        default="clip",
        help="clip: CLIP image embeddings (CMMD-style); z: the metric's joint latent of each "
        "(source, instruction, output), which needs manifests or results files (default: clip)",
    )
    parser.add_argument("--sigma", type=float, help="RBF bandwidth of the MMD (default: median heuristic)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from ..evaluation.setlevel import embed_set, set_distance

    metric = metric_from_argument(args.metric, args.device)
    x = embed_set(metric, args.a, args.space, args.batch_size)
    y = embed_set(metric, args.b, args.space, args.batch_size)
    result = {"space": args.space, **set_distance(x, y, sigma=args.sigma)}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{args.space} space: {result['n_x']} items in --a, {result['n_y']} in --b")
    print(f"frechet distance  {result['fd']:.6g}")
    print(f"MMD^2 (unbiased)  {result['mmd2_unbiased']:.6g}  (RBF, sigma {result['sigma']:.4g})")
    return 0
