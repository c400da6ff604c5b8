"""LoRA adapters (peft) on the encoders, and which parameters may train.

LoRA is injected in place with ``peft.inject_adapter_in_model``, so module names stay
those of the original model plus peft's ``lora_A``/``lora_B`` children: a checkpoint's
keys read like the architecture they adapt. LoRA's ``B`` starts at zero, so injecting
changes no output until training moves it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from .config import LoraConfig

__all__ = ["ParameterCount", "inject_lora", "set_trainable", "count_parameters"]


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

    Args:
        clip_model: the open_clip ``CLIP`` module (both towers live in it).
        timm_model: the timm ViT, or None.
        config: ranks, alpha, dropout and target-module regexes.
    """
    from peft import LoraConfig as PeftLoraConfig
    from peft import inject_adapter_in_model

    def adapter(target_regex: str) -> PeftLoraConfig:
        return PeftLoraConfig(r=config.r, lora_alpha=config.alpha, lora_dropout=config.dropout, target_modules=target_regex)

    clip_targets = []
    if "image" in config.towers:
        clip_targets.append(config.image_targets)
    if "text" in config.towers:
        # peft matches a regex against the *full* module name, so the text tower's
        # "transformer.resblocks..." never matches "visual.transformer.resblocks...".
        clip_targets.append(config.text_targets)
    if clip_targets:
        inject_adapter_in_model(adapter("|".join(f"(?:{t})" for t in clip_targets)), clip_model)
    if "timm" in config.towers:
        if timm_model is None:
            raise ValueError("lora.towers includes 'timm' but the config has no timm encoder")
        inject_adapter_in_model(adapter(config.timm_targets), timm_model)


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
