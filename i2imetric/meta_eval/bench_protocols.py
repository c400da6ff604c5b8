"""The published protocols of the editing benchmarks, as statistics over scored outputs.

Each function here turns a benchmark's labels and the scores of its outputs into
:class:`Estimand` s: one number per scorer (the metric, its sub-score where the
protocol reads it, every complete baseline), computed by :mod:`i2imetric.stats`, plus
the arrays its bootstrap resamples. :mod:`i2imetric.meta_eval.bench_run` bootstraps them
and writes the JSON. ``docs/benchmarks.md`` ("Protocols") gives each protocol's source.

Scores are higher-is-better everywhere here (distances arrive negated). A unit (a pair,
a group, a rated item) is used when every output in it has a finite metric score; the
others are counted in :class:`Selection` and named in the JSON, never silently dropped.
A baseline is reported only when it scored every used unit (the same units as the metric).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as scipy_stats

from ..stats import (
    correlation_coefficient,
    fit_four_way_thresholds,
    four_way_accuracy,
    four_way_tied_count,
    group_coefficients,
    inter_rater_ceiling,
    tie_calibration,
    two_afc_score,
)

__all__ = [
    "METRIC",
    "aurora_bench_protocols",
    "Estimand",
    "Reference",
    "Selection",
    "discedit_accuracy",
    "editreward_bench_tiger",
    "editscore_accuracy",
    "genai_bench_protocols",
    "imagenhub_protocols",
    "select_units",
    "two_afc",
]

METRIC = "metric"  # a result row's own score; other scorer names are sub-scores and baselines
_LABEL_SIGN = {"a": 1, "b": -1, "tie": 0, "both_bad": 0}


@dataclass(frozen=True)
class Reference:
    """A published (or by-construction) number to table beside the measured ones.

    Args:
        name: the row's name, e.g. ``"random"``, ``"GPT-4o"``, ``"human-human"``.
        value: in the protocol's own scale (accuracies in [0, 1], correlations in [-1, 1]).
        source: where it is printed, precisely enough to find it; or how it follows.
    """

    name: str
    value: float
    source: str


@dataclass
class Estimand:
    """One protocol's number, for every scorer, before the bootstrap.

    ``fn(*arrays[scorer])`` is the scorer's value (``fns[scorer]`` where a scorer is
    measured its own way on the same units); the arrays are resampled together along
    axis 0 (their units). ``breakdown`` holds per-task or per-system values that the
    protocol prints beside its headline number. ``items``, where set, names the units
    ``(ids, labels)`` so that a judge's verdicts can be scored later on the very same
    units (:mod:`i2imetric.meta_eval.bench_judges`).
    """

    key: str
    title: str
    units: str
    fn: Callable[..., float]
    arrays: dict[str, tuple[np.ndarray, ...]]
    params: dict[str, dict[str, float]] = field(default_factory=dict)
    fns: dict[str, Callable[..., float]] = field(default_factory=dict)
    breakdown: dict[str, dict[str, float]] = field(default_factory=dict)
    references: list[Reference] = field(default_factory=list)
    primary: bool = True
    notes: list[str] = field(default_factory=list)
    items: tuple[list[str], list[str]] | None = None

    @property
    def n(self) -> int:
        return len(next(iter(self.arrays.values()))[0])


@dataclass
class Selection:
    """Which units have scores: ``scores[scorer]`` is ``[n_used, outputs per unit]``."""

    used: list[int]
    failed: list[str]
    scores: dict[str, np.ndarray]
    notes: list[str]


def select_units(
    units: Sequence[Sequence[str]], unit_ids: Sequence[str], lookup: Callable[[str], dict | None]
) -> Selection:
    """Keep the units whose outputs all have a finite metric score, and the scorers complete on them.

    Args:
        units: per unit, the keys of its outputs (see :mod:`i2imetric.meta_eval.benchmarks`).
        unit_ids: a name per unit, for the failure list.
        lookup: output key -> scorer -> higher-is-better score, or None (not scored / error row).

    Returns:
        A :class:`Selection`; baselines missing on any used output are left out with a note.
    """
    used, failed, found = [], [], []
    for index, keys in enumerate(units):
        rows = [lookup(key) for key in keys]
        if all(row is not None and math.isfinite(row.get(METRIC, math.nan)) for row in rows):
            used.append(index)
            found.append(rows)
        else:
            failed.append(unit_ids[index])
    scorers = list(dict.fromkeys(name for rows in found for row in rows for name in row))
    notes, scores = [], {}
    for name in scorers:
        values = np.array([[row.get(name, math.nan) for row in rows] for rows in found], dtype=float)
        missing = int((~np.isfinite(values)).sum())
        if missing:
            notes.append(f"{name} has no score for {missing} of {values.size} used outputs and is left out.")
            continue
        scores[name] = values
    return Selection(used, failed, scores, notes)


def _ordered(scores: dict[str, np.ndarray]) -> list[str]:
    return [METRIC, *(name for name in scores if name != METRIC)]


# --------------------------------------------------------------------- GenAI-Bench

GENAI_BENCH_LEADERBOARD = (
    "GenAI-Bench README, 'Current Leaderboard (v1 split)', Image Editing column "
    "(github.com/TIGER-AI-Lab/GenAI-Bench, genaibench_results.txt)"
)
EDITREWARD_README = "EditReward README, 'Experimental Results: Alignment with Humans' (github.com/TIGER-AI-Lab/EditReward)"


def genai_bench_protocols(
    labels: np.ndarray,
    selection: Selection,
    validation_fraction: float,
    seed: int,
    vote_ids: Sequence[str] | None = None,
) -> list[Estimand]:
    """GenAI-Bench's four-way agreement, and EditReward's accuracy with ties, on the same votes.

    Args:
        labels: per used pair, ``"a"``, ``"b"``, ``"tie"`` (both good) or ``"both_bad"``.
        selection: the pairs' scores, ``[n, 2]`` per scorer (a = left, b = right).
        validation_fraction: share of the pairs, drawn with ``seed``, that fits the
            four-way thresholds; the rest is scored.
        seed: seed of that draw.
        vote_ids: per used pair, its vote's position in ``test_v1`` (GenAI-Bench's ``idx``);
            each protocol records the votes it is computed on as its ``items``, which is
            what judge verdicts are scored on (:mod:`i2imetric.meta_eval.bench_judges`).
    """
    order = np.random.default_rng(seed).permutation(len(labels))
    n_fit = int(round(validation_fraction * len(order)))
    fit, test = np.sort(order[:n_fit]), np.sort(order[n_fit:])
    estimands = []
    if len(fit) >= 1 and len(test) >= 2:
        arrays, params, untied = {}, {}, []
        for scorer in _ordered(selection.scores):
            s = selection.scores[scorer]
            epsilon, tau = fit_four_way_thresholds(s[fit, 0], s[fit, 1], labels[fit])
            if four_way_tied_count(s[fit, 0], s[fit, 1], epsilon) == 0 or not math.isfinite(tau):
                # No validation pair was best called tied-and-good: tau took no part in
                # the fit, whatever number it holds, so none is reported.
                untied.append(scorer)
                params[scorer] = {"epsilon": epsilon}
            else:
                params[scorer] = {"epsilon": epsilon, "tau": tau}
            constant = np.ones(len(test))
            arrays[scorer] = (s[test, 0], s[test, 1], labels[test], epsilon * constant, tau * constant)
        estimands.append(
            Estimand(
                "four-way",
                f"four-way agreement (A>B, B>A, both good, both bad; thresholds fit on {validation_fraction:.0%})",
                "pairs",
                _four_way_fixed,
                arrays,
                params,
                references=[
                    Reference("random", 0.2590, GENAI_BENCH_LEADERBOARD),
                    Reference("GPT-4o", 0.5354, GENAI_BENCH_LEADERBOARD),
                    Reference("Gemini-1.5-Pro", 0.5593, GENAI_BENCH_LEADERBOARD),
                ],
                notes=[
                    "A scalar metric gives no verdict, so its tie threshold epsilon and good/bad threshold tau are "
                    "fitted on a seeded validation share of the votes and the agreement is that of the rest; "
                    "GenAI-Bench scores a judge's stated verdicts on all votes, with no thresholds "
                    "(i2imetric meta-eval --results-format genai-bench)."
                ]
                + ([f"no tie threshold (no validation pair best called tied-and-good): {', '.join(untied)}."] if untied else []),
                items=_vote_items(vote_ids, labels, test),
            )
        )
    three_way = np.where(labels == "both_bad", "tie", labels)
    arrays = {s: (selection.scores[s][:, 0], selection.scores[s][:, 1], three_way) for s in _ordered(selection.scores)}
    estimands.append(
        Estimand(
            "editreward",
            "accuracy with ties (EditReward: both-good and both-bad votes are ties, epsilon tie-calibrated)",
            "pairs",
            _tie_calibrated,
            arrays,
            {s: {"epsilon": tie_calibration(*a)[1]} for s, a in arrays.items()},
            references=[
                Reference("EditReward (MiMo-VL-7B)", 0.6572, EDITREWARD_README),
                Reference("EditReward (Qwen2.5-VL-7B)", 0.6397, EDITREWARD_README),
            ],
            notes=[
                "As EditReward's eval_bench.py: epsilon maximises the accuracy on the very pairs it is reported on "
                "(optimistic), refitted in every bootstrap resample. EditReward's sweep starts at the smallest "
                "|score_a - score_b|; i2imetric's also tries epsilon = 0 (Deutsch et al., 2023), so it can be higher "
                "only where calling no tie at all is best. EditReward's README table puts GenAI-Bench's four-way "
                "random (25.90) and GPT-4o (53.54) rows in the same column as these accuracies with ties."
            ],
            items=_vote_items(vote_ids, labels, np.arange(len(labels))),
        )
    )
    return estimands


def _vote_items(vote_ids: Sequence[str] | None, labels: np.ndarray, rows: np.ndarray) -> tuple[list[str], list[str]] | None:
    if vote_ids is None:
        return None
    return [str(vote_ids[i]) for i in rows], [str(labels[i]) for i in rows]


def _four_way_fixed(score_a, score_b, labels, epsilon, tau) -> float:
    return four_way_accuracy(score_a, score_b, labels, epsilon[0], tau[0])


def _tie_calibrated(score_a, score_b, labels) -> float:
    return tie_calibration(score_a, score_b, labels)[0]


# ------------------------------------------------------------------------ ImagenHub


def imagenhub_protocols(
    task: str,
    human: np.ndarray,
    by_rater: np.ndarray,
    systems: np.ndarray,
    uids: np.ndarray,
    selection: Selection,
) -> list[Estimand]:
    """ImagenHub's per-system means, per-item Spearman, and EditReward's ImagenHub number with its correction.

    Args:
        task: the ImagenHub task (e.g. ``"Text-Guided_IE"``), prefixed to every key.
        human: per used (uid, system) item, the mean over raters of sqrt(SC * PQ).
        by_rater: ``[n, raters]`` each rater's score of the item.
        systems, uids: per item, its editing system and its uid (source and instruction).
        selection: the items' scores, ``[n, 1]`` per scorer.
    """
    scores = {s: selection.scores[s][:, 0] for s in _ordered(selection.scores)}
    system_names = sorted(set(systems))
    estimands = [
        Estimand(
            f"{task}/system-means",
            "Spearman of per-system means (ImagenHub ranks systems by their mean human score)",
            "items",
            _system_means_spearman,
            {s: (v, human, systems) for s, v in scores.items()},
            breakdown={
                "human": {name: float(human[systems == name].mean()) for name in system_names},
                **{s: {name: float(v[systems == name].mean()) for name in system_names} for s, v in scores.items()},
            },
            primary=False,
            notes=["breakdown: each system's mean score; 'human' is ImagenHub's own per-system mean of sqrt(SC*PQ)."],
        ),
        Estimand(
            f"{task}/sample-spearman",
            "Spearman per item against the mean of the raters",
            "items",
            _spearman,
            {s: (v, human) for s, v in scores.items()},
            references=_ceiling_reference(by_rater),
            primary=False,
        ),
        Estimand(
            f"{task}/editreward",
            "EditReward's ImagenHub number, exactly as evaluate_imagenhub_from_json computes it",
            "items",
            editreward_imagenhub,
            {s: (v, human, systems) for s, v in scores.items()},
            references=[
                Reference("human-human", 0.4184, EDITREWARD_README),
                Reference("GPT-4o", 0.3821, EDITREWARD_README),
                Reference("EditReward (MiMo-VL-7B)", 0.3520, EDITREWARD_README),
            ],
            notes=[
                "EditReward groups the items by editing model (not by uid), takes Spearman within each model, "
                "averages the raw coefficients (no arctanh, though its comment says Fisher z) and then applies "
                "tanh to the average. EditReward does not say which ImagenHub task its number is on (its "
                "valid_imagenhub_processed.json is not released), so its rows are shown for every task."
            ]
            + _constant_systems_note(human, systems),
        ),
    ]
    per_uid = {s: group_coefficients(v, human, uids)["spearman"] for s, v in scores.items()}
    defined = {s: c[np.isfinite(c)] for s, c in per_uid.items()}
    if all(c.size >= 2 for c in defined.values()):
        estimands.append(
            Estimand(
                f"{task}/editreward-corrected",
                "the same, corrected: Spearman across systems within each uid, plain mean over uids",
                "uids",
                np.mean,
                {s: (c,) for s, c in defined.items()},
                notes=[
                    "Groups are uids (one source and instruction, its systems' outputs ranked against each other), "
                    "as a per-group correlation means everywhere else; uids whose human or metric scores are all "
                    "equal have no coefficient and are left out (n counts the rest). The plain mean is used, not "
                    "Fisher z: z-averaging Spearman coefficients of a handful of outputs overweights the extremes."
                ],
            )
        )
    return estimands


def editreward_imagenhub(scores: np.ndarray, human: np.ndarray, systems: np.ndarray) -> float:
    """EditReward's ``evaluate_imagenhub_from_json``: tanh of the mean of per-system Spearman coefficients.

    Reproduced as written there, quirks included: items are grouped by editing system
    (``item["model"]``), not by uid; the per-system coefficients are averaged as they are
    (their list is called ``z_score_list`` but no arctanh is taken); then
    ``(exp(2z) - 1) / (exp(2z) + 1)``, i.e. tanh, is applied to that average.

    One departure: a system whose coefficient is undefined (all its human or metric
    scores equal) is left out of the mean. In EditReward's code scipy's NaN would turn
    the whole number into NaN, and in ImagenHub's Text-Guided_IE ratings every output of
    Imagic is rated 0, so the published (finite) number cannot have included such a system.

    Example:
        >>> import numpy as np
        >>> s = np.array([1.0, 2, 3, 1, 2, 3]); h = np.array([1.0, 2, 3, 3, 2, 1])
        >>> round(editreward_imagenhub(s, h, np.array(list("aaabbb"))), 6)  # mean(1, -1) = 0
        0.0
    """
    coefficients = [
        scipy_stats.spearmanr(scores[systems == name], human[systems == name]).statistic
        for name in dict.fromkeys(systems.tolist())
        if len(np.unique(scores[systems == name])) > 1 and len(np.unique(human[systems == name])) > 1
    ]
    if not coefficients:
        return math.nan
    return float(math.tanh(sum(coefficients) / len(coefficients)))


def _constant_systems_note(human: np.ndarray, systems: np.ndarray) -> list[str]:
    constant = [name for name in sorted(set(systems)) if len(np.unique(human[systems == name])) < 2]
    if not constant:
        return []
    return [
        f"left out of the mean, every output rated alike (no coefficient; EditReward's code would give NaN): "
        f"{', '.join(constant)}."
    ]


def _system_means_spearman(scores, human, systems) -> float:
    names = np.unique(systems)
    if len(names) < 3:  # a resample can miss systems
        return math.nan
    metric = [scores[systems == name].mean() for name in names]
    people = [human[systems == name].mean() for name in names]
    return correlation_coefficient(metric, people, "spearman")


def _spearman(scores, human) -> float:
    return correlation_coefficient(scores, human, "spearman")


def _ceiling_reference(by_rater: np.ndarray) -> list[Reference]:
    complete = by_rater[~np.isnan(by_rater).any(axis=1)]
    if by_rater.shape[1] < 2 or len(complete) < 3:
        return []
    value = inter_rater_ceiling(complete.T, "spearman")
    return [Reference("human-human", value, "computed from these ratings: each rater against the others' mean")]


# ----------------------------------------------------- EditReward-Bench (TIGER-AI-Lab)

EDITREWARD_BENCH_README = "EditReward README, 'EditReward-Bench Results' (github.com/TIGER-AI-Lab/EditReward)"
_TIGER_REFERENCES = {
    "K=2": (0.2581, 0.5753, 0.5645),
    "K=3": (0.1133, 0.3851, 0.4267),
    "K=4": (0.0135, 0.1284, 0.1149),
    "overall": (0.1384, 0.3781, 0.3842),
}


def editreward_bench_tiger(
    pair_scores: dict[str, np.ndarray], labels: np.ndarray, subsets: np.ndarray, groups: np.ndarray
) -> list[Estimand]:
    """TIGER's EditReward-Bench: K=2 accuracy with ties, K=3 / K=4 group accuracies, and the overall.

    As EditReward's ``evaluate_edit_reward_bench`` (``eval_bench.py``) scores a scalar reward model:

    * K=2: a tied human label is right when ``|score_a - score_b| <= epsilon``, epsilon
      tie-calibrated on the 2pair comparisons; a preference is right when the order is.
    * K=3, K=4: a group (one source, instruction and K candidates) is right when the
      metric's order of all its candidates is the human one, i.e. every comparison in it
      is ordered right. Equal scores, and human ties (EditReward's ranking parser gives
      up on ``=``), count as wrong. Only groups with all K(K-1)/2 comparisons count.
    * overall: the share of right items over all 2pair items and K=3/K=4 groups together.

    Args:
        pair_scores: scorer -> ``[n, 2]`` scores of the used comparisons (a, b).
        labels: ``"a"``, ``"b"`` or ``"tie"`` per comparison.
        subsets: ``"2pair"``, ``"3pair"`` or ``"4pair"`` per comparison.
        groups: group id per comparison (EditReward's id-prefix rule, per subset).
    """
    scorers = _ordered(pair_scores)
    units = []  # (kind, indices of its comparisons)
    notes = []
    for subset, k in (("2pair", 2), ("3pair", 3), ("4pair", 4)):
        mine = np.flatnonzero(subsets == subset)
        if subset == "2pair":
            units += [("K=2", [int(i)]) for i in mine]
            continue
        by_group: dict[str, list[int]] = {}
        for i in mine:
            by_group.setdefault(groups[i], []).append(int(i))
        complete = [members for members in by_group.values() if len(members) == k * (k - 1) // 2]
        if len(complete) < len(by_group):
            short = len(by_group) - len(complete)
            notes.append(f"K={k}: {short} group(s) without all {k * (k - 1) // 2} scored comparisons are left out.")
        units += [(f"K={k}", members) for members in complete]
    kinds = np.array([kind for kind, _ in units])
    estimands = []
    per_scorer = {}
    for scorer in scorers:
        s = pair_scores[scorer]
        delta = s[:, 0] - s[:, 1]
        unit_delta = np.array([delta[m[0]] if kind == "K=2" else math.nan for kind, m in units])
        unit_label = np.array([labels[m[0]] if kind == "K=2" else "" for kind, m in units])
        group_right = np.array(
            [math.nan if kind == "K=2" else float(all(_ordered_right(delta[i], labels[i]) for i in m)) for kind, m in units]
        )
        per_scorer[scorer] = (unit_delta, unit_label, group_right, kinds)
    for kind in ("K=2", "K=3", "K=4"):
        chosen = kinds == kind
        if chosen.sum() < 2:
            notes.append(f"{kind}: {int(chosen.sum())} complete item(s), too few to report.")
            continue
        arrays = {s: tuple(a[chosen] for a in per_scorer[s]) for s in scorers}
        estimands.append(
            Estimand(
                kind,
                "2pair accuracy, ties tie-calibrated" if kind == "K=2" else f"{kind[-1]}-candidate group accuracy",
                "pairs" if kind == "K=2" else "groups",
                _strict_accuracy,
                arrays,
                {s: {"epsilon": _epsilon(*arrays[s])} for s in scorers} if kind == "K=2" else {},
                references=_tiger_references(kind),
            )
        )
    if len(set(kinds.tolist())) > 1:
        estimands.append(
            Estimand(
                "overall",
                "share of right items over all 2pair items and 3/4-candidate groups (eval_bench.py's overall)",
                "items",
                _strict_accuracy,
                {s: per_scorer[s] for s in scorers},
                references=_tiger_references("overall"),
                notes=[
                    "EditReward's README 'Overall' column is not this pooled share (its Random row: 25.81, 11.33 and "
                    "1.35 pool to 17.16 on the counts its percentages imply, 372 pairs, 150 and 148 groups, not 13.84), nor the mean of the three; "
                    "i2imetric reports what the released eval_bench.py computes."
                ],
            )
        )
    for estimand in estimands:
        estimand.notes = notes + estimand.notes
    return estimands


def _ordered_right(delta: float, label: str) -> bool:
    return (label == "a" and delta > 0) or (label == "b" and delta < 0)


def _epsilon(delta, labels, group_right, kinds) -> float:
    pairs = kinds == "K=2"
    if not pairs.any():
        return 0.0
    return tie_calibration(delta[pairs], np.zeros(pairs.sum()), labels[pairs])[1]


def _strict_accuracy(delta, labels, group_right, kinds) -> float:
    pairs = kinds == "K=2"
    right = [group_right[~pairs]]
    if pairs.any():
        epsilon = _epsilon(delta, labels, group_right, kinds)
        d, lab = delta[pairs], labels[pairs]
        right.append(((lab == "tie") & (np.abs(d) <= epsilon)) | ((lab == "a") & (d > 0)) | ((lab == "b") & (d < 0)))
    return float(np.mean(np.concatenate(right).astype(float)))


def _tiger_references(kind: str) -> list[Reference]:
    random, gpt5, mimo = _TIGER_REFERENCES[kind]
    return [
        Reference("random", random, EDITREWARD_BENCH_README),
        Reference("GPT-5", gpt5, EDITREWARD_BENCH_README),
        Reference("EditReward (MiMo-VL-7B)", mimo, EDITREWARD_BENCH_README),
    ]


# ----------------------------------------------------- EditReward-Bench (EditScore)


def editscore_accuracy(
    dimension: str, pair_scores: dict[str, np.ndarray], task_types: np.ndarray
) -> Estimand:
    """EditScore's EditReward-Bench, one dimension: strict accuracy per task type, averaged over task types.

    As ``calculate_statistics.py``: a pair is right only when the preferred output (the
    first) scores strictly higher, so a tie is wrong; the per-task accuracies are
    averaged with equal weight.
    """
    names = sorted(set(task_types.tolist()))
    codes = np.array([names.index(t) for t in task_types])
    arrays = {s: ((v[:, 0] > v[:, 1]).astype(float), codes) for s, v in pair_scores.items()}
    arrays = {s: arrays[s] for s in _ordered(pair_scores)}
    return Estimand(
        dimension,
        f"{dimension}: strict pairwise accuracy (tie = wrong), mean over task types",
        "pairs",
        _mean_over_tasks,
        arrays,
        breakdown={s: {name: float(right[codes == i].mean()) for i, name in enumerate(names)} for s, (right, _) in arrays.items()},
        references=[Reference("random (expected)", 0.5, "by construction: a random order of two outputs is right half the time")],
        notes=[] if len(names) > 1 else ["one task type only: the mean over task types is that task's accuracy."],
    )


def _mean_over_tasks(right, codes) -> float:
    present = np.unique(codes)  # a resample can miss a task type; the mean is over those it has
    return float(np.mean([right[codes == c].mean() for c in present]))


# --------------------------------------------------------------------------- DiscEdit


def discedit_accuracy(pair_scores: dict[str, np.ndarray], tasks: np.ndarray) -> Estimand:
    """DiscEdit: the share of items whose true instruction scores strictly above the contrast one.

    Per task as AURORA's ``eval_disc_edit.py`` prints it, and their plain mean over tasks
    as the headline (AURORA prints no overall). ``pair_scores[scorer]`` is ``[n, 2]``:
    (true, contrast).
    """
    estimand = editscore_accuracy("discedit", pair_scores, tasks)
    estimand.key = "accuracy"
    estimand.title = "true instruction scored above the contrast one (tie = wrong), mean over tasks"
    estimand.units = "items"
    estimand.notes = [] if len(set(tasks.tolist())) > 1 else ["one task only: the mean over tasks is that task's accuracy."]
    return estimand


# ------------------------------------------------------------- AURORA-Bench ratings

def aurora_bench_protocols(
    human: np.ndarray, systems: np.ndarray, uids: np.ndarray, tasks: np.ndarray, selection: Selection
) -> list[Estimand]:
    """AURORA-Bench's human ratings: correlation over outputs, pairwise accuracy within items, system means.

    Args:
        human: per used output, its released score (the mean of 0/1/2 judgements, in [0, 2]).
        systems: per output, the editing system (the file's ``model``).
        uids: per output, its item (source and instruction): the five systems' outputs share it.
        tasks: per output, its AURORA-Bench task.
        selection: the outputs' scores, ``[n, 1]`` per scorer.
    """
    scores = {s: selection.scores[s][:, 0] for s in _ordered(selection.scores)}
    task_names = sorted(set(tasks.tolist()))
    system_names = sorted(set(systems.tolist()))
    estimands = [
        Estimand(
            "sample-spearman",
            "Spearman over all rated outputs against the released human score",
            "outputs",
            _spearman,
            {s: (v, human) for s, v in scores.items()},
            breakdown={
                s: {
                    task: correlation_coefficient(v[tasks == task], human[tasks == task], "spearman")
                    for task in task_names
                    if (tasks == task).sum() >= 3
                }
                for s, v in scores.items()
            },
            notes=[
                "One released score per output (the raters' mean), so no human-human row can be computed from "
                "the file. breakdown: the same Spearman within each task (n/a where a task's human or metric scores "
                "are all equal)."
            ],
        )
    ]
    pairs = _within_item_pairs(human, uids)
    if len(pairs) >= 2:
        per_scorer = {s: _pairs_right(v, pairs) for s, v in scores.items()}
        estimands.append(
            Estimand(
                "pairwise",
                "pairwise accuracy within each item (outputs whose human scores differ; a metric tie is wrong)",
                "items",
                _pooled_share,
                per_scorer,
                references=[Reference("random (expected)", 0.5, "by construction: a random order of two outputs is right half the time")],
                notes=[
                    f"{sum(len(p) for p in pairs)} pairs of outputs of the same source and instruction, from "
                    f"{len(pairs)} items; pairs the raters scored alike are left out. The bootstrap resamples items, "
                    "so the pairs of one item stay together; the value is right pairs over all pairs."
                ],
            )
        )
    estimands.append(
        Estimand(
            "system-means",
            "Spearman of per-system mean scores (AURORA ranks its editing systems by their human scores)",
            "outputs",
            _system_means_spearman,
            {s: (v, human, systems) for s, v in scores.items()},
            breakdown={
                "human": {name: float(human[systems == name].mean()) for name in system_names},
                **{s: {name: float(v[systems == name].mean()) for name in system_names} for s, v in scores.items()},
            },
            primary=False,
            notes=[
                f"{len(system_names)} systems: a rank correlation over so few is coarse. breakdown: each system's mean "
                "score; 'human' is its mean released score."
            ],
        )
    )
    return estimands


def _within_item_pairs(human: np.ndarray, uids: np.ndarray) -> list[list[tuple[int, int]]]:
    """Per item with at least one, its pairs ``(better, worse)`` of outputs whose human scores differ."""
    by_item: dict[str, list[int]] = {}
    for index, uid in enumerate(uids.tolist()):
        by_item.setdefault(uid, []).append(index)
    out = []
    for members in by_item.values():
        pairs = [
            (i, j) if human[i] > human[j] else (j, i)
            for position, i in enumerate(members)
            for j in members[position + 1 :]
            if human[i] != human[j]
        ]
        if pairs:
            out.append(pairs)
    return out


def _pairs_right(scores: np.ndarray, pairs: list[list[tuple[int, int]]]) -> tuple[np.ndarray, np.ndarray]:
    """Per item: how many of its pairs the metric orders as people did (strictly), and how many pairs."""
    right = np.array([sum(scores[better] > scores[worse] for better, worse in item) for item in pairs], dtype=float)
    return right, np.array([len(item) for item in pairs], dtype=float)


def _pooled_share(right: np.ndarray, total: np.ndarray) -> float:
    return float(right.sum() / total.sum())


# --------------------------------------------------------------------- NIGHTS, BAPPS


def two_afc(key: str, title: str, pair_scores: dict[str, np.ndarray], p_a: np.ndarray, references) -> Estimand:
    """The 2AFC score as LPIPS' ``score_2afc_dataset`` and DreamSim's ``score_nights_dataset`` compute it.

    Credit ``p_a`` when a scores higher (is judged closer to the reference), ``1 - p_a``
    when b does, 0.5 for a tie: :func:`i2imetric.stats.two_afc_score`.
    """
    arrays = {s: (pair_scores[s][:, 0], pair_scores[s][:, 1], p_a) for s in _ordered(pair_scores)}
    return Estimand(key, title, "triplets", two_afc_score, arrays, references=list(references))
