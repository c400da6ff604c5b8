"""Q1: is a learned edit metric better than FID-style metrics? Simulated editors of known quality decide.

    python -m i2imetric_training.findings q1 --out findings/q1 --quick [--metric demo] [--previous FOLDER]

Eight simulated editing systems (:data:`i2imetric.data.synthetic.simulated_editors.SIMULATED_EDITORS`)
edit the same items, drawn from the edit grammar's held-out splits (operation x region pairs
and operations never trained) on the held-out photos. Each output's true utility is known
from what the system did (:data:`~i2imetric.data.synthetic.simulated_editors.UTILITY`), each
system's true quality is the mean, and three simulated raters see the utility through noise.
Every scorer then rates the same outputs:

* the metric's score and its three sub-scores; its zero-shot prior (the untrained metric on
  the same base, :func:`i2imetric_training.evaluate_scorer.untrained_twin`); optionally a
  previous checkpoint (``--previous``);
* CLIP-T, CLIP-I, CLIP-dir, patch preservation, L2 and PSNR, on the metric's base;
* FD and MMD^2 of each system's outputs to a reference set of correct outputs (of other
  items, so no system is rewarded for copying the reference), FID-style in the base's
  pooled image space, and in the metric's joint latent z.

Reported: system-level Kendall tau and Spearman rho against the true ranking; pairwise
accuracy on pairs of outputs of one item by two systems, against the truth and against the
raters' mean; 95% percentile-bootstrap intervals over items; and where each scorer fails
(which wrong outputs it prefers to the right one, which systems it over-rates).

Cached under ``--out`` and reused on a rerun: the images (``outputs/``), each scorer's
result file (``scores/``, resumed by :func:`i2imetric.evaluation.evaluate`) and the
embeddings (``embeddings/``). Items are drawn in a fixed order, so a larger ``--items``
reuses the smaller run's outputs.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from i2imetric.data.synthetic.simulated_editors import (
    DEFAULT_SPLITS,
    OUTCOMES,
    SIMULATED_EDITORS,
    UTILITY,
    EditItem,
    SimulatedEditor,
    render_outcome,
    sample_items,
    simulated_ratings,
)
from i2imetric.errors import I2IInputError
from i2imetric.meta_eval.known_quality import pairwise_agreement, rater_pairwise_ceiling, system_agreement

from .findings_report import (
    add_scorer_options,
    check_settings,
    command_line,
    fmt,
    fmt_ci,
    markdown_table,
    paste_section,
    say_written,
    write_json,
)

__all__ = ["FULL", "QUICK", "Q1Settings", "configure_parser", "run", "run_q1"]

HELP = "simulated editors of known quality: does the metric rank them better than FID-style scores?"
QUICK = {"n_items": 40, "n_reference": 40, "n_resamples": 200, "n_set_resamples": 100}
FULL = {"n_items": 200, "n_reference": 200, "n_resamples": 1000, "n_set_resamples": 300}
FIGURES = ("q1_system_quality.png", "q1_failure_modes.png")
SECTION = "q1"
# What the result tables call each baseline of i2imetric.evaluation.baselines.
BASELINE_LABELS = {
    "clip_t": "CLIP-T",
    "clip_i": "CLIP-I",
    "clip_dir": "CLIP-dir",
    "patch_preservation": "patch preservation",
    "vit_patch": "ViT patch (DINO-style)",
    "l2": "L2",
    "psnr": "PSNR",
}
# The set-level references: correct outputs of other items (what an edit should look like), in the base's
# pooled space and in z; and, as FID is often run for editing, the source photos of those items.
SET_REFERENCES = ("base pooled", "base pooled vs photos", "joint latent z")


@dataclass(frozen=True)
class Q1Settings:
    """One Q1 study. Only :meth:`generation` decides the cached images; the rest may change between runs."""

    n_items: int
    n_reference: int
    editors: tuple[SimulatedEditor, ...] = field(default_factory=lambda: tuple(SIMULATED_EDITORS.values()))
    seed: int = 0
    working_size: int = 96
    n_raters: int = 3
    rater_noise: float = 0.15
    rater_bias: float = 0.05
    n_resamples: int = 200
    n_set_resamples: int = 100
    batch_size: int = 32

    def __post_init__(self) -> None:
        # Two items, raters and reference outputs at least: a bootstrap, a ceiling and a covariance need two.
        minima = {"n_items": ("--items", 2), "n_reference": ("--reference", 2), "working_size": ("--working-size", 8),
                  "n_raters": ("n_raters", 2), "batch_size": ("batch_size", 1), "n_resamples": ("--resamples", 10),
                  "n_set_resamples": ("--set-resamples", 10)}  # fmt: skip
        for name, (option, least) in minima.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise I2IInputError(f"{option} must be an int >= {least}, got {value!r}")
        if len(self.editors) < 2 or len({e.name for e in self.editors}) < len(self.editors):
            raise I2IInputError("--systems: give at least 2 editors, each once")

    def generation(self) -> dict:
        """What the cached images depend on (not the counts: items are drawn in a fixed order)."""
        return {"seed": self.seed, "working_size": self.working_size, "splits": list(DEFAULT_SPLITS),
                "photo_side": 256, "format": 2}  # fmt: skip


# ------------------------------------------------------------------- generation


def _item_dir(out: Path, kind: str, index: int) -> Path:
    return out / "outputs" / kind / f"{index:04d}"


def _save(image, path: Path, working_size: int) -> None:
    # BICUBIC to the working size, as the trainer hands images to the demo scorer
    # (training/data.py: edits applied at the crop's own resolution, then downscaled).
    from PIL import Image

    from i2imetric.data.synthetic.photos import shrink_to

    temporary = path.with_name(path.stem + ".tmp.png")
    shrink_to(image, working_size, resample=Image.Resampling.BICUBIC).save(temporary)
    temporary.replace(path)


def _spec_record(item: EditItem) -> dict:
    spec = item.spec
    return {"op": spec.op, "region": spec.region.name, "degree": spec.degree, "amount": spec.amount,
            "color": spec.color}  # fmt: skip


def generate(out: Path, items: list[EditItem], kind: str, outcomes: tuple[str, ...], working_size: int,
             progress: bool) -> list[dict]:  # fmt: skip
    """Render (or find in the cache) ``outcomes`` of each item; one record per item with the outcomes that apply.

    An item's folder is complete once its ``item.json`` exists; a killed run redoes only
    the item it was on.
    """
    from tqdm.auto import tqdm

    records = []
    for item in tqdm(items, desc=f"q1: {kind} outputs", disable=not progress, unit="item"):
        folder = _item_dir(out, kind, item.index)
        meta_path = folder / "item.json"
        if meta_path.is_file():
            records.append(json.loads(meta_path.read_text()))
            continue
        folder.mkdir(parents=True, exist_ok=True)
        _save(item.source, folder / "source.png", working_size)
        available = []
        for outcome in outcomes:
            image = render_outcome(item, outcome)
            if image is not None:
                _save(image, folder / f"{outcome}.png", working_size)
                available.append(outcome)
        record = {"index": item.index, "photo": item.photo, "split": item.split, "spec": _spec_record(item),
                  "instruction": item.instruction, "seed": item.seed, "available": available}  # fmt: skip
        write_json(meta_path, record)
        records.append(record)
    return records


def draw_outcomes(editors, records: list[dict], seed: int) -> list[list[str]]:
    """Each editor's outcome on each item; seeded by (seed, editor, item), so one editor's draws never shift another's."""
    return [
        [editor.draw(record["available"], random.Random(f"q1/{seed}/{editor.name}/{record['index']}"))
         for record in records]
        for editor in editors
    ]  # fmt: skip


