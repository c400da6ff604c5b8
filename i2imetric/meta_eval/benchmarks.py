"""The benchmark suite of ``i2imetric bench``: where each benchmark's data is, and what to score.

Each :class:`Benchmark` knows its upstream data (a Hugging Face data set, or where to get
it by hand), reads it with its adapter in :mod:`i2imetric.data.loaders`, lists the outputs
to score, and turns their scores into the protocols of
:mod:`i2imetric.meta_eval.bench_protocols`. Nothing here imports torch:
:func:`find_data` and :meth:`Benchmark.load` run before any model is loaded, so a wrong
``--data-root`` or a missing download is reported in a second.

Where the data comes from, in order: ``<data_root>/<name>/`` when a data root is given;
else, for a benchmark on the Hugging Face Hub, the Hub (``huggingface_hub``) or, with
``HF_HUB_OFFLINE=1``, its copy in the Hugging Face cache, failing at once (no retries)
with the command that downloads it and where to put it.

Names. The two benchmarks published as "EditReward-Bench" are different data with
different protocols; here they are ``editreward-bench-tiger`` (TIGER-AI-Lab, the
EditReward paper) and ``editscore-bench`` (VectorSpaceLab, the EditScore paper), in
every file name, JSON and table.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..data import LoadReport, Pairwise, Rating, Triplet
from ..data.loaders import (
    find_imagenhub_tasks,
    load_aurora_bench_ratings,
    load_bapps_2afc,
    load_discedit,
    load_editreward_bench_tiger,
    load_editscore_bench,
    load_genai_bench_votes,
    load_imagenhub_ratings,
    load_nights,
)
from ..data.loaders.aurora_bench import AURORA_BENCH_MANUAL
from ..errors import I2IInputError
from ..stats import two_afc_human_score
from . import bench_protocols as protocols
from .bench_protocols import Estimand, Reference, Selection

__all__ = ["BENCHMARKS", "SUITES", "Benchmark", "Loaded", "Output", "find_data", "output_key", "resolve_names", "triplets_of"]

# The perceptual 2AFC sets have no instruction; their triplets are scored for this one,
# which asks the metric exactly what 2AFC asks people: which output keeps the reference.
KEEP_INSTRUCTION = "keep the image unchanged"
# Baselines that read the instruction say nothing when the instruction is fixed (2AFC),
# and those that ignore it cannot tell two instructions apart (DiscEdit).
_INSTRUCTION_BASELINES = ("clip_t", "clip_dir", "clip_dir_captions")
_IMAGE_ONLY_BASELINES = ("clip_i", "patch_preservation", "vit_patch", "l2", "psnr")


@dataclass(frozen=True)
class Output:
    """One image to score: the engine's triplet, and the editing system behind it when known."""

    source: str
    instruction: str
    output: str
    system: str | None = None
    captions: tuple[str, str] | None = None  # (source, target) captions, for clip_dir_captions

    @property
    def key(self) -> str:
        return output_key(self.source, self.instruction, self.output)


def output_key(source: str, instruction: str, output: str) -> str:
    """The id of a scored output: a hash of its resolved paths and its instruction, the same on every run."""
    text = "\n".join((os.path.realpath(source), instruction.strip(), os.path.realpath(output)))
    return "o" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


