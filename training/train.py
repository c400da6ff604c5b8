"""Train the metric: LoRA (or head-only, or full) fine-tuning with accelerate.

    i2imetric train --config configs/demo_scorer.yaml [key=value ...]
    python -m i2imetric_training.train --config configs/demo_scorer.yaml [key=value ...]
    accelerate launch -m i2imetric_training.train --config configs/finetune_domain.yaml   # multi-GPU (DDP)

One step: draw groups (a source, an instruction, one right output, several wrong ones) from
the data mixture, encode every image once, score all (source, output) pairs, and apply
the pairwise loss to (right, wrong) score differences plus a sub-score loss on the aspect
each wrong answer fails. Every ``validation.every`` steps the held-out sets are scored;
the best checkpoint is saved with ``save_pretrained``. Every ``checkpoint_every`` steps the
training state is saved (safetensors and JSON, swapped in atomically; see ``state.py``), so
a killed run is resumable: rerunning the same command picks up at the saved step with the
same data, optimizer state and RNG.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch
import yaml
from accelerate import Accelerator
from accelerate.utils import DistributedType, set_seed
from safetensors import SafetensorError
from tqdm import tqdm

import i2imetric
from i2imetric.errors import ConfigError, I2IError, I2IInputError
from i2imetric.models.config import get_model_config
from i2imetric.models.metric import SUBSCORE_NAMES, I2IMetric

from .config import TrainConfig, check_field_types, load_train_config
from .data import (
    CanonicalEditGroups,
    GrammarEditGroups,
    GroupMixture,
    ManifestGroups,
    PairGroup,
    RatingGroups,
    ShapesWorldGroups,
    benchmark_validation_groups,
    folder_validation_groups,
    grammar_validation_groups,
    split_folder,
    validation_groups,
)
from .losses import bradley_terry_loss, hinge_loss, patch_map_loss, patch_map_targets, patch_pointing_loss
from .state import TrainingState, recover_state_dir, remove_state

__all__ = ["train", "TrainResult", "warmup_cosine", "collate_groups", "group_loss", "pairwise_accuracy_table", "main",
           "build_validation_sets"]

STATE_DIR = "state"
BEST_DIR = "best"
LOG_FILE = "log.jsonl"


@dataclass
class TrainResult:
    best_dir: Path
    best_accuracy: float
    final_validation: dict
    steps: int
    minutes: float


class Progress:
    """The bits of loop state the saved training state carries besides model and optimizer."""

    def __init__(self):
        self.step = 0
        self.best_accuracy = -1.0

    def state_dict(self) -> dict:
        return {"step": self.step, "best_accuracy": self.best_accuracy}

    def load_state_dict(self, state: dict) -> None:
        self.step, self.best_accuracy = int(state["step"]), float(state["best_accuracy"])


# ---------------------------------------------------------------------- batches


def collate_groups(groups: list[PairGroup], patch_coverage: Optional[Callable] = None):
    """Flatten groups into shared image/instruction lists and (source, text, output) index rows.

    Args:
        groups: the step's groups.
        patch_coverage: ``mask [H, W] -> [L]`` shares per patch (the metric's
            ``Preprocess.patch_coverage`` on its grid); None leaves the map unsupervised.

    Returns:
        images, instructions, triplets ``[M, 3]``, and the losses' bookkeeping: for each
        (right, wrong) pair the row of the right output, the row of the wrong one and its
        label p(right preferred); ``aspect_pairs [K, 3]``, (row that should win, row that
        should lose, sub-score index) for every known sub-score ordering; and for the map
        loss ``map_rows [R]`` with their per-patch targets ``map_targets [R, L]``.
    """
    images, instructions, rows = [], [], []
    text_index: dict[str, int] = {}
    preferred_rows, rejected_rows, labels, aspect_pairs = [], [], [], []
    map_rows, map_targets = [], []
    for group in groups:
        source = len(images)
        images.append(group.source)
        candidate_rows = []
        image_index: dict[int, int] = {}  # a candidate scored under several instructions is encoded once
        for candidate, words in group.scored_candidates():
            text = text_index.setdefault(words, len(text_index))
            if text == len(instructions):
                instructions.append(words)
            if id(candidate) not in image_index:
                image_index[id(candidate)] = len(images)
                images.append(candidate)
            candidate_rows.append(len(rows))
            rows.append((source, text, image_index[id(candidate)]))
        for k, (label, aspect) in enumerate(zip(group.labels, group.aspects)):
            preferred_rows.append(candidate_rows[0])
            rejected_rows.append(candidate_rows[1 + k])
            labels.append(label)
            if aspect in SUBSCORE_NAMES and label == 1.0:
                aspect_pairs.append((candidate_rows[0], candidate_rows[1 + k], SUBSCORE_NAMES.index(aspect)))
        for a, b, aspect in group.aspect_pairs:
            aspect_pairs.append((candidate_rows[a], candidate_rows[b], SUBSCORE_NAMES.index(aspect)))
        if patch_coverage is not None and group.map_masks is not None:
            for row, masks in zip(candidate_rows, group.map_masks):
                if masks is None:
                    continue
                helped, hurt = masks
                map_rows.append(row)
                map_targets.append(patch_map_targets(patch_coverage(torch.from_numpy(helped)),
                                                     patch_coverage(torch.from_numpy(hurt))))
    pairs = {
        "preferred": torch.tensor(preferred_rows),
        "rejected": torch.tensor(rejected_rows),
        "label": torch.tensor(labels, dtype=torch.float32),
        "aspect_pairs": torch.tensor(aspect_pairs, dtype=torch.long).reshape(-1, 3),
        "map_rows": torch.tensor(map_rows, dtype=torch.long),
        "map_targets": torch.stack(map_targets) if map_targets else torch.zeros(0, 0),
    }
    return images, instructions, torch.tensor(rows), pairs


def uses_map_masks(config: TrainConfig) -> bool:
    """Whether a loss reads the grammar's masks (else the batches skip computing their patch targets)."""
    return config.loss.map_weight > 0 or config.loss.map_pointing_weight > 0


