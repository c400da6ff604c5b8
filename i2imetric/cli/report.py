"""``i2imetric report``: one self-contained HTML page about a results file."""

from __future__ import annotations

import argparse

from .meta_eval import add_label_arguments, labels_from_arguments, meta_eval_options


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", help="the result file of `i2imetric eval --out` (.jsonl, .csv or .parquet)")
    parser.add_argument("--out", required=True, help="the HTML file to write")
    parser.add_argument(
        "--top", type=int, default=8, help="how many best and worst rows to show, at least 1 (default: 8)"
    )
    parser.add_argument(
        "--right-answer",
        metavar="SYSTEM",
        help="the rows are cases of candidates (as `i2imetric demo` writes them) and SYSTEM is the right one: "
        "rank it within each case instead of listing best and worst rows, e.g. --right-answer 'right edit'",
    )
    parser.add_argument("--data", help="the scored manifest, for rows that do not carry their image paths")
    parser.add_argument(
        "--metric",
        help="a scorer (as for `i2imetric score`) to draw the examples' heatmaps with; without it, no heatmaps",
    )
    parser.add_argument("--device", default=None, help="torch device for --metric, e.g. cuda (default: cpu)")
    add_label_arguments(parser, required=False)


def run(args: argparse.Namespace) -> int:
    from .._numbers import check_int
    from ..viz.report import build_report
    from .common import metric_from_argument

    check_int("--top", args.top, 1)  # before loading --metric
    metric = metric_from_argument(args.metric, args.device) if args.metric else None
    labels = labels_from_arguments(args) if args.labels else None
    path = build_report(
        args.results,
        args.out,
        labels=labels,
        metric=metric,
        data=args.data,
        top=args.top,
        meta_eval_options=meta_eval_options(args),
        right_answer=args.right_answer,
    )
    print(f"wrote {path}")
    return 0
