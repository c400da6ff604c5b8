"""Result files: streaming JSONL rows that survive a kill, and CSV/Parquet exports.

Rows stream to JSON Lines, one ``write`` per row, flushed per batch. A process killed
mid-write leaves at most one torn last line (no newline at its end); a power cut can also
leave a tail of NUL bytes (blocks the file system allotted but never wrote). Readers
ignore such a tail, and :class:`RowAppender` truncates it away before appending, so
resuming never duplicates or loses a row. CSV and Parquet cannot be appended safely, so
they are written whole, from the JSONL shard files, when a run ends (:func:`merge_results`).

Every result file says what made it, so a resume never mixes results of two setups.
A JSONL file (result or shard) starts with one header line::

    {"i2imetric_results": 1, "status": "header",
     "metric": {"name": "demo", "config_sha256": "...", "weights_sha256": "...", "version": "0.1.0",
                "calibration": {"slope": 0.12, "intercept": 1.2}, "device": "cuda",
                "precision": {"towers": "float32", "autocast": "bfloat16", "head": "float32"}},
     "baselines": ["clip_t", "l2"], "baseline_settings": {"pixel_max_side": 1024},
     "manifest": {"path": "/abs/bench.jsonl", "sha256": "..."},
     "skipped_lines": [{"where": "/abs/bench.jsonl:14", "reason": "not valid JSON ..."}]}

(``manifest`` is null for records passed in memory; ``skipped_lines`` lists the manifest
lines that were no valid record when the file was last written, so a reader of the file
alone sees what was never scored). :func:`read_rows` skips it, and
``"status": "header"`` keeps it out of readers that only count ``ok`` rows. A CSV or
Parquet file keeps the same header in a sidecar, ``<out>.header.json``: one place for both
flat formats, readable without pyarrow. :func:`read_header` reads either.
:func:`check_resumable` refuses to add to a file whose header names another metric
(config, weights or i2imetric version; the name alone may differ), another device type or
precision (a file started on a CPU in float32 is not continued on a GPU under autocast),
other baselines or baseline settings (the pixel baselines' working size), or another
manifest path, and a file that has rows but no header. The manifest's sha256 is
recorded, not compared: fixing a malformed line must stay resumable, and each row carries
its ``source``, ``instruction`` and ``output``, which the engine checks against the record
of the same id before it skips it.

One row per item id: a rerun skips the ids that have an ``ok`` row and scores again those
whose row is an error (a file fixed since, or a record given other inputs). The new row
never goes into the file beside the old one: the run writes to a shard file and
:func:`merge_results` rewrites the result file, keeping per id the row that replaces the
others (:func:`kept_rows`), and dropping rows of ids no longer in the input.

:class:`ResultsLock` makes a run the only writer of its result file for as long as it runs.

A CSV or Parquet row is flat: ``id, system, status, error, score, source, instruction,
output``, then ``subscores.<name>`` and ``baselines.<name>`` columns.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import socket
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Optional, Sequence

from .._numbers import none_if_missing
from ..errors import I2IInputError, ResultsError

try:
    import fcntl
except ImportError:  # Windows: runs are not locked there (see ResultsLock)
    fcntl = None

__all__ = [
    "INPUT_FIELDS",
    "ResultsLock",
    "RowAppender",
    "check_output_format",
    "check_resumable",
    "Completed",
    "completed_inputs",
    "header_skipped_lines",
    "is_header",
    "kept_rows",
    "make_header",
    "merge_results",
    "output_format",
    "read_header",
    "read_results",
    "read_rows",
    "shard_files",
    "shard_path",
]

log = logging.getLogger("i2imetric.evaluation")

RESULTS_FORMAT = 1
HEADER_KEY = "i2imetric_results"
# This module stays torch-free (readers such as meta-evaluation use read_rows and
# is_header); only the flat formats need the subscore names, from the torch-side metric.
# What each row records of its input, so any reader finds the images and a resume can
# tell that a row still belongs to the record of its id.
INPUT_FIELDS = ("source", "instruction", "output")
_FLAT_HEAD = ("id", "system", "status", "error", "score", *INPUT_FIELDS)


def output_format(path: Path) -> str:
    """``"csv"`` or ``"parquet"`` by the file's suffix; anything else is JSON Lines."""
    suffix = path.suffix.lower()
    return {".csv": "csv", ".parquet": "parquet"}.get(suffix, "jsonl")


