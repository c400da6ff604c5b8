"""Result files: streaming JSONL rows that survive a kill, and CSV/Parquet exports.

Rows stream to JSON Lines, one ``write`` per row, flushed per batch. A process killed
mid-write leaves at most one torn last line (no newline at its end): readers ignore it,
and :class:`RowAppender` truncates it away before appending, so resuming never
duplicates or loses a row. CSV and Parquet cannot be appended safely, so they are written
whole, from the JSONL shard files, when a run ends (:func:`merge_results`).

A CSV or Parquet row is flat: ``id, system, status, error, score``, then
``subscores.<name>`` and ``baselines.<name>`` columns.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from .errors import I2IInputError
from .metric import SUBSCORE_NAMES

__all__ = [
    "RowAppender",
    "check_output_format",
    "completed_ids",
    "merge_results",
    "output_format",
    "read_rows",
    "shard_files",
    "shard_path",
]

log = logging.getLogger("i2imetric.evaluation")

_FLAT_HEAD = ("id", "system", "status", "error", "score")


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
    """The shard files of ``out`` present on disk, from this run or an interrupted one."""
    pattern = re.compile(re.escape(out.name) + r"\.rank\d+\.jsonl")
    if not out.parent.is_dir():
        return []
    return sorted(p for p in out.parent.iterdir() if pattern.fullmatch(p.name))


# --------------------------------------------------------------------------- reading


def read_rows(path: Path) -> Iterator[dict]:
    """The rows of a result file (any format); a torn last JSONL line is left out."""
    if not path.exists():
        return iter(())
    fmt = output_format(path)
    if fmt == "csv":
        return _read_csv(path)
    if fmt == "parquet":
        return _read_parquet(path)
    return _read_jsonl(path)


def completed_ids(paths: Iterable[Path]) -> set[str]:
    """Ids of the rows already written to any of ``paths``: a rerun skips them."""
    return {row["id"] for path in paths for row in read_rows(path)}


def _read_jsonl(path: Path) -> Iterator[dict]:
    with open(path, "rb") as file:
        for number, line in enumerate(file, start=1):
            if not line.endswith(b"\n"):
                return  # torn by a kill mid-write: that row was never completed
            try:
                row = json.loads(line)
            except json.JSONDecodeError as problem:
                raise I2IInputError(
                    f"{path}:{number}: not a result row ({problem}); the file is damaged or not an i2imetric result "
                    "file: move it away or choose another --out"
                ) from None
            yield row


# --------------------------------------------------------------------------- writing


class RowAppender:
    """Appends JSONL rows to ``path``, after cutting off a torn last line left by a kill."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        _truncate_torn_tail(path)
        self._file = open(path, "a", encoding="utf-8", newline="\n")

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
    if not path.exists():
        return
    with open(path, "rb+") as file:
        end = file.seek(0, os.SEEK_END)
        position = end
        while position > 0:
            step = min(1 << 16, position)
            file.seek(position - step)
            newline = file.read(step).rfind(b"\n")
            if newline >= 0:
                keep = position - step + newline + 1
                break
            position -= step
        else:
            keep = 0
        if keep < end:
            file.truncate(keep)


def merge_results(out: Path, ordered_ids: Iterable[str], baseline_names: Sequence[str]) -> None:
    """Rewrite ``out`` from itself and its shard files, in input order, then delete the shards.

    Args:
        out: the result file; its format follows its suffix.
        ordered_ids: every item id of the input, in input order.
        baseline_names: the baselines of this run (the CSV/Parquet columns).

    Rows whose id is not in the input are dropped (with a warning). The new file
    replaces ``out`` only once complete, so a kill during the merge loses nothing.
    """
    shards = shard_files(out)
    rows: dict[str, dict] = {}
    for path in [out, *shards]:
        for row in read_rows(path):
            rows.setdefault(row["id"], row)
    ordered = [rows.pop(item_id) for item_id in ordered_ids if item_id in rows]
    if rows:
        log.warning("%s: dropped %d row(s) whose ids are not in the input, e.g. %r", out, len(rows), next(iter(rows)))
    partial = out.with_name(out.name + ".partial")
    _WRITERS[output_format(out)](partial, ordered, baseline_names)
    os.replace(partial, out)
    for path in shards:
        path.unlink()


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
    types = {name: pa.string() if name in ("id", "system", "status", "error") else pa.float64() for name in columns}
    schema = pa.schema([(name, types[name]) for name in columns])
    pq.write_table(pa.Table.from_pylist(flat, schema=schema), path)


_WRITERS = {"jsonl": _write_jsonl, "csv": _write_csv, "parquet": _write_parquet}


# ---------------------------------------------------------------- flat (CSV, Parquet)


def _flat_columns(baseline_names: Sequence[str]) -> list[str]:
    return [*_FLAT_HEAD, *(f"subscores.{n}" for n in SUBSCORE_NAMES), *(f"baselines.{n}" for n in baseline_names)]


def _flatten(row: dict, baseline_names: Sequence[str]) -> dict:
    flat = {name: row.get(name) for name in _FLAT_HEAD}
    flat.update({f"subscores.{n}": row["subscores"].get(n) for n in SUBSCORE_NAMES})
    flat.update({f"baselines.{n}": row["baselines"].get(n) for n in baseline_names})
    return flat


def _unflatten(flat: dict) -> dict:
    row = {"id": flat["id"]}
    if flat.get("system") not in (None, ""):
        row["system"] = flat["system"]
    row["status"] = flat["status"]
    row["error"] = flat.get("error") or None
    row["score"] = _number(flat.get("score"))
    row["subscores"] = {n: _number(flat.get(f"subscores.{n}")) for n in SUBSCORE_NAMES}
    row["baselines"] = {k[len("baselines.") :]: _number(v) for k, v in flat.items() if k.startswith("baselines.")}
    return row


def _number(value):
    if value is None or value == "":
        return None
    number = float(value)
    return None if number != number else number  # Parquet hands back NaN for a missing float


def _read_csv(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8", newline="") as file:
        yield from (_unflatten(flat) for flat in csv.DictReader(file))


def _read_parquet(path: Path) -> Iterator[dict]:
    import pyarrow.parquet as pq

    yield from (_unflatten(flat) for flat in pq.read_table(path).to_pylist())
