"""Building a metric from a model config, and loading a saved one by name or path."""

from __future__ import annotations

import os
import warnings
from typing import Optional, Union

import open_clip
import torch

from ..hub.pretrained import checkpoint_folder
from ..hub.weights import WeightsSource, resolve_open_clip_weights, resolve_timm_weights
from .config import MetricConfig, get_model_config
from .devices import check_device
from .encoders import resolve_open_clip_config
from .metric import I2IMetric, build_metric
from .precision import resolve_dtype
from .preprocess import Preprocess

__all__ = ["create_metric", "load_metric", "open_clip_preprocess"]

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
    dtype: Union[str, torch.dtype, None] = None,
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
        dtype: the towers' precision (``torch.bfloat16``, ``"float16"``, ...; default
            float32); the head stays float32. See :meth:`I2IMetric.set_precision`.
        **overrides: config sections to change, e.g. ``lora={"r": 4}``.

    Returns:
        An :class:`I2IMetric` in eval mode, its LoRA adapters separate (unmerged), ready
        to train; call :meth:`I2IMetric.merge_adapters` to score faster. Untrained, it
        scores exactly like the zero-shot prior.

    Example:
        >>> metric = create_metric("test-tiny")
        >>> metric.higher_is_better
        True
    """
    config = get_model_config(model_name, **overrides)
    # A device this machine lacks, or a bad dtype name, fails before any weights are fetched.
    device = check_device(device)
    dtype = resolve_dtype(dtype)
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
        config, open_clip_config, preprocess, base_file, base_source, timm_file, timm_source,
        device=device, seed=seed, dtype=dtype,
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
    dtype: Union[str, torch.dtype, None] = None,
    merge_adapters: bool = True,
) -> I2IMetric:
    """Load a trained metric for scoring, in eval mode, on CPU unless ``device`` says otherwise.

    Args:
        name_or_path: a checkpoint folder; a registered name such as ``"demo"`` (see
            :func:`list_pretrained`); or ``"hf-hub:org/name"``, a hub repo holding such a folder.
        device: target device.
        cache_dir: the Hugging Face cache, for ``hf-hub:`` names.
        allow_large: build an architecture over :data:`i2imetric.models.checkpoint.MAX_PARAMETERS`
            (5 billion) too; by default its config is refused before anything is allocated.
        dtype: the towers' precision: ``torch.float32`` (default), ``torch.bfloat16`` or
            ``torch.float16``, or its name; the head stays float32.
        merge_adapters: fold LoRA into the base weights (faster; scores within 1e-5).
            ``metric.unmerge_adapters()`` (or ``metric.train()``) separates them again.

    Returns:
        The :class:`I2IMetric`.
    """
    device = check_device(device)  # before anything loads: a bad one failed only after, with a raw RuntimeError
    dtype = resolve_dtype(dtype)
    folder = checkpoint_folder(name_or_path, cache_dir)
    return I2IMetric.from_pretrained(
        folder, device=device, allow_large=allow_large, dtype=dtype, merge_adapters=merge_adapters
    )
