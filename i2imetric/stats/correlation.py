"""Correlations of metric scores with human scores, and the human-human ceiling.

Pearson, Spearman and Kendall tau-b at sample, group and system level, and the
leave-one-rater-out inter-rater ceiling.

Group level averages the per-group coefficients with a plain mean. Editing benchmarks
have groups of 2 to 5 outputs per (source, instruction); in such groups a coefficient
of exactly +-1 is common (a rank correlation of 3 items is +-1 two times in five when
the true correlation is 0.5), and the Fisher-z mean turns each into z ~ +-8.4 (after
clipping at ``1 - 1e-7``), which swamps every other group: with a true within-group
correlation of 0.5 and groups of 3, the Fisher-z mean of Spearman's rho reads ~0.99
while the plain mean reads ~0.38. Fisher's z is exact only for Pearson's r, and its
variance ``1 / (n - 3)`` exists only for ``n >= 4``, so the Fisher-z mean is offered
for Pearson over groups of at least 4 items only (``"pearson_fisher_z"``), weighted by
``n - 3``; Kendall's tau and Spearman's rho are never Fisher-transformed.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as scipy_stats

from ..errors import I2IInputError
from ._checks import as_float_array, as_matrix, as_vector, check_same_length, group_index

CORRELATION_METHODS = ("pearson", "spearman", "kendall")

# arctanh(+-1) is infinite; clipping keeps a perfect coefficient large (z ~ 8.4) but
# finite. It still dominates an unweighted mean, hence the n - 3 weights and the
# minimum group size of the Fisher-z option below.
_FISHER_CLIP = 1.0 - 1e-7
# Fisher's z of a Pearson r from n items has variance 1 / (n - 3): defined from n = 4.
FISHER_MIN_ITEMS = 4
# Fewer items give r = +-1 by construction.
_MIN_GROUP_ITEMS = 3


def _correlate(x: np.ndarray, y: np.ndarray, method: str) -> float:
    """One correlation coefficient; NaN when undefined (constant input or n < 2)."""
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")  # scipy would warn and return NaN anyway
    if method == "pearson":
        return float(scipy_stats.pearsonr(x, y).statistic)
    if method == "spearman":
        return float(scipy_stats.spearmanr(x, y).statistic)
    return float(scipy_stats.kendalltau(x, y).statistic)  # tau-b: scipy's default variant


def correlation_coefficient(metric: ArrayLike, human: ArrayLike, method: str = "spearman") -> float:
    """One correlation coefficient between metric and human scores.

    Where :func:`correlations` computes all three methods at once, this computes
    one, which is what a bootstrap of a single coefficient needs per resample. An
    undefined coefficient (constant input, or fewer than 2 items) is NaN rather
    than an error, so a degenerate resample is dropped instead of aborting.

    Args:
        metric: Metric score per item.
        human: Human score per item.
        method: ``"pearson"``, ``"spearman"`` or ``"kendall"`` (tau-b).

    Returns:
        The coefficient, or NaN where it is undefined.

    Example:
        >>> round(correlation_coefficient([1, 2, 3, 4], [10, 20, 40, 30], "kendall"), 3)
        0.667
    """
    method = _check_method(method)
    x = as_vector(metric, "metric")
    y = as_vector(human, "human")
    check_same_length(metric=x, human=y)
    return _correlate(x, y, method)


def _check_method(method: str) -> str:
    if method not in CORRELATION_METHODS:
        raise I2IInputError(f"method must be one of {list(CORRELATION_METHODS)}, got {method!r}")
    return method


def fisher_z_mean(coefficients: ArrayLike, weights: ArrayLike | None = None) -> float:
    """Average Pearson correlation coefficients in Fisher-z space.

    ``tanh(sum(w * arctanh(r)) / sum(w))`` with ``|r|`` clipped to ``1 - 1e-7`` first,
    since ``arctanh(+-1)`` is infinite. Even clipped, a perfect coefficient maps to
    z ~ 8.4 and pulls the mean strongly towards it. The transform stabilises the
    variance of Pearson's r only (``var(z) = 1 / (n - 3)``, so the usual weights are
    ``n - 3``); for Spearman's rho it is an approximation and for Kendall's tau it is
    wrong, so average those with a plain mean.

    Args:
        coefficients: Pearson correlations in ``[-1, 1]``, non-empty, no NaN.
        weights: Optional weight per coefficient, ``>= 0`` with a positive sum (e.g.
            ``n - 3`` for coefficients of ``n`` items); None weighs them equally.

    Returns:
        The back-transformed mean correlation.

    Example:
        >>> round(fisher_z_mean([0.5, 0.9]), 4)
        0.7661
        >>> round(fisher_z_mean([0.5, 0.9], weights=[1, 0]), 4)
        0.5
    """
    r = as_vector(coefficients, "coefficients")
    if np.any(np.abs(r) > 1):
        raise I2IInputError("coefficients must lie in [-1, 1]")
    z = np.arctanh(np.clip(r, -_FISHER_CLIP, _FISHER_CLIP))
    if weights is None:
        return float(np.tanh(np.mean(z)))
    w = as_vector(weights, "weights")
    check_same_length(coefficients=r, weights=w)
    if np.any(w < 0) or w.sum() <= 0:
        raise I2IInputError("weights must be >= 0 with a positive sum")
    return float(np.tanh(np.sum(w * z) / np.sum(w)))


def group_fisher_z_pearson(coefficients: ArrayLike, sizes: ArrayLike) -> tuple[float, int]:
    """Fisher-z mean of per-group Pearson coefficients, over groups of >= 4 items.

    Each group's ``z = arctanh(r)`` has variance ``1 / (n - 3)``, so groups are weighted
    by ``n - 3``; groups of fewer than 4 items (whose z has no finite variance) and
    undefined coefficients (NaN) are left out. Use it for Pearson's r only.

    Args:
        coefficients: Pearson r per group, NaN where undefined.
        sizes: Items per group.

    Returns:
        ``(mean, n_groups)``: the back-transformed weighted mean (NaN when no group
        qualifies) and how many groups it averages.

    Example:
        >>> value, n = group_fisher_z_pearson([0.5, 0.9, 1.0], [5, 4, 3])
        >>> round(value, 4), n  # weights 2 and 1; the group of 3 is left out
        (0.6947, 2)
    """
    r = as_float_array(coefficients, "coefficients").reshape(-1)
    n = as_float_array(sizes, "sizes").reshape(-1)
    check_same_length(coefficients=r, sizes=n)
    keep = np.isfinite(r) & (n >= FISHER_MIN_ITEMS)
    if not keep.any():
        return float("nan"), 0
    return fisher_z_mean(r[keep], weights=n[keep] - 3), int(keep.sum())


def mean_of_defined(coefficients: ArrayLike) -> float:
    """Plain mean of the defined (non-NaN) coefficients; NaN when none is defined.

    Example:
        >>> mean_of_defined([0.5, float("nan"), 1.0])
        0.75
    """
    r = as_float_array(coefficients, "coefficients").reshape(-1)
    defined = r[np.isfinite(r)]
    return float(np.mean(defined)) if defined.size else float("nan")


def _all_correlations(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {m: _correlate(x, y, m) for m in CORRELATION_METHODS}


def group_coefficients(metric: ArrayLike, human: ArrayLike, groups: ArrayLike) -> dict[str, np.ndarray]:
    """Every method's correlation coefficient within each group, and each group's size.

    The per-group values behind ``correlations(..., level="group")``, which is the
    plain mean of the defined ones (:func:`mean_of_defined`). A group-level bootstrap
    resamples these values rather than the items: resampling items with their group
    ids would merge a group drawn twice into one larger group.

    Args:
        metric: Metric score per item.
        human: Human score per item.
        groups: Group id per item (any sortable values: ints, strings).

    Returns:
        Method -> float array with one coefficient per distinct group, in sorted
        group order; NaN for a group of fewer than 3 items or with constant metric
        or human values (the groups :func:`correlations` skips). ``"n"`` holds the
        number of items in each group.

    Example:
        >>> r = group_coefficients([1, 2, 3, 1, 2], [1, 2, 3, 2, 1], ["x", "x", "x", "y", "y"])
        >>> r["spearman"], r["n"]
        (array([ 1., nan]), array([3, 2]))
    """
    x = as_vector(metric, "metric")
    y = as_vector(human, "human")
    check_same_length(metric=x, human=y)
    group_ids = group_index(groups, "groups", x.size)
    coefficients, _ = _per_group(x, y, group_ids)
    return {**coefficients, "n": np.bincount(group_ids)}


def _per_group(
    metric: np.ndarray, human: np.ndarray, group_ids: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Coefficients per dense group id (NaN where skipped), and which groups were used."""
    n_groups = int(group_ids.max()) + 1
    coefficients = {m: np.full(n_groups, np.nan) for m in CORRELATION_METHODS}
    used = np.zeros(n_groups, dtype=bool)
    order = np.argsort(group_ids, kind="stable")
    bounds = np.flatnonzero(np.diff(group_ids[order])) + 1
    # Ids are dense and sorted, so the g-th run of the stable sort is group g.
    for g, members in enumerate(np.split(order, bounds)):
        x, y = metric[members], human[members]
        # Fewer than 3 items gives r = +-1 by construction; constant values
        # leave r undefined. Neither says anything about ranking quality.
        if members.size < _MIN_GROUP_ITEMS or np.ptp(x) == 0 or np.ptp(y) == 0:
            continue
        used[g] = True
        for method in CORRELATION_METHODS:
            coefficients[method][g] = _correlate(x, y, method)
    return coefficients, used


