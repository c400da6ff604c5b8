"""Meta-evaluation against a known truth: systems x items matrices, as a simulated study produces them.

A study where every system edited the same items gives, per scorer, a ``[systems, items]``
matrix of scores, and a matrix of the truth (or of human ratings) of the same shape. Two
questions, each with a bootstrap interval over items (an item drawn twice brings all its
systems' outputs along, so the systems stay compared on the same items):

* :func:`system_agreement`: does the scorer rank the systems as the truth does? Kendall's
  tau and Spearman's rho between per-system scores and per-system mean truth. The per-system
  score is any function of the items kept, so set-level scores (a Frechet distance of each
  system's outputs to a reference set) are bootstrapped the same way as means.
* :func:`pairwise_agreement`: of two outputs of one item by different systems, does the
  scorer prefer the better one? Pairs are those where the reference strictly prefers one
  (:func:`same_item_pairs`); a scorer's tie counts as wrong.

:func:`rater_pairwise_ceiling` is the same pairwise question asked of each rater against the
others, the human-human ceiling of the pairwise column. Everything is numpy; no torch.

Example:
    >>> truth = np.array([[1.0, 1.0, 0.5], [0.0, 0.5, 0.5], [0.0, 0.0, 0.0]])
    >>> scores = truth + 0.01 * np.arange(3)[None]  # same order inside every item
    >>> system_agreement(lambda idx: scores[:, idx].mean(1), truth, n_resamples=50)["kendall"][0]
    1.0
    >>> pairwise_agreement(scores, truth, n_resamples=50)["accuracy"]
    1.0
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from ..errors import I2IInputError
from ..stats import bootstrap_ci, correlation_coefficient, pairwise_accuracy

__all__ = ["pairwise_agreement", "rater_pairwise_ceiling", "same_item_pairs", "system_agreement"]

SYSTEM_METHODS = ("kendall", "spearman")


def _matrix(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 2 or array.shape[0] < 2 or array.shape[1] < 2:
        raise I2IInputError(f"{name} must be a [systems, items] matrix with at least 2 of each, got {array.shape}")
    return array


def system_agreement(
    system_scores: Callable[[np.ndarray], ArrayLike],
    truth: ArrayLike,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """Kendall's tau and Spearman's rho of per-system scores with per-system mean truth, bootstrapped over items.

    Args:
        system_scores: item indices (an int array, repeats allowed) -> one score per system,
            higher is better; e.g. ``lambda idx: scores[:, idx].mean(1)``. It may return NaN
            for a resample it cannot score (that resample is dropped).
        truth: ``[systems, items]`` true quality of each system's output of each item.
        n_resamples, confidence, seed: of the percentile bootstrap over items.

    Returns:
        ``{"kendall": (estimate, low, high), "spearman": (...), "system_scores": [...],
        "system_truth": [...]}``, the last two on all items.
    """
    truth = _matrix(truth, "truth")
    n_items = truth.shape[1]

    def coefficient(method: str) -> Callable[[np.ndarray], float]:
        def statistic(idx: np.ndarray) -> float:
            scores = np.asarray(system_scores(idx), dtype=float)
            if scores.shape != (truth.shape[0],):
                raise I2IInputError(f"system_scores returned shape {scores.shape}; want one score per system")
            if not np.all(np.isfinite(scores)):
                return float("nan")
            return correlation_coefficient(scores, truth[:, idx].mean(axis=1), method)

        return statistic

    everything = np.arange(n_items)
    result = {}
    for method in SYSTEM_METHODS:
        estimate = coefficient(method)(everything)
        # Undefined on all items (a constant scorer): every resample would be too; say so once, as NaN.
        result[method] = (
            bootstrap_ci(coefficient(method), everything, n_resamples=n_resamples, confidence=confidence, seed=seed)
            if np.isfinite(estimate)
            else (estimate, float("nan"), float("nan"))
        )
    result["system_scores"] = [float(v) for v in system_scores(everything)]
    result["system_truth"] = [float(v) for v in truth.mean(axis=1)]
    return result


def same_item_pairs(reference: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of outputs of one item by two different systems that ``reference`` strictly orders.

    Args:
        reference: ``[systems, items]`` truth or human scores.

    Returns:
        ``(system_a, system_b, item, labels)``, one entry per pair, ``labels`` ``"a"`` or
        ``"b"`` for the output ``reference`` prefers. Pairs it ties are left out: two outputs
        of equal worth have no right order to recover.

    Example:
        >>> same_item_pairs([[1.0, 0.0], [0.5, 0.0]])
        (array([0]), array([1]), array([0]), array(['a'], dtype='<U1'))
    """
    reference = _matrix(reference, "reference")
    n_systems, n_items = reference.shape
    first, second = np.triu_indices(n_systems, k=1)
    system_a = np.repeat(first, n_items)
    system_b = np.repeat(second, n_items)
    item = np.tile(np.arange(n_items), len(first))
    delta = reference[system_a, item] - reference[system_b, item]
    keep = delta != 0
    labels = np.where(delta[keep] > 0, "a", "b")
    return system_a[keep], system_b[keep], item[keep], labels


