"""Batch evaluation: score a whole manifest, with baselines, resumably, on one or many processes.

    >>> summary = i2imetric.evaluate(metric, "bench.jsonl", out="results.jsonl")  # doctest: +SKIP
    >>> print(summary.format_table())  # doctest: +SKIP

What happens to the records:

1. Each record becomes one item per output image (see :mod:`i2imetric.evaluation.items`):
   a Triplet or Rating gives one row, a Pairwise two, ids ``<id>/a`` and ``<id>/b``.
2. Items with an ``ok`` row in the result file (or in shard files of an interrupted run)
   are skipped: rerunning the same command resumes. Items whose row is an error are
   scored again (fix the file or the record, then rerun), and their new row replaces the
   error row: such a run writes to a shard file and rewrites the result file once done
   (:func:`~i2imetric.evaluation.results.merge_results`). Scored rows of ids no longer in
   the input (stale) are kept, listed in the summary and never counted; their error rows,
   which hold no score, are dropped.
3. DataLoader workers decode (no larger than the encoders and pixel baselines need:
   :mod:`i2imetric.evaluation.items`) and preprocess; the main process encodes, reusing
   cached source and instruction embeddings (:mod:`i2imetric.evaluation.engine`), and scores.
4. Rows stream to the result file, flushed per batch (:mod:`i2imetric.evaluation.results`). A bad
   item (missing or corrupt file, empty instruction, no source) gives a row with
   ``status: "error"`` and the reason; the run goes on, unless ``fail_fast``.

A result file is never silently wrong: a run holds a lock on it (a second run on the same
``out`` fails at once), its header records the metric (config, weights and i2imetric
version), the baselines and the manifest, and a resume under another of them is refused
with :class:`~i2imetric.errors.ResultsError`, as is a resume on another kind of device or
in another precision, and a resume whose manifest now gives an already scored id other
inputs (each row names its ``source``, ``instruction``, ``output``). The header also lists
the manifest lines that were skipped as malformed, for any later reader of the file.

Under ``accelerate launch``, process ``i`` of ``n`` takes the records ``i::n``, streams
its rows to ``<out>.rank<i>.jsonl``, and once all are done process 0 merges them into
``out`` in input order. CSV and Parquet outputs are written that way too (as if by one
process), because only JSON Lines can be appended to safely.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .._numbers import check_int
from ..data.manifest import iter_manifest
from ..data.rows import LoadReport
from ..errors import I2IInputError, ResultsError
from ..hub.weights import sha256_file
from ..models.checkpoint import trainable_tensors
from ..models.metric import I2IMetric
from ..stats import bootstrap_ci
from ..version import __version__
from .baselines import Baseline, baseline_settings, resolve_baselines
from .engine import FeatureCache, ScoringEngine, compute_identity, item_inputs
from .items import DecodingDataset, WorkItem, collate, items_from_records
from .results import (
    INPUT_FIELDS,
    Completed,
    ResultsLock,
    RowAppender,
    check_output_format,
    check_resumable,
    completed_inputs,
    header_skipped_lines,
    make_header,
    merge_results,
    output_format,
    read_header,
    read_rows,
    shard_files,
    shard_path,
)

__all__ = ["evaluate", "EvalSummary", "SystemSummary", "default_num_workers", "metric_identity", "process_state"]

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
    metric_name: Optional[str] = None,
) -> "EvalSummary":
    """Score every record and stream one result row per scored output to ``out``.

    Args:
        metric: the metric to score with, on the device to use (CUDA runs under bf16 autocast).
        records: a manifest path (streamed), or an iterable of Triplet / Pairwise / Rating
            records (read into a list: the input is read more than once).
        out: the result file: ``.jsonl`` (streamed), ``.csv`` or ``.parquet`` (written at the end).
            Its ok rows are kept and their items skipped; its error rows are scored again.
        batch_size: outputs per forward pass.
        num_workers: DataLoader decoding processes; 0 decodes in this process; None picks
            :func:`default_num_workers`.
        baselines: ``"all"``, ``"none"``/None, or names from :data:`i2imetric.evaluation.baselines.BASELINES`
            (a list, or one comma-separated string).
        fail_fast: raise on the first bad record instead of writing an error row.
        cache_bytes, cache_entries: bounds of the source/instruction embedding cache;
            ``cache_bytes=0`` turns caching off.
        progress: show a progress bar (on the main process, when stderr is a terminal).
        metric_name: how the result header names the metric (e.g. the ``--metric`` given);
            default its config's name. Only the metric's config and weights decide
            whether a file may be resumed.

    Returns:
        An :class:`EvalSummary` of the rows in ``out`` (earlier ones included) for the
        items of ``records``.

    Raises:
        I2IInputError: bad options, an unreadable manifest line with ``fail_fast``, or
            with ``fail_fast`` the first bad record (naming its id and the reason).
        ResultsError: another run is writing ``out``; or ``out`` (or a shard of it) was
            made by another metric, on another kind of device or in another precision,
            with other baselines or another manifest, or has ok rows whose id now names
            other inputs.
    """
    check_int("batch_size", batch_size, 1)
    num_workers = default_num_workers() if num_workers is None else num_workers
    check_int("num_workers", num_workers, 0)
    out = Path(out)
    check_output_format(out)
    chosen = resolve_baselines(baselines, has_timm=metric.timm is not None)
    inputs = _Inputs(records, fail_fast)
    if inputs.manifest is not None and out.resolve() == inputs.manifest.resolve():
        raise I2IInputError(f"{out}: the result file would overwrite the manifest; choose another out")

    state = process_state()
    lock = _take_run_lock(out, state)
    try:
        setup = (metric_identity(metric, metric_name), [b.name for b in chosen], inputs.identity(),
                 baseline_settings(chosen))  # fmt: skip
        previous = [out, *shard_files(out)]
        check_resumable(previous, make_header(*setup))
        completed = completed_inputs(previous)
        recorded = read_header(out)
        state.wait_for_everyone()  # everyone has read the old rows before anyone appends
        own = _OwnPending(inputs, completed, state.process_index, state.num_processes)
        counts = own.count()
        skipped_lines = inputs.skipped_lines()  # known once the input has been read through
        header = make_header(*setup, skipped_lines=skipped_lines)
        # Rows to replace (retried errors), stale error rows to drop or a header to update must not be
        # appended beside the old ones: the run goes to a shard, merged into out at the end.
        rewrite = counts.retried or counts.stale_errors or (
            recorded is not None and header_skipped_lines(recorded) != skipped_lines)  # fmt: skip
        # Only JSON Lines can be appended to safely; CSV and Parquet are merged from a shard at the end.
        streams_to_out = state.num_processes == 1 and output_format(out) == "jsonl" and not rewrite

        sink_path = out if streams_to_out else shard_path(out, state.process_index)
        with RowAppender(sink_path, header) as sink:
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
            ordered_ids = (item.id for item in inputs.items(warn_duplicates=False))
            merge_results(out, ordered_ids, [b.name for b in chosen], header)
        state.wait_for_everyone()
        return _summarize(out, counts.ids, counts, skipped_lines)
    finally:
        if lock is not None:
            lock.release()


def _take_run_lock(out: Path, state) -> Optional[ResultsLock]:
    """The main process locks ``out`` for the whole run; if it cannot, every process stops here.

    One lock per run, not per shard: a run with another process count, or a single-process
    run streaming to ``out`` itself, must be kept out as well. The other processes learn the
    outcome from the main one, so none of them writes a row when the lock is taken.
    """
    lock, problem = None, None
    if state.is_main_process:
        try:
            lock = ResultsLock(out)
        except ResultsError as refused:
            problem = str(refused)
    problem = _broadcast(problem, state)
    if problem is not None:
        raise ResultsError(problem)
    return lock


def _broadcast(value, state):
    """The main process's ``value``, on every process (picklable values only)."""
    if state.num_processes == 1:
        return value
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([value], from_process=0)[0]


