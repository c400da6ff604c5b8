"""Percentile bootstrap intervals and the paired bootstrap test, by item or by group."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..errors import I2IInputError
from ._checks import group_index

# Upper bound on index-matrix elements drawn at once (4M float64 = 32 MiB), so 1000
# resamples of 10k items never build an 80 MB index matrix. distances.py bounds its
# kernel blocks by the same amount, separately.
_MAX_BATCH_ELEMENTS = 1 << 22


def _resampling_arrays(arrays: Sequence[ArrayLike], name: str) -> list[np.ndarray]:
    """Validate a tuple/list of arrays that will be resampled together along axis 0."""
    if not isinstance(arrays, (tuple, list)) or not arrays:
        raise I2IInputError(f"{name} must be a non-empty tuple or list of arrays")
    out = [np.asarray(a) for a in arrays]
    for i, arr in enumerate(out):
        if arr.ndim == 0:
            raise I2IInputError(f"{name}[{i}] must have at least one dimension")
        if len(arr) != len(out[0]):
            raise I2IInputError(
                f"{name}[{i}] has {len(arr)} items but {name}[0] has {len(out[0])}"
            )
    if len(out[0]) < 2:
        raise I2IInputError(f"{name} need at least 2 items to resample")
    return out


def _check_bootstrap_options(n_resamples: int, confidence: float) -> None:
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise I2IInputError(f"n_resamples must be a positive integer, got {n_resamples}")
    if not 0 < confidence < 1:
        raise I2IInputError(f"confidence must be in (0, 1), got {confidence}")


def _group_resample_indices(
    group_ids: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Yield item indices of whole groups drawn with replacement, one resample at a time."""
    order = np.argsort(group_ids, kind="stable")  # items of each group contiguous
    sizes = np.bincount(group_ids)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    for _ in range(n_resamples):
        chosen = rng.integers(0, sizes.size, size=sizes.size)
        lengths = sizes[chosen]
        # Ragged arange without a Python loop: position p inside the j-th chosen
        # group maps to order[starts[chosen[j]] + (p - first position of j)].
        first_position = np.cumsum(lengths) - lengths
        offsets = np.repeat(starts[chosen] - first_position, lengths)
        yield order[offsets + np.arange(lengths.sum())]