@dataclass
class Loaded:
    """A benchmark's data, read: the units its protocols count, each with the outputs it needs.

    Args:
        units: per unit, its outputs (a pair has two, a rated item one).
        unit_ids: a name per unit (for the list of units that could not be scored).
        info: per unit, what its protocol needs (labels, tasks, groups ...).
        reports: what each reader did with its files.
        files: the files read.
    """

    units: list[list[Output]]
    unit_ids: list[str]
    info: list[dict]
    reports: list[LoadReport]
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def without(self, unit_ids: set, note: str) -> "Loaded":
        """These units left out (a scorer validated on them), and a note that says how many and why."""
        keep = [i for i, unit_id in enumerate(self.unit_ids) if unit_id not in unit_ids]
        if len(keep) == len(self.units):
            return self
        notes = [*self.notes, f"{len(self.units) - len(keep)} of {len(self.units)} units left out: {note}"]
        pick = lambda values: [values[i] for i in keep]  # noqa: E731
        return Loaded(pick(self.units), pick(self.unit_ids), pick(self.info), self.reports, self.files, notes)

    def limited(self, limit: int | None) -> "Loaded":
        if limit is None:
            return self
        notes = [*self.notes, f"limited to the first {limit} of {len(self.units)} units (--limit)"]
        return Loaded(self.units[:limit], self.unit_ids[:limit], self.info[:limit], self.reports, self.files, notes)


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: its data, its adapter, its protocols.

    Args:
        name: the ``--bench`` name, also the folder under ``--data-root`` and the JSON's name.
        title, paper, code: what it is and where its protocol is published.
        hf_repo: its Hugging Face data set, or None when it is not on the Hub.
        allow_patterns: the files of ``hf_repo`` it needs.
        manual: how to get it by hand (shown whenever it is missing).
        read: ``(root, work_dir) -> Loaded``.
        measure: ``(loaded, selection, options) -> [Estimand]``.
        skip_baselines: baselines that mean nothing on this benchmark.
        subscores: sub-scores of the metric that the protocol also reads, as scorers ``metric:<name>``.
    """

    name: str
    title: str
    paper: str
    code: str
    hf_repo: str | None
    allow_patterns: tuple[str, ...] | None
    manual: str
    read: Callable[[str, str], Loaded]
    measure: Callable[[Loaded, Selection, dict], list[Estimand]]
    skip_baselines: tuple[str, ...] = ()
    subscores: tuple[str, ...] = ()

    def load(self, root: str, work_dir: str) -> Loaded:
        """Read the data at ``root``; images inside parquet files go to ``<work_dir>/images``."""
        return self.read(root, work_dir)


# ------------------------------------------------------------ validation shares

# Benchmarks a training run may validate on: their units are human-voted pairs (label "a"
# or "b"; ties and both-bad votes say nothing about which output wins and are skipped).
VALIDATION_BENCHES = ("genai-bench",)


def validation_share(benchmark_name: str, unit_ids: Sequence[str], fraction: float) -> set[str]:
    """The units of a benchmark that a training run validates on: those whose SHA-256 of
    ``"<benchmark>/<unit id>"`` falls in the first ``fraction`` of the hash range.

    Fixed by the ids alone (no seed, no order), so the trainer that selects checkpoints on
    them and ``i2imetric bench``, which leaves them out of the reported numbers, agree on
    the same units on any machine, and a unit keeps its side when the benchmark grows.
    """
    if not 0.0 < fraction < 1.0:
        raise I2IInputError(f"validation share of {benchmark_name}: fraction {fraction!r} must be in (0, 1)")
    chosen = set()
    for unit_id in unit_ids:
        digest = hashlib.sha256(f"{benchmark_name}/{unit_id}".encode("utf-8")).hexdigest()
        if int(digest[:15], 16) < fraction * 16**15:
            chosen.add(unit_id)
    return chosen


def validated_units(metric, benchmark_name: str, unit_ids: Sequence[str]) -> set[str]:
    """The units of ``benchmark_name`` that ``metric`` was validated on in training (``metric.validated_on``)."""
    chosen = set()
    for record in getattr(metric, "validated_on", None) or []:
        if record.get("bench") == benchmark_name:
            chosen |= validation_share(benchmark_name, unit_ids, float(record["fraction"]))
    return chosen


# ------------------------------------------------------------------------ finding data


def find_data(benchmark: Benchmark, data_root: str | None) -> str:
    """The folder holding ``benchmark`` 's data: under ``data_root``, else from the Hugging Face Hub.

    Raises:
        I2IInputError: the folder is missing, the benchmark is not on the Hub, or the
            machine is offline and the Hub copy is not cached; the message says what to
            download and where to put it.
    """
    if data_root is not None:
        folder = os.path.join(os.path.abspath(data_root), benchmark.name)
        if not os.path.isdir(folder):
            raise I2IInputError(f"--data-root {data_root}: no {benchmark.name}/ folder; {benchmark.manual}")
        return folder
    if benchmark.hf_repo is None:
        raise I2IInputError(
            f"{benchmark.name} is not on the Hugging Face Hub, so it cannot be downloaded for you; "
            f"{benchmark.manual}, then pass --data-root DIR"
        )
    return _from_hub(benchmark)


def _hub_command(benchmark: Benchmark) -> str:
    include = " ".join(f"--include '{pattern}'" for pattern in benchmark.allow_patterns or ())
    return (
        f"huggingface-cli download --repo-type dataset {benchmark.hf_repo} {include} "
        f"--local-dir DIR/{benchmark.name}".replace("  ", " ")
    )


def _offline() -> bool:
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return bool(constants.HF_HUB_OFFLINE) or flag in ("1", "true", "yes", "on")


def _from_hub(benchmark: Benchmark) -> str:
    from huggingface_hub import snapshot_download

    options = dict(repo_id=benchmark.hf_repo, repo_type="dataset", allow_patterns=list(benchmark.allow_patterns or []) or None)
    if _offline():
        try:
            # The cache alone, no request: a copy downloaded earlier still serves offline.
            return snapshot_download(**options, local_files_only=True)
        except Exception:  # LocalEntryNotFoundError and kin: not cached
            raise I2IInputError(
                f"{benchmark.name}: offline (HF_HUB_OFFLINE=1) and {benchmark.hf_repo} is not in the Hugging Face "
                f"cache; on a machine with internet run `{_hub_command(benchmark)}`, copy DIR here and pass "
                "--data-root DIR"
            ) from None
    try:
        return snapshot_download(**options)
    except Exception as problem:  # network, auth, rate limits: all the user can act on is the message
        raise I2IInputError(
            f"{benchmark.name}: could not download {benchmark.hf_repo} ({type(problem).__name__}: {problem}); "
            f"download it with `{_hub_command(benchmark)}` and pass --data-root DIR"
        ) from None


# ------------------------------------------------------------------------ benchmarks


def _pair_units(records: Sequence[Pairwise], fixed_instruction: str | None = None) -> tuple[list, list]:
    units, ids = [], []
    for record in records:
        instruction = fixed_instruction or record.instruction or ""
        captions = _captions(record.extra)
        units.append(
            [
                Output(record.source, instruction, record.output_a, record.extra.get("system_a"), captions),
                Output(record.source, instruction, record.output_b, record.extra.get("system_b"), captions),
            ]
        )
        ids.append(str(record.id))
    return units, ids


def _captions(extra: dict) -> tuple[str, str] | None:
    source, target = extra.get("source_caption"), extra.get("target_caption")
    return (source, target) if isinstance(source, str) and isinstance(target, str) else None


def _read_genai_bench(root: str, work_dir: str) -> Loaded:
    records, report = load_genai_bench_votes(root, image_dir=os.path.join(work_dir, "images"), on_error="skip")
    units, ids = _pair_units(records)
    return Loaded(units, ids, [{"label": r.label} for r in records], [report], [report.source])


def _measure_genai_bench(loaded: Loaded, selection: Selection, options: dict) -> list[Estimand]:
    labels = np.array([loaded.info[i]["label"] for i in selection.used])
    vote_ids = [loaded.unit_ids[i] for i in selection.used]
    return protocols.genai_bench_protocols(labels, selection, options["validation_fraction"], options["seed"], vote_ids)


def _read_imagenhub(root: str, work_dir: str) -> Loaded:
    units, ids, info, reports, notes = [], [], [], [], []
    for task in find_imagenhub_tasks(root):
        records, report = load_imagenhub_ratings(task.tsv_paths, image_root=task.image_root, on_error="skip")
        reports.append(report)
        by_item: dict[tuple, list[Rating]] = {}
        for rating in records:
            by_item.setdefault((rating.group, rating.system), []).append(rating)
        without = 0
        for (uid, system), ratings in by_item.items():
            first = ratings[0]
            if first.instruction is None:
                without += 1  # the task's lookup file gives no instruction for it: it cannot be scored
                continue
            units.append([Output(first.source, first.instruction, first.output, system, _captions(first.extra))])
            ids.append(f"{task.name}/{uid}/{system}")
            info.append({"task": task.name, "uid": uid, "system": system, "by_rater": {r.rater: r.value for r in ratings}})
        if without:
            notes.append(f"{task.name}: {without} rated item(s) have no instruction in dataset_lookup.json; not scored")
    return Loaded(units, ids, info, reports, [p for r in reports for p in r.source.split(", ")], notes)


def _measure_imagenhub(loaded: Loaded, selection: Selection, options: dict) -> list[Estimand]:
    used = [loaded.info[i] for i in selection.used]
    raters = sorted({rater for item in used for rater in item["by_rater"]})
    estimands = []
    for task in dict.fromkeys(item["task"] for item in used):
        rows = [j for j, item in enumerate(used) if item["task"] == task]
        items = [used[j] for j in rows]
        by_rater = np.array([[item["by_rater"].get(r, np.nan) for r in raters] for item in items])
        human = np.nanmean(by_rater, axis=1)
        task_selection = Selection(rows, [], {s: v[rows] for s, v in selection.scores.items()}, [])
        estimands += protocols.imagenhub_protocols(
            task,
            human,
            by_rater,
            np.array([item["system"] for item in items]),
            np.array([item["uid"] for item in items]),
            task_selection,
        )
    return estimands


def _read_editreward_bench_tiger(root: str, work_dir: str) -> Loaded:
    records, report = load_editreward_bench_tiger(root, os.path.join(work_dir, "images"), on_error="skip")
    units, ids = _pair_units(records)
    info = [{"label": r.label, "subset": r.extra["subset"], "group": r.extra["group"]} for r in records]
    return Loaded(units, ids, info, [report], [root])


def _measure_editreward_bench_tiger(loaded: Loaded, selection: Selection, options: dict) -> list[Estimand]:
    used = [loaded.info[i] for i in selection.used]
    return protocols.editreward_bench_tiger(
        selection.scores,
        np.array([u["label"] for u in used]),
        np.array([u["subset"] for u in used]),
        np.array([u["group"] for u in used]),
    )


def _read_editscore_bench(root: str, work_dir: str) -> Loaded:
    records, report = load_editscore_bench(root, os.path.join(work_dir, "images"), on_error="skip")
    units, ids = _pair_units(records)
    info = [{"dimension": r.extra["dimension"], "task_type": r.extra["task_type"]} for r in records]
    return Loaded(units, ids, info, [report], [root])


def _measure_editscore_bench(loaded: Loaded, selection: Selection, options: dict) -> list[Estimand]:
    used = [loaded.info[i] for i in selection.used]
    estimands = []
    for dimension in ("prompt_following", "consistency", "overall"):
        rows = [j for j, u in enumerate(used) if u["dimension"] == dimension]
        if len(rows) < 2:
            continue
        tasks = np.array([used[j]["task_type"] for j in rows])
        estimands.append(protocols.editscore_accuracy(dimension, {s: v[rows] for s, v in selection.scores.items()}, tasks))
    return estimands


def _read_discedit(root: str, work_dir: str) -> Loaded:
    records, report = load_discedit(root, on_error="skip")
    units, ids, info = [], [], []
    for true, contrast in zip(records[::2], records[1::2]):
        units.append([Output(t.source, t.instruction, t.output) for t in (true, contrast)])
        ids.append(true.extra["discedit_item"])
        info.append({"task": true.extra["discedit_task"]})
    return Loaded(units, ids, info, [report], [root])


def _measure_discedit(loaded: Loaded, selection: Selection, options: dict) -> list[Estimand]:
    tasks = np.array([loaded.info[i]["task"] for i in selection.used])
    return [protocols.discedit_accuracy(selection.scores, tasks)]


def _read_aurora_bench(root: str, work_dir: str) -> Loaded:
    records, report = load_aurora_bench_ratings(root, os.path.join(work_dir, "images"), on_error="skip", check_files=True)
    units = [[Output(r.source, r.instruction, r.output, r.system)] for r in records]
    info = [{"task": r.extra["task"], "uid": r.group, "system": r.system, "human": r.value} for r in records]
    panels = sum("composite" in r.extra for r in records)
    notes = [f"{panels} output(s) were comparison panels (source left, output right); their right half is scored"] if panels else []
    return Loaded(units, [str(r.id) for r in records], info, [report], [report.source], notes)


def _measure_aurora_bench(loaded: Loaded, selection: Selection, options: dict) -> list[Estimand]:
    used = [loaded.info[i] for i in selection.used]
    return protocols.aurora_bench_protocols(
        np.array([u["human"] for u in used], dtype=float),
        np.array([u["system"] for u in used]),
        np.array([u["uid"] for u in used]),
        np.array([u["task"] for u in used]),
        selection,
    )


_DREAMSIM_README = "DreamSim README, 'updated NIGHTS performance table', NIGHTS - Test (github.com/ssundaram21/dreamsim)"


def _read_nights(root: str, work_dir: str) -> Loaded:
    # DreamSim's TwoAFCDataset: votes >= 6 (unanimous) and the test split.
    records, report = load_nights(root, split="test", on_error="skip")
    units, ids = _pair_units(records, KEEP_INSTRUCTION)
    return Loaded(units, ids, [{"p_a": r.label} for r in records], [report], [report.source])


def _measure_nights(loaded: Loaded, selection: Selection, options: dict) -> list[Estimand]:
    p_a = np.array([loaded.info[i]["p_a"] for i in selection.used], dtype=float)
    references = [
        Reference("DreamSim ensemble", 0.962, _DREAMSIM_README),
        Reference("DreamSim open_clip_vitb32", 0.953, _DREAMSIM_README),
        Reference("DreamSim clip_vitb32", 0.936, _DREAMSIM_README),
    ]
    estimand = protocols.two_afc("2afc", "2AFC score on the unanimous test triplets (DreamSim)", selection.scores, p_a, references)
    return [estimand]


BAPPS_CATEGORIES = ("traditional", "cnn", "superres", "deblur", "color", "frameinterp")


def _read_bapps(root: str, work_dir: str) -> Loaded:
    units, ids, info, reports = [], [], [], []
    found = [c for c in BAPPS_CATEGORIES if os.path.isdir(os.path.join(root, "2afc", "val", c))]
    if not found:
        raise I2IInputError(f"{root}: no 2afc/val/<category>/ folders ({', '.join(BAPPS_CATEGORIES)}); {_BAPPS_MANUAL}")
    for category in found:
        records, report = load_bapps_2afc(os.path.join(root, "2afc", "val", category), on_error="skip")
        reports.append(report)
        pairs, names = _pair_units(records, KEEP_INSTRUCTION)
        units += pairs
        ids += names
        info += [{"p_a": r.label, "category": category} for r in records]
    return Loaded(units, ids, info, reports, [r.source for r in reports])


def _measure_bapps(loaded: Loaded, selection: Selection, options: dict) -> list[Estimand]:
    used = [loaded.info[i] for i in selection.used]
    estimands = []
    for category in dict.fromkeys(u["category"] for u in used):
        rows = [j for j, u in enumerate(used) if u["category"] == category]
        if len(rows) < 2:
            continue
        p_a = np.array([used[j]["p_a"] for j in rows], dtype=float)
        human = Reference(
            "human-human",
            two_afc_human_score(p_a),
            "computed from the judge files: p^2 + (1-p)^2, the chance that two judges agree (BAPPS' human score)",
        )
        estimands.append(
            protocols.two_afc(
                f"val/{category}", f"2AFC score, val/{category} (LPIPS)", {s: v[rows] for s, v in selection.scores.items()}, p_a, [human]
            )
        )
    return estimands


_BAPPS_MANUAL = (
    "get BAPPS' 2AFC validation set: wget https://perceptual-similarity.s3.us-west-2.amazonaws.com/dataset/"
    "twoafc_val.tar.gz and unpack it so that DIR/bapps/2afc/val/traditional/ exists (tar -xf twoafc_val.tar.gz "
    "-C DIR/bapps/2afc)"
)

BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark(
            "genai-bench",
            "GenAI-Bench, image editing (919 votes)",
            "Jiang et al., GenAI Arena, 2024, arXiv:2406.04485",
            "github.com/TIGER-AI-Lab/GenAI-Bench (inference.py, show_results.py)",
            "TIGER-Lab/GenAI-Bench",
            ("image_edition/test_v1-*",),
            "download TIGER-Lab/GenAI-Bench's image_edition test_v1 parquet: huggingface-cli download --repo-type "
            "dataset TIGER-Lab/GenAI-Bench --include 'image_edition/test_v1-*' --local-dir DIR/genai-bench",
            _read_genai_bench,
            _measure_genai_bench,
        ),
        Benchmark(
            "imagenhub",
            "ImagenHub human ratings: text-guided, mask-guided and subject-driven editing",
            "Ku et al., ImagenHub, ICLR 2024, arXiv:2310.01596",
            "github.com/TIGER-AI-Lab/ImagenHub (eval/human_ratings); EditReward's eval_bench.py "
            "(evaluate_imagenhub_from_json)",
            None,
            None,
            "clone https://github.com/TIGER-AI-Lab/ImagenHub to DIR/imagenhub (for eval/human_ratings/) and put "
            "ImagenMuseum's images of each task in DIR/imagenhub/ImagenHub_<Task>/ "
            "(https://chromaica.github.io/Museum/ImagenHub_<Task>/)",
            _read_imagenhub,
            _measure_imagenhub,
        ),
        Benchmark(
            "editreward-bench-tiger",
            "EditReward-Bench by TIGER-AI-Lab (K = 2, 3, 4 candidates)",
            "Wu et al., EditReward, ICLR 2026, arXiv:2509.26346",
            "github.com/TIGER-AI-Lab/EditReward (EditReward/evaluate/eval_bench.py, inference_{2,3,4}pair_hf.py)",
            "TIGER-Lab/EditReward-Bench",
            ("2pair/*", "3pair/*", "4pair/*"),
            "download TIGER-Lab/EditReward-Bench: huggingface-cli download --repo-type dataset "
            "TIGER-Lab/EditReward-Bench --local-dir DIR/editreward-bench-tiger",
            _read_editreward_bench_tiger,
            _measure_editreward_bench_tiger,
        ),
        Benchmark(
            "editscore-bench",
            "EditReward-Bench by VectorSpaceLab (EditScore's; 13 task types, 3 dimensions)",
            "Luo et al., EditScore, 2025, arXiv:2509.23909",
            "github.com/VectorSpaceLab/EditScore (evaluation.py, calculate_statistics.py)",
            "EditScore/EditReward-Bench",
            None,
            "download EditScore/EditReward-Bench: huggingface-cli download --repo-type dataset "
            "EditScore/EditReward-Bench --local-dir DIR/editscore-bench",
            _read_editscore_bench,
            _measure_editscore_bench,
        ),
        Benchmark(
            "discedit",
            "AURORA DiscEdit: the true instruction against a minimally different one",
            "Krojer et al., AURORA, 2024, arXiv:2407.03471",
            "github.com/McGill-NLP/AURORA (edit_dataset.py EditITMDataset, eval_disc_edit.py)",
            None,
            None,
            "clone the AURORA repository (MIT, images included): git clone https://github.com/McGill-NLP/AURORA "
            "DIR/discedit",
            _read_discedit,
            _measure_discedit,
            skip_baselines=_IMAGE_ONLY_BASELINES,
        ),
        Benchmark(
            "aurora-bench",
            "AURORA-Bench human ratings (5 editing systems x 400 items)",
            "Krojer et al., AURORA, NeurIPS 2024, arXiv:2407.03471",
            "github.com/McGill-NLP/AURORA (README, 'Human Ratings'; the ratings json and images on Google Drive)",
            None,
            None,
            AURORA_BENCH_MANUAL,
            _read_aurora_bench,
            _measure_aurora_bench,
        ),
        Benchmark(
            "nights",
            "NIGHTS 2AFC, test split, unanimous triplets",
            "Fu et al., DreamSim, NeurIPS 2023, arXiv:2306.09344",
            "github.com/ssundaram21/dreamsim (dataset/dataset.py, evaluation/score.py)",
            None,
            None,
            "get NIGHTS: wget https://data.csail.mit.edu/nights/nights.zip and unzip it so that "
            "DIR/nights/data.csv exists",
            _read_nights,
            _measure_nights,
            skip_baselines=_INSTRUCTION_BASELINES,
            subscores=("preservation",),
        ),
        Benchmark(
            "bapps",
            "BAPPS 2AFC validation sets",
            "Zhang et al., LPIPS, CVPR 2018, arXiv:1801.03924",
            "github.com/richzhang/PerceptualSimilarity (lpips/trainer.py score_2afc_dataset)",
            None,
            None,
            _BAPPS_MANUAL,
            _read_bapps,
            _measure_bapps,
            skip_baselines=_INSTRUCTION_BASELINES,
            subscores=("preservation",),
        ),
    )
}

SUITES = {
    "editing": ("genai-bench", "imagenhub", "editreward-bench-tiger", "editscore-bench", "discedit", "aurora-bench"),
    "perceptual": ("nights", "bapps"),
}
SUITES["all"] = SUITES["editing"] + SUITES["perceptual"]


def resolve_names(suite: str | None, bench: str | None) -> list[Benchmark]:
    """The benchmarks a ``--suite`` or a comma-separated ``--bench`` names (exactly one of the two)."""
    if (suite is None) == (bench is None):
        raise I2IInputError("give --suite (editing, perceptual, all) or --bench NAME[,NAME...], not both and not neither")
    if suite is not None:
        if suite not in SUITES:
            raise I2IInputError(f"--suite {suite!r} is not one of {', '.join(SUITES)}")
        return [BENCHMARKS[name] for name in SUITES[suite]]
    names = [name.strip() for name in bench.split(",") if name.strip()]
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown or not names:
        hint = " (the two EditReward-Benches are editreward-bench-tiger and editscore-bench)" if any(
            "editreward" in name for name in unknown
        ) else ""
        raise I2IInputError(f"--bench {bench!r}: unknown {unknown or 'empty'}; choose from {', '.join(BENCHMARKS)}{hint}")
    return [BENCHMARKS[name] for name in dict.fromkeys(names)]


def triplets_of(loaded: Loaded) -> list[Triplet]:
    """One ``Triplet`` per distinct output (id = :func:`output_key`), in the order first met."""
    seen: dict[str, Triplet] = {}
    for outputs in loaded.units:
        for out in outputs:
            if out.key not in seen:
                extra = dict(zip(("source_caption", "target_caption"), out.captions)) if out.captions else {}
                seen[out.key] = Triplet(out.source, out.instruction, out.output, id=out.key, system=out.system, extra=extra)
    return list(seen.values())