# ----------------------------------------------------------------------- identities


def _weights_sha256(metric: I2IMetric) -> str:
    """The ``weights_sha256`` of :func:`metric_identity`.

    A base from a file or tag is named by its source, so only the trainable tensors (LoRA
    and head, which merging leaves as they are) are hashed: a few MB. A random base exists
    only in memory (saving bundles it as a file with its sha256), so there every tensor
    counts, and hashing a ViT-B's 150M parameters took 0.3 s of every ``evaluate`` call.
    That digest is kept on the metric with a fingerprint of its tensors (storage, shape,
    dtype and version counter, which in-place changes through the tensor advance:
    optimizer steps, ``load_state_dict``) and reused while the fingerprint holds. Writes
    through ``.data`` escape the counter, so checkpoints with a real base, whose identity
    a resumed run relies on, are always hashed afresh.
    """
    sources = json.dumps([s.to_dict() if s is not None else None for s in (metric.base_source, metric.timm_source)],
                         sort_keys=True)  # fmt: skip
    random_base = any(s is not None and s.kind == "random" for s in (metric.base_source, metric.timm_source))
    tensors = metric.state_dict() if random_base else trainable_tensors(metric)
    fingerprint = None
    if random_base:
        fingerprint = (sources, tuple((tensor_name, tensor.data_ptr(), tensor._version, str(tensor.dtype), tuple(tensor.shape))
                                      for tensor_name, tensor in sorted(tensors.items())))  # fmt: skip
        memo = getattr(metric, "_weights_sha256_memo", None)
        if memo is not None and memo[0] == fingerprint:
            return memo[1]
    weights = hashlib.sha256(sources.encode())
    for tensor_name, tensor in sorted(tensors.items()):
        # One tensor at a time on the CPU: a whole state dict would double the memory in use.
        data = tensor.detach().cpu().contiguous().reshape(-1)
        weights.update(f"{tensor_name}:{data.dtype}:{tuple(tensor.shape)}".encode())
        weights.update(data.view(torch.uint8).numpy().tobytes())
    if fingerprint is not None:
        metric._weights_sha256_memo = (fingerprint, weights.hexdigest())
    return weights.hexdigest()


