"""Q3: is there a condensed joint latent for image and text? What the metric's z holds, on held-out edits.

    python -m i2imetric_training.findings q3 --out findings/q3 --quick [--metric demo] [--q1 findings/q1]

The data are the edit grammar's held-out splits (held-out phrasings, operation x region
pairs never trained, operations never trained) on the held-out photos: for each item a
source, an instruction, the right output and every distractor the grammar builds for it.
Each (source, instruction, output) triplet is embedded three ways:

* ``z``: the metric's joint latent (:meth:`i2imetric.I2IMetric.embed`);
* ``z, untrained head``: the same architecture before training (the zero-shot prior's
  twin), a control for what the features alone give a random head;
* ``pooled CLIP``: ``[g_output, g_source, g_output - g_source, text]`` of the base's pooled
  embeddings, the usual way to hand a triplet to a probe, at a similar size.

Measured:

* **linear probes** (standardised logistic regression, 5-fold cross-validation grouped by
  item, so no item is in both a training and a test fold): the instruction's operation
  and region, whether the output is the right one, and its failure mode (the distractor
  kind), as balanced accuracy next to chance;
* **retrieval**: from (source, right output), rank the item's own instruction among
  ``--candidates`` instructions of other items (another operation or region) by the
  metric's score, by its prior, and by CLIP-dir and CLIP-T on the base: top-1 and top-5;
* **condensation**: how many principal components hold 90% and 99% of each space's
  variance, and probe accuracy against the number of components kept;
* **set level**: FD and MMD in z against the base's pooled space, from the Q1 run on the
  same scorer (``--q1``): which ranks the simulated editors by true quality better.

Cached under ``--out``: the embeddings and scores, by the scorer's weights, reused on a rerun.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from i2imetric.errors import I2IInputError

from .findings_report import (
    add_scorer_options,
    check_settings,
    command_line,
    fmt,
    markdown_table,
    paste_section,
    say_written,
    write_json,
)

__all__ = ["FULL", "QUICK", "Q3Settings", "configure_parser", "run", "run_q3"]

HELP = "what the joint latent z holds: probes, instruction retrieval, condensation, set-level distances"
QUICK = {"n_items": 48, "n_candidates": 20}
FULL = {"n_items": 160, "n_candidates": 20}
SPLITS = ("heldout_phrasing", "heldout_combo", "heldout_operation")
SPACES = ("z", "z, untrained head", "pooled CLIP")
PROBES = ("operation", "region", "right output", "failure mode")
DIMENSIONS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
FIGURES = ("q3_condensation.png",)
SECTION = "q3"
N_FOLDS = 5


@dataclass(frozen=True)
class Q3Settings:
    n_items: int  # items per held-out split
    n_candidates: int  # instructions each right output is ranked among (its own included)
    seed: int = 0
    working_size: int = 96
    batch_size: int = 64

    def __post_init__(self) -> None:
        minima = {"n_items": ("--items", N_FOLDS), "n_candidates": ("--candidates", 2),
                  "working_size": ("--working-size", 8), "batch_size": ("batch_size", 1)}  # fmt: skip
        for name, (option, least) in minima.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise I2IInputError(f"{option} must be an int >= {least}, got {value!r}")


# ------------------------------------------------------------------------ data


@dataclass
class Example:
    """One item: a grammar spec on a held-out photo crop, with its right output and distractors."""

    split: str
    spec: object  # grammar.EditSpec
    group: object  # training.data.PairGroup

    @property
    def op(self) -> str:
        return self.spec.op

    @property
    def region(self) -> str:
        return self.spec.region.name


def heldout_examples(settings: Q3Settings) -> list[Example]:
    """``n_items`` items per held-out split, the same on every call (seeded by split)."""
    from i2imetric.data.synthetic import photos

    from .data import GrammarEditGroups

    images = [photos.load_photo(name, max_side=256) for name in photos.HELDOUT_PHOTOS]
    examples = []
    for split in SPLITS:
        maker = GrammarEditGroups(images, working_size=settings.working_size, split=split)
        rng = random.Random(f"q3/{settings.seed}/{split}")
        found = 0
        for _ in range(20 * settings.n_items):  # almost every draw has distractors; this only bounds the loop
            if found == settings.n_items:
                break
            source, spec, words, seed = maker.draw(rng)
            group = maker.visible_group(source, spec, words.text, seed)  # as sample: an edit must show
            if group is not None and group.rejected:  # a spec with no visible distractor says nothing here
                examples.append(Example(split, spec, group))
                found += 1
    return examples


def triplet_table(examples: list[Example]) -> dict[str, list]:
    """Every candidate of every item as one row: its images, instruction and probe labels."""
    table = {key: [] for key in ("item", "split", "source", "instruction", "output", *PROBES)}
    for index, example in enumerate(examples):
        group = example.group
        for k, (candidate, words) in enumerate(group.scored_candidates()):
            kind = "right" if k == 0 else group.kinds[k - 1]
            values = {"item": index, "split": example.split, "source": group.source, "instruction": words,
                      "output": candidate, "operation": example.op, "region": example.region,
                      "right output": kind == "right", "failure mode": kind}  # fmt: skip
            for key, value in values.items():
                table[key].append(value)
    return table


def retrieval_candidates(examples: list[Example], n_candidates: int, seed: int) -> list[list[str]]:
    """For each item, its own instruction first, then ``n_candidates - 1`` of other items of its split
    that ask for another operation or region (so none of them is also right)."""
    lists = []
    for index, example in enumerate(examples):
        others = [e.group.instruction for e in examples
                  if e.split == example.split and (e.op, e.region) != (example.op, example.region)]  # fmt: skip
        others = sorted(set(others) - {example.group.instruction})
        if len(others) < n_candidates - 1:
            raise I2IInputError(f"--candidates {n_candidates}: split {example.split} has only {len(others)} other "
                                f"instructions for item {index}; raise --items or lower --candidates")  # fmt: skip
        lists.append([example.group.instruction] + random.Random(f"q3/{seed}/{index}").sample(others, n_candidates - 1))
    return lists


# ------------------------------------------------------------------- features


def _identity(model, name: str) -> dict:
    from i2imetric.evaluation.runner import metric_identity

    return metric_identity(model, name)


def _cached(out: Path, key: str, compute) -> np.ndarray:
    path = out / "cache" / f"{key}.npy"
    if path.is_file():
        return np.load(path)
    value = np.asarray(compute(), dtype=np.float64)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.stem + ".tmp.npy")
    np.save(temporary, value)
    temporary.replace(path)
    return value


def pooled_features(base, table: dict, batch_size: int) -> np.ndarray:
    """``[g_output, g_source, g_output - g_source, text]`` of the base's unit pooled embeddings.

    The table repeats an item's source (one tensor) on every candidate's row; each
    source is encoded once and its embedding repeated.
    """
    import torch

    def pooled(encode, values: list) -> torch.Tensor:
        return torch.cat([encode(values[i:i + batch_size]).pooled for i in range(0, len(values), batch_size)])

    distinct = {id(source): source for source in table["source"]}
    position = {key: k for k, key in enumerate(distinct)}
    with torch.no_grad():
        g_source = pooled(base.encode_images, list(distinct.values()))[
            torch.tensor([position[id(s)] for s in table["source"]])]  # fmt: skip
        g_output = pooled(base.encode_images, table["output"])
        text = pooled(base.encode_instructions, table["instruction"])
    return torch.cat([g_output, g_source, g_output - g_source, text], dim=-1).float().cpu().numpy()


def embed_table(metric, table: dict, batch_size: int) -> np.ndarray:
    return metric.embed(table["source"], table["instruction"], table["output"], batch_size=batch_size).float().numpy()


def retrieval_scores(model, examples: list[Example], candidates: list[list[str]], batch_size: int) -> np.ndarray:
    """``[items, candidates]`` scores of each right output under each candidate instruction."""
    sources = [e.group.source for e in examples for _ in candidates[0]]
    outputs = [e.group.preferred for e in examples for _ in candidates[0]]
    instructions = [words for row in candidates for words in row]
    score = model.score(sources, instructions, outputs, batch_size=batch_size)
    return np.asarray(score, dtype=np.float64).reshape(len(examples), len(candidates[0]))


def clip_retrieval_scores(base, examples: list[Example], candidates: list[list[str]]) -> dict[str, np.ndarray]:
    """CLIP-T (text . output) and CLIP-dir (text . unit(output - source)) on the base's pooled space."""
    import torch

    with torch.no_grad():
        g_source = base.encode_images([e.group.source for e in examples]).pooled
        g_output = base.encode_images([e.group.preferred for e in examples]).pooled
        text = base.encode_instructions([w for row in candidates for w in row]).pooled.reshape(len(examples), -1,
                                                                                               g_source.shape[-1])  # fmt: skip
        direction = torch.nn.functional.normalize(g_output - g_source, dim=-1)
        return {"CLIP-T": torch.einsum("nd,nkd->nk", g_output, text).numpy().astype(np.float64),
                "CLIP-dir": torch.einsum("nd,nkd->nk", direction, text).numpy().astype(np.float64)}  # fmt: skip


