"""The paper-style table of ``i2imetric bench`` JSON files: methods as rows, benchmarks as columns.

Laid out like the EditReward README's tables: one row per method (each metric, its
sub-scores, its baselines, the judges scored on the same items, then the published
reference rows), one column per benchmark protocol, values x 100 with two decimals
(accuracies in %, correlations x 100), ``--`` where a method has no number. A judge row
is marked ``(judge)``, and its cell says ``(n=k of N)`` where the judge has verdicts for
only k of the column's N items. Reference rows are marked with a footnote number, and the
footnotes under the table give each one's source. Baselines are named with the metric
whose encoders computed them (``clip_t (demo)``): i2imetric computes CLIP-T and friends
from the metric's own embeddings, so they are that encoder's, not OpenAI CLIP's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from ..errors import I2IInputError
from ..io.json_files import read_json_file
from .bench_run import BENCH_FORMAT

__all__ = ["format_bench_table", "read_bench_files"]


def read_bench_files(paths: Iterable[str | os.PathLike]) -> list[dict]:
    """The reports of ``i2imetric bench`` JSON files, in the order given.

    Raises:
        I2IInputError: a file is missing, is not JSON, or was not written by ``i2imetric bench``.
    """
    reports = []
    for path in paths:
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise I2IInputError(f"{path}: no such file; pass the <benchmark>.json files `i2imetric bench` wrote")
        report = read_json_file(path, fix="rerun `i2imetric bench` to write it again")
        if not isinstance(report, dict) or report.get("i2imetric_bench") != BENCH_FORMAT:
            raise I2IInputError(f"{path}: not a benchmark result of `i2imetric bench` (format {BENCH_FORMAT})")
        reports.append(report)
    if not reports:
        raise I2IInputError("no benchmark files given; e.g. i2imetric bench table bench/*.json")
    return reports


def format_bench_table(reports: list[dict], markdown: bool = True, all_protocols: bool = False, ci: bool = False) -> str:
    """The table of ``reports`` (from :func:`read_bench_files`), as Markdown or aligned text.

    Args:
        reports: benchmark reports; several metrics' runs of the same benchmark sit side by side.
        markdown: a Markdown table (else plain aligned text).
        all_protocols: every protocol, not only each benchmark's headline ones.
        ci: add the 95% interval under each measured value.
    """
    columns = []  # (benchmark, protocol name)
    for report in reports:
        for entry in report["protocols"]:
            column = (report["benchmark"], entry["name"])
            if (entry["primary"] or all_protocols) and column not in columns:
                columns.append(column)
    if not columns:
        raise I2IInputError("the benchmark files hold no protocol results (see the notes in them)")
    cells: dict[str, dict[tuple, str]] = {}
    order: list[tuple[int, str]] = []  # (kind: metric, sub-score, baseline; name), first seen first
    footnotes: list[str] = []

    def put(row: str, column: tuple, text: str, kind: int) -> None:
        if row not in cells:
            cells[row] = {}
            order.append((kind, row))
        cells[row][column] = text

    references: dict[str, dict[tuple, str]] = {}
    reference_order: list[str] = []
    judged = False
    for report in reports:
        metric = report["metric"]
        for entry in report["protocols"]:
            column = (report["benchmark"], entry["name"])
            if column not in columns:
                continue
            put(metric, column, _value(entry, ci), 0)
            for name, value in entry["subscores"].items():
                put(f"{metric} ({name.split(':', 1)[1]} sub-score)", column, _value(value, ci), 1)
            for name, value in entry["baselines"].items():
                put(f"{name} ({metric})", column, _value(value, ci), 2)
            for name, value in entry.get("judges", {}).items():
                put(f"{name} (judge)", column, _judge_value(value, entry, ci), 3)
                judged = True
            for ref in entry["reference"]:
                if ref["source"] not in footnotes:
                    footnotes.append(ref["source"])
                row = ref["name"]
                if row not in references:
                    references[row] = {}
                    reference_order.append(row)
                mark = footnotes.index(ref["source"]) + 1
                references[row][column] = f"{_percent(ref['value'])} [{mark}]"
    header = ["Method", *(f"{bench}: {name}" for bench, name in columns)]
    rows = [row for _, row in sorted(order, key=lambda kind_row: kind_row[0])]  # stable: first seen first
    body = [[row, *(cells[row].get(c, "--") for c in columns)] for row in rows]
    if reference_order:
        body.append(["*Published / reference*", *[""] * len(columns)])
        body += [[row, *(references[row].get(c, "--") for c in columns)] for row in reference_order]
    notes = [f"[{i}] {source}" for i, source in enumerate(footnotes, start=1)]
    legend = "Values x 100 (accuracy in %, correlation x 100)" + ("; 95% bootstrap CI in brackets." if ci else ".")
    if judged:
        legend += (
            " (judge) rows: a judge's stated verdicts, scored on the same items as the metric in that column; "
            "(n=k of N) where the judge has verdicts for only k of those N items."
        )
    table = _markdown(header, body) if markdown else _aligned(header, body)
    return "\n".join([table, "", legend, *notes])


def _judge_value(value: dict, entry: dict, ci: bool) -> str:
    text = _value(value, ci)
    n, of = value.get("n"), value.get("of", entry.get("n"))
    if n is not None and of is not None and n < of:
        text += f" (n={n} of {of})"
    return text


def _value(entry: dict, ci: bool) -> str:
    text = _percent(entry.get("value"))
    low, high = entry.get("ci95") or (None, None)
    if ci and low is not None and high is not None:
        text += f" [{_percent(low)}, {_percent(high)}]"
    return text


def _percent(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def _markdown(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| :--- |" + " :---: |" * (len(header) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def _aligned(header: list[str], body: list[list[str]]) -> str:
    rows = [header, *body]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)
