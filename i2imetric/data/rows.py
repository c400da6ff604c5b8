"""What every reader shares: the load report, the row loop, and where image paths point.

A reader turns its input into ``(where, raw)`` rows and a ``build(raw) -> record``
function; ``convert_rows`` runs one through the other and accounts for every row.
"""

import csv
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..errors import I2IInputError
from ..io.json_files import read_json_file
from .records import Record

log = logging.getLogger("i2imetric.data")

ON_ERROR_CHOICES = ("raise", "skip")


@dataclass
class LoadReport:
    """What a reader did with its input: every row is either kept or skipped with a reason.

    Args:
        source: the file(s) or object read, as named in messages.
        kept: rows that became records.
        skipped: ``(where, reason)`` for every row left out; ``where`` is ``file:line``
            or another way back to the row.

    ``read`` is always ``kept + len(skipped)``.
    """

    source: str
    kept: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def read(self) -> int:
        return self.kept + len(self.skipped)

    def reasons(self) -> Counter:
        """How many rows were skipped for each reason."""
        return Counter(reason for _, reason in self.skipped)

    def summary(self, max_reasons: int = 3) -> str:
        """One line: counts, then the commonest reasons for skipping."""
        text = f"{self.source}: read {self.read}, kept {self.kept}, skipped {len(self.skipped)}"
        reasons = self.reasons()
        if not reasons:
            return text
        shown = [f"{count} x {reason}" for reason, count in reasons.most_common(max_reasons)]
        if len(reasons) > max_reasons:
            shown.append(f"{len(reasons) - max_reasons} more reasons in .skipped")
        return f"{text} ({'; '.join(shown)})"


class LoadResult(NamedTuple):
    """What every loader returns: ``records, report = load_...(...)``."""

    records: list[Record]
    report: LoadReport


class Excluded(Exception):
    """A well-formed row that a loader's documented rule leaves out (e.g. too few votes).

    It is reported as skipped even when ``on_error="raise"``: it is not an error.
    """


def check_on_error(on_error: str) -> None:
    if on_error not in ON_ERROR_CHOICES:
        raise I2IInputError(f"on_error must be one of {ON_ERROR_CHOICES}, got {on_error!r}")


def convert_rows(
    rows: Iterable[tuple[str, Any]],
    build: Callable[[Any], Record],
    report: LoadReport,
    on_error: str,
    check_files: bool,
) -> Iterator[Record]:
    """Yield ``build(raw)`` for each row, recording in ``report`` what was kept or skipped.

    ``build`` raises ``I2IInputError`` for a broken row (raised with its ``where`` in
    front, or skipped, by ``on_error``) and ``Excluded`` for a row a rule leaves out.
    Errors about a whole file come from iterating ``rows`` and always propagate.
    """
    for where, raw in rows:
        try:
            record = build(raw)
            if check_files:
                require_images(record)
        except Excluded as rule:
            report.skipped.append((where, str(rule)))
        except I2IInputError as problem:
            if on_error == "raise":
                raise I2IInputError(f"{where}: {problem}") from None
            report.skipped.append((where, str(problem)))
        else:
            report.kept += 1
            yield record


def collect(
    rows: Iterable[tuple[str, Any]],
    build: Callable[[Any], Record],
    source: str,
    on_error: str,
    check_files: bool,
) -> LoadResult:
    """Run ``convert_rows`` to the end and log the report's summary."""
    check_on_error(on_error)
    report = LoadReport(source)
    records = list(convert_rows(rows, build, report, on_error, check_files))
    log.info(report.summary())
    return LoadResult(records, report)


def resolve_image(value, base_dir: str):
    """The absolute path of an image field; relative paths are relative to ``base_dir``.

    A Hugging Face ``Image(decode=False)`` cell (a dict with ``"path"``) gives its path.
    Anything that is not a path passes through unchanged for the record to reject.
    """
    if isinstance(value, Mapping) and "path" in value:
        value = value["path"]
    if isinstance(value, (str, os.PathLike)) and os.fspath(value):
        return os.path.abspath(os.path.join(base_dir, os.fspath(value)))
    return value


def require_images(record: Record) -> None:
    """Raise ``I2IInputError`` naming every image of ``record`` that is not a file."""
    missing = [
        f"{name}={path}"
        for name in record.image_fields
        if (path := getattr(record, name)) is not None and not os.path.isfile(path)
    ]
    if missing:
        raise I2IInputError(
            f"image not found: {', '.join(missing)}; fix the path or remove the row"
        )