def metric_identity(metric: I2IMetric, name: Optional[str] = None) -> dict:
    """What a result header records of the metric that made its rows.

    Args:
        metric: the metric.
        name: how to name it (a checkpoint folder is recorded as its resolved path);
            default its config's name.

    Returns:
        ``name``; ``config_sha256`` of the architecture; ``weights_sha256`` of the weights
        a checkpoint defines (name, dtype, shape and bytes of every trainable tensor, and
        where the frozen base came from, a file by its sha256), so any change of LoRA,
        head or base changes it, while loading the same checkpoint again, or folding its
        LoRA into the base for inference, does not; ``version`` of i2imetric;
        ``calibration``, its Platt ``slope`` and ``intercept`` (None without one), so a
        reader of the rows (the HTML report) can show the calibrated score next to the
        raw one. Resuming does not compare it: it maps scores, it does not change them.
        ``device`` and ``precision``: where and how the engine computes
        (:func:`~i2imetric.evaluation.engine.compute_identity`); resuming compares them.
    """
    name = name or metric.config.name
    if os.path.isdir(name):
        name = os.path.realpath(name)
    config = json.dumps(metric.config.to_dict(), sort_keys=True, default=str)
    return {
        "name": name,
        "config_sha256": hashlib.sha256(config.encode()).hexdigest(),
        "weights_sha256": _weights_sha256(metric),
        "version": __version__,
        "calibration": vars(metric.calibration).copy() if metric.calibration is not None else None,
        **compute_identity(metric),
    }


# ------------------------------------------------------------------------ the inputs


