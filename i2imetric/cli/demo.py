"""``i2imetric demo``: the shipped scorer on edit cases it never saw, ranked, with heatmaps.

Each case is a source image and an instruction with its right answer and every kind of
wrong answer (held-out ShapesWorld scenes, and canonical edits of bundled photos that were
kept out of training). The scorer never sees which candidate is right: it scores each
(source, instruction, candidate) triplet from pixels and text alone, and the table shows
where the right answer landed. Each candidate's score is printed calibrated, in [0, 1],
with its raw logit beside it, when the scorer carries a calibration (the shipped demo
does); otherwise the raw logit, and a line saying there is no calibration.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..errors import I2IInputError

__all__ = ["DemoCase", "build_cases", "check_case_counts", "run_demo", "configure_parser", "run"]

DEFAULT_OUT = "i2imetric-demo"
RIGHT = "right edit"


@dataclass
class DemoCase:
    name: str
    source: Image.Image
    instruction: str
    candidates: dict  # label -> image; RIGHT is the correct answer


def build_cases(shapes: int = 3, photo_edits: int = 3, seed: int = 0) -> list[DemoCase]:
    """Held-out ShapesWorld scenes and canonical edits on held-out bundled photos.

    Raises:
        I2IInputError: ``shapes`` negative, ``photo_edits`` negative or more than the
            canonical edits (each photo case is a different edit), or no case at all.
    """
    from ..data.synthetic import edits, photos, shapesworld

    check_case_counts(shapes, photo_edits)
    cases = []
    for k in range(shapes):
        example = shapesworld.make_edit_example(shapesworld.HELDOUT_SEED_START + seed + k, size=64)
        candidates = {RIGHT: example.target, **example.distractors}
        cases.append(DemoCase(f"shapes-{k + 1}", example.source, example.instruction, candidates))
    rng = random.Random(seed)
    chosen_edits = rng.sample(sorted(edits.CANONICAL_EDITS), photo_edits)
    for k, edit in enumerate(chosen_edits):
        name = photos.HELDOUT_PHOTOS[k % len(photos.HELDOUT_PHOTOS)]
        source = photos.load_photo(name, max_side=256)
        candidates = {RIGHT: edits.apply_edit(source, edit)}
        for kind in edits.DISTRACTORS:
            wrong = edits.make_distractor(source, edit, kind, seed=seed + k)
            if edits.visibly_different(wrong, candidates[RIGHT]):
                candidates[kind] = wrong
        cases.append(DemoCase(f"{name}-{edit}", source, edits.CANONICAL_EDITS[edit], candidates))
    return cases


def check_case_counts(shapes: int, photo_edits: int, names: tuple = ("shapes", "photo_edits")) -> None:
    """Refuse case counts :func:`build_cases` cannot honour, naming the argument (``names``) and the range."""
    from .._numbers import check_int
    from ..data.synthetic.canonical import CANONICAL_EDITS

    check_int(names[0], shapes, 0)
    # The photo cases sample distinct canonical edits: asking for more used to end in
    # random.sample's bare ValueError.
    check_int(names[1], photo_edits, 0, len(CANONICAL_EDITS))
    if shapes + photo_edits == 0:
        raise I2IInputError(f"{names[0]} 0 and {names[1]} 0: nothing to score; ask for at least one case")


def run_demo(metric_name: str = "demo", out: str | Path = DEFAULT_OUT, shapes: int = 3, photo_edits: int = 3) -> dict:
    """Score every case, print ranked tables, write images, heatmaps, results and a report to ``out``.

    ``results.jsonl`` holds a row per candidate as ``i2imetric eval`` writes them (image
    paths absolute and resolved), plus its ``case`` and ``heatmap``; ``report.html`` ranks the
    candidates of each case, as the tables printed here do (see :func:`i2imetric.viz.report.rank_cases`).

    Returns:
        A summary: cases, pairs, pairwise accuracy, right-answer-first count, output folder.
    """
    from ..viz.report import build_report, rank_cases
    from .common import metric_from_argument

    started = time.time()
    out = Path(out)
    cases = build_cases(shapes, photo_edits)  # before the metric: a bad count is refused without loading it
    metric = metric_from_argument(metric_name)
    print(_scale_line(metric.calibration is not None))
    rows = []
    for case in cases:
        case_rows = _score_case(metric, case, out / case.name)
        (ranking,), _ = rank_cases(case_rows, RIGHT)
        _print_case(ranking)
        rows += case_rows
    results = _write_results(out / "results.jsonl", rows)
    rankings, _ = rank_cases(rows, RIGHT)
    report = build_report(results, out / "report.html", right_answer=RIGHT)
    wins = sum(ranking.beaten for ranking in rankings)
    pairs = sum(ranking.wrong for ranking in rankings)
    firsts = sum(ranking.right_rank == 1 for ranking in rankings)
    summary = {
        "cases": len(rankings),
        "right_answer_ranked_first": firsts,
        "pairs": pairs,
        "pairwise_accuracy": wins / pairs if pairs else float("nan"),
        "out": str(out),
        "report": str(report),
        "seconds": round(time.time() - started, 1),
    }
    print(
        f"\nThe right edit beat {wins}/{pairs} wrong answers ({100 * summary['pairwise_accuracy']:.1f}%) and was "
        f"ranked first in {firsts}/{len(rankings)} cases.\nImages, heatmaps (red: the edit helped here, blue: it "
        f"hurt), results.jsonl and the HTML report {report} are in {out}/ ({summary['seconds']} s)."
    )
    return summary


def _score_case(metric, case: DemoCase, case_dir: Path) -> list[dict]:
    """Save the case's images and heatmaps; a result row per candidate, scored from pixels and text alone."""
    from ..viz.heatmap import save_heatmap

    case_dir.mkdir(parents=True, exist_ok=True)
    source = case_dir / "source.png"
    case.source.save(source)
    rows = []
    for label, image in case.candidates.items():
        slug = label.replace(" ", "_")
        output = case_dir / f"{slug}.png"
        image.save(output)
        # One forward pass gives the score, the sub-scores and the map, so the tables,
        # results.jsonl and the report all show the same numbers.
        explanation = metric.explain(case.source, case.instruction, image)
        heatmap = save_heatmap(explanation.patch_map, image, case_dir / f"{slug}_heatmap.png", preprocess=metric)
        rows.append(
            {
                "id": f"{case.name}/{slug}",
                "system": label,
                # As eval writes them: absolute and resolved, so the file reads the same
                # from any working folder (a relative --out used to double its prefix).
                "source": os.path.realpath(source),
                "instruction": case.instruction,
                "output": os.path.realpath(output),
                "status": "ok",
                "error": None,
                "score": explanation.score,
                "calibrated": explanation.calibrated,  # None without a calibration; the report shows it
                "subscores": explanation.subscores,
                "baselines": {},
                "case": case.name,
                "heatmap": os.path.realpath(heatmap),  # drawn once: the report embeds it
            }
        )
    return rows