def check_output_format(path: Path) -> None:
    """Fail before any work when the output format needs a library that is missing."""
    if output_format(path) == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise I2IInputError(f"{path}: writing Parquet needs pyarrow (pip install pyarrow), or use .jsonl") from None


def shard_path(out: Path, rank: int) -> Path:
    """Where process ``rank`` streams its rows before they are merged into ``out``."""
    return out.with_name(f"{out.name}.rank{rank}.jsonl")


def shard_files(out: Path) -> list[Path]:
    """The shard files of ``out`` present on disk, from this run or interrupted ones, oldest write first.

    In write order, not name order, so that where an id's row is in two shards (two runs
    with different process counts both failed on it) the file written last is read last
    and its row counts (:func:`kept_rows`). That is the newer attempt unless an older shard
    was appended to again after it; only which error message is shown can differ, since an
    ok row is never replaced.
    """
    pattern = re.compile(re.escape(out.name) + r"\.rank\d+\.jsonl")
    if not out.parent.is_dir():
        return []
    shards = (p for p in out.parent.iterdir() if pattern.fullmatch(p.name))
    return sorted(shards, key=lambda p: (p.stat().st_mtime_ns, p.name))


# ---------------------------------------------------------------------------- header


def make_header(
    metric: dict,
    baselines: Sequence[str],
    manifest: Optional[dict],
    baseline_settings: Optional[dict] = None,
    skipped_lines: Sequence[tuple[str, str]] = (),
) -> dict:
    """The header of a result file: what made its rows (see the module docstring).

    Args:
        metric: ``name``, ``config_sha256``, ``weights_sha256`` and ``version`` of the
            metric, and the ``device`` and ``precision`` it scored in.
        baselines: the baselines' names.
        manifest: ``path`` and ``sha256`` of the manifest, or None for in-memory records.
        baseline_settings: what else decides the baselines' values, e.g. the pixel
            baselines' working size; rows made under other settings are not comparable.
        skipped_lines: ``(file:line, reason)`` of the manifest lines that were not valid
            records (recorded, never compared: fixing one must stay resumable).
    """
    return {
        HEADER_KEY: RESULTS_FORMAT,
        "status": "header",
        "metric": dict(metric),
        "baselines": list(baselines),
        "baseline_settings": dict(baseline_settings or {}),
        "manifest": None if manifest is None else dict(manifest),
        "skipped_lines": [{"where": where, "reason": reason} for where, reason in skipped_lines],
    }


def header_skipped_lines(header: Optional[dict]) -> list[tuple[str, str]]:
    """The ``(file:line, reason)`` a header records as skipped manifest lines ([] for a header from before they were)."""
    entries = (header or {}).get("skipped_lines") or []
    return [(e.get("where"), e.get("reason")) for e in entries if isinstance(e, dict)]


def is_header(row) -> bool:
    """Whether a parsed JSONL line is a result file's header rather than a row."""
    return isinstance(row, dict) and HEADER_KEY in row


def header_path(out: Path) -> Path:
    """The sidecar that holds the header of a CSV or Parquet result file."""
    return out.with_name(out.name + ".header.json")


def read_header(path: Path) -> Optional[dict]:
    """The header of a result file (any format), or None when it has none or does not exist."""
    if output_format(path) != "jsonl":
        sidecar = header_path(path)
        if not (path.exists() and sidecar.exists()):
            return None
        try:
            header = json.loads(sidecar.read_bytes())
        except (json.JSONDecodeError, UnicodeDecodeError) as problem:
            raise ResultsError(
                f"{sidecar}: not a result header ({problem}); delete {path} and {sidecar} to start over"
            ) from None
        return header if is_header(header) else None
    if not path.exists():
        return None
    lines = _intact_lines(path)
    first = next(lines, None)
    lines.close()
    if first is None:
        return None
    row = _parse_line(path, *first)
    return row if is_header(row) else None


