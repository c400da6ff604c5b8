"""Which statistics each kind of label supports, and on which units they are resampled.

Each :class:`Statistic` names a function of :mod:`i2imetric.stats` and the arrays it is
computed on, per scorer; :mod:`i2imetric.meta_eval.evaluate` bootstraps them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from statistics import fmean

import numpy as np

from ..data import Pairwise
from ..stats import (
    CORRELATION_METHODS,
    FISHER_MIN_ITEMS,
    correlation_coefficient,
    correlations,
    fit_four_way_thresholds,
    four_way_accuracy,
    four_way_tied_count,
    group_all_correct,
    group_coefficients,
    group_fisher_z_pearson,
    inter_rater_ceiling,
    mean_of_defined,
    pairwise_accuracy,
    tie_calibration,
    two_afc_best_score,
    two_afc_human_score,
    two_afc_score,
)
from .join import LabelUnit, RatedOutput
from .tables import METRIC, Param, RatedItems

__all__ = ["Statistic", "statistics_for"]

_MIN_CLUSTERS = 10  # see _clusters


@dataclass(frozen=True)
class Statistic:
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
    params: dict[str, dict[str, float | Param]] = field(default_factory=dict)
    human: tuple[Callable[..., float], tuple[np.ndarray, ...], np.ndarray | None] | None = None


def statistics_for(
    usable: list[tuple[LabelUnit, list[dict]]],
    scorers: list[str],
    signs: dict[str, float],
    validation_fraction: float,
    seed: int,
    notes: list[str],
) -> tuple[list[Statistic], RatedItems | None]:
    """The rows each kind of label supports: hard pairs, soft (2AFC) pairs, ratings.

    Args:
        usable: joined label items with their outputs' scorer -> score dicts
            (:func:`i2imetric.meta_eval.join.join_labels`).
        scorers: the metric first, then the baselines to compare.
        signs: scorer -> +1 or -1 (distances), making every score higher-is-better.
        validation_fraction: share of the pairs that fits the four-way thresholds.
        seed: seed of the four-way validation split.
        notes: gets a line for every statistic left out, and why.

    Returns:
        ``(statistics, ratings)``: the rows to bootstrap, and the joined ratings
        (None without rating labels).
    """
    hard = [(unit, sides) for unit, sides in usable if isinstance(getattr(unit.judgement, "label", None), str)]
    soft = [(unit, sides) for unit, sides in usable if isinstance(getattr(unit.judgement, "label", None), float)]
    rated = [(unit, sides) for unit, sides in usable if isinstance(unit.judgement, RatedOutput)]
    statistics = []
    if hard:
        pairs = _Pairs.build(hard, scorers, signs)
        statistics += _pairwise_statistics(pairs, validation_fraction, seed, notes)
    if soft:
        statistics += _two_afc_statistics(_Pairs.build(soft, scorers, signs), notes)
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
    def build(cls, found: list[tuple[LabelUnit, list[dict]]], scorers: list[str], signs: dict[str, float]):
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


def _pairwise_statistics(pairs: _Pairs, validation_fraction: float, seed: int, notes: list[str]) -> list[Statistic]:
    if len(pairs.labels) < 2:
        notes.append("Pairwise statistics: a single judged pair is too few.")
        return []
    everything = np.ones(len(pairs.labels), dtype=bool)
    decided = np.isin(pairs.labels, ("a", "b"))
    three_way = np.where(pairs.labels == "both_bad", "tie", pairs.labels)
    statistics = []
    if decided.sum() >= 2:
        statistics.append(
            Statistic(
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
            Statistic(
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


def _four_way_statistic(pairs: _Pairs, validation_fraction: float, seed: int, notes: list[str]) -> list[Statistic]:
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
        params[scorer] = {"epsilon": epsilon, "tau": _reported_tau(tau, four_way_tied_count(a, b, epsilon))}
        # The fitted thresholds ride along as constant columns, so one statistic
        # function serves every scorer, including inside the paired test.
        constant = np.ones(len(test))
        arrays[scorer] = (*test_arrays[scorer], epsilon * constant, tau * constant)
    label = f"four-way agreement (fit on {validation_fraction:.0%})"
    clusters = _clusters(pairs.groups[test])
    return [Statistic("pairwise/four_way", label, "pairs", _four_way_fitted, arrays, clusters, params)]


def _reported_tau(tau: float, n_tied: int) -> float | Param:
    """The fitted tau, or why there is none: an infinite tau is a verdict, not a threshold.

    ``inf`` either means no validation pair is tied at the fitted epsilon (tau never
    acted) or that every tied pair is best called "both bad"; either way there is no
    tie threshold to print, and JSON could not hold inf.
    """
    if math.isfinite(tau):
        return tau
    if n_tied == 0:
        return Param(None, "no tie threshold (no validation pair is tied at eps)")
    return Param(None, f"no tie threshold (all {n_tied} tied validation pairs are best called both bad)")


def _four_way_fitted(score_a, score_b, labels, epsilon, tau) -> float:
    return four_way_accuracy(score_a, score_b, labels, epsilon[0], tau[0])


def _group_accuracy_statistic(pairs: _Pairs, decided: np.ndarray, notes: list[str]) -> list[Statistic]:
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
    return [Statistic("pairwise/group_accuracy", "group accuracy, no ties", "groups", np.mean, arrays)]


def _two_afc_statistics(pairs: _Pairs, notes: list[str]) -> list[Statistic]:
    if len(pairs.labels) < 2:
        return []
    p_a = pairs.labels.astype(float)
    everything = np.ones(len(p_a), dtype=bool)
    arrays = pairs.arrays(everything, p_a)
    clusters = _clusters(pairs.groups)
    human = (two_afc_human_score, (p_a,), clusters)
    notes.append(
        "2AFC: the human column is BAPPS' human score, mean(p^2 + (1-p)^2), the chance that two random "
        "judges agree; a metric can exceed it. The best score any metric can reach, mean(max(p, 1-p)), "
        f"is {two_afc_best_score(p_a):.3f} on these {len(p_a)} pairs."
    )
    return [Statistic("two_afc/score", "2AFC score", "pairs", two_afc_score, arrays, clusters, human=human)]


# ---------------------------------------------------------------- ratings


def _rated_items(
    found: list[tuple[LabelUnit, list[dict]]], scorers: list[str], signs: dict[str, float]
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


def _rating_statistics(ratings: RatedItems, notes: list[str]) -> list[Statistic]:
    if len(ratings.human) < 3:
        notes.append(f"Correlations: {len(ratings.human)} rated items are too few.")
        return []
    statistics = _sample_correlations(ratings, notes)
    if ratings.groups is not None and len(np.unique(ratings.groups)) >= 2:
        statistics += _group_correlation_statistics(ratings, notes)
    else:
        notes.append("Group-level correlations: the ratings have no groups (or only one).")
    if ratings.systems is not None and len(np.unique(ratings.systems)) >= 3:
        statistics += _system_correlation_statistics(ratings)
    else:
        notes.append("System-level correlations: fewer than 3 systems are rated.")
    return statistics


def _sample_correlations(ratings: RatedItems, notes: list[str]) -> list[Statistic]:
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
            Statistic(
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


def _group_correlation_statistics(ratings: RatedItems, notes: list[str]) -> list[Statistic]:
    """Plain means of per-group coefficients, and Pearson's Fisher-z mean; resampling groups.

    The per-group coefficients are :func:`i2imetric.stats.group_coefficients`, NaN for
    the groups :func:`i2imetric.stats.correlations` skips at ``level="group"``, so the
    point estimates are that function's. The Fisher-z row exists only for Pearson and
    only over groups of at least 4 items (see :mod:`i2imetric.stats.correlation`).
    """
    per_group = {
        scorer: group_coefficients(scores, ratings.human, ratings.groups)
        for scorer, scores in ratings.scores.items()
    }
    sizes = per_group[METRIC]["n"]
    notes.append(f"Group-level correlations: {_group_sizes_text(sizes)}; {_GROUP_MEAN_NOTE}")
    statistics = [
        Statistic(
            f"ratings/group/{method}",
            f"{method}, per group (mean)",
            "groups",
            mean_of_defined,
            {scorer: (coefficients[method],) for scorer, coefficients in per_group.items()},
        )
        for method in CORRELATION_METHODS
    ]
    large = sizes >= FISHER_MIN_ITEMS
    if np.any(large):
        # Only the groups it averages are resampled, so the row's n counts them.
        statistics.append(
            Statistic(
                "ratings/group/pearson_fisher_z",
                f"pearson, per group of >={FISHER_MIN_ITEMS} (Fisher z)",
                "groups",
                _fisher_z_pearson,
                {scorer: (coefficients["pearson"][large], sizes[large]) for scorer, coefficients in per_group.items()},
            )
        )
    else:
        notes.append(f"Pearson's Fisher-z group mean: no group has {FISHER_MIN_ITEMS} or more items.")
    return statistics


_GROUP_MEAN_NOTE = (
    "the rows 'per group (mean)' are plain means of the per-group coefficients; groups of "
    "fewer than 3 items, or with constant scores, are left out. The Fisher-z mean is given "
    f"for Pearson only, over groups of >= {FISHER_MIN_ITEMS} items weighted by n - 3: in smaller "
    "groups a coefficient of +-1 is common and its z (~8.4 once clipped) swamps the mean."
)


def _group_sizes_text(sizes: np.ndarray) -> str:
    """``"12 groups of 4 items, 3 of 2"``: how many groups have each size, largest first."""
    values, counts = np.unique(sizes, return_counts=True)
    parts = [f"{count} of {value}" for value, count in zip(values[::-1], counts[::-1])]
    parts[0] = parts[0].replace(" of ", " groups of ", 1) + " items"
    return ", ".join(parts)


def _fisher_z_pearson(coefficients: np.ndarray, sizes: np.ndarray) -> float:
    return group_fisher_z_pearson(coefficients, sizes)[0]


def _system_correlation_statistics(ratings: RatedItems) -> list[Statistic]:
    clusters = _clusters(ratings.groups)
    arrays = {s: (scores, ratings.human, ratings.systems) for s, scores in ratings.scores.items()}
    return [
        Statistic(
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