def _write_results(path: Path, rows: list[dict]) -> Path:
    """Write the rows as JSON Lines, replacing the results of an earlier demo."""
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n" for row in rows)
    return path


def _scale_line(calibrated: bool) -> str:
    """What the printed numbers are, said once before the cases."""
    from ..models.config import CALIBRATED_MEANING

    if calibrated:
        return f"Scores: calibrated, in [0, 1]: {CALIBRATED_MEANING}; the raw logit follows in brackets."
    return ("Scores: raw logits (higher is better; only their order within a case means something). "
            "This scorer has no calibration, so there is no [0, 1] score.")


def _print_case(ranking) -> None:
    print(f"\n{ranking.case}: \"{ranking.instruction}\"")
    for place, row in enumerate(ranking.ranked, start=1):
        marker = "  <- the right answer" if row["system"] == RIGHT else ""
        if row.get("calibrated") is None:
            shown = f"{row['score']:+8.3f}"
        else:
            shown = f"{row['calibrated']:6.3f}  (raw {row['score']:+8.3f})"
        print(f"  {place}. {shown}  {row['system']}{marker}")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metric", default="demo", help="scorer name or checkpoint folder (default: demo)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default: ./{DEFAULT_OUT}/)")
    parser.add_argument("--shapes", type=int, default=3, help="ShapesWorld cases (default: 3)")
    parser.add_argument(
        "--photos", type=int, default=3, help="real-photo cases, each a different canonical edit (default: 3)"
    )


def run(args: argparse.Namespace) -> int:
    check_case_counts(args.shapes, args.photos, names=("--shapes", "--photos"))
    run_demo(args.metric, args.out, args.shapes, args.photos)
    return 0