def group_loss(output, pairs: dict, config: TrainConfig) -> tuple[torch.Tensor, dict]:
    """Pairwise loss on scores, the sub-score loss on known orderings, and the signed map's dense loss."""
    device = output.score.device
    preferred, rejected = pairs["preferred"].to(device), pairs["rejected"].to(device)
    label = pairs["label"].to(device)
    score_a, score_b = output.score[preferred], output.score[rejected]
    if config.loss.pairwise == "hinge":
        main_loss = hinge_loss(score_a, score_b, label, config.loss.margin)
    else:
        main_loss = bradley_terry_loss(score_a, score_b, label)
    loss, parts = main_loss, {"pairwise": main_loss.item()}
    aspect_pairs = pairs["aspect_pairs"].to(device)
    if config.loss.subscore_weight > 0 and len(aspect_pairs):
        winner, loser, aspect = aspect_pairs.unbind(dim=1)
        sub_a, sub_b = output.subscores[winner, aspect], output.subscores[loser, aspect]
        sub_loss = bradley_terry_loss(sub_a, sub_b, torch.ones_like(sub_a))
        loss = loss + config.loss.subscore_weight * sub_loss
        parts["subscore"] = sub_loss.item()
    if uses_map_masks(config) and len(pairs["map_rows"]):
        patch_map = output.patch_map[pairs["map_rows"].to(device)]
        map_targets = pairs["map_targets"].to(device)
        if config.loss.map_weight > 0:
            map_loss = patch_map_loss(patch_map, map_targets, config.loss.map_margin)
            loss = loss + config.loss.map_weight * map_loss
            parts["map"] = map_loss.item()
        if config.loss.map_pointing_weight > 0:
            pointing_loss = patch_pointing_loss(patch_map, map_targets)
            loss = loss + config.loss.map_pointing_weight * pointing_loss
            parts["map_pointing"] = pointing_loss.item()
    parts["accuracy"] = (score_a > score_b).float().mean().item()
    return loss, parts


# ------------------------------------------------------------------- validation


