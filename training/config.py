"""Training run configuration: YAML files plus ``key=value`` overrides, every key checked.

A config file mirrors :class:`TrainConfig`. Overrides use dotted paths::

    i2imetric train --config configs/demo_scorer.yaml steps=200 optim.lr=3e-4

A misspelt key fails at once with the list of valid keys, rather than being silently ignored
halfway through a long run. ``--config`` also takes the name of a shipped config
(``demo_scorer``, ``finetune_domain``, ...): the repository's ``configs/`` folder, installed
as ``i2imetric_training/configs``.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import yaml

from i2imetric.errors import ConfigError
from i2imetric.models.config import build_dataclass

__all__ = [
    "TrainConfig",
    "PretrainConfig",
    "SslPretrainConfig",
    "load_train_config",
    "load_pretrain_config",
    "load_ssl_pretrain_config",
    "apply_overrides",
    "shipped_config_names",
    "resolve_config_path",
    "check_field_types",
]

_PACKAGE_DIR = Path(__file__).resolve().parent
# Installed, the configs are package data beside this file; in a checkout, the top-level folder.
SHIPPED_CONFIGS = _PACKAGE_DIR / "configs" if (_PACKAGE_DIR / "configs").is_dir() else _PACKAGE_DIR.parent / "configs"


class _YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans: only true/false.

    YAML 1.1 also reads yes/no/on/off as booleans, so ``mixed_precision: no`` (accelerate's
    own spelling) arrived as ``False``.
    """


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
# YAML 1.1 wants a dot in a float, so ``optim.lr=3e-4`` (as the docs write it) arrived as a string.
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"),
)


def _parse_yaml(text):
    return yaml.load(text, Loader=_YamlLoader)


def shipped_config_names() -> list[str]:
    """Names ``--config`` accepts besides paths: the YAML files shipped with the trainer."""
    return sorted(p.stem for p in SHIPPED_CONFIGS.glob("*.yaml"))


def resolve_config_path(path: str | Path) -> Path:
    """A config file by path, or a shipped one by name (``finetune_domain`` or ``configs/finetune_domain.yaml``).

    Raises:
        ConfigError: neither a file nor a shipped config's name.
    """
    path = Path(path)
    if path.is_file():
        return path
    shipped = SHIPPED_CONFIGS / (path.stem + ".yaml")
    if path.suffix in ("", ".yaml") and shipped.is_file():
        return shipped
    raise ConfigError(
        f"{path}: no such config file, and not a shipped config name ({', '.join(shipped_config_names())})"
    )


@dataclass
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 50
    grad_clip: float = 1.0
    gradient_accumulation_steps: int = 1


@dataclass
class LossConfig:
    pairwise: str = "bradley_terry"  # or "hinge"
    margin: float = 0.5  # hinge only
    subscore_weight: float = 0.5  # sub-score losses where the failing aspect is known
    # The dense loss on the signed per-patch map, for groups whose data has masks (the
    # grammar source): positive where the edit helped, negative where it hurt, 0 elsewhere.
    map_weight: float = 0.0
    map_margin: float = 1.0
    # The same masks, as a pointing game: each row's most positive patch in what helped and
    # its most negative in what hurt (training.losses.patch_pointing_loss).
    map_pointing_weight: float = 0.0


