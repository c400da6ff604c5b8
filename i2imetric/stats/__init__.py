"""Meta-evaluation statistics for learned image-editing metrics.

Everything here works on plain numpy arrays and returns Python floats (or small
dicts/tuples of them), so it can be imported without torch.

Conventions used throughout:

* Metric scores are **higher-is-better**. To evaluate a distance (LPIPS, DISTS,
  FD, ...) pass its negation.
* A pairwise judgement compares two edits "a" and "b" of the same source and
  instruction. Human labels are ``"a"`` (a is better), ``"b"`` (b is better) or
  ``"tie"``; the four-way GenAI-Bench protocol adds ``"both_bad"`` and then reads
  ``"tie"`` as "both good".
* Invalid input raises :class:`i2imetric.errors.I2IInputError` (a ``ValueError``)
  naming the argument at fault.

Contents: pairwise accuracy with tie calibration, four-way and group accuracy,
2AFC agreement, sample/group/system correlations with Fisher-z averaging, an
inter-rater ceiling, percentile and paired bootstrap, Frechet distance and
unbiased RBF MMD^2.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg, stats
from scipy.spatial.distance import pdist

from ..errors import I2IInputError

__all__ = [
    "CORRELATION_METHODS",
    "FOUR_WAY_LABELS",
    "PAIRWISE_LABELS",
    "bootstrap_ci",
    "correlations",
    "fisher_z_mean",
    "fit_four_way_thresholds",
    "four_way_accuracy",
    "frechet_distance",
    "group_accuracy",
    "inter_rater_ceiling",
    "median_heuristic_sigma",
    "mmd2_unbiased",
    "paired_bootstrap_test",
    "pairwise_accuracy",
    "tie_calibration",
    "two_afc_score",
]

PAIRWISE_LABELS = ("a", "b", "tie")
FOUR_WAY_LABELS = ("a", "b", "tie", "both_bad")
CORRELATION_METHODS = ("pearson", "spearman", "kendall")

# Which side of ``score_a - score_b`` each label of PAIRWISE_LABELS prefers,
# indexed by the label's position.
_LABEL_SIGN = np.array([1, -1, 0])
_A, _B, _TIE_GOOD, _TIE_BAD = range(4)  # label codes: positions in FOUR_WAY_LABELS

# arctanh(+-1) is infinite, so perfect per-group correlations would swamp the
# Fisher-z mean; clipping keeps them large but finite.
_FISHER_CLIP = 1.0 - 1e-7

# Upper bound on elements materialised at once by the bootstrap and the MMD
# kernel (4M float64 = 32 MiB), so 1000 resamples of 10k items never build an
# 80 MB index matrix.
_MAX_BATCH_ELEMENTS = 1 << 22


# --------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------


def _as_float_array(values: ArrayLike, name: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise I2IInputError(f"{name} must be numeric: {exc}") from None


def _as_vector(values: ArrayLike, name: str) -> np.ndarray:
    """Return ``values`` as a non-empty, finite, 1-D float array."""
    arr = _as_float_array(values, name)
    if arr.ndim != 1:
        raise I2IInputError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise I2IInputError(f"{name} must not be empty")
    if not np.all(np.isfinite(arr)):
        raise I2IInputError(f"{name} contains NaN or infinite values")
    return arr


def _as_matrix(values: ArrayLike, name: str, min_rows: int) -> np.ndarray:
    """Return ``values`` as a finite 2-D float array with at least ``min_rows`` rows."""
    arr = _as_float_array(values, name)
    if arr.ndim != 2:
        raise I2IInputError(f"{name} must be 2-D [n, d], got shape {arr.shape}")
    if arr.shape[0] < min_rows:
        raise I2IInputError(f"{name} needs at least {min_rows} rows, got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        raise I2IInputError(f"{name} contains NaN or infinite values")
    return arr


def _check_same_length(**arrays: np.ndarray) -> None:
    """Raise if the named arrays differ in length, naming the first mismatch."""
    (first_name, first), *rest = arrays.items()
    for name, arr in rest:
        if len(arr) != len(first):
            raise I2IInputError(
                f"{name} has {len(arr)} items but {first_name} has {len(first)}"
            )


def _label_codes(labels: ArrayLike, allowed: tuple[str, ...]) -> np.ndarray:
    """Map each label to its index in ``allowed``; unknown labels raise."""
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise I2IInputError(f"labels must be 1-D, got shape {arr.shape}")
    uniques, inverse = np.unique(arr.astype(str), return_inverse=True)
    unknown = [str(u) for u in uniques if u not in allowed]
    if unknown:
        raise I2IInputError(
            f"labels has unknown values {unknown[:5]}; expected one of {list(allowed)}"
        )
    return np.array([allowed.index(u) for u in uniques], dtype=int)[inverse]


def _group_index(groups: ArrayLike, name: str, n_items: int) -> np.ndarray:
    """Dense 0..G-1 ids for a 1-D array of group labels of length ``n_items``."""
    arr = np.asarray(groups)
    if arr.ndim != 1:
        raise I2IInputError(f"{name} must be 1-D, got shape {arr.shape}")
    if len(arr) != n_items:
        raise I2IInputError(f"{name} has {len(arr)} items but the data has {n_items}")
    return np.unique(arr, return_inverse=True)[1].reshape(-1)


def _check_threshold(value: float, name: str) -> float:
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise I2IInputError(f"{name} must be a finite number >= 0, got {value}")
    return value


def _check_tau(tau: float) -> float:
    # +-inf are legitimate ("every tie is bad" / "every tie is good"); NaN is not.
    tau = float(tau)
    if np.isnan(tau):
        raise I2IInputError("tau must not be NaN")
    return tau


def _pair_inputs(
    score_a: ArrayLike, score_b: ArrayLike, labels: ArrayLike, allowed: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a pairwise benchmark; return ``(score_a - score_b, label codes)``."""
    a = _as_vector(score_a, "score_a")
    b = _as_vector(score_b, "score_b")
    codes = _label_codes(labels, allowed)
    _check_same_length(score_a=a, score_b=b, labels=codes)
    return a - b, codes