def pairwise_agreement(
    scores: ArrayLike,
    reference: ArrayLike,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """Pairwise accuracy of ``scores`` on the same-item pairs ``reference`` orders, bootstrapped over items.

    Args:
        scores: ``[systems, items]`` scorer values, higher is better.
        reference: ``[systems, items]`` truth or human scores of the same outputs.
        n_resamples, confidence, seed: of the cluster bootstrap (whole items are drawn).

    Returns:
        ``{"accuracy", "low", "high", "n_pairs", "n_items"}``; NaN values when no pair is ordered.
    """
    scores = _matrix(scores, "scores")
    reference = _matrix(reference, "reference")
    if scores.shape != reference.shape:
        raise I2IInputError(f"scores are {scores.shape} but reference is {reference.shape}; score the same outputs")
    system_a, system_b, item, labels = same_item_pairs(reference)
    n_items = int(np.unique(item).size)
    if labels.size == 0:
        return {"accuracy": float("nan"), "low": float("nan"), "high": float("nan"), "n_pairs": 0, "n_items": 0}
    score_a, score_b = scores[system_a, item], scores[system_b, item]
    if n_items < 2:
        accuracy = pairwise_accuracy(score_a, score_b, labels)
        return {"accuracy": accuracy, "low": float("nan"), "high": float("nan"), "n_pairs": int(labels.size),
                "n_items": n_items}  # fmt: skip
    accuracy, low, high = bootstrap_ci(
        pairwise_accuracy, score_a, score_b, labels, n_resamples=n_resamples, confidence=confidence, seed=seed,
        groups=item,
    )  # fmt: skip
    return {"accuracy": accuracy, "low": low, "high": high, "n_pairs": int(labels.size), "n_items": n_items}


def rater_pairwise_ceiling(ratings: ArrayLike, seed: int = 0) -> dict:
    """Each rater's pairwise accuracy against the mean of the other raters: the human-human ceiling.

    A rater who gives two outputs the same Likert point has no preference; such a pair is
    decided by a fair coin (seeded), as a forced-choice study would make the rater decide,
    so a coarse scale is not counted as disagreement.

    Args:
        ratings: ``[raters, systems, items]``, ``raters >= 2``.
        seed: seed of the coin.

    Returns:
        ``{"accuracy": mean over raters, "per_rater": [...]}``.
    """
    ratings = np.asarray(ratings, dtype=float)
    if ratings.ndim != 3 or ratings.shape[0] < 2:
        raise I2IInputError(f"ratings must be [raters >= 2, systems, items], got shape {ratings.shape}")
    rng = np.random.default_rng(seed)
    per_rater = []
    for rater in range(ratings.shape[0]):
        others = np.delete(ratings, rater, axis=0).mean(axis=0)
        system_a, system_b, item, labels = same_item_pairs(others)
        if labels.size == 0:
            continue
        own = ratings[rater]
        # Jitter below the scale's step breaks the rater's own ties at random and nothing else.
        jitter = rng.uniform(-0.25, 0.25, size=(2, labels.size))
        per_rater.append(pairwise_accuracy(own[system_a, item] + jitter[0], own[system_b, item] + jitter[1], labels))
    accuracy = float(np.mean(per_rater)) if per_rater else float("nan")
    return {"accuracy": accuracy, "per_rater": per_rater}
