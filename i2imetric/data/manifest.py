"""Read and write i2imetric manifests (the JSONL format documented in ``i2imetric.data``)."""

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import MISSING, fields
from itertools import chain

from ..errors import I2IInputError
from .records import RECORD_TYPES, Record
from .rows import (
    LoadReport,
    LoadResult,
    check_on_error,
    collect,
    convert_rows,
    jsonl_lines,
    log,
    parse_json_object,
    resolve_image,
)

SCHEMA_NAME = "i2imetric-manifest"
SCHEMA_VERSION = 1
HEADER = {"type": "header", "schema": SCHEMA_NAME, "version": SCHEMA_VERSION}


def iter_manifest(
    path, on_error: str = "raise", check_files: bool = False, report: LoadReport | None = None
) -> Iterator[Record]:
    """Stream the records of a manifest, one line at a time (for files too big for a list).

    Args:
        path: the ``.jsonl`` manifest.
        on_error: ``"raise"`` stops at the first malformed line with ``I2IInputError``
            naming ``file:line`` and the fix; ``"skip"`` leaves it out and lists it in
            ``report.skipped``.
        check_files: also treat a row whose image files do not exist as malformed.
        report: filled in as the records are read; pass one to see what was skipped.

    Returns:
        A generator of ``Triplet``, ``Pairwise`` and ``Rating`` records, image paths absolute.

    Example:
        >>> report = LoadReport("big.jsonl")
        >>> records = iter_manifest("big.jsonl", on_error="skip", report=report)
        >>> for record in records:  # doctest: +SKIP
        ...     train_on(record)
        >>> print(report.summary())  # doctest: +SKIP
        big.jsonl: read 100000, kept 99998, skipped 2 (2 x not valid JSON ...)
    """
    check_on_error(on_error)
    path = os.fspath(path)
    report = report if report is not None else LoadReport(path)
    return _manifest_records(path, on_error, check_files, report)


def _manifest_records(path: str, on_error: str, check_files: bool, report: LoadReport):
    base_dir = os.path.dirname(os.path.abspath(path))

    def build(text):
        return record_from_row(parse_json_object(text), base_dir)

    lines = _after_header(jsonl_lines(path))
    yield from convert_rows(lines, build, report, on_error, check_files)
    log.info(report.summary())


def read_manifest(path, on_error: str = "raise", check_files: bool = False) -> LoadResult:
    """Read a whole manifest: ``records, report = read_manifest(path)``.

    Same arguments as ``iter_manifest``; the report counts the rows read, kept and skipped.
    """
    path = os.fspath(path)
    report = LoadReport(path)
    records = list(iter_manifest(path, on_error, check_files, report))
    return LoadResult(records, report)


def write_manifest(path, records: Iterable[Record]) -> int:
    """Write records as a manifest (header line first) and return how many were written.

    Image paths inside the manifest's folder are written relative to it, so the folder
    can move as a whole; other paths stay absolute, so they stay valid wherever the
    manifest goes. The file is replaced only once every record has been written.
    """
    path = os.fspath(path)
    base_dir = os.path.dirname(os.path.abspath(path))
    partial = f"{path}.partial"
    count = 0
    try:
        with open(partial, "w", encoding="utf-8", newline="\n") as out:
            out.write(json.dumps(HEADER) + "\n")
            for record in records:
                out.write(_json_line(record, base_dir, count) + "\n")
                count += 1
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return count


def from_hf_dataset(
    dataset,
    mapping: Mapping[str, str],
    record_type: str = "triplet",
    image_root=None,
    on_error: str = "raise",
    check_files: bool = False,
) -> LoadResult:
    """Records from a Hugging Face ``datasets.Dataset`` (or any iterable of dict rows).

    Each row is read like a manifest row of ``record_type`` after renaming columns by
    ``mapping`` (record field -> column name); unmapped columns go to ``extra``.
    Image columns must hold file paths: cast an ``Image`` column with
    ``dataset.cast_column(name, datasets.Image(decode=False))``.

    Example:
        >>> rows = [{"src": "a.png", "edit": "make it red", "out": "b.png"}]
        >>> columns = {"source": "src", "instruction": "edit", "output": "out"}
        >>> result = from_hf_dataset(rows, columns)
        >>> result.records[0].instruction
        'make it red'
    """
    record_class = _record_class(record_type)
    allowed = {f.name for f in fields(record_class)} - {"extra"}
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise I2IInputError(
            f"mapping names {unknown}, which are not {record_type} fields; "
            f"use some of {sorted(allowed)}"
        )
    base_dir = os.path.abspath(image_root or os.getcwd())
    rows = ((f"row {index}", row) for index, row in enumerate(dataset))

    def build(row):
        return record_from_row({"type": record_type, **_renamed(row, mapping)}, base_dir)

    return collect(rows, build, f"{type(dataset).__name__} of rows", on_error, check_files)


