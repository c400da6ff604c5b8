"""One self-contained HTML report of a results file: distributions, agreement, examples.

:func:`build_report` writes a single ``.html`` file with every image embedded as a
base64 PNG, so it can be mailed or attached as it is. Sections:

1. Summary: rows, failures (with their commonest reasons), systems, baselines.
2. Score distributions: the metric's score per system (violins), and its sub-scores.
3. Agreement with human labels, when labels are given: the table of
   :func:`i2imetric.meta_eval.meta_evaluate`, and scatter plots of every scorer against the
   human ratings (when the labels are ratings).
4. The best and the worst ``top`` rows by score, each as source | output | heatmap with
   its instruction, score, sub-scores and baselines. The images come from the rows'
   ``source`` / ``output`` / ``instruction`` fields or, for rows without them, from the
   scored manifest (``data``), joined by id as the evaluation engine names items. The
   heatmap needs the metric (``metric``) to explain those few triplets again.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from PIL import Image, ImageOps

from .errors import I2IInputError
from .heatmap import heatmap_overlay
from .inputs import load_image
from .meta_eval import METRIC, MetaEvalResult, format_comparison, load_labels, meta_evaluate, read_results

__all__ = ["build_report"]

THUMBNAIL_PX = 256  # longest side of each example image, scaled up or down to it
_SUBSCORES = ("instruction", "preservation", "quality")

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }
h1 { font-size: 1.5em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table.stats { border-collapse: collapse; font-size: .85em; }
table.stats th, table.stats td { border-bottom: 1px solid #e4e4e4; padding: .3em .6em; text-align: left;
  vertical-align: top; white-space: nowrap; }
table.stats .aside { display: block; color: #777; font-size: .85em; }
.note { color: #666; font-size: .9em; }
.example { border: 1px solid #ddd; border-radius: 6px; padding: .6em; margin: .8em 0; }
.example .images { display: flex; gap: .6em; flex-wrap: wrap; }
.example figure { margin: 0; text-align: center; font-size: .8em; color: #555; }
.example img { display: block; max-width: 256px; max-height: 256px; }
.example .missing { width: 160px; padding: 1em; background: #f4f4f4; font-size: .8em; word-break: break-all; }
.example .caption { margin-top: .4em; font-size: .9em; }
.example code { font-size: .95em; }
img.plot { max-width: 100%; }
"""


def build_report(
    results,
    out,
    labels=None,
    metric=None,
    data=None,
    top: int = 8,
    meta_eval_options: dict | None = None,
) -> Path:
    """Write the HTML report of a results file.

    Args:
        results: a results JSONL path, or its rows as dicts.
        out: the ``.html`` file to write.
        labels: human labels for the agreement section: a manifest path, or records
            (:func:`i2imetric.meta_eval.load_labels` reads ImagenHub TSVs); None leaves it out.
        metric: an :class:`i2imetric.I2IMetric` to draw heatmaps of the examples with;
            None shows source | output only.
        data: the scored manifest (path or records), for rows without image paths.
        top: how many best and worst rows to show.
        meta_eval_options: keyword arguments for :func:`i2imetric.meta_eval.meta_evaluate`
            (e.g. ``{"n_resamples": 200}``).

    Returns:
        The path of the written file.
    """
    rows = read_results(results) if isinstance(results, (str, os.PathLike)) else list(results)
    title = os.path.basename(os.fspath(results)) if isinstance(results, (str, os.PathLike)) else "results"
    scored = [row for row in rows if _is_scored(row)]
    sections = [_summary_section(rows, scored), _distribution_section(scored)]
    if labels is not None:
        records = load_labels(labels) if isinstance(labels, (str, os.PathLike)) else labels
        agreement = meta_evaluate(rows, records, **(meta_eval_options or {}))
        sections.append(_agreement_section(agreement))
    sections.append(_examples_section(scored, _triplets_by_id(data), metric, top))
    page = _page(f"i2imetric report: {title}", sections)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------


def _summary_section(rows: list[dict], scored: list[dict]) -> str:
    failures = Counter(str(row.get("error") or "no reason given") for row in rows if not _is_scored(row))
    systems = sorted({str(row["system"]) for row in scored if row.get("system") is not None})
    baselines = list(dict.fromkeys(name for row in scored for name in row.get("baselines") or {}))
    items = [
        f"{len(rows)} rows: {len(scored)} scored, {len(rows) - len(scored)} failed",
        f"systems: {', '.join(systems) if systems else 'none named'}",
        f"baselines: {', '.join(baselines) if baselines else 'none'}",
    ]
    if scored:
        scores = np.array([row["score"] for row in scored])
        items.append(f"score: mean {scores.mean():.3f}, median {np.median(scores):.3f}, range [{scores.min():.3f}, {scores.max():.3f}]")
    items += [f"failed {count}x: {reason}" for reason, count in failures.most_common(5)]
    listing = "".join(f"<li>{html.escape(item)}</li>" for item in items)
    return f'<section id="summary"><h2>Summary</h2><ul>{listing}</ul></section>'