def _group_correlations(metric: np.ndarray, human: np.ndarray, group_ids: np.ndarray) -> dict:
    """Plain mean of per-group correlations, the group sizes, and Pearson's Fisher-z mean."""
    coefficients, used = _per_group(metric, human, group_ids)
    sizes = np.bincount(group_ids)
    result = {m: mean_of_defined(values[used]) if used.any() else float("nan") for m, values in coefficients.items()}
    fisher, n_fisher = group_fisher_z_pearson(np.where(used, coefficients["pearson"], np.nan), sizes)
    size_counts = np.unique(sizes[used], return_counts=True)
    return {
        **result,
        "pearson_fisher_z": fisher,
        "n_groups": int(used.sum()),
        "n_groups_skipped": int((~used).sum()),
        "n_groups_fisher_z": n_fisher,
        "group_sizes": {int(size): int(count) for size, count in zip(*size_counts)},
    }


def _system_correlations(
    metric: np.ndarray, human: np.ndarray, system_ids: np.ndarray
) -> dict[str, float]:
    """Correlate per-system mean metric score with per-system mean human score."""
    counts = np.bincount(system_ids)
    if counts.size < 2:
        raise I2IInputError("systems must contain at least 2 distinct systems")
    metric_means = np.bincount(system_ids, weights=metric) / counts
    human_means = np.bincount(system_ids, weights=human) / counts
    return {**_all_correlations(metric_means, human_means), "n_systems": int(counts.size)}


