"""The metric's architecture as data.

A model config is a JSON file in ``i2imetric/model_configs/``. It names the OpenCLIP base
(a built-in architecture, or a full open_clip config dict for tiny models), an optional
timm ViT as a second patch-token source, the head, the LoRA defaults and the prior's
weights. :func:`list_models` lists them; :func:`get_model_config` returns one as a
:class:`MetricConfig`, with overrides merged in and every key checked.

Nothing in the package branches on a model's *name*: everything it needs is in here.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..errors import ConfigError

__all__ = [
    "SUBSCORE_NAMES",
    "CALIBRATED_MEANING",
    "BaseConfig",
    "TimmConfig",
    "HeadConfig",
    "PATCH_SOURCES",
    "LoraConfig",
    "PriorConfig",
    "MetricConfig",
    "list_models",
    "get_model_config",
    "build_dataclass",
]

MODEL_CONFIG_DIR = Path(__file__).parent / "model_configs"

# What the head's sub-score outputs mean, in their order. Here (torch-free) so that result
# files, reports and meta-evaluation can name them without importing the model.
SUBSCORE_NAMES = ("instruction", "preservation", "quality")

# What a calibrated score means, in one line, wherever one is shown to a person. The
# calibration is fitted by training on held-out right answers (1) and wrong answers (0).
CALIBRATED_MEANING = (
    "the estimated chance (0 to 1) that this output is a right answer to its instruction, "
    "as fitted on the scorer's held-out validation edits"
)


@dataclass
class BaseConfig:
    """The OpenCLIP model both towers come from.

    Exactly one of ``open_clip`` (a built-in architecture name such as ``"ViT-B-32"``) or
    ``open_clip_config`` (a full open_clip model config dict) is set.
    """

    open_clip: Optional[str] = None
    open_clip_config: Optional[dict] = None
    # The tag suggested in docs and used by `create_metric(name, pretrained=True)`.
    default_pretrained: Optional[str] = None

    def __post_init__(self):
        if (self.open_clip is None) == (self.open_clip_config is None):
            raise ConfigError("base: give exactly one of 'open_clip' (an architecture name) or 'open_clip_config'")


@dataclass
class TimmConfig:
    """A timm ViT used as a second source of patch tokens (DINO-style local features)."""

    model: str
    default_pretrained: Optional[str] = None
    img_size: Optional[int] = None
    model_args: dict = field(default_factory=dict)


# What head.patch_source may name: the image tower(s) whose patch tokens the head compares.
PATCH_SOURCES = ("clip", "timm", "both")


@dataclass
class HeadConfig:
    """The joint head: fuses text, global and per-patch features into one latent z."""

    use_patch_tokens: bool = True
    fusion_dim: int = 128
    depth: int = 2
    num_heads: int = 4
    mlp_ratio: float = 2.0
    latent_dim: int = 256
    dropout: float = 0.0
    # Read the instruction word by word: the text tower's token outputs join the head's
    # sequence, so patches can attend to "right half" or "sepia" and not only to one
    # pooled vector. False keeps the pooled-only head of older checkpoints.
    text_tokens: bool = False
    # Where the per-patch tokens come from: "clip" (the OpenCLIP image tower's), "timm" (the
    # timm ViT's alone; the global token still reads OpenCLIP's pooled embeddings and the
    # instruction) or "both" (the two concatenated per patch). Left out (null), it is "both"
    # when the config has a timm section and "clip" otherwise, which is what every config and
    # checkpoint written before the key existed means.
    patch_source: Optional[str] = None
    # Give each patch token the mean and spread of its pixels' colour channels too (source,
    # output, difference): exact evidence of how much and which way a patch changed, which
    # a ViT's tokens partly discard. False (the default) is the head of older checkpoints.
    pixel_stats: bool = False

    def __post_init__(self):
        # torch checks these only when it builds the layers, with messages that name no key
        # (depth -1 even ended in an IndexError).
        for key in ("fusion_dim", "depth", "num_heads", "latent_dim"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"head.{key}: expected a positive integer, got {value!r}")
        if self.fusion_dim % self.num_heads:
            raise ConfigError(
                f"head.fusion_dim {self.fusion_dim} must be divisible by head.num_heads {self.num_heads}"
            )
        if not _is_number(self.mlp_ratio) or self.mlp_ratio <= 0:
            raise ConfigError(f"head.mlp_ratio: expected a positive number, got {self.mlp_ratio!r}")
        if not _is_number(self.dropout) or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"head.dropout: expected a probability in [0, 1), got {self.dropout!r}")
        for key in ("use_patch_tokens", "text_tokens", "pixel_stats"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"head.{key}: expected true or false, got {getattr(self, key)!r}")
        if self.patch_source is not None and self.patch_source not in PATCH_SOURCES:
            raise ConfigError(
                f"head.patch_source: {self.patch_source!r} is not one of {', '.join(map(repr, PATCH_SOURCES))}"
            )


@dataclass
class LoraConfig:
    """Where LoRA goes and how big it is. ``towers`` picks from image, text, timm."""

    towers: list = field(default_factory=lambda: ["image", "text"])
    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    # Regexes over module names, matched in full by peft. The defaults are the MLP
    # projections of every resblock. The attention output projection is left out on
    # purpose: nn.MultiheadAttention reads ``out_proj.weight`` directly inside
    # F.multi_head_attention_forward and never calls the module, so an adapter there would
    # train nothing (inject_lora refuses one). The fused q/k/v projection lives inside
    # nn.MultiheadAttention too, and peft adapts it (target "attn") by merging the delta into
    # the frozen weight and subtracting it again on every forward, which drifts the
    # "frozen" base by rounding; add "attn" to a regex only if that is acceptable.
    image_targets: str = r"visual\.transformer\.resblocks\.\d+\.(mlp\.c_fc|mlp\.c_proj)"
    text_targets: str = r"transformer\.resblocks\.\d+\.(mlp\.c_fc|mlp\.c_proj)"
    timm_targets: str = r"blocks\.\d+\.(attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)"

    def __post_init__(self):
        if not isinstance(self.towers, list) or not all(isinstance(t, str) for t in self.towers):
            raise ConfigError(f"lora.towers: expected a list of tower names, got {self.towers!r}")
        unknown = set(self.towers) - {"image", "text", "timm"}
        if unknown:
            raise ConfigError(f"lora.towers: unknown tower(s) {sorted(unknown)}; valid: image, text, timm")
        # peft checks some of these only when it injects, with messages that name no key.
        if not isinstance(self.r, int) or isinstance(self.r, bool) or self.r < 1:
            raise ConfigError(f"lora.r: the rank must be a positive integer, got {self.r!r}")
        if not _is_number(self.alpha) or self.alpha <= 0:
            raise ConfigError(f"lora.alpha: expected a positive number, got {self.alpha!r}")
        if not _is_number(self.dropout) or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"lora.dropout: expected a probability in [0, 1), got {self.dropout!r}")
        for key in ("image_targets", "text_targets", "timm_targets"):
            _check_regex(getattr(self, key), f"lora.{key}")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_regex(pattern, where: str) -> None:
    if not isinstance(pattern, str) or not pattern:
        raise ConfigError(f"{where}: expected a regular expression over module names, got {pattern!r}")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{where}: {pattern!r} is not a valid regular expression ({exc})") from exc


@dataclass
class PriorConfig:
    """Fixed weights of the zero-shot prior (see :mod:`i2imetric.models.prior`)."""

    direction: float = 1.0
    gain: float = 1.0
    preservation: float = 1.0
    # Below this |g_o - g_s| the direction term is damped (see prior.py).
    direction_min_norm: float = 0.05
    # Cosines live in a narrow band; the scale puts the prior on a logit-like range.
    scale: float = 10.0


@dataclass
class MetricConfig:
    """Everything needed to build the metric's modules (but not its weights)."""

    name: str
    base: BaseConfig
    timm: Optional[TimmConfig] = None
    head: HeadConfig = field(default_factory=HeadConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    # "squash" resizes the whole image to the base's square input; "letterbox" pads first.
    # Never centre-crop: an edit metric must see every pixel an edit can touch.
    image_resize: str = "squash"
    # What training may change: "lora" (LoRA adapters + head), "head" (head only), or
    # "full" (every weight, for comparison). Also decides which tensors a checkpoint holds.
    trainable: str = "lora"
    description: str = ""

    def __post_init__(self):
        if self.image_resize not in ("squash", "letterbox"):
            raise ConfigError(f"image_resize: {self.image_resize!r} is not one of 'squash', 'letterbox'")
        if self.trainable not in ("lora", "head", "full"):
            raise ConfigError(f"trainable: {self.trainable!r} is not one of 'lora', 'head', 'full'")
        self._resolve_patch_source()

    def _resolve_patch_source(self) -> None:
        """Fill in ``head.patch_source`` when left out, and refuse one the towers cannot give."""
        head = self.head
        if head.patch_source is None:
            head.patch_source = "both" if self.timm is not None else "clip"
        elif head.patch_source in ("timm", "both") and self.timm is None:
            raise ConfigError(
                f"head.patch_source: {head.patch_source!r} needs a timm section (the ViT whose patches the head "
                "reads); add one, e.g. as in the shapesclip_timm model config, or set head.patch_source to 'clip'"
            )
        elif head.patch_source == "clip" and self.timm is not None:
            # The timm tower would run on every image and its LoRA adapters would never train.
            raise ConfigError(
                "head.patch_source: 'clip' leaves the timm encoder of this config unused; remove the timm "
                "section, or set head.patch_source to 'timm' or 'both'"
            )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict, *, where: str = "config") -> "MetricConfig":
        return build_dataclass(cls, data, where)


