"""Distractors: plausible wrong answers to a canonical edit, each failing in one named way.

:data:`DISTRACTORS` names the kinds; :func:`make_distractor` builds one, deterministically
for a seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
from PIL import Image

from ...errors import I2IInputError
from ...io.images import ImageLike, load_image
from .canonical import CANONICAL_EDITS, LOCAL_EDIT_SPECS, WHOLE_IMAGE_OPS, check_edit_name, full_edit
from .pixels import (
    HALVES,
    Box,
    boxes_overlap,
    corner_squares,
    cross_fade,
    edit_inside,
    gaussian_noise,
    half_box,
    jpeg,
    visibly_different,
)

__all__ = ["DISTRACTORS", "make_distractor"]

DISTRACTORS: tuple[str, ...] = (
    "unchanged",
    "wrong_edit",
    "under_edit",
    "over_edit",
    "wrong_region",
    "collateral",
)


def make_distractor(image: ImageLike, edit_name: str, kind: str, seed: int = 0) -> Image.Image:
    """Return a wrong answer to the canonical edit ``edit_name``, failing in the way ``kind`` names.

    Args:
        image: the source image (anything :func:`i2imetric.io.images.load_image` accepts).
        edit_name: the instructed edit, a key of :data:`CANONICAL_EDITS`.
        kind: one of :data:`DISTRACTORS`:
            ``unchanged`` the source itself; ``wrong_edit`` another canonical edit whose
            result visibly differs from the right one; ``under_edit`` the edit at
            strength 0.3; ``over_edit`` the edit followed by heavy noise and JPEG
            quality 10; ``wrong_region`` a local edit in the opposite region or a corner,
            a global edit on one half only; ``collateral`` the right edit plus a gray
            blotch away from the edited region.
        seed: chooses among the options each kind has (which edit, region, corner,
            noise).

    Returns:
        A new RGB image.
    """
    check_edit_name(edit_name)
    if kind not in _DISTRACTOR_BUILDERS:
        raise I2IInputError(f"unknown distractor {kind!r}; valid distractors: {', '.join(DISTRACTORS)}")
    return _DISTRACTOR_BUILDERS[kind](load_image(image), edit_name, seed)


def _unchanged(source: Image.Image, edit_name: str, seed: int) -> Image.Image:
    return source.copy()


def _wrong_edit(source: Image.Image, edit_name: str, seed: int) -> Image.Image:
    """Another canonical edit whose result a viewer can tell apart from the right one.

    Candidates are screened on a thumbnail to stay cheap on large photos; the edits
    scale with the image, so the verdict carries over. On images where no
    other edit changes enough (a flat colour), the screen would reject everything, so
    the choice then falls back to all other edits.
    """
    thumbnail = source.copy()
    thumbnail.thumbnail((64, 64))
    right = full_edit(thumbnail, edit_name)
    others = [name for name in CANONICAL_EDITS if name != edit_name]
    distinct = [name for name in others if visibly_different(full_edit(thumbnail, name), right)]
    return full_edit(source, random.Random(seed).choice(distinct or others))


def _under_edit(source: Image.Image, edit_name: str, seed: int) -> Image.Image:
    return cross_fade(source, full_edit(source, edit_name), 0.3)


def _over_edit(source: Image.Image, edit_name: str, seed: int) -> Image.Image:
    noisy = gaussian_noise(full_edit(source, edit_name), sigma=40.0, rng=np.random.default_rng(seed))
    return jpeg(noisy, quality=10)


def _wrong_region(source: Image.Image, edit_name: str, seed: int) -> Image.Image:
    rng = random.Random(seed)
    if edit_name in LOCAL_EDIT_SPECS:
        spec = LOCAL_EDIT_SPECS[edit_name]
        return edit_inside(source, spec.operation, rng.choice(spec.wrong_regions(source.size)))
    half = half_box(source.size, rng.choice(HALVES))
    return edit_inside(source, WHOLE_IMAGE_OPS[edit_name], half)


def _collateral(source: Image.Image, edit_name: str, seed: int) -> Image.Image:
    """The right edit plus a gray blotch in a corner the edit did not touch."""
    edited = full_edit(source, edit_name)
    corners = corner_squares(1 / 4)(edited.size)
    if edit_name in LOCAL_EDIT_SPECS:
        region = LOCAL_EDIT_SPECS[edit_name].region(source.size)
        # On tiny images every corner touches the region; a blotch anywhere still counts.
        corners = tuple(box for box in corners if not boxes_overlap(box, region)) or corners
    return _gray_blotch(edited, random.Random(seed).choice(corners))


def _gray_blotch(image: Image.Image, box: Box) -> Image.Image:
    """Paint an elliptical gray blotch filling ``box``, dark on light content and light on
    dark, so that it stays visible whatever lies underneath."""
    pixels = np.array(image)
    left, top, right, bottom = box
    region = pixels[top:bottom, left:right]
    # Pixel centres inside the inscribed ellipse; the centre pixel is always included.
    rows = (np.arange(bottom - top) + 0.5) / (bottom - top) * 2 - 1
    cols = (np.arange(right - left) + 0.5) / (right - left) * 2 - 1
    inside = rows[:, None] ** 2 + cols[None, :] ** 2 <= 1.0
    region[inside] = 64 if region.mean() > 127 else 192
    return Image.fromarray(pixels)


_DISTRACTOR_BUILDERS: dict[str, Callable[[Image.Image, str, int], Image.Image]] = {
    "unchanged": _unchanged,
    "wrong_edit": _wrong_edit,
    "under_edit": _under_edit,
    "over_edit": _over_edit,
    "wrong_region": _wrong_region,
    "collateral": _collateral,
}
