"""Q2: is CLIP the right backbone, or do we win by quantity over quality? Same head, same budget, same splits.

    python -m i2imetric_training.findings q2 --out findings/q2 --quick
    python -m i2imetric_training.findings q2 --out findings/q2 --pretrain-steps 500 --jobs 2 \
        --reuse-base clip_double_data=checkpoints/demo/base.safetensors

Five arms train the same joint head (``configs/demo_scorer.yaml``: same data, steps, seed and
head sizes) on patch tokens from different image towers, and are scored on the same
held-out edit pairs:

* ``clip``: the ShapesCLIP image tower (language-supervised), pretrained ``--pretrain-steps``
  on fresh data;
* ``timm``: a timm ViT of the same size pretrained the same steps on the same images without
  text, by DINO-style self-distillation (:mod:`i2imetric_training.pretrain_ssl`); the head reads
  its patches only, while arm ``clip``'s ShapesCLIP still gives the pooled embeddings and reads
  the instruction (model config ``shapesclip_timm``);
* ``both``: the two towers' patches concatenated (``shapesclip_both``);
* ``clip_half_data``: ShapesCLIP pretrained the same steps on half as many distinct examples
  (``pool_size``), i.e. the same compute on half the data;
* ``clip_double_data``: ShapesCLIP pretrained twice the steps on fresh data: twice the
  distinct data, and twice the compute.

Each arm reports its accuracy on the edit grammar's splits (trained, held-out phrasing,
held-out operation x region, held-out operation), the map checks and whether it reads the
instruction (:func:`i2imetric_training.evaluate_scorer.grammar_checks`), and its cost:
parameters, measured seconds per training step and pretraining minutes.

Resumable under ``--out``: each stage (four pretrainings, five trainings, five evaluations)
is skipped when its output exists, and a training killed midway resumes from its saved state.
With ``--jobs N`` the pretrainings, then the trainings, run N at a time in worker processes
(the CPU's threads shared among them); the evaluations stay in this process.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from i2imetric._numbers import check_int
from i2imetric.errors import I2IInputError

from .config import IMAGE_KEYS
from .findings_report import check_settings, fmt, markdown_table, paste_section, write_json

__all__ = ["ARMS", "BASES", "FULL", "QUICK", "Q2Settings", "configure_parser", "run", "run_q2"]

HELP = "same head, same budget: ShapesCLIP patches vs a DINO-style ViT's, vs half and double the pretraining data"
SECTION = "q2"
FIGURE = "q2_heldout_accuracy.png"
CLIP_PRETRAIN_CONFIG = "shapesclip_pretrain"
DINO_PRETRAIN_CONFIG = "shapesvit_dino_pretrain"
TRAIN_CONFIG = "demo_scorer"
# The in-run validation only has to be a number for the trainer to save the final step (it
# validates once, at the end): the arms' numbers come from evaluate_scorer.
TRAIN_VALIDATION = ("validation.shapes_count=4", "validation.grammar_count=0", "validation.photo_crops=0")
QUICK = {"pretrain_steps": 40, "train_steps": 80, "grammar": 16, "shapes": 16, "photo_crops": 1}
FULL = {"pretrain_steps": 300, "train_steps": 600, "grammar": 96, "shapes": 100, "photo_crops": 1}
SPLITS = {  # evaluate_scorer set -> the table's column
    "grammar_train": "trained",
    "grammar_heldout_phrasing": "held-out phrasing",
    "grammar_heldout_combo": "held-out operation x region",
    "grammar_heldout_operation": "held-out operation",
}
HELDOUT = ("grammar_heldout_phrasing", "grammar_heldout_combo", "grammar_heldout_operation")
CHECKS = {  # grammar_checks key -> the table's column
    "map_helped_positive": "map > 0 where the edit helped",
    "map_pointing": "map points at the edit",
    "map_damage_pointing": "map points at collateral damage",
    "instruction_swap": "own instruction > another's",
}


@dataclass(frozen=True)
class Base:
    """A pretraining stage: which objective, how many steps (in units of ``--pretrain-steps``), which data."""

    name: str
    objective: str  # "clip" (contrastive, with captions) or "dino" (self-distillation, no text)
    step_factor: int = 1
    half_data: bool = False  # pool_size = half of steps x batch: the same compute on half the data


@dataclass(frozen=True)
class Arm:
    name: str
    model: str  # the model config the head is trained on
    clip_base: str  # the ShapesCLIP base (pooled embeddings, text, and the patches of patch_source clip/both)
    timm_base: Optional[str]  # the DINO-style ViT, for patch_source timm/both
    description: str


BASES = {
    "clip": Base("clip", "clip"),
    "clip_half_data": Base("clip_half_data", "clip", half_data=True),
    "clip_double_data": Base("clip_double_data", "clip", step_factor=2),
    "timm": Base("timm", "dino"),
}
ARMS = (
    Arm("clip", "shapesclip", "clip", None, "ShapesCLIP patches (language-supervised)"),
    Arm("timm", "shapesclip_timm", "clip", "timm", "DINO-style ViT patches (no text), same size, same images"),
    Arm("both", "shapesclip_both", "clip", "timm", "ShapesCLIP and DINO-style ViT patches, concatenated"),
    Arm("clip_half_data", "shapesclip", "clip_half_data", None, "ShapesCLIP, half the distinct pretraining data"),
    Arm("clip_double_data", "shapesclip", "clip_double_data", None,
        "ShapesCLIP, twice the steps on fresh data (2x data and 2x compute)"),
)
# Relative cost of a stage, to start the longest first under --jobs. Measured in the first Q2
# run (docs/findings.md): a DINO-style pretraining step took about twice a ShapesCLIP one
# (10.9 vs 5.9 min for 300 steps), and a training step that runs the DINO-style tower too
# about 1.5 times one that does not (1.18-1.26 vs 0.78 s).
DINO_STEP_COST = 2.0
SECOND_TOWER_COST = 1.5


def pretraining_cost(base: Base, reuse: dict) -> float:
    return 0.0 if base.name in reuse else base.step_factor * (DINO_STEP_COST if base.objective == "dino" else 1.0)


def training_cost(arm: Arm) -> float:
    return SECOND_TOWER_COST if arm.timm_base is not None else 1.0


@dataclass(frozen=True)
class Q2Settings:
    """One Q2 study. :meth:`training` decides the cached bases and arms; the evaluation sizes may change."""

    pretrain_steps: int
    train_steps: int
    grammar: int
    shapes: int
    photo_crops: int
    seed: int = 0
    pretrain_batch: Optional[int] = None  # None: the pretraining configs' batch size
    groups_per_step: Optional[int] = None  # None: the training config's
    batch_size: int = 96  # scoring batch of the evaluation

    def __post_init__(self) -> None:
        minima = {"pretrain_steps": ("--pretrain-steps", 1), "train_steps": ("--train-steps", 1),
                  "grammar": ("--grammar", 1), "shapes": ("--shapes", 0), "photo_crops": ("--photo-crops", 0),
                  "pretrain_batch": ("--pretrain-batch", 2), "groups_per_step": ("--groups-per-step", 1),
                  "batch_size": ("batch_size", 1)}  # fmt: skip
        for name, (option, least) in minima.items():
            value = getattr(self, name)
            if value is None and name in ("pretrain_batch", "groups_per_step"):
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise I2IInputError(f"{option} must be an int >= {least}, got {value!r}")

    def training(self) -> dict:
        """What the cached bases and trained heads depend on (a cache made with others is refused)."""
        return {"pretrain_steps": self.pretrain_steps, "train_steps": self.train_steps, "seed": self.seed,
                "pretrain_batch": self.pretrain_batch, "groups_per_step": self.groups_per_step, "format": 1}  # fmt: skip

    def evaluation_key(self) -> str:
        return f"g{self.grammar}-s{self.shapes}-p{self.photo_crops}"


# ------------------------------------------------------------------ pretraining


def _pretrain_overrides(base: Base, settings: Q2Settings, output: Path) -> list[str]:
    """The ``key=value`` overrides of one base's pretraining config."""
    overrides = [f"steps={settings.pretrain_steps * base.step_factor}", f"seed={settings.seed}", f"output={output}"]
    if settings.pretrain_batch is not None:
        overrides.append(f"batch_size={settings.pretrain_batch}")
    if base.half_data:
        batch = settings.pretrain_batch or _pretrain_config(base, []).batch_size
        overrides.append(f"pool_size={settings.pretrain_steps * base.step_factor * batch // 2}")
    return overrides


