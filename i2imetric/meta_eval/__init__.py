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
* four-way agreement (GenAI-Bench's four classes: A>B, B>A, both good, both bad), when
  some label is ``"both_bad"``: epsilon and tau are fitted on a seeded
  ``validation_fraction`` of the pairs (default half) and the accuracy is that of the
  remaining pairs. GenAI-Bench's own leaderboard scores judges that emit the four
  verdicts directly, on all 919 pairs, with no fit; :mod:`~i2imetric.meta_eval.judges`
  reproduces that number from their released per-item files. When no validation pair
  is tied at the fitted epsilon (or every tie is best called bad) there is no tie
  threshold, and the table and JSON say so instead of printing ``tau=inf``.
* group accuracy, when pairs share a group (``extra["group"]``, else the same source and
  instruction): the share of groups whose untied pairs are all right. That is the
  all-comparisons-right rule of the K-pair groups of TIGER-AI-Lab's EditReward-Bench,
  except that human-tied pairs are left out here and a group need not hold all K
  comparisons; VectorSpaceLab's EditReward-Bench (EditScore) is another benchmark, whose
  number is strict pairwise accuracy.

Float labels (the share of people preferring a): the 2AFC score (BAPPS, NIGHTS). The human
column is BAPPS' human score, ``p^2 + (1-p)^2`` (the chance that two random judges agree);
the best score any metric can reach, ``mean(max(p, 1-p))``, is given in the notes. They
are different numbers, and a metric can beat the first.

Ratings: Pearson, Spearman and Kendall tau-b per item (with the leave-one-rater-out
ceiling when there are several raters); per group (one source and instruction, i.e. one
ImagenHub uid) as the plain mean of the per-group coefficients, with the group sizes in
the notes, plus Pearson's Fisher-z mean over groups of at least 4 items (Fisher's z is
never applied to Spearman or Kendall, see :mod:`i2imetric.stats.correlation`); and per
system (correlation of per-system means). None of these is EditReward's ImagenHub number:
their ``evaluate_imagenhub_from_json`` (TIGER-AI-Lab/EditReward,
``EditReward/evaluate/eval_bench.py``) correlates Spearman's rho within each editing
model rather than each uid, and takes ``tanh`` of the plain mean of those coefficients
without ``arctanh`` first.

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
* :mod:`~i2imetric.meta_eval.judges`: discrete judge verdicts (GenAI-Bench's released
  ``pairwise.jsonl`` files) and GenAI-Bench's leaderboard agreement.
* :mod:`~i2imetric.meta_eval.known_quality`: agreement with a known truth on a
  ``[systems, items]`` study (simulated editors): system-level Kendall/Spearman and
  same-item pairwise accuracy, bootstrapped over items, and the raters' pairwise ceiling.
"""

from __future__ import annotations

from ..evaluation.results import read_results
from .evaluate import meta_evaluate
from .join import LABEL_FORMATS, load_labels
from .judges import evaluate_judges, read_genai_bench_judge
from .known_quality import pairwise_agreement, rater_pairwise_ceiling, same_item_pairs, system_agreement
from .tables import METRIC, Coverage, Estimate, MetaEvalResult, RatedItems, StatisticRow, format_comparison

__all__ = [
    "LABEL_FORMATS",
    "METRIC",
    "Coverage",
    "Estimate",
    "MetaEvalResult",
    "RatedItems",
    "StatisticRow",
    "evaluate_judges",
    "format_comparison",
    "load_labels",
    "meta_evaluate",
    "pairwise_agreement",
    "rater_pairwise_ceiling",
    "read_genai_bench_judge",
    "read_results",
    "same_item_pairs",
    "system_agreement",
]