def build_dataclass(cls, data: Any, where: str):
    """Build dataclass ``cls`` from a dict, refusing unknown keys with the list of valid ones.

    Fields annotated with another dataclass (or ``Optional`` of one, or ``list`` of one)
    are built recursively, so one error path names the exact key, e.g. ``config.head.widht``.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - valid)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(valid)}")
    hints = typing.get_type_hints(cls)
    kwargs = {key: _build_field(hints[key], value, f"{where}.{key}") for key, value in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _build_field(hint, value: Any, where: str):
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list and args and dataclasses.is_dataclass(args[0]):
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        return [build_dataclass(args[0], item, f"{where}[{i}]") for i, item in enumerate(value)]
    candidates = [a for a in args if dataclasses.is_dataclass(a)] if origin is typing.Union else [hint]
    nested = next((c for c in candidates if dataclasses.is_dataclass(c)), None)
    return build_dataclass(nested, value, where) if nested is not None else value


def _merge(base: dict, overrides: dict, where: str) -> dict:
    """Deep-merge ``overrides`` into a copy of ``base`` (dicts merge, anything else replaces)."""
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "open_clip_config":
            merged[key] = _merge(merged[key], value, f"{where}.{key}")
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def list_models() -> list[str]:
    """Names of the model configs shipped with the package, sorted.

    Example:
        >>> "test-tiny" in list_models()
        True
    """
    return sorted(path.stem for path in MODEL_CONFIG_DIR.glob("*.json"))


def get_model_config(name: str, **overrides: Any) -> MetricConfig:
    """Load a shipped model config and merge ``overrides`` into it.

    Args:
        name: one of :func:`list_models`.
        **overrides: top-level keys of :class:`MetricConfig`; dict values merge into the
            matching section, e.g. ``lora={"r": 4}`` or ``head={"use_patch_tokens": False}``.

    Returns:
        A validated :class:`MetricConfig`.
    """
    path = MODEL_CONFIG_DIR / f"{name}.json"
    if not path.is_file():
        raise ConfigError(f"unknown model config {name!r}; available: {', '.join(list_models())}")
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    data.setdefault("name", name)
    return MetricConfig.from_dict(_merge(data, overrides, name), where=f"{name} (with overrides)")