def _distribution_section(scored: list[dict]) -> str:
    if not scored:
        return '<section id="distributions"><h2>Score distributions</h2><p class="note">No scored rows.</p></section>'
    figures = [_score_figure(scored)]
    if any(row.get("subscores") for row in scored):
        figures.append(_subscore_figure(scored))
    plots = "".join(_img(_png(figure), "plot", "score distribution") for figure in figures)
    return f'<section id="distributions"><h2>Score distributions</h2>{plots}</section>'


def _score_figure(scored: list[dict]) -> Figure:
    """Violins of the score per system, ordered by median; one histogram without systems."""
    by_system: dict[str, list[float]] = {}
    for row in scored:
        by_system.setdefault(str(row.get("system") or "all rows"), []).append(row["score"])
    figure = Figure(figsize=(10, 4))
    axes = figure.subplots()
    if len(by_system) == 1:
        ((name, scores),) = by_system.items()
        axes.hist(scores, bins=min(40, max(5, len(scores) // 4)), color="#4c72b0")
        axes.set_title(f"metric score, {name} (n={len(scores)})")
        axes.set_xlabel("score")
        axes.set_ylabel("rows")
    else:
        names = sorted(by_system, key=lambda name: np.median(by_system[name]), reverse=True)
        axes.violinplot([by_system[name] for name in names], showmedians=True)
        labels = [f"{name}\n(n={len(by_system[name])})" for name in names]
        axes.set_xticks(range(1, len(names) + 1), labels, rotation=30 if len(names) > 6 else 0, fontsize=8)
        axes.set_title("metric score per system, best median first (higher is better)")
        axes.set_ylabel("score")
    figure.tight_layout()
    return figure


def _subscore_figure(scored: list[dict]) -> Figure:
    figure = Figure(figsize=(10, 2.6))
    for axes, name in zip(figure.subplots(1, len(_SUBSCORES)), _SUBSCORES):
        values = [_number(row.get("subscores", {}).get(name)) for row in scored]
        values = [value for value in values if math.isfinite(value)]
        axes.hist(values, bins=min(30, max(5, len(values) // 4)), color="#55a868")
        axes.set_title(f"sub-score: {name}")
    figure.tight_layout()
    return figure


def _agreement_section(result: MetaEvalResult) -> str:
    parts = ['<section id="agreement"><h2>Agreement with human labels</h2>', _stats_table(result)]
    notes = [result.coverage.summary() + ".", *result.notes]
    level = int(round(100 * result.options["confidence"]))
    notes.insert(
        0,
        f"{level}% bootstrap intervals ({result.options['n_resamples']} resamples). Under a baseline: "
        "metric minus baseline, and the one-sided paired-bootstrap p-value that the metric is not better.",
    )
    parts += [f'<p class="note">{html.escape(note)}</p>' for note in notes]
    if result.ratings is not None:
        parts.append(_img(_png(_scatter_figure(result)), "plot", "scores against human ratings"))
    else:
        parts.append('<p class="note">Scatter plots need rating labels; these labels are pairwise.</p>')
    parts.append("</section>")
    return "".join(parts)


def _stats_table(result: MetaEvalResult) -> str:
    show_human = any(row.human is not None for row in result.rows)
    head = ["statistic", "n", *result.scorers, *(["human"] if show_human else [])]
    lines = ["<table class='stats'><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for row in result.rows:
        cells = [html.escape(row.label), f"{row.n} {row.units}"]
        for scorer in result.scorers:
            estimate = row.values[scorer]
            asides = [estimate.format_params()]
            if scorer != METRIC:
                asides.append("metric − this: " + format_comparison(row.versus_metric[scorer]))
            aside = "".join(f"<span class='aside'>{html.escape(text)}</span>" for text in asides if text)
            cells.append(html.escape(estimate.format()) + aside)
        if show_human:
            cells.append(html.escape(row.human.format()) if row.human else "")
        lines.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    return "".join(lines) + "</table>"


def _scatter_figure(result: MetaEvalResult) -> Figure:
    """Every scorer against the mean human rating, one panel each, titled with Spearman's rho."""
    ratings = result.ratings
    spearman = next((row for row in result.rows if row.key == "ratings/sample/spearman"), None)
    columns = min(4, len(result.scorers))
    n_rows = math.ceil(len(result.scorers) / columns)
    figure = Figure(figsize=(2.8 * columns, 2.6 * n_rows))
    panels = figure.subplots(n_rows, columns, squeeze=False).ravel()
    for axes, scorer in zip(panels, result.scorers):
        axes.scatter(ratings.scores[scorer], ratings.human, s=6, alpha=0.35, color="#4c72b0", linewidths=0)
        rho = spearman.values[scorer].value if spearman is not None else math.nan
        axes.set_title(f"{scorer} (Spearman {rho:.2f})", fontsize=9)
        negated = scorer in result.options["lower_is_better"]
        axes.set_xlabel("score, negated (a distance)" if negated else "score", fontsize=8)
        axes.set_ylabel("human rating", fontsize=8)
        axes.tick_params(labelsize=7)
    for axes in panels[len(result.scorers):]:
        axes.set_visible(False)
    figure.tight_layout()
    return figure


def _examples_section(scored: list[dict], triplets: dict[str, tuple], metric, top: int) -> str:
    ranked = sorted(scored, key=lambda row: row["score"], reverse=True)
    parts = ['<section id="examples">']
    if metric is None:
        parts.append('<p class="note">No heatmaps: pass a metric (--metric) to draw where each edit helped or hurt.</p>')
    for heading, chosen in ((f"Best {top}", ranked[:top]), (f"Worst {top}", ranked[::-1][:top])):
        parts.append(f"<h2>{html.escape(heading)} by score</h2>")
        parts += [_example(row, triplets, metric) for row in chosen]
    parts.append("</section>")
    return "".join(parts)


def _example(row: dict, triplets: dict[str, tuple], metric) -> str:
    source, instruction, output = _images_of(row, triplets)
    figures = []
    if output is None:
        figures.append('<p class="note">No image paths in this row; pass the scored manifest (--data).</p>')
    else:
        figures.append(_figure("source", source) if source else "")
        figures.append(_figure("output", output))
        if metric is not None and source is not None and instruction is not None:
            figures.append(_heatmap_figure(metric, source, instruction, output))
    return (
        "<div class='example'><div class='images'>"
        + "".join(figures)
        + "</div><div class='caption'>"
        + _caption(row, instruction)
        + "</div></div>"
    )


def _caption(row: dict, instruction: str | None) -> str:
    subscores = ", ".join(f"{name} {_number(value):+.3f}" for name, value in (row.get("subscores") or {}).items())
    baselines = ", ".join(f"{name} {_number(value):.3f}" for name, value in (row.get("baselines") or {}).items())
    lines = [
        f"<b>score {row['score']:+.3f}</b> &nbsp; <code>{html.escape(str(row.get('id')))}</code>"
        + (f" &nbsp; system {html.escape(str(row['system']))}" if row.get("system") else ""),
        f"instruction: “{html.escape(instruction)}”" if instruction else "instruction: (none)",
        f"sub-scores: {html.escape(subscores)}" if subscores else "",
        f"baselines: {html.escape(baselines)}" if baselines else "",
    ]
    return "<br>".join(line for line in lines if line)


def _figure(caption: str, path: str) -> str:
    try:
        thumbnail = _thumbnail(load_image(path, name=caption))
    except I2IInputError as problem:
        return f"<figure><div class='missing'>{html.escape(caption)} unreadable: {html.escape(str(problem))}</div></figure>"
    return f"<figure>{_img(_png(thumbnail), '', caption)}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _heatmap_figure(metric, source: str, instruction: str, output: str) -> str:
    try:
        explanation = metric.explain(source, instruction, output)
        overlay = heatmap_overlay(explanation.patch_map, output)
    except I2IInputError as problem:
        return f"<figure><div class='missing'>heatmap failed: {html.escape(str(problem))}</div></figure>"
    # The given metric re-scores the triplet; showing its score exposes a mismatch with
    # the results when they came from another metric.
    caption = f"heatmap: red helped, blue hurt (re-scored {explanation.score:+.3f})"
    return f"<figure>{_img(_png(_thumbnail(overlay)), '', caption)}<figcaption>{html.escape(caption)}</figcaption></figure>"


# --------------------------------------------------------------------------
# Rows, images, HTML
# --------------------------------------------------------------------------


def _is_scored(row: dict) -> bool:
    return row.get("status", "ok") == "ok" and math.isfinite(_number(row.get("score")))


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def _triplets_by_id(data) -> dict[str, tuple]:
    """Result id -> ``(source, instruction, output)`` for the records of the scored manifest."""
    if data is None:
        return {}
    from ._eval_items import items_from_records
    from .datasets import read_manifest

    records = read_manifest(data).records if isinstance(data, (str, os.PathLike)) else data
    return {item.id: (item.source, item.instruction, item.output) for item in items_from_records(records)}


def _images_of(row: dict, triplets: dict[str, tuple]) -> tuple:
    """``(source, instruction, output)`` of a row: its own fields, else the manifest's."""
    if isinstance(row.get("output"), str):
        return row.get("source"), row.get("instruction"), row["output"]
    return triplets.get(str(row.get("id")), (None, None, None))


def _thumbnail(image: Image.Image) -> Image.Image:
    # Up as well as down: a 64 px output should be as easy to inspect as a 1024 px one.
    return ImageOps.contain(image, (THUMBNAIL_PX, THUMBNAIL_PX))


def _png(picture: Image.Image | Figure) -> bytes:
    buffer = io.BytesIO()
    if isinstance(picture, Figure):
        picture.savefig(buffer, format="png", dpi=100)
    else:
        picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _img(png: bytes, css_class: str, alt: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f'<img class="{css_class}" alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def _page(title: str, sections: Sequence[str]) -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{''.join(sections)}</body></html>\n"
    )
