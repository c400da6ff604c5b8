"""Meta-evaluation statistics for learned image-editing metrics.

Everything here works on plain numpy arrays and returns Python floats (or small
dicts/tuples/arrays of them), so it can be imported without torch.

Conventions used throughout:

* Metric scores are **higher-is-better**. To evaluate a distance (LPIPS, DISTS,
  FD, ...) pass its negation.
* A pairwise judgement compares two edits "a" and "b" of the same source and
  instruction. Human labels are ``"a"`` (a is better), ``"b"`` (b is better) or
  ``"tie"``; the four-way GenAI-Bench protocol adds ``"both_bad"`` and then reads
  ``"tie"`` as "both good".
* Invalid input raises :class:`i2imetric.errors.I2IInputError` (a ``ValueError``)
  naming the argument at fault.

Modules, each re-exported here:

* :mod:`~i2imetric.stats.agreement`: pairwise accuracy with tie calibration,
  four-way and group accuracy, 2AFC agreement with the human score and the best
  score a metric can reach.
* :mod:`~i2imetric.stats.correlation`: sample/group/system correlations (group level:
  plain mean of per-group coefficients; Fisher z only for Pearson over groups of >= 4),
  an inter-rater ceiling.
* :mod:`~i2imetric.stats.bootstrap`: percentile and paired bootstrap.
* :mod:`~i2imetric.stats.distances`: Frechet distance and unbiased RBF MMD^2 (with a
  bootstrap interval), the bandwidth fixed once per family of comparisons.
"""

from __future__ import annotations

from .agreement import (
    FOUR_WAY_LABELS,
    PAIRWISE_LABELS,
    fit_four_way_thresholds,
    four_way_accuracy,
    four_way_tied_count,
    group_accuracy,
    group_all_correct,
    pairwise_accuracy,
    tie_calibration,
    two_afc_best_score,
    two_afc_human_score,
    two_afc_score,
)
from .bootstrap import bootstrap_ci, paired_bootstrap_test
from .correlation import (
    CORRELATION_METHODS,
    FISHER_MIN_ITEMS,
    correlation_coefficient,
    correlations,
    fisher_z_mean,
    group_coefficients,
    group_fisher_z_pearson,
    inter_rater_ceiling,
    mean_of_defined,
)
from .distances import frechet_distance, median_heuristic_sigma, mmd2_unbiased, mmd2_unbiased_ci

__all__ = [
    "CORRELATION_METHODS",
    "FISHER_MIN_ITEMS",
    "FOUR_WAY_LABELS",
    "PAIRWISE_LABELS",
    "bootstrap_ci",
    "correlation_coefficient",
    "correlations",
    "fisher_z_mean",
    "fit_four_way_thresholds",
    "four_way_accuracy",
    "four_way_tied_count",
    "frechet_distance",
    "group_accuracy",
    "group_all_correct",
    "group_coefficients",
    "group_fisher_z_pearson",
    "inter_rater_ceiling",
    "mean_of_defined",
    "median_heuristic_sigma",
    "mmd2_unbiased",
    "mmd2_unbiased_ci",
    "paired_bootstrap_test",
    "pairwise_accuracy",
    "tie_calibration",
    "two_afc_best_score",
    "two_afc_human_score",
    "two_afc_score",
]

# The functions live in the submodules, where doctest.testmod(i2imetric.stats) would not
# look; listing them here keeps their examples part of the package's doctests.
__test__ = {name: obj for name, obj in globals().items() if name in __all__ and callable(obj)}
