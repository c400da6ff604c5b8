"""Agreement of a metric's pairwise decisions with human judgements.

Pairwise accuracy with tie calibration (Deutsch et al., 2023), the four-way GenAI-Bench
protocol, group accuracy (all pairs of a group right, the rule of the K-pair groups of
TIGER-AI-Lab's EditReward-Bench; not VectorSpaceLab's EditReward-Bench of EditScore,
which reports strict pairwise accuracy) and the soft 2AFC score (BAPPS, NIGHTS) with its
two reference rows: the human score and the best score any metric can reach.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..errors import I2IInputError
from ._checks import as_vector, check_same_length, check_tau, check_threshold, group_index, label_codes

PAIRWISE_LABELS = ("a", "b", "tie")
FOUR_WAY_LABELS = ("a", "b", "tie", "both_bad")

# Which side of ``score_a - score_b`` each label of PAIRWISE_LABELS prefers,
# indexed by the label's position.
_LABEL_SIGN = np.array([1, -1, 0])
_A, _B, _TIE_GOOD, _TIE_BAD = range(4)  # label codes: positions in FOUR_WAY_LABELS


def _pair_inputs(
    score_a: ArrayLike, score_b: ArrayLike, labels: ArrayLike, allowed: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a pairwise benchmark; return ``(score_a - score_b, label codes)``."""
    a = as_vector(score_a, "score_a")
    b = as_vector(score_b, "score_b")
    codes = label_codes(labels, allowed)
    check_same_length(score_a=a, score_b=b, labels=codes)
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
    epsilon = check_threshold(epsilon, "epsilon")
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
# Four-way (GenAI-Bench's classes) and group (all pairs right) accuracy
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
    """Four-way agreement over GenAI-Bench's classes: A>B, B>A, both good, both bad.

    The metric predicts ``"tie"`` (both good) or ``"both_bad"`` when
    ``|score_a - score_b| <= epsilon``, choosing ``"tie"`` iff the mean score
    ``(score_a + score_b) / 2 >= tau``; otherwise it predicts the higher side.
    GenAI-Bench itself scores judges that state one of the four verdicts, with no
    thresholds, and also counts a plain ``A=B`` verdict right for both kinds of tie
    (see :mod:`i2imetric.meta_eval.judges`); a scalar metric needs the two thresholds
    to state a verdict at all, fitted with :func:`fit_four_way_thresholds`.

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
    a = as_vector(score_a, "score_a")
    b = as_vector(score_b, "score_b")
    codes = label_codes(labels, FOUR_WAY_LABELS)
    check_same_length(score_a=a, score_b=b, labels=codes)
    epsilon = check_threshold(epsilon, "epsilon")
    tau = check_tau(tau)
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
        among tied validation pairs, or ``inf`` when every tie is best called bad,
        which includes the case where no validation pair is tied at ``epsilon``
        (then tau plays no part in the fit: :func:`four_way_tied_count` tells the
        cases apart, and a report should say "no tie threshold" rather than inf).

    Example:
        >>> fit_four_way_thresholds([4.0, 3.0, 0.5, 1.0], [1.0, 3.25, 0.25, 3.0],
        ...                         ["a", "tie", "both_bad", "b"])
        (0.25, 3.125)
    """
    a = as_vector(score_a, "score_a")
    b = as_vector(score_b, "score_b")
    codes = label_codes(labels, FOUR_WAY_LABELS)
    check_same_length(score_a=a, score_b=b, labels=codes)
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


def four_way_tied_count(score_a: ArrayLike, score_b: ArrayLike, epsilon: float) -> int:
    """How many pairs :func:`four_way_accuracy` calls tied (``|score_a - score_b| <= epsilon``).

    On the validation split that fitted ``(epsilon, tau)``, zero means tau was never
    used: the fit found no tie threshold, whatever number ``tau`` holds.

    Example:
        >>> four_way_tied_count([1.0, 2.0, 3.0], [1.0, 2.5, 0.0], epsilon=0.0)
        1
    """
    a = as_vector(score_a, "score_a")
    b = as_vector(score_b, "score_b")
    check_same_length(score_a=a, score_b=b)
    epsilon = check_threshold(epsilon, "epsilon")
    return int(np.sum(np.abs(a - b) <= epsilon))