# -------------------------------------------------------------------- analysis


def probe_accuracy(features: np.ndarray, labels: list, items: np.ndarray, components: int | None = None) -> dict:
    """Balanced accuracy of a standardised, class-weighted logistic regression, cross-validated with folds
    grouped by item.

    ``components`` first projects onto that many principal components (fit inside each fold).
    """
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = np.asarray([str(label) for label in labels])
    classes = sorted(set(y))
    predicted = np.empty_like(y)
    for train, test in GroupKFold(n_splits=N_FOLDS).split(features, y, groups=items):
        steps = [StandardScaler()]
        if components is not None:
            steps += [PCA(n_components=min(components, features.shape[1], len(train))), StandardScaler()]
        if len(set(y[train])) < 2:  # one class in this fold's training part: predict it
            predicted[test] = y[train][0]
            continue
        # Balanced class weights: the right output is one candidate in about nine, and an
        # unweighted probe that always answers "wrong" would score chance on balanced accuracy.
        model = make_pipeline(*steps, LogisticRegression(max_iter=2000, C=1.0, class_weight="balanced"))
        predicted[test] = model.fit(features[train], y[train]).predict(features[test])
    return {"balanced_accuracy": float(balanced_accuracy_score(y, predicted)), "chance": 1.0 / len(classes),
            "classes": len(classes), "n": len(y)}  # fmt: skip


