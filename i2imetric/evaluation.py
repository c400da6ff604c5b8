"""Batch evaluation: score a whole manifest, with baselines, resumably, on one or many processes.

    >>> summary = i2imetric.evaluate(metric, "bench.jsonl", out="results.jsonl")  # doctest: +SKIP
    >>> print(summary.format_table())  # doctest: +SKIP

What happens to the records:

1. Each record becomes one item per output image (see :mod:`i2imetric._eval_items`):
   a Triplet or Rating gives one row, a Pairwise two, ids ``<id>/a`` and ``<id>/b``.
2. Items already in the result file (or in shard files of an interrupted run) are
   skipped: rerunning the same command resumes. A row is done whatever its status; to
   retry failed rows, delete them from the file.
3. DataLoader workers decode and preprocess; the main process encodes, reusing cached
   source and instruction embeddings (:mod:`i2imetric._engine`), and scores.
4. Rows stream to the result file, flushed per batch (:mod:`i2imetric._results`). A bad
   item (missing or corrupt file, empty instruction, no source) gives a row with
   ``status: "error"`` and the reason; the run goes on, unless ``fail_fast``.

Under ``accelerate launch``, process ``i`` of ``n`` takes the records ``i::n``, streams
its rows to ``<out>.rank<i>.jsonl``, and once all are done process 0 merges them into
``out`` in input order. CSV and Parquet outputs are written that way too (as if by one
process), because only JSON Lines can be appended to safely.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ._engine import FeatureCache, ScoringEngine
from ._eval_items import DecodingDataset, WorkItem, collate, items_from_records
from ._manifest import iter_manifest
from ._results import (
    RowAppender,
    check_output_format,
    completed_ids,
    merge_results,
    output_format,
    read_rows,
    shard_files,
    shard_path,
)
from ._rows import LoadReport
from .baselines import Baseline, resolve_baselines
from .errors import I2IInputError
from .metric import I2IMetric
from .stats import bootstrap_ci

__all__ = ["evaluate", "EvalSummary", "SystemSummary", "default_num_workers", "process_state"]

# Per source a ViT-B/32 keeps ~100 KB (pooled + 49 patch tokens), a ViT-B/16 ~400 KB.
DEFAULT_CACHE_BYTES = 512 * 2**20
DEFAULT_CACHE_ENTRIES = 50_000


def default_num_workers() -> int:
    """Decoding workers to use: half the CPU cores (the other half feeds the model), 1 to 8."""
    return min(8, max(1, (os.cpu_count() or 2) // 2))


def process_state():
    """This process's place in an ``accelerate launch`` / ``torchrun`` group (a group of one when run alone).

    accelerate forms a process group on CPUs only when told to use the CPU, so tell it
    wherever there is no CUDA (and under ``accelerate launch --cpu``).
    """
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    return PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available())


def evaluate(
    metric: I2IMetric,
    records: str | os.PathLike | Iterable,
    out: str | os.PathLike,
    *,
    batch_size: int = 32,
    num_workers: Optional[int] = None,
    baselines: str | Sequence[str] | None = "all",
    fail_fast: bool = False,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    cache_entries: int = DEFAULT_CACHE_ENTRIES,
    progress: bool = True,
) -> "EvalSummary":
    """Score every record and stream one result row per scored output to ``out``.

    Args:
        metric: the metric to score with, on the device to use (CUDA runs under bf16 autocast).
        records: a manifest path (streamed), or an iterable of Triplet / Pairwise / Rating
            records (read into a list: the input is read more than once).
        out: the result file: ``.jsonl`` (streamed), ``.csv`` or ``.parquet`` (written at the end).
            Rows already in it are kept and their items skipped.
        batch_size: outputs per forward pass.
        num_workers: DataLoader decoding processes; 0 decodes in this process; None picks
            :func:`default_num_workers`.
        baselines: ``"all"``, ``"none"``/None, or names from :data:`i2imetric.baselines.BASELINES`
            (a list, or one comma-separated string).
        fail_fast: raise on the first bad record instead of writing an error row.
        cache_bytes, cache_entries: bounds of the source/instruction embedding cache;
            ``cache_bytes=0`` turns caching off.
        progress: show a progress bar (on the main process, when stderr is a terminal).

    Returns:
        An :class:`EvalSummary` of everything in ``out`` (earlier rows included).

    Raises:
        I2IInputError: bad options, an unreadable manifest line with ``fail_fast``, or
            with ``fail_fast`` the first bad record (naming its id and the reason).
    """
    _check_int(batch_size, "batch_size", minimum=1)
    num_workers = default_num_workers() if num_workers is None else num_workers
    _check_int(num_workers, "num_workers", minimum=0)
    out = Path(out)
    check_output_format(out)
    chosen = resolve_baselines(baselines, has_timm=metric.timm is not None)
    inputs = _Inputs(records, fail_fast)
    if inputs.manifest is not None and out.resolve() == inputs.manifest.resolve():
        raise I2IInputError(f"{out}: the result file would overwrite the manifest; choose another out")

    state = process_state()
    # Only JSON Lines can be appended to safely; CSV and Parquet are merged from a shard at the end.
    streams_to_out = state.num_processes == 1 and output_format(out) == "jsonl"
    completed = completed_ids([out, *shard_files(out)])
    state.wait_for_everyone()  # everyone has read the old rows before anyone appends
    own = _OwnPending(inputs, completed, state.process_index, state.num_processes)
    counts = own.count()

    sink_path = out if streams_to_out else shard_path(out, state.process_index)
    with RowAppender(sink_path) as sink:
        _score_items(
            metric,
            own,
            sink,
            total=counts.pending,
            baselines=chosen,
            batch_size=batch_size,
            num_workers=num_workers,
            fail_fast=fail_fast,
            cache=_make_cache(cache_bytes, cache_entries),
            progress=progress and state.is_main_process,
        )
    state.wait_for_everyone()
    if state.is_main_process and shard_files(out):
        merge_results(out, (item.id for item in inputs.items()), [b.name for b in chosen])
    state.wait_for_everyone()
    return _summarize(out, counts.resumed, inputs.skipped_lines())


# ------------------------------------------------------------------------ the inputs


class _Inputs:
    """The input records as items, readable again for each pass (count, score, merge)."""

    def __init__(self, records, fail_fast: bool):
        self.on_error = "raise" if fail_fast else "skip"
        self.manifest = Path(records) if isinstance(records, (str, os.PathLike)) else None
        self.records = None if self.manifest is not None else list(records)
        self.report: Optional[LoadReport] = None

    def items(self) -> Iterator[WorkItem]:
        if self.manifest is None:
            return items_from_records(self.records)
        if not self.manifest.is_file():
            raise I2IInputError(f"{self.manifest}: no such manifest file")
        self.report = LoadReport(str(self.manifest))
        return items_from_records(iter_manifest(self.manifest, on_error=self.on_error, report=self.report))

    def skipped_lines(self) -> list[tuple[str, str]]:
        """Manifest lines that were not valid records, as ``(file:line, reason)``."""
        return list(self.report.skipped) if self.report is not None else []


@dataclass
class _Counts:
    pending: int  # this process's items still to score
    resumed: int  # items of the whole input already in the result files


class _OwnPending:
    """This process's share of the items (records ``rank::world``), less those already done."""

    def __init__(self, inputs: _Inputs, completed: set[str], rank: int, world: int):
        self.inputs, self.completed, self.rank, self.world = inputs, completed, rank, world

    def __iter__(self) -> Iterator[WorkItem]:
        return (item for item in self.inputs.items() if self._is_own(item) and item.id not in self.completed)

    def count(self) -> _Counts:
        """One pass over the input: the progress bar's total, and how much was done before."""
        pending = resumed = 0
        for item in self.inputs.items():
            done = item.id in self.completed
            resumed += done
            pending += self._is_own(item) and not done
        return _Counts(pending, resumed)

    def _is_own(self, item: WorkItem) -> bool:
        return item.record_index % self.world == self.rank