# --------------------------------------------------------------------------
# Pairwise accuracy and tie calibration
# --------------------------------------------------------------------------


def _metric_sign(delta: np.ndarray, epsilon: float) -> np.ndarray:
    """+1 / -1 for the side the metric prefers, 0 when it calls a tie."""
    return np.where(np.abs(delta) <= epsilon, 0, np.sign(delta)).astype(int)


def _pairwise_correct(delta: np.ndarray, codes: np.ndarray, epsilon: float) -> np.ndarray:
    """Per-pair agreement of the metric's three-way decision with the human label."""
    return _metric_sign(delta, epsilon) == _LABEL_SIGN[codes]


def pairwise_accuracy(
    score_a: ArrayLike, score_b: ArrayLike, labels: ArrayLike, epsilon: float = 0.0
) -> float:
    """Tie-aware pairwise accuracy (Deutsch et al., 2023, "Ties Matter").

    The metric calls a tie when ``|score_a - score_b| <= epsilon`` (so with the
    default ``epsilon=0`` exactly equal scores are a tie), and the accuracy is
    ``(C + T_hm) / (C + D + T_h + T_m + T_hm)``: concordant pairs plus pairs both
    call a tie, over all pairs. Without human ties and with distinct scores this
    is plain accuracy.

    Args:
        score_a: Metric score of edit a for each pair, higher is better.
        score_b: Metric score of edit b for each pair.
        labels: Human preference per pair: ``"a"``, ``"b"`` or ``"tie"``.
        epsilon: Tie threshold, ``>= 0`` (see :func:`tie_calibration`).

    Returns:
        Fraction of pairs where the metric's three-way decision matches the human's.

    Example:
        >>> pairwise_accuracy([0.9, 0.2, 0.5], [0.1, 0.4, 0.5], ["a", "a", "tie"])
        0.6666666666666666
    """
    delta, codes = _pair_inputs(score_a, score_b, labels, PAIRWISE_LABELS)
    epsilon = _check_threshold(epsilon, "epsilon")
    return float(np.mean(_pairwise_correct(delta, codes, epsilon)))