def variance_components(features: np.ndarray) -> dict:
    """Principal components needed for 90% and 99% of the variance, and the cumulative curve."""
    centred = features - features.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    share = np.cumsum(singular**2) / np.sum(singular**2)
    count = lambda level: int(np.searchsorted(share, level) + 1)  # noqa: E731
    return {"dims": features.shape[1], "for_90": count(0.90), "for_99": count(0.99),
            "cumulative": share[: min(len(share), 64)].tolist()}  # fmt: skip


def retrieval_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based rank of candidate 0 (the true instruction) in each row; ties count against it."""
    return 1 + (scores[:, 1:] >= scores[:, :1]).sum(axis=1)


def retrieval_summary(ranks: np.ndarray, splits: list[str], n_candidates: int) -> dict:
    summary = {}
    for split in (*SPLITS, "all"):
        chosen = ranks if split == "all" else ranks[np.asarray(splits) == split]
        if len(chosen):
            summary[split] = {"top1": float(np.mean(chosen == 1)), "top5": float(np.mean(chosen <= 5)),
                              "mean_rank": float(np.mean(chosen)), "n": int(len(chosen))}  # fmt: skip
    summary["chance"] = {"top1": 1.0 / n_candidates, "top5": min(5, n_candidates) / n_candidates,
                         "mean_rank": (n_candidates + 1) / 2}  # fmt: skip
    return summary


def set_level_from_q1(q1: Path | None, weights_sha256: str) -> dict | None:
    """The set-level rows of a Q1 run on the same scorer: system Kendall tau of each FD / MMD."""
    if q1 is None:
        return None
    path = Path(q1) / "results.json"
    if not path.is_file():
        raise I2IInputError(f"--q1 {q1}: no results.json; run `python -m i2imetric_training.findings q1 --out {q1}` "
                            "with the same --metric first")  # fmt: skip
    report = json.loads(path.read_text())
    if report["run"]["metric"]["weights_sha256"] != weights_sha256:
        raise I2IInputError(f"--q1 {q1}: that run scored another checkpoint (weights "
                            f"{report['run']['metric']['weights_sha256'][:12]}); rerun q1 with the same --metric")  # fmt: skip
    rows = {}
    for entry in report["analysis"]["scorers"]:
        if entry.get("level") == "set":
            kendall, low, high = entry["system"]["kendall"]
            rows[entry["name"]] = {"kendall": kendall, "low": low, "high": high}
    return {"source": str(path), "n_items": report["run"]["n_items"], "rows": rows}


# ----------------------------------------------------------------------- report


def render_section(report: dict, figure_dir: str = "") -> str:
    run, analysis = report["run"], report["analysis"]
    lines = [
        f"Measured with `{run['command']}` on `{run['metric']['name']}` (weights "
        f"`{run['metric']['weights_sha256'][:12]}`): {run['n_items']} items per held-out split "
        f"({', '.join(SPLITS)}), {run['n_triplets']} triplets in all, in {run['seconds'] / 60:.1f} min.",
        "",
        "**Linear probes** (balanced accuracy, 5-fold cross-validation grouped by item; chance in brackets):",
        "",
    ]
    header = ["probe", *[f"{space} ({analysis['dims'][space]} d)" for space in SPACES]]
    rows = [[f"{probe} ({fmt(analysis['probes'][SPACES[0]][probe]['chance'])})",
             *[fmt(analysis["probes"][space][probe]["balanced_accuracy"]) for space in SPACES]] for probe in PROBES]  # fmt: skip
    lines += [markdown_table(header, rows)]
    lines += [f"**Instruction retrieval**: rank the item's own instruction among {run['n_candidates']} "
              "(top-1 / top-5, chance "
              f"{fmt(analysis['retrieval'][next(iter(analysis['retrieval']))]['chance']['top1'])} / "
              f"{fmt(analysis['retrieval'][next(iter(analysis['retrieval']))]['chance']['top5'])}):", ""]  # fmt: skip
    header = ["scorer", *SPLITS, "all"]
    rows = []
    for name, summary in analysis["retrieval"].items():
        rows.append([name, *[f"{fmt(summary[s]['top1'])} / {fmt(summary[s]['top5'])}" if s in summary else "n/a"
                             for s in (*SPLITS, "all")]])  # fmt: skip
    lines += [markdown_table(header, rows)]
    lines += ["**Condensation**: principal components for 90% / 99% of the variance, and probe accuracy "
              "with only the first k components kept:", ""]
    header = ["space", "dims", "90%", "99%", *[f"k={k}" for k in analysis["dimensions"]]]
    rows = []
    for space in SPACES:
        variance = analysis["variance"][space]
        curve = analysis["condensation"][space]
        rows.append([space, str(variance["dims"]), str(variance["for_90"]), str(variance["for_99"]),
                     *[fmt(curve.get(str(k), float("nan"))) for k in analysis["dimensions"]]])  # fmt: skip
    lines += [markdown_table(header, rows), f"(probe: {analysis['condensation_probe']})", ""]
    if figure_dir:
        lines += [f"![probe accuracy against kept components]({figure_dir}q3_condensation.png)", ""]
    set_level = analysis.get("set_level")
    if set_level:
        lines += [f"**Set level** (from the Q1 run `{set_level['source']}`, {set_level['n_items']} items): system "
                  "Kendall tau against the true ranking of the simulated editors.", ""]  # fmt: skip
        rows = [[name, f"{fmt(r['kendall'])} [{fmt(r['low'])}, {fmt(r['high'])}]"] for name, r in set_level["rows"].items()]
        lines += [markdown_table(["set-level distance", "Kendall tau [95% CI]"], rows)]
    else:
        lines += ["**Set level**: not measured in this run (give `--q1` a Q1 run on the same scorer).", ""]
    lines += ["**What it says**", "", *[f"- {s}" for s in findings_sentences(analysis)], ""]
    return "\n".join(lines)


def findings_sentences(analysis: dict) -> list[str]:
    """The reading of the tables, written from the numbers (so it cannot drift from them)."""
    probes, variance = analysis["probes"], analysis["variance"]
    sentences = []
    for probe in ("right output", "failure mode"):
        z, pooled = probes["z"][probe]["balanced_accuracy"], probes["pooled CLIP"][probe]["balanced_accuracy"]
        verdict = ("more about the {} than" if z > pooled + 0.02 else "less about the {} than" if z < pooled - 0.02
                   else "about as much about the {} as").format(probe)  # fmt: skip
        sentences.append(f"z holds {verdict} the pooled features "
                         f"({fmt(z)} vs {fmt(pooled)}; chance {fmt(probes['z'][probe]['chance'])}).")  # fmt: skip
    for probe in ("operation", "region"):
        z, pooled = probes["z"][probe]["balanced_accuracy"], probes["pooled CLIP"][probe]["balanced_accuracy"]
        sentences.append(f"The instruction's {probe}: {fmt(z)} from z, {fmt(pooled)} from the pooled features, "
                         "which carry the text embedding itself.")  # fmt: skip
    sentences.append(f"z is condensed: {variance['z']['for_90']} of its {variance['z']['dims']} dimensions hold 90% "
                     f"of its variance (pooled: {variance['pooled CLIP']['for_90']} of "
                     f"{variance['pooled CLIP']['dims']}).")  # fmt: skip
    metric = analysis["retrieval"].get("i2imetric score", {}).get("all")
    best_clip = max((analysis["retrieval"][n]["all"]["top1"], n) for n in ("CLIP-T", "CLIP-dir") if n in analysis["retrieval"])
    if metric:
        sentences.append(f"Retrieval: the metric's score puts the right instruction first in {fmt(metric['top1'])} "
                         f"of items, {best_clip[1]} in {fmt(best_clip[0])} (chance "
                         f"{fmt(analysis['retrieval']['i2imetric score']['chance']['top1'])}).")  # fmt: skip
    set_level = analysis.get("set_level")
    if set_level:
        rows = set_level["rows"]
        z_rows = {n: r for n, r in rows.items() if "latent z" in n}
        pooled_rows = {n: r for n, r in rows.items() if "base pooled" in n}
        if z_rows and pooled_rows:
            best_z = max(z_rows.items(), key=lambda item: item[1]["kendall"])
            best_pooled = max(pooled_rows.items(), key=lambda item: item[1]["kendall"])
            sentences.append(f"Set level: the best distance in z ({best_z[0]}, tau {fmt(best_z[1]['kendall'])}) against "
                             f"the best in the pooled space ({best_pooled[0]}, tau {fmt(best_pooled[1]['kendall'])}); "
                             "eight systems make these intervals wide.")  # fmt: skip
    return sentences


def draw_figures(report: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    analysis = report["analysis"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for space in SPACES:
        curve = analysis["condensation"][space]
        ks = [k for k in analysis["dimensions"] if str(k) in curve]
        left.plot(ks, [curve[str(k)] for k in ks], marker="o", label=space)
        variance = analysis["variance"][space]["cumulative"]
        right.plot(range(1, len(variance) + 1), variance, label=space)
    chance = analysis["probes"]["z"][analysis["condensation_probe"]]["chance"]
    left.axhline(chance, color="grey", linestyle=":", label="chance")
    left.set(xscale="log", xlabel="principal components kept", ylabel="balanced accuracy",
             title=f"probe: {analysis['condensation_probe']}")  # fmt: skip
    right.axhline(0.9, color="grey", linestyle=":")
    right.set(xscale="log", xlabel="principal components", ylabel="share of variance", title="cumulative variance")
    left.legend(fontsize=8)
    figure.tight_layout()
    path = out / FIGURES[0]
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return [path]


# -------------------------------------------------------------------------- run


def run_q3(out, settings: Q3Settings, metric: str = "demo", q1=None, doc=None, progress: bool = True,
           command: str | None = None) -> dict:  # fmt: skip
    """Run (or resume) Q3 into ``out``; returns the report that ``results.json`` holds."""
    from .findings_q1 import load_scorers

    started = time.time()
    out = Path(out)
    check_settings(out, "settings.json", asdict(settings))
    scorers = load_scorers(metric, None)
    identity = _identity(scorers.metric, metric)
    base_key = _identity(scorers.base, f"base of {metric}")["weights_sha256"][:12]
    metric_key = identity["weights_sha256"][:12]

    say = (lambda message: print(f"q3: {message}", flush=True)) if progress else (lambda message: None)  # noqa: E731
    say(f"building {settings.n_items} held-out items per split")
    examples = heldout_examples(settings)
    table = triplet_table(examples)
    say(f"embedding {len(table['item'])} triplets three ways (cached under {out / 'cache'})")
    items = np.asarray(table["item"])
    spaces = {
        "z": _cached(out, f"z-{metric_key}", lambda: embed_table(scorers.metric, table, settings.batch_size)),
        "z, untrained head": _cached(out, f"z-{base_key}", lambda: embed_table(scorers.base, table, settings.batch_size)),
        "pooled CLIP": _cached(out, f"pooled-{base_key}", lambda: pooled_features(scorers.base, table, settings.batch_size)),
    }

    say("probes and condensation (5-fold, grouped by item)")
    probes = {space: {probe: probe_accuracy(features, table[probe], items) for probe in PROBES}
              for space, features in spaces.items()}  # fmt: skip
    condensation_probe = "failure mode"
    condensation = {space: {str(k): probe_accuracy(features, table[condensation_probe], items, components=k)
                            ["balanced_accuracy"] for k in DIMENSIONS if k <= features.shape[1]}
                    for space, features in spaces.items()}  # fmt: skip

    say(f"retrieval among {settings.n_candidates} instructions")
    candidates = retrieval_candidates(examples, settings.n_candidates, settings.seed)
    splits = [e.split for e in examples]
    retrieval_rows = {
        "i2imetric score": _cached(out, f"retrieval-{metric_key}",
                                   lambda: retrieval_scores(scorers.metric, examples, candidates, settings.batch_size)),
        "zero-shot prior": _cached(out, f"retrieval-{base_key}",
                                   lambda: retrieval_scores(scorers.base, examples, candidates, settings.batch_size)),
        **clip_retrieval_scores(scorers.base, examples, candidates),
    }  # fmt: skip
    if scorers.base is scorers.metric:
        del retrieval_rows["zero-shot prior"]
    retrieval = {name: retrieval_summary(retrieval_ranks(scores), splits, settings.n_candidates)
                 for name, scores in retrieval_rows.items()}  # fmt: skip

    analysis = {
        "dims": {space: int(features.shape[1]) for space, features in spaces.items()},
        "probes": probes,
        "variance": {space: variance_components(features) for space, features in spaces.items()},
        "dimensions": [k for k in DIMENSIONS if k <= max(f.shape[1] for f in spaces.values())],
        "condensation": condensation,
        "condensation_probe": condensation_probe,
        "retrieval": retrieval,
        "set_level": set_level_from_q1(q1, identity["weights_sha256"]),
    }
    report = {
        "run": {"command": command or f"python -m i2imetric_training.findings q3 --out {out}",
                "seconds": time.time() - started, "n_items": settings.n_items, "n_candidates": settings.n_candidates,
                "n_triplets": len(items), "seed": settings.seed, "metric": identity,
                "prior_note": scorers.base_note},  # fmt: skip
        "analysis": analysis,
    }
    figures = draw_figures(report, out)
    write_json(out / "results.json", report)
    (out / "tables.md").write_text(render_section(report))
    (out / "section.md").write_text(render_section(report, figure_dir="figures/"))
    if doc is not None:
        paste_section(Path(doc), SECTION, render_section(report, figure_dir="figures/"), figures)
    return report


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="folder of the cache and the report (reused on a rerun)")
    parser.add_argument("--quick", action="store_true",
                        help=f"the quick size: {QUICK['n_items']} items per split (default {FULL['n_items']})")
    add_scorer_options(parser)
    parser.add_argument("--q1", help="a Q1 run (its --out) on the same scorer, for the set-level rows")
    parser.add_argument("--items", type=int, help="items per held-out split (overrides the size)")
    parser.add_argument("--candidates", type=int, help="instructions each right output is ranked among (default 20)")


def run(args: argparse.Namespace) -> int:
    size = QUICK if args.quick else FULL
    settings = Q3Settings(
        n_items=size["n_items"] if args.items is None else args.items,
        n_candidates=size["n_candidates"] if args.candidates is None else args.candidates,
        seed=args.seed,
        working_size=args.working_size,
    )
    report = run_q3(args.out, settings, metric=args.metric, q1=args.q1, doc=args.doc, progress=not args.no_progress,
                    command=command_line("q3"))  # fmt: skip
    print(render_section(report))
    say_written(args.out, FIGURES, report["run"]["seconds"])
    return 0