def _pretrain_config(base: Base, overrides: list[str]):
    from .config import load_pretrain_config, load_ssl_pretrain_config

    if base.objective == "clip":
        return load_pretrain_config(CLIP_PRETRAIN_CONFIG, tuple(overrides))
    return load_ssl_pretrain_config(DINO_PRETRAIN_CONFIG, tuple(overrides))


def _pretrain_command(base: Base, overrides: list[str]) -> str:
    module, config = ("pretrain", CLIP_PRETRAIN_CONFIG) if base.objective == "clip" else ("pretrain_ssl", DINO_PRETRAIN_CONFIG)
    return f"python -m i2imetric_training.{module} --config configs/{config}.yaml " + " ".join(overrides)


def _base_path(out: Path, name: str) -> Path:
    return out / "bases" / f"{name}.safetensors"


def check_same_images(out: Path, settings: Q2Settings) -> None:
    """Refuse pretraining configs that would show ShapesCLIP and the DINO-style ViT other images."""
    clip, dino = (_pretrain_config(BASES[name], _pretrain_overrides(BASES[name], settings, _base_path(out, name)))
                  for name in ("clip", "timm"))  # fmt: skip
    differ = [key for key in IMAGE_KEYS if getattr(clip, key) != getattr(dino, key)]
    if differ:
        detail = ", ".join(f"{key}: {getattr(clip, key)!r} vs {getattr(dino, key)!r}" for key in differ)
        raise I2IInputError(f"configs/{CLIP_PRETRAIN_CONFIG}.yaml and configs/{DINO_PRETRAIN_CONFIG}.yaml draw other "
                            f"images ({detail}); make these keys equal, or the arms compare data, not objectives")


