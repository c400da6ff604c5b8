"""``i2imetric score``: one triplet on the command line, or a manifest streamed to JSONL."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..errors import I2IInputError
from ..io.text import check_instruction
from ..models.config import CALIBRATED_MEANING
from .common import add_metric_argument, metric_from_argument, require_files


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "One triplet prints the raw score (a logit: higher is better, and a difference of d between two "
        "outputs means odds of e**d that the first is preferred) and, when the scorer carries a calibration "
        f"(the shipped demo does), the calibrated score in [0, 1]: {CALIBRATED_MEANING}. "
        "In Python: metric.score(..., calibrated=True), or metric.explain(...).calibrated."
    )
    add_metric_argument(parser)
    single = parser.add_argument_group("one triplet")
    single.add_argument("--source", help="source image file")
    single.add_argument("--instruction", help="the edit instruction")
    single.add_argument("--output", help="edited image file")
    single.add_argument(
        "--heatmap",
        help="write the patch map over the output image to this file, in the format its suffix names "
        "(.png, .jpg, .webp, .tif, .bmp, .gif); not the --source or --output file",
    )
    many = parser.add_argument_group("many triplets")
    many.add_argument("--manifest", help="a JSONL manifest of triplet records")
    many.add_argument("--out", help="JSONL file to write one row per record to")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    # `is None`, not falsiness: an empty --instruction "" was given, and deserves the
    # instruction's own error rather than "give --instruction".
    single = [args.source, args.instruction, args.output]
    if args.manifest:
        if args.heatmap is not None:
            # It used to be ignored without a word; a results file's heatmaps are the report's.
            raise I2IInputError(
                "--heatmap draws one triplet's map, so it does not go with --manifest; for heatmaps of a "
                "manifest's rows, run `i2imetric report RESULTS --out report.html --metric ...` on the --out file"
            )
        if any(value is not None for value in single) or not args.out:
            raise SystemExit("i2imetric score: with --manifest give --out, and no --source/--instruction/--output")
        require_files(manifest=args.manifest)
        return _score_manifest(args)
    if any(value is None for value in single):
        raise SystemExit("i2imetric score: give --source, --instruction and --output (or --manifest and --out)")
    check_instruction(args.instruction, name="--instruction")
    require_files(source=args.source, output=args.output)
    if args.heatmap is not None:
        _check_heatmap_path(args.heatmap, source=args.source, output=args.output)
    metric = metric_from_argument(args.metric, args.device)
    explanation = metric.explain(args.source, args.instruction, args.output)
    if args.heatmap:
        from ..viz.heatmap import save_heatmap

        # The metric places the map as it placed the image (letterbox metrics pad).
        save_heatmap(explanation.patch_map, args.output, args.heatmap, preprocess=metric)
    if args.json:
        print(json.dumps({
            "score": explanation.score,
            "calibrated": explanation.calibrated,
            "subscores": explanation.subscores,
            "heatmap": args.heatmap,
        }))
    else:
        width = max(len(name) for name in explanation.subscores) + 2  # at least one space before the sign
        if explanation.calibrated is not None:
            print(f"{'calibrated':<{width + 2}}{explanation.calibrated:.3f}  ({CALIBRATED_MEANING})")
        else:
            print(f"{'calibrated':<{width + 2}}none  (this scorer has no calibration: only the raw score below)")
        print(f"{'score':<{width + 2}}{explanation.score:+.4f}  (raw logit, higher is better)")
        for name, value in explanation.subscores.items():
            print(f"  {name:<{width}}{value:+.4f}")
        if args.heatmap:
            print(f"{'heatmap':<{width + 2}}{args.heatmap}")
    return 0


def _check_heatmap_path(heatmap: str, **inputs: str) -> None:
    """Refuse a --heatmap that would overwrite an input image, or whose suffix is no image format, before loading."""
    from ..viz.heatmap import heatmap_format

    if os.path.isdir(heatmap):
        raise I2IInputError(f"--heatmap {heatmap} is a folder; give the image file to write, e.g. {heatmap}/map.png")
    for option, path in inputs.items():
        # samefile, not string equality: ./out.png, out.png and a link to it are one file.
        if os.path.exists(heatmap) and os.path.samefile(heatmap, path):
            raise I2IInputError(
                f"--heatmap {heatmap} is the --{option} image, which it would overwrite; give another file, "
                f"e.g. --heatmap {Path(path).with_name(Path(path).stem + '_heatmap.png')}"
            )
    heatmap_format(heatmap, option="--heatmap")


def _score_manifest(args: argparse.Namespace) -> int:
    from ..evaluation.runner import evaluate

    metric = metric_from_argument(args.metric, args.device)
    # Named as given, as `i2imetric eval` names it: the header said the config's name ("shapesclip") for `demo`.
    summary = evaluate(
        metric, args.manifest, out=args.out, batch_size=args.batch_size, baselines=(), metric_name=args.metric
    )
    print(summary.format_table() if not args.json else json.dumps(summary.to_dict()), file=sys.stdout)
    return 0 if summary.errors == 0 else 1
