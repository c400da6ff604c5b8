"""The entry point: join, choose the statistics, bootstrap them for every scorer."""

from __future__ import annotations

import os
from collections.abc import Iterable

from tqdm.auto import tqdm

from ..errors import I2IInputError
from ..evaluation.results import read_results
from ..stats import bootstrap_ci, paired_bootstrap_test
from .join import complete_scorers, join_labels, load_labels
from .protocols import Statistic, statistics_for
from .tables import Estimate, MetaEvalResult, StatisticRow

__all__ = ["meta_evaluate"]


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

    usable, coverage = join_labels(rows, records, aspect, notes)
    if not usable:
        raise I2IInputError(
            f"no label item could be used: {coverage.summary()}; check that the result rows carry the labels' "
            "source, instruction and output paths (as `i2imetric eval` writes them), or that their ids follow "
            "the conventions in i2imetric.meta_eval (e.g. <pair id>/a, <uid>/<system>)"
        )
    scorers = complete_scorers(usable, notes)
    if lower_is_better is None:
        distances = _registered_distances() & set(scorers)
    else:
        distances = set(lower_is_better)
        notes.extend(f"lower_is_better names {name}, which no matched result row has." for name in sorted(distances - set(scorers)))
    notes.extend(f"{name} is a distance: its scores were negated." for name in sorted(distances & set(scorers)))

    signs = {name: -1.0 if name in distances else 1.0 for name in scorers}
    statistics, ratings = statistics_for(usable, scorers, signs, validation_fraction, seed, notes)
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


def _bootstraps(statistic: Statistic) -> int:
    """How many bootstraps :func:`_estimate` runs: one per scorer, one per paired test, the human one."""
    return 2 * len(statistic.arrays) - 1 + (statistic.human is not None)


def _progress_bar(statistics: list[Statistic], progress: bool) -> tqdm:
    total = sum(_bootstraps(statistic) for statistic in statistics)
    # disable=None: tqdm turns itself off when stderr is not a terminal (logs, CI, pipes).
    return tqdm(total=total, unit="bootstrap", desc="i2imetric meta-eval", disable=None if progress else True)


def _estimate(statistic: Statistic, options: dict, bar: tqdm) -> StatisticRow:
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
    # The first scorer (the metric, or the first judge of a judge table) is the one
    # every other is tested against.
    first = next(iter(statistic.arrays))
    metric_arrays = statistic.arrays[first]
    versus = {
        scorer: counted(
            paired_bootstrap_test, statistic.fn, metric_arrays, arrays, groups=statistic.clusters, **resampling
        )
        for scorer, arrays in statistic.arrays.items()
        if scorer != first
    }
    human = None
    if statistic.human is not None:
        fn, arrays, clusters = statistic.human
        human = Estimate(*counted(bootstrap_ci, fn, *arrays, groups=clusters, **resampling))
    n = len(metric_arrays[0])
    return StatisticRow(statistic.key, statistic.label, n, statistic.units, values, versus, human)