def score_groups(metric: I2IMetric, groups: list[PairGroup], batch_size: int = 64) -> list[dict]:
    """Score every (right, wrong) pair of the groups with the metric's public scoring path."""
    sources, instructions, outputs = [], [], []
    for group in groups:
        for candidate, words in group.scored_candidates():
            sources.append(group.source)
            instructions.append(words)
            outputs.append(candidate)
    scores = metric.score(sources, instructions, outputs, batch_size=batch_size).tolist()
    results, position = [], 0
    for group in groups:
        right = scores[position]
        for k, kind in enumerate(group.kinds):
            results.append({"family": group.family, "edit": group.edit, "kind": kind, "right": right,
                            "wrong": scores[position + 1 + k], "label": group.labels[k]})
        position += 1 + len(group.rejected)
    return results


def pairwise_accuracy_table(results: list[dict]) -> dict:
    """Accuracy overall, per distractor kind and per edit (ties count as wrong)."""

    def accuracy(rows):
        return sum(r["right"] > r["wrong"] for r in rows) / len(rows) if rows else float("nan")

    by_kind, by_edit = {}, {}
    for row in results:
        by_kind.setdefault(row["kind"], []).append(row)
        by_edit.setdefault(row["edit"], []).append(row)
    return {
        "accuracy": accuracy(results),
        "pairs": len(results),
        "by_kind": {k: accuracy(v) for k, v in sorted(by_kind.items())},
        "by_edit": {k: accuracy(v) for k, v in sorted(by_edit.items())},
    }


# Validation sets that are reported but never choose the best checkpoint: the grammar's
# held-out phrasings, operation x region pairs and operations are tests of generalisation,
# and selecting on them would tune the scorer to them.
TEST_ONLY_PREFIX = "grammar_heldout"


def validate(metric: I2IMetric, sets: dict[str, list[PairGroup]], batch_size: int) -> dict:
    """Accuracy per validation set, and ``mean_accuracy`` over the sets that select checkpoints."""
    was_training = metric.training
    tables = {name: pairwise_accuracy_table(score_groups(metric, groups, batch_size)) for name, groups in sets.items()}
    metric.train(was_training)
    selecting = [t["accuracy"] for name, t in tables.items() if not name.startswith(TEST_ONLY_PREFIX)]
    tables["mean_accuracy"] = sum(selecting) / len(selecting)
    return tables


# ------------------------------------------------------------------------ loop


def build_mixture(config: TrainConfig) -> GroupMixture:
    """The data mixture of ``config.data.sources``.

    Raises:
        I2IError: a source's file or folder is unusable; the message names the config entry
            (``data.sources[1] (manifest)``) before the file, as several may look alike.
    """
    sources = []
    for index, spec in enumerate(config.data.sources):
        with _naming_source(index, spec):
            if spec.kind in PHOTO_KINDS and spec.images and not Path(spec.images).is_dir():
                # The shipped fine-tune configs hold a placeholder folder: say which key to set.
                raise I2IInputError(f"images: {spec.images}: no such folder; give your folder of images with "
                                    f"data.sources[{index}].images=/your/images")
            sources.append(_build_source(spec, config))
    return GroupMixture(sources, [spec.weight for spec in config.data.sources], seed=config.seed)


@contextlib.contextmanager
def _naming_source(index: int, spec):
    """Prefix an error with the config entry (``data.sources[1] (manifest)``): several may look alike."""
    try:
        yield
    except I2IError as exc:
        raise type(exc)(f"data.sources[{index}] ({spec.kind}): {exc}") from exc


def _folder_sources(config: TrainConfig) -> list[tuple[int, object, str]]:
    """``(index, source, label)`` of every photo source with its own folder; the label names its
    validation sets (the folder's name, with the source index added where two folders share one)."""
    found = [(i, s, Path(s.images).resolve()) for i, s in enumerate(config.data.sources)
             if s.kind in PHOTO_KINDS and s.images]
    folders_by_name: dict[str, set] = {}
    for _, _, folder in found:
        folders_by_name.setdefault(folder.name, set()).add(folder)
    return [(i, s, folder.name if len(folders_by_name[folder.name]) == 1 else f"{folder.name}#{i}")
            for i, s, folder in found]