def pretrain_base(out: Path, base: Base, settings: Q2Settings, reuse: dict[str, Path]) -> dict:
    """Pretrain ``base`` into ``out/bases`` (or reuse a given file), and return its record.

    The stage is done when its ``.json`` exists: the pretraining writes it after the weights.
    """
    from i2imetric.hub.weights import sha256_file

    path = _base_path(out, base.name)
    overrides = _pretrain_overrides(base, settings, path)
    config = _pretrain_config(base, overrides)
    if base.name in reuse:
        return _reused_base(base, reuse[base.name], config)
    record_path = path.with_suffix(".json")
    if not record_path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        if base.objective == "clip":
            from .pretrain import pretrain

            pretrain(config)
        else:
            from .pretrain_ssl import pretrain_ssl

            pretrain_ssl(config)
    record = json.loads(record_path.read_text())
    if record["sha256"] != sha256_file(path):
        raise I2IInputError(f"{path}: its sha256 is not the one {record_path} recorded; delete both to pretrain it again")
    differ = config_differences(record.get("config", {}), config)
    if differ:
        raise I2IInputError(f"{path} was pretrained with {differ}, not this run's config (changed since?); delete it "
                            f"and {record_path.name} to pretrain it again")
    return {"name": base.name, "objective": base.objective, "path": str(path), "sha256": record["sha256"],
            "steps": config.steps, "batch_size": config.batch_size, "pool_size": config.pool_size,
            "distinct_examples": record["distinct_examples"], "seconds": record.get("seconds"),
            "reused": False, "command": _pretrain_command(base, overrides)}  # fmt: skip


# Settings of a pretraining record that say nothing about the weights it made: not compared.
IGNORED_KEYS = ("output", "log_every")


def config_differences(recorded: dict, config) -> dict:
    """``key: (recorded, now)`` for every setting of ``config`` that a pretraining record holds otherwise.

    A record without a setting comes from before the setting existed. Settings are added
    with a default that keeps the old behaviour, so the record matches when this config
    keeps the default; otherwise it counts as a difference: its weights cannot be shown to
    be this config's.
    """
    now = json.loads(json.dumps(vars(config), default=str))
    defaults = _field_defaults(type(config))
    differ = {}
    for key, value in now.items():
        if key in IGNORED_KEYS:
            continue
        if key in recorded:
            if recorded[key] != value:
                differ[key] = (recorded[key], value)
        elif key not in defaults or defaults[key] != value:
            differ[key] = ("unrecorded", value)
    return differ


def _field_defaults(config_class) -> dict:
    """A config dataclass's field defaults, JSON-shaped like a record's."""
    import dataclasses

    found = {}
    for item in dataclasses.fields(config_class):
        if item.default is not dataclasses.MISSING:
            found[item.name] = item.default
        elif item.default_factory is not dataclasses.MISSING:
            found[item.name] = item.default_factory()
    return json.loads(json.dumps(found, default=str))


def _reused_base(base: Base, path: Path, config) -> dict:
    """A base file the user already has (``--reuse-base``); checked against its ``.json`` when it has one."""
    from i2imetric.hub.weights import sha256_file

    from .pretrain import distinct_examples

    record_path = path.with_suffix(".json")
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    if "config" in record:
        differ = config_differences(record["config"], config)
        if differ:
            raise I2IInputError(f"--reuse-base {base.name}={path}: {record_path} says it was pretrained with {differ}, "
                                "not as this arm needs; pretrain it here instead (leave out --reuse-base)")
    return {"name": base.name, "objective": base.objective, "path": str(path), "sha256": sha256_file(path),
            "steps": config.steps, "batch_size": config.batch_size, "pool_size": config.pool_size,
            "distinct_examples": distinct_examples(config), "seconds": record.get("seconds"),
            "reused": True, "verified": "config" in record, "command": f"(reused {path})"}  # fmt: skip


# --------------------------------------------------------------------- training


def _train_overrides(arm: Arm, bases: dict[str, dict], settings: Q2Settings, output_dir: Path) -> list[str]:
    overrides = [f"model={arm.model}", f"pretrained={bases[arm.clip_base]['path']}"]
    if arm.timm_base is not None:
        overrides.append(f"timm_pretrained={bases[arm.timm_base]['path']}")
    overrides += [f"steps={settings.train_steps}", f"seed={settings.seed}", f"output_dir={output_dir}",
                  f"validation.every={settings.train_steps}", *TRAIN_VALIDATION, "calibrate=false"]  # fmt: skip
    if settings.groups_per_step is not None:
        overrides.append(f"data.groups_per_step={settings.groups_per_step}")
    return overrides