@dataclass
class DataSource:
    kind: str  # "shapesworld" | "canonical_edits" | "grammar" | "manifest" (pairwise) | "ratings"
    weight: float = 1.0
    images: Optional[str] = None  # canonical_edits / grammar: a folder, or None for the bundled photos
    path: Optional[str] = None  # manifest / ratings: the JSONL file
    # grammar only: also the right output under another edit's instruction, as a wrong answer
    instruction_contrast: bool = False
    # grammar with instruction_contrast: those wrong answers get a map target too, read against
    # what their words ask for (training.data.GrammarEditGroups), so the map must read the words
    contrast_map_masks: bool = False
    # shapesworld only: supervise the per-patch map from ShapesWorld's exact pixel differences
    # (training.data.shapes_map_masks); grammar groups always carry theirs
    map_masks: bool = False

    def __post_init__(self):
        kinds = ("shapesworld", "canonical_edits", "grammar", "manifest", "ratings")
        if self.kind not in kinds:
            raise ConfigError(f"data.sources: unknown kind {self.kind!r}; valid: {', '.join(kinds)}")
        if self.instruction_contrast and self.kind != "grammar":
            raise ConfigError(f"data.sources: instruction_contrast is for grammar sources, not {self.kind!r}")
        if self.contrast_map_masks and not self.instruction_contrast:
            raise ConfigError("data.sources: contrast_map_masks gives the instruction-contrast wrong answers a map "
                              "target; set instruction_contrast: true on that grammar source too")
        if self.map_masks and self.kind != "shapesworld":
            raise ConfigError(f"data.sources: map_masks is for shapesworld sources (grammar groups always carry "
                              f"their masks), not {self.kind!r}")  # fmt: skip
        if self.kind in ("manifest", "ratings") and not self.path:
            raise ConfigError(f"data.sources: a {self.kind} source needs 'path'")


@dataclass
class DataConfig:
    image_size: int = 64  # ShapesWorld render size
    working_size: int = 96  # longest side of photo crops handed to the model
    groups_per_step: int = 8
    sources: list[DataSource] = field(default_factory=lambda: [DataSource("shapesworld"), DataSource("canonical_edits")])


@dataclass
class BenchmarkValidation:
    """A share of a human-voted benchmark validated on during training (and so left out of its `bench` numbers).

    The share is chosen by :func:`i2imetric.meta_eval.benchmarks.validation_share` from
    the units' ids; the saved scorer records it (``validated_on``), and ``i2imetric bench``
    reports that benchmark on the other units only.
    """

    bench: str  # an `i2imetric bench` name; see VALIDATION_BENCHES
    data_root: Optional[str] = None  # as `i2imetric bench --data-root`; None: the Hub, when online
    fraction: float = 0.2

    def __post_init__(self):
        from i2imetric.meta_eval.benchmarks import VALIDATION_BENCHES

        if self.bench not in VALIDATION_BENCHES:
            raise ConfigError(f"validation.benchmarks: {self.bench!r} cannot be validated on; "
                              f"valid: {', '.join(VALIDATION_BENCHES)} (benchmarks of voted pairs)")  # fmt: skip
        if isinstance(self.fraction, bool) or not isinstance(self.fraction, (int, float)) or not 0.0 < self.fraction < 1.0:
            raise ConfigError(f"validation.benchmarks ({self.bench}): fraction {self.fraction!r} must be in (0, 1)")


@dataclass
class ValidationConfig:
    every: int = 100
    shapes_count: int = 60
    photo_crops: int = 1
    batch_size: int = 64
    # Groups per grammar split (train, heldout_phrasing, heldout_combo, heldout_operation) on
    # the held-out photos; used only when data.sources has a grammar source, 0 leaves them out.
    grammar_count: int = 48
    # The share of each source folder (canonical_edits / grammar with ``images: FOLDER``) kept
    # out of training and validated on instead, chosen by file content (training.data.split_folder);
    # at least one image. Without it a fine-tune would be validated on the bundled photos only.
    holdout_fraction: float = 0.2
    # Shares of human-voted benchmarks to validate (and select checkpoints) on, e.g.
    # [{bench: genai-bench, data_root: /data/benchmarks, fraction: 0.2}].
    benchmarks: list[BenchmarkValidation] = field(default_factory=list)


