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

Cases with a right answer (``right_answer``, as ``i2imetric demo`` writes them): rows
that share a ``case`` (else a source and instruction) are candidates for one edit, and
the ``system`` named ``right_answer`` is the correct one. Scores of different cases
cannot be compared, so sections 2 and 4 give way to what can: the right answer's rank
in each case and the share of the case's wrong answers it beats (per case and overall,
as the demo prints them), then each case's candidates best first. A wrong answer that
ties the right one ranks above it and is not beaten. A candidate's heatmap is the PNG its
row names in ``heatmap`` (the demo draws them as it scores), else drawn with ``metric``.

Scores are shown calibrated where the scorer has a calibration: a row's own
``calibrated`` field (``i2imetric demo`` writes one), else the Platt calibration that the
results header records of the metric (``i2imetric eval`` writes it), as a number in [0, 1]
with its raw logit beside it; the summary says once what the calibrated number means
(:data:`~i2imetric.models.config.CALIBRATED_MEANING`). Without either, the raw logit is
shown and the summary says that the scorer has no calibration.

Image paths: a result row names its images by absolute path, as ``i2imetric eval`` and
``i2imetric demo`` write them. A relative path (a hand-written file) is read from the
results file's folder, never from the working folder, so the report reads the same
images wherever it is run from. Rows passed in memory are used as they are.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from PIL import Image, ImageOps

from .._numbers import check_int, real_or_nan
from ..errors import I2IInputError, ResultsError
from ..evaluation.results import header_skipped_lines, read_header
from ..io.images import load_image
from ..meta_eval import METRIC, MetaEvalResult, format_comparison, load_labels, meta_evaluate, read_results
from ..models.config import CALIBRATED_MEANING, SUBSCORE_NAMES
from .heatmap import heatmap_overlay

__all__ = ["CaseRanking", "build_report", "rank_cases"]