# ---------------------------------------------------------------------- the scoring


def _score_items(
    metric: I2IMetric,
    items: Iterable[WorkItem],
    sink: RowAppender,
    *,
    total: int,
    baselines: list[Baseline],
    batch_size: int,
    num_workers: int,
    fail_fast: bool,
    cache: Optional[FeatureCache],
    progress: bool,
) -> None:
    """Decode ``items`` in DataLoader workers, score them here, and write each batch's rows as it lands."""
    metric.eval()
    pixel_baselines = {b.name: b.compute for b in baselines if b.kind == "pixels"}
    loader = torch.utils.data.DataLoader(
        DecodingDataset(*metric.image_preprocessors(), pixel_baselines),
        batch_sampler=_batched(items, batch_size),
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=metric.device.type == "cuda",
    )
    engine = ScoringEngine(metric, baselines, cache)
    with tqdm(total=total, unit="output", desc="i2imetric eval", disable=None if progress else True) as bar:
        for batch in loader:
            if fail_fast and batch.failures:
                position, reason = next(iter(batch.failures.items()))
                raise I2IInputError(f"{batch.items[position].id}: {reason}")
            sink.write(engine.score(batch))
            bar.update(len(batch.items))


def _batched(items: Iterable[WorkItem], size: int) -> Iterator[list[WorkItem]]:
    """Lists of ``size`` items: the DataLoader's batch sampler, streaming the input."""
    batch: list[WorkItem] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _make_cache(max_bytes: int, max_entries: int) -> Optional[FeatureCache]:
    return FeatureCache(max_bytes, max_entries) if max_bytes > 0 and max_entries > 0 else None