def _triplets(out: Path, records: list[dict], kind: str, outcomes=None):
    from i2imetric.data import Triplet

    triplets = []
    for record in records:
        folder = _item_dir(out, kind, record["index"])
        for outcome in outcomes or record["available"]:
            triplets.append(Triplet(str(folder / "source.png"), record["instruction"], str(folder / f"{outcome}.png"),
                                    id=f"{kind}/{record['index']:04d}/{outcome}"))  # fmt: skip
    return triplets


# ---------------------------------------------------------------------- scoring


@dataclass
class Scorers:
    """The models of one run: the metric, the base its baselines and pooled space come from, a previous one."""

    metric: object
    metric_name: str
    base: object  # the untrained metric on the same base: the zero-shot prior
    base_note: str
    previous: object | None = None
    previous_name: str | None = None


def load_scorers(metric_name: str, previous_name: str | None) -> Scorers:
    from i2imetric.cli.common import UNTRAINED_PREFIX, metric_from_argument
    from i2imetric.hub.pretrained import checkpoint_folder

    from .evaluate_scorer import untrained_twin

    metric = metric_from_argument(metric_name)
    if metric_name.startswith(UNTRAINED_PREFIX):
        base, note = metric, "the metric is untrained, so it is its own zero-shot prior"
    else:
        base, note = untrained_twin(checkpoint_folder(metric_name)), "the untrained metric on the checkpoint's base"
    previous = None
    if previous_name is not None:
        try:
            previous = metric_from_argument(previous_name)
        except I2IInputError as exc:
            raise I2IInputError(f"--previous {previous_name}: {exc}") from None
    return Scorers(metric, metric_name, base, note, previous, previous_name)


