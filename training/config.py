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
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from i2imetric.config import build_dataclass
from i2imetric.errors import ConfigError

__all__ = [
    "TrainConfig",
    "PretrainConfig",
    "load_train_config",
    "load_pretrain_config",
    "apply_overrides",
    "shipped_config_names",
    "resolve_config_path",
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


@dataclass
class DataSource:
    kind: str  # "shapesworld" | "canonical_edits" | "manifest" (pairwise) | "ratings"
    weight: float = 1.0
    images: Optional[str] = None  # canonical_edits: a folder, or None for the bundled photos
    path: Optional[str] = None  # manifest / ratings: the JSONL file

    def __post_init__(self):
        kinds = ("shapesworld", "canonical_edits", "manifest", "ratings")
        if self.kind not in kinds:
            raise ConfigError(f"data.sources: unknown kind {self.kind!r}; valid: {', '.join(kinds)}")
        if self.kind in ("manifest", "ratings") and not self.path:
            raise ConfigError(f"data.sources: a {self.kind} source needs 'path'")


@dataclass
class DataConfig:
    image_size: int = 64  # ShapesWorld render size
    working_size: int = 96  # longest side of photo crops handed to the model
    groups_per_step: int = 8
    sources: list[DataSource] = field(default_factory=lambda: [DataSource("shapesworld"), DataSource("canonical_edits")])


@dataclass
class ValidationConfig:
    every: int = 100
    shapes_count: int = 60
    photo_crops: int = 1
    batch_size: int = 64


@dataclass
class TrainConfig:
    model: str = "test-tiny"  # a model config name, see i2imetric.list_models()
    model_overrides: dict = field(default_factory=dict)
    pretrained: Optional[str] = None  # base weights: tag, hf-hub id, or local file
    output_dir: str = "runs/metric"
    seed: int = 0
    steps: int = 1000
    mixed_precision: str = "no"  # "bf16" on GPUs that have it
    checkpoint_every: int = 100  # accelerate state, for resuming after a kill
    log_every: int = 10
    tensorboard: bool = False
    calibrate: bool = True
    bundle_base: bool = False  # copy a file base into the checkpoint (self-contained, shippable)
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
    photo_share: float = 0.4  # the rest of each batch is ShapesWorld scenes
    image_size: int = 64
    save_dtype: str = "float16"  # halves the shipped file; the metric computes in float32
    log_every: int = 20


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``a.b=value`` strings (values parsed as YAML) to a nested dict, in place."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value, e.g. steps=200 or optim.lr=3e-4")
        dotted, raw = item.split("=", 1)
        keys = dotted.split(".")
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
    return _load(TrainConfig, path, overrides)


def load_pretrain_config(path: Optional[str | Path] = None, overrides: tuple[str, ...] = ()) -> PretrainConfig:
    """Read a YAML pretraining config (or the defaults) and apply ``key=value`` overrides."""
    return _load(PretrainConfig, path, overrides)


def _load(cls, path, overrides):
    data: dict = {}
    if path is not None:
        path = resolve_config_path(path)
        with open(path, encoding="utf-8") as handle:
            data = _parse_yaml(handle) or {}
    apply_overrides(data, list(overrides))
    return build_dataclass(cls, data, str(path or "config"))
