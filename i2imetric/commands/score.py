"""``i2imetric score``: one triplet on the command line, or a manifest streamed to JSONL."""

from __future__ import annotations

import argparse
import json
import sys

from .common import add_metric_argument, metric_from_argument


def configure_parser(parser: argparse.ArgumentParser) -> None:
    add_metric_argument(parser)
    single = parser.add_argument_group("one triplet")
    single.add_argument("--source", help="source image file")
    single.add_argument("--instruction", help="the edit instruction")
    single.add_argument("--output", help="edited image file")
    single.add_argument("--heatmap", help="write the patch map over the output image to this PNG")
    many = parser.add_argument_group("many triplets")
    many.add_argument("--manifest", help="a JSONL manifest of triplet records")
    many.add_argument("--out", help="JSONL file to write one row per record to")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    single = [args.source, args.instruction, args.output]
    if args.manifest:
        if any(single) or not args.out:
            raise SystemExit("i2imetric score: with --manifest give --out, and no --source/--instruction/--output")
        return _score_manifest(args)
    if not all(single):
        raise SystemExit("i2imetric score: give --source, --instruction and --output (or --manifest and --out)")
    metric = metric_from_argument(args.metric, args.device)
    explanation = metric.explain(args.source, args.instruction, args.output)
    if args.heatmap:
        from ..heatmap import save_heatmap

        save_heatmap(explanation.patch_map, args.output, args.heatmap)
    if args.json:
        print(json.dumps({"score": explanation.score, "subscores": explanation.subscores, "heatmap": args.heatmap}))
    else:
        print(f"score         {explanation.score:+.4f}  (higher is better)")
        for name, value in explanation.subscores.items():
            print(f"  {name:<12}{value:+.4f}")
        if args.heatmap:
            print(f"heatmap       {args.heatmap}")
    return 0


def _score_manifest(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate

    metric = metric_from_argument(args.metric, args.device)
    summary = evaluate(metric, args.manifest, out=args.out, batch_size=args.batch_size, baselines=())
    print(summary.format_table() if not args.json else json.dumps(summary.to_dict()), file=sys.stdout)
    return 0 if summary.errors == 0 else 1
