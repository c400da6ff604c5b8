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

* grammar edits on the held-out photos, one set per split: trained specs and phrasings
  (``grammar_train``), held-out phrasings, held-out operation x region pairs and held-out
  operations (:data:`training.data.GRAMMAR_VALIDATION_SPLITS`).

For each set: pairwise accuracy of right edit vs distractor overall, per distractor kind,
per edit, and split into local edits (``*_half``, ``*_center``, ShapesWorld object edits)
and global ones. On the grammar sets, also what the per-patch map and the sub-scores say
(:func:`grammar_checks`): the issue's goals, measured, in :func:`goals_table`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import i2imetric
from i2imetric.data.synthetic.edits import LOCAL_EDITS
from i2imetric.hub.pretrained import CONFIG_NAME
from i2imetric.models.batching import score_all
from i2imetric.models.config import SUBSCORE_NAMES
from i2imetric.stats.correlation import correlation_coefficient

from .data import GRAMMAR_VALIDATION_SPLITS, grammar_validation_groups, validation_groups
from .train import pairwise_accuracy_table, score_groups

__all__ = ["evaluate_scorer", "grammar_checks", "goals_table", "pooled_check", "untrained_twin", "main"]

SET_TITLES = {  # the sets of data.validation_groups
    "shapes_heldout_seeds": "ShapesWorld, held-out seeds",
    "shapes_heldout_combos": "ShapesWorld, held-out colour x shape",
    "photos_heldout": "Canonical edits, held-out photos",
    "grammar_train": "Grammar, trained specs and phrasings",
    "grammar_heldout_phrasing": "Grammar, held-out phrasings",
    "grammar_heldout_combo": "Grammar, held-out operation x region",
    "grammar_heldout_operation": "Grammar, held-out operations",
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
    """Accuracy tables for one metric on each held-out set, with local/global splits;
    for the grammar sets, also the map and sub-score checks of :func:`grammar_checks`."""
    tables = {}
    for name, groups in sets.items():
        rows = score_groups(metric, groups, batch_size)
        table = pairwise_accuracy_table(rows)
        table["local"] = pairwise_accuracy_table([r for r in rows if _is_local(r)])["accuracy"]
        table["global"] = pairwise_accuracy_table([r for r in rows if not _is_local(r)])["accuracy"]
        if name in GRAMMAR_VALIDATION_SPLITS:
            table["checks"] = grammar_checks(metric, groups, batch_size)
        tables[name] = table
    return tables


# A right answer counts as a local edit when its change covers at most this share of the patches.
LOCAL_SHARE = 0.6
# (name, winner kind, loser kind, sub-score): "right" is the right answer, others are distractor kinds.
SUBSCORE_ORDERINGS = (
    ("preservation(unchanged) >= preservation(right edit)", "no_op", "right", "preservation"),
    ("preservation(right edit) >= preservation(collateral)", "right", "collateral", "preservation"),
    ("quality(unchanged) >= quality(degraded)", "no_op", "degraded", "quality"),
    ("instruction(right edit) > instruction(unchanged)", "right", "no_op", "instruction"),
    ("instruction(right edit) > instruction(wrong operation)", "right", "wrong_operation", "instruction"),
)


def grammar_checks(metric, groups: list, batch_size: int = 96) -> dict:
    """What the per-patch map and the sub-scores say on grammar groups (which carry masks).

    Map (the sign convention: > 0 where the edit helped, < 0 where it hurt), on right
    answers of local edits (change on at most :data:`LOCAL_SHARE` of the patches):

    * ``map_helped_positive``: share where the map's mean over the edited patches is > 0;
    * ``map_pointing``: share where the map's largest patch lies in the edited region;

    and on collateral distractors, ``map_damage_pointing``: share where the most negative
    patch lies in the damage. Sub-scores: for each of :data:`SUBSCORE_ORDERINGS`, the
    share of groups where it holds (>= is "not below"; ties count as holding).

    ``instruction_swap``: does the score read the instruction? The share of groups whose
    right answer scores higher under its own instruction than under the instruction of
    the next group with another operation (the same images, only the words differ).

    ``preservation_quality_spearman``: Spearman's rho between the preservation and quality
    sub-scores over every candidate. Near 1, the two are one signal under two names
    (typically "how little changed"); the orderings above can all hold while they are.
    """
    sources, instructions, outputs = [], [], []
    for group in groups:
        for candidate, words in group.scored_candidates():
            sources.append(group.source)
            instructions.append(words)
            outputs.append(candidate)
    swapped = _swapped_instructions(groups)
    for group, other in zip(groups, swapped):
        sources.append(group.source)
        instructions.append(other if other is not None else group.instruction)
        outputs.append(group.preferred)
    result = score_all(metric, sources, instructions, outputs, batch_size)
    swap_start = len(sources) - len(groups)
    grid = metric.grid_size
    coverage = lambda mask: metric.clip.preprocess.patch_coverage(torch.from_numpy(mask), grid)  # noqa: E731

    helped_positive, pointing, damage_pointing, swap = [], [], [], []
    orderings = {name: [] for name, *_ in SUBSCORE_ORDERINGS}
    start = 0
    for index, group in enumerate(groups):
        rows = list(range(start, start + 1 + len(group.rejected)))
        if swapped[index] is not None:
            swap.append(float(result.score[rows[0]] > result.score[swap_start + index]))
        start = rows[-1] + 1
        helped = coverage(group.map_masks[0][0])
        right_map = result.patch_map[rows[0]]
        if 0 < (helped > 0).float().mean() <= LOCAL_SHARE and (helped >= 0.5).any():
            helped_positive.append(float(right_map[helped >= 0.5].mean() > 0))
            pointing.append(float(helped[right_map.argmax()] > 0))
        if "collateral" in group.kinds:
            k = group.kinds.index("collateral")
            hurt = coverage(group.map_masks[1 + k][1])
            damage_pointing.append(float(hurt[result.patch_map[rows[1 + k]].argmin()] > 0))
        row_of = {"right": rows[0], **{kind: rows[1 + k] for k, kind in enumerate(group.kinds)}}
        for name, winner, loser, aspect in SUBSCORE_ORDERINGS:
            if winner in row_of and loser in row_of:
                column = SUBSCORE_NAMES.index(aspect)
                a, b = result.subscores[row_of[winner], column], result.subscores[row_of[loser], column]
                orderings[name].append(float(a > b) if name.split("(")[0] == "instruction" else float(a >= b))

    share = lambda values: {"share": sum(values) / len(values) if values else float("nan"), "n": len(values)}  # noqa: E731
    candidates = result.subscores[:swap_start]
    preservation, quality = (candidates[:, SUBSCORE_NAMES.index(name)].numpy() for name in ("preservation", "quality"))
    return {
        "preservation_quality_spearman": {
            "rho": correlation_coefficient(preservation, quality) if len(preservation) > 2 else float("nan"),
            "n": len(preservation),
        },
        "map_helped_positive": share(helped_positive),
        "map_pointing": share(pointing),
        "map_damage_pointing": share(damage_pointing),
        "instruction_swap": share(swap),
        "subscores": {name: share(values) for name, values in orderings.items()},
    }


def _swapped_instructions(groups: list) -> list:
    """For each group, the instruction of the next group (cyclically) whose operation differs, or None."""
    swapped = []
    for index, group in enumerate(groups):
        others = groups[index + 1 :] + groups[:index]
        other = next((o for o in others if o.edit != group.edit), None)
        swapped.append(other.instruction if other is not None else None)
    return swapped


# (goal, how to read it off the tables, the goal's threshold); from the grounding issue.
GOALS = (
    ("canonical 16 with their strings", lambda t: t["photos_heldout"]["accuracy"], 0.95),
    ("grammar, trained phrasings", lambda t: t["grammar_train"]["accuracy"], None),
    ("held-out phrasings", lambda t: t["grammar_heldout_phrasing"]["accuracy"], 0.90),
    ("held-out operation x region", lambda t: t["grammar_heldout_combo"]["accuracy"], 0.85),
    ("held-out operations", lambda t: t["grammar_heldout_operation"]["accuracy"], 0.75),
    ("map: mean over the edited region > 0 (right answers, local edits)",
     lambda t: pooled_check(t, "map_helped_positive"), 0.90),
    ("map: pointing game on local edits", lambda t: pooled_check(t, "map_pointing"), 0.90),
    ("map: most negative patch in the collateral damage", lambda t: pooled_check(t, "map_damage_pointing"), 0.80),
    ("sub-score orderings (all five, pooled)", lambda t: _pooled_orderings(t), 0.95),
    ("reads the instruction: right answer, own instruction > another's",
     lambda t: pooled_check(t, "instruction_swap"), None),
    ("preservation vs quality, Spearman rho (1 = one signal; lower is more distinct)",
     lambda t: _pooled_rho(t, "preservation_quality_spearman"), None),
)


def _grammar_tables(tables: dict) -> list:
    return [tables[name] for name in GRAMMAR_VALIDATION_SPLITS if name in tables and "checks" in tables[name]]


def pooled_check(tables: dict, key: str) -> float:
    """A check of :func:`grammar_checks` (``map_pointing``, ``instruction_swap``, ...) pooled over
    the grammar sets of :func:`evaluate_scorer`'s tables, weighted by their counts."""
    parts = [t["checks"][key] for t in _grammar_tables(tables)]
    n = sum(p["n"] for p in parts)
    return sum(p["share"] * p["n"] for p in parts if p["n"]) / n if n else float("nan")


def _pooled_rho(tables: dict, key: str) -> float:
    """A correlation check averaged over the grammar sets, weighted by their counts."""
    parts = [t["checks"][key] for t in _grammar_tables(tables) if key in t["checks"]]
    n = sum(p["n"] for p in parts)
    return sum(p["rho"] * p["n"] for p in parts if p["n"]) / n if n else float("nan")


def _pooled_orderings(tables: dict) -> float:
    parts = [part for t in _grammar_tables(tables) for part in t["checks"]["subscores"].values()]
    n = sum(p["n"] for p in parts)
    return sum(p["share"] * p["n"] for p in parts if p["n"]) / n if n else float("nan")


def goals_table(results: dict) -> str:
    """The grounding goals, one row each, with every metric's measured value and whether it meets the goal."""
    labels = list(results)
    lines = ["| measure | goal | " + " | ".join(labels) + " |", "|---|---|" + "---|" * len(labels)]
    for title, read, goal in GOALS:
        cells = []
        for label in labels:
            try:
                value = read(results[label])
            except KeyError:
                value = float("nan")
            mark = "" if goal is None or value != value else (" ✓" if value >= goal else " ✗")
            shown = f"{value:.2f}" if "rho" in title and value == value else _pct(value)
            cells.append(shown + mark)
        lines.append(f"| {title} | {'≥ ' + _pct(goal) if goal is not None else '—'} | " + " | ".join(cells) + " |")
    lines += ["", "| sub-score ordering | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for name, *_ in SUBSCORE_ORDERINGS:
        cells = []
        for label in labels:
            parts = [t["checks"]["subscores"][name] for t in _grammar_tables(results[label])]
            n = sum(p["n"] for p in parts)
            cells.append(_pct(sum(p["share"] * p["n"] for p in parts if p["n"]) / n if n else float("nan")))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def markdown_tables(results: dict) -> str:
    """One summary table (metrics x sets, local/global) and per-kind tables."""
    names = [s for s in SET_TITLES if all(s in tables for tables in results.values())]
    lines = ["| metric | " + " | ".join(SET_TITLES[s] for s in names) + " | local edits | global edits |",
             "|---|" + "---|" * (len(names) + 2)]
    for label, tables in results.items():
        cells = [_pct(tables[s]["accuracy"]) for s in names]
        local = _pooled(tables, "local")
        global_ = _pooled(tables, "global")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {_pct(local)} | {_pct(global_)} |")
    for set_name in names:
        title = SET_TITLES[set_name]
        kinds = sorted({k for tables in results.values() for k in tables[set_name]["by_kind"]})
        lines += ["", f"**{title}**: accuracy by distractor kind ({next(iter(results.values()))[set_name]['pairs']} pairs)",
                  "", "| metric | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
        for label, tables in results.items():
            lines.append(f"| {label} | " + " | ".join(_pct(tables[set_name]["by_kind"].get(k)) for k in kinds) + " |")
    return "\n".join(lines) + "\n"


def edit_table(tables: dict) -> str:
    """Per-edit accuracy on the held-out photos for one metric."""
    by_edit = tables["photos_heldout"]["by_edit"] if "photos_heldout" in tables else {}
    lines = ["| edit | accuracy |", "|---|---|"]
    lines += [f"| {edit}{' (local)' if edit in LOCAL_EDITS else ''} | {_pct(acc)} |" for edit, acc in by_edit.items()]
    shapes = tables["shapes_heldout_seeds"]["by_edit"] if "shapes_heldout_seeds" in tables else {}
    lines += [f"| ShapesWorld {edit} | {_pct(acc)} |" for edit, acc in shapes.items()]
    return "\n".join(lines) + "\n"


def _pooled(tables: dict, split: str) -> float:
    """Mean of a split's accuracy over the sets that have rows in it (ShapesWorld is all local)."""
    values = [t[split] for t in tables.values() if isinstance(t, dict) and t[split] == t[split]]  # drop NaN
    return sum(values) / len(values) if values else float("nan")


def _pct(value) -> str:
    return "n/a" if value is None or value != value else f"{100 * value:.1f}%"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--metric", action="append", default=[], help="LABEL=CHECKPOINT (repeatable)")
    parser.add_argument("--prior-of", help="also evaluate the untrained prior on this checkpoint's base")
    parser.add_argument("--shapes", type=int, default=200, help="ShapesWorld groups per held-out set")
    parser.add_argument("--photo-crops", type=int, default=3, help="views per held-out photo (whole + crops)")
    parser.add_argument("--grammar", type=int, default=96, help="grammar groups per split (0: leave them out)")
    parser.add_argument("--json", help="write all tables here")
    parser.add_argument("--markdown", help="write the markdown tables here")
    args = parser.parse_args(argv)

    started = time.time()
    sets = validation_groups(64, shapes_count=args.shapes, photo_crops=args.photo_crops)
    sets.update(grammar_validation_groups(args.grammar))
    metrics = {}
    if args.prior_of:
        metrics["(a) zero-shot prior, untrained"] = untrained_twin(args.prior_of)
    for item in args.metric:
        label, _, folder = item.rpartition("=")
        metrics[label or folder] = i2imetric.load_metric(folder)
    results = {label: evaluate_scorer(metric, sets) for label, metric in metrics.items()}
    text = markdown_tables(results)
    if args.grammar:
        text += "\n**Grounding goals** (grammar sets on the held-out photos)\n\n" + goals_table(results)
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