def group_accuracy(
    score_a: ArrayLike,
    score_b: ArrayLike,
    labels: ArrayLike,
    groups: ArrayLike,
    epsilon: float = 0.0,
) -> float:
    """Fraction of groups whose pairs are all judged correctly.

    A group is typically all candidate pairs for one source image and
    instruction; it counts as correct only if every pair in it is correct under
    the rule of :func:`pairwise_accuracy`. It is the mean of
    :func:`group_all_correct`. This is the all-pairs-right rule of the 3- and
    4-candidate groups of TIGER-AI-Lab's EditReward-Bench (their inference scripts
    count a group right when all its comparisons are); it does not check that a
    group has all K comparisons, and VectorSpaceLab's EditReward-Bench (EditScore)
    reports a different number, strict pairwise accuracy.

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
    return float(np.mean(group_all_correct(score_a, score_b, labels, groups, epsilon)))


def group_all_correct(
    score_a: ArrayLike,
    score_b: ArrayLike,
    labels: ArrayLike,
    groups: ArrayLike,
    epsilon: float = 0.0,
) -> np.ndarray:
    """Per group, 1.0 if every pair in it is judged correctly, else 0.0.

    The per-group values behind :func:`group_accuracy`. A group-level bootstrap
    resamples these values rather than the pairs: resampling pairs with their
    group ids would merge a group drawn twice into one larger group.

    Args:
        score_a: Metric score of edit a per pair, higher is better.
        score_b: Metric score of edit b per pair.
        labels: ``"a"``, ``"b"`` or ``"tie"`` per pair.
        groups: Group id per pair (any sortable values: ints, strings).
        epsilon: Tie threshold, ``>= 0``.

    Returns:
        Float array with one value per distinct group, in sorted group order.

    Example:
        >>> group_all_correct([3, 2, 5, 1], [1, 1, 4, 2], ["a", "a", "a", "a"],
        ...                   groups=["y", "y", "x", "x"])
        array([0., 1.])
    """
    delta, codes = _pair_inputs(score_a, score_b, labels, PAIRWISE_LABELS)
    group_ids = group_index(groups, "groups", len(delta))
    epsilon = check_threshold(epsilon, "epsilon")
    wrong = ~_pairwise_correct(delta, codes, epsilon)
    wrong_per_group = np.bincount(group_ids, weights=wrong)
    return (wrong_per_group == 0).astype(float)


def two_afc_score(score_a: ArrayLike, score_b: ArrayLike, p_a: ArrayLike) -> float:
    """2AFC agreement with soft human judgements (BAPPS / NIGHTS style).

    Each triplet earns ``p_a`` if the metric prefers a, ``1 - p_a`` if it prefers
    b and 0.5 if the scores are equal. Scores are higher-is-better (more similar to
    the reference); for a distance such as LPIPS pass ``-distance``.

    Two reference numbers go with it, and they differ:

    * :func:`two_afc_best_score`, ``mean(max(p_a, 1 - p_a))``: what a metric that
      always sides with the majority earns, the best score any metric can reach.
    * :func:`two_afc_human_score`, ``mean(p_a^2 + (1 - p_a)^2)``: the chance that
      two random judges agree, the "human" row of BAPPS (LPIPS) tables. A metric
      can beat it, since siding with the majority is better than being one judge.

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
    a = as_vector(score_a, "score_a")
    b = as_vector(score_b, "score_b")
    p = _probabilities(p_a)
    check_same_length(score_a=a, score_b=b, p_a=p)
    credit = np.where(a > b, p, np.where(a < b, 1.0 - p, 0.5))
    return float(np.mean(credit))


def two_afc_best_score(p_a: ArrayLike) -> float:
    """The best 2AFC score any metric can reach: ``mean(max(p_a, 1 - p_a))``.

    Not a human number: see :func:`two_afc_human_score` for that.

    Example:
        >>> two_afc_best_score([0.75, 0.5, 0.0])
        0.75
    """
    p = _probabilities(p_a)
    return float(np.mean(np.maximum(p, 1.0 - p)))


def two_afc_human_score(p_a: ArrayLike) -> float:
    """BAPPS' human 2AFC score: ``mean(p_a^2 + (1 - p_a)^2)``, the chance two random judges agree.

    Example:
        >>> two_afc_human_score([0.75, 0.5, 0.0])
        0.7083333333333334
    """
    p = _probabilities(p_a)
    return float(np.mean(p**2 + (1.0 - p) ** 2))


def _probabilities(p_a: ArrayLike) -> np.ndarray:
    p = as_vector(p_a, "p_a")
    if np.any((p < 0) | (p > 1)):
        raise I2IInputError("p_a must lie in [0, 1]")
    return p
