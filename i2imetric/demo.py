"""``i2imetric demo``: the shipped scorer on edit cases it never saw, ranked, with heatmaps.

Each case is a source image and an instruction with its right answer and every kind of
wrong answer (held-out ShapesWorld scenes, and canonical edits of bundled photos that were
kept out of training). The scorer never sees which candidate is right: it scores each
(source, instruction, candidate) triplet from pixels and text alone, and the table shows
where the right answer landed.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

__all__ = ["DemoCase", "build_cases", "run_demo", "configure_parser", "run"]

DEFAULT_OUT = "i2imetric-demo"
RIGHT = "right edit"


@dataclass
class DemoCase:
    name: str
    source: Image.Image
    instruction: str
    candidates: dict  # label -> image; RIGHT is the correct answer


def build_cases(shapes: int = 3, photo_edits: int = 3, seed: int = 0) -> list[DemoCase]:
    """Held-out ShapesWorld scenes and canonical edits on held-out bundled photos."""
    from . import edits, photos, shapesworld

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


def run_demo(metric_name: str = "demo", out: str | Path = DEFAULT_OUT, shapes: int = 3, photo_edits: int = 3) -> dict:
    """Score every case, print ranked tables, write images, heatmaps and results to ``out``.

    Returns:
        A summary: cases, pairs, pairwise accuracy, right-answer-first count, output folder.
    """
    from .commands.common import metric_from_argument
    from .heatmap import save_heatmap

    started = time.time()
    out = Path(out)
    metric = metric_from_argument(metric_name)
    cases = build_cases(shapes, photo_edits)
    rows, wins, pairs, firsts = [], 0, 0, 0
    for case in cases:
        case_dir = out / case.name
        case_dir.mkdir(parents=True, exist_ok=True)
        case.source.save(case_dir / "source.png")
        labels = list(case.candidates)
        images = [case.candidates[label] for label in labels]
        scores = metric.score([case.source] * len(images), [case.instruction] * len(images), images).tolist()
        ranked = sorted(zip(labels, scores), key=lambda item: -item[1])
        right_score = scores[labels.index(RIGHT)]
        wins += sum(right_score > s for label, s in zip(labels, scores) if label != RIGHT)
        pairs += len(labels) - 1
        firsts += ranked[0][0] == RIGHT
        _print_case(case, ranked)
        for label, image in zip(labels, images):
            slug = label.replace(" ", "_")
            image.save(case_dir / f"{slug}.png")
            explanation = metric.explain(case.source, case.instruction, image)
            save_heatmap(explanation.patch_map, image, case_dir / f"{slug}_heatmap.png")
            rows.append({"id": f"{case.name}/{slug}", "case": case.name, "system": label, "instruction": case.instruction,
                         "score": explanation.score, "subscores": explanation.subscores, "status": "ok", "error": None,
                         "source": str(case_dir / "source.png"), "output": str(case_dir / f"{slug}.png")})
    with open(out / "results.jsonl", "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)
    from .report import build_report

    report = build_report(out / "results.jsonl", out / "report.html", metric=metric, top=min(8, len(rows)))
    summary = {
        "cases": len(cases),
        "right_answer_ranked_first": firsts,
        "pairs": pairs,
        "pairwise_accuracy": wins / pairs if pairs else float("nan"),
        "out": str(out),
        "report": str(report),
        "seconds": round(time.time() - started, 1),
    }
    print(
        f"\nThe right edit beat {wins}/{pairs} wrong answers ({100 * summary['pairwise_accuracy']:.1f}%) and was "
        f"ranked first in {firsts}/{len(cases)} cases.\nImages, heatmaps (red: the edit helped here, blue: it "
        f"hurt), results.jsonl and the HTML report {report} are in {out}/ ({summary['seconds']} s)."
    )
    return summary


def _print_case(case: DemoCase, ranked: list) -> None:
    print(f"\n{case.name}: \"{case.instruction}\"")
    for rank, (label, score) in enumerate(ranked, start=1):
        marker = "  <- the right answer" if label == RIGHT else ""
        print(f"  {rank}. {score:+8.3f}  {label}{marker}")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metric", default="demo", help="scorer name or checkpoint folder (default: demo)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default: ./{DEFAULT_OUT}/)")
    parser.add_argument("--shapes", type=int, default=3, help="ShapesWorld cases")
    parser.add_argument("--photos", type=int, default=3, help="real-photo cases")


def run(args: argparse.Namespace) -> int:
    run_demo(args.metric, args.out, args.shapes, args.photos)
    return 0
