"""What the metric hands back: encoded images, batch outputs, explanations, calibration.

Leaf types with no model code, so the checkpoint format, the evaluation engine and users'
type hints can name them without importing the metric.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional, Sequence

import torch

from .config import CALIBRATED_MEANING, SUBSCORE_NAMES

__all__ = ["SUBSCORE_NAMES", "CALIBRATED_MEANING", "ImageFeatures", "TextFeatures", "MetricOutput", "Explanation",
           "Calibration"]


@dataclass
class ImageFeatures:
    """Encoded images: pooled ``g [N, D]``, patches ``[N, L, D]``, optional timm patches and
    per-patch pixel statistics ``[N, L, 6]`` (:func:`~i2imetric.models.encoders.patch_pixel_stats`)."""

    pooled: torch.Tensor
    patches: torch.Tensor
    timm_patches: Optional[torch.Tensor] = None
    pixel_stats: Optional[torch.Tensor] = None

    def tensors(self) -> tuple[torch.Tensor, ...]:
        """The tensors present, in field order."""
        return tuple(t for t in self._values() if t is not None)

    def map(self, fn) -> "ImageFeatures":
        """The same features with ``fn`` applied to each tensor present (cast, clone, index)."""
        return ImageFeatures(*(fn(t) if t is not None else None for t in self._values()))

    def select(self, index) -> "ImageFeatures":
        return self.map(lambda t: t[index])

    @staticmethod
    def cat(parts: Sequence["ImageFeatures"]) -> "ImageFeatures":
        columns = zip(*(part._values() for part in parts))
        return ImageFeatures(*(torch.cat(values) if values[0] is not None else None for values in columns))

    def _values(self) -> tuple[Optional[torch.Tensor], ...]:
        return tuple(getattr(self, field.name) for field in fields(self))


@dataclass
class TextFeatures:
    """Encoded instructions: pooled ``t [N, D]`` and, for a head that reads words, the tokens.

    ``tokens [N, C, D]`` are the text tower's per-token outputs in the joint space and
    ``mask [N, C]`` marks the real ones; both are None when the head uses ``t`` alone.
    Batches of different lengths are padded to the longest on :meth:`cat`.
    """

    pooled: torch.Tensor
    tokens: Optional[torch.Tensor] = None
    mask: Optional[torch.Tensor] = None

    def select(self, index) -> "TextFeatures":
        if self.tokens is None:
            return TextFeatures(self.pooled[index])
        return TextFeatures(self.pooled[index], self.tokens[index], self.mask[index])

    def to(self, dtype: torch.dtype) -> "TextFeatures":
        tokens = self.tokens.to(dtype) if self.tokens is not None else None
        return TextFeatures(self.pooled.to(dtype), tokens, self.mask)

    def clone(self) -> "TextFeatures":
        if self.tokens is None:
            return TextFeatures(self.pooled.clone())
        return TextFeatures(self.pooled.clone(), self.tokens.clone(), self.mask.clone())

    @staticmethod
    def cat(parts: Sequence["TextFeatures"]) -> "TextFeatures":
        pooled = torch.cat([p.pooled for p in parts])
        if parts[0].tokens is None:
            return TextFeatures(pooled)
        length = max(p.tokens.shape[1] for p in parts)
        tokens = torch.cat([_pad_tokens(p.tokens, length, 0.0) for p in parts])
        mask = torch.cat([_pad_tokens(p.mask, length, False) for p in parts])
        return TextFeatures(pooled, tokens, mask)


def _pad_tokens(x: torch.Tensor, length: int, value) -> torch.Tensor:
    """``x`` padded along dim 1 (tokens) to ``length`` with ``value``."""
    if x.shape[1] == length:
        return x
    shape = list(x.shape)
    shape[1] = length - x.shape[1]
    return torch.cat([x, x.new_full(shape, value)], dim=1)


@dataclass
class MetricOutput:
    """Everything the metric says about a batch of N triplets."""

    score: torch.Tensor  # [N] logits, higher is better
    subscores: torch.Tensor  # [N, 3] in SUBSCORE_NAMES order
    patch_map: torch.Tensor  # [N, L]: > 0 where the edit helped, < 0 where it hurt
    latent: torch.Tensor  # [N, latent_dim]: the joint latent z
    prior_score: torch.Tensor  # [N]: the zero-shot prior alone


@dataclass
class Explanation:
    """Why one triplet got its score."""

    score: float  # the raw logit: higher is better, differences are Bradley-Terry log-odds
    subscores: dict
    patch_map: torch.Tensor  # [gh, gw] on the patch grid
    calibrated: Optional[float] = None  # in [0, 1] (see CALIBRATED_MEANING); None without a calibration


@dataclass
class Calibration:
    """Platt scaling of the logit to [0, 1]: ``sigmoid(slope * score + intercept)``."""

    slope: float = 1.0
    intercept: float = 0.0

    def __call__(self, score: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.slope * score + self.intercept)