def _item_bootstrap(
    statistic_fn: Callable,
    arrays: list[np.ndarray],
    n_resamples: int,
    rng: np.random.Generator,
    vectorized: bool,
) -> np.ndarray:
    """Statistics of item-level resamples, drawing indices in memory-bounded batches."""
    n_items = len(arrays[0])
    batch = max(1, min(n_resamples, _MAX_BATCH_ELEMENTS // n_items))
    values = []
    for start in range(0, n_resamples, batch):
        idx = rng.integers(0, n_items, size=(min(batch, n_resamples - start), n_items))
        if not vectorized:
            values.append([statistic_fn(*(arr[row] for arr in arrays)) for row in idx])
            continue
        out = np.asarray(statistic_fn(*(arr[idx] for arr in arrays)), dtype=float)
        if out.shape != (len(idx),):
            raise I2IInputError(
                f"vectorized statistic_fn must return shape ({len(idx)},), got {out.shape}"
            )
        values.append(out)
    return np.concatenate(values).astype(float)


def _bootstrap_distribution(
    statistic_fn: Callable,
    arrays: list[np.ndarray],
    n_resamples: int,
    seed: int,
    groups: ArrayLike | None,
    vectorized: bool,
) -> np.ndarray:
    """Statistic of each bootstrap resample, as a float array of length n_resamples."""
    rng = np.random.default_rng(seed)
    if groups is None:
        return _item_bootstrap(statistic_fn, arrays, n_resamples, rng, vectorized)
    if vectorized:
        raise I2IInputError(
            "vectorized=True cannot be combined with groups: group resamples differ in size"
        )
    group_ids = group_index(groups, "groups", len(arrays[0]))
    resamples = _group_resample_indices(group_ids, n_resamples, rng)
    return np.array(
        [statistic_fn(*(arr[idx] for arr in arrays)) for idx in resamples], dtype=float
    )


def _point_estimate(statistic_fn: Callable, arrays: list[np.ndarray], vectorized: bool) -> float:
    if vectorized:  # a batch of one resample: the data itself
        return float(np.asarray(statistic_fn(*(arr[None] for arr in arrays)))[0])
    return float(statistic_fn(*arrays))


def _finite_resamples(values: np.ndarray) -> np.ndarray:
    finite = values[np.isfinite(values)]
    if finite.size < values.size:
        warnings.warn(
            f"{values.size - finite.size} of {values.size} bootstrap resamples gave a "
            "non-finite statistic and were dropped",
            RuntimeWarning,
            stacklevel=3,
        )
    return finite


def _percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    if values.size == 0:
        return float("nan"), float("nan")
    alpha = 1.0 - confidence
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def bootstrap_ci(
    statistic_fn: Callable,
    *arrays: ArrayLike,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    groups: ArrayLike | None = None,
    vectorized: bool = False,
) -> tuple[float, float, float]:
    """Percentile bootstrap confidence interval of ``statistic_fn(*arrays)``.

    All arrays are resampled with the same indices along axis 0. With
    ``groups``, whole groups are drawn with replacement (cluster bootstrap), which
    keeps correlated items (e.g. several pairs from one prompt) together. Group
    ids passed inside ``arrays`` are copied as-is, so a group drawn twice looks
    like one larger group to ``statistic_fn``; for group-level statistics
    bootstrap the per-group values instead. Resamples whose statistic is not
    finite are dropped with a ``RuntimeWarning``.

    Args:
        statistic_fn: Maps the (resampled) arrays to a float. With
            ``vectorized=True`` it receives arrays with an extra leading axis of
            resamples and must return one value per resample, e.g.
            ``lambda x: x.mean(axis=-1)``; much faster for simple statistics.
        *arrays: Arrays of equal length (at least 2 items).
        n_resamples: Number of bootstrap resamples.
        confidence: Two-sided confidence level in (0, 1).
        seed: Seed of the numpy Generator drawing the resamples.
        groups: Optional group id per item; resample whole groups.
        vectorized: See ``statistic_fn``; not available with ``groups``.

    Returns:
        ``(estimate, low, high)``: the statistic on the full data and the
        percentile interval of the resampled statistics.

    Example:
        >>> import numpy as np
        >>> x = np.arange(10.0)
        >>> est, low, high = bootstrap_ci(np.mean, x, n_resamples=200)
        >>> est, bool(low < est < high)
        (4.5, True)
    """
    _check_bootstrap_options(n_resamples, confidence)
    data = _resampling_arrays(arrays, "arrays")
    resampled = _bootstrap_distribution(
        statistic_fn, data, int(n_resamples), seed, groups, vectorized
    )
    low, high = _percentile_interval(_finite_resamples(resampled), confidence)
    return _point_estimate(statistic_fn, data, vectorized), low, high


def paired_bootstrap_test(
    statistic_fn: Callable,
    metric_arrays: Sequence[ArrayLike],
    baseline_arrays: Sequence[ArrayLike],
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    groups: ArrayLike | None = None,
    vectorized: bool = False,
) -> dict[str, float]:
    """Paired bootstrap test that a metric beats a baseline on the same items.

    Each resample draws one set of item (or group) indices and evaluates
    ``statistic_fn`` on both the metric's and the baseline's arrays with them,
    so item difficulty cancels out of the difference.

    Args:
        statistic_fn: Higher-is-better statistic, e.g. :func:`pairwise_accuracy`.
            Same contract as in :func:`bootstrap_ci`.
        metric_arrays: Tuple/list of arrays for the metric, e.g.
            ``(score_a, score_b, labels)``.
        baseline_arrays: The same for the baseline; all arrays describe the
            same items in the same order.
        n_resamples: Number of bootstrap resamples.
        confidence: Level of the two-sided interval on the difference.
        seed: Seed of the numpy Generator drawing the resamples.
        groups: Optional group id per item; resample whole groups.
        vectorized: As in :func:`bootstrap_ci`.

    Returns:
        Dict with ``"delta"`` (metric minus baseline on the full data), ``"low"``
        and ``"high"`` (percentile interval of the difference) and ``"p_value"``,
        the one-sided fraction of resamples where the metric does not beat the
        baseline (difference <= 0).

    Example:
        >>> from i2imetric.stats import pairwise_accuracy
        >>> labels = ["a"] * 8
        >>> metric = ([1.0] * 8, [0.0] * 8, labels)
        >>> baseline = ([1.0] * 4 + [0.0] * 4, [0.0] * 4 + [1.0] * 4, labels)
        >>> paired_bootstrap_test(pairwise_accuracy, metric, baseline, n_resamples=100)["delta"]
        0.5
    """
    _check_bootstrap_options(n_resamples, confidence)
    metric_data = _resampling_arrays(metric_arrays, "metric_arrays")
    baseline_data = _resampling_arrays(baseline_arrays, "baseline_arrays")
    if len(baseline_data[0]) != len(metric_data[0]):
        raise I2IInputError(
            f"baseline_arrays has {len(baseline_data[0])} items but metric_arrays has "
            f"{len(metric_data[0])}; both must describe the same items"
        )
    data = metric_data + baseline_data
    n_metric = len(metric_data)

    def difference(*arrays):
        return statistic_fn(*arrays[:n_metric]) - statistic_fn(*arrays[n_metric:])

    resampled = _finite_resamples(
        _bootstrap_distribution(difference, data, int(n_resamples), seed, groups, vectorized)
    )
    low, high = _percentile_interval(resampled, confidence)
    p_value = float(np.mean(resampled <= 0)) if resampled.size else float("nan")
    delta = _point_estimate(difference, data, vectorized)
    return {"delta": delta, "low": low, "high": high, "p_value": p_value}