def train_arm(out: Path, arm: Arm, bases: dict[str, dict], settings: Q2Settings) -> dict:
    """Train ``arm``'s head (resuming a killed run), and return its record: command, bases, timing.

    Done when ``arms/ARM/train.json`` exists; it names the bases' sha256, so a base that
    changed since (another ``--reuse-base``) is refused rather than mixed in.
    """
    folder = out / "arms" / arm.name
    record_path = folder / "train.json"
    used = {key: bases[key]["sha256"] for key in (arm.clip_base, arm.timm_base) if key is not None}
    if record_path.is_file():
        record = json.loads(record_path.read_text())
        if record["bases"] != used:
            raise I2IInputError(f"{folder}: trained on other bases ({record['bases']}) than this run's ({used}); "
                                f"delete {folder} to train it again on these")
        return record
    from .config import load_train_config
    from .train import train

    overrides = _train_overrides(arm, bases, settings, folder / "train")
    config = load_train_config(TRAIN_CONFIG, tuple(overrides))
    result = train(config)
    record = {"arm": arm.name, "bases": used, "command": f"i2imetric train --config configs/{TRAIN_CONFIG}.yaml "
              + " ".join(overrides), "steps": result.steps, "groups_per_step": config.data.groups_per_step,
              "minutes": result.minutes, "seconds_per_step": seconds_per_step(folder / "train" / "log.jsonl")}  # fmt: skip
    write_json(record_path, record)
    return record


def seconds_per_step(log: Path) -> Optional[float]:
    """Median seconds per training step between the trainer's logged steps (None with fewer than two).

    The median leaves out the intervals that hold a state save, a validation or a resume.
    """
    points = []
    for line in log.read_text().splitlines():
        row = json.loads(line)
        if "loss" in row:
            points.append((row["step"], row["time"]))
    rates = [(t1 - t0) / (s1 - s0) for (s0, t0), (s1, t1) in zip(points, points[1:]) if s1 > s0]
    return statistics.median(rates) if rates else None


# ------------------------------------------------------------------- evaluation


def evaluate_arm(out: Path, arm: Arm, settings: Q2Settings, sets_maker) -> dict:
    """Score ``arm``'s trained scorer on the held-out sets (cached per evaluation size and weights)."""
    import i2imetric
    from i2imetric.hub.pretrained import WEIGHTS_NAME
    from i2imetric.hub.weights import sha256_file

    from .train import BEST_DIR

    # Found from out, not from train.json, so the folder may move between runs.
    best = out / "arms" / arm.name / "train" / BEST_DIR
    weights = sha256_file(best / WEIGHTS_NAME)
    path = out / "arms" / arm.name / f"eval-{settings.evaluation_key()}.json"
    if path.is_file() and json.loads(path.read_text()).get("weights_sha256") == weights:
        return json.loads(path.read_text())
    from i2imetric.models.lora import count_parameters

    from .evaluate_scorer import evaluate_scorer

    started = time.time()
    metric = i2imetric.load_metric(best)
    tables = evaluate_scorer(metric, sets_maker(), batch_size=settings.batch_size)
    parameters = count_parameters(metric)
    record = {"arm": arm.name, "weights_sha256": weights, "patch_source": metric.config.head.patch_source,
              "parameters": {"total": parameters.total, "trainable": parameters.trainable},
              "seconds": time.time() - started, "tables": tables}  # fmt: skip
    write_json(path, record)
    return record


def _validation_sets(settings: Q2Settings):
    """The held-out sets, built once and only when an evaluation needs them."""
    built = {}

    def make():
        if not built:
            from .data import grammar_validation_groups, validation_groups

            built.update(validation_groups(64, shapes_count=settings.shapes, photo_crops=settings.photo_crops))
            built.update(grammar_validation_groups(settings.grammar))
        return built

    return make


def summarise(arm: Arm, bases: dict, trained: dict, evaluated: dict) -> dict:
    """One arm's row of the report: what it is, what it cost, what it measured."""
    tables = evaluated["tables"]
    used = [bases[key] for key in (arm.clip_base, arm.timm_base) if key is not None]
    seconds = [b["seconds"] for b in used]
    accuracy = {name: {"accuracy": tables[name]["accuracy"], "pairs": tables[name]["pairs"]} for name in SPLITS}
    heldout_pairs = sum(tables[name]["pairs"] for name in HELDOUT)
    heldout = sum(tables[name]["accuracy"] * tables[name]["pairs"] for name in HELDOUT) / heldout_pairs
    checks = {}
    for key in CHECKS:
        parts = [tables[name]["checks"][key] for name in SPLITS]
        n = sum(p["n"] for p in parts)
        checks[key] = {"share": sum(p["share"] * p["n"] for p in parts if p["n"]) / n if n else float("nan"), "n": n}
    others = {name: tables[name]["accuracy"] for name in tables if name not in SPLITS}
    return {
        "arm": arm.name, "description": arm.description, "model": arm.model,
        "patch_source": evaluated["patch_source"],
        "bases": [{k: b.get(k) for k in ("name", "objective", "steps", "batch_size", "pool_size", "distinct_examples",
                                         "seconds", "reused", "verified", "sha256")} for b in used],
        "pretraining_minutes": sum(seconds) / 60 if all(s is not None for s in seconds) else None,
        "parameters": evaluated["parameters"], "seconds_per_step": trained["seconds_per_step"],
        "train_steps": trained["steps"], "groups_per_step": trained["groups_per_step"],
        "accuracy": accuracy, "heldout": {"accuracy": heldout, "pairs": heldout_pairs},
        "checks": checks, "other_sets": others,
    }  # fmt: skip


# ----------------------------------------------------------------------- report