def record_from_row(row: dict, base_dir: str) -> Record:
    """A record from one manifest row (a dict); relative image paths join ``base_dir``."""
    record_class = _record_class(row.get("type"))
    known = [f for f in fields(record_class) if f.name != "extra"]
    # A field without a default must be present (null allowed for source/instruction),
    # so a misspelt key surfaces here instead of vanishing into extra.
    missing = [f.name for f in known if f.name not in row and f.default is MISSING]
    if missing:
        raise I2IInputError(
            f"missing key(s) {', '.join(missing)} for a {row['type']!r} row; add them "
            "(use null where there is no source image or no instruction)"
        )
    values = {f.name: row[f.name] for f in known if f.name in row}
    for name in record_class.image_fields:
        values[name] = resolve_image(values[name], base_dir)
    extra = {key: value for key, value in row.items() if key != "type" and key not in values}
    return record_class(**values, extra=extra)


def _record_class(record_type):
    if record_type in RECORD_TYPES:
        return RECORD_TYPES[record_type]
    hint = " (a header line must be the first line)" if record_type == "header" else ""
    raise I2IInputError(
        f"unknown type {record_type!r}{hint}; "
        f"each row needs \"type\": one of {', '.join(RECORD_TYPES)}"
    )


def _renamed(row, mapping: Mapping[str, str]) -> dict:
    if not isinstance(row, Mapping):
        raise I2IInputError(
            f"expected a dict row, got {type(row).__name__}; pass one split (e.g. dataset['train'])"
        )
    absent = [column for column in mapping.values() if column not in row]
    if absent:
        raise I2IInputError(
            f"column(s) {absent} not in the row (it has {sorted(row)}); fix the mapping"
        )
    renamed = {field_name: row[column] for field_name, column in mapping.items()}
    kept = {column: value for column, value in row.items() if column not in mapping.values()}
    return {**kept, **renamed}


def _after_header(lines: Iterator[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """The data lines: a valid first-line header is checked and dropped."""
    first = next(lines, None)
    if first is None:
        return iter(())
    where, text = first
    try:
        header = json.loads(text)
    except json.JSONDecodeError:
        header = None
    if isinstance(header, dict) and header.get("type") == "header":
        _check_header(header, where)
        return lines
    return chain([first], lines)


def _check_header(header: dict, where: str) -> None:
    if header.get("schema") != SCHEMA_NAME:
        raise I2IInputError(
            f"{where}: header names schema {header.get('schema')!r}, not {SCHEMA_NAME!r}; "
            "is this an i2imetric manifest?"
        )
    version = header.get("version")
    if not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION:
        raise I2IInputError(
            f"{where}: manifest schema version {version!r} is not one this i2imetric reads "
            f"(1..{SCHEMA_VERSION}); upgrade i2imetric or rewrite the file with this version"
        )


def _json_line(record: Record, base_dir: str, index: int) -> str:
    if not isinstance(record, tuple(RECORD_TYPES.values())):
        raise I2IInputError(
            f"record {index}: expected a Triplet, Pairwise or Rating, got {type(record).__name__}"
        )
    row = {"type": record.manifest_type}
    for f in fields(record):
        if f.name != "extra":
            row[f.name] = getattr(record, f.name)
    for name in record.image_fields:
        if row[name] is not None:
            row[name] = _path_for_manifest(row[name], base_dir)
    clashes = sorted(row.keys() & record.extra.keys())
    if clashes:
        raise I2IInputError(
            f"record {index} (id={record.id!r}): extra keys {clashes} clash with "
            "the manifest's own keys; rename them"
        )
    try:
        return json.dumps({**row, **record.extra}, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as problem:
        raise I2IInputError(
            f"record {index} (id={record.id!r}): extra cannot be written as JSON ({problem}); "
            "keep extra to strings, finite numbers, booleans, null, lists and dicts"
        ) from None


def _path_for_manifest(path: str, base_dir: str) -> str:
    absolute = os.path.abspath(path)
    # A prefix test, not os.path.relpath: this runs for every image of every record.
    folder = os.path.join(base_dir, "")
    if absolute.startswith(folder):
        return absolute[len(folder):].replace(os.sep, "/")
    return absolute