def _identity(model, name: str) -> dict:
    from i2imetric.evaluation.runner import metric_identity

    return metric_identity(model, name)


def score_file(out: Path, role: str, model, name: str, triplets, baselines: str, settings: Q1Settings,
               progress: bool) -> dict[str, dict]:  # fmt: skip
    """Score ``triplets`` with ``model`` into ``out/scores/ROLE-<weights>.jsonl`` (resumed), and read it back by id.

    The file is named by the weights' hash, so a retrained checkpoint of the same name gets
    a file of its own instead of being refused by the resume check.
    """
    from i2imetric.evaluation import evaluate
    from i2imetric.evaluation.results import read_results

    identity = _identity(model, name)
    path = out / "scores" / f"{role}-{identity['weights_sha256'][:12]}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    evaluate(model, triplets, path, batch_size=settings.batch_size, num_workers=0, baselines=baselines,
             progress=progress, metric_name=name)  # fmt: skip
    rows = {row["id"]: row for row in read_results(path)}
    failed = [i for i, row in rows.items() if row.get("status") != "ok"]
    if failed:
        raise I2IInputError(f"{path}: {len(failed)} outputs could not be scored (first {failed[0]}: "
                            f"{rows[failed[0]].get('error')}); delete the file to score them again")  # fmt: skip
    return rows


def embeddings(out: Path, model, name: str, triplets, space: str, batch_size: int) -> np.ndarray:
    """``[len(triplets), d]`` embeddings in ``space`` ("clip" or "z"), cached by the model's weights and the ids."""
    from i2imetric.evaluation.setlevel import embed_triplets

    identity = _identity(model, name)
    path = out / "embeddings" / f"{space}-{identity['weights_sha256'][:12]}.npz"
    ids = [t.id for t in triplets]
    cached: dict[str, np.ndarray] = {}
    if path.is_file():
        with np.load(path) as saved:
            cached = dict(zip(saved["ids"].tolist(), saved["vectors"]))
    missing = [t for t in triplets if t.id not in cached]
    if missing:
        new = embed_triplets(model, missing, space=space, batch_size=batch_size).numpy()
        cached.update(zip([t.id for t in missing], new))
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(cached)
        temporary = path.with_name(path.stem + ".tmp.npz")
        np.savez(temporary, ids=np.array(keys), vectors=np.stack([cached[k] for k in keys]))
        temporary.replace(path)
    return np.stack([cached[i] for i in ids]).astype(np.float64)


# --------------------------------------------------------------------- analysis


@dataclass
class ScorerValues:
    """One sample-level scorer: its value of every output (item, outcome), higher is better."""

    name: str
    family: str  # "learned", "prior", "baseline"
    values: dict[tuple[int, str], float]


def sample_scorers(rows: dict[str, dict[str, dict]], scorers: Scorers) -> list[ScorerValues]:
    from i2imetric.evaluation.baselines import BASELINES
    from i2imetric.models.outputs import SUBSCORE_NAMES

    def collect(role: str, read) -> dict[tuple[int, str], float]:
        values = {}
        for row_id, row in rows[role].items():
            kind, index, outcome = row_id.split("/")
            if kind == "items":
                value = read(row)
                values[(int(index), outcome)] = float("nan") if value is None else float(value)
        return values

    found = [ScorerValues("i2imetric score", "learned", collect("metric", lambda r: r["score"]))]
    found += [ScorerValues(f"i2imetric {name}", "learned", collect("metric", lambda r, n=name: r["subscores"][n]))
              for name in SUBSCORE_NAMES]  # fmt: skip
    if scorers.base is not scorers.metric:
        found.append(ScorerValues("zero-shot prior", "prior", collect("base", lambda r: r["score"])))
    if "previous" in rows:
        found.append(ScorerValues("previous scorer", "learned", collect("previous", lambda r: r["score"])))
    base_rows = rows["base"] if "base" in rows else rows["metric"]
    first = next(iter(base_rows.values()))
    for key, label in BASELINE_LABELS.items():
        if key in first.get("baselines", {}):
            sign = 1.0 if BASELINES[key].higher_is_better else -1.0
            values = collect("base" if "base" in rows else "metric",
                             lambda r, k=key, sign=sign: None if r["baselines"][k] is None else sign * r["baselines"][k])  # fmt: skip
            found.append(ScorerValues(label + ("" if sign > 0 else " (negated)"), "baseline", values))
    return found


def _system_matrix(values: dict[tuple[int, str], float], outcomes: list[list[str]]) -> np.ndarray:
    return np.array([[values[(i, outcome)] for i, outcome in enumerate(row)] for row in outcomes])