THUMBNAIL_PX = 256  # longest side of each example image, scaled up or down to it
CANDIDATE_PX = 160  # smaller for the candidates of a case: a case shows all of them

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
.headline { font-size: 1.1em; }
.case .images { display: flex; gap: .6em; flex-wrap: wrap; align-items: flex-start; }
.case figure { margin: 0; text-align: center; font-size: .8em; color: #555; }
.case .pair { display: flex; gap: 2px; }
.case .right { outline: 3px solid #2a9d4a; outline-offset: 2px; }
.case .missing { width: 120px; padding: 1em; background: #f4f4f4; font-size: .8em; word-break: break-all; }
"""


def build_report(
    results,
    out,
    labels=None,
    metric=None,
    data=None,
    top: int = 8,
    meta_eval_options: dict | None = None,
    right_answer: str | None = None,
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
        top: how many best and worst rows to show (a positive int).
        meta_eval_options: keyword arguments for :func:`i2imetric.meta_eval.meta_evaluate`
            (e.g. ``{"n_resamples": 200}``).
        right_answer: the ``system`` of the right answer when the rows are cases of
            candidates (see the module docstring); the report then ranks each case instead
            of pooling scores across cases, and ``top`` is not used.

    Returns:
        The path of the written file.

    Raises:
        I2IInputError: ``top`` not a positive int (checked even with ``right_answer``, which ignores it).
    """
    # A negative top sliced ranked[:-3], "all but the last 3"; zero drew empty sections.
    check_int("top", top, 1)
    from_file = isinstance(results, (str, os.PathLike))
    rows = read_results(results) if from_file else list(results)
    title = os.path.basename(os.fspath(results)) if from_file else "results"
    header = _header(Path(results)) if from_file else None
    calibration = _header_calibration(header)
    # Copies: rows passed in memory belong to the caller.
    scored = [{**row, "calibrated": _calibrated(row, calibration)} for row in rows if _is_scored(row)]
    triplets = _triplets_by_id(data)
    if right_answer is None:
        sections = [_summary_section(rows, scored, skipped=header_skipped_lines(header)), _distribution_section(scored)]
    else:
        rankings, unranked = rank_cases(scored, right_answer)
        # A mean score over several cases mixes numbers that cannot be compared: left out.
        sections = [_summary_section(rows, scored, pooled=False, skipped=header_skipped_lines(header)),
                    _rankings_section(rankings, unranked, right_answer)]
    if labels is not None:
        records = load_labels(labels) if isinstance(labels, (str, os.PathLike)) else labels
        agreement = meta_evaluate(rows, records, **(meta_eval_options or {}))
        sections.append(_agreement_section(agreement))
    if right_answer is None:
        sections.append(_examples_section(scored, triplets, metric, top))
    else:
        sections.append(_cases_section(rankings, triplets, metric))
    page = _page(f"i2imetric report: {title}", sections)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------


def _summary_section(rows: list[dict], scored: list[dict], pooled: bool = True, skipped: list = ()) -> str:
    failures = Counter(str(row.get("error") or "no reason given") for row in rows if not _is_scored(row))
    systems = sorted({str(row["system"]) for row in scored if row.get("system") is not None})
    baselines = list(dict.fromkeys(name for row in scored for name in row.get("baselines") or {}))
    items = [
        f"{len(rows)} rows: {len(scored)} scored, {len(rows) - len(scored)} failed",
        f"systems: {', '.join(systems) if systems else 'none named'}",
        f"baselines: {', '.join(baselines) if baselines else 'none'}",
    ]
    calibrated = np.array([row["calibrated"] for row in scored if row["calibrated"] is not None])
    if calibrated.size and pooled:
        share = "" if calibrated.size == len(scored) else f" ({calibrated.size} of {len(scored)} rows)"
        items.append(f"calibrated score: mean {calibrated.mean():.3f}, median {np.median(calibrated):.3f}, "
                     f"range [{calibrated.min():.3f}, {calibrated.max():.3f}]{share}")
    if scored and pooled:
        scores = np.array([row["score"] for row in scored])
        items.append(f"raw score (logit): mean {scores.mean():.3f}, median {np.median(scores):.3f}, "
                     f"range [{scores.min():.3f}, {scores.max():.3f}]")
    items += [f"failed {count}x: {reason}" for reason, count in failures.most_common(5)]
    if skipped:  # lines the run could not read as records: they have no row, so say so here
        items.append(f"{len(skipped)} manifest line(s) skipped as malformed, never scored"
                     + "".join(f"; {where}: {reason}" for where, reason in skipped[:5])
                     + ("; ..." if len(skipped) > 5 else ""))
    listing = "".join(f"<li>{html.escape(item)}</li>" for item in items)
    note = f'<p class="note">{html.escape(_scale_note(calibrated.size, len(scored)))}</p>' if scored else ""
    return f'<section id="summary"><h2>Summary</h2><ul>{listing}</ul>{note}</section>'


def _scale_note(calibrated: int, scored: int) -> str:
    """What the numbers shown for each row are, said once rather than on every row."""
    raw = ("The raw score is a logit: higher is better, and a difference of d between two outputs for the "
           "same source and instruction is a log-odds: the first is preferred with odds e**d.")
    if not calibrated:
        return (f"No calibration: the scorer that made these rows carries none, so only raw scores are shown. {raw} "
                "Training fits one (calibrate: true); metric.score(..., calibrated=True) applies it.")
    note = f"Calibrated score (the number in [0, 1] shown first): {CALIBRATED_MEANING}. {raw}"
    if calibrated < scored:
        note += f" {scored - calibrated} of {scored} rows have no calibrated score and show the raw one only."
    return note


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
        axes.set_xlabel("raw score (logit)")
        axes.set_ylabel("rows")
    else:
        names = sorted(by_system, key=lambda name: np.median(by_system[name]), reverse=True)
        axes.violinplot([by_system[name] for name in names], showmedians=True)
        labels = [f"{name}\n(n={len(by_system[name])})" for name in names]
        axes.set_xticks(range(1, len(names) + 1), labels, rotation=30 if len(names) > 6 else 0, fontsize=8)
        axes.set_title("metric score per system, best median first (higher is better)")
        axes.set_ylabel("raw score (logit)")
    figure.tight_layout()
    return figure


def _subscore_figure(scored: list[dict]) -> Figure:
    figure = Figure(figsize=(10, 2.6))
    for axes, name in zip(figure.subplots(1, len(SUBSCORE_NAMES)), SUBSCORE_NAMES):
        values = [real_or_nan(row.get("subscores", {}).get(name)) for row in scored]
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
    subscores = ", ".join(f"{name} {real_or_nan(value):+.3f}" for name, value in (row.get("subscores") or {}).items())
    baselines = ", ".join(f"{name} {real_or_nan(value):.3f}" for name, value in (row.get("baselines") or {}).items())
    lines = [
        f"<b>{html.escape(_score_text(row))}</b> &nbsp; <code>{html.escape(str(row.get('id')))}</code>"
        + (f" &nbsp; system {html.escape(str(row['system']))}" if row.get("system") else ""),
        f"instruction: “{html.escape(instruction)}”" if instruction else "instruction: (none)",
        f"sub-scores: {html.escape(subscores)}" if subscores else "",
        f"baselines: {html.escape(baselines)}" if baselines else "",
    ]
    return "<br>".join(line for line in lines if line)


def _figure(caption: str, path: str, size: int = THUMBNAIL_PX) -> str:
    return f"<figure>{_thumbnail_img(path, caption, size)}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _thumbnail_img(path: str, name: str, size: int) -> str:
    """The image at ``path`` as an embedded thumbnail, or a note saying why it cannot be read."""
    if not os.path.isfile(path):
        # Say where the path came from: the image loader's hint (the working folder) is
        # not where a results row's paths start.
        problem = (
            f"{path}: no such file (a results row names its images by absolute path, or relative to "
            "the results file's folder; check that the images were not moved)"
        )
        return _missing(f"{name} unreadable: {problem}")
    try:
        thumbnail = _thumbnail(load_image(path, name=name), size)
    except I2IInputError as problem:
        return _missing(f"{name} unreadable: {problem}")
    return _img(_png(thumbnail), "", name)


def _heatmap_figure(metric, source: str, instruction: str, output: str) -> str:
    # The given metric re-scores the triplet; showing its score exposes a mismatch with
    # the results when they came from another metric.
    image, explanation = _heatmap(metric, source, instruction, output, THUMBNAIL_PX)
    if explanation is None:
        caption = "heatmap"
    else:
        rescored = _score_text({"score": explanation.score, "calibrated": explanation.calibrated}, short=True)
        caption = f"heatmap: red helped, blue hurt (re-scored {rescored})"
    return f"<figure>{image}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _heatmap(metric, source: str, instruction: str, output: str, size: int) -> tuple[str, object]:
    """The heatmap of a triplet as an embedded image, and the metric's explanation of it (None on failure)."""
    try:
        explanation = metric.explain(source, instruction, output)
        overlay = heatmap_overlay(explanation.patch_map, output, preprocess=metric)
    except I2IInputError as problem:
        return _missing(f"heatmap failed: {problem}"), None
    return _img(_png(_thumbnail(overlay, size)), "", "heatmap: red helped, blue hurt"), explanation


def _missing(text: str) -> str:
    return f"<div class='missing'>{html.escape(text)}</div>"


# --------------------------------------------------------------------------
# Cases with a right answer
# --------------------------------------------------------------------------


@dataclass
class CaseRanking:
    """One case's candidates, best first, and where the right answer landed.

    Args:
        case: the case's name.
        instruction: its instruction, when the rows carry it.
        ranked: the case's scored rows, highest score first; a wrong answer that ties the
            right one comes before it (a tie is not a win).
        right_answer: the ``system`` of the right answer.
    """

    case: str
    instruction: str | None
    ranked: list[dict]
    right_answer: str

    @property
    def right_rank(self) -> int:
        """The right answer's 1-based place in :attr:`ranked`."""
        return next(place for place, row in enumerate(self.ranked, 1) if row.get("system") == self.right_answer)

    @property
    def wrong(self) -> int:
        """How many wrong answers the case has."""
        return len(self.ranked) - 1

    @property
    def beaten(self) -> int:
        """How many wrong answers score strictly below the right one."""
        right = self.ranked[self.right_rank - 1]["score"]
        return sum(row["score"] < right for row in self.ranked if row.get("system") != self.right_answer)


def rank_cases(scored: Sequence[dict], right_answer: str) -> tuple[list[CaseRanking], list[str]]:
    """Rank the candidates of every case, as ``i2imetric demo`` prints them.

    Args:
        scored: scored result rows; a row's case is its ``case`` field, else its source
            and instruction.
        right_answer: the ``system`` of the right answer in every case.

    Returns:
        The rankings of the cases that have exactly one scored right answer, in order of
        first appearance, and the names of the cases left out (no scored right answer).

    Raises:
        I2IInputError: no case has a scored row of ``right_answer``, or a case has two.
    """
    cases: dict[str, list[dict]] = {}
    for row in scored:
        cases.setdefault(_case_of(row), []).append(row)
    rankings, unranked = [], []
    for case, rows in cases.items():
        rights = sum(row.get("system") == right_answer for row in rows)
        if rights > 1:
            raise I2IInputError(
                f"case {case!r}: {rights} rows have system {right_answer!r}; a case has one right answer, "
                "give each case its own 'case' field"
            )
        if not rights:
            unranked.append(case)
            continue
        # On equal scores the right answer goes last: a tie must not look like a win.
        ranked = sorted(rows, key=lambda row: (-row["score"], row.get("system") == right_answer))
        rankings.append(CaseRanking(case, rows[0].get("instruction"), ranked, right_answer))
    if not rankings:
        systems = sorted({str(row.get("system")) for row in scored})
        raise I2IInputError(
            f"no case has a scored row of system {right_answer!r} (systems: {', '.join(systems) or 'none'}); "
            "pass the system name of the right answer"
        )
    return rankings, unranked


def _case_of(row: dict) -> str:
    if row.get("case") is not None:
        return str(row["case"])
    return f"{row.get('source')} | {row.get('instruction')}"


def _share(beaten: int, wrong: int) -> str:
    return f"{100 * beaten / wrong:.1f}%" if wrong else "n/a"


def _rankings_section(rankings: list[CaseRanking], unranked: list[str], right_answer: str) -> str:
    beaten = sum(ranking.beaten for ranking in rankings)
    wrong = sum(ranking.wrong for ranking in rankings)
    firsts = sum(ranking.right_rank == 1 for ranking in rankings)
    headline = (
        f"The {right_answer} beat {beaten} of {wrong} wrong answers ({_share(beaten, wrong)}) and was ranked "
        f"first in {firsts} of {len(rankings)} cases."
    )
    head = ["case", "instruction", f"rank of the {right_answer}", "wrong answers beaten", "share"]
    lines = ["<table class='stats'><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for ranking in rankings:
        cells = [
            ranking.case,
            ranking.instruction or "",
            f"{ranking.right_rank} of {len(ranking.ranked)}",
            f"{ranking.beaten} of {ranking.wrong}",
            _share(ranking.beaten, ranking.wrong),
        ]
        lines.append("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>")
    overall = ["all cases", "", f"first in {firsts} of {len(rankings)}", f"{beaten} of {wrong}", _share(beaten, wrong)]
    lines.append("<tr>" + "".join(f"<th>{html.escape(cell)}</th>" for cell in overall) + "</tr></table>")
    parts = [
        '<section id="rankings"><h2>Where the right answer landed</h2>',
        f'<p class="headline">{html.escape(headline)}</p>',
        _img(_png(_rankings_figure(rankings)), "plot", "share of wrong answers the right answer beats, per case"),
        "".join(lines),
        '<p class="note">Scores rank the candidates of one case; they are not compared across cases.</p>',
    ]
    if unranked:
        left_out = f"Left out, no scored {right_answer}: {', '.join(unranked)}."
        parts.append(f'<p class="note">{html.escape(left_out)}</p>')
    parts.append("</section>")
    return "".join(parts)


def _rankings_figure(rankings: list[CaseRanking]) -> Figure:
    """Per case, the share of wrong answers the right one beats, labelled with its rank."""
    figure = Figure(figsize=(10, 0.45 * len(rankings) + 1.2))
    axes = figure.subplots()
    shares = [ranking.beaten / ranking.wrong if ranking.wrong else 0.0 for ranking in rankings]
    places = np.arange(len(rankings))[::-1]
    colours = ["#2a9d4a" if ranking.right_rank == 1 else "#d08c2a" for ranking in rankings]
    axes.barh(places, shares, color=colours)
    for place, share, ranking in zip(places, shares, rankings):
        axes.text(share + 0.01, place, f"rank {ranking.right_rank} of {len(ranking.ranked)}", va="center", fontsize=8)
    axes.set_yticks(places, [ranking.case for ranking in rankings], fontsize=8)
    axes.set_xlim(0, 1.15)
    axes.set_xlabel("share of the case's wrong answers scored below the right one")
    axes.set_title("the right answer in each case (green: ranked first)")
    figure.tight_layout()
    return figure


def _cases_section(rankings: list[CaseRanking], triplets: dict[str, tuple], metric) -> str:
    parts = ['<section id="cases"><h2>Every case, best candidate first</h2>']
    drawn = all(isinstance(row.get("heatmap"), str) for ranking in rankings for row in ranking.ranked)
    if metric is None and not drawn:
        parts.append('<p class="note">No heatmaps: pass a metric (--metric) to draw where each edit helped or hurt.</p>')
    for ranking in rankings:
        parts.append(_case(ranking, triplets, metric))
    parts.append("</section>")
    return "".join(parts)


def _case(ranking: CaseRanking, triplets: dict[str, tuple], metric) -> str:
    source, instruction, _ = _images_of(ranking.ranked[0], triplets)
    instruction = ranking.instruction or instruction
    heading = f"{ranking.case}: “{instruction}”" if instruction else ranking.case
    figures = [_figure("source", source, CANDIDATE_PX)] if source else []
    for place, row in enumerate(ranking.ranked, 1):
        figures.append(_candidate(place, row, ranking.right_answer, triplets, metric))
    return f"<div class='case'><h3>{html.escape(heading)}</h3><div class='images'>{''.join(figures)}</div></div>"


def _candidate(place: int, row: dict, right_answer: str, triplets: dict[str, tuple], metric) -> str:
    source, instruction, output = _images_of(row, triplets)
    is_right = row.get("system") == right_answer
    caption = f"{place}. {_score_text(row, short=True)} {row.get('system')}" + (" ← the right answer" if is_right else "")
    if output is None:
        images = "<div class='missing'>no image path in this row; pass the scored manifest (--data)</div>"
    else:
        images = _thumbnail_img(output, "output", CANDIDATE_PX)
        if isinstance(row.get("heatmap"), str):
            images += _thumbnail_img(row["heatmap"], "heatmap", CANDIDATE_PX)
        elif metric is not None and source is not None and instruction is not None:
            images += _heatmap(metric, source, instruction, output, CANDIDATE_PX)[0]
    css = " class='right'" if is_right else ""
    return f"<figure{css}><div class='pair'>{images}</div><figcaption>{html.escape(caption)}</figcaption></figure>"


# --------------------------------------------------------------------------
# Rows, images, HTML
# --------------------------------------------------------------------------


def _score_text(row: dict, short: bool = False) -> str:
    """A row's score as shown: calibrated first when it has one, its raw logit always."""
    raw = f"{row['score']:+.3f}"
    if row.get("calibrated") is None:
        return raw if short else f"score {raw} (raw logit; no calibration)"
    return f"{row['calibrated']:.3f} ({raw})" if short else f"calibrated {row['calibrated']:.3f} (raw score {raw})"


def _header(path: Path) -> dict | None:
    """The results file's header, or None (rows in memory, no header, or one that cannot be read)."""
    try:
        return read_header(path)
    except ResultsError:
        return None


def _header_calibration(header: dict | None):
    """The Platt calibration the results header records of the metric, or None.

    A malformed entry counts as none: the report then shows raw scores, which are always right.
    """
    calibration = ((header or {}).get("metric") or {}).get("calibration")
    if not isinstance(calibration, dict):
        return None
    slope, intercept = real_or_nan(calibration.get("slope")), real_or_nan(calibration.get("intercept"))
    return (slope, intercept) if math.isfinite(slope) and math.isfinite(intercept) else None


def _calibrated(row: dict, calibration) -> float | None:
    """The row's own calibrated score (the demo writes one), else the header's calibration applied to its score."""
    own = real_or_nan(row.get("calibrated"))
    if math.isfinite(own) and 0.0 <= own <= 1.0:
        return own
    if calibration is None:
        return None
    slope, intercept = calibration
    # The same formula as i2imetric.models.outputs.Calibration, without importing torch here.
    return 1.0 / (1.0 + math.exp(-min(700.0, max(-700.0, slope * row["score"] + intercept))))


def _is_scored(row: dict) -> bool:
    return row.get("status", "ok") == "ok" and math.isfinite(real_or_nan(row.get("score")))


def _triplets_by_id(data) -> dict[str, tuple]:
    """Result id -> ``(source, instruction, output)`` for the records of the scored manifest."""
    if data is None:
        return {}
    from ..data import read_manifest
    from ..evaluation.items import items_from_records

    records = read_manifest(data).records if isinstance(data, (str, os.PathLike)) else data
    return {item.id: (item.source, item.instruction, item.output) for item in items_from_records(records)}


def _images_of(row: dict, triplets: dict[str, tuple]) -> tuple:
    """``(source, instruction, output)`` of a row: its own fields, else the manifest's."""
    if isinstance(row.get("output"), str):
        return row.get("source"), row.get("instruction"), row["output"]
    return triplets.get(str(row.get("id")), (None, None, None))


def _thumbnail(image: Image.Image, size: int = THUMBNAIL_PX) -> Image.Image:
    # Up as well as down: a 64 px output should be as easy to inspect as a 1024 px one.
    return ImageOps.contain(image, (size, size))


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