def check_resumable(paths: Iterable[Path], header: dict) -> None:
    """Refuse to add rows made by ``header``'s setup to a file made by another.

    Args:
        paths: the result file and its shard files (missing ones are fine).
        header: this run's header, from :func:`make_header`.

    Raises:
        ResultsError: a file has rows but no header, a header of a newer format, or one
            naming another metric, other baselines or another manifest; one line naming
            both setups and how to fix it.
    """
    for path in paths:
        recorded = read_header(path)
        if recorded is None:
            if _has_rows(path):
                raise ResultsError(
                    f"{path}: has result rows but no i2imetric header (written by an older i2imetric, or not a "
                    "result file), so nothing says which metric made them; use another --out, or delete it to start over"
                )
            continue
        if not isinstance(recorded[HEADER_KEY], int) or recorded[HEADER_KEY] > RESULTS_FORMAT:
            raise ResultsError(
                f"{path}: result format {recorded[HEADER_KEY]!r} is newer than this i2imetric writes "
                f"({RESULTS_FORMAT}); upgrade i2imetric, or use another --out"
            )
        for what, describe, other in _SETUP_PARTS:
            (old_key, old_text), (new_key, new_text) = describe(recorded.get(what)), describe(header.get(what))
            if old_key != new_key:
                raise ResultsError(
                    f"{path}: holds results of {other}: recorded {old_text}, this run {new_text}; resuming "
                    f"would mix them: use another --out, or delete {path} to start over"
                )


def _has_rows(path: Path) -> bool:
    rows = read_rows(path)
    found = next(rows, None) is not None
    if hasattr(rows, "close"):
        rows.close()
    return found


def _describe_metric(metric) -> tuple:
    """(what must be equal, how to name it): the name alone may differ (a path vs a registered name)."""
    metric = metric if isinstance(metric, dict) else {}
    key = tuple(metric.get(k) for k in ("config_sha256", "weights_sha256", "version"))
    text = (
        f"metric {metric.get('name')!r} (config {str(metric.get('config_sha256'))[:12]}, "
        f"weights {str(metric.get('weights_sha256'))[:12]}, i2imetric {metric.get('version')})"
    )
    return key, text


_DEFAULT_PRECISION = {"towers": "float32", "autocast": None, "head": "float32"}


def _describe_compute(metric) -> tuple:
    """Device type and precision, recorded in the metric's entry (see :func:`~i2imetric.evaluation.engine.compute_identity`)."""
    metric = metric if isinstance(metric, dict) else {}
    device, precision = metric.get("device"), metric.get("precision")
    if device is None and precision is None:
        # A file from before these were recorded: taken as the default placement (the CPU in
        # float32, where the engine never autocast), so such files resume there as they did.
        # One made on a GPU, where the head then ran under autocast too, would be taken for
        # one from the CPU: only the CPU run of an unrecorded file is accepted, no other.
        device, precision = "cpu", _DEFAULT_PRECISION
    if isinstance(precision, dict):
        autocast = precision.get("autocast")
        text = (
            f"device {device}, towers {precision.get('towers')}"
            + (f" under {autocast} autocast" if autocast else " without autocast")
            + f", head {precision.get('head')}"
        )
        return (device, tuple(sorted(precision.items()))), text
    return (device, repr(precision)), f"device {device}, precision {precision!r}"


def _describe_baselines(baselines) -> tuple:
    names = sorted(baselines or [])
    return tuple(names), f"baselines {','.join(names) or 'none'}"


def _describe_baseline_settings(settings) -> tuple:
    # A header from before settings were recorded has none: the same as a run that needs none.
    settings = {} if settings is None else settings
    items = sorted(settings.items()) if isinstance(settings, dict) else [("unreadable", repr(settings))]
    return tuple(items), "baseline settings " + (", ".join(f"{k}={v}" for k, v in items) or "none")


def _describe_manifest(manifest) -> tuple:
    if not isinstance(manifest, dict):
        return None, "records passed in memory"
    return manifest.get("path"), f"manifest {manifest.get('path')}"