def _safe(function):
    """A set-level statistic that returns NaN where the embeddings defeat it (a bootstrap drops that resample)."""

    def wrapped(*args):
        try:
            return function(*args)
        except I2IInputError:
            return float("nan")

    return wrapped


def analyse(settings: Q1Settings, records: list[dict], outcomes: list[list[str]], scorers_values: list[ScorerValues],
            spaces: dict[str, tuple[np.ndarray, np.ndarray]], row_of: dict[tuple[int, str], int],
            progress: bool) -> dict:  # fmt: skip
    """Every number of the report, as plain JSON-able values.

    Args:
        spaces: label (of :data:`SET_REFERENCES`) -> (embeddings of every output, one row per
            (item, outcome) as ``row_of`` says; embeddings of the reference set).
    """
    from scipy.stats import rankdata
    from tqdm.auto import tqdm

    from i2imetric.evaluation.setlevel import reference_sigma
    from i2imetric.stats import frechet_distance, inter_rater_ceiling, mmd2_unbiased, pairwise_accuracy

    editors = settings.editors
    truth = np.array([[UTILITY[o] for o in row] for row in outcomes])
    ratings = simulated_ratings(truth, settings.n_raters, settings.rater_noise, settings.rater_bias,
                                seed=settings.seed)  # fmt: skip
    humans = ratings.mean(axis=0)
    boot = {"n_resamples": settings.n_resamples, "seed": settings.seed}

    results: list[dict] = []
    jobs = [(s.name, s.family, _system_matrix(s.values, outcomes), s) for s in scorers_values]
    jobs.append(("humans (mean of raters)", "reference", humans, None))
    for name, family, matrix, scorer in tqdm(jobs, desc="q1: sample-level statistics", disable=not progress):
        entry = {"name": name, "family": family, "level": "sample"}
        if not np.all(np.isfinite(matrix)):
            entry["note"] = "undefined on some outputs"
            results.append(entry)
            continue
        entry["system"] = system_agreement(lambda idx, m=matrix: m[:, idx].mean(axis=1), truth, **boot)
        entry["pairwise_truth"] = pairwise_agreement(matrix, truth, **boot)
        if scorer is not None:
            entry["pairwise_humans"] = pairwise_agreement(matrix, humans, **boot)
            entry["prefers_correct"] = _prefers_correct(scorer.values, records, pairwise_accuracy)
        results.append(entry)

    rows = np.array([[row_of[(i, o)] for i, o in enumerate(row)] for row in outcomes])
    set_jobs = [(space, label) for space in spaces for label in ("FD", "MMD²")]
    for space, label in tqdm(set_jobs, desc="q1: set-level statistics", disable=not progress):
        all_vectors, reference = spaces[space]
        sigma = reference_sigma(reference, seed=settings.seed)
        distance = (_safe(lambda y, ref=reference: frechet_distance(ref, y)) if label == "FD"
                    else _safe(lambda y, ref=reference, sigma=sigma: mmd2_unbiased(ref, y, sigma)))  # fmt: skip

        def system_scores(idx, distance=distance, all_vectors=all_vectors):
            # Negated: a set closer to the reference scores higher.
            return np.array([-distance(all_vectors[rows[s, idx]]) for s in range(len(editors))])

        entry = {"name": f"{label}, {space}", "family": "set", "level": "set", "space": space}
        if label.startswith("MMD"):
            entry["sigma"] = float(sigma)
        entry["system"] = system_agreement(system_scores, truth, n_resamples=settings.n_set_resamples,
                                           seed=settings.seed)  # fmt: skip
        results.append(entry)

    for entry in results:
        if "system" in entry:
            scores = np.asarray(entry["system"]["system_scores"])
            entry["ranks"] = rankdata(-scores, method="min").astype(int).tolist()
    true_means = truth.mean(axis=1)
    systems = []
    for s, editor in enumerate(editors):
        counts = {o: outcomes[s].count(o) for o in OUTCOMES if outcomes[s].count(o)}
        systems.append({"name": editor.name, "style": editor.style, "rates": dict(editor.rates),
                        "expected_quality": editor.expected_quality, "true_quality": float(true_means[s]),
                        "human_mean_rating": float(humans[s].mean()), "outcomes": counts})  # fmt: skip
    true_ranks = rankdata(-true_means, method="min").astype(int).tolist()
    flat = ratings.reshape(ratings.shape[0], -1)
    ceiling = {
        "pairwise_rater_vs_others": rater_pairwise_ceiling(ratings, seed=settings.seed),
        "spearman_leave_one_rater_out": inter_rater_ceiling(flat, "spearman") if flat.shape[1] >= 3 else float("nan"),
    }
    return {
        "systems": systems,
        "true_ranks": true_ranks,
        "scorers": results,
        "human_ceiling": ceiling,
        "failures": where_scorers_fail(results, systems, true_ranks, editors),
    }