@dataclass
class TrainConfig:
    # A model config name (see i2imetric.list_models()), or null with init_from: the checkpoint's model.
    model: Optional[str] = "test-tiny"
    model_overrides: dict = field(default_factory=dict)
    pretrained: Union[str, bool, None] = None  # base weights: tag, hf-hub id, local file, or true for the default tag
    # The timm ViT's weights, for a model config with a timm section: a local file (e.g. one
    # written by i2imetric_training.pretrain_ssl), a timm tag, an hf-hub: id, or true for the
    # config's default tag; null leaves it random.
    timm_pretrained: Union[str, bool, None] = None
    # Start from a trained scorer's weights (base, LoRA, head; not its calibration, which is
    # refitted) instead of a fresh head: a registered name ("demo"), a checkpoint folder or an
    # hf-hub: id. Its architecture must be the config's model (see training.train.build_metric).
    init_from: Optional[str] = None
    output_dir: str = "runs/metric"
    seed: int = 0
    steps: int = 1000
    mixed_precision: str = "no"  # "bf16" on GPUs that have it
    checkpoint_every: int = 100  # accelerate state, for resuming after a kill
    log_every: int = 10
    tensorboard: bool = False
    calibrate: bool = True
    # Copy a local-file base (the demo's ShapesCLIP, a downloaded .safetensors) into the saved
    # checkpoint, so the folder loads anywhere; an OpenCLIP tag or hf-hub: base is recorded by
    # reference either way, which is how another machine fetches it. false records the file's
    # absolute path instead: a checkpoint that loads on this machine only.
    bundle_base: bool = True
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class PretrainConfig:
    """Contrastive pretraining of a small OpenCLIP base from scratch (ShapesCLIP)."""

    model: str = "shapesclip"  # the model config whose open_clip architecture is trained
    output: str = "runs/shapesclip/shapesclip_base.safetensors"
    seed: int = 0
    steps: int = 800
    batch_size: int = 96
    lr: float = 5e-4
    weight_decay: float = 0.1
    warmup_steps: int = 50
    mixed_precision: str = "no"
    photo_share: float = 0.15  # canonical edits of photo crops, captioned with their fixed strings
    grammar_share: float = 0.35  # draws that are grammar edits of photo crops, captioned with training phrasings
    # Of those grammar crops, the share captioned with a description of the result in a wider
    # vocabulary (grammar.describe) instead of a request; the images stay the same.
    described_share: float = 0.0
    # Each grammar draw edits one crop this many times (the first edit and siblings that
    # differ in region, operation or direction), so captions must name the edit to match.
    grammar_group_size: int = 1
    # Which respects a sibling may differ in (grammar.NEAR_MISS_CHANGES: "opposite",
    # "region", "operation"); e.g. [region] makes every sibling the same edit elsewhere, so
    # captions must be read for where.
    sibling_changes: list = field(default_factory=lambda: list(_near_miss_changes()))
    # the rest of each batch is ShapesWorld scenes
    image_size: int = 64
    save_dtype: str = "float16"  # halves the shipped file; the metric computes in float32
    log_every: int = 20
    # How many distinct (image, caption) examples the run sees. Example i of the run is
    # example i % pool_size of the stream a run without a pool draws, so steps x batch_size
    # examples cycle through the first pool_size of them; null draws every example fresh.
    # Q2 of docs/findings.md varies it: the same compute on half the data.
    pool_size: Optional[int] = None

    def __post_init__(self):
        for key in ("steps", "batch_size", "log_every", "image_size"):
            value = getattr(self, key)
            if not _positive_int(value):
                raise ConfigError(f"{key}: expected a positive integer, got {value!r}")
        if not _positive_number(self.lr) or not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise ConfigError(f"lr and warmup_steps: expected a positive learning rate and a whole number of warm-up "
                              f"steps >= 0, got lr={self.lr!r}, warmup_steps={self.warmup_steps!r}")
        if self.pool_size is not None and not _positive_int(self.pool_size):
            raise ConfigError(f"pool_size: expected a positive integer (distinct examples) or null, "
                              f"got {self.pool_size!r}")
        if not _positive_int(self.grammar_group_size):
            raise ConfigError(f"grammar_group_size: expected a positive integer (edits per crop), "
                              f"got {self.grammar_group_size!r}")
        changes, allowed = self.sibling_changes, _near_miss_changes()
        if (not isinstance(changes, list) or not changes or len(set(changes)) != len(changes)
                or not set(changes) <= set(allowed)):  # fmt: skip
            raise ConfigError(f"sibling_changes: expected a non-empty list of distinct changes from "
                              f"{list(allowed)}, got {changes!r}")
        for key in ("photo_share", "grammar_share", "described_share"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"{key}: expected a share in [0, 1], got {value!r}")
        if self.photo_share + self.grammar_share > 1.0:
            raise ConfigError(
                f"photo_share ({self.photo_share}) + grammar_share ({self.grammar_share}) exceed 1; "
                "the rest of each batch is ShapesWorld scenes, so lower one of them"
            )