def _pct(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{100 * value:.1f}%"


def _base_cell(base: dict) -> str:
    pool = f", pool {base['pool_size']:,}" if base["pool_size"] else ""
    reused = ""
    if base["reused"]:
        reused = " (reused file)" if base.get("verified") else " (reused file, no pretraining record: unverified)"
    kind = "ShapesCLIP" if base["objective"] == "clip" else "DINO-style ViT"
    return f"{kind}: {base['steps']} x {base['batch_size']}{pool}, {base['distinct_examples']:,} distinct{reused}"


def render_section(report: dict, figure_dir: str = "") -> str:
    run, arms = report["run"], report["arms"]
    took = f"{run['seconds']:.0f} s"
    if "stage_minutes" in run:
        stage = run["stage_minutes"]
        took += (f" this invocation, the stages {stage['pretraining']:.0f} min of pretraining, "
                 f"{stage['training']:.0f} min of training and {stage['evaluation']:.0f} min of evaluation, "
                 f"summed over stages run up to {run.get('jobs', 1)} at a time")
    lines = [f"*Generated by `{run['command']}` in {took} (pretraining {run['pretrain_steps']} steps, "
             f"head training {run['train_steps']} steps, seed {run['seed']}; evaluation: {run['grammar']} grammar "
             f"groups per split on the held-out photos, {run['shapes']} ShapesWorld groups per set, "
             f"{run['photo_crops']} view(s) per held-out photo).*", ""]  # fmt: skip
    lines += ["**The arms**: every arm trains the same head (`configs/demo_scorer.yaml`: data, steps, seed, sizes) "
              "on top of the same kind of ShapesCLIP base, which gives the pooled embeddings, reads the instruction "
              "and feeds the zero-shot prior; only the patch tokens the head compares, or the base's pretraining "
              "data, change.", ""]  # fmt: skip
    rows = []
    for arm in arms:
        rows.append([f"`{arm['arm']}`", arm["description"], arm["patch_source"],
                     "; ".join(_base_cell(b) for b in arm["bases"]), fmt(arm["pretraining_minutes"], 1),
                     f"{arm['parameters']['total']:,}", f"{arm['parameters']['trainable']:,}",
                     fmt(arm["seconds_per_step"], 2)])  # fmt: skip
    lines.append(markdown_table(["arm", "what", "patch tokens", "pretraining (steps x batch)", "pretraining min",
                                 "parameters", "trainable", "s / training step"], rows))  # fmt: skip
    lines += ["**Pairwise accuracy** (right edit above each wrong one; chance 50%) on the edit grammar's splits, "
              "held-out photos; held-out: the three held-out splits pooled", ""]  # fmt: skip
    rows = [[f"`{a['arm']}`", *[_pct(a["accuracy"][name]["accuracy"]) for name in SPLITS],
             _pct(a["heldout"]["accuracy"]), *[_pct(a["other_sets"].get(name)) for name in report["other_sets"]]]
            for a in arms]  # fmt: skip
    pairs = arms[0]["accuracy"]
    header = [f"{SPLITS[name]} ({pairs[name]['pairs']} pairs)" for name in SPLITS]
    lines.append(markdown_table(["arm", *header, f"held-out ({arms[0]['heldout']['pairs']} pairs)",
                                 *[OTHER_TITLES.get(n, n) for n in report["other_sets"]]], rows))  # fmt: skip
    lines += ["**The map and the instruction** (pooled over the four grammar splits; "
              "`evaluate_scorer.grammar_checks`)", ""]
    rows = [[f"`{a['arm']}`", *[f"{_pct(a['checks'][k]['share'])} (n {a['checks'][k]['n']})" for k in CHECKS]]
            for a in arms]  # fmt: skip
    lines.append(markdown_table(["arm", *CHECKS.values()], rows))
    lines += ["**Findings** (generated from the tables above)", ""]
    lines += [f"- {sentence}" for sentence in findings_sentences(arms, run.get("jobs", 1))]
    lines += ["", f"![held-out accuracy per arm]({figure_dir}{FIGURE})", ""]
    lines += ["**Commands** (what this run ran, stage by stage; each stage is skipped on a rerun once its output "
              "exists)", "", "```", run["command"]]  # fmt: skip
    lines += [stage for stage in run["stages"]]
    lines += ["```", "", CAVEATS, "", ANCHORS, ""]
    return "\n".join(lines)


OTHER_TITLES = {"shapes_heldout_seeds": "ShapesWorld, held-out seeds", "shapes_heldout_combos": "ShapesWorld, held-out "
                "colour x shape", "photos_heldout": "canonical edits, held-out photos"}  # fmt: skip


def _standard_error(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 1e-12) / n) if n else float("nan")