def require_keys(row: Mapping, keys: Iterable[str], what: str) -> None:
    missing = [key for key in keys if key not in row]
    if missing:
        raise I2IInputError(
            f"{what} row lacks field(s) {_listing(missing)} "
            f"(it has {_listing(row) or 'none'}); add them"
        )


def parse_json_object(text: str) -> dict:
    """One JSONL line as a dict, or ``I2IInputError`` saying what is wrong with it."""
    if "\x00" in text:
        # JSON writers escape NUL, so raw NUL bytes are a block zeroed by a crash or power cut.
        raise I2IInputError(
            "NUL bytes, left by a write that a crash or power cut cut short; "
            "rewrite the record(s) that were there or delete the line"
        )
    try:
        value = json.loads(text)
    except json.JSONDecodeError as problem:
        raise I2IInputError(
            f"not valid JSON ({problem}); write one JSON object per line"
        ) from None
    return as_object(value)


def as_object(value) -> dict:
    if not isinstance(value, Mapping):
        raise I2IInputError(f"expected a JSON object, got {type(value).__name__}")
    return dict(value)


def jsonl_lines(path: str) -> Iterator[tuple[str, str]]:
    """``(file:line, text)`` for each non-blank line, read lazily.

    A line with NUL bytes (a torn tail left by a power cut) is passed on for the row's
    parser to reject like any malformed line. Any other line that is not UTF-8 means the
    file is not a text manifest at all: ``I2IInputError`` naming the file and line.
    """
    with open(path, "rb") as lines:
        for number, raw in enumerate(lines, start=1):
            where = f"{path}:{number}"
            text = raw.decode("utf-8", errors="replace") if b"\x00" in raw else _utf8(raw, where)
            if text.strip():
                yield where, text


def _utf8(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as problem:
        raise I2IInputError(
            f"{where}: not UTF-8 text (byte 0x{raw[problem.start]:02x} at column {problem.start + 1}); "
            "is this a JSONL manifest? Save it as UTF-8 or pass the right file"
        ) from None


class JsonRows(NamedTuple):
    """The rows of a JSON array file, a JSONL file, or an iterable of dicts."""

    name: str
    base_dir: str
    rows: Iterable[tuple[str, Any]]
    decode: Callable[[Any], dict]


def json_rows(source, image_root=None) -> JsonRows:
    """Rows from a ``.json`` array or ``.jsonl`` file (or any iterable of dicts).

    Relative image paths are relative to ``image_root``, by default the file's folder
    (or the working directory for in-memory rows).
    """
    if not isinstance(source, (str, os.PathLike)):
        base_dir = os.path.abspath(image_root or os.getcwd())
        rows = ((f"row {index}", row) for index, row in enumerate(source))
        return JsonRows(f"{type(source).__name__} of rows", base_dir, rows, as_object)
    path = os.fspath(source)
    base_dir = os.path.abspath(image_root or os.path.dirname(path) or ".")
    if _starts_json_array(path):
        return JsonRows(path, base_dir, _json_array_items(path), as_object)
    return JsonRows(path, base_dir, jsonl_lines(path), parse_json_object)


def _starts_json_array(path: str) -> bool:
    # Bytes, not text: a binary file must reach the reader that names its bad line.
    with open(path, "rb") as data:
        while (char := data.read(1)).isspace():
            pass
    return char == b"["


def _json_array_items(path: str) -> Iterator[tuple[str, Any]]:
    items = read_json_file(path, fix="fix the file", expect=list)
    for index, item in enumerate(items):
        yield f"{path}[{index}]", item


def csv_rows(
    path: str, required: Iterable[str], delimiter: str = ","
) -> Iterator[tuple[str, dict]]:
    """``(file:line, row)`` for each row of a CSV/TSV file with a header line.

    A missing column or a row whose cell count differs from the header's is an error
    about the whole file: its columns can no longer be trusted.
    """
    with open(path, encoding="utf-8", newline="") as text:
        reader = csv.DictReader(text, delimiter=delimiter)
        columns = reader.fieldnames or []
        missing = [name for name in required if name not in columns]
        if missing:
            raise I2IInputError(
                f"{path}: missing column(s) {_listing(missing)} (it has {_listing(columns)}); "
                "is this the right file?"
            )
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if None in row or None in row.values():
                raise I2IInputError(
                    f"{where}: this row has a different number of cells than the header; "
                    "fix the row so each column has one cell"
                )
            yield where, row


def _listing(names: Iterable[str], limit: int = 12) -> str:
    """Names for a message, cut short: a wrong file can have a whole line as its header."""
    shown = [repr(name[:40]) for name in names]
    more = f" and {len(shown) - limit} more" if len(shown) > limit else ""
    return ", ".join(shown[:limit]) + more
