"""Reading human labels and joining them to result rows (the rules are in :mod:`i2imetric.meta_eval`)."""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from .._numbers import real_or_nan
from ..data import Pairwise, Rating, Record, load_imagenhub_ratings, read_manifest
from ..data.records import record_id
from ..errors import I2IInputError
from .tables import METRIC, Coverage

__all__ = ["LABEL_FORMATS", "LabelUnit", "RatedOutput", "complete_scorers", "join_labels", "load_labels"]

LABEL_FORMATS = ("manifest", "imagenhub")


def load_labels(paths, labels_format: str = "manifest", image_root=None) -> list[Record]:
    """Human labels from i2imetric manifests or from ImagenHub rater TSVs.

    Args:
        paths: one path or several.
        labels_format: ``"manifest"`` (pairwise and rating records; other records are
            ignored by :func:`meta_evaluate`) or ``"imagenhub"`` (rater TSVs, one rating per
            uid, system and rater).
        image_root: for ``"imagenhub"``: ImagenHub's results folder (``<system>/<uid>``),
            which makes the ratings' output paths match result rows that carry ``output``.

    Returns:
        The records, in file order.
    """
    if labels_format not in LABEL_FORMATS:
        raise I2IInputError(f"labels_format must be one of {LABEL_FORMATS}, got {labels_format!r}")
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if labels_format == "imagenhub":
        return load_imagenhub_ratings(paths, image_root=image_root).records
    return [record for path in paths for record in read_manifest(path).records]


def join_labels(
    rows: Sequence[dict], records: Sequence[Record], aspect: str | None, notes: list[str]
) -> tuple[list[tuple[LabelUnit, list[dict]]], Coverage]:
    """The label items whose outputs all have a result row with a finite metric score.

    Args:
        rows: result rows, as :func:`read_results` gives them.
        records: label records; pairwise and rating records are used.
        aspect: which rating to use: None for the overall value, or an aspect name.
        notes: gets a line for what was ignored (e.g. triplets without a judgement).

    Returns:
        ``(usable, coverage)``: each usable item with its outputs' scorer -> score
        dicts (one per output), and what became of every label item.
    """
    index = _ResultIndex(rows)
    found = [(unit, _find_sides(index, unit)) for unit in _label_units(records, aspect, notes)]
    return _usable_items(found)


@dataclass
class RatedOutput:
    """All ratings of one output image."""

    by_rater: dict[str | None, list[float]]
    group: str | None
    system: str | None


@dataclass(frozen=True)
class _Lookup:
    """How to find the result row of one judged output: by content, id or output path."""

    result_id: str | None
    source: str | None
    instruction: str | None
    output: str | None

    def content(self) -> tuple | None:
        return _content_key(self.source, self.instruction, self.output)


@dataclass
class LabelUnit:
    """One judged thing: a pair (two outputs) or a rated output (one).

    ``lookups`` holds one :class:`_Lookup` per output; a pair's ``pair_id`` may also name
    a single row carrying both sides' scores.
    """

    name: str
    lookups: list[_Lookup]
    judgement: Pairwise | RatedOutput
    pair_id: str | None = None


class _ResultIndex:
    """Result rows, found by content (source, instruction, output), by id, or by output path.

    A content key or an output path that several rows share (the same output judged for
    different instructions, or one triplet scored twice) cannot tell them apart, so it
    joins nothing and the lookup falls through to the next rule.
    """

    def __init__(self, rows: Sequence[dict]):
        self.by_id = {str(row["id"]): row for row in rows if row.get("id") is not None}
        by_content, by_output = defaultdict(list), defaultdict(list)
        for row in rows:
            if isinstance(row.get("output"), str) and row["output"]:
                by_output[_resolved(row["output"])].append(row)
                by_content[_content_key(row.get("source"), row.get("instruction"), row["output"])].append(row)
        self.by_content = _unique(by_content)
        self.by_output = _unique(by_output)

    def find_by_content(self, lookup: _Lookup) -> dict | None:
        key = lookup.content()
        return self.by_content.get(key) if key is not None else None

    def find(self, lookup: _Lookup) -> dict | None:
        """The row of ``lookup``: by content, else by id, else by a unique output path."""
        found = self.find_by_content(lookup)
        if found is None and lookup.result_id is not None:
            found = self.by_id.get(lookup.result_id)
        if found is None and lookup.output:
            found = self.by_output.get(_resolved(lookup.output))
        return found


def _unique(found: dict) -> dict:
    return {key: rows[0] for key, rows in found.items() if len(rows) == 1}


def _resolved(path: str) -> str:
    # Resolved, not just absolute: the engine writes resolved paths, a manifest may
    # reach the same file through a symlink or "..".
    return os.path.realpath(path)


def _content_key(source, instruction, output) -> tuple | None:
    """``(resolved source, stripped instruction, resolved output)``; None without an output."""
    if not isinstance(output, str) or not output:
        return None
    source = _resolved(source) if isinstance(source, str) and source else None
    instruction = instruction.strip() if isinstance(instruction, str) else None
    return (source, instruction or None, _resolved(output))