# The pretraining keys that decide which images a run draws (the rest decide captions,
# optimisation and output): with equal values, ShapesCLIP's and the DINO-style ViT's
# pretrainings see the very same images (Q2 of docs/findings.md checks it).
IMAGE_KEYS = ("seed", "batch_size", "photo_share", "grammar_share", "grammar_group_size", "sibling_changes",
              "image_size", "pool_size")


@dataclass
class SslPretrainConfig(PretrainConfig):
    """DINO-style self-distillation of a model config's timm ViT, without text (``pretrain_ssl``).

    The image keys (:data:`IMAGE_KEYS`) mean what they mean for ShapesCLIP: with the same
    values both pretrainings draw the very same images, and this one drops the captions.
    """

    model: str = "shapesclip_timm"  # the model config whose timm section is trained
    output: str = "runs/shapesvit_dino/shapesvit_dino.safetensors"
    weight_decay: float = 0.04
    # The projection head: an MLP to a bottleneck, then cosine logits over out_dim prototypes.
    out_dim: int = 256
    hidden_dim: int = 256
    bottleneck_dim: int = 64
    student_temp: float = 0.1
    teacher_temp: float = 0.04  # sharpening: the teacher's softmax is colder than the student's
    center_momentum: float = 0.9  # centring: the running mean of the teacher's logits is subtracted
    teacher_momentum: float = 0.99  # the teacher's EMA momentum at step 0, raised to 1 on a cosine
    crop_scale: list = field(default_factory=lambda: [0.4, 1.0])  # random resized crop: share of the area
    color_jitter: float = 0.4  # brightness and contrast strength (saturation half, hue a quarter), p 0.8
    grayscale_p: float = 0.2
    grad_clip: float = 3.0

    def __post_init__(self):
        super().__post_init__()
        for key in ("out_dim", "hidden_dim", "bottleneck_dim"):
            value = getattr(self, key)
            if not _positive_int(value):
                raise ConfigError(f"{key}: expected a positive integer, got {value!r}")
        for key in ("student_temp", "teacher_temp", "grad_clip"):
            value = getattr(self, key)
            if not _positive_number(value):
                raise ConfigError(f"{key}: expected a positive number, got {value!r}")
        for key in ("center_momentum", "teacher_momentum", "grayscale_p"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"{key}: expected a number in [0, 1], got {value!r}")
        scale = self.crop_scale
        if (not isinstance(scale, list) or len(scale) != 2 or not all(_positive_number(v) for v in scale)
                or not scale[0] <= scale[1] <= 1.0):
            raise ConfigError(f"crop_scale: expected [smallest, largest] shares of the image area with "
                              f"0 < smallest <= largest <= 1, e.g. [0.4, 1.0]; got {scale!r}")
        if not isinstance(self.color_jitter, (int, float)) or isinstance(self.color_jitter, bool) or not (
                0.0 <= self.color_jitter < 1.0):
            raise ConfigError(f"color_jitter: expected a strength in [0, 1), got {self.color_jitter!r}")


