"""``i2imetric meta-eval``: agreement of the metric and the baselines with human labels.

Labels join result rows by content (source, instruction, output), else by the id
conventions documented in :mod:`i2imetric.meta_eval`.
"""

from __future__ import annotations

import argparse
import json


def add_label_arguments(parser: argparse.ArgumentParser, required: bool) -> None:
    """The options naming human labels, shared with ``i2imetric report``."""
    parser.add_argument(
        "--labels",
        nargs="+",
        required=required,
        metavar="FILE",
        help="manifest(s) of pairwise/rating records, or ImagenHub rater TSVs with --labels-format imagenhub",
    )
    parser.add_argument(
        "--labels-format",
        choices=("manifest", "imagenhub"),
        default="manifest",
        help="imagenhub: result ids are <uid>/<system>, e.g. sample_100081_1.jpg/MagicBrush (default: manifest)",
    )
    parser.add_argument(
        "--image-root", help="ImagenHub results folder (<system>/<uid>), to join by output path instead of id"
    )
    parser.add_argument("--aspect", help="correlate with this rating aspect (e.g. SC, PQ) instead of the overall value")
    parser.add_argument(
        "--lower-is-better",
        nargs="+",
        metavar="BASELINE",
        help="baselines that are distances, to negate (default: those i2imetric.evaluation.baselines marks, e.g. l2)",
    )
    parser.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples (default: 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and the validation split")
    parser.add_argument(
        "--validation-fraction",
        type=float,
        default=0.5,
        help="share of the pairs that fits the four-way thresholds; the rest is scored (default: 0.5)",
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar of the bootstraps on stderr (it shows only on a terminal anyway)",
    )


def labels_from_arguments(args: argparse.Namespace) -> list:
    """The records named by the options of :func:`add_label_arguments`."""
    from ..meta_eval import load_labels

    return load_labels(args.labels, args.labels_format, image_root=args.image_root)


def meta_eval_options(args: argparse.Namespace) -> dict:
    """Keyword arguments of :func:`i2imetric.meta_eval.meta_evaluate` from those options."""
    return {
        "n_resamples": args.bootstrap,
        "seed": args.seed,
        "validation_fraction": args.validation_fraction,
        "aspect": args.aspect,
        "lower_is_better": args.lower_is_better,
        "progress": not args.no_progress,
    }


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results", required=True, help="the result file of `i2imetric eval --out` (.jsonl, .csv or .parquet)"
    )
    add_label_arguments(parser, required=True)
    parser.add_argument("--out", help="also write the table as JSON to this file")


def run(args: argparse.Namespace) -> int:
    from ..meta_eval import meta_evaluate

    result = meta_evaluate(args.results, labels_from_arguments(args), **meta_eval_options(args))
    print(result.format_table())
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            json.dump(result.to_dict(), out, indent=2, allow_nan=False)
            out.write("\n")
    return 0
