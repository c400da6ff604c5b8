"""What every findings question shares: its cache folder's settings, markdown tables, the doc's sections."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

from i2imetric.errors import I2IInputError

__all__ = ["add_scorer_options", "check_settings", "command_line", "fmt", "fmt_ci", "markdown_table", "paste_section",
           "say_written", "write_json"]


def add_scorer_options(parser) -> None:
    """The options of every question that studies one scorer: which, the seed, the image size, the doc, progress."""
    parser.add_argument("--metric", default="demo",
                        help="the scorer: a pretrained name, a checkpoint folder, an hf-hub: id or untrained:CONFIG "
                             "(default: demo)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--working-size", type=int, default=96, help="longest side of the images scored (default 96)")
    parser.add_argument("--doc", help="also paste the generated section into this page (e.g. docs/findings.md)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def command_line(question: str) -> str | None:
    """How the report says it was made: this process's command line, when it ran ``findings QUESTION``
    (None when called some other way, e.g. from a test, so the report names the default command)."""
    import shlex
    import sys

    if sys.argv[1:2] != [question]:
        return None
    return "python -m i2imetric_training.findings " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def say_written(out, figures, seconds: float) -> None:
    print(f"wrote {Path(out) / 'results.json'}, tables.md, section.md and {', '.join(figures)} ({seconds:.0f} s)")


def check_settings(out: Path, name: str, settings: dict) -> None:
    """Record what decides ``out``'s cached files (``out/name``), or refuse a folder made with other settings.

    Reusing outputs generated with another seed or working size would mix two studies in
    one table, so the mismatch is an error that names both settings and the way out.
    """
    path = out / name
    if path.is_file():
        recorded = json.loads(path.read_text())
        if recorded != settings:
            changed = sorted(k for k in set(recorded) | set(settings) if recorded.get(k) != settings.get(k))
            detail = ", ".join(f"{k}: cached {recorded.get(k)!r}, asked {settings.get(k)!r}" for k in changed)
            raise I2IInputError(
                f"--out {out}: its cache was generated with other settings ({detail}); use another --out, "
                f"or delete {out} to start over"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    write_json(path, settings)


def write_json(path: Path, value) -> None:
    """JSON with NaN written as null (JSON has no NaN), pretty-printed, written whole or not at all."""
    text = json.dumps(_finite(value), indent=2, sort_keys=False) + "\n"
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text)
    temporary.replace(path)


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def fmt(value, digits: int = 2) -> str:
    """A number for a table; "n/a" for None or NaN."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if abs(value) < 0.5 * 10**-digits:
        value = 0.0  # not "-0.00"
    return f"{value:.{digits}f}"


def fmt_ci(estimate, low, high, digits: int = 2) -> str:
    """``0.71 [0.52, 0.86]``; the interval left out where it is undefined."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return fmt(estimate, digits)
    return f"{fmt(estimate, digits)} [{fmt(low, digits)}, {fmt(high, digits)}]"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def paste_section(doc: Path, name: str, text: str, figures: list[Path] = ()) -> None:
    """Replace the generated section ``name`` of ``doc`` (between ``<!-- name:begin -->`` and
    ``<!-- name:end -->``) with ``text``, and copy ``figures`` into ``doc``'s ``figures/`` folder.

    Raises:
        I2IInputError: ``doc`` is missing or has no such markers (it says what to add).
    """
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if not doc.is_file():
        raise I2IInputError(f"--doc {doc}: no such file")
    page = doc.read_text()
    if begin not in page or end not in page or page.index(begin) > page.index(end):
        raise I2IInputError(f"--doc {doc}: add the lines {begin} and {end} where the generated {name} section goes")
    head, rest = page.split(begin, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(f"{head}{begin}\n{text.strip()}\n{end}{tail}")
    folder = doc.parent / "figures"
    folder.mkdir(exist_ok=True)
    for figure in figures:
        shutil.copyfile(figure, folder / figure.name)