class _Inputs:
    """The input records as items, readable again for each pass (count, score, merge)."""

    def __init__(self, records, fail_fast: bool):
        self.on_error = "raise" if fail_fast else "skip"
        self.manifest = Path(records) if isinstance(records, (str, os.PathLike)) else None
        self.records = None if self.manifest is not None else list(records)
        self.report: Optional[LoadReport] = None

    def items(self, warn_duplicates: bool) -> Iterator[WorkItem]:
        """The items, one pass; ``warn_duplicates`` on one pass only, so the warning comes once."""
        if self.manifest is None:
            return items_from_records(self.records, warn_duplicates)
        self._check_manifest()
        self.report = LoadReport(str(self.manifest))
        records = iter_manifest(self.manifest, on_error=self.on_error, report=self.report)
        return items_from_records(records, warn_duplicates)

    def identity(self) -> Optional[dict]:
        """What a result header records of the manifest: its resolved path and sha256 (None for in-memory records)."""
        if self.manifest is None:
            return None
        self._check_manifest()
        return {"path": str(self.manifest.resolve()), "sha256": sha256_file(self.manifest)}

    def _check_manifest(self) -> None:
        if not self.manifest.is_file():
            raise I2IInputError(f"{self.manifest}: no such manifest file")

    def skipped_lines(self) -> list[tuple[str, str]]:
        """Manifest lines that were not valid records, as ``(file:line, reason)``."""
        return list(self.report.skipped) if self.report is not None else []


@dataclass
class _Counts:
    pending: int  # this process's items still to score
    resumed: int  # items of the whole input with an ok row already in the result files
    retried: int  # items of the whole input whose row there is an error: scored again
    stale: int  # ok rows there whose id is not in the input: kept, never counted
    stale_errors: int  # error rows there whose id is not in the input: dropped (a fixed record's old reason)
    ids: set  # every item id of the input (read once, by the counting pass)


class _OwnPending:
    """This process's share of the items (records ``rank::world``), less those already done.

    Args:
        completed: id -> :class:`~i2imetric.evaluation.results.Completed` of the rows already written.
    """

    def __init__(self, inputs: _Inputs, completed: dict[str, Completed], rank: int, world: int):
        self.inputs, self.completed, self.rank, self.world = inputs, completed, rank, world

    def __iter__(self) -> Iterator[WorkItem]:
        items = self.inputs.items(warn_duplicates=False)
        return (item for item in items if self._is_own(item) and not self._scored(item))

    def count(self) -> _Counts:
        """One pass over the input: the progress bar's total, how much was done before, and a check of it."""
        pending = resumed = retried = 0
        ids = set()
        for item in self.inputs.items(warn_duplicates=True):
            ids.add(item.id)
            done = self.completed.get(item.id)
            if done is not None:
                # An error row is no score to keep: its item is scored again whatever inputs it named.
                if done.ok:
                    _check_same_inputs(item, done.path, done.inputs)
                retried += not done.ok
            resumed += self._scored(item)
            pending += self._is_own(item) and not self._scored(item)
        stale = [done for item_id, done in self.completed.items() if item_id not in ids]
        return _Counts(pending, resumed, retried, stale=sum(done.ok for done in stale),
                       stale_errors=sum(not done.ok for done in stale), ids=ids)

    def _scored(self, item: WorkItem) -> bool:
        done = self.completed.get(item.id)
        return done is not None and done.ok

    def _is_own(self, item: WorkItem) -> bool:
        return item.record_index % self.world == self.rank