def _near_miss_changes() -> tuple:
    # Imported when a pretraining config is built, not with this module: the command line
    # reads this module to list its options, and the grammar imports torch.
    from i2imetric.data.synthetic.grammar import NEAR_MISS_CHANGES

    return NEAR_MISS_CHANGES


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _positive_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``a.b=value`` strings (values parsed as YAML) to a nested dict, in place.

    A list element is ``data.sources.0.images`` or, as error messages name it, ``data.sources[0].images``.
    """
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value, e.g. steps=200 or optim.lr=3e-4")
        dotted, raw = item.split("=", 1)
        keys = re.sub(r"\[(\d+)\]", r".\1", dotted).split(".")
        target = data
        for key in keys[:-1]:
            target = _child(target, key, item)
        if isinstance(target, list):
            target[_list_index(target, keys[-1], item)] = _parse_yaml(raw)
        else:
            target[keys[-1]] = _parse_yaml(raw)
    return data


def _child(target, key: str, item: str):
    """Step into a section (dict) or a list element (``data.sources.0.images=...``)."""
    if isinstance(target, list):
        return target[_list_index(target, key, item)]
    if not isinstance(target, dict):
        raise ConfigError(f"override {item!r}: {key!r} is inside a value, not a section")
    return target.setdefault(key, {})


def _list_index(target: list, key: str, item: str) -> int:
    if not key.isdigit() or int(key) >= len(target):
        raise ConfigError(f"override {item!r}: {key!r} is not an index of a list of {len(target)}")
    return int(key)


def load_train_config(path: Optional[str | Path] = None, overrides: tuple[str, ...] = ()) -> TrainConfig:
    """Read a YAML training config (or the defaults) and apply ``key=value`` overrides."""
    config = _load(TrainConfig, path, overrides)
    _check_train_values(config, str(path or "config"))
    return config


def load_pretrain_config(path: Optional[str | Path] = None, overrides: tuple[str, ...] = ()) -> PretrainConfig:
    """Read a YAML pretraining config (or the defaults) and apply ``key=value`` overrides."""
    return _load(PretrainConfig, path, overrides)


def load_ssl_pretrain_config(path: Optional[str | Path] = None, overrides: tuple[str, ...] = ()) -> SslPretrainConfig:
    """Read a YAML self-supervised pretraining config (or the defaults) and apply ``key=value`` overrides."""
    return _load(SslPretrainConfig, path, overrides)


def _load(cls, path, overrides):
    data: dict = {}
    if path is not None:
        path = resolve_config_path(path)
        with open(path, encoding="utf-8") as handle:
            data = _parse_yaml(handle) or {}
    apply_overrides(data, list(overrides))
    config = build_dataclass(cls, data, str(path or "config"))
    check_field_types(config, str(path or "config"))
    return config


def check_field_types(obj, where: str, only: Optional[dict] = None) -> None:
    """Check that every field of a (nested) config dataclass holds a value of its annotated type.

    ``steps: "abc"`` or ``lora: {r: "8"}`` would otherwise surface as a TypeError deep inside
    torch or peft, far from the key at fault.

    Args:
        obj: a built config dataclass.
        where: the prefix of key names in messages (the config file, or a section's key).
        only: check just these keys (a nested dict of them, e.g. the overrides a user gave).

    Raises:
        ConfigError: naming the key, the expected type and the value found.
    """
    hints = typing.get_type_hints(type(obj))
    for item in dataclasses.fields(obj):
        if only is not None and item.name not in only:
            continue
        value, key = getattr(obj, item.name), f"{where}.{item.name}"
        nested = only.get(item.name) if only is not None else None
        if dataclasses.is_dataclass(value):
            check_field_types(value, key, nested if isinstance(nested, dict) else None)
        elif isinstance(value, list) and value and all(dataclasses.is_dataclass(v) for v in value):
            for index, element in enumerate(value):
                check_field_types(element, f"{key}[{index}]")
        elif not _has_type(value, hints[item.name]):
            raise ConfigError(f"{key}: expected {_type_name(hints[item.name])}, got {type(value).__name__} {value!r}")


def _has_type(value, hint) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_has_type(value, arg) for arg in args)
    if origin is list:
        return isinstance(value, list) and all(_has_type(v, args[0]) for v in value) if args else isinstance(value, list)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:  # an int is a fine float: ``weight: 2``
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint in (str, dict):
        return isinstance(value, hint)
    return True  # Any, and dataclasses (built and checked by build_dataclass)


def _type_name(hint) -> str:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in args)
    if typing.get_origin(hint) is list:
        return f"a list of {_type_name(args[0])}" if args else "a list"
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))


def _check_train_values(config: TrainConfig, where: str) -> None:
    """Ranges and choices a type cannot say; each would otherwise fail mid-run (``checkpoint_every: 0``
    divides by zero at step 1) or with accelerate's or torch's own words."""
    at_least = [  # (key, value, smallest allowed)
        ("steps", config.steps, 1), ("checkpoint_every", config.checkpoint_every, 1),
        ("log_every", config.log_every, 1), ("optim.warmup_steps", config.optim.warmup_steps, 0),
        ("optim.gradient_accumulation_steps", config.optim.gradient_accumulation_steps, 1),
        ("data.image_size", config.data.image_size, 1), ("data.working_size", config.data.working_size, 1),
        ("data.groups_per_step", config.data.groups_per_step, 1), ("validation.every", config.validation.every, 1),
        ("validation.shapes_count", config.validation.shapes_count, 0),
        ("validation.photo_crops", config.validation.photo_crops, 0),
        ("validation.batch_size", config.validation.batch_size, 1),
        ("validation.grammar_count", config.validation.grammar_count, 0),
    ]
    for key, value, smallest in at_least:
        if value < smallest:
            raise ConfigError(f"{where}.{key}: {value} is below the smallest allowed value, {smallest}")
    if not 0 < config.validation.holdout_fraction < 1:
        raise ConfigError(f"{where}.validation.holdout_fraction: {config.validation.holdout_fraction} must lie "
                          "strictly between 0 and 1 (the share of each images: folder kept for validation, e.g. 0.2)")
    if not (config.optim.lr > 0 and math.isfinite(config.optim.lr)):
        raise ConfigError(f"{where}.optim.lr: {config.optim.lr} must be a positive number")
    for key, value in (("loss.subscore_weight", config.loss.subscore_weight), ("loss.map_weight", config.loss.map_weight),
                       ("loss.map_margin", config.loss.map_margin),
                       ("loss.map_pointing_weight", config.loss.map_pointing_weight)):
        if not (value >= 0 and math.isfinite(value)):
            raise ConfigError(f"{where}.{key}: {value} must be a finite number >= 0")
    choices = [("mixed_precision", config.mixed_precision, ("no", "fp16", "bf16", "fp8")),
               ("loss.pairwise", config.loss.pairwise, ("bradley_terry", "hinge"))]
    for key, value, allowed in choices:
        if value not in allowed:
            raise ConfigError(f"{where}.{key}: {value!r} is not one of {', '.join(allowed)}")
    if config.model is None and config.init_from is None:
        raise ConfigError(f"{where}.model: null takes the model from init_from, which is not set; name a model "
                          "config (i2imetric models lists them) or set init_from to a scorer, e.g. init_from=demo")
    if not config.data.sources:
        raise ConfigError(f"{where}.data.sources: empty; list at least one source, e.g. [{{kind: shapesworld}}]")
    for index, source in enumerate(config.data.sources):
        if not (source.weight > 0 and math.isfinite(source.weight)):
            raise ConfigError(f"{where}.data.sources[{index}].weight: {source.weight} must be a positive number")
