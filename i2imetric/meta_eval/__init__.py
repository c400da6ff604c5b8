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

Modules
-------
* :mod:`~i2imetric.meta_eval.join`: reading labels, joining them to result rows.
* :mod:`~i2imetric.meta_eval.protocols`: the statistics each kind of label supports,
  computed by :mod:`i2imetric.stats`.
* :mod:`~i2imetric.meta_eval.evaluate`: :func:`meta_evaluate`, which bootstraps them.
* :mod:`~i2imetric.meta_eval.tables`: :class:`MetaEvalResult` and its formatting.
"""

from __future__ import annotations

from ..evaluation.results import read_results
from .evaluate import meta_evaluate
from .join import LABEL_FORMATS, load_labels
from .tables import METRIC, Coverage, Estimate, MetaEvalResult, RatedItems, StatisticRow, format_comparison

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