def _prefers_correct(values, records: list[dict], pairwise_accuracy) -> dict[str, dict]:
    """Per failure outcome: the share of items where the scorer puts the correct output above it (a tie is a miss)."""
    found = {}
    for outcome in OUTCOMES[1:]:
        items = [r["index"] for r in records if outcome in r["available"]]
        if not items:
            continue
        correct = [values[(i, "correct")] for i in items]
        wrong = [values[(i, outcome)] for i in items]
        found[outcome] = {"share": pairwise_accuracy(correct, wrong, ["a"] * len(items)), "n": len(items)}
    return found


def where_scorers_fail(results: list[dict], systems: list[dict], true_ranks: list[int], editors) -> dict:
    """The failures worth a sentence: each scorer's most over-rated system and its worst failure outcome;
    where it puts the editor that most often ignores the instruction; how it orders the close pair."""
    ignoring = max(range(len(editors)), key=lambda s: editors[s].rates.get("no_op", 0.0))
    gaps = [(abs(editors[a].expected_quality - editors[b].expected_quality), a, b)
            for a in range(len(editors)) for b in range(a + 1, len(editors))]  # fmt: skip
    _, close_a, close_b = min(gaps)
    true_quality = np.array([s["true_quality"] for s in systems])
    per_scorer = {}
    for entry in results:
        if "ranks" not in entry:
            continue
        ranks = entry["ranks"]
        over = max(range(len(ranks)), key=lambda s: (true_ranks[s] - ranks[s], -ranks[s]))
        scores = np.asarray(entry["system"]["system_scores"])
        spread = float(np.std(scores)) or float("nan")
        found = {
            "most_over_rated": {"system": systems[over]["name"], "rank": ranks[over], "true_rank": true_ranks[over]},
            "ignoring_editor_rank": ranks[ignoring],
            # The close pair's gap in units of the scorer's spread over systems (truth: the same on its own scale).
            "close_pair_gap": float((scores[close_a] - scores[close_b]) / spread),
        }
        if "prefers_correct" in entry and entry["prefers_correct"]:
            worst = min(entry["prefers_correct"].items(), key=lambda kv: kv[1]["share"])
            found["worst_outcome"] = {"outcome": worst[0], **worst[1]}
        per_scorer[entry["name"]] = found
    return {
        "ignoring_editor": {"system": systems[ignoring]["name"], "true_rank": true_ranks[ignoring]},
        "close_pair": {"systems": [systems[close_a]["name"], systems[close_b]["name"]],
                       "truth_gap": float((true_quality[close_a] - true_quality[close_b]) / (np.std(true_quality)
                                                                                               or float("nan")))},
        "per_scorer": per_scorer,
    }  # fmt: skip


# ----------------------------------------------------------------------- report


def _ci(block, key=None) -> str:
    if block is None:
        return "n/a"
    if key is not None:
        return fmt_ci(*block[key])
    return fmt_ci(block["accuracy"], block["low"], block["high"])


