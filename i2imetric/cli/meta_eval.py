"""``i2imetric meta-eval``: agreement of the metric and the baselines with human labels.

Labels join result rows by content (source, instruction, output), else by the id
conventions documented in :mod:`i2imetric.meta_eval`. With ``--results-format
genai-bench`` the results are judge verdicts instead, GenAI-Bench's released
``results/image_edition/<judge>/pairwise.jsonl`` files, which carry the human votes
themselves (:mod:`i2imetric.meta_eval.judges`).
"""

from __future__ import annotations

import argparse
import json

from ..errors import I2IInputError
from .common import require_files


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


RESULTS_FORMATS = ("i2imetric", "genai-bench")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results",
        required=True,
        nargs="+",
        metavar="FILE",
        help="the result file of `i2imetric eval --out` (.jsonl, .csv or .parquet); with --results-format "
        "genai-bench, one or more judge files (results/image_edition/<judge>/pairwise.jsonl), a column each",
    )
    parser.add_argument(
        "--results-format",
        choices=RESULTS_FORMATS,
        default="i2imetric",
        help="i2imetric: scores written by eval, joined to --labels; genai-bench: GenAI-Bench judge verdicts "
        "(model_vote, human_vote), scored by GenAI-Bench's leaderboard rule, no --labels (default: i2imetric)",
    )
    add_label_arguments(parser, required=False)
    parser.add_argument("--out", help="also write the table as JSON to this file")


def _check_arguments(args: argparse.Namespace) -> None:
    if args.results_format == "genai-bench":
        if args.labels:
            raise I2IInputError(
                "--labels: GenAI-Bench judge files carry the human votes (human_vote); drop --labels "
                "with --results-format genai-bench"
            )
        # These shape how scores meet labels; judge verdicts have neither, so they would do nothing.
        unused = {
            "--labels-format": args.labels_format != "manifest",
            "--image-root": args.image_root is not None,
            "--aspect": args.aspect is not None,
            "--lower-is-better": args.lower_is_better is not None,
            "--validation-fraction": args.validation_fraction != 0.5,
        }
        given = [flag for flag, is_set in unused.items() if is_set]
        if given:
            raise I2IInputError(
                f"{', '.join(given)}: not used with --results-format genai-bench (judge verdicts need no "
                "labels, thresholds or score direction); drop them"
            )
        for path in args.results:
            require_files(results=path)
        return
    if not args.labels:
        raise I2IInputError("--labels is required: the manifest(s) or rater TSVs holding the human judgements")
    if len(args.results) > 1:
        raise I2IInputError(
            f"--results: {len(args.results)} files given; an i2imetric result file holds the metric and its "
            "baselines already, give one (several files are for --results-format genai-bench judges)"
        )


def run(args: argparse.Namespace) -> int:
    _check_arguments(args)
    if args.results_format == "genai-bench":
        from ..meta_eval.judges import evaluate_judges

        result = evaluate_judges(
            args.results, n_resamples=args.bootstrap, seed=args.seed, progress=not args.no_progress
        )
    else:
        from ..meta_eval import meta_evaluate

        result = meta_evaluate(args.results[0], labels_from_arguments(args), **meta_eval_options(args))
    print(result.format_table())
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            json.dump(result.to_dict(), out, indent=2, allow_nan=False)
            out.write("\n")
    return 0
