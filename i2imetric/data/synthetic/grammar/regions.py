"""Where an edit applies: named regions as a table, plus explicit masks (ShapesWorld objects).

A region answers three questions for an image size: its boolean mask, its box when it is
a rectangle (rectangular regions run their operation on the crop, as the canonical local
edits do), and its *anchor*, the point a drawn or erased shape is centred on. Anchors are
given doubled (``2 * x``, ``2 * y``, in pixel-edge coordinates) so that centres stay integers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ....errors import I2IInputError
from ..pixels import Box, Size, half_box, short_side, square_box

__all__ = ["REGIONS", "Region", "region_box", "region_mask", "region_anchor2"]


def _quadrant(vertical: str, horizontal: str) -> Callable[[Size], Box]:
    def box(size: Size) -> Box:
        _, top, _, bottom = half_box(size, vertical)
        left, _, right, _ = half_box(size, horizontal)
        return (left, top, right, bottom)

    return box


def border_width(size: Size) -> int:
    return max(1, round(short_side(size) / 8))


def _border_mask(size: Size) -> np.ndarray:
    width, height = size
    band = border_width(size)
    mask = np.ones((height, width), dtype=bool)
    mask[band : height - band, band : width - band] = False
    return mask


@dataclass(frozen=True)
class RegionDef:
    """One row of the region table: a box (rectangular regions) or a mask function, and an anchor."""

    box: Callable[[Size], Box] | None = None
    mask: Callable[[Size], np.ndarray] | None = None
    anchor2: Callable[[Size], tuple[int, int]] | None = None  # None: the box's centre
    whole: bool = False  # the full frame: an operation may change the frame's shape (rotate90)


def _box_mask(box: Box, size: Size) -> np.ndarray:
    mask = np.zeros((size[1], size[0]), dtype=bool)
    mask[box[1] : box[3], box[0] : box[2]] = True
    return mask


REGIONS: dict[str, RegionDef] = {
    "whole": RegionDef(box=lambda size: (0, 0, *size), anchor2=lambda size: size, whole=True),
    "left": RegionDef(box=lambda size: half_box(size, "left")),
    "right": RegionDef(box=lambda size: half_box(size, "right")),
    "top": RegionDef(box=lambda size: half_box(size, "top")),
    "bottom": RegionDef(box=lambda size: half_box(size, "bottom")),
    "top_left": RegionDef(box=_quadrant("top", "left")),
    "top_right": RegionDef(box=_quadrant("top", "right")),
    "bottom_left": RegionDef(box=_quadrant("bottom", "left")),
    "bottom_right": RegionDef(box=_quadrant("bottom", "right")),
    # The canonical "center": a square of half the short side (pixelate_center). Its anchor
    # is the image's exact centre, which is where the canonical red square sits.
    "center": RegionDef(box=lambda size: square_box(size, 1 / 2, "center"), anchor2=lambda size: size),
    # A frame of an eighth of the short side; shapes drawn "on the border" sit on its left band.
    "border": RegionDef(mask=_border_mask, anchor2=lambda size: (border_width(size), size[1])),
}
NAMED_REGIONS: tuple[str, ...] = tuple(REGIONS)
MASK_REGION = "mask"


@dataclass(frozen=True)
class Region:
    """A region: a name from :data:`REGIONS`, or an explicit mask (``name == "mask"``).

    Explicit masks are the hook for ShapesWorld objects ("the red star"): build one with
    :meth:`from_mask` and a label, which the phrase generator uses as the region's noun
    phrase. The mask is stored packed so that the region (and every spec holding it) stays
    hashable; it applies only to images of its own size.
    """

    name: str = "whole"
    label: str | None = None
    mask_shape: tuple[int, int] | None = field(default=None, repr=False)
    mask_bits: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.name == MASK_REGION:
            if self.mask_shape is None or self.mask_bits is None or not self.label:
                raise I2IInputError("a mask region needs a mask and a label; use Region.from_mask")
        elif self.name not in REGIONS:
            raise I2IInputError(f"unknown region {self.name!r}; valid regions: {', '.join(REGIONS)}")

    @classmethod
    def from_mask(cls, mask: np.ndarray, label: str) -> Region:
        """A region covering ``mask`` (H x W, truthy inside), named ``label`` ("the red star")."""
        mask = np.asarray(mask, dtype=bool)
        if mask.ndim != 2 or not mask.any():
            raise I2IInputError("a region mask must be a non-empty H x W array")
        return cls(MASK_REGION, label, (int(mask.shape[0]), int(mask.shape[1])), np.packbits(mask).tobytes())

    @property
    def is_mask(self) -> bool:
        return self.name == MASK_REGION

    def explicit_mask(self) -> np.ndarray:
        assert self.mask_shape is not None and self.mask_bits is not None
        count = self.mask_shape[0] * self.mask_shape[1]
        bits = np.unpackbits(np.frombuffer(self.mask_bits, dtype=np.uint8), count=count)
        return bits.astype(bool).reshape(self.mask_shape)


def region_mask(region: Region, size: Size) -> np.ndarray:
    """The region's H x W boolean mask on an image of ``size`` (width, height)."""
    if region.is_mask:
        mask = region.explicit_mask()
        if mask.shape != (size[1], size[0]):
            raise I2IInputError(f"region mask is {mask.shape[1]}x{mask.shape[0]}, image is {size[0]}x{size[1]}")
        return mask
    row = REGIONS[region.name]
    return row.mask(size) if row.mask is not None else _box_mask(row.box(size), size)


def region_box(region: Region, size: Size) -> Box | None:
    """The region's box when it is a rectangle, else None."""
    if region.is_mask:
        return None
    row = REGIONS[region.name]
    return row.box(size) if row.box is not None else None


def bounding_box(mask: np.ndarray) -> Box:
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def region_anchor2(region: Region, size: Size) -> tuple[int, int]:
    """Twice the point a shape drawn in the region is centred on."""
    row = None if region.is_mask else REGIONS[region.name]
    if row is not None and row.anchor2 is not None:
        return tuple(row.anchor2(size))
    box = region_box(region, size) or bounding_box(region_mask(region, size))
    return (box[0] + box[2], box[1] + box[3])
