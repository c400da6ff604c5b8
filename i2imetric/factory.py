"""Building a metric from a model config, and loading a saved one by name or path."""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from pathlib import Path
from typing import Optional, Union

import open_clip
import torch

from .config import MetricConfig, get_model_config
from .encoders import resolve_open_clip_config, resolve_open_clip_weights, resolve_timm_weights
from .errors import BaseWeightsError, CheckpointError
from .metric import I2IMetric
from .preprocess import Preprocess
from .pretrained import (
    CARD_NAME,
    CONFIG_NAME,
    WEIGHTS_NAME,
    checkpoint_dirs_text,
    list_pretrained,
    registered_checkpoints,
)
from .weights import WeightsSource, fetch_hub_file

__all__ = ["create_metric", "load_metric", "list_pretrained", "build_metric", "open_clip_preprocess"]

# Model names already warned about building a random base, so a loop warns once per process.
_WARNED_RANDOM = set()

def create_metric(
    model_name: str,
    pretrained: Union[str, bool, None] = None,
    device: Optional[str] = None,
    *,
    timm_pretrained: Union[str, bool, None] = None,
    cache_dir: Optional[str] = None,
    seed: int = 0,
    **overrides,
) -> I2IMetric:
    """Build a metric from a shipped model config.

    Args:
        model_name: one of :func:`i2imetric.list_models`.
        pretrained: base weights: an OpenCLIP tag (``"openai"``), an ``"hf-hub:org/repo"``
            id, a local weights file, ``True`` for the config's default tag, or None for a
            random base (tests; for a config that has real weights this warns once, since
            its scores mean nothing). Downloads happen only here, only when not cached.
        device: where to put the metric (default CPU).
        timm_pretrained: the same for the optional timm encoder.
        cache_dir: the Hugging Face cache to use.
        seed: seeds the random initialisation of the head (and of a random base).
        **overrides: config sections to change, e.g. ``lora={"r": 4}``.

    Returns:
        An :class:`I2IMetric` in eval mode. Untrained, it scores exactly like the zero-shot prior.

    Example:
        >>> metric = create_metric("test-tiny")
        >>> metric.higher_is_better
        True
    """
    config = get_model_config(model_name, **overrides)
    base_file, base_source, tag_config = None, WeightsSource("random"), {}
    if pretrained is True:
        pretrained = config.base.default_pretrained
    if pretrained:
        base_file, base_source, tag_config = resolve_open_clip_weights(config.base.open_clip, pretrained, cache_dir)

    timm_file, timm_source = None, None
    if config.timm is not None:
        timm_source = WeightsSource("random")
        if timm_pretrained is True:
            timm_pretrained = config.timm.default_pretrained
        if timm_pretrained:
            timm_file, timm_source = resolve_timm_weights(config.timm.model, timm_pretrained, cache_dir)

    _warn_if_random(model_name, config, base_source, timm_source)
    open_clip_config = resolve_open_clip_config(config.base)
    if tag_config.get("quick_gelu"):
        open_clip_config["quick_gelu"] = True  # the tag was trained with QuickGELU
    preprocess = open_clip_preprocess(open_clip_config, tag_config, config.image_resize)
    return build_metric(
        config, open_clip_config, preprocess, base_file, base_source, timm_file, timm_source, device=device, seed=seed
    )


def _warn_if_random(model_name: str, config: MetricConfig, base_source: WeightsSource, timm_source) -> None:
    """Warn, once per model name, when a base that has real weights was built random.

    Configs without a ``default_pretrained`` (the tiny test models, ShapesCLIP before its
    pretraining) are random by design and never warn.
    """
    random = []
    if base_source.kind == "random" and config.base.default_pretrained:
        random.append(f"the OpenCLIP base (pretrained=True loads {config.base.default_pretrained!r})")
    if config.timm is not None and timm_source.kind == "random" and config.timm.default_pretrained:
        random.append(f"the timm encoder (timm_pretrained=True loads {config.timm.default_pretrained!r})")
    if not random or model_name in _WARNED_RANDOM:
        return
    _WARNED_RANDOM.add(model_name)
    warnings.warn(
        f"create_metric({model_name!r}) built {' and '.join(random)} with random weights, so its scores mean "
        "nothing. Pass pretrained=True for the default weights, or a tag, an hf-hub: id or a local file.",
        UserWarning,
        stacklevel=3,
    )