def findings_sentences(arms: list[dict], jobs: int = 1) -> list[str]:
    """What the tables say, in words, with the size of a difference that chance alone would give."""
    by_name = {a["arm"]: a for a in arms}
    heldout = {name: a["heldout"]["accuracy"] for name, a in by_name.items()}
    n = arms[0]["heldout"]["pairs"]
    # Two arms scored on the same pairs; treating them as independent makes this a generous bar.
    noise = 2 * math.sqrt(2) * _standard_error(statistics.mean(heldout.values()), n)
    best = max(heldout, key=heldout.get)
    sentences = [f"Best held-out accuracy: `{best}` at {_pct(heldout[best])}. Differences below about "
                 f"{100 * noise:.1f} points are within two standard errors of chance variation over these {n} "
                 "pairs (binomial, arms treated as independent) and are not evidence either way."]  # fmt: skip

    def gap(a: str, b: str) -> float:
        return heldout[a] - heldout[b]

    def verdict(value: float) -> str:
        return "within noise" if abs(value) < noise else ("a real gain" if value > 0 else "a real loss")

    for name, phrase in (("timm", "The objective: the DINO-style ViT's patches instead of ShapesCLIP's"),
                         ("both", "Both towers' patches instead of ShapesCLIP's alone")):
        if name in heldout and "clip" in heldout:
            value = gap(name, "clip")
            sentences.append(f"{phrase} change held-out accuracy by {100 * value:+.1f} points ({verdict(value)}).")
    if {"clip_double_data", "clip_half_data", "clip"} <= set(heldout):
        quantity = gap("clip_double_data", "clip_half_data")
        sentences.append(f"Quantity: four times the distinct pretraining data (double vs half) changes it by "
                         f"{100 * quantity:+.1f} points ({verdict(quantity)}); half to one: "
                         f"{100 * gap('clip', 'clip_half_data'):+.1f}, one to double (which also doubles the "
                         f"compute): {100 * gap('clip_double_data', 'clip'):+.1f}.")  # fmt: skip
        if "timm" in heldout:
            objective = gap("timm", "clip")
            larger = "the objective" if abs(objective) > abs(quantity) else "the quantity of data"
            sentences.append(f"Quantity over quality? At this scale {larger} moves held-out accuracy more "
                             f"({100 * abs(objective):.1f} vs {100 * abs(quantity):.1f} points), "
                             + ("though neither beyond noise." if max(abs(objective), abs(quantity)) < noise else
                                "beyond noise."))  # fmt: skip
    for key, title in (("map_pointing", "the map points at the edited region"),
                       ("instruction_swap", "the right output scores higher under its own instruction than another's")):
        shares = {name: a["checks"][key]["share"] for name, a in by_name.items()}
        finite = {k: v for k, v in shares.items() if v == v}
        if finite:
            top, low = max(finite, key=finite.get), min(finite, key=finite.get)
            spread = (f"every arm {_pct(finite[top])}" if finite[top] == finite[low] else
                      f"from {_pct(finite[low])} (`{low}`) to {_pct(finite[top])} (`{top}`)")
            sentences.append(f"How often {title}: {spread}.")
    costs = {a["arm"]: a["seconds_per_step"] for a in arms if a["seconds_per_step"] is not None}
    if "clip" in costs and "both" in costs:
        side_by_side = (f"with up to {jobs} stages running side by side, one share of the CPU each, so a stage "
                        "that ran alone for a while looks cheaper" if jobs > 1 else "one stage at a time")
        sentences.append(f"Cost: a training step of `both` (two image towers) took {costs['both'] / costs['clip']:.2f}x "
                         f"the time of `clip`'s ({fmt(costs['both'], 2)} vs {fmt(costs['clip'], 2)} s, measured "
                         f"{side_by_side}, on a machine that may have been shared).")  # fmt: skip
    return sentences


CAVEATS = """**What this controlled world can and cannot tell.** Every arm shares the ShapesCLIP text tower, its pooled
image embeddings, the zero-shot prior over them (whose per-patch terms read ShapesCLIP's patches in every arm),
the head's size, the training data and steps, and the held-out splits; only the patch tokens the head compares
(and, in the quantity arms, the base's pretraining data) change. A gap between `clip` and `timm` is therefore a gap
between two ViTs of under a million parameters, trained for a few hundred steps on the same synthetic scenes and
photo crops, one contrastively with captions and one by self-distillation, and it comes from one seed each. It
cannot say how OpenAI's or LAION's CLIP, trained on hundreds of millions of captioned photos, compares with DINOv2,
trained at scale on curated photos with self-distillation and masked-patch losses: at that scale both objectives
give strong local features, and which serves an edit metric better depends on what this world lacks (texture,
identity, the statistics of real photos, model size). The world also favours CLIP in one way that real data does
not: ShapesCLIP's captions include the grammar's edit instructions ("blur the left half"), so its tower has been
told what edits look like, while the DINO-style ViT sees the same edited images without words. And the DINO-style
recipe here is small: two global views, no local crops, no masked-patch loss, 256 prototypes, and colour jitter,
which teaches invariance to the colour changes that several grammar operations are. The quantity arms change the
distinct examples and the steps at one model size; they say nothing about scaling the model."""

ANCHORS = """**Published anchors** (real backbones, real photos; not measured here):

- DreamSim (Fu et al. 2023, NeurIPS, *DreamSim: Learning New Dimensions of Human Visual Similarity using Synthetic
  Data*): on its NIGHTS benchmark of human similarity judgements, as single backbones, OpenCLIP is reported to agree
  with people more than DINO, and DINO more than OpenAI's CLIP; the ensemble of backbones is reported best.
- ImagenHub (Ku et al. 2024, ICLR, *ImagenHub: Standardizing the evaluation of conditional image generation
  models*): DINO similarity is reported to correlate with human ratings of subject-driven image editing better than
  CLIP-I (Spearman .30 vs .28)."""


