"""Meta-evaluation: how closely do the metric and the baselines agree with people?

:func:`meta_evaluate` joins a result file (one row per scored output, as written by
:mod:`i2imetric.evaluation`) to human labels and computes, for the metric and every
baseline in the results, the statistics of :mod:`i2imetric.stats`, each with a
percentile-bootstrap CI, plus a paired bootstrap test of "the metric beats this baseline".
Importing it does not import torch.

Scorers
-------
``"metric"`` is a row's ``score``; every key of its ``baselines`` is another scorer. Scores
are read as higher-is-better: distances (those :data:`i2imetric.evaluation.baselines.BASELINES`
marks, or the names given as ``lower_is_better``) are negated. A label item is used when
the metric scored all its outputs (:class:`Coverage` counts the others), and a baseline
is shown only when it scored every used item (the engine writes null where a baseline
does not apply, e.g. caption baselines without captions), so all columns describe the
same items; the notes name the baselines left out.

Joining results to labels
-------------------------
Results are read by :func:`read_results` (any format ``eval --out`` writes). A result row
is found, for each judged output, by its content first: the row whose resolved
``source`` path, ``instruction`` (stripped) and resolved ``output`` path are the label's
(``eval`` writes these on every row), so labels join whatever ids the scored manifest
used, e.g. pairwise labels to the results of a manifest of triplets. Else the id
conventions below apply, else the ``output`` path alone. A content key or path that
several rows share is never used (it cannot tell them apart). Relative paths in a
result file start at its folder. A record without an id is named by its content
(:func:`i2imetric.data.records.record_id`), as the evaluation engine names it when the labels
are the manifest it scored.

* Pairwise record with id ``X``: both outputs by content, else one row ``X`` carrying
  ``score_a``/``score_b`` (and ``baselines_a``/``baselines_b``), else rows ``X/a`` and
  ``X/b``, else the rows whose output is the record's ``output_a`` / ``output_b``.
* Ratings: all ratings of one output image are one item, its human score their mean;
  several raters give the human-human ceiling. The item is found by content, by its
  ratings' id with a trailing ``/<rater>`` removed, or by the output path.
* ImagenHub rater TSVs (``load_labels(paths, labels_format="imagenhub")``): one item per
  (uid, system), found as result id ``<uid>/<system>``, e.g.
  ``sample_100081_1.jpg/MagicBrush`` (the id ``load_imagenhub_ratings(aggregate="mean")``
  gives), or as output ``<image_root>/<system>/<uid>`` (ImagenHub's results layout).

Statistics
----------
Pairwise labels ``"a"``, ``"b"``, ``"tie"``, ``"both_bad"`` (a tie, except in the four-way
protocol where ``"tie"`` means both good):

* accuracy without ties: human-tied pairs left out; a metric tie counts as wrong.
* accuracy with ties, tie-calibrated (Deutsch et al., 2023): epsilon is swept on all the
  pairs, as in the paper, and re-fitted in every bootstrap resample; the table shows it.
* four-way agreement (GenAI-Bench: A>B, B>A, both good, both bad), when some label is
  ``"both_bad"``: epsilon and tau are fitted on a seeded ``validation_fraction`` of the
  pairs (default half) and the accuracy is that of the remaining pairs.
* group accuracy (EditReward-Bench), when pairs share a group (``extra["group"]``, else
  the same source and instruction): the share of groups whose untied pairs are all right.

Float labels (the share of people preferring a): the 2AFC score (BAPPS, NIGHTS), with the
human score of BAPPS, ``p^2 + (1-p)^2`` (the chance that two random judges agree).

Ratings: Pearson, Spearman and Kendall tau-b per item (with the leave-one-rater-out
ceiling when there are several raters), per group averaged in Fisher z (as EditReward
reports ImagenHub), and per system (correlation of per-system means).

Resampling: items of one group (one source and instruction) are correlated, so pairs and
rated items are resampled in whole groups when there are at least 10 groups (fewer give
too few distinct resamples), and group-level statistics resample the groups themselves.
Every scorer is resampled with the same seed, hence with the same indices.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from statistics import fmean

import numpy as np
from tqdm.auto import tqdm

from ..data import Pairwise, Rating, Record, load_imagenhub_ratings, read_manifest
from ..data.records import record_id
from ..errors import I2IInputError
from ..evaluation.results import read_results
from ..stats import (
    CORRELATION_METHODS,
    bootstrap_ci,
    correlation_coefficient,
    correlations,
    fisher_z_mean,
    fit_four_way_thresholds,
    four_way_accuracy,
    group_all_correct,
    group_coefficients,
    inter_rater_ceiling,
    paired_bootstrap_test,
    pairwise_accuracy,
    tie_calibration,
    two_afc_score,
)

__all__ = [
    "LABEL_FORMATS",
    "METRIC",
    "Coverage",
    "Estimate",
    "MetaEvalResult",
    "RatedItems",
    "StatisticRow",
    "format_comparison",
    "load_labels",
    "meta_evaluate",
    "read_results",
]

METRIC = "metric"
LABEL_FORMATS = ("manifest", "imagenhub")
_PARAM_SYMBOLS = {"epsilon": "eps", "tau": "tau"}
_MIN_CLUSTERS = 10  # see _clusters


# --------------------------------------------------------------------------
# Reading results and labels
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# Results of one meta-evaluation
# --------------------------------------------------------------------------


@dataclass
class Estimate:
    """A statistic with its bootstrap interval, and the thresholds fitted for it (if any)."""

    value: float
    low: float
    high: float
    params: dict[str, float] = field(default_factory=dict)

    def format(self) -> str:
        """``"0.712 [0.668, 0.755]"``; undefined numbers read ``n/a``."""
        return f"{_number_text(self.value)} [{_number_text(self.low)}, {_number_text(self.high)}]"

    def format_params(self) -> str:
        """The fitted thresholds, e.g. ``"eps=0.05 tau=1.2"``; empty when none were fitted."""
        return " ".join(f"{_PARAM_SYMBOLS.get(name, name)}={value:.4g}" for name, value in self.params.items())


def format_comparison(test: dict[str, float]) -> str:
    """A paired test of metric minus baseline as ``"+0.062 p=0.004"``."""
    return f"{_number_text(test['delta'], sign=True)} p={test['p_value']:.3f}"


@dataclass
class StatisticRow:
    """One line of the table: one statistic for every scorer.

    Args:
        key: stable name, e.g. ``"ratings/sample/spearman"``.
        label: what the table shows.
        n: how many units were resampled.
        units: what they are (``"pairs"``, ``"items"``, ``"groups"``).
        values: scorer -> estimate.
        versus_metric: baseline -> :func:`i2imetric.stats.paired_bootstrap_test` result of
            metric minus baseline (``delta``, ``low``, ``high``, one-sided ``p_value``).
        human: the human-human agreement on the same units, where defined.
    """

    key: str
    label: str
    n: int
    units: str
    values: dict[str, Estimate]
    versus_metric: dict[str, dict[str, float]]
    human: Estimate | None = None


@dataclass
class Coverage:
    """What became of the label items on their way into the statistics.

    ``label_items == used + len(no_result) + failed``.
    """

    label_items: int = 0
    used: int = 0
    no_result: list[str] = field(default_factory=list)
    failed: int = 0

    def summary(self) -> str:
        text = f"{self.used} of {self.label_items} label items used"
        reasons = [
            (len(self.no_result), "without a result row"),
            (self.failed, "whose result row failed"),
        ]
        left_out = [f"{count} {why}" for count, why in reasons if count]
        if self.no_result:
            left_out[0] += f" (e.g. {', '.join(self.no_result[:3])})"
        return text + (f"; left out: {'; '.join(left_out)}" if left_out else "")


@dataclass
class RatedItems:
    """Rated outputs found in the results: the data behind the correlation rows.

    Args:
        ids: an id per item (its result id, else its output path).
        human: mean rating per item.
        raters: names of the raters who rated items individually.
        by_rater: ``[n_items, len(raters)]`` mean rating per rater, NaN where not rated.
        groups: group (source and instruction) per item, or None.
        systems: editing system per item, or None.
        scores: scorer -> score per item, higher-is-better.
    """

    ids: list[str]
    human: np.ndarray
    raters: list[str]
    by_rater: np.ndarray
    groups: np.ndarray | None
    systems: np.ndarray | None
    scores: dict[str, np.ndarray]


@dataclass
class MetaEvalResult:
    """Every statistic for every scorer, plus how the labels were matched.

    Args:
        scorers: ``"metric"`` first, then the baselines.
        rows: the table's statistics.
        coverage: how many label items were used.
        notes: why a statistic is absent, or how a scorer was read.
        options: the settings (resamples, seed, confidence, validation fraction, ...).
        ratings: the joined ratings, for plots; None without rating labels.
    """

    scorers: list[str]
    rows: list[StatisticRow]
    coverage: Coverage
    notes: list[str]
    options: dict
    ratings: RatedItems | None = None

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (NaN becomes None); the joined ratings are left out."""
        return _json_ready(
            {
                "scorers": self.scorers,
                "options": self.options,
                "coverage": asdict(self.coverage),
                "notes": self.notes,
                "statistics": [asdict(row) for row in self.rows],
            }
        )

    def format_table(self) -> str:
        """The table as aligned plain text: scorers side by side, one statistic per line.

        Under a statistic, ``fitted`` shows the thresholds fitted per scorer and
        ``metric - X`` the paired difference with its one-sided p-value.
        """
        show_human = any(row.human is not None for row in self.rows)
        header = ["statistic", "n", *self.scorers, *(["human"] if show_human else [])]
        lines = [header]
        for row in self.rows:
            lines.extend(_table_lines(row, self.scorers, show_human))
        level = int(round(100 * self.options["confidence"]))
        footer = [
            f"{level}% percentile bootstrap CIs over {self.options['n_resamples']} resamples "
            f"(seed {self.options['seed']}); p: one-sided paired bootstrap, share of resamples "
            "where the metric does not beat the baseline.",
            self.coverage.summary() + ".",
            *self.notes,
        ]
        return _aligned(lines) + "\n\n" + "\n".join(footer)