# (header key, how to compare and name it, what a difference means)
_SETUP_PARTS = (
    ("metric", _describe_metric, "another metric"),
    ("metric", _describe_compute, "another device or precision"),
    ("baselines", _describe_baselines, "other baselines"),
    ("baseline_settings", _describe_baseline_settings, "baselines computed otherwise"),
    ("manifest", _describe_manifest, "another manifest"),
)


# --------------------------------------------------------------------------- reading


def read_rows(path: Path) -> Iterator[dict]:
    """The rows of a result file (any format): no header, and no torn or NUL tail."""
    if not path.exists():
        return iter(())
    fmt = output_format(path)
    if fmt == "csv":
        return _read_csv(path)
    if fmt == "parquet":
        return _read_parquet(path)
    return _read_jsonl(path)


class Completed(NamedTuple):
    """What a rerun needs to know of the row kept for an id (:func:`kept_rows`)."""

    path: Path  # the file it is in
    inputs: tuple  # its (source, instruction, output)
    ok: bool  # scored; an error row's item is scored again


def kept_rows(paths: Iterable[Path], keep: Callable[[Path, dict], Any] = lambda path, row: row) -> dict[str, Any]:
    """Id -> ``keep(file, row)`` of the one row that counts for each id across ``paths``.

    ``paths`` are read in order (the result file, then its shard files), each top to
    bottom. A later row of an id replaces an earlier one, which is how a retried error
    row gives way to its new row, except that an error row never replaces an ``ok`` one:
    ok rows are never scored again, so an error row after one is an older attempt left in
    another shard file.
    """
    kept: dict[str, Any] = {}
    scored: set[str] = set()
    for path in paths:
        for row in read_rows(path):
            item_id, ok = row["id"], row.get("status") == "ok"
            if item_id in scored and not ok:
                continue
            kept[item_id] = keep(path, row)
            if ok:
                scored.add(item_id)
    return kept


def completed_inputs(paths: Iterable[Path]) -> dict[str, Completed]:
    """Id -> :class:`Completed` of the row kept for each id in ``paths`` (:func:`kept_rows`).

    A rerun skips the ids whose row is ok, once it has checked that each still names the
    same inputs, and scores the others again.
    """
    return kept_rows(
        paths,
        lambda path, row: Completed(path, tuple(row.get(name) for name in INPUT_FIELDS), row.get("status") == "ok"),
    )


def _read_jsonl(path: Path) -> Iterator[dict]:
    for number, line in _intact_lines(path):
        row = _parse_line(path, number, line)
        if is_header(row):
            if number != 1:
                raise ResultsError(
                    f"{path}:{number}: a second result header (were two result files joined?); "
                    "keep one file per run: move it away or choose another --out"
                )
            continue
        yield row


def _parse_line(path: Path, number: int, line: bytes) -> dict:
    try:
        row = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as problem:
        row, reason = None, problem
    else:
        reason = f"a JSON {type(row).__name__}"
    if not isinstance(row, dict):
        raise ResultsError(
            f"{path}:{number}: not a result row ({reason}); the file is damaged or not an i2imetric result "
            "file: move it away or choose another --out"
        )
    return row


def _intact_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """``(line number, line)`` of the complete lines, up to a torn or NUL tail (see the module docstring)."""
    with open(path, "rb") as file:
        for number, line in enumerate(file, start=1):
            if not line.endswith(b"\n"):
                return  # torn by a kill mid-write: that row was never completed
            if b"\x00" in line:
                # JSON escapes NUL, so this is a block a power cut left unwritten. At the
                # end it is a torn tail; before intact rows it is damage nothing can repair.
                if all(b"\x00" in rest or not rest.endswith(b"\n") for rest in file):
                    return
                raise ResultsError(
                    f"{path}:{number}: NUL bytes before intact rows; the file is damaged: move it away "
                    "or choose another --out"
                )
            yield number, line


# --------------------------------------------------------------------------- writing