def build_validation_sets(config: TrainConfig) -> dict[str, list[PairGroup]]:
    """The held-out sets scored every ``validation.every`` steps, by name.

    Always the ShapesWorld and canonical-photo sets; with a ``grammar`` source in the data,
    also one set per grammar split on the held-out photos (``grammar_train``,
    ``grammar_heldout_phrasing``, ``grammar_heldout_combo``, ``grammar_heldout_operation``),
    each reported on its own line of the validation summary. A photo source with its own
    folder (``images: FOLDER``) adds the same sets on the share of that folder held out of
    training (``validation.holdout_fraction``), named ``<set>@<folder name>``.
    """
    sets = validation_groups(config.data.image_size, shapes_count=config.validation.shapes_count,
                             photo_crops=config.validation.photo_crops, working_size=config.data.working_size)
    if any(source.kind == "grammar" for source in config.data.sources):
        sets.update(grammar_validation_groups(config.validation.grammar_count, working_size=config.data.working_size))
    for index, source, label in _folder_sources(config):
        with _naming_source(index, source):
            split = split_folder(source.images, config.validation.holdout_fraction)
            sets.update(folder_validation_groups(
                split, source.kind, label, photo_crops=config.validation.photo_crops,
                grammar_count=config.validation.grammar_count, working_size=config.data.working_size))
    for entry in config.validation.benchmarks:
        work_dir = Path(config.output_dir) / "benchmarks" / entry.bench  # images unpacked from parquet files
        sets[f"bench_{entry.bench}@validation"] = benchmark_validation_groups(entry, config.data.working_size, work_dir)
    return sets


def validated_on(config: TrainConfig, metric: I2IMetric) -> list[dict]:
    """What the saved scorer records of the benchmark shares it selected on: this run's, plus any its
    ``init_from`` scorer had (that one was selected on them too)."""
    records = list(metric.validated_on)
    for entry in config.validation.benchmarks:
        record = {"bench": entry.bench, "fraction": entry.fraction}
        if record not in records:
            records.append(record)
    return records


def describe_folder_splits(config: TrainConfig) -> list[str]:
    """One line per source folder: how many of its images train and how many validate."""
    lines = []
    for index, source, label in _folder_sources(config):
        with _naming_source(index, source):
            split = split_folder(source.images, config.validation.holdout_fraction)
        lines.append(f"data.sources[{index}] ({source.kind}): {source.images}: training on {len(split.train)} images, "
                     f"{len(split.heldout)} held out for validation (validation.holdout_fraction "
                     f"{config.validation.holdout_fraction}; sets named *@{label})")
    return lines


PHOTO_KINDS = ("canonical_edits", "grammar")  # the sources that take ``images: FOLDER``


def _build_source(spec, config: TrainConfig):
    data = config.data
    if spec.kind == "shapesworld":
        return ShapesWorldGroups(data.image_size, split="train", map_masks=spec.map_masks)
    if spec.kind in PHOTO_KINDS:
        groups = CanonicalEditGroups if spec.kind == "canonical_edits" else GrammarEditGroups
        options = ({"instruction_contrast": True, "contrast_map_masks": spec.contrast_map_masks}
                   if spec.instruction_contrast else {})
        if spec.images:
            # Only the training side of the folder: its held-out share is validated on instead.
            return groups.from_folder(spec.images, working_size=data.working_size,
                                      holdout_fraction=config.validation.holdout_fraction, **options)
        return groups.from_bundled_photos(working_size=data.working_size, **options)
    if spec.kind == "ratings":
        return RatingGroups(spec.path, working_size=data.working_size)
    return ManifestGroups(spec.path, working_size=data.working_size)


