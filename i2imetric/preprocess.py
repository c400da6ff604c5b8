"""Whole-image preprocessing: resize (never crop), then normalise with the base's statistics.

CLIP's usual transform resizes the short side and centre-crops, cutting off the borders of a
wide image, and with them half of "blur the left half". An edit metric must see every pixel
an edit can touch, so the whole image is resized to the encoder's input size: squashed, or
letterboxed (aspect kept, padded with the mean colour, which normalises to zero).

Size, mean, std and interpolation are never written by hand: they come from the base's
own config (open_clip's pretrained table, timm's ``pretrained_cfg``) and travel inside the
checkpoint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = ["Preprocess"]


@dataclass(frozen=True)
class Preprocess:
    """Turns a ``[3, H, W]`` float image in [0, 1] into one normalised encoder input.

    Args:
        size: ``(height, width)`` of the encoder input.
        mean, std: per-channel normalisation of the base.
        interpolation: ``"bicubic"`` or ``"bilinear"`` (antialiased either way).
        resize: ``"squash"`` or ``"letterbox"``.
    """

    size: tuple
    mean: tuple
    std: tuple
    interpolation: str = "bicubic"
    resize: str = "squash"

    def __post_init__(self):
        object.__setattr__(self, "size", tuple(int(s) for s in self.size))
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))
        if self.interpolation not in ("bicubic", "bilinear"):
            raise ValueError(f"interpolation must be 'bicubic' or 'bilinear', got {self.interpolation!r}")
        if self.resize not in ("squash", "letterbox"):
            raise ValueError(f"resize must be 'squash' or 'letterbox', got {self.resize!r}")

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        resized = self._letterbox(image) if self.resize == "letterbox" else self._resize(image, self.size)
        mean = torch.tensor(self.mean, dtype=resized.dtype).view(3, 1, 1)
        std = torch.tensor(self.std, dtype=resized.dtype).view(3, 1, 1)
        return (resized - mean) / std

    def batch(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        """Preprocess images of any sizes into one ``[N, 3, h, w]`` batch."""
        return torch.stack([self(image) for image in images])

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> "Preprocess":
        return cls(**data)

    # ------------------------------------------------------------------ internals

    def _resize(self, image: torch.Tensor, size: tuple) -> torch.Tensor:
        if tuple(image.shape[-2:]) == size:
            return image
        resized = F.interpolate(image[None], size=size, mode=self.interpolation, antialias=True, align_corners=False)
        # Bicubic overshoots at sharp edges; keep pixels in the range the encoder was trained on.
        return resized[0].clamp_(0.0, 1.0)

    def _letterbox(self, image: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[-2:]
        target_h, target_w = self.size
        scale = min(target_h / height, target_w / width)
        inner = (max(1, round(height * scale)), max(1, round(width * scale)))
        canvas = torch.tensor(self.mean, dtype=image.dtype).view(3, 1, 1).expand(3, target_h, target_w).clone()
        top, left = (target_h - inner[0]) // 2, (target_w - inner[1]) // 2
        canvas[:, top : top + inner[0], left : left + inner[1]] = self._resize(image, inner)
        return canvas