class ResultsLock:
    """An exclusive, non-blocking lock on ``<out>.lock``, held by one run for as long as it runs.

    Two runs appending to one file would write every row twice; the second run fails at
    once instead. The lock is ``flock``: the system drops it when its holder dies, so a
    killed run never leaves a stale lock, and the ``.lock`` file is left in place (deleting
    it would let a third run lock a new file while the second still holds the old one).
    Where there is no ``fcntl`` (Windows), runs are not locked.

    Args:
        out: the result file.

    Raises:
        ResultsError: another run holds the lock (naming its process where it can).
    """

    def __init__(self, out: Path):
        self.path = out.with_name(out.name + ".lock")
        out.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a+", encoding="utf-8")
        if fcntl is None:
            return
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.seek(0)
            holder = self._file.read().strip() or "another process"
            self._file.close()
            raise ResultsError(
                f"{out}: another i2imetric eval ({holder}) is writing to it; wait for it to end, "
                "or choose another --out"
            ) from None
        except OSError as problem:  # e.g. a network file system without locks
            self._file.close()
            raise ResultsError(
                f"{self.path}: cannot lock it ({problem}), so a second run could write every row twice; "
                "write --out to a local disk"
            ) from None
        # Who holds it, for the message a second run prints.
        self._file.truncate(0)
        self._file.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        self._file.flush()

    def release(self) -> None:
        """Let another run write to the file (closing the lock file releases the flock)."""
        self._file.close()

    def __enter__(self) -> "ResultsLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class RowAppender:
    """Appends JSONL rows to ``path``, after cutting off a torn or NUL tail left by a kill or power cut.

    Args:
        path: the JSONL file (created when missing).
        header: written as the first line when the file is new or empty; the caller has
            checked an existing file's header with :func:`check_resumable`.
    """

    def __init__(self, path: Path, header: Optional[dict] = None):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        _truncate_torn_tail(path)
        self._file = open(path, "a", encoding="utf-8", newline="\n")
        if header is not None and self._file.tell() == 0:
            self.write([header])

    def write(self, rows: Sequence[dict]) -> None:
        """Write the rows and flush them, so a killed run keeps every finished batch."""
        for row in rows:
            self._file.write(_json_line(row))
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "RowAppender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _json_line(row: dict) -> str:
    return json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n"


def _truncate_torn_tail(path: Path) -> None:
    """Cut the file back to its intact lines: exactly what the readers read."""
    if not path.exists():
        return
    keep = sum(len(line) for _, line in _intact_lines(path))
    if keep < path.stat().st_size:
        os.truncate(path, keep)


def merge_results(out: Path, ordered_ids: Iterable[str], baseline_names: Sequence[str], header: dict) -> list[str]:
    """Rewrite ``out`` from itself and its shard files, in input order, then delete the shards.

    Args:
        out: the result file; its format follows its suffix.
        ordered_ids: every item id of the input, in input order.
        baseline_names: the baselines of this run (the CSV/Parquet columns).
        header: this run's header (the first line of a JSONL ``out``, else its sidecar).

    Returns:
        The ids of the stale ok rows: scored rows whose id is not in this input (a record
        removed from the manifest, or scored by an earlier call with other records). They
        are kept, after the input's rows, so no score is lost; the run's summary names them
        and does not count them. An error row of an id not in the input holds no score (a
        record fixed since gets a new content id) and is dropped.

    Each id keeps one row (:func:`kept_rows`: a retried row replaces its error row). The
    new file replaces ``out`` only once complete, so a kill during the merge loses nothing.
    """
    shards = shard_files(out)
    rows = kept_rows([out, *shards])
    ordered = [rows.pop(item_id) for item_id in ordered_ids if item_id in rows]
    stale = [item_id for item_id, row in rows.items() if row.get("status") == "ok"]
    ordered += [rows[item_id] for item_id in stale]
    if stale:
        log.warning("%s: kept %d scored row(s) whose ids are not in this input (not counted), e.g. %r", out,
                    len(stale), stale[0])
    fmt = output_format(out)
    if fmt == "jsonl":
        ordered.insert(0, header)
    else:
        # The sidecar goes first: a kill before the table is replaced leaves the old table
        # (same setup, checked when this run began) beside it.
        _replace(header_path(out), lambda partial: partial.write_text(_json_line(header), encoding="utf-8"))
    _replace(out, lambda partial: _WRITERS[fmt](partial, ordered, baseline_names))
    for path in shards:
        path.unlink()
    return stale


def _replace(path: Path, write) -> None:
    """Write ``path`` through a ``.partial`` file, so it is never seen half-written."""
    partial = path.with_name(path.name + ".partial")
    write(partial)
    os.replace(partial, path)