def draw_figure(report: dict, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    arms = report["arms"]
    splits = list(SPLITS)
    width = 0.8 / len(arms)
    figure, ax = plt.subplots(figsize=(8.0, 3.6))
    for k, arm in enumerate(arms):
        values = [arm["accuracy"][name]["accuracy"] for name in splits]
        ax.bar(np.arange(len(splits)) + (k - (len(arms) - 1) / 2) * width, values, width, label=arm["arm"])
    ax.axhline(0.5, color="gray", linestyle="--", linewidth=0.8)
    ax.set_xticks(range(len(splits)), [SPLITS[name] for name in splits], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("pairwise accuracy (chance 0.5)", fontsize=8)
    ax.set_title("Edit-grammar splits on held-out photos, per patch-token source", fontsize=9)
    ax.legend(fontsize=7, ncol=len(arms), loc="lower center")
    figure.tight_layout()
    path = out / FIGURE
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


# -------------------------------------------------------------------------- run


def run_stages(stages: dict, jobs: int, cost: Optional[dict] = None) -> dict:
    """Run independent stages ``name -> (function, args)`` and return ``name -> result``, in order.

    With ``jobs > 1`` they run in that many spawned worker processes, each given an equal share
    of the CPU's threads (two trainings each on every core would only fight over the cache),
    the costliest by ``cost`` (name -> estimate) started first. Every stage runs even when
    another fails, so a rerun resumes with all that could finish; then the first failure is
    raised, after the others are reported on stderr.
    """
    if jobs == 1 or len(stages) <= 1:
        results, failures = {}, {}
        for name, (function, args) in stages.items():
            try:
                results[name] = function(*args)
            except Exception as exc:  # the rest still run; raised below
                failures[name] = exc
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, wait

        workers = min(jobs, len(stages))
        threads = max(1, _usable_cpus() // workers)
        order = start_order(stages, cost or {})
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_share_threads, initargs=(threads,)) as pool:  # fmt: skip
            futures = {name: pool.submit(stages[name][0], *stages[name][1]) for name in order}
            wait(futures.values())
        failures = {name: futures[name].exception() for name in stages if futures[name].exception() is not None}
        results = {name: futures[name].result() for name in stages if name not in failures}
    if failures:
        _report_failures(failures)
        raise next(iter(failures.values()))
    return {name: results[name] for name in stages}


def start_order(stages, cost: dict) -> list:
    """The stages' names, costliest first; ties (and stages without an estimate) keep their order."""
    return sorted(stages, key=lambda name: -cost.get(name, 0.0))


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # a container's or taskset's share, not the host's count
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _report_failures(failures: dict) -> None:
    """Say on stderr which stages failed, when more than the one about to be raised did."""
    import sys
    import traceback

    from i2imetric.errors import I2IError

    if len(failures) == 1:
        return
    print(f"{len(failures)} Q2 stages failed ({', '.join(failures)}); the others are saved, and a rerun resumes. "
          "The first is raised below; the others:", file=sys.stderr)  # fmt: skip
    for name, exc in list(failures.items())[1:]:
        if isinstance(exc, I2IError):  # a wrong input: one line, as the command line shows it
            print(f"  {name}: {exc}", file=sys.stderr)
        else:
            print(f"  {name}:\n" + "".join(traceback.format_exception(exc)), file=sys.stderr)


def _share_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)



def run_q2(out, settings: Q2Settings, reuse: Optional[dict] = None, doc=None, command: Optional[str] = None,
           jobs: int = 1) -> dict:
    """Run (or resume) Q2 into ``out``; returns the report that ``q2.json`` holds.

    Args:
        out: the folder of every stage's output and of the report.
        settings: steps, seed and evaluation sizes.
        reuse: base name (``clip``, ``clip_half_data``, ``clip_double_data``, ``timm``) -> an
            existing weights file to use instead of pretraining it.
        doc: a Markdown page whose ``<!-- q2:begin -->`` ... ``<!-- q2:end -->`` section is
            replaced by the generated one (the figure copied to its ``figures/`` folder).
        command: how the report says it was made.
        jobs: how many pretrainings or trainings run at once (:func:`run_stages`).
    """
    check_int("--jobs", jobs, 1)
    started = time.time()
    out = Path(out)
    reuse = _check_reuse(reuse or {})
    check_same_images(out, settings)
    check_settings(out, "q2_settings.json", settings.training())
    bases = run_stages({name: (pretrain_base, (out, base, settings, reuse)) for name, base in BASES.items()}, jobs,
                       cost={name: pretraining_cost(base, reuse) for name, base in BASES.items()})
    trained = run_stages({arm.name: (train_arm, (out, arm, bases, settings)) for arm in ARMS}, jobs,
                         cost={arm.name: training_cost(arm) for arm in ARMS})
    sets_maker = _validation_sets(settings)
    evaluated = {arm.name: evaluate_arm(out, arm, settings, sets_maker) for arm in ARMS}
    arms = [summarise(arm, bases, trained[arm.name], evaluated[arm.name]) for arm in ARMS]
    stages = [bases[name]["command"] for name in BASES] + [trained[arm.name]["command"] for arm in ARMS]
    report = {
        "run": {"command": command or f"python -m i2imetric_training.findings q2 --out {out}",
                "seconds": time.time() - started, "pretrain_steps": settings.pretrain_steps,
                "train_steps": settings.train_steps, "seed": settings.seed, "grammar": settings.grammar,
                "shapes": settings.shapes, "photo_crops": settings.photo_crops, "jobs": jobs, "stages": stages},
        "bases": bases,
        "other_sets": [name for name in evaluated[ARMS[0].name]["tables"] if name not in SPLITS],
        "arms": arms,
    }  # fmt: skip
    # What the study cost, from each stage's own record: a resumed or re-rendered study's
    # invocation time says nothing of the stages it found done.
    report["run"]["stage_minutes"] = {
        "pretraining": sum(b["seconds"] or 0.0 for b in bases.values() if not b["reused"]) / 60,
        "training": sum(t["minutes"] or 0.0 for t in trained.values()),
        "evaluation": sum(e["seconds"] for e in evaluated.values()) / 60,
    }
    figure = draw_figure(report, out)
    write_json(out / "q2.json", report)
    (out / "q2.md").write_text(render_section(report))
    (out / "section.md").write_text(render_section(report, figure_dir="figures/"))
    if doc is not None:
        paste_section(Path(doc), SECTION, render_section(report, figure_dir="figures/"), [figure])
    return report


def _check_reuse(reuse: dict) -> dict[str, Path]:
    checked = {}
    for name, path in reuse.items():
        if name not in BASES:
            raise I2IInputError(f"--reuse-base {name}=...: no such base; valid: {', '.join(BASES)} (timm is the "
                                "DINO-style ViT that arms timm and both share)")
        path = Path(path).expanduser()
        if not path.is_file():
            raise I2IInputError(f"--reuse-base {name}={path}: no such file")
        checked[name] = path
    return checked


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="folder of every stage's output and the report (reused on a rerun)")
    parser.add_argument("--quick", action="store_true",
                        help=f"the smoke size: {QUICK['pretrain_steps']} pretraining and {QUICK['train_steps']} "
                             f"training steps, {QUICK['grammar']} grammar groups per split (default: "
                             f"{FULL['pretrain_steps']}, {FULL['train_steps']} and {FULL['grammar']})")  # fmt: skip
    parser.add_argument("--pretrain-steps", type=int, help="steps of every pretraining (the double arm: twice as many)")
    parser.add_argument("--train-steps", type=int, help="head-training steps of every arm")
    parser.add_argument("--pretrain-batch", type=int, help="pretraining batch size (default: the configs', 96)")
    parser.add_argument("--groups-per-step", type=int, help="training groups per step (default: the config's, 8)")
    parser.add_argument("--grammar", type=int, help="grammar groups per split in the evaluation")
    parser.add_argument("--shapes", type=int, help="ShapesWorld groups per held-out set in the evaluation")
    parser.add_argument("--photo-crops", type=int, help="views per held-out photo for the canonical edits (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reuse-base", action="append", default=[], metavar="BASE=FILE",
                        help=f"use an existing weights file for a base instead of pretraining it ({', '.join(BASES)}); "
                             "e.g. clip_double_data=checkpoints/demo/base.safetensors, the shipped demo's base "
                             "(1000 steps of 96 fresh pairs: the double arm at --pretrain-steps 500)")  # fmt: skip
    parser.add_argument("--doc", help="also paste the generated section into this page (e.g. docs/findings.md)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="pretrainings / trainings run at once, in worker processes sharing the CPU's threads "
                             "(default 1; the arms' seconds per step are then measured side by side)")  # fmt: skip


