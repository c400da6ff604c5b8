"""Pixel primitives shared by the synthetic edits, distractors and distortions.

Regions (halves, squares, corners) in PIL's box convention, confining an operation to a
region, cross-fading, Gaussian noise, JPEG round trips, the "visibly different" test,
and :func:`shrink_to`, the one "longer side at most N" downscale that the package and
the trainer use. All work on RGB images down to 1x1 pixel.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image

__all__ = ["differing_pixels", "shrink_to", "visibly_different"]

Box = tuple[int, int, int, int]  # left, upper, right, lower: PIL's crop convention
Size = tuple[int, int]  # width, height
Operation = Callable[[Image.Image], Image.Image]

# Two images count as visibly different when at least this share of pixels moved by more
# than this much in some channel. A share (not a mean) lets small local changes count,
# down to half of a small ShapesWorld star (about 0.4% of the image), while JPEG-level
# jitter does not.
_VISIBLE_PIXEL_CHANGE = 24
_VISIBLE_PIXEL_SHARE = 0.002

HALVES = ("left", "right", "top", "bottom")
CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")


def shrink_to(
    image: Image.Image, max_side: int | None, resample: Image.Resampling = Image.Resampling.LANCZOS
) -> Image.Image:
    """Downscale (never upscale) so the longer side is at most ``max_side``.

    A cap on the longer side bounds every image's pixel count, panoramas included; each
    side keeps at least one pixel. An image already small enough, or ``max_side=None``,
    returns ``image`` itself (not a copy).

    Args:
        image: the image to shrink.
        max_side: the most pixels the longer side may have; None for no cap.
        resample: PIL's resampling filter. LANCZOS by default; the trainer passes
            BICUBIC so that the data the shipped scorers were trained and validated on
            stays as it was.
    """
    if max_side is None or max(image.size) <= max_side:
        return image
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, resample)


def short_side(size: Size) -> int:
    return min(size)


def half_box(size: Size, side: str) -> Box:
    """The named half of the image; on odd sizes both halves share the middle line,
    so that even a 1-pixel-wide image has a non-empty left and right half."""
    width, height = size
    half_w, half_h = -(-width // 2), -(-height // 2)
    return {
        "left": (0, 0, half_w, height),
        "right": (width - half_w, 0, width, height),
        "top": (0, 0, width, half_h),
        "bottom": (0, height - half_h, width, height),
    }[side]


def square_box(size: Size, fraction: float, anchor: str) -> Box:
    """A square of ``fraction`` of the short side (at least 1 px), centred or in a corner."""
    width, height = size
    side = max(1, round(fraction * short_side(size)))
    if anchor == "center":
        left, top = (width - side) // 2, (height - side) // 2
    else:
        left = 0 if anchor.endswith("left") else width - side
        top = 0 if anchor.startswith("top") else height - side
    return (left, top, left + side, top + side)


def corner_squares(fraction: float) -> Callable[[Size], tuple[Box, ...]]:
    return lambda size: tuple(square_box(size, fraction, corner) for corner in CORNERS)


def boxes_overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def edit_inside(image: Image.Image, operation: Operation, box: Box) -> Image.Image:
    """Apply ``operation`` to the ``box`` region only, leaving the rest untouched.

    A frame-changing operation (rotate90 on a non-square region) is fitted back into the
    region, because the region's place in the image cannot change shape.
    """
    region = image.crop(box)
    patch = operation(region)
    if patch.size != region.size:
        patch = patch.resize(region.size, Image.Resampling.LANCZOS)
    edited = image.copy()
    edited.paste(patch, box[:2])
    return edited


def cross_fade(source: Image.Image, edited: Image.Image, strength: float) -> Image.Image:
    if strength == 1.0:  # nothing to blend (and, for rotate90, no source to resize)
        return edited
    if source.size != edited.size:
        source = source.resize(edited.size, Image.Resampling.LANCZOS)
    return Image.blend(source, edited, strength)


def gaussian_noise(image: Image.Image, sigma: float, rng: np.random.Generator) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float32)
    noisy = pixels + rng.normal(0.0, sigma, size=pixels.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).round().astype(np.uint8))


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def differing_pixels(image: Image.Image, reference: Image.Image) -> np.ndarray:
    """Where ``image`` is wrong against ``reference``: an H x W bool mask in the reference's frame.

    Every pixel differs when the frames differ (a quarter turn of the whole image).
    """
    if image.size != reference.size:
        return np.ones((reference.height, reference.width), dtype=bool)
    return (np.asarray(image) != np.asarray(reference)).any(axis=2)


def visibly_different(a: Image.Image, b: Image.Image) -> bool:
    """Whether a viewer would notice a difference between two RGB images.

    Images of different sizes always differ. Otherwise at least 0.2% of the pixels must
    change by more than 24/255 in some channel.
    """
    if a.size != b.size:
        return True
    change = np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).max(axis=2)
    return float((change > _VISIBLE_PIXEL_CHANGE).mean()) >= _VISIBLE_PIXEL_SHARE