def _check_same_inputs(item: WorkItem, path: Path, recorded: tuple) -> None:
    """Refuse to skip an item whose id was scored (an ok row) for other inputs: that row is not its score."""
    current = item_inputs(item)
    for name, old in zip(INPUT_FIELDS, recorded):
        if (old or None) != (current[name] or None):  # CSV cannot tell "" from null
            raise ResultsError(
                f"{path}: row {item.id!r} was scored for {name} {old!r}, but the input's {item.id!r} now has "
                f"{current[name]!r}; the records changed under the same ids: use another --out, or delete {path} "
                "to start over"
            )


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
    # With a cache, a worker sends a source's pixels once; the engine keeps its embedding.
    dataset = DecodingDataset(*metric.image_preprocessors(), pixel_baselines, skip_sent_sources=cache is not None)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_sampler=_batched(items, batch_size),
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=metric.device.type == "cuda",
    )
    engine = ScoringEngine(metric, baselines, cache, decoder=dataset)
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
        ok, error_rows: rows scored, and rows that could not be (``status: "error"``),
            of the items of this run's input only.
        resumed: ok rows that were already there before this run (not scored again).
        systems: per system (rows without one count as ``"-"``), then ``"all"`` when
            there is more than one system.
        error_examples: ``(id, reason)`` of the first few error rows.
        skipped_lines: manifest lines that were not valid records, ``(file:line, reason)``.
        retried: items whose earlier row was an error, scored again by this run.
        stale_rows, stale_examples: how many ok rows have an id that is no longer in the
            input (kept in ``out``, so no score is lost, but not counted), and the first few
            ids. An error row of such an id (a record fixed since, under a new content id)
            is dropped: it holds no score.
    """

    out: str
    ok: int
    error_rows: int
    resumed: int
    systems: list[SystemSummary]
    error_examples: list[tuple[str, str]] = field(default_factory=list)
    skipped_lines: list[tuple[str, str]] = field(default_factory=list)
    retried: int = 0
    stale_rows: int = 0
    stale_examples: list[str] = field(default_factory=list)

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
        retried = f", {self.retried} failed earlier and scored again" if self.retried else ""
        lines.append(
            f"{self.out}: {self.ok + self.error_rows} rows ({self.ok} ok, {self.error_rows} error), "
            f"{self.resumed} from an earlier run{retried}"
        )
        lines += [f"  error {item_id}: {reason}" for item_id, reason in self.error_examples]
        if self.error_rows > len(self.error_examples):
            lines.append(f"  ... {self.error_rows - len(self.error_examples)} more error rows in {self.out}")
        lines += [f"  skipped manifest line {where}: {reason}" for where, reason in self.skipped_lines]
        if self.stale_rows:
            examples = ", ".join(repr(item_id) for item_id in self.stale_examples)
            unnamed = self.stale_rows - len(self.stale_examples)
            more = f" and {unnamed} more" if unnamed else ""
            lines.append(
                f"  kept {self.stale_rows} scored row(s) whose ids are no longer in the input "
                f"(not counted here): {examples}{more}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The summary as JSON-ready data."""
        return {
            "out": self.out,
            "ok": self.ok,
            "error_rows": self.error_rows,
            "errors": self.errors,
            "resumed": self.resumed,
            "retried": self.retried,
            "stale_rows": self.stale_rows,
            "stale_examples": list(self.stale_examples),
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


def _summarize(out: Path, input_ids: set, counts: _Counts, skipped_lines: list[tuple[str, str]]) -> EvalSummary:
    """The summary of ``out`` once the run is done: by then it holds one row per item of the
    input, plus the ok rows of ids no longer in it (stale: named, never counted)."""
    by_system: dict[str, _Tally] = {}
    overall = _Tally()
    error_rows = 0
    examples: list[tuple[str, str]] = []
    stale: list[str] = []
    for row in read_rows(out):
        if row["id"] not in input_ids:
            stale.append(row["id"])
        elif row["status"] == "ok":
            by_system.setdefault(row.get("system") or "-", _Tally()).add(row)
            overall.add(row)
        else:
            error_rows += 1
            if len(examples) < _MAX_ERROR_EXAMPLES:
                examples.append((row["id"], row["error"]))
    systems = [tally.summary(name) for name, tally in sorted(by_system.items())]
    if len(systems) > 1:
        systems.append(overall.summary("all"))
    return EvalSummary(str(out), len(overall.scores), error_rows, counts.resumed, systems, examples, skipped_lines,
                       retried=counts.retried, stale_rows=len(stale), stale_examples=stale[:_MAX_ERROR_EXAMPLES])  # fmt: skip


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
