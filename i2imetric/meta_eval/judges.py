"""Judges that give verdicts, not scores: GenAI-Bench's released per-item judge outputs.

GenAI-Bench (TIGER-AI-Lab/GenAI-Bench) publishes what each multimodal judge said about
each of the 919 image-editing votes of its ``test_v1`` split, in
``results/image_edition/<judge>/pairwise.jsonl`` (and the same rows as a JSON array in
``pairwise.json``). One row per vote, written by its ``inference.py``::

    {"idx": 0, "source_prompt": ..., "target_prompt": ..., "instruct_prompt": ...,
     "response": "... [[A>B]]", "model_vote": "[[A>B]]", "human_vote": "leftvote",
     "correct": true}

* ``idx``: the vote's position in the split (the id :func:`i2imetric.data.load_genai_bench_votes`
  gives the same vote when it reads the split's parquet file).
* ``model_vote``: the first-to-last ``[[...]]`` span on one line of ``response``
  (``re.search(r"\\[\\[.*\\]\\]", response)``), verbatim, or null when there is none.
* ``human_vote``: ``leftvote``, ``rightvote``, ``tievote`` (both good) or ``bothbad_vote``.
* ``correct``: whether the verdict counts as agreeing (the random judge's rows carry no
  prompts).

The leaderboard (``show_results.py``) is ``round(100 * mean(correct), 2)`` over every row
of a judge's file. ``correct`` comes from ``parse_response`` in ``inference.py``, which
compares ``model_vote`` verbatim:

=============  =====================================
human vote     verdicts that count as right
=============  =====================================
leftvote       ``[[A>B]]``, ``[[A>>B]]``
rightvote      ``[[B>A]]``, ``[[B>>A]]``
tievote        ``[[A=B=Good]]``, ``[[A=B]]``
bothbad_vote   ``[[A=B=Bad]]``, ``[[A=B]]``
=============  =====================================

So a plain ``[[A=B]]`` is right for both kinds of tie, and any other string (a verdict
with spaces such as ``[[A > B]]``, several verdicts on one line, or no verdict) is wrong
and stays in the denominator. :func:`genai_bench_correct` is that rule;
:func:`judge_statistics` recomputes ``correct`` with it, refuses a file whose stored
``correct`` disagrees, and so reproduces the published image-editing leaderboard
exactly (every row of their released files agrees with the rule: GPT-4o 53.54,
Gemini-1.5-Pro 55.93, random 25.9).

Two further rows put a judge beside scalar metrics under i2imetric's own rules, on the
same votes: accuracy without ties (human A>B / B>A votes only; a judge's tie or missing
verdict is wrong, as a metric's tie is) and accuracy with ties (both kinds of human tie
and every judge tie verdict are ties; no threshold to calibrate).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import I2IInputError
from .evaluate import _estimate, _progress_bar
from .protocols import Statistic
from .tables import Coverage, MetaEvalResult

__all__ = [
    "GENAI_BENCH_HUMAN_VOTES",
    "GENAI_BENCH_IMAGE_EDITING_VOTES",
    "JudgeFile",
    "JudgeVote",
    "evaluate_judges",
    "genai_bench_correct",
    "genai_bench_leaderboard_value",
    "judge_statistics",
    "read_genai_bench_judge",
    "verdict_side_right",
]

GENAI_BENCH_HUMAN_VOTES = ("leftvote", "rightvote", "tievote", "bothbad_vote")
GENAI_BENCH_IMAGE_EDITING_VOTES = 919  # the test_v1 split the leaderboard is computed on

# inference.py's parse_response: which model_vote strings count as right, per human vote.
_RIGHT_VERDICTS = {
    "leftvote": ("[[A>>B]]", "[[A>B]]"),
    "rightvote": ("[[B>>A]]", "[[B>A]]"),
    "tievote": ("[[A=B]]", "[[A=B=Good]]"),
    "bothbad_vote": ("[[A=B]]", "[[A=B=Bad]]"),
}
# The side each verdict takes in a three-way comparison (a, b or tie); other strings take none.
_VERDICT_SIDE = {
    "[[A>B]]": "a",
    "[[A>>B]]": "a",
    "[[B>A]]": "b",
    "[[B>>A]]": "b",
    "[[A=B]]": "tie",
    "[[A=B=Good]]": "tie",
    "[[A=B=Bad]]": "tie",
}
_HUMAN_SIDE = {"leftvote": "a", "rightvote": "b", "tievote": "tie", "bothbad_vote": "tie"}
# inference.py's verdict extraction; Python's re and the `regex` module agree on it.
_VERDICT_SPAN = re.compile(r"\[\[.*\]\]")


def genai_bench_correct(model_vote: str | None, human_vote: str) -> bool:
    """GenAI-Bench's agreement rule (``parse_response`` in its ``inference.py``).

    Args:
        model_vote: the judge's verdict string as the file holds it, e.g. ``"[[A>B]]"``,
            or None when the response held no ``[[...]]``.
        human_vote: ``"leftvote"``, ``"rightvote"``, ``"tievote"`` or ``"bothbad_vote"``.

    Returns:
        Whether the verdict counts as agreeing with the human vote.

    Example:
        >>> genai_bench_correct("[[A=B]]", "bothbad_vote"), genai_bench_correct("[[A > B]]", "leftvote")
        (True, False)
    """
    if human_vote not in _RIGHT_VERDICTS:
        raise I2IInputError(f"human_vote {human_vote!r} is not one of {', '.join(GENAI_BENCH_HUMAN_VOTES)}")
    return model_vote is not None and model_vote in _RIGHT_VERDICTS[human_vote]


def verdict_side_right(model_vote: str | None, human_vote: str) -> bool:
    """i2imetric's three-way rule: the verdict's side (A, B or a tie) is the vote's.

    Both kinds of human tie (``tievote``, ``bothbad_vote``) are ties, and so is each tie
    verdict (``[[A=B]]``, ``[[A=B=Good]]``, ``[[A=B=Bad]]``); a missing or malformed
    verdict takes no side and is wrong. This is "accuracy with ties" for a judge, with no
    threshold to calibrate.

    Example:
        >>> verdict_side_right("[[A=B=Good]]", "bothbad_vote"), verdict_side_right("[[A>>B]]", "leftvote")
        (True, True)
    """
    if human_vote not in _HUMAN_SIDE:
        raise I2IInputError(f"human_vote {human_vote!r} is not one of {', '.join(GENAI_BENCH_HUMAN_VOTES)}")
    return _VERDICT_SIDE.get(model_vote) == _HUMAN_SIDE[human_vote]


def genai_bench_leaderboard_value(agreement: float) -> float:
    """The number GenAI-Bench's leaderboard prints for an agreement: ``round(100 * agreement, 2)``.

    Example:
        >>> genai_bench_leaderboard_value(492 / 919)
        53.54
    """
    return round(agreement * 100, 2)


@dataclass(frozen=True)
class JudgeVote:
    """One row of a judge file: the judge's verdict on one GenAI-Bench vote."""

    idx: int
    model_vote: str | None
    human_vote: str
    line: int

    @property
    def correct(self) -> bool:
        return genai_bench_correct(self.model_vote, self.human_vote)


