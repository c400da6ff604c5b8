"""Carry out an :class:`~.spec.EditSpec`: the edited image and the exact mask of its footprint."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ....io.images import ImageLike, load_image
from ..pixels import Size, edit_inside, short_side
from .operations import COLORS, OpDef
from .regions import REGIONS, bounding_box, region_anchor2, region_box, region_mask
from .spec import EditSpec

__all__ = ["render"]


def render(spec: EditSpec, image: ImageLike, seed: int = 0, *, scale: float = 1.0) -> tuple[Image.Image, np.ndarray]:
    """Apply ``spec`` at the source's own resolution.

    Args:
        spec: the edit.
        image: anything :func:`i2imetric.io.images.load_image` accepts.
        seed: the randomness of random operations (noise).
        scale: how far from "no change" the magnitude goes, as a multiple of the spec's own
            (0.3: a weaker version, 2.5: a stronger one, clipped to the operation's limits);
            the under- and over-magnitude distractors use it.

    Returns:
        ``(output, mask)``: the edited RGB image and an H x W boolean array (the source's
        size) of the edit's footprint. Every pixel outside the mask equals the source
        exactly. The mask is the region (for a drawn or erased shape: the shape within
        the region); pixels inside it that the operation maps to themselves may stay as
        they were. A whole-image rotate90/rotate270 returns the rotated frame (width and
        height swapped, as the canonical rotate90 does), and its mask is the whole source.
    """
    source = load_image(image)
    row = spec.operation
    rng = np.random.default_rng(seed)
    if row.shape is not None:
        return _paint(spec, row, source, scale)
    mask = region_mask(spec.region, source.size)
    box = region_box(spec.region, source.size)
    if not spec.region.is_mask and REGIONS[spec.region.name].whole:
        return row.apply(source, _value(spec, row, source.size, scale), rng), mask
    if box is not None:
        size = (box[2] - box[0], box[3] - box[1])
        value = _value(spec, row, size, scale)
        return edit_inside(source, lambda crop: row.apply(crop, value, rng), box), mask
    # A region of any shape: run on its bounding box, keep the result inside the mask only.
    left, top, right, bottom = bounding_box(mask)
    crop = source.crop((left, top, right, bottom))
    patch = row.apply(crop, _value(spec, row, crop.size, scale), rng)
    if patch.size != crop.size:
        patch = patch.resize(crop.size, Image.Resampling.LANCZOS)
    pixels = np.array(source)
    inside = mask[top:bottom, left:right]
    pixels[top:bottom, left:right][inside] = np.asarray(patch)[inside]
    return Image.fromarray(pixels), mask


def _value(spec: EditSpec, row: OpDef, size: Size, scale: float) -> float:
    value = row.from_number(spec.amount, size) if spec.amount is not None else row.level(spec.degree)
    return value if scale == 1.0 else row.scaled(value, scale)


def shape_mask(spec: EditSpec, size: Size, scale: float = 1.0) -> np.ndarray:
    """The drawn or erased shape's pixels (before clipping to the region)."""
    side = max(1, round(_value(spec, spec.operation, size, scale) * short_side(size)))
    anchor_x2, anchor_y2 = region_anchor2(spec.region, size)
    left, top = (anchor_x2 - side) // 2, (anchor_y2 - side) // 2
    width, height = size
    cols = np.arange(width)[None, :]
    rows = np.arange(height)[:, None]
    if spec.operation.shape == "square":
        return (cols >= left) & (cols < left + side) & (rows >= top) & (rows < top + side)
    # Pixel centres inside the inscribed circle.
    return ((cols + 0.5 - anchor_x2 / 2) ** 2 + (rows + 0.5 - anchor_y2 / 2) ** 2) <= (side / 2) ** 2


def _paint(spec: EditSpec, row: OpDef, source: Image.Image, scale: float) -> tuple[Image.Image, np.ndarray]:
    shape = shape_mask(spec, source.size, scale)
    if not shape.any():  # a circle smaller than one pixel centre: paint the anchor pixel
        anchor_x2, anchor_y2 = region_anchor2(spec.region, source.size)
        shape = np.zeros_like(shape)
        shape[min(anchor_y2 // 2, source.height - 1), min(anchor_x2 // 2, source.width - 1)] = True
    mask = shape & region_mask(spec.region, source.size)
    pixels = np.array(source)
    if row.fill == "color":
        pixels[mask] = COLORS[spec.color]
    else:  # erase: fill with the mean colour of a ring around the shape
        left, top, right, bottom = bounding_box(shape)
        pad = max(1, (right - left) // 2)
        ring = np.zeros_like(shape)
        ring[max(0, top - pad) : bottom + pad, max(0, left - pad) : right + pad] = True
        ring &= ~shape
        around = pixels[ring] if ring.any() else pixels.reshape(-1, 3)
        pixels[mask] = np.asarray(around, dtype=np.float64).mean(axis=0).round().astype(np.uint8)
    return Image.fromarray(pixels), mask