def render_section(report: dict, figure_dir: str = "") -> str:
    """The generated Markdown section: settings, the tables, the findings and the figures."""
    run = report["run"]
    analysis = report["analysis"]
    systems = analysis["systems"]
    lines = [
        f"*Generated by `{run['command']}` in {run['seconds']:.0f} s "
        f"({run['n_items']} items x {len(systems)} systems, {run['n_reference']} reference outputs, "
        f"{run['n_resamples']} bootstrap resamples over items ({run['n_set_resamples']} for set-level scores), "
        f"95% percentile intervals).*",
        "",
        f"Scorer: `{run['metric']['name']}` (weights sha256 `{run['metric']['weights_sha256'][:12]}`); "
        f"zero-shot prior: {run['prior_note']}; previous scorer: "
        + (f"`{run['previous']['name']}` (weights sha256 `{run['previous']['weights_sha256'][:12]}`)."
           if run.get("previous") else "none given (`--previous FOLDER`)."),
        "",
        "**The systems** (true quality: mean utility of the outputs it made; humans: mean 1-5 rating)",
        "",
    ]  # fmt: skip
    lines.append(markdown_table(
        ["system", "failure mode", "rates", "expected quality", "true quality", "true rank", "humans", "outcomes drawn"],
        [[s["name"], s["style"], ", ".join(f"{k} {v:.2f}" for k, v in s["rates"].items()), fmt(s["expected_quality"]),
          fmt(s["true_quality"]), str(r), fmt(s["human_mean_rating"]),
          ", ".join(f"{k} {v}" for k, v in s["outcomes"].items())]
         for s, r in zip(systems, analysis["true_ranks"])]))  # fmt: skip
    ceiling = analysis["human_ceiling"]
    lines += ["**Agreement with the truth** (system level: per-system score vs true quality; pairwise: two outputs "
              "of one item by different systems, pairs the reference strictly orders)", ""]  # fmt: skip
    rows = []
    for entry in analysis["scorers"]:
        system = entry.get("system")
        rows.append([entry["name"], entry["level"], _ci(system, "kendall") if system else "n/a",
                     _ci(system, "spearman") if system else "n/a", _ci(entry.get("pairwise_truth")),
                     _ci(entry.get("pairwise_humans"))])  # fmt: skip
    rows.append(["one rater vs the others (human-human ceiling)", "sample", "—", "—", "—",
                 fmt(ceiling["pairwise_rater_vs_others"]["accuracy"])])  # fmt: skip
    lines.append(markdown_table(["scorer", "level", "system Kendall τ", "system Spearman ρ", "pairwise acc. vs truth",
                                 "pairwise acc. vs humans"], rows))  # fmt: skip
    lines += [f"Raters: leave-one-rater-out Spearman over all outputs {fmt(ceiling['spearman_leave_one_rater_out'])}.",
              ""]  # fmt: skip
    names = [s["name"] for s in systems]
    lines += ["**System ranks** (1 = best)", ""]
    rank_rows = [["truth", *map(str, analysis["true_ranks"])]]
    rank_rows += [[e["name"], *map(str, e["ranks"])] for e in analysis["scorers"] if "ranks" in e]
    lines.append(markdown_table(["scorer", *names], rank_rows))
    kinds = [o for o in OUTCOMES[1:] if any(o in e.get("prefers_correct", {}) for e in analysis["scorers"])]
    lines += ["**Where each scorer fails**: share of items on which it scores the correct edit above each wrong "
              "output (a tie counts as a miss)", ""]  # fmt: skip
    fail_rows = [[e["name"], *[fmt(e["prefers_correct"][k]["share"]) if k in e["prefers_correct"] else "n/a"
                               for k in kinds]]
                 for e in analysis["scorers"] if e.get("prefers_correct")]  # fmt: skip
    lines.append(markdown_table(["scorer", *kinds], fail_rows))
    lines += ["**Findings** (generated from the tables above)", ""]
    lines += [f"- {sentence}" for sentence in findings_sentences(analysis)]
    lines += ["", f"![true quality vs each scorer's system score]({figure_dir}{FIGURES[0]})", "",
              f"![share of items where each scorer prefers the correct edit]({figure_dir}{FIGURES[1]})", ""]  # fmt: skip
    return "\n".join(lines)


def findings_sentences(analysis: dict) -> list[str]:
    failures = analysis["failures"]
    ignoring = failures["ignoring_editor"]
    close = failures["close_pair"]
    by_name = {e["name"]: e for e in analysis["scorers"]}
    n = len(analysis["systems"])
    sentences = []
    learned = by_name.get("i2imetric score", {}).get("system")
    best_set = max((e for e in analysis["scorers"] if e["level"] == "set" and "system" in e),
                   key=lambda e: e["system"]["kendall"][0], default=None)  # fmt: skip
    if learned and best_set:
        sentences.append(f"System ranking: the i2imetric score reaches Kendall τ {fmt(learned['kendall'][0])}; "
                         f"the best set-level distance ({best_set['name']}) {fmt(best_set['system']['kendall'][0])}.")  # fmt: skip
    ranks = [f"{name} {f['ignoring_editor_rank']}" for name, f in failures["per_scorer"].items()
             if by_name[name]["level"] == "set" or name in ("i2imetric score", "PSNR", "CLIP-I")]  # fmt: skip
    sentences.append(f"The editor that most often ignores the instruction (`{ignoring['system']}`, true rank "
                     f"{ignoring['true_rank']} of {n}) is ranked: " + "; ".join(ranks) + ".")  # fmt: skip
    gaps = [f"{name} {fmt(f['close_pair_gap'], 1)}" for name, f in failures["per_scorer"].items()]
    sentences.append(f"Close pair `{close['systems'][0]}` minus `{close['systems'][1]}` (truth "
                     f"{fmt(close['truth_gap'], 1)} standard deviations of the systems' quality): "
                     + "; ".join(gaps) + ". A large gap either way means the scorer sees one failure mode "
                     "far more than the other.")  # fmt: skip
    for name, found in failures["per_scorer"].items():
        parts = []
        over = found["most_over_rated"]
        if over["true_rank"] > over["rank"]:
            parts.append(f"over-rates `{over['system']}` (rank {over['rank']}, truth {over['true_rank']})")
        worst = found.get("worst_outcome")
        if worst and worst["share"] < 0.9:
            parts.append(f"prefers the correct edit to `{worst['outcome']}` on only {100 * worst['share']:.0f}% "
                         f"of {worst['n']} items")  # fmt: skip
        if parts:
            sentences.append(f"{name}: " + "; ".join(parts) + ".")
    return sentences