def _table_lines(row: StatisticRow, scorers: list[str], show_human: bool) -> list[list[str]]:
    human = [row.human.format() if row.human else ""] if show_human else []
    lines = [[row.label, f"{row.n} {row.units}", *(row.values[s].format() for s in scorers), *human]]
    if any(estimate.params for estimate in row.values.values()):
        fitted = [row.values[s].format_params() for s in scorers]
        lines.append(["  fitted", "", *fitted, *[""] * show_human])
    if row.versus_metric:
        versus = ["", *(format_comparison(row.versus_metric[s]) for s in scorers[1:])]
        lines.append(["  metric - X", "", *versus, *[""] * show_human])
    return lines


def _number_text(value: float, sign: bool = False) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value:+.3f}" if sign else f"{value:.3f}"


def _aligned(lines: list[list[str]]) -> str:
    widths = [max(len(line[column]) for line in lines) for column in range(len(lines[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines)


def _json_ready(value):
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


# --------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------


def meta_evaluate(
    results,
    labels,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    validation_fraction: float = 0.5,
    aspect: str | None = None,
    lower_is_better: Iterable[str] | None = None,
    progress: bool = True,
) -> MetaEvalResult:
    """Agreement of the metric and every baseline with human labels, with CIs and tests.

    Args:
        results: a result file (``.jsonl``, ``.csv``, ``.parquet``), or its rows as dicts
            (see :func:`read_results`).
        labels: a manifest path, or records (see :func:`load_labels` for ImagenHub TSVs).
        n_resamples: bootstrap resamples per interval and per paired test.
        seed: seed of the bootstrap and of the four-way validation split.
        confidence: level of the two-sided intervals.
        validation_fraction: share of the pairs used to fit the four-way thresholds.
        aspect: which rating to correlate with: None for the overall value, or an aspect
            name (e.g. ImagenHub's ``"SC"`` or ``"PQ"``).
        lower_is_better: baselines whose scores are distances; they are negated. None:
            those :data:`i2imetric.evaluation.baselines.BASELINES` marks lower-is-better (e.g. ``l2``).
        progress: show a progress bar of the bootstraps on stderr (only when stderr is a
            terminal): with many items and baselines they take minutes.

    Returns:
        A :class:`MetaEvalResult`; ``.format_table()`` prints it, ``.to_dict()`` saves it.

    Example:
        >>> result = meta_evaluate("results.jsonl", "labels.jsonl", n_resamples=200)  # doctest: +SKIP
        >>> print(result.format_table())  # doctest: +SKIP
    """
    if not 0.0 < validation_fraction < 1.0:
        raise I2IInputError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    rows = read_results(results) if isinstance(results, (str, os.PathLike)) else list(results)
    records = load_labels(labels) if isinstance(labels, (str, os.PathLike)) else list(labels)
    notes: list[str] = []

    index = _ResultIndex(rows)
    found = [(unit, _find_sides(index, unit)) for unit in _label_units(records, aspect, notes)]
    usable, coverage = _usable_items(found)
    if not usable:
        raise I2IInputError(
            f"no label item could be used: {coverage.summary()}; check that the result rows carry the labels' "
            "source, instruction and output paths (as `i2imetric eval` writes them), or that their ids follow "
            "the conventions in i2imetric.meta_eval (e.g. <pair id>/a, <uid>/<system>)"
        )
    scorers = _scorers(usable, notes)
    if lower_is_better is None:
        distances = _registered_distances() & set(scorers)
    else:
        distances = set(lower_is_better)
        notes.extend(f"lower_is_better names {name}, which no matched result row has." for name in sorted(distances - set(scorers)))
    notes.extend(f"{name} is a distance: its scores were negated." for name in sorted(distances & set(scorers)))

    signs = {name: -1.0 if name in distances else 1.0 for name in scorers}
    statistics, ratings = _statistics(usable, scorers, signs, validation_fraction, seed, notes)
    options = {
        "n_resamples": n_resamples,
        "seed": seed,
        "confidence": confidence,
        "validation_fraction": validation_fraction,
        "aspect": aspect,
        "lower_is_better": sorted(distances & set(scorers)),
    }
    with _progress_bar(statistics, progress) as bar:
        table = [_estimate(statistic, options, bar) for statistic in statistics]
    return MetaEvalResult(scorers, table, coverage, notes, options, ratings)


def _registered_distances() -> set[str]:
    from ..evaluation.baselines import BASELINES

    return {name for name, baseline in BASELINES.items() if not baseline.higher_is_better}


# --------------------------------------------------------------------------
# Joining labels to result rows
# --------------------------------------------------------------------------


@dataclass
class _RatedOutput:
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
class _LabelUnit:
    """One judged thing: a pair (two outputs) or a rated output (one).

    ``lookups`` holds one :class:`_Lookup` per output; a pair's ``pair_id`` may also name
    a single row carrying both sides' scores.
    """

    name: str
    lookups: list[_Lookup]
    judgement: Pairwise | _RatedOutput
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


def _label_units(records: Sequence[Record], aspect: str | None, notes: list[str]) -> list[_LabelUnit]:
    units = []
    ratings_by_output: dict[str, list[tuple[str, Rating, float]]] = defaultdict(list)
    unlabelled = 0
    for record in records:
        if isinstance(record, Pairwise):
            units.append(_pair_unit(record, record_id(record)))
        elif isinstance(record, Rating):
            value = _rating_value(record, aspect)
            if value is not None:
                ratings_by_output[os.path.abspath(record.output)].append((record_id(record), record, value))
        else:
            unlabelled += 1
    units.extend(_rated_output_unit(output, rated) for output, rated in ratings_by_output.items())
    if unlabelled:
        notes.append(f"{unlabelled} label records carry no human judgement (triplets) and were ignored.")
    if not units:
        wanted = f" with aspect {aspect!r}" if aspect else ""
        raise I2IInputError(f"the labels hold no pairwise or rating records{wanted}")
    return units


def _pair_unit(record: Pairwise, record_id: str) -> _LabelUnit:
    lookups = [
        _Lookup(f"{record_id}/{side}", record.source, record.instruction, output)
        for side, output in (("a", record.output_a), ("b", record.output_b))
    ]
    return _LabelUnit(record_id, lookups, record, pair_id=record_id)


def _rating_value(record: Rating, aspect: str | None) -> float | None:
    """The score ``record`` gives for ``aspect`` (None: the overall value), if any."""
    if aspect is None:
        return record.value if record.aspect is None else None
    if record.aspect == aspect:
        return record.value
    if record.aspect is None and record.aspects and aspect in record.aspects:
        return record.aspects[aspect]
    return None


def _rated_output_unit(output: str, rated: list[tuple[str, Rating, float]]) -> _LabelUnit:
    first_id, first, _ = rated[0]
    by_rater = defaultdict(list)
    for _, record, value in rated:
        by_rater[record.rater].append(value)
    result_id = _without_rater(first_id, first.rater)
    item = _RatedOutput(dict(by_rater), first.group, first.system)
    lookup = _Lookup(result_id, first.source, first.instruction, output)
    return _LabelUnit(result_id, [lookup], item)


def _without_rater(rating_id: str, rater: str | None) -> str:
    """The id of the rated output: per-rater ids (ImagenHub's) end in ``/<rater>``."""
    suffix = f"/{rater}"
    return rating_id[: -len(suffix)] if rater is not None and rating_id.endswith(suffix) else rating_id


def _find_sides(index: _ResultIndex, unit: _LabelUnit) -> list[dict | None] | None:
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
    return {METRIC: _finite(row.get(f"score{side}")), **{name: _finite(v) for name, v in baselines.items()}}


def _finite(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value) if math.isfinite(value) else math.nan


def _usable_items(
    found: list[tuple[_LabelUnit, list | None]],
) -> tuple[list[tuple[_LabelUnit, list[dict]]], Coverage]:
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


def _scorers(usable: list[tuple[_LabelUnit, list[dict]]], notes: list[str]) -> list[str]:
    """The metric, then the baselines that scored every usable output, in order of appearance."""
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


# --------------------------------------------------------------------------
# Statistics: what to compute, on which units
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Statistic:
    """One table row before resampling.

    ``fn(*arrays[scorer])`` is the statistic of one scorer; all arrays are resampled
    together along axis 0, in whole ``clusters`` when given. ``human`` is
    ``(fn, arrays, clusters)`` for the human-human number, if defined.
    """

    key: str
    label: str
    units: str
    fn: Callable[..., float]
    arrays: dict[str, tuple[np.ndarray, ...]]
    clusters: np.ndarray | None = None
    params: dict[str, dict[str, float]] = field(default_factory=dict)
    human: tuple[Callable[..., float], tuple[np.ndarray, ...], np.ndarray | None] | None = None


def _bootstraps(statistic: _Statistic) -> int:
    """How many bootstraps :func:`_estimate` runs: one per scorer, one per paired test, the human one."""
    return 2 * len(statistic.arrays) - 1 + (statistic.human is not None)


def _progress_bar(statistics: list[_Statistic], progress: bool) -> tqdm:
    total = sum(_bootstraps(statistic) for statistic in statistics)
    # disable=None: tqdm turns itself off when stderr is not a terminal (logs, CI, pipes).
    return tqdm(total=total, unit="bootstrap", desc="i2imetric meta-eval", disable=None if progress else True)


def _estimate(statistic: _Statistic, options: dict, bar: tqdm) -> StatisticRow:
    """Bootstrap every scorer, and test the metric against each baseline, on the same resamples."""
    resampling = {
        "n_resamples": options["n_resamples"],
        "confidence": options["confidence"],
        "seed": options["seed"],
    }

    def counted(run, *args, **kwargs):
        result = run(*args, **kwargs)
        bar.update(1)
        return result

    values = {
        scorer: Estimate(
            *counted(bootstrap_ci, statistic.fn, *arrays, groups=statistic.clusters, **resampling),
            params=statistic.params.get(scorer, {}),
        )
        for scorer, arrays in statistic.arrays.items()
    }
    metric_arrays = statistic.arrays[METRIC]
    versus = {
        scorer: counted(
            paired_bootstrap_test, statistic.fn, metric_arrays, arrays, groups=statistic.clusters, **resampling
        )
        for scorer, arrays in statistic.arrays.items()
        if scorer != METRIC
    }
    human = None
    if statistic.human is not None:
        fn, arrays, clusters = statistic.human
        human = Estimate(*counted(bootstrap_ci, fn, *arrays, groups=clusters, **resampling))
    n = len(metric_arrays[0])
    return StatisticRow(statistic.key, statistic.label, n, statistic.units, values, versus, human)


def _statistics(
    usable: list[tuple[_LabelUnit, list[dict]]],
    scorers: list[str],
    signs: dict[str, float],
    validation_fraction: float,
    seed: int,
    notes: list[str],
) -> tuple[list[_Statistic], RatedItems | None]:
    """The rows each kind of label supports: hard pairs, soft (2AFC) pairs, ratings."""
    hard = [(unit, sides) for unit, sides in usable if isinstance(getattr(unit.judgement, "label", None), str)]
    soft = [(unit, sides) for unit, sides in usable if isinstance(getattr(unit.judgement, "label", None), float)]
    rated = [(unit, sides) for unit, sides in usable if isinstance(unit.judgement, _RatedOutput)]
    statistics = []
    if hard:
        pairs = _Pairs.build(hard, scorers, signs)
        statistics += _pairwise_statistics(pairs, validation_fraction, seed, notes)
    if soft:
        statistics += _two_afc_statistics(_Pairs.build(soft, scorers, signs))
    ratings = _rated_items(rated, scorers, signs) if rated else None
    if ratings is not None:
        statistics += _rating_statistics(ratings, notes)
    return statistics, ratings


def _clusters(groups: np.ndarray | None) -> np.ndarray | None:
    """``groups`` when resampling whole groups is both needed and possible, else None.

    Needed: some group holds several units. Possible: with fewer than ``_MIN_CLUSTERS``
    groups there are too few distinct resamples for a percentile interval (one group
    would give a zero-width one), so units are resampled on their own.
    """
    if groups is None:
        return None
    n_groups = len(np.unique(groups))
    return groups if _MIN_CLUSTERS <= n_groups < len(groups) else None


# ---------------------------------------------------------------- pairwise


@dataclass
class _Pairs:
    """Judged pairs found in the results."""

    labels: np.ndarray
    groups: np.ndarray
    score_a: dict[str, np.ndarray]
    score_b: dict[str, np.ndarray]

    @classmethod
    def build(cls, found: list[tuple[_LabelUnit, list[dict]]], scorers: list[str], signs: dict[str, float]):
        records = [unit.judgement for unit, _ in found]
        labels = np.array([record.label for record in records])
        groups = np.array([_pair_group(record) for record in records])
        score_a = {s: signs[s] * np.array([sides[0][s] for _, sides in found]) for s in scorers}
        score_b = {s: signs[s] * np.array([sides[1][s] for _, sides in found]) for s in scorers}
        return cls(labels, groups, score_a, score_b)

    def arrays(self, keep: np.ndarray, labels: np.ndarray | None = None) -> dict[str, tuple[np.ndarray, ...]]:
        """Scorer -> ``(score_a, score_b, labels)`` of the pairs selected by ``keep``."""
        labels = self.labels if labels is None else labels
        return {s: (self.score_a[s][keep], self.score_b[s][keep], labels[keep]) for s in self.score_a}


def _pair_group(record: Pairwise) -> str:
    if record.extra.get("group") is not None:
        return str(record.extra["group"])
    return f"{record.source}\n{record.instruction}"


def _pairwise_statistics(pairs: _Pairs, validation_fraction: float, seed: int, notes: list[str]) -> list[_Statistic]:
    if len(pairs.labels) < 2:
        notes.append("Pairwise statistics: a single judged pair is too few.")
        return []
    everything = np.ones(len(pairs.labels), dtype=bool)
    decided = np.isin(pairs.labels, ("a", "b"))
    three_way = np.where(pairs.labels == "both_bad", "tie", pairs.labels)
    statistics = []
    if decided.sum() >= 2:
        statistics.append(
            _Statistic(
                "pairwise/accuracy_without_ties",
                "pairwise accuracy, no ties",
                "pairs",
                pairwise_accuracy,
                pairs.arrays(decided),
                _clusters(pairs.groups[decided]),
            )
        )
    if np.any(three_way == "tie"):
        arrays = pairs.arrays(everything, three_way)
        statistics.append(
            _Statistic(
                "pairwise/accuracy_tie_calibrated",
                "pairwise accuracy, ties calibrated",
                "pairs",
                _tie_calibrated_accuracy,
                arrays,
                _clusters(pairs.groups),
                params={s: {"epsilon": tie_calibration(*a)[1]} for s, a in arrays.items()},
            )
        )
    else:
        notes.append("Tie-calibrated accuracy: no human ties among the pairs.")
    if np.any(pairs.labels == "both_bad"):
        statistics += _four_way_statistic(pairs, validation_fraction, seed, notes)
    statistics += _group_accuracy_statistic(pairs, decided, notes)
    return statistics


def _tie_calibrated_accuracy(score_a, score_b, labels) -> float:
    return tie_calibration(score_a, score_b, labels)[0]


def _four_way_statistic(pairs: _Pairs, validation_fraction: float, seed: int, notes: list[str]) -> list[_Statistic]:
    order = np.random.default_rng(seed).permutation(len(pairs.labels))
    n_validation = int(round(validation_fraction * len(order)))
    validation, test = np.sort(order[:n_validation]), np.sort(order[n_validation:])
    if len(validation) < 1 or len(test) < 2:
        notes.append(f"Four-way agreement: {len(order)} pairs are too few to split for fitting and testing.")
        return []
    test_arrays = pairs.arrays(test)
    arrays, params = {}, {}
    for scorer, (a, b, labels) in pairs.arrays(validation).items():
        epsilon, tau = fit_four_way_thresholds(a, b, labels)
        params[scorer] = {"epsilon": epsilon, "tau": tau}
        # The fitted thresholds ride along as constant columns, so one statistic
        # function serves every scorer, including inside the paired test.
        constant = np.ones(len(test))
        arrays[scorer] = (*test_arrays[scorer], epsilon * constant, tau * constant)
    label = f"four-way agreement (fit on {validation_fraction:.0%})"
    clusters = _clusters(pairs.groups[test])
    return [_Statistic("pairwise/four_way", label, "pairs", _four_way_fitted, arrays, clusters, params)]


def _four_way_fitted(score_a, score_b, labels, epsilon, tau) -> float:
    return four_way_accuracy(score_a, score_b, labels, epsilon[0], tau[0])


def _group_accuracy_statistic(pairs: _Pairs, decided: np.ndarray, notes: list[str]) -> list[_Statistic]:
    """Group accuracy of the untied pairs, resampling groups.

    The bootstrap resamples :func:`i2imetric.stats.group_all_correct`'s one value per
    group, whose mean is :func:`i2imetric.stats.group_accuracy`.
    """
    groups = pairs.groups[decided]
    n_groups = len(np.unique(groups))
    if n_groups == len(groups):
        notes.append("Group accuracy: no two untied pairs share a group.")
        return []
    if n_groups < 2:
        notes.append("Group accuracy: all pairs are in one group, nothing to resample.")
        return []
    arrays = {
        scorer: (group_all_correct(a, b, labels, groups),)
        for scorer, (a, b, labels) in pairs.arrays(decided).items()
    }
    return [_Statistic("pairwise/group_accuracy", "group accuracy, no ties", "groups", np.mean, arrays)]


def _two_afc_statistics(pairs: _Pairs) -> list[_Statistic]:
    if len(pairs.labels) < 2:
        return []
    p_a = pairs.labels.astype(float)
    everything = np.ones(len(p_a), dtype=bool)
    arrays = pairs.arrays(everything, p_a)
    clusters = _clusters(pairs.groups)
    human = (_two_judges_agree, (p_a,), clusters)
    return [_Statistic("two_afc/score", "2AFC score", "pairs", two_afc_score, arrays, clusters, human=human)]


def _two_judges_agree(p_a: np.ndarray) -> float:
    """BAPPS' human 2AFC score: the chance that two random judges pick the same side."""
    return float(np.mean(p_a**2 + (1.0 - p_a) ** 2))


# ---------------------------------------------------------------- ratings


def _rated_items(
    found: list[tuple[_LabelUnit, list[dict]]], scorers: list[str], signs: dict[str, float]
) -> RatedItems:
    items = [unit.judgement for unit, _ in found]
    raters = sorted({rater for item in items for rater in item.by_rater if rater is not None})
    by_rater = np.array(
        [[fmean(item.by_rater[r]) if r in item.by_rater else np.nan for r in raters] for item in items]
    ).reshape(len(items), len(raters))
    groups = [item.group for item in items]
    systems = [item.system for item in items]
    return RatedItems(
        ids=[unit.name for unit, _ in found],
        # fmean sums exactly, so equal ratings in any order give equal means: rank
        # correlations must see those ties.
        human=np.array([fmean(v for values in item.by_rater.values() for v in values) for item in items]),
        raters=raters,
        by_rater=by_rater,
        groups=np.array(groups) if None not in groups else None,
        systems=np.array(systems) if None not in systems else None,
        scores={s: signs[s] * np.array([sides[0][s] for _, sides in found]) for s in scorers},
    )


def _rating_statistics(ratings: RatedItems, notes: list[str]) -> list[_Statistic]:
    if len(ratings.human) < 3:
        notes.append(f"Correlations: {len(ratings.human)} rated items are too few.")
        return []
    statistics = _sample_correlations(ratings, notes)
    if ratings.groups is not None and len(np.unique(ratings.groups)) >= 2:
        statistics += _group_correlations(ratings)
    else:
        notes.append("Group-level correlations: the ratings have no groups (or only one).")
    if ratings.systems is not None and len(np.unique(ratings.systems)) >= 3:
        statistics += _system_correlations(ratings)
    else:
        notes.append("System-level correlations: fewer than 3 systems are rated.")
    return statistics


def _sample_correlations(ratings: RatedItems, notes: list[str]) -> list[_Statistic]:
    clusters = _clusters(ratings.groups)
    fully_rated = ~np.isnan(ratings.by_rater).any(axis=1)
    has_ceiling = len(ratings.raters) >= 2 and fully_rated.sum() >= 3
    if not has_ceiling:
        notes.append("Human ceiling: needs 2 or more raters who each rated 3 or more of the same items.")
    statistics = []
    for method in CORRELATION_METHODS:
        human = None
        if has_ceiling:
            ceiling_clusters = clusters[fully_rated] if clusters is not None else None
            human = (partial(_ceiling, method=method), (ratings.by_rater[fully_rated],), ceiling_clusters)
        arrays = {s: (scores, ratings.human) for s, scores in ratings.scores.items()}
        statistics.append(
            _Statistic(
                f"ratings/sample/{method}",
                f"{method}, per item",
                "items",
                partial(correlation_coefficient, method=method),
                arrays,
                clusters,
                human=human,
            )
        )
    return statistics


def _ceiling(by_rater: np.ndarray, method: str) -> float:
    return inter_rater_ceiling(by_rater.T, method)


def _group_correlations(ratings: RatedItems) -> list[_Statistic]:
    """Fisher-z means of per-group coefficients, resampling groups.

    The per-group coefficients are :func:`i2imetric.stats.group_coefficients`, NaN for
    the groups :func:`i2imetric.stats.correlations` skips at ``level="group"``, so the
    point estimate is that function's.
    """
    per_group = {
        scorer: group_coefficients(scores, ratings.human, ratings.groups)
        for scorer, scores in ratings.scores.items()
    }
    return [
        _Statistic(
            f"ratings/group/{method}",
            f"{method}, per group (Fisher z)",
            "groups",
            _fisher_mean_of_defined,
            {scorer: (coefficients[method],) for scorer, coefficients in per_group.items()},
        )
        for method in CORRELATION_METHODS
    ]


def _fisher_mean_of_defined(coefficients: np.ndarray) -> float:
    defined = coefficients[np.isfinite(coefficients)]
    return fisher_z_mean(defined) if defined.size else math.nan


def _system_correlations(ratings: RatedItems) -> list[_Statistic]:
    clusters = _clusters(ratings.groups)
    arrays = {s: (scores, ratings.human, ratings.systems) for s, scores in ratings.scores.items()}
    return [
        _Statistic(
            f"ratings/system/{method}",
            f"{method}, per system",
            "items",
            partial(_system_correlation, method=method),
            arrays,
            clusters,
        )
        for method in CORRELATION_METHODS
    ]


def _system_correlation(metric, human, systems, method: str) -> float:
    if len(np.unique(systems)) < 2:  # a resample can miss all but one system
        return math.nan
    return correlations(metric, human, level="system", systems=systems)[method]
