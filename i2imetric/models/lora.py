"""LoRA adapters (peft) on the encoders, and which parameters may train.

LoRA is injected in place with ``peft.inject_adapter_in_model``, so module names stay
those of the original model plus peft's ``lora_A``/``lora_B`` children: a checkpoint's
keys read like the architecture they adapt. LoRA's ``B`` starts at zero, so injecting
changes no output until training moves it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn as nn

from ..errors import ConfigError
from .config import LoraConfig

__all__ = [
    "ParameterCount",
    "inject_lora",
    "set_trainable",
    "count_parameters",
    "merge_lora",
    "unmerge_lora",
    "lora_merged",
]


@dataclass(frozen=True)
class ParameterCount:
    trainable: int
    total: int

    @property
    def fraction(self) -> float:
        return self.trainable / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"trainable {self.trainable:,} / total {self.total:,} ({100 * self.fraction:.2f}%)"


def inject_lora(clip_model: nn.Module, timm_model: nn.Module | None, config: LoraConfig) -> None:
    """Add LoRA adapters to the towers named in ``config.towers``.

    Every adapter must act on the output: each tower's regex has to match at least one
    module, and none may match an ``out_proj`` owned by an ``nn.MultiheadAttention``,
    which reads that weight directly and never calls the (adapted) module.

    Args:
        clip_model: the open_clip ``CLIP`` module (both towers live in it).
        timm_model: the timm ViT, or None.
        config: ranks, alpha, dropout and target-module regexes.

    Raises:
        ConfigError: naming the ``lora.*`` key, for a regex that matches nothing or a dead
            target, or for settings peft refuses.
    """
    from peft import LoraConfig as PeftLoraConfig
    from peft import inject_adapter_in_model

    def adapter(target_regex: str) -> PeftLoraConfig:
        return PeftLoraConfig(r=config.r, lora_alpha=config.alpha, lora_dropout=config.dropout, target_modules=target_regex)

    clip_keys = [key for tower, key in (("image", "image_targets"), ("text", "text_targets")) if tower in config.towers]
    for key in clip_keys:
        # peft matches a regex against the *full* module name, so the text tower's
        # "transformer.resblocks..." never matches "visual.transformer.resblocks...".
        _check_targets(clip_model, getattr(config, key), key)
    if clip_keys:
        regex = "|".join(f"(?:{getattr(config, key)})" for key in clip_keys)
        _inject(inject_adapter_in_model, adapter(regex), clip_model, clip_keys, config)
    if "timm" in config.towers:
        if timm_model is None:
            raise ConfigError("lora.towers includes 'timm' but the config has no timm encoder; remove it or add one")
        _check_targets(timm_model, config.timm_targets, "timm_targets")
        _inject(inject_adapter_in_model, adapter(config.timm_targets), timm_model, ["timm_targets"], config)


def _check_targets(model: nn.Module, regex: str, key: str) -> list[str]:
    """The module names ``regex`` selects, refusing none at all and dead ``out_proj`` targets."""
    names = [name for name, _ in model.named_modules() if name and re.fullmatch(regex, name)]
    if not names:
        examples = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)][:3]
        raise ConfigError(
            f"lora.{key}: {regex!r} matches no module (it must match a whole module name, e.g. {examples}); "
            "fix the regex or remove the tower from lora.towers"
        )
    dead = sorted(set(names) & _attention_out_projections(model))
    if dead:
        raise ConfigError(
            f"lora.{key}: {regex!r} puts an adapter on {dead[0]}"
            f"{f' (and {len(dead) - 1} more)' if len(dead) > 1 else ''}, the output projection of an "
            "nn.MultiheadAttention. Its forward reads out_proj.weight directly and never calls the module, "
            "so that adapter would train nothing. Remove 'attn.out_proj' from the regex (target 'attn' to "
            "adapt the attention itself)."
        )
    return names


def _attention_out_projections(model: nn.Module) -> set[str]:
    return {
        f"{name}.out_proj" if name else "out_proj"
        for name, module in model.named_modules()
        if isinstance(module, nn.MultiheadAttention)
    }


def _inject(inject, peft_config, model: nn.Module, keys: list[str], config: LoraConfig) -> None:
    try:
        inject(peft_config, model)
    except ValueError as exc:
        targets = ", ".join(f"lora.{key}" for key in keys)
        raise ConfigError(
            f"{targets} (with lora.r={config.r}, lora.alpha={config.alpha}, lora.dropout={config.dropout}): "
            f"peft refused to add the adapters: {exc}"
        ) from exc


def set_trainable(encoders: list[nn.Module], head: nn.Module, mode: str) -> None:
    """Freeze or unfreeze parameters for a training ``mode``: lora, head or full."""
    for encoder in encoders:
        for name, parameter in encoder.named_parameters():
            parameter.requires_grad_(mode == "full" or (mode == "lora" and "lora_" in name))
    for parameter in head.parameters():
        parameter.requires_grad_(True)


def count_parameters(module: nn.Module) -> ParameterCount:
    """Trainable vs total parameters of ``module``.

    Example:
        >>> str(count_parameters(nn.Linear(2, 2)))
        'trainable 6 / total 6 (100.00%)'
    """
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return ParameterCount(trainable=trainable, total=total)


# ------------------------------------------------------------------ merging for inference

# Per merged layer, the (A, B) copies its merge used: unmerging subtracts exactly that
# delta, so tensors changed while merged (a test perturbing lora_B, a load into a merged
# metric) never leave the frozen base shifted by the difference.
_MERGED_WITH = "_i2imetric_merged_with"


def _linear_lora_layers(module: nn.Module) -> list:
    """peft's LoRA ``Linear`` wrappers in ``module`` (the only kind :func:`inject_lora` creates)."""
    from peft.tuners.lora.layer import Linear as LoraLinear

    return [m for m in module.modules() if isinstance(m, LoraLinear)]