def draw_figures(report: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    analysis = report["analysis"]
    truth = np.array([s["true_quality"] for s in analysis["systems"]])
    names = [s["name"] for s in analysis["systems"]]
    entries = [e for e in analysis["scorers"] if "system" in e]
    columns = 4
    rows = -(-len(entries) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.7 * rows), squeeze=False)
    for ax, entry in zip(axes.flat, entries):
        scores = np.asarray(entry["system"]["system_scores"])
        ax.scatter(truth, scores, s=18, color={"set": "tab:red", "baseline": "tab:gray",
                                                "reference": "tab:green"}.get(entry["family"], "tab:blue"))  # fmt: skip
        for x, y, name in zip(truth, scores, names):
            ax.annotate(name, (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points")
        ax.set_title(f"{entry['name']}\nτ = {entry['system']['kendall'][0]:.2f}", fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(entries):]:
        ax.axis("off")
    figure.supxlabel("true system quality (mean utility)", fontsize=9)
    figure.supylabel("system score (higher = better; distances negated)", fontsize=9)
    figure.tight_layout()
    paths = [out / FIGURES[0], out / FIGURES[1]]
    figure.savefig(paths[0], dpi=110)
    plt.close(figure)

    with_outcomes = [e for e in analysis["scorers"] if e.get("prefers_correct")]
    kinds = [o for o in OUTCOMES[1:] if any(o in e["prefers_correct"] for e in with_outcomes)]
    table = np.array([[e["prefers_correct"].get(k, {}).get("share", np.nan) for k in kinds] for e in with_outcomes])
    figure, ax = plt.subplots(figsize=(1.0 + 0.75 * len(kinds), 0.9 + 0.32 * len(with_outcomes)))
    image = ax.imshow(table, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
    ax.set_xticks(range(len(kinds)), kinds, rotation=40, ha="right", fontsize=7)
    ax.set_yticks(range(len(with_outcomes)), [e["name"] for e in with_outcomes], fontsize=7)
    for (r, c), value in np.ndenumerate(table):
        if np.isfinite(value):
            ax.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=6)
    ax.set_title("share of items where the correct edit scores above the wrong output", fontsize=8)
    figure.colorbar(image, ax=ax, fraction=0.03)
    figure.tight_layout()
    figure.savefig(paths[1], dpi=110)
    plt.close(figure)
    return paths


# -------------------------------------------------------------------------- run


def run_q1(
    out,
    settings: Q1Settings,
    metric: str = "demo",
    previous: str | None = None,
    doc=None,
    progress: bool = True,
    command: str | None = None,
) -> dict:
    """Run (or resume) Q1 into ``out``; returns the report that ``results.json`` holds.

    Args:
        out: the folder of the cache and the report.
        settings: the study's sizes and seeds.
        metric: what ``--metric`` takes: a scorer name, a checkpoint folder, an ``hf-hub:``
            id, or ``untrained:CONFIG``.
        previous: another checkpoint to score beside it (any of the same forms), or None.
        doc: a Markdown page whose ``<!-- q1:begin -->`` ... ``<!-- q1:end -->`` section is
            replaced by the generated one (figures copied to its ``figures/`` folder).
        progress: show progress bars.
        command: how the report says it was made.
    """
    started = time.time()
    out = Path(out)
    check_settings(out, "generation.json", settings.generation())
    items = sample_items(settings.n_items, seed=settings.seed)
    reference_items = sample_items(settings.n_reference, seed=f"{settings.seed}/reference")
    records = generate(out, items, "items", OUTCOMES, settings.working_size, progress)
    reference = generate(out, reference_items, "reference", ("correct",), settings.working_size, progress)
    outcomes = draw_outcomes(settings.editors, records, settings.seed)

    scorers = load_scorers(metric, previous)
    from i2imetric.data import Triplet

    item_triplets = _triplets(out, records, "items")
    reference_triplets = _triplets(out, reference, "reference", ("correct",))
    baselines = ",".join(k for k in BASELINE_LABELS if k != "vit_patch" or scorers.base.timm is not None)
    rows = {}
    if scorers.base is scorers.metric:
        rows["metric"] = score_file(out, "metric", scorers.metric, metric, item_triplets, baselines, settings, progress)
    else:
        rows["metric"] = score_file(out, "metric", scorers.metric, metric, item_triplets, "none", settings, progress)
        rows["base"] = score_file(out, "base", scorers.base, f"untrained twin of {metric}", item_triplets, baselines,
                                  settings, progress)  # fmt: skip
    if scorers.previous is not None:
        rows["previous"] = score_file(out, "previous", scorers.previous, previous, item_triplets, "none", settings,
                                      progress)  # fmt: skip
    row_of = {(int(t.id.split("/")[1]), t.id.split("/")[2]): k for k, t in enumerate(item_triplets)}
    photo_triplets = [Triplet(t.source, t.instruction, t.source, id=t.id.rsplit("/", 1)[0] + "/source")
                      for t in reference_triplets]  # fmt: skip
    n, r = len(item_triplets), len(reference_triplets)
    clip = embeddings(out, scorers.base, f"base of {metric}", item_triplets + reference_triplets + photo_triplets,
                      "clip", settings.batch_size)  # fmt: skip
    z = embeddings(out, scorers.metric, metric, item_triplets + reference_triplets, "z", settings.batch_size)
    spaces = dict(zip(SET_REFERENCES, ((clip[:n], clip[n : n + r]), (clip[:n], clip[n + r :]), (z[:n], z[n:]))))

    analysis = analyse(settings, records, outcomes, sample_scorers(rows, scorers), spaces, row_of, progress)
    report = {
        "run": {
            "command": command or f"python -m i2imetric_training.findings q1 --out {out}",
            "seconds": time.time() - started,
            "n_items": settings.n_items,
            "n_reference": settings.n_reference,
            "n_resamples": settings.n_resamples,
            "n_set_resamples": settings.n_set_resamples,
            "seed": settings.seed,
            "working_size": settings.working_size,
            "raters": {"n": settings.n_raters, "noise": settings.rater_noise, "bias": settings.rater_bias},
            "splits": list(DEFAULT_SPLITS),
            "metric": _identity(scorers.metric, metric),
            "prior_note": scorers.base_note,
            "previous": _identity(scorers.previous, previous) if scorers.previous is not None else None,
            "utility": UTILITY,
        },
        "items": [{**r, "system_outcomes": {e.name: outcomes[s][k] for s, e in enumerate(settings.editors)}}
                  for k, r in enumerate(records)],  # fmt: skip
        "analysis": analysis,
    }
    figures = draw_figures(report, out)
    section = render_section(report)
    write_json(out / "results.json", report)
    (out / "tables.md").write_text(section)
    (out / "section.md").write_text(render_section(report, figure_dir="figures/"))
    if doc is not None:
        paste_section(Path(doc), SECTION, render_section(report, figure_dir="figures/"), figures)
    return report


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="folder of the cache and the report (reused on a rerun)")
    parser.add_argument("--quick", action="store_true",
                        help=f"the quick size: {QUICK['n_items']} items, {QUICK['n_resamples']} resamples "
                             f"(default: {FULL['n_items']} items, {FULL['n_resamples']} resamples)")  # fmt: skip
    add_scorer_options(parser)
    parser.add_argument("--previous", help="another checkpoint to compare (e.g. the previous demo scorer's folder)")
    parser.add_argument("--items", type=int, help="items each system edits (overrides the size)")
    parser.add_argument("--reference", type=int, help="correct outputs of other items in the FD/MMD reference set")
    parser.add_argument("--systems", help=f"comma-separated editors (default all: {', '.join(SIMULATED_EDITORS)})")
    parser.add_argument("--resamples", type=int, help="bootstrap resamples over items")
    parser.add_argument("--set-resamples", type=int, help="bootstrap resamples for the set-level scores (FD costs)")


def settings_from_args(args: argparse.Namespace) -> Q1Settings:
    size = QUICK if args.quick else FULL
    editors = tuple(SIMULATED_EDITORS.values())
    if args.systems:
        names = [n.strip() for n in args.systems.split(",") if n.strip()]
        unknown = [n for n in names if n not in SIMULATED_EDITORS]
        if unknown:
            raise I2IInputError(f"--systems: unknown editor(s) {unknown}; choose from {', '.join(SIMULATED_EDITORS)}")
        editors = tuple(SIMULATED_EDITORS[n] for n in names)
    pick = lambda given, key: size[key] if given is None else given  # noqa: E731
    return Q1Settings(
        n_items=pick(args.items, "n_items"),
        n_reference=pick(args.reference, "n_reference"),
        editors=editors,
        seed=args.seed,
        working_size=args.working_size,
        n_resamples=pick(args.resamples, "n_resamples"),
        n_set_resamples=pick(args.set_resamples, "n_set_resamples"),
    )


def run(args: argparse.Namespace) -> int:
    report = run_q1(args.out, settings_from_args(args), metric=args.metric, previous=args.previous, doc=args.doc,
                    progress=not args.no_progress, command=command_line("q1"))  # fmt: skip
    print(render_section(report))
    say_written(args.out, FIGURES, report["run"]["seconds"])
    return 0