def _write_jsonl(path: Path, rows: list[dict], baseline_names: Sequence[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as file:
        file.writelines(_json_line(row) for row in rows)


def _write_csv(path: Path, rows: list[dict], baseline_names: Sequence[str]) -> None:
    columns = _flat_columns(baseline_names)
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        writer.writerows(_flatten(row, baseline_names) for row in rows)


def _write_parquet(path: Path, rows: list[dict], baseline_names: Sequence[str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = _flat_columns(baseline_names)
    flat = [_flatten(row, baseline_names) for row in rows]
    text = ("id", "system", "status", "error", *INPUT_FIELDS)
    types = {name: pa.string() if name in text else pa.float64() for name in columns}
    schema = pa.schema([(name, types[name]) for name in columns])
    pq.write_table(pa.Table.from_pylist(flat, schema=schema), path)


_WRITERS = {"jsonl": _write_jsonl, "csv": _write_csv, "parquet": _write_parquet}


# ---------------------------------------------------------------- flat (CSV, Parquet)


def _subscore_names() -> tuple:
    from ..models.metric import SUBSCORE_NAMES

    return tuple(SUBSCORE_NAMES)


def _flat_columns(baseline_names: Sequence[str]) -> list[str]:
    subscores = (f"subscores.{n}" for n in _subscore_names())
    return [*_FLAT_HEAD, *subscores, *(f"baselines.{n}" for n in baseline_names)]


def _flatten(row: dict, baseline_names: Sequence[str]) -> dict:
    flat = {name: row.get(name) for name in _FLAT_HEAD}
    flat.update({f"subscores.{n}": row["subscores"].get(n) for n in _subscore_names()})
    flat.update({f"baselines.{n}": row["baselines"].get(n) for n in baseline_names})
    return flat


def _unflatten(flat: dict) -> dict:
    row = {"id": flat["id"]}
    if flat.get("system") not in (None, ""):
        row["system"] = flat["system"]
    row.update({name: flat.get(name) or None for name in INPUT_FIELDS})  # CSV writes None as ""
    row["status"] = flat["status"]
    row["error"] = flat.get("error") or None
    row["score"] = none_if_missing(flat.get("score"))
    row["subscores"] = {n: none_if_missing(flat.get(f"subscores.{n}")) for n in _subscore_names()}
    row["baselines"] = {k[len("baselines.") :]: none_if_missing(v) for k, v in flat.items() if k.startswith("baselines.")}
    return row


def _read_csv(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8", newline="") as file:
        yield from (_unflatten(flat) for flat in csv.DictReader(file))


def _read_parquet(path: Path) -> Iterator[dict]:
    import pyarrow.parquet as pq

    yield from (_unflatten(flat) for flat in pq.read_table(path).to_pylist())


# Row fields that name image files; "heatmap" is the demo's (see i2imetric.viz.report).
_IMAGE_KEYS = ("source", "output", "heatmap")


def read_results(path) -> list[dict]:
    """The rows of a result file, as ``i2imetric eval --out`` writes it, image paths absolute.

    The file is read by :func:`read_rows`, the one reader of result
    files, so every format ``eval`` writes (``.jsonl``, ``.csv``, ``.parquet``) is read the
    same way everywhere, a torn last JSONL line (a killed run) is left out, and a header
    line is skipped.

    Args:
        path: a result file.

    Returns:
        One dict per row. Image paths (``source``, ``output``) are absolute: ``eval`` writes
        them so; a relative one (a hand-written file) is joined to the file's folder.

    Raises:
        ResultsError: the file is missing, or damaged (a line that is not a result row).
    """
    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"{path}: no such result file; pass the file that `i2imetric eval --out` wrote")
    base_dir = os.path.dirname(os.path.abspath(path))
    return [_with_absolute_images(row, base_dir) for row in read_rows(path)]


def _with_absolute_images(row: dict, base_dir: str) -> dict:
    for key in _IMAGE_KEYS:
        if isinstance(row.get(key), str) and row[key]:
            row[key] = os.path.abspath(os.path.join(base_dir, row[key]))
    return row