def merge_lora(module: nn.Module) -> int:
    """Fold every LoRA delta of ``module`` into its base weights (peft's ``LoraLayer.merge``).

    A merged layer's forward is its base layer alone: no adapter matmuls, same outputs up
    to float rounding. The ``lora_A``/``lora_B`` parameters stay in place, unchanged, so
    parameter names, ``requires_grad`` and saved checkpoints are the same as unmerged.
    Layers already merged are left alone.

    Returns:
        The number of layers merged by this call.
    """
    merged = 0
    with torch.no_grad():
        for layer in _linear_lora_layers(module):
            if layer.merged:
                continue
            adapters = [name for name in layer.active_adapters if name in layer.lora_A]
            setattr(
                layer,
                _MERGED_WITH,
                {name: (layer.lora_A[name].weight.detach().clone(), layer.lora_B[name].weight.detach().clone()) for name in adapters},
            )
            layer.merge(adapter_names=adapters)
            merged += 1
    return merged


def unmerge_lora(module: nn.Module) -> int:
    """Undo :func:`merge_lora`: subtract from each base weight the delta its merge added.

    The base comes back up to float rounding (one unit in the last place of the weight's
    dtype; in bfloat16 that is coarse, so unmerge before casting down, not after).

    Returns:
        The number of layers unmerged.
    """
    unmerged = 0
    with torch.no_grad():
        for layer in _linear_lora_layers(module):
            if not layer.merged:
                continue
            used = getattr(layer, _MERGED_WITH, None)
            if used is None:  # merged by someone else (peft directly): peft's own unmerge
                layer.unmerge()
            else:
                weight = layer.get_base_layer().weight
                for name in reversed(layer.merged_adapters):
                    lora_a, lora_b = used[name]
                    # The copies stay where the merge ran; the metric may have moved since.
                    delta = lora_b.to(weight.device, torch.float32) @ lora_a.to(weight.device, torch.float32)
                    if layer.fan_in_fan_out:
                        delta = delta.T
                    weight.data -= (delta * layer.scaling[name]).to(weight.dtype)
                layer.merged_adapters.clear()
                delattr(layer, _MERGED_WITH)
            unmerged += 1
    return unmerged


def lora_merged(module: nn.Module) -> bool:
    """Whether any LoRA layer of ``module`` is merged into its base weights."""
    return any(layer.merged for layer in _linear_lora_layers(module))
