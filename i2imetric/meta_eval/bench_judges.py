"""Judge verdicts in ``i2imetric bench`` results: scored on the very items a protocol's metric number is on.

A judge that states verdicts (GenAI-Bench's released judge files,
:mod:`i2imetric.meta_eval.judges`) has no score to threshold, so it is not scored through
the engine. It is scored instead on the units a protocol recorded in the bench JSON
(``items``: the vote ids and their human labels), by the rule that protocol calls for:

==========================  ==================================================================
protocol                    a judge's verdict is right when
==========================  ==================================================================
genai-bench ``four-way``    GenAI-Bench's own rule (``parse_response``, :func:`genai_bench_correct`)
genai-bench ``editreward``  its side, A, B or a tie, is the vote's; both kinds of human tie are
                            ties (:func:`verdict_side_right`), as the protocol reads the votes
==========================  ==================================================================

A judge is scored on the items it has a verdict for, and its entry says how many: ``n``
of the protocol's ``of``. A judge file that gives an item another human vote than the
bench data does is of another split and is refused. The interval is a percentile
bootstrap over those items, with the report's own resamples and seed.

:func:`add_judges` runs inside ``i2imetric bench --judges`` and again in
``i2imetric bench table --judges``, on JSON files written earlier, with the same result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import I2IInputError
from ..stats import bootstrap_ci
from .judges import JudgeFile, genai_bench_correct, verdict_side_right

__all__ = ["JUDGE_RULES", "add_judges", "judged_protocols"]

# i2imetric's pairwise labels -> GenAI-Bench's human votes.
_VOTE_OF_LABEL = {"a": "leftvote", "b": "rightvote", "tie": "tievote", "both_bad": "bothbad_vote"}

JUDGE_RULES: dict[tuple[str, str], tuple[str, Callable[[str | None, str], bool]]] = {
    ("genai-bench", "four-way"): ("GenAI-Bench's rule (inference.py parse_response)", genai_bench_correct),
    ("genai-bench", "editreward"): ("the verdict's side is the vote's (both kinds of tie are ties)", verdict_side_right),
}


def judged_protocols(report: dict) -> list[dict]:
    """The protocol entries of ``report`` that a judge can be scored on (a rule, and their items recorded)."""
    return [e for e in report["protocols"] if (report["benchmark"], e["name"]) in JUDGE_RULES and e.get("items")]


def add_judges(report: dict, judges: Sequence[JudgeFile], path: str | None = None) -> dict:
    """Put each judge's value on each judged protocol of ``report`` (in place; also returned).

    Args:
        report: a bench report (the dict ``i2imetric bench`` writes as ``<benchmark>.json``).
        judges: judge files (:func:`i2imetric.meta_eval.judges.read_genai_bench_judge`).
        path: the report's file, for messages.

    Returns:
        ``report``; each judged protocol's ``judges[<name>]`` is ``{"value", "ci95", "n",
        "of", "rule"}``: the share right over the ``n`` of its ``of`` items that the judge
        has a verdict for (value None when it has none, no interval below 2), and its
        notes say how the judges were scored.

    Raises:
        I2IInputError: no protocol of the report records its items (a file written before
            they were recorded: rerun ``i2imetric bench``, which reuses every scored row), two
            judges share a name, or a judge file's human vote of an item differs from the
            report's.
    """
    where = path or f"{report['benchmark']}.json"
    names = [judge.name for judge in judges]
    if len(set(names)) < len(names):
        raise I2IInputError(f"two judge files share the folder name in {', '.join(names)}; give each judge its own folder")
    entries = judged_protocols(report)
    if judges and not entries:
        raise I2IInputError(
            f"{where}: no protocol here records the items a judge can be scored on (judges apply to "
            f"{', '.join(sorted({b for b, _ in JUDGE_RULES}))}: {', '.join(sorted(n for _, n in JUDGE_RULES))}); "
            "if it is a genai-bench result written by an older i2imetric, rerun `i2imetric bench` (it reuses every "
            "scored row) to record them"
        )
    options = report.get("options", {})
    n_resamples, seed = int(options.get("n_resamples", 1000)), int(options.get("seed", 0))
    for entry in entries:
        description, rule = JUDGE_RULES[(report["benchmark"], entry["name"])]
        ids, labels = entry["items"]["ids"], entry["items"]["labels"]
        entry.setdefault("judges", {})
        for judge in judges:
            entry["judges"][judge.name] = _score(judge, ids, labels, rule, description, n_resamples, seed, where)
        note = (
            f"(judge) rows: the judge's stated verdicts on this protocol's {len(ids)} items (the metric's), right when "
            f"{description}; a judge with verdicts for fewer items is scored on those, n says how many."
        )
        if judges and note not in entry["notes"]:
            entry["notes"].append(note)
    return report


def _score(judge: JudgeFile, ids, labels, rule, description: str, n_resamples: int, seed: int, where: str) -> dict:
    by_idx = {str(vote.idx): vote for vote in judge.votes}
    right = []
    for item, label in zip(ids, labels):
        vote = by_idx.get(str(item))
        if vote is None:
            continue
        if vote.human_vote != _VOTE_OF_LABEL.get(label):
            raise I2IInputError(
                f"{judge.path}: line {vote.line}: idx {item} has human_vote {vote.human_vote!r}, but {where} has the "
                f"vote {_VOTE_OF_LABEL.get(label, label)!r} there; the judge file is of another split than the bench data"
            )
        right.append(float(rule(vote.model_vote, vote.human_vote)))
    values = np.array(right)
    entry = {"value": None, "ci95": [None, None], "n": len(values), "of": len(ids), "rule": description}
    if len(values) >= 2:
        value, low, high = bootstrap_ci(np.mean, values, n_resamples=n_resamples, seed=seed)
        entry.update(value=_finite(value), ci95=[_finite(low), _finite(high)])
    elif len(values) == 1:
        entry["value"] = float(values[0])
    return entry


def _finite(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