@dataclass(frozen=True)
class JudgeFile:
    """A judge's verdicts on the votes, in file order, named after its folder."""

    name: str
    path: str
    votes: tuple[JudgeVote, ...]

    def agreement(self) -> float:
        """GenAI-Bench's leaderboard agreement, as a fraction: the mean of ``correct`` over every row."""
        return float(np.mean([vote.correct for vote in self.votes]))


def read_genai_bench_judge(path, name: str | None = None) -> JudgeFile:
    """Read one judge's ``pairwise.jsonl`` (or ``pairwise.json``) as GenAI-Bench writes it.

    Every row is checked: ``idx`` a unique integer, ``human_vote`` one of the four
    votes, ``model_vote`` a string or null that is the ``[[...]]`` span of ``response``
    (when the row has one), and a stored ``correct`` equal to GenAI-Bench's rule, so
    the agreement computed here is the one their leaderboard reports.

    Args:
        path: the file: JSON Lines (``.jsonl``), or one JSON array (``.json``).
        name: the judge's name; default: the file's folder (``results/image_edition/<judge>/``).

    Returns:
        A :class:`JudgeFile`.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise I2IInputError(f"--results {path}: no such file (working folder: {os.getcwd()})")
    rows = _json_rows(path)
    if not rows:
        raise I2IInputError(
            f"{path}: holds no judge verdicts (GenAI-Bench's leaderboard has no row for an empty file, "
            "e.g. its emu2 result); pass a pairwise.jsonl that inference.py has filled"
        )
    votes, lines_by_idx = [], {}
    for line, row in rows:
        vote = _judge_vote(path, line, row)
        if vote.idx in lines_by_idx:
            raise I2IInputError(
                f"{path}: line {line}: idx {vote.idx} is already on line {lines_by_idx[vote.idx]}; "
                "each GenAI-Bench vote must be judged once"
            )
        lines_by_idx[vote.idx] = line
        votes.append(vote)
    return JudgeFile(name or Path(path).resolve().parent.name, path, tuple(votes))


def _json_rows(path: str) -> list[tuple[int, dict]]:
    """``(line or position, row)`` pairs of a JSON Lines file or a JSON array file."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if text.lstrip().startswith("["):  # pairwise.json: the same rows as one array
        try:
            array = json.loads(text)
        except json.JSONDecodeError as exc:
            raise I2IInputError(f"{path}: not valid JSON ({exc})") from None
        return [(position, row) for position, row in enumerate(array, start=1)]
    rows = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            rows.append((line, json.loads(raw)))
        except json.JSONDecodeError as exc:
            raise I2IInputError(f"{path}: line {line} is not valid JSON ({exc.msg})") from None
    return rows


def _judge_vote(path: str, line: int, row) -> JudgeVote:
    where = f"{path}: line {line}"
    if not isinstance(row, dict):
        raise I2IInputError(f"{where}: a row must be a JSON object, got {type(row).__name__}")
    missing = [key for key in ("idx", "model_vote", "human_vote") if key not in row]
    if missing:
        raise I2IInputError(
            f"{where}: missing {', '.join(missing)}; GenAI-Bench judge rows carry idx, model_vote and human_vote"
        )
    idx, model_vote, human_vote = row["idx"], row["model_vote"], row["human_vote"]
    if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0:
        raise I2IInputError(f"{where}: idx must be the vote's position in the split (an integer >= 0), got {idx!r}")
    if human_vote not in _RIGHT_VERDICTS:
        raise I2IInputError(f"{where}: human_vote {human_vote!r} is not one of {', '.join(GENAI_BENCH_HUMAN_VOTES)}")
    if model_vote is not None and not isinstance(model_vote, str):
        raise I2IInputError(f"{where}: model_vote must be a string or null, got {model_vote!r}")
    response = row.get("response")
    if isinstance(response, str):
        span = _VERDICT_SPAN.search(response)
        extracted = span.group() if span else None
        if extracted != model_vote:
            raise I2IInputError(
                f"{where}: model_vote {model_vote!r} is not the [[...]] span of response ({extracted!r}), "
                "as GenAI-Bench's inference.py extracts it; the row was edited or written by another parser"
            )
    vote = JudgeVote(idx, model_vote, human_vote, line)
    stored = row.get("correct")
    if stored is not None and stored is not vote.correct:
        raise I2IInputError(
            f"{where}: correct is {json.dumps(stored)} but GenAI-Bench's rule (inference.py parse_response) gives "
            f"{json.dumps(vote.correct)} for model_vote {model_vote!r} against human_vote {human_vote!r}; "
            "the leaderboard would count the stored value, so the file cannot be read as GenAI-Bench's"
        )
    return vote


# --------------------------------------------------------------------- statistics


def judge_statistics(judges: list[JudgeFile]) -> tuple[list[Statistic], list[str]]:
    """The rows of a judge table, every judge on the same votes, and notes for the footer.

    Args:
        judges: judge files over the same votes (same ``idx`` set, same human votes).

    Returns:
        ``(statistics, notes)``. The statistics are means of 0/1 columns, one per vote,
        so the bootstrap resamples votes: ``genai_bench/agreement`` (the leaderboard's
        number), ``pairwise/accuracy_without_ties`` and ``pairwise/accuracy_with_ties``.
    """
    if not judges:
        raise I2IInputError("no judge file given")
    names = [judge.name for judge in judges]
    if len(set(names)) < len(names):
        raise I2IInputError(f"two judge files share a folder name ({', '.join(names)}); give each judge its own folder")
    order, human = _common_votes(judges)
    if len(order) < 2:
        raise I2IInputError(f"{judges[0].path}: {len(order)} vote is too few for a bootstrap interval; give 2 or more")
    decided = np.isin(human, ("leftvote", "rightvote"))
    by_judge = {judge.name: {vote.idx: vote for vote in judge.votes} for judge in judges}
    correct, side_right = {}, {}
    for name, votes in by_judge.items():
        ordered = [votes[idx] for idx in order]
        correct[name] = np.array([vote.correct for vote in ordered], dtype=float)
        side_right[name] = np.array([verdict_side_right(vote.model_vote, vote.human_vote) for vote in ordered], dtype=float)
    statistics = [
        Statistic(
            "genai_bench/agreement",
            "GenAI-Bench agreement (leaderboard rule)",
            "votes",
            np.mean,
            {name: (values,) for name, values in correct.items()},
        ),
        Statistic(
            "pairwise/accuracy_with_ties",
            "pairwise accuracy, judge's own ties",
            "pairs",
            np.mean,
            {name: (values,) for name, values in side_right.items()},
        ),
    ]
    if decided.sum() >= 2:
        statistics.insert(
            1,
            Statistic(
                "pairwise/accuracy_without_ties",
                "pairwise accuracy, no ties",
                "pairs",
                np.mean,
                {name: (values[decided],) for name, values in side_right.items()},
            ),
        )
    leaderboard = ", ".join(f"{judge.name} {genai_bench_leaderboard_value(judge.agreement())}" for judge in judges)
    notes = [] if decided.sum() >= 2 else ["Pairwise accuracy, no ties: fewer than 2 human A>B / B>A votes."]
    notes += [
        f"GenAI-Bench leaderboard, image editing (show_results.py: round(100 x mean(correct), 2)): {leaderboard}.",
        "GenAI-Bench agreement: a verdict is right when inference.py's parse_response says so ([[A=B]] is right "
        "for both tie votes; a missing or malformed verdict is wrong and stays in the denominator).",
        "Pairwise accuracy, no ties: the human A>B / B>A votes only; a judge's tie or missing verdict is wrong. "
        "With ties: tie and both-bad votes are ties, and so are the verdicts [[A=B]], [[A=B=Good]], [[A=B=Bad]].",
    ]
    if len(order) != GENAI_BENCH_IMAGE_EDITING_VOTES:
        notes.append(
            f"The judge files hold {len(order)} votes; GenAI-Bench's image-editing leaderboard is computed on all "
            f"{GENAI_BENCH_IMAGE_EDITING_VOTES} of test_v1, so these numbers are not its rows."
        )
    unparsed = {name: sum(vote.model_vote not in _VERDICT_SIDE for vote in by_judge[name].values()) for name in names}
    for name, count in unparsed.items():
        if count:
            notes.append(f"{name}: {count} of {len(order)} verdicts are missing or not one of GenAI-Bench's forms.")
    return statistics, notes


def _common_votes(judges: list[JudgeFile]) -> tuple[list[int], np.ndarray]:
    """The idx order of the first file and its human votes, checked to be the same in every file."""
    first = judges[0]
    reference = {vote.idx: vote.human_vote for vote in first.votes}
    for judge in judges[1:]:
        theirs = {vote.idx: vote.human_vote for vote in judge.votes}
        if theirs.keys() != reference.keys():
            only = sorted(reference.keys() ^ theirs.keys())
            raise I2IInputError(
                f"{judge.path} and {first.path} judge different votes (e.g. idx {only[0]} is in only one); a "
                "table compares judges on the same votes, so evaluate them one at a time"
            )
        differing = next((idx for idx in reference if theirs[idx] != reference[idx]), None)
        if differing is not None:
            raise I2IInputError(
                f"{judge.path}: idx {differing} has human_vote {theirs[differing]!r} but {first.path} has "
                f"{reference[differing]!r}; the files are not of the same GenAI-Bench split"
            )
    order = [vote.idx for vote in first.votes]
    return order, np.array([reference[idx] for idx in order])


def evaluate_judges(
    paths, *, n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95, progress: bool = True
) -> MetaEvalResult:
    """Meta-evaluate judges from GenAI-Bench judge files, one column per judge.

    Args:
        paths: one ``pairwise.jsonl`` / ``pairwise.json`` path or several (see
            :func:`read_genai_bench_judge`); the first judge is the one the others are
            tested against.
        n_resamples: bootstrap resamples per interval and per paired test.
        seed: seed of the bootstrap.
        confidence: level of the two-sided intervals.
        progress: show a progress bar of the bootstraps on stderr (only on a terminal).

    Returns:
        A :class:`MetaEvalResult`; its notes hold the leaderboard numbers as GenAI-Bench prints them.

    Example:
        >>> result = evaluate_judges(["results/image_edition/gpt4o/pairwise.jsonl"])  # doctest: +SKIP
        >>> result.rows[0].values["gpt4o"].value  # doctest: +SKIP
        0.5353645266594124
    """
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    judges = [read_genai_bench_judge(path) for path in paths]
    statistics, notes = judge_statistics(judges)
    options = {
        "n_resamples": n_resamples,
        "seed": seed,
        "confidence": confidence,
        "results_format": "genai-bench",
    }
    with _progress_bar(statistics, progress) as bar:
        rows = [_estimate(statistic, options, bar) for statistic in statistics]
    n_votes = len(judges[0].votes)
    coverage = Coverage(label_items=n_votes, used=n_votes)
    if len(judges) > 1:
        notes.append(f"p: one-sided paired bootstrap of {judges[0].name} minus each other judge, on the same votes.")
    return MetaEvalResult([judge.name for judge in judges], rows, coverage, notes, options)