def correlations(
    metric: ArrayLike,
    human: ArrayLike,
    level: str = "sample",
    groups: ArrayLike | None = None,
    systems: ArrayLike | None = None,
) -> dict:
    """Pearson, Spearman and Kendall tau-b between metric and human scores.

    Levels:

    * ``"sample"``: correlate all items directly.
    * ``"group"``: correlate within each group (e.g. all edits of one source and
      instruction), then take the plain mean of the per-group coefficients.
      Groups with fewer than 3 items or constant metric/human values are
      skipped and counted. ``"pearson_fisher_z"`` is Pearson's Fisher-z mean over
      the groups of at least 4 items, weighted by ``n - 3``
      (:func:`group_fisher_z_pearson`); there is none for Spearman or Kendall
      (see the module docstring for why).
    * ``"system"``: average metric and human scores per system (editing model),
      then correlate the means.

    A coefficient is NaN when it is undefined (constant input, or no usable group).

    Args:
        metric: Metric score per item.
        human: Human score per item.
        level: ``"sample"``, ``"group"`` or ``"system"``.
        groups: Group id per item; required for, and only allowed with, ``"group"``.
        systems: System id per item; required for, and only allowed with, ``"system"``.

    Returns:
        Dict with ``"pearson"``, ``"spearman"``, ``"kendall"`` and ``"n_items"``;
        level ``"group"`` adds ``"n_groups"`` (used), ``"n_groups_skipped"``,
        ``"group_sizes"`` (items per group -> how many used groups have that many),
        ``"pearson_fisher_z"`` and ``"n_groups_fisher_z"`` (the groups it averages);
        level ``"system"`` adds ``"n_systems"``.

    Example:
        >>> r = correlations([1, 2, 3, 4], [10, 20, 40, 30])
        >>> round(r["pearson"], 3), round(r["spearman"], 3), round(r["kendall"], 3)
        (0.8, 0.8, 0.667)
    """
    x = as_vector(metric, "metric")
    y = as_vector(human, "human")
    check_same_length(metric=x, human=y)
    if level not in ("sample", "group", "system"):
        raise I2IInputError(f"level must be 'sample', 'group' or 'system', got {level!r}")
    if (groups is not None) != (level == "group"):
        raise I2IInputError("groups must be given exactly when level='group'")
    if (systems is not None) != (level == "system"):
        raise I2IInputError("systems must be given exactly when level='system'")

    if level == "group":
        result = _group_correlations(x, y, group_index(groups, "groups", x.size))
    elif level == "system":
        result = _system_correlations(x, y, group_index(systems, "systems", x.size))
    else:
        if x.size < 2:
            raise I2IInputError("metric needs at least 2 items for a correlation")
        result = _all_correlations(x, y)
    return {**result, "n_items": int(x.size)}


