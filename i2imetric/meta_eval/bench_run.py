"""Score one benchmark with a metric, meta-evaluate it under its protocols, write its JSON.

The outputs go through the evaluation engine (:func:`i2imetric.evaluation.evaluate`) as a
manifest of distinct triplets, ``<out>/<name>/manifest.jsonl`` (ids from
:func:`~i2imetric.meta_eval.benchmarks.output_key`), into ``<out>/<name>/results.jsonl``:
cached embeddings, decoding workers, error rows for bad items, and a rerun resumes, reusing
every row already there. The protocols then read those rows, and every number is
bootstrapped (percentile, 95%) by :func:`i2imetric.stats.bootstrap_ci`.

``<out>/<name>.json`` holds, per protocol: its name, n and units, the metric's value and
CI (and fitted thresholds), the same for the metric's sub-scores the protocol reads and for
every complete baseline, a per-task breakdown where the protocol has one, the published
reference rows with their sources, notes, and where a judge's verdicts can be scored on
them (GenAI-Bench), the protocol's ``items`` (vote ids and labels) and each judge's value
on them (:mod:`i2imetric.meta_eval.bench_judges`). Beside them: the data read (with every row
skipped and why), the units that could not be scored, and the options.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

from tqdm.auto import tqdm

from ..data.manifest import write_manifest
from ..errors import I2IInputError
from ..evaluation.results import read_results
from ..stats import bootstrap_ci
from .bench_judges import add_judges
from .bench_protocols import METRIC, Estimand, select_units
from .benchmarks import Benchmark, Loaded, triplets_of, validated_units

__all__ = ["BENCH_FORMAT", "run_benchmark", "summarize"]

BENCH_FORMAT = 1
_MAX_LISTED = 20  # skipped rows and failed units named in the JSON; the counts are always whole


def run_benchmark(
    metric,
    benchmark: Benchmark,
    loaded: Loaded,
    out_dir,
    *,
    metric_name: str,
    data_root: str,
    baselines="all",
    n_resamples: int = 1000,
    seed: int = 0,
    validation_fraction: float = 0.5,
    limit: int | None = None,
    batch_size: int = 32,
    num_workers: int | None = None,
    progress: bool = True,
    judges=(),
) -> dict | None:
    """Score ``loaded`` (``benchmark`` 's data) with ``metric`` and write ``<out_dir>/<name>.json``.

    Args:
        metric: a loaded :class:`~i2imetric.models.metric.I2IMetric`.
        benchmark: what to measure.
        loaded: its data, from :meth:`Benchmark.load` (read before the metric is loaded).
        out_dir: the bench folder; results, manifest and JSON go under it.
        metric_name: how the JSON and table name the metric (the ``--metric`` given).
        data_root: where the data was read (recorded in the JSON).
        baselines: ``"all"``, ``"none"`` or names; those meaningless on this benchmark are dropped.
        n_resamples, seed: of the bootstraps (and the seed of any validation split).
        validation_fraction: share of the pairs fitting GenAI-Bench's four-way thresholds.
        limit: score only the first ``limit`` units (recorded; for quick looks and tests).
        batch_size, num_workers: of the evaluation engine.
        progress: progress bars on stderr (shown only on a terminal).
        judges: GenAI-Bench judge files (:func:`i2imetric.meta_eval.judges.read_genai_bench_judge`),
            scored on the items of each protocol that has a rule for verdicts
            (:func:`i2imetric.meta_eval.bench_judges.add_judges`) and tabled beside the metric.

    Returns:
        The JSON written, as a dict; None on the other processes of an ``accelerate launch``.
    """
    from ..evaluation.baselines import BASELINES, resolve_baselines
    from ..evaluation.runner import evaluate, process_state

    # A scorer that selected its checkpoints on part of this benchmark is reported on the rest only.
    held = validated_units(metric, benchmark.name, loaded.unit_ids)
    loaded = loaded.without(held, "the metric was validated on them in training (its validated_on)").limited(limit)
    if not loaded.units:
        summaries = "; ".join(report.summary() for report in loaded.reports)
        raise I2IInputError(f"{benchmark.name}: no item to score ({summaries})")
    work = Path(out_dir) / benchmark.name
    manifest = work / "manifest.jsonl"
    # Under `accelerate launch` every process scores its share (the engine shards the
    # manifest); one writes the manifest first and, at the end, the statistics.
    state = process_state()
    if state.is_main_process:
        work.mkdir(parents=True, exist_ok=True)
        write_manifest(manifest, triplets_of(loaded))
    state.wait_for_everyone()
    chosen = [b.name for b in resolve_baselines(baselines, has_timm=metric.timm is not None)]
    kept = [name for name in chosen if name not in benchmark.skip_baselines]
    results = work / "results.jsonl"
    summary = evaluate(
        metric,
        manifest,
        out=results,
        baselines=kept or "none",
        batch_size=batch_size,
        num_workers=num_workers,
        progress=progress,
        metric_name=metric_name,
    )
    if not state.is_main_process:
        return None
    distances = {name for name, b in BASELINES.items() if not b.higher_is_better}
    lookup = _score_lookup(read_results(results), benchmark.subscores, distances)
    selection = select_units([[out.key for out in unit] for unit in loaded.units], loaded.unit_ids, lookup.get)
    options = {"n_resamples": n_resamples, "seed": seed, "validation_fraction": validation_fraction, "limit": limit}
    notes = list(selection.notes)
    notes += [f"{name} is a distance: its scores were negated (higher is better)." for name in kept if name in distances]
    dropped = [name for name in chosen if name in benchmark.skip_baselines]
    if dropped:
        notes.append(f"not reported here, meaningless on {benchmark.name}: {', '.join(dropped)}.")
    estimands = benchmark.measure(loaded, selection, options) if len(selection.used) >= 2 else []
    if not estimands:
        notes.append(f"{len(selection.used)} scored unit(s): too few for any protocol.")
    report = {
        "i2imetric_bench": BENCH_FORMAT,
        "benchmark": benchmark.name,
        "title": benchmark.title,
        "paper": benchmark.paper,
        "code": benchmark.code,
        "metric": metric_name,
        "data": _data_section(benchmark, loaded, data_root),
        "results_file": str(results.resolve()),
        "coverage": {
            "units": len(loaded.units),
            "scored": len(selection.used),
            "failed": len(selection.failed),
            "failed_examples": selection.failed[:_MAX_LISTED],
            "error_rows": summary.error_rows,
            "error_examples": [{"id": i, "error": e} for i, e in summary.error_examples],
        },
        "options": {**options, "baselines": kept, "judges": [j.path for j in judges], "confidence": 0.95},
        "protocols": _bootstrapped(estimands, n_resamples, seed, progress, benchmark.name),
        "notes": notes,
    }
    if judges:
        add_judges(report, judges)
    _write_json(Path(out_dir) / f"{benchmark.name}.json", report)
    return report


def _score_lookup(rows: list[dict], subscores: tuple[str, ...], distances: set[str]) -> dict[str, dict | None]:
    """Result id -> scorer -> higher-is-better score (None for an error row)."""
    lookup: dict[str, dict | None] = {}
    for row in rows:
        if row.get("status") != "ok":
            lookup[str(row["id"])] = None
            continue
        scores = {METRIC: _number(row.get("score"))}
        for name in subscores:
            scores[f"{METRIC}:{name}"] = _number((row.get("subscores") or {}).get(name))
        for name, value in (row.get("baselines") or {}).items():
            value = _number(value)
            scores[name] = -value if name in distances else value
        lookup[str(row["id"])] = scores
    return lookup


def _number(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def _data_section(benchmark: Benchmark, loaded: Loaded, data_root: str) -> dict:
    skipped = [(where, reason) for report in loaded.reports for where, reason in report.skipped]
    return {
        "root": data_root,
        "hf_repo": benchmark.hf_repo,
        "files": loaded.files,
        "read": sum(report.read for report in loaded.reports),
        "kept": sum(report.kept for report in loaded.reports),
        "skipped": len(skipped),
        "skipped_examples": [{"where": where, "reason": reason} for where, reason in skipped[:_MAX_LISTED]],
        "notes": loaded.notes,
    }


def _bootstrapped(estimands: list[Estimand], n_resamples: int, seed: int, progress: bool, name: str) -> list[dict]:
    total = sum(len(e.arrays) for e in estimands)
    out = []
    # disable=None: tqdm turns itself off when stderr is not a terminal (logs, CI, pipes).
    with tqdm(total=total, unit="bootstrap", desc=f"i2imetric bench {name}", disable=None if progress else True) as bar:
        for estimand in estimands:
            values = {}
            for scorer, arrays in estimand.arrays.items():
                values[scorer] = _estimate(estimand.fns.get(scorer, estimand.fn), estimand, scorer, arrays, n_resamples, seed)
                bar.update(1)
            out.append(_protocol_entry(estimand, values))
    return out


def _estimate(fn, estimand: Estimand, scorer: str, arrays, n_resamples: int, seed: int) -> dict:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        if estimand.n >= 2:
            value, low, high = bootstrap_ci(fn, *arrays, n_resamples=n_resamples, seed=seed)
        else:
            value, low, high = float(fn(*arrays)), math.nan, math.nan
    entry = {"value": _finite(value), "ci95": [_finite(low), _finite(high)]}
    if estimand.params.get(scorer):
        entry["params"] = {k: _finite(v) for k, v in estimand.params[scorer].items()}
    dropped = [str(w.message) for w in caught if "bootstrap resamples" in str(w.message)]
    if dropped:
        entry["note"] = dropped[0]
    return entry


def _protocol_entry(estimand: Estimand, values: dict[str, dict]) -> dict:
    metric = values[METRIC]
    return {
        "name": estimand.key,
        "title": estimand.title,
        "primary": estimand.primary,
        "units": estimand.units,
        "n": estimand.n,
        **metric,
        "subscores": {s: v for s, v in values.items() if s.startswith(f"{METRIC}:")},
        "judges": {},  # filled by bench_judges.add_judges
        "baselines": {s: v for s, v in values.items() if s != METRIC and not s.startswith(f"{METRIC}:")},
        "breakdown": {s: {k: _finite(v) for k, v in b.items()} for s, b in estimand.breakdown.items()},
        "reference": [{"name": r.name, "value": _finite(r.value), "source": r.source} for r in estimand.references],
        "notes": list(estimand.notes),
        **({"items": {"ids": estimand.items[0], "labels": estimand.items[1]}} if estimand.items else {}),
    }


def _finite(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _write_json(path: Path, report: dict) -> None:
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as out:
        json.dump(report, out, indent=2, allow_nan=False)
        out.write("\n")
    os.replace(partial, path)


def summarize(report: dict) -> str:
    """A few lines for the terminal: each protocol's value and CI, and what could not be scored."""
    lines = [f"{report['benchmark']}: {report['coverage']['scored']} of {report['coverage']['units']} units scored"]
    for entry in report["protocols"]:
        low, high = entry["ci95"]
        value = "n/a" if entry["value"] is None else f"{entry['value']:.4f}"
        ci = "" if low is None else f" [{low:.4f}, {high:.4f}]"
        lines.append(f"  {entry['name']:<32} {value}{ci}  (n={entry['n']} {entry['units']})")
    if report["coverage"]["failed"]:
        lines.append(f"  {report['coverage']['failed']} unit(s) could not be scored, e.g. {report['coverage']['failed_examples'][:3]}")
    return "\n".join(lines)
