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

import math
from dataclasses import asdict, dataclass, fields
from typing import Sequence

import torch
import torch.nn.functional as F

from ..errors import CheckpointError

__all__ = ["Preprocess"]

INTERPOLATIONS = ("bicubic", "bilinear")
RESIZES = ("squash", "letterbox")


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
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be 'bicubic' or 'bilinear', got {self.interpolation!r}")
        if self.resize not in RESIZES:
            raise ValueError(f"resize must be 'squash' or 'letterbox', got {self.resize!r}")
        # A zero std divides every pixel by zero: NaN scores, not an error, unless refused here.
        if not all(math.isfinite(s) and s > 0 for s in self.std):
            raise ValueError(f"std must be positive and finite, got {self.std}")

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
    def from_dict(cls, data: dict, where: str = "preprocess") -> "Preprocess":
        """Read preprocessing stored in a checkpoint config, checking every field.

        Args:
            data: the stored mapping (``size``, ``mean``, ``std``, ``interpolation``, ``resize``).
            where: the file and key it came from, named in errors.

        Raises:
            CheckpointError: not a mapping, an unknown or missing key, a size that is not
                two positive integers, a mean/std that is not three finite numbers (std > 0),
                or an unknown interpolation or resize mode.
        """
        if not isinstance(data, dict):
            raise CheckpointError(f"{where}: expected a mapping, got {type(data).__name__}")
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(valid))
        missing = [key for key in ("size", "mean", "std") if key not in data]
        if unknown or missing:
            raise CheckpointError(f"{where}: unknown key(s) {unknown}, missing key(s) {missing}; valid keys: {valid}")
        size = data["size"]
        sizes = size if isinstance(size, (list, tuple)) else [size, size]
        _check_numbers(sizes, 2, f"{where}.size", integer=True, positive=True)
        _check_numbers(data["mean"], 3, f"{where}.mean")
        _check_numbers(data["std"], 3, f"{where}.std", positive=True)
        for key, allowed in (("interpolation", INTERPOLATIONS), ("resize", RESIZES)):
            if key in data and data[key] not in allowed:
                raise CheckpointError(f"{where}.{key}: {data[key]!r} is not one of {list(allowed)}")
        return cls(**{**data, "size": sizes})

    def patch_coverage(self, mask: torch.Tensor, grid: tuple) -> torch.Tensor:
        """The share of each patch that a pixel mask covers, ``[gh * gw]`` in [0, 1].

        ``mask`` is ``[H, W]`` (bool or float) on the image as the user gave it, at any
        resolution: it goes through the same geometry as the pixels (squashed, or
        letterboxed with empty padding), so entry ``i`` matches patch ``i`` of the tower.
        The training loss of the per-patch map reads its targets through this.
        """
        mask = mask.float()[None]
        placed = self._letterbox_mask(mask) if self.resize == "letterbox" else self._resize_mask(mask, self.size)
        return F.adaptive_avg_pool2d(placed[None], grid)[0, 0].flatten()

    # ------------------------------------------------------------------ internals

    def _resize_mask(self, mask: torch.Tensor, size: tuple) -> torch.Tensor:
        # Area interpolation keeps shares exact where the sizes divide, and never overshoots.
        return F.interpolate(mask[None], size=size, mode="area")[0]

    def _letterbox_mask(self, mask: torch.Tensor) -> torch.Tensor:
        top, left, inner = self.letterbox_placement(*mask.shape[-2:])
        canvas = mask.new_zeros(1, *self.size)
        canvas[:, top : top + inner[0], left : left + inner[1]] = self._resize_mask(mask, inner)
        return canvas

    def letterbox_placement(self, height: int, width: int) -> tuple[int, int, tuple[int, int]]:
        """Where a ``height x width`` image lands in the letterbox: ``(top, left, (inner_h, inner_w))``."""
        target_h, target_w = self.size
        scale = min(target_h / height, target_w / width)
        inner = (max(1, round(height * scale)), max(1, round(width * scale)))
        return (target_h - inner[0]) // 2, (target_w - inner[1]) // 2, inner

    def _resize(self, image: torch.Tensor, size: tuple) -> torch.Tensor:
        if tuple(image.shape[-2:]) == size:
            return image
        resized = F.interpolate(image[None], size=size, mode=self.interpolation, antialias=True, align_corners=False)
        # Bicubic overshoots at sharp edges; keep pixels in the range the encoder was trained on.
        return resized[0].clamp_(0.0, 1.0)

    def _letterbox(self, image: torch.Tensor) -> torch.Tensor:
        top, left, inner = self.letterbox_placement(*image.shape[-2:])
        canvas = torch.tensor(self.mean, dtype=image.dtype).view(3, 1, 1).expand(3, *self.size).clone()
        canvas[:, top : top + inner[0], left : left + inner[1]] = self._resize(image, inner)
        return canvas


def _check_numbers(values, count: int, where: str, integer: bool = False, positive: bool = False) -> None:
    """Refuse anything but ``count`` finite numbers (integers, positive ones where asked)."""
    ok = isinstance(values, (list, tuple)) and len(values) == count
    for value in values if ok else []:
        ok = ok and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and (not integer or float(value).is_integer()) and (not positive or value > 0)
    if not ok:
        kind = "positive integers" if integer else ("positive finite numbers" if positive else "finite numbers")
        raise CheckpointError(f"{where}: expected {count} {kind}, got {values!r}. Re-create the checkpoint.")
