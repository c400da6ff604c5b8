"""The results of a meta-evaluation: estimates, table rows, coverage, and their formatting."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = [
    "METRIC",
    "Coverage",
    "Estimate",
    "MetaEvalResult",
    "Param",
    "RatedItems",
    "StatisticRow",
    "format_comparison",
]

METRIC = "metric"  # the scorer name of a result row's own ``score``; baselines go by theirs
_PARAM_SYMBOLS = {"epsilon": "eps", "tau": "tau"}


@dataclass(frozen=True)
class Param:
    """A fitted parameter that has no value, and why (e.g. no tie threshold was fitted).

    JSON holds it as ``{"value": null, "reason": "..."}``; the table prints the reason.
    """

    value: None
    reason: str


@dataclass
class Estimate:
    """A statistic with its bootstrap interval, and the thresholds fitted for it (if any)."""

    value: float
    low: float
    high: float
    params: dict[str, float | Param] = field(default_factory=dict)

    def format(self) -> str:
        """``"0.712 [0.668, 0.755]"``; undefined numbers read ``n/a``."""
        return f"{_number_text(self.value)} [{_number_text(self.low)}, {_number_text(self.high)}]"

    def format_params(self) -> str:
        """The fitted thresholds, e.g. ``"eps=0.05 tau=1.2"``, or the reason one is missing
        (``"eps=0 no tie threshold: ..."``); empty when none were fitted."""
        return " ".join(
            value.reason if isinstance(value, Param) else f"{_PARAM_SYMBOLS.get(name, name)}={value:.4g}"
            for name, value in self.params.items()
        )


def format_comparison(test: dict[str, float]) -> str:
    """A paired test of metric minus baseline as ``"+0.062 p=0.004"``."""
    return f"{_number_text(test['delta'], sign=True)} p={test['p_value']:.3f}"


@dataclass
class StatisticRow:
    """One line of the table: one statistic for every scorer.

    Args:
        key: stable name, e.g. ``"ratings/sample/spearman"``.
        label: what the table shows.
        n: how many units were resampled.
        units: what they are (``"pairs"``, ``"items"``, ``"groups"``).
        values: scorer -> estimate.
        versus_metric: baseline -> :func:`i2imetric.stats.paired_bootstrap_test` result of
            metric minus baseline (``delta``, ``low``, ``high``, one-sided ``p_value``).
        human: the human-human agreement on the same units, where defined.
    """

    key: str
    label: str
    n: int
    units: str
    values: dict[str, Estimate]
    versus_metric: dict[str, dict[str, float]]
    human: Estimate | None = None


@dataclass
class Coverage:
    """What became of the label items on their way into the statistics.

    ``label_items == used + len(no_result) + failed``.
    """

    label_items: int = 0
    used: int = 0
    no_result: list[str] = field(default_factory=list)
    failed: int = 0

    def summary(self) -> str:
        text = f"{self.used} of {self.label_items} label items used"
        reasons = [
            (len(self.no_result), "without a result row"),
            (self.failed, "whose result row failed"),
        ]
        left_out = [f"{count} {why}" for count, why in reasons if count]
        if self.no_result:
            left_out[0] += f" (e.g. {', '.join(self.no_result[:3])})"
        return text + (f"; left out: {'; '.join(left_out)}" if left_out else "")


@dataclass
class RatedItems:
    """Rated outputs found in the results: the data behind the correlation rows.

    Args:
        ids: an id per item (its result id, else its output path).
        human: mean rating per item.
        raters: names of the raters who rated items individually.
        by_rater: ``[n_items, len(raters)]`` mean rating per rater, NaN where not rated.
        groups: group (source and instruction) per item, or None.
        systems: editing system per item, or None.
        scores: scorer -> score per item, higher-is-better.
    """

    ids: list[str]
    human: np.ndarray
    raters: list[str]
    by_rater: np.ndarray
    groups: np.ndarray | None
    systems: np.ndarray | None
    scores: dict[str, np.ndarray]


@dataclass
class MetaEvalResult:
    """Every statistic for every scorer, plus how the labels were matched.

    Args:
        scorers: ``"metric"`` first, then the baselines.
        rows: the table's statistics.
        coverage: how many label items were used.
        notes: why a statistic is absent, or how a scorer was read.
        options: the settings (resamples, seed, confidence, validation fraction, ...).
        ratings: the joined ratings, for plots; None without rating labels.
    """

    scorers: list[str]
    rows: list[StatisticRow]
    coverage: Coverage
    notes: list[str]
    options: dict
    ratings: RatedItems | None = None

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (NaN becomes None); the joined ratings are left out."""
        return _json_ready(
            {
                "scorers": self.scorers,
                "options": self.options,
                "coverage": asdict(self.coverage),
                "notes": self.notes,
                "statistics": [asdict(row) for row in self.rows],
            }
        )

    def format_table(self) -> str:
        """The table as aligned plain text: scorers side by side, one statistic per line.

        Under a statistic, ``fitted`` shows the thresholds fitted per scorer and
        ``metric - X`` the paired difference with its one-sided p-value (the first
        scorer's name stands for ``metric`` in a table of judges).
        """
        show_human = any(row.human is not None for row in self.rows)
        header = ["statistic", "n", *self.scorers, *(["human"] if show_human else [])]
        lines = [header]
        for row in self.rows:
            lines.extend(_table_lines(row, self.scorers, show_human))
        level = int(round(100 * self.options["confidence"]))
        footer = [
            f"{level}% percentile bootstrap CIs over {self.options['n_resamples']} resamples "
            f"(seed {self.options['seed']}); p: one-sided paired bootstrap, share of resamples "
            "where the metric does not beat the baseline.",
            self.coverage.summary() + ".",
            *self.notes,
        ]
        return _aligned(lines) + "\n\n" + "\n".join(footer)


def _table_lines(row: StatisticRow, scorers: list[str], show_human: bool) -> list[list[str]]:
    human = [row.human.format() if row.human else ""] if show_human else []
    lines = [[row.label, f"{row.n} {row.units}", *(row.values[s].format() for s in scorers), *human]]
    if any(estimate.params for estimate in row.values.values()):
        fitted = [row.values[s].format_params() for s in scorers]
        lines.append(["  fitted", "", *fitted, *[""] * show_human])
    if row.versus_metric:
        versus = ["", *(format_comparison(row.versus_metric[s]) for s in scorers[1:])]
        lines.append([f"  {scorers[0]} - X", "", *versus, *[""] * show_human])
    return lines


def _number_text(value: float, sign: bool = False) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value:+.3f}" if sign else f"{value:.3f}"


def _aligned(lines: list[list[str]]) -> str:
    widths = [max(len(line[column]) for line in lines) for column in range(len(lines[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines)


def _json_ready(value):
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