def _check_int(value, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise I2IInputError(f"{name} must be an int >= {minimum}, got {value!r}")


# ---------------------------------------------------------------------- the summary


@dataclass
class SystemSummary:
    """Scores of one system's ok rows (or of all rows, ``system="all"``).

    ``ci95`` is the percentile-bootstrap 95% interval of the mean score (None below 2 rows);
    ``baselines`` holds each baseline's mean over the rows that have it.
    """

    system: str
    count: int
    mean: float
    ci95: Optional[tuple[float, float]]
    baselines: dict[str, Optional[float]]


@dataclass
class EvalSummary:
    """What a run left in its result file.

    Args:
        out: the result file.
        ok, error_rows: rows scored, and rows that could not be (``status: "error"``).
        resumed: rows that were already there before this run.
        systems: per system (rows without one count as ``"-"``), then ``"all"`` when
            there is more than one system.
        error_examples: ``(id, reason)`` of the first few error rows.
        skipped_lines: manifest lines that were not valid records, ``(file:line, reason)``.
    """

    out: str
    ok: int
    error_rows: int
    resumed: int
    systems: list[SystemSummary]
    error_examples: list[tuple[str, str]] = field(default_factory=list)
    skipped_lines: list[tuple[str, str]] = field(default_factory=list)

    @property
    def errors(self) -> int:
        """Everything that did not become a score: error rows plus unreadable manifest lines."""
        return self.error_rows + len(self.skipped_lines)

    def format_table(self) -> str:
        """A plain-text table: mean score and 95% CI per system, baseline means, then the errors."""
        baseline_names = list(self.systems[0].baselines) if self.systems else []
        header = ["system", "n", "score", "95% CI", *baseline_names]
        body = [
            [
                s.system,
                str(s.count),
                f"{s.mean:+.4f}",
                _format_ci(s.ci95),
                *(_format_mean(v) for v in s.baselines.values()),
            ]
            for s in self.systems
        ]
        widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in [header, *body]]
        lines.append(
            f"{self.out}: {self.ok + self.error_rows} rows ({self.ok} ok, {self.error_rows} error), "
            f"{self.resumed} from an earlier run"
        )
        lines += [f"  error {item_id}: {reason}" for item_id, reason in self.error_examples]
        if self.error_rows > len(self.error_examples):
            lines.append(f"  ... {self.error_rows - len(self.error_examples)} more error rows in {self.out}")
        lines += [f"  skipped manifest line {where}: {reason}" for where, reason in self.skipped_lines]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The summary as JSON-ready data."""
        return {
            "out": self.out,
            "ok": self.ok,
            "error_rows": self.error_rows,
            "errors": self.errors,
            "resumed": self.resumed,
            "systems": [
                {
                    "system": s.system,
                    "count": s.count,
                    "mean": s.mean,
                    "ci95": list(s.ci95) if s.ci95 else None,
                    "baselines": s.baselines,
                }
                for s in self.systems
            ],
            "error_examples": [{"id": i, "error": reason} for i, reason in self.error_examples],
            "skipped_lines": [{"where": where, "reason": reason} for where, reason in self.skipped_lines],
        }


_MAX_ERROR_EXAMPLES = 5


def _summarize(out: Path, resumed: int, skipped_lines: list[tuple[str, str]]) -> EvalSummary:
    by_system: dict[str, _Tally] = {}
    overall = _Tally()
    error_rows = 0
    examples: list[tuple[str, str]] = []
    for row in read_rows(out):
        if row["status"] == "ok":
            by_system.setdefault(row.get("system") or "-", _Tally()).add(row)
            overall.add(row)
        else:
            error_rows += 1
            if len(examples) < _MAX_ERROR_EXAMPLES:
                examples.append((row["id"], row["error"]))
    systems = [tally.summary(name) for name, tally in sorted(by_system.items())]
    if len(systems) > 1:
        systems.append(overall.summary("all"))
    return EvalSummary(str(out), len(overall.scores), error_rows, resumed, systems, examples, skipped_lines)


class _Tally:
    """Scores of a group of rows, and running sums of their baselines (not the rows themselves)."""

    def __init__(self):
        self.scores: list[float] = []
        self.baseline_sums: dict[str, float] = {}
        self.baseline_counts: dict[str, int] = {}

    def add(self, row: dict) -> None:
        self.scores.append(row["score"])
        for name, value in row["baselines"].items():
            self.baseline_sums[name] = self.baseline_sums.get(name, 0.0) + (value or 0.0)
            self.baseline_counts[name] = self.baseline_counts.get(name, 0) + (value is not None)

    def summary(self, system: str) -> SystemSummary:
        scores = np.array(self.scores, dtype=float)
        ci95 = None
        if len(scores) >= 2:
            _, low, high = bootstrap_ci(lambda x: x.mean(axis=-1), scores, vectorized=True)
            ci95 = (low, high)
        baselines = {
            name: total / self.baseline_counts[name] if self.baseline_counts[name] else None
            for name, total in self.baseline_sums.items()
        }
        return SystemSummary(system, len(scores), float(scores.mean()), ci95, baselines)


def _format_ci(ci: Optional[tuple[float, float]]) -> str:
    return f"[{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else "-"


def _format_mean(value: Optional[float]) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.4f}"
