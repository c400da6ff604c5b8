"""Measure scorers on held-out edit pairs: the numbers of a model card and of the ablations.

    python -m i2imetric_training.evaluate_scorer \\
        --metric "(c) LoRA + patch tokens (demo)=checkpoints/demo" \\
        --metric "(b) global features only=runs/ablation_global/best" \\
        --prior-of checkpoints/demo --json docs/ablations.json --markdown docs/ablations_table.md

Held-out data, none of it used in training:

* ShapesWorld scenes from seeds at or above ``shapesworld.HELDOUT_SEED_START``;
* ShapesWorld scenes containing the held-out colour x shape combinations;
* every canonical edit x every distractor on the held-out bundled photos (whole photo and
  two crops each).

For each set: pairwise accuracy of right edit vs distractor overall, per distractor kind,
per edit, and split into local edits (``*_half``, ``*_center``, ShapesWorld object edits)
and global ones.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import i2imetric
from i2imetric.data.synthetic.edits import LOCAL_EDITS
from i2imetric.hub.pretrained import CONFIG_NAME

from .data import validation_groups
from .train import pairwise_accuracy_table, score_groups

__all__ = ["evaluate_scorer", "untrained_twin", "main"]

SET_TITLES = {  # the sets of data.validation_groups
    "shapes_heldout_seeds": "ShapesWorld, held-out seeds",
    "shapes_heldout_combos": "ShapesWorld, held-out colour x shape",
    "photos_heldout": "Canonical edits, held-out photos",
}


def untrained_twin(folder: str | Path):
    """The untrained metric on the same base as a checkpoint: exactly its zero-shot prior."""
    config = json.loads((Path(folder) / CONFIG_NAME).read_text())
    base = config["base_weights"]
    if base["kind"] != "file":
        return i2imetric.create_metric(config["model"]["name"], pretrained=base.get("ref"))
    path = Path(base["ref"]) if Path(base["ref"]).is_absolute() else Path(folder) / base["ref"]
    return i2imetric.create_metric(config["model"]["name"], pretrained=str(path))


def _is_local(row: dict) -> bool:
    return row["family"] == "shapes" or row["edit"] in LOCAL_EDITS


def evaluate_scorer(metric, sets: dict, batch_size: int = 96) -> dict:
    """Accuracy tables for one metric on each held-out set, with local/global splits."""
    tables = {}
    for name, groups in sets.items():
        rows = score_groups(metric, groups, batch_size)
        table = pairwise_accuracy_table(rows)
        table["local"] = pairwise_accuracy_table([r for r in rows if _is_local(r)])["accuracy"]
        table["global"] = pairwise_accuracy_table([r for r in rows if not _is_local(r)])["accuracy"]
        tables[name] = table
    return tables


def markdown_tables(results: dict) -> str:
    """One summary table (metrics x sets, local/global) and per-kind tables."""
    lines = ["| metric | " + " | ".join(SET_TITLES[s] for s in SET_TITLES) + " | local edits | global edits |",
             "|---|" + "---|" * (len(SET_TITLES) + 2)]
    for label, tables in results.items():
        cells = [_pct(tables[s]["accuracy"]) for s in SET_TITLES]
        local = _pooled(tables, "local")
        global_ = _pooled(tables, "global")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {_pct(local)} | {_pct(global_)} |")
    for set_name, title in SET_TITLES.items():
        kinds = sorted({k for tables in results.values() for k in tables[set_name]["by_kind"]})
        lines += ["", f"**{title}**: accuracy by distractor kind ({next(iter(results.values()))[set_name]['pairs']} pairs)",
                  "", "| metric | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
        for label, tables in results.items():
            lines.append(f"| {label} | " + " | ".join(_pct(tables[set_name]["by_kind"].get(k)) for k in kinds) + " |")
    return "\n".join(lines) + "\n"


def edit_table(tables: dict) -> str:
    """Per-edit accuracy on the held-out photos for one metric."""
    by_edit = tables["photos_heldout"]["by_edit"]
    lines = ["| edit | accuracy |", "|---|---|"]
    lines += [f"| {edit}{' (local)' if edit in LOCAL_EDITS else ''} | {_pct(acc)} |" for edit, acc in by_edit.items()]
    shapes = tables["shapes_heldout_seeds"]["by_edit"]
    lines += [f"| ShapesWorld {edit} | {_pct(acc)} |" for edit, acc in shapes.items()]
    return "\n".join(lines) + "\n"


def _pooled(tables: dict, split: str) -> float:
    """Mean of a split's accuracy over the sets that have rows in it (ShapesWorld is all local)."""
    values = [t[split] for t in tables.values() if t[split] == t[split]]  # drop NaN
    return sum(values) / len(values) if values else float("nan")


def _pct(value) -> str:
    return "n/a" if value is None or value != value else f"{100 * value:.1f}%"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--metric", action="append", default=[], help="LABEL=CHECKPOINT (repeatable)")
    parser.add_argument("--prior-of", help="also evaluate the untrained prior on this checkpoint's base")
    parser.add_argument("--shapes", type=int, default=200, help="ShapesWorld groups per held-out set")
    parser.add_argument("--photo-crops", type=int, default=3, help="views per held-out photo (whole + crops)")
    parser.add_argument("--json", help="write all tables here")
    parser.add_argument("--markdown", help="write the markdown tables here")
    args = parser.parse_args(argv)

    started = time.time()
    sets = validation_groups(64, shapes_count=args.shapes, photo_crops=args.photo_crops)
    metrics = {}
    if args.prior_of:
        metrics["(a) zero-shot prior, untrained"] = untrained_twin(args.prior_of)
    for item in args.metric:
        label, _, folder = item.rpartition("=")
        metrics[label or folder] = i2imetric.load_metric(folder)
    results = {label: evaluate_scorer(metric, sets) for label, metric in metrics.items()}
    text = markdown_tables(results)
    for label, tables in results.items():
        text += f"\n**{label}**: accuracy by edit\n\n" + edit_table(tables)
    print(text)
    print(f"({time.time() - started:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