def build_metric(config: TrainConfig) -> I2IMetric:
    """The metric to train, with a bad model setting reported as a ConfigError naming its key.

    A fresh head on the configured base, or with ``init_from`` a trained scorer's weights
    (see :func:`metric_from_checkpoint`).

    Raises:
        ConfigError: a ``model_overrides`` value of the wrong type, or settings the model
            builder rejects with a plain ValueError (torch's ``nn.Dropout`` refuses ``head.dropout: 2``,
            peft a LoRA setting the library does not check itself).
    """
    if config.init_from is not None:
        return metric_from_checkpoint(config)
    overrides = config.model_overrides
    # Types first: torch and peft meet e.g. a string head width with a TypeError deep inside.
    model_config = get_model_config(config.model, **overrides)
    check_field_types(model_config, "model_overrides", only=overrides)
    if config.timm_pretrained not in (None, False) and model_config.timm is None:
        raise ConfigError(f"timm_pretrained={config.timm_pretrained!r}: model {config.model!r} has no timm encoder "
                          "to load it into; use a model config with a timm section (e.g. shapesclip_timm), "
                          "or set timm_pretrained=null")
    try:
        return i2imetric.create_metric(config.model, pretrained=config.pretrained, seed=config.seed,
                                       timm_pretrained=config.timm_pretrained, **overrides)
    except I2IError:
        raise
    except (ValueError, SafetensorError) as exc:
        raise ConfigError(f"model={config.model!r} with model_overrides={overrides} and "
                          f"pretrained={config.pretrained!r}: rejected when building the model: {exc}") from exc


# What describes a checkpoint but does not build it: a checkpoint of "shapesclip" with
# another description is the same architecture.
_NOT_ARCHITECTURE = ("name", "description")


def metric_from_checkpoint(config: TrainConfig) -> I2IMetric:
    """The scorer ``init_from`` names, unmerged and ready to train, without its calibration.

    The architecture is the checkpoint's. With ``model: null`` it is simply taken; with a
    model named, that model (with ``model_overrides``) must build the same architecture, or
    the weights would not fit it (or, for settings such as ``trainable`` or the prior, would
    silently mean something else). ``pretrained`` must be null or name the checkpoint's own
    base. The calibration is dropped: it maps the old scorer's logits, and the run fits a
    new one at the end (``calibrate``).

    Raises:
        ConfigError: ``init_from`` names no scorer, or the config's model or base differ
            from the checkpoint's; the message names both and the fix.
    """
    from i2imetric.hub.pretrained import checkpoint_folder

    try:
        folder = checkpoint_folder(config.init_from)
        metric = I2IMetric.from_pretrained(folder, merge_adapters=False)
    except I2IError as exc:
        raise type(exc)(f"init_from={config.init_from!r}: {exc}") from exc
    stored = metric.config.to_dict()
    if config.model is None:
        wanted, named = _merged(stored, config.model_overrides), f"{stored['name']!r} (the checkpoint's, model: null)"
    else:
        check_field_types(get_model_config(config.model, **config.model_overrides), "model_overrides",
                          only=config.model_overrides)
        wanted, named = get_model_config(config.model, **config.model_overrides).to_dict(), repr(config.model)
    if config.model_overrides:
        named += f" with model_overrides {config.model_overrides}"
    differences = [key for key in _dotted_differences(stored, wanted) if key.split(".")[0] not in _NOT_ARCHITECTURE]
    if differences:
        shown = "; ".join(f"{key}: checkpoint {_short(_at(stored, key))}, config {_short(_at(wanted, key))}"
                          for key in differences[:4])
        more = f" (and {len(differences) - 4} more)" if len(differences) > 4 else ""
        fix = "model=null" + (" pretrained=null" if config.pretrained is not None else "")
        fix += " and no model_overrides" if config.model_overrides else ""
        raise ConfigError(
            f"init_from={config.init_from!r} ({folder}) holds a {stored['name']!r} scorer, but the config's model "
            f"{named} is another architecture: {shown}{more}. Its weights cannot start that model: set {fix} to "
            "train the checkpoint's own architecture, or init_from a scorer of this model"
        )
    _check_same_base(config, metric, folder)
    if config.timm_pretrained is not None:
        raise ConfigError(f"timm_pretrained={config.timm_pretrained!r}: with init_from={config.init_from!r} the "
                          "timm weights are the checkpoint's; set timm_pretrained=null")
    metric.calibration = None
    return metric


def _check_same_base(config: TrainConfig, metric: I2IMetric, folder: Path) -> None:
    """``pretrained`` beside ``init_from`` must name the checkpoint's own base (or be null)."""
    from i2imetric.hub.weights import sha256_file

    wanted, source = config.pretrained, metric.base_source
    if wanted is None:
        return
    if wanted is True:
        wanted = metric.config.base.default_pretrained
    same = False
    if source.kind in ("open_clip", "hf-hub"):
        same = wanted == source.ref
    elif source.kind == "file" and isinstance(wanted, str) and Path(wanted).expanduser().is_file():
        same = sha256_file(Path(wanted).expanduser()) == source.sha256
    if not same:
        recorded = f"{source.kind} {source.ref}" if source.ref else source.kind
        raise ConfigError(
            f"pretrained={config.pretrained!r}: with init_from={config.init_from!r} the base weights are the "
            f"checkpoint's ({recorded}, recorded in {folder}); set pretrained=null to use them"
        )