def build_metric(
    config: MetricConfig,
    open_clip_config: dict,
    preprocess: Preprocess,
    base_file: Optional[str],
    base_source: WeightsSource,
    timm_file: Optional[str] = None,
    timm_source: Optional[WeightsSource] = None,
    *,
    device: Optional[str] = None,
    seed: int = 0,
) -> I2IMetric:
    """Construct, load base weights, add LoRA, freeze the base: the shared tail of create and load."""
    # Seed every random initialisation (head, random base, LoRA's A matrices) without
    # disturbing the caller's global RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        metric = I2IMetric(config, open_clip_config, preprocess, base_source, timm_source, timm_file)
        if base_file is not None:
            metric.clip.load_weights(base_file)
        metric.prepare_for_training_mode()
    return metric.to(device or "cpu").eval()


def open_clip_preprocess(open_clip_config: dict, tag_config: dict, resize: str) -> Preprocess:
    """Preprocessing from the base's own config: size from the vision tower, statistics from the tag."""
    defaults = open_clip.transform.PreprocessCfg()
    stored = {**open_clip_config.get("preprocess_cfg", {}), **{k: v for k, v in tag_config.items() if v}}
    image_size = open_clip_config["vision_cfg"].get("image_size", defaults.size)
    size = image_size if isinstance(image_size, (list, tuple)) else (image_size, image_size)
    return Preprocess(
        size=size,
        mean=stored.get("mean", defaults.mean),
        std=stored.get("std", defaults.std),
        interpolation=stored.get("interpolation", defaults.interpolation),
        resize=resize,
    )


def load_metric(
    name_or_path: str | os.PathLike,
    device: Optional[str] = None,
    cache_dir: Optional[str] = None,
    *,
    allow_large: bool = False,
) -> I2IMetric:
    """Load a trained metric, in eval mode, on CPU unless ``device`` says otherwise.

    Args:
        name_or_path: a checkpoint folder; a registered name such as ``"demo"`` (see
            :func:`list_pretrained`); or ``"hf-hub:org/name"``, a hub repo holding such a folder.
        device: target device.
        cache_dir: the Hugging Face cache, for ``hf-hub:`` names.
        allow_large: build an architecture over :data:`i2imetric.checkpoint.MAX_PARAMETERS`
            (5 billion) too; by default its config is refused before anything is allocated.

    Returns:
        The :class:`I2IMetric`.
    """
    from .checkpoint import MAX_PARAMETERS, load_checkpoint

    limit = None if allow_large else MAX_PARAMETERS
    text = str(name_or_path)
    if Path(text).is_dir():
        return load_checkpoint(text, device=device, max_parameters=limit)
    if text.startswith("hf-hub:"):
        return load_checkpoint(_fetch_hub_checkpoint(text[len("hf-hub:"):], cache_dir), device=device, max_parameters=limit)
    registered = registered_checkpoints()
    if text in registered:
        return load_checkpoint(registered[text], device=device, max_parameters=limit)
    raise CheckpointError(
        f"{text!r} is not a checkpoint folder, an hf-hub: id, or a registered name "
        f"({', '.join(sorted(registered)) or 'none found'}); registered names are the folders of "
        f"{checkpoint_dirs_text()}"
    )


def _fetch_hub_checkpoint(repo_id: str, cache_dir: Optional[str]) -> Path:
    """Download (or find cached) the files of a checkpoint folder held in a hub repo."""
    config_path = Path(fetch_hub_file(repo_id, [CONFIG_NAME], cache_dir))
    fetch_hub_file(repo_id, [WEIGHTS_NAME], cache_dir)
    # A bundled base file (tiny bases travel with the checkpoint) sits next to the config.
    # Only what is needed to find a bundled base is read here; load_checkpoint checks the rest.
    try:
        base = json.loads(config_path.read_text(encoding="utf-8")).get("base_weights") or {}
        bundled = base.get("ref") if base.get("kind") == "file" else None
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
        raise CheckpointError(f"hf-hub:{repo_id}: {config_path} is not an i2imetric checkpoint config ({exc})") from exc
    if isinstance(bundled, str) and not Path(bundled).is_absolute():
        fetch_hub_file(repo_id, [bundled], cache_dir)
    with contextlib.suppress(BaseWeightsError):
        fetch_hub_file(repo_id, [CARD_NAME], cache_dir)  # the model card is optional
    return config_path.parent