def _threshold_candidates(
    abs_delta: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort pairs by ``|delta|`` and list every distinct tie threshold.

    Returns ``(order, candidates, ends)``: ``order`` sorts the pairs by
    ``|delta|``; ``candidates`` are 0 and the distinct ``|delta|`` values,
    ascending; threshold ``candidates[i]`` ties exactly the pairs
    ``order[:ends[i]]``. Any other epsilon ties the same set as the largest
    candidate below it, so these are the only thresholds worth trying.
    """
    order = np.argsort(abs_delta, kind="stable")
    sorted_abs = abs_delta[order]
    candidates = np.unique(np.concatenate(([0.0], sorted_abs)))
    ends = np.searchsorted(sorted_abs, candidates, side="right")
    return order, candidates, ends


def tie_calibration(
    score_a: ArrayLike, score_b: ArrayLike, labels: ArrayLike
) -> tuple[float, float]:
    """Find the tie threshold that maximises :func:`pairwise_accuracy`.

    Sorting the pairs by ``|delta|`` once makes the sweep over all candidate
    thresholds (0 and every ``|delta|``) a cumulative sum, so it costs
    O(n log n). Among equally good thresholds the smallest is returned. Fit it on
    a validation split and report accuracy with it on the test split; accuracy
    after calibrating on the test split itself is optimistic.

    Args:
        score_a: Metric score of edit a per pair, higher is better.
        score_b: Metric score of edit b per pair.
        labels: Human preference per pair: ``"a"``, ``"b"`` or ``"tie"``.

    Returns:
        ``(accuracy, epsilon)``: the best accuracy and the threshold reaching it;
        ``pairwise_accuracy(score_a, score_b, labels, epsilon) == accuracy``.

    Example:
        >>> tie_calibration([4.0, 2.0, 1.0], [0.0, 2.5, 3.0], ["a", "tie", "b"])
        (1.0, 0.5)
    """
    delta, codes = _pair_inputs(score_a, score_b, labels, PAIRWISE_LABELS)
    human = _LABEL_SIGN[codes]
    right_untied = (human != 0) & (np.sign(delta) == human)
    right_tied = human == 0
    order, candidates, ends = _threshold_candidates(np.abs(delta))
    # Tying a pair changes the number of correct pairs by right_tied - right_untied.
    gain = right_tied.astype(int) - right_untied.astype(int)
    cumulative_gain = np.concatenate(([0], np.cumsum(gain[order])))
    n_correct = right_untied.sum() + cumulative_gain[ends]
    best = int(np.argmax(n_correct))  # first maximum = smallest epsilon
    return float(n_correct[best] / delta.size), float(candidates[best])


# --------------------------------------------------------------------------
# Four-way (GenAI-Bench) and group (EditReward-Bench) accuracy
# --------------------------------------------------------------------------


def _mean_score(score_a: np.ndarray, score_b: np.ndarray) -> np.ndarray:
    # One shared formula so fitted tau values compare bit-identically later.
    return (score_a + score_b) / 2.0


def four_way_accuracy(
    score_a: ArrayLike,
    score_b: ArrayLike,
    labels: ArrayLike,
    epsilon: float,
    tau: float,
) -> float:
    """Four-way agreement as in GenAI-Bench: A>B, B>A, both good, both bad.

    The metric predicts ``"tie"`` (both good) or ``"both_bad"`` when
    ``|score_a - score_b| <= epsilon``, choosing ``"tie"`` iff the mean score
    ``(score_a + score_b) / 2 >= tau``; otherwise it predicts the higher side.

    Args:
        score_a: Metric score of edit a per pair, higher is better.
        score_b: Metric score of edit b per pair.
        labels: Human label per pair: ``"a"``, ``"b"``, ``"tie"`` (both good) or
            ``"both_bad"``.
        epsilon: Tie threshold, ``>= 0``.
        tau: Good/bad threshold on the mean score; ``+-inf`` are allowed.

    Returns:
        Fraction of pairs where the predicted label equals the human label.

    Example:
        >>> four_way_accuracy([0.9, 0.8, 0.1], [0.2, 0.8, 0.1],
        ...                   ["a", "tie", "both_bad"], epsilon=0.05, tau=0.5)
        1.0
    """
    a = _as_vector(score_a, "score_a")
    b = _as_vector(score_b, "score_b")
    codes = _label_codes(labels, FOUR_WAY_LABELS)
    _check_same_length(score_a=a, score_b=b, labels=codes)
    epsilon = _check_threshold(epsilon, "epsilon")
    tau = _check_tau(tau)
    delta = a - b
    tie_code = np.where(_mean_score(a, b) >= tau, _TIE_GOOD, _TIE_BAD)
    predicted = np.where(np.abs(delta) <= epsilon, tie_code, np.where(delta > 0, _A, _B))
    return float(np.mean(predicted == codes))


def fit_four_way_thresholds(
    score_a: ArrayLike, score_b: ArrayLike, labels: ArrayLike
) -> tuple[float, float]:
    """Fit ``(epsilon, tau)`` maximising :func:`four_way_accuracy`, jointly.

    Epsilon candidates are 0 and every ``|delta|`` (as in :func:`tie_calibration`).
    For each, the tied pairs are inserted into an array ordered by mean score,
    and the best tau is the split of that array with the largest prefix sum of
    (+1 for a tied "both_bad", -1 for a tied "tie"). That is one O(n) cumsum per
    distinct ``|delta|``, O(n^2) worst case, which takes well under a second on
    validation splits of a few thousand pairs. Ties between solutions go to the
    smallest epsilon, then the smallest tau. Fit on a validation split only.

    Args:
        score_a: Metric score of edit a per pair, higher is better.
        score_b: Metric score of edit b per pair.
        labels: ``"a"``, ``"b"``, ``"tie"`` (both good) or ``"both_bad"``.

    Returns:
        ``(epsilon, tau)``. ``tau`` is the smallest mean score predicted "good"
        among tied validation pairs, or ``inf`` when every tie is best called bad.

    Example:
        >>> fit_four_way_thresholds([4.0, 3.0, 0.5, 1.0], [1.0, 3.25, 0.25, 3.0],
        ...                         ["a", "tie", "both_bad", "b"])
        (0.25, 3.125)
    """
    a = _as_vector(score_a, "score_a")
    b = _as_vector(score_b, "score_b")
    codes = _label_codes(labels, FOUR_WAY_LABELS)
    _check_same_length(score_a=a, score_b=b, labels=codes)
    delta = a - b
    is_good, is_bad = codes == _TIE_GOOD, codes == _TIE_BAD
    right_untied = ((codes == _A) & (delta > 0)) | ((codes == _B) & (delta < 0))
    # Gain from calling a tied pair "bad" rather than "good".
    bad_gain = is_bad.astype(int) - is_good.astype(int)

    mean = _mean_score(a, b)
    mean_order = np.argsort(mean, kind="stable")
    sorted_mean = mean[mean_order]
    mean_rank = np.empty_like(mean_order)
    mean_rank[mean_order] = np.arange(delta.size)
    # Split k calls the k lowest-mean pairs bad; splits inside a run of equal
    # means are not realisable by any tau.
    splits = np.flatnonzero(
        np.concatenate(([True], sorted_mean[1:] > sorted_mean[:-1], [True]))
    )

    order, candidates, ends = _threshold_candidates(np.abs(delta))
    tied_gain = np.zeros(delta.size, dtype=int)  # bad_gain of tied pairs, by mean rank
    n_correct_all_good = int(right_untied.sum())  # correct if tied pairs are called good
    best = (-1, 0.0, 0)  # (n_correct, epsilon, split)
    start = 0
    for epsilon, end in zip(candidates, ends):
        newly_tied = order[start:end]
        start = end
        tied_gain[mean_rank[newly_tied]] = bad_gain[newly_tied]
        n_correct_all_good += int(is_good[newly_tied].sum() - right_untied[newly_tied].sum())
        prefix = np.concatenate(([0], np.cumsum(tied_gain)))[splits]
        k = int(np.argmax(prefix))
        if n_correct_all_good + prefix[k] > best[0]:
            best = (n_correct_all_good + int(prefix[k]), float(epsilon), int(splits[k]))
    _, epsilon, split = best
    # Every tau between the split and the next tied pair's mean scores the
    # same; report that tied pair's mean (the lowest mean predicted "good").
    lowest_good = sorted_mean[split] if split < delta.size else np.inf
    good_means = mean[(np.abs(delta) <= epsilon) & (mean >= lowest_good)]
    tau = float(good_means.min()) if good_means.size else float("inf")
    return epsilon, tau


def group_accuracy(
    score_a: ArrayLike,
    score_b: ArrayLike,
    labels: ArrayLike,
    groups: ArrayLike,
    epsilon: float = 0.0,
) -> float:
    """Fraction of groups whose pairs are all judged correctly (EditReward-Bench).

    A group is typically all candidate pairs for one source image and
    instruction; it counts as correct only if every pair in it is correct under
    the rule of :func:`pairwise_accuracy`.

    Args:
        score_a: Metric score of edit a per pair, higher is better.
        score_b: Metric score of edit b per pair.
        labels: ``"a"``, ``"b"`` or ``"tie"`` per pair.
        groups: Group id per pair (any sortable values: ints, strings).
        epsilon: Tie threshold, ``>= 0``.

    Returns:
        Fraction of groups with every pair correct.

    Example:
        >>> group_accuracy([3, 2, 5, 1], [1, 1, 4, 2], ["a", "a", "a", "a"],
        ...                groups=["x", "x", "y", "y"])
        0.5
    """
    delta, codes = _pair_inputs(score_a, score_b, labels, PAIRWISE_LABELS)
    group_ids = _group_index(groups, "groups", len(delta))
    epsilon = _check_threshold(epsilon, "epsilon")
    wrong = ~_pairwise_correct(delta, codes, epsilon)
    wrong_per_group = np.bincount(group_ids, weights=wrong)
    return float(np.mean(wrong_per_group == 0))


def two_afc_score(score_a: ArrayLike, score_b: ArrayLike, p_a: ArrayLike) -> float:
    """2AFC agreement with soft human judgements (BAPPS / NIGHTS style).

    Each triplet earns ``p_a`` if the metric prefers a, ``1 - p_a`` if it prefers
    b and 0.5 if the scores are equal, so a metric that always sides with the
    majority scores the human-vs-human ceiling ``mean(max(p_a, 1 - p_a))``.
    Scores are higher-is-better (more similar to the reference); for a distance
    such as LPIPS pass ``-distance``.

    Args:
        score_a: Metric score of distortion a per triplet, higher is better.
        score_b: Metric score of distortion b per triplet.
        p_a: Fraction of humans preferring a, in ``[0, 1]``.

    Returns:
        Mean credit over triplets, in ``[0, 1]``.

    Example:
        >>> two_afc_score([0.9, 0.1, 0.5], [0.1, 0.9, 0.5], [0.75, 0.75, 1.0])
        0.5
    """
    a = _as_vector(score_a, "score_a")
    b = _as_vector(score_b, "score_b")
    p = _as_vector(p_a, "p_a")
    _check_same_length(score_a=a, score_b=b, p_a=p)
    if np.any((p < 0) | (p > 1)):
        raise I2IInputError("p_a must lie in [0, 1]")
    credit = np.where(a > b, p, np.where(a < b, 1.0 - p, 0.5))
    return float(np.mean(credit))


# --------------------------------------------------------------------------
# Correlations
# --------------------------------------------------------------------------


def _correlate(x: np.ndarray, y: np.ndarray, method: str) -> float:
    """One correlation coefficient; NaN when undefined (constant input or n < 2)."""
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")  # scipy would warn and return NaN anyway
    if method == "pearson":
        return float(stats.pearsonr(x, y).statistic)
    if method == "spearman":
        return float(stats.spearmanr(x, y).statistic)
    return float(stats.kendalltau(x, y).statistic)  # tau-b: scipy's default variant


def _check_method(method: str) -> str:
    if method not in CORRELATION_METHODS:
        raise I2IInputError(f"method must be one of {list(CORRELATION_METHODS)}, got {method!r}")
    return method


def fisher_z_mean(coefficients: ArrayLike) -> float:
    """Average correlation coefficients in Fisher-z space.

    ``tanh(mean(arctanh(r)))`` with ``|r|`` clipped to ``1 - 1e-7`` first, since
    ``arctanh(+-1)`` is infinite. Even clipped, a perfect coefficient maps to
    z ~ 8.4 and pulls the mean strongly towards it, which is why callers skip
    groups of fewer than 3 items. The transform is exact for Pearson's r and a
    common approximation for Spearman and Kendall.

    Args:
        coefficients: Correlations in ``[-1, 1]``, non-empty, no NaN.

    Returns:
        The back-transformed mean correlation.

    Example:
        >>> round(fisher_z_mean([0.5, 0.9]), 4)
        0.7661
    """
    r = _as_vector(coefficients, "coefficients")
    if np.any(np.abs(r) > 1):
        raise I2IInputError("coefficients must lie in [-1, 1]")
    z = np.arctanh(np.clip(r, -_FISHER_CLIP, _FISHER_CLIP))
    return float(np.tanh(np.mean(z)))


def _all_correlations(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {m: _correlate(x, y, m) for m in CORRELATION_METHODS}


def _group_correlations(
    metric: np.ndarray, human: np.ndarray, group_ids: np.ndarray
) -> dict[str, float]:
    """Fisher-z mean of per-group correlations, skipping undefined groups."""
    per_group = {m: [] for m in CORRELATION_METHODS}
    n_skipped = 0
    order = np.argsort(group_ids, kind="stable")
    bounds = np.flatnonzero(np.diff(group_ids[order])) + 1
    for members in np.split(order, bounds):
        x, y = metric[members], human[members]
        # Fewer than 3 items gives r = +-1 by construction; constant values
        # leave r undefined. Neither says anything about ranking quality.
        if members.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
            n_skipped += 1
            continue
        for method in CORRELATION_METHODS:
            per_group[method].append(_correlate(x, y, method))
    n_used = len(bounds) + 1 - n_skipped
    result = {
        m: fisher_z_mean(values) if values else float("nan")
        for m, values in per_group.items()
    }
    return {**result, "n_groups": n_used, "n_groups_skipped": n_skipped}


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
) -> dict[str, float]:
    """Pearson, Spearman and Kendall tau-b between metric and human scores.

    Levels:

    * ``"sample"``: correlate all items directly.
    * ``"group"``: correlate within each group (e.g. all edits of one source and
      instruction), then average in Fisher-z space (:func:`fisher_z_mean`).
      Groups with fewer than 3 items or constant metric/human values are
      skipped and counted.
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
        level ``"group"`` adds ``"n_groups"`` (used) and ``"n_groups_skipped"``;
        level ``"system"`` adds ``"n_systems"``.

    Example:
        >>> r = correlations([1, 2, 3, 4], [10, 20, 40, 30])
        >>> round(r["pearson"], 3), round(r["spearman"], 3), round(r["kendall"], 3)
        (0.8, 0.8, 0.667)
    """
    x = _as_vector(metric, "metric")
    y = _as_vector(human, "human")
    _check_same_length(metric=x, human=y)
    if level not in ("sample", "group", "system"):
        raise I2IInputError(f"level must be 'sample', 'group' or 'system', got {level!r}")
    if (groups is not None) != (level == "group"):
        raise I2IInputError("groups must be given exactly when level='group'")
    if (systems is not None) != (level == "system"):
        raise I2IInputError("systems must be given exactly when level='system'")

    if level == "group":
        result = _group_correlations(x, y, _group_index(groups, "groups", x.size))
    elif level == "system":
        result = _system_correlations(x, y, _group_index(systems, "systems", x.size))
    else:
        if x.size < 2:
            raise I2IInputError("metric needs at least 2 items for a correlation")
        result = _all_correlations(x, y)
    return {**result, "n_items": int(x.size)}


def inter_rater_ceiling(ratings_by_rater: ArrayLike, method: str = "spearman") -> float:
    """Human-human agreement ceiling by leave-one-rater-out correlation.

    Each rater is correlated with the mean of the other raters and the
    coefficients are averaged in Fisher-z space; raters for whom the correlation
    is undefined (constant ratings) are skipped. A metric correlated with the
    mean of *all* raters can exceed this number, because that mean is less noisy
    than the n-1 rater mean used here; read it as a rough ceiling.

    Args:
        ratings_by_rater: ``[n_raters, n_items]`` array, every rater rating every
            item (no missing values), ``n_raters >= 2``, ``n_items >= 3``.
        method: ``"pearson"``, ``"spearman"`` or ``"kendall"``.

    Returns:
        Fisher-z mean of the per-rater correlations, NaN if all are undefined.

    Example:
        >>> ratings = [[1, 2, 3, 4, 5], [2, 1, 3, 5, 4], [3, 1, 2, 4, 5]]
        >>> round(inter_rater_ceiling(ratings), 4)
        0.8355
    """
    method = _check_method(method)
    ratings = _as_matrix(ratings_by_rater, "ratings_by_rater", min_rows=2)
    if ratings.shape[1] < 3:
        raise I2IInputError("ratings_by_rater needs at least 3 items (columns)")
    n_raters = ratings.shape[0]
    others_mean = (ratings.sum(axis=0) - ratings) / (n_raters - 1)
    coefficients = [_correlate(ratings[r], others_mean[r], method) for r in range(n_raters)]
    defined = [c for c in coefficients if np.isfinite(c)]
    return fisher_z_mean(defined) if defined else float("nan")


# --------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------


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
    group_ids = _group_index(groups, "groups", len(arrays[0]))
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


# --------------------------------------------------------------------------
# Distribution distances
# --------------------------------------------------------------------------


def _embedding_pair(x: ArrayLike, y: ArrayLike, min_rows: int) -> tuple[np.ndarray, np.ndarray]:
    x = _as_matrix(x, "x", min_rows)
    y = _as_matrix(y, "y", min_rows)
    if x.shape[1] != y.shape[1]:
        raise I2IInputError(f"y has dimension {y.shape[1]} but x has {x.shape[1]}")
    return x, y


def _sqrtm_product(cov_x: np.ndarray, cov_y: np.ndarray, eps: float) -> np.ndarray:
    """Matrix square root of ``cov_x @ cov_y``, regularised when it is singular.

    With fewer samples than dimensions, or collinear features, the covariances
    are rank deficient and so is their product; its square root is then
    ill-conditioned and the Schur method can return inf/NaN or a large
    imaginary part. Like pytorch-fid we then retry with ``eps`` added to both
    diagonals, which makes the product non-singular at a bias of order
    ``sqrt(eps)`` per null direction, far below typical FD values.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", linalg.LinAlgWarning)
        try:
            root = linalg.sqrtm(cov_x @ cov_y)
        except linalg.LinAlgWarning:  # scipy flags a singular product
            root = None
    if root is None or not np.all(np.isfinite(root)):
        offset = eps * np.eye(cov_x.shape[0])
        root = linalg.sqrtm((cov_x + offset) @ (cov_y + offset))
    if np.iscomplexobj(root):
        # The exact root of a product of PSD matrices has a real spectrum, so a
        # small imaginary part is round-off; a large one means garbage.
        if not np.allclose(np.diagonal(root).imag, 0, atol=1e-3):
            worst = np.max(np.abs(np.diagonal(root).imag))
            raise I2IInputError(f"sqrtm of the covariance product has imaginary part {worst:.3g}")
        root = root.real
    return root


def frechet_distance(x: ArrayLike, y: ArrayLike, eps: float = 1e-6) -> float:
    """Frechet distance between Gaussians fitted to two embedding sets (FID-style).

    ``||mu_x - mu_y||^2 + tr(S_x + S_y - 2 (S_x S_y)^(1/2))`` with sample
    covariances (``ddof=1``). Tiny negative results from round-off are clipped
    to 0, since the true value is a squared distance.

    Args:
        x: ``[n, d]`` embeddings, ``n >= 2``.
        y: ``[m, d]`` embeddings, ``m >= 2``.
        eps: Diagonal offset used only if the covariance product is singular.

    Returns:
        The Frechet distance (squared units of the embeddings).

    Example:
        >>> x = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
        >>> round(frechet_distance(x, x + 1.0), 6)
        2.0
    """
    x, y = _embedding_pair(x, y, min_rows=2)
    if eps <= 0:
        raise I2IInputError(f"eps must be > 0, got {eps}")
    mean_diff = x.mean(axis=0) - y.mean(axis=0)
    # atleast_2d: np.cov returns a 0-d array for one-dimensional embeddings.
    cov_x = np.atleast_2d(np.cov(x, rowvar=False, ddof=1))
    cov_y = np.atleast_2d(np.cov(y, rowvar=False, ddof=1))
    trace_root = np.trace(_sqrtm_product(cov_x, cov_y, eps))
    distance = mean_diff @ mean_diff + np.trace(cov_x) + np.trace(cov_y) - 2.0 * trace_root
    return float(max(distance, 0.0))


def _rbf_kernel_sum(a: np.ndarray, b: np.ndarray, sigma: float, skip_diagonal: bool) -> float:
    """Sum of ``exp(-||a_i - b_j||^2 / (2 sigma^2))``, in row blocks to bound memory.

    ``skip_diagonal`` (for ``a is b``) leaves out the i == j terms.
    """
    b_sq = np.einsum("ij,ij->i", b, b)
    block = max(1, _MAX_BATCH_ELEMENTS // len(b))
    total = 0.0
    for start in range(0, len(a), block):
        a_blk = a[start:start + block]
        sq_dist = np.einsum("ij,ij->i", a_blk, a_blk)[:, None] + b_sq[None, :] - 2.0 * a_blk @ b.T
        np.maximum(sq_dist, 0.0, out=sq_dist)  # the expansion can dip below 0
        kernel = np.exp(-sq_dist / (2.0 * sigma**2))
        if skip_diagonal:
            rows = np.arange(len(a_blk))
            kernel[rows, start + rows] = 0.0
        total += kernel.sum()
    return float(total)


def mmd2_unbiased(x: ArrayLike, y: ArrayLike, sigma: float) -> float:
    """Unbiased estimate of squared MMD with an RBF kernel.

    The U-statistic of Gretton et al. (2012):
    ``sum_{i!=j} k(x_i,x_j)/(m(m-1)) + sum_{i!=j} k(y_i,y_j)/(n(n-1))
    - 2 sum_{i,j} k(x_i,y_j)/(mn)`` with ``k(a,b) = exp(-||a-b||^2 / (2 sigma^2))``.
    Its expectation is exactly MMD^2, so it is ~0 (and can be negative) when both
    samples come from one distribution. CMMD's public code reports the biased
    V-statistic, which includes the diagonal terms and is positive even then;
    values from the two are not comparable.

    Args:
        x: ``[m, d]`` embeddings, ``m >= 2``.
        y: ``[n, d]`` embeddings, ``n >= 2``.
        sigma: Kernel bandwidth, > 0 (see :func:`median_heuristic_sigma`).

    Returns:
        The MMD^2 estimate.

    Example:
        >>> x = np.array([[0.0], [1.0]])
        >>> round(mmd2_unbiased(x, x + 10.0, sigma=1.0), 6)
        1.213061
    """
    x, y = _embedding_pair(x, y, min_rows=2)
    sigma = float(sigma)
    if not np.isfinite(sigma) or sigma <= 0:
        raise I2IInputError(f"sigma must be a finite number > 0, got {sigma}")
    m, n = len(x), len(y)
    k_xx = _rbf_kernel_sum(x, x, sigma, skip_diagonal=True) / (m * (m - 1))
    k_yy = _rbf_kernel_sum(y, y, sigma, skip_diagonal=True) / (n * (n - 1))
    k_xy = _rbf_kernel_sum(x, y, sigma, skip_diagonal=False) / (m * n)
    return k_xx + k_yy - 2.0 * k_xy


def median_heuristic_sigma(
    x: ArrayLike, y: ArrayLike, max_points: int = 1000, seed: int = 0
) -> float:
    """Median pairwise Euclidean distance of the pooled samples, an RBF bandwidth.

    Args:
        x: ``[m, d]`` embeddings.
        y: ``[n, d]`` embeddings.
        max_points: Pool size cap; larger pools are subsampled without
            replacement, since the distance matrix grows quadratically.
        seed: Seed for that subsample.

    Returns:
        The median distance between distinct pooled points.

    Example:
        >>> median_heuristic_sigma(np.array([[0.0], [1.0]]), np.array([[3.0]]))
        2.0
    """
    x, y = _embedding_pair(x, y, min_rows=1)
    if max_points < 2:
        raise I2IInputError(f"max_points must be >= 2, got {max_points}")
    pooled = np.vstack([x, y])
    if len(pooled) > max_points:
        keep = np.random.default_rng(seed).choice(len(pooled), size=max_points, replace=False)
        pooled = pooled[keep]
    sigma = float(np.median(pdist(pooled)))
    if sigma == 0:
        raise I2IInputError("x and y: median pairwise distance is 0 (mostly duplicate points)")
    return sigma