def inter_rater_ceiling(ratings_by_rater: ArrayLike, method: str = "spearman") -> float:
    """Human-human agreement ceiling by leave-one-rater-out correlation.

    Each rater is correlated with the mean of the other raters and the
    coefficients are averaged: in Fisher-z space for Pearson (each coefficient
    spans all items, so ``n >= 4`` gives z a finite variance), with a plain mean
    for Spearman and Kendall, or for Pearson over 3 items. Raters for whom the
    correlation is undefined (constant ratings) are skipped. A metric correlated with the
    mean of *all* raters can exceed this number, because that mean is less noisy
    than the n-1 rater mean used here; read it as a rough ceiling.

    Args:
        ratings_by_rater: ``[n_raters, n_items]`` array, every rater rating every
            item (no missing values), ``n_raters >= 2``, ``n_items >= 3``.
        method: ``"pearson"``, ``"spearman"`` or ``"kendall"``.

    Returns:
        The mean of the per-rater correlations, NaN if all are undefined.

    Example:
        >>> ratings = [[1, 2, 3, 4, 5], [2, 1, 3, 5, 4], [3, 1, 2, 4, 5]]
        >>> round(inter_rater_ceiling(ratings), 4)
        0.827
    """
    method = _check_method(method)
    ratings = as_matrix(ratings_by_rater, "ratings_by_rater", min_rows=2)
    if ratings.shape[1] < 3:
        raise I2IInputError("ratings_by_rater needs at least 3 items (columns)")
    n_raters = ratings.shape[0]
    others_mean = (ratings.sum(axis=0) - ratings) / (n_raters - 1)
    coefficients = [_correlate(ratings[r], others_mean[r], method) for r in range(n_raters)]
    defined = [c for c in coefficients if np.isfinite(c)]
    if not defined:
        return float("nan")
    if method == "pearson" and ratings.shape[1] >= FISHER_MIN_ITEMS:
        return fisher_z_mean(defined)
    return float(np.mean(defined))