def _merged(base: dict, overrides: dict) -> dict:
    """``overrides`` deep-merged into a copy of ``base``, as model_overrides merge into a model config."""
    merged = dict(base)
    for key, value in overrides.items():
        merged[key] = _merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def _dotted_differences(a, b, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(set(a) | set(b))
        return [d for key in keys for d in _dotted_differences(a.get(key), b.get(key), f"{prefix}{key}.")]
    return [] if a == b else [prefix.rstrip(".")]


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _at(data: dict, dotted: str):
    for key in dotted.split("."):
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _check_state_support(accelerator: Accelerator) -> None:
    """The state files hold whole tensors; sharded setups would need accelerate's own (pickled) format."""
    if accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED):
        raise ConfigError(
            f"{accelerator.distributed_type.value}: the trainer's resumable state (safetensors + JSON, never "
            "pickles) supports single-process and DDP runs only; launch with --multi_gpu instead"
        )


def train(config: TrainConfig, stop_after_step: Optional[int] = None) -> TrainResult:
    """Run (or resume) a training run and return where its best checkpoint is.

    Args:
        config: the resolved training configuration.
        stop_after_step: stop early after this many steps, as a kill would (tests use it
            to check that resuming reproduces an uninterrupted run).
    """
    output_dir = Path(config.output_dir)
    accelerator = Accelerator(
        mixed_precision=config.mixed_precision,
        gradient_accumulation_steps=config.optim.gradient_accumulation_steps,
        log_with="tensorboard" if config.tensorboard else None,
        project_dir=str(output_dir),
    )
    _check_state_support(accelerator)
    set_seed(config.seed)
    metric = build_metric(config)
    metric.validated_on = validated_on(config, metric)
    if metric.base_source.kind == "file" and not config.bundle_base:
        accelerator.print(f"note: bundle_base is false, so {output_dir / BEST_DIR} will name its base by path "
                          f"({metric.base_source.ref}) and load on this machine only; bundle_base=true copies it in")
    metric.train()
    trainable = [p for p in metric.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.optim.lr, weight_decay=config.optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(config.optim.warmup_steps, config.steps))
    model, optimizer, scheduler = accelerator.prepare(metric, optimizer, scheduler)
    progress = Progress()
    state = TrainingState(accelerator, metric, optimizer, scheduler, progress)

    state_dir = output_dir / STATE_DIR
    if accelerator.is_main_process:
        recover_state_dir(state_dir)  # finish or undo a save a kill interrupted
    accelerator.wait_for_everyone()
    if state_dir.exists():
        state.load(state_dir)
        accelerator.print(f"resumed from {state_dir} at step {progress.step}")
    elif accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "train_config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    if config.tensorboard:
        accelerator.init_trackers("i2imetric")

    grid = metric.grid_size
    patch_coverage = (lambda mask: metric.clip.preprocess.patch_coverage(mask, grid)) if uses_map_masks(config) else None
    mixture = build_mixture(config)
    validation_sets = build_validation_sets(config)
    for line in describe_folder_splits(config):
        accelerator.print(line)
    log = _JsonlLog(output_dir / LOG_FILE, accelerator.is_main_process)
    started, last_validation = time.time(), {}
    bar = tqdm(range(progress.step, config.steps), initial=progress.step, total=config.steps, desc="train",
               disable=not accelerator.is_main_process)
    for step in bar:
        # Each process draws its own groups; the draw depends only on (seed, step, rank).
        groups = mixture.batch(step * accelerator.num_processes + accelerator.process_index, config.data.groups_per_step)
        images, instructions, triplets, pairs = collate_groups(groups, patch_coverage)
        with accelerator.accumulate(model):
            output = model(images, instructions, triplets)
            loss, parts = group_loss(output, pairs, config)
            accelerator.backward(loss)
            if accelerator.sync_gradients and config.optim.grad_clip:
                accelerator.clip_grad_norm_(trainable, config.optim.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        progress.step = step + 1
        if step % config.log_every == 0 or progress.step == config.steps:
            bar.set_postfix(loss=f"{loss.item():.3f}", acc=f"{parts['accuracy']:.2f}")
            record = {"step": progress.step, "loss": loss.item(), **parts, "lr": scheduler.get_last_lr()[0]}
            log.write(record)
            if config.tensorboard:
                accelerator.log({f"train/{k}": v for k, v in record.items() if k != "step"}, step=progress.step)
        if progress.step % config.validation.every == 0 or progress.step == config.steps:
            last_validation = _validate_and_keep_best(accelerator, metric, validation_sets, config, progress, log)
        if progress.step % config.checkpoint_every == 0 or progress.step == config.steps:
            state.save(state_dir)
        if stop_after_step is not None and progress.step >= stop_after_step:
            break

    accelerator.wait_for_everyone()
    best_dir = output_dir / BEST_DIR
    if progress.step == config.steps and config.calibrate and accelerator.is_main_process:
        calibrate_checkpoint(best_dir, validation_sets, config.validation.batch_size)
    accelerator.end_training()
    return TrainResult(best_dir, progress.best_accuracy, last_validation, progress.step, (time.time() - started) / 60)


def _validate_and_keep_best(accelerator, metric, validation_sets, config, progress, log) -> dict:
    tables = validate(metric, validation_sets, config.validation.batch_size)
    summary = {name: round(t["accuracy"], 4) for name, t in tables.items() if isinstance(t, dict)}
    log.write({"step": progress.step, "validation": summary, "mean_accuracy": tables["mean_accuracy"]})
    accelerator.print(f"step {progress.step}: validation {summary} mean {tables['mean_accuracy']:.4f}")
    if tables["mean_accuracy"] > progress.best_accuracy and accelerator.is_main_process:
        progress.best_accuracy = tables["mean_accuracy"]
        best_dir = Path(config.output_dir) / BEST_DIR
        metric.save_pretrained(best_dir, bundle_base=config.bundle_base)
        (best_dir / "validation.json").write_text(json.dumps({"step": progress.step, **tables}, indent=2) + "\n")
        (best_dir / "train_config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    return tables


def calibrate_checkpoint(folder: Path, validation_sets: dict, batch_size: int) -> None:
    """Fit Platt scaling (scikit-learn) on held-out scores: right answers 1, wrong answers 0."""
    from sklearn.linear_model import LogisticRegression

    from i2imetric.models.metric import Calibration

    metric = i2imetric.load_metric(folder)
    rows = [r for groups in validation_sets.values() for r in score_groups(metric, groups, batch_size)]
    scores = [r["right"] for r in rows] + [r["wrong"] for r in rows]
    targets = [1] * len(rows) + [0] * len(rows)
    model = LogisticRegression().fit([[s] for s in scores], targets)
    metric.calibration = Calibration(slope=float(model.coef_[0, 0]), intercept=float(model.intercept_[0]))
    metric.save_pretrained(folder, card=(folder / "README.md").read_text())


def warmup_cosine(warmup: int, total: int):
    """LambdaLR factor: linear warm-up over ``warmup`` steps, then cosine decay to zero at ``total``."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    return factor


class _JsonlLog:
    def __init__(self, path: Path, enabled: bool):
        self.path, self.enabled = path, enabled

    def write(self, record: dict) -> None:
        if self.enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"time": round(time.time(), 2), **record}) + "\n")


def run(args: argparse.Namespace) -> int:
    """Entry point shared by ``i2imetric train`` and ``python -m i2imetric_training.train``."""
    config = load_train_config(args.config, tuple(args.overrides))
    if args.fresh:
        remove_state(Path(config.output_dir) / STATE_DIR)
    result = train(config)
    print(f"best mean validation accuracy {result.best_accuracy:.4f}; checkpoint: {result.best_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from .cli import configure_parser

    parser = argparse.ArgumentParser(prog="python -m i2imetric_training.train", description="Train an i2imetric scorer.")
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
