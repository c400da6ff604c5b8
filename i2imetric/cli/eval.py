"""``i2imetric eval``: score a manifest with baselines, resumably, on one or many processes.

Examples::

    i2imetric eval --metric demo --data bench.jsonl --out results.jsonl --baselines clip_t,clip_i
    accelerate launch --multi_gpu --num_processes 4 -m i2imetric eval --metric demo --data bench.jsonl --out results.jsonl

On a machine without CUDA, ``--multi_gpu`` still forms the process group (on the CPU);
``accelerate launch --cpu`` alone starts a single process.
"""

from __future__ import annotations

import argparse
import json

from .common import add_metric_argument, metric_from_argument, require_files


def configure_parser(parser: argparse.ArgumentParser) -> None:
    add_metric_argument(parser)
    parser.add_argument("--data", required=True, help="a JSONL manifest of triplet, pairwise or rating records")
    parser.add_argument(
        "--out",
        required=True,
        help="result file, one row per scored output: .jsonl (streamed), .csv or .parquet (written at the end); "
        "rerunning the same command resumes it (with another metric, baselines or manifest it is refused)",
    )
    parser.add_argument("--batch-size", type=int, default=32, help="outputs per forward pass (default: 32)")
    parser.add_argument(
        "--num-workers", type=int, default=None, help="image-decoding processes (default: half the CPU cores)"
    )
    parser.add_argument(
        "--baselines",
        default="all",
        help="comma-separated names from clip_t, clip_i, clip_dir, clip_dir_captions, patch_preservation, "
        "vit_patch, l2, psnr; or 'all' (default) or 'none'",
    )
    parser.add_argument("--fail-fast", action="store_true", help="stop at the first bad record instead of an error row")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    require_files(data=args.data)  # before the seconds of importing torch and loading the metric
    from ..evaluation.runner import evaluate, process_state

    state = process_state()
    # Under `accelerate launch` each process must use its own device; alone, keep --device's default.
    device = args.device or (str(state.device) if state.num_processes > 1 else None)
    metric = metric_from_argument(args.metric, device)
    summary = evaluate(
        metric,
        args.data,
        out=args.out,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        baselines=args.baselines,
        fail_fast=args.fail_fast,
        metric_name=args.metric,
    )
    if not state.is_main_process:
        return 0  # the summary, and the exit status it implies, are the main process's to give
    print(json.dumps(summary.to_dict()) if args.json else summary.format_table())
    return 0 if summary.errors == 0 else 1