def settings_from_args(args: argparse.Namespace) -> Q2Settings:
    size = QUICK if args.quick else FULL
    pick = lambda given, key: size[key] if given is None else given  # noqa: E731
    return Q2Settings(
        pretrain_steps=pick(args.pretrain_steps, "pretrain_steps"),
        train_steps=pick(args.train_steps, "train_steps"),
        grammar=pick(args.grammar, "grammar"),
        shapes=pick(args.shapes, "shapes"),
        photo_crops=pick(args.photo_crops, "photo_crops"),
        seed=args.seed,
        pretrain_batch=args.pretrain_batch,
        groups_per_step=args.groups_per_step,
    )


def _parse_reuse(items: list[str]) -> dict[str, str]:
    reuse = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise I2IInputError(f"--reuse-base {item!r}: expected BASE=FILE, e.g. clip_double_data=checkpoints/demo/"
                                "base.safetensors")
        reuse[name] = path
    return reuse


def run(args: argparse.Namespace) -> int:
    import shlex
    import sys

    settings = settings_from_args(args)
    command = "python -m i2imetric_training.findings " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    report = run_q2(args.out, settings, reuse=_parse_reuse(args.reuse_base), doc=args.doc,
                    command=command if sys.argv[1:2] == ["q2"] else None, jobs=args.jobs)
    print(render_section(report))
    print(f"wrote {Path(args.out) / 'q2.json'}, q2.md, section.md and {FIGURE} ({report['run']['seconds']:.0f} s)")
    return 0