def _label_units(records: Sequence[Record], aspect: str | None, notes: list[str]) -> list[LabelUnit]:
    units = []
    # One unit per rated triplet, its raters' ratings together. Keyed by the whole triplet,
    # not the output alone: one file (the unedited source, say) may be rated under several
    # instructions, and those are different judgements.
    ratings_by_triplet: dict[tuple, list[tuple[str, Rating, float]]] = defaultdict(list)
    unlabelled = 0
    for record in records:
        if isinstance(record, Pairwise):
            units.append(_pair_unit(record, record_id(record)))
        elif isinstance(record, Rating):
            value = _rating_value(record, aspect)
            if value is not None:
                key = _content_key(record.source, record.instruction, record.output)
                ratings_by_triplet[key].append((record_id(record), record, value))
        else:
            unlabelled += 1
    units.extend(_rated_output_unit(os.path.abspath(rated[0][1].output), rated) for rated in ratings_by_triplet.values())
    if unlabelled:
        notes.append(f"{unlabelled} label records carry no human judgement (triplets) and were ignored.")
    if not units:
        wanted = f" with aspect {aspect!r}" if aspect else ""
        raise I2IInputError(f"the labels hold no pairwise or rating records{wanted}")
    return units


def _pair_unit(record: Pairwise, record_id: str) -> LabelUnit:
    lookups = [
        _Lookup(f"{record_id}/{side}", record.source, record.instruction, output)
        for side, output in (("a", record.output_a), ("b", record.output_b))
    ]
    return LabelUnit(record_id, lookups, record, pair_id=record_id)


def _rating_value(record: Rating, aspect: str | None) -> float | None:
    """The score ``record`` gives for ``aspect`` (None: the overall value), if any."""
    if aspect is None:
        return record.value if record.aspect is None else None
    if record.aspect == aspect:
        return record.value
    if record.aspect is None and record.aspects and aspect in record.aspects:
        return record.aspects[aspect]
    return None


def _rated_output_unit(output: str, rated: list[tuple[str, Rating, float]]) -> LabelUnit:
    first_id, first, _ = rated[0]
    by_rater = defaultdict(list)
    for _, record, value in rated:
        by_rater[record.rater].append(value)
    result_id = _without_rater(first_id, first.rater)
    item = RatedOutput(dict(by_rater), first.group, first.system)
    lookup = _Lookup(result_id, first.source, first.instruction, output)
    return LabelUnit(result_id, [lookup], item)


def _without_rater(rating_id: str, rater: str | None) -> str:
    """The id of the rated output: per-rater ids (ImagenHub's) end in ``/<rater>``."""
    suffix = f"/{rater}"
    return rating_id[: -len(suffix)] if rater is not None and rating_id.endswith(suffix) else rating_id


def _find_sides(index: _ResultIndex, unit: LabelUnit) -> list[dict | None] | None:
    """Each output's scorer -> score (None where its row failed); None if a row is missing.

    Rows found by content win; then a pair's single row with both sides' scores; then
    each output's row by id or output path.
    """
    by_content = [index.find_by_content(lookup) for lookup in unit.lookups]
    if all(row is not None for row in by_content):
        return [_row_scores(row) for row in by_content]
    combined = index.by_id.get(unit.pair_id) if unit.pair_id is not None else None
    if combined is not None and "score_a" in combined:
        return [_row_scores(combined, "_a"), _row_scores(combined, "_b")]
    rows = [index.find(lookup) for lookup in unit.lookups]
    if any(row is None for row in rows):
        return None
    return [_row_scores(row) for row in rows]


def _row_scores(row: dict, side: str = "") -> dict[str, float] | None:
    """Scorer -> score of one row (``side`` picks ``score_a`` etc.); None if the row failed."""
    if row.get("status", "ok") != "ok":
        return None
    baselines = row.get(f"baselines{side}") or {}
    return {METRIC: real_or_nan(row.get(f"score{side}")), **{name: real_or_nan(v) for name, v in baselines.items()}}


def _usable_items(
    found: list[tuple[LabelUnit, list | None]],
) -> tuple[list[tuple[LabelUnit, list[dict]]], Coverage]:
    """The label items whose every output has a result row with a finite metric score."""
    coverage = Coverage(label_items=len(found))
    usable = []
    for unit, sides in found:
        if sides is None:
            coverage.no_result.append(unit.name)
        elif any(scores is None or not math.isfinite(scores[METRIC]) for scores in sides):
            coverage.failed += 1
        else:
            usable.append((unit, sides))
    coverage.used = len(usable)
    return usable, coverage


def complete_scorers(usable: list[tuple[LabelUnit, list[dict]]], notes: list[str]) -> list[str]:
    """The metric, then the baselines that scored every usable output, in order of appearance.

    Args:
        usable: joined label items, as :func:`join_labels` gives them.
        notes: gets a line for each baseline left out, with how many outputs it missed.

    Returns:
        Scorer names, :data:`~i2imetric.meta_eval.tables.METRIC` first.
    """
    all_scores = [scores for _, sides in usable for scores in sides]
    baselines = dict.fromkeys(name for scores in all_scores for name in scores if name != METRIC)
    complete = []
    for name in baselines:
        missing = sum(not math.isfinite(scores.get(name, math.nan)) for scores in all_scores)
        if missing:
            notes.append(f"{name} has no score for {missing} of {len(all_scores)} outputs and is left out.")
        else:
            complete.append(name)
    return [METRIC, *complete]
