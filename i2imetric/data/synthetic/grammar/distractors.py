"""Wrong answers built from a spec, each naming the sub-score it fails and where it is wrong.

:func:`make_distractor` builds one kind, :func:`make_distractors` every kind that applies.
A distractor is returned only when it is visibly different from the right answer
(:func:`~i2imetric.data.synthetic.pixels.visibly_different`); a kind that does not apply
to a spec (a wrong direction for a flip, a stronger grayscale than full) gives None.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from ....errors import I2IInputError
from ....io.images import ImageLike, load_image
from ..pixels import Box, differing_pixels, gaussian_noise, jpeg, short_side, square_box, visibly_different
from .near_misses import visible_near_miss
from .regions import bounding_box
from .render import render
from .spec import EditSpec

__all__ = ["DISTRACTOR_KINDS", "Distractor", "make_distractor", "make_distractors"]

# kind -> the sub-score it fails
DISTRACTOR_KINDS: dict[str, str] = {
    "wrong_operation": "instruction",
    "wrong_region": "instruction",
    "wrong_direction": "instruction",
    "under": "instruction",
    "over": "instruction",
    "partial": "instruction",
    "no_op": "instruction",
    "collateral": "preservation",
    "degraded": "quality",
}
_UNDER, _OVER = 0.3, 2.5


@dataclass(frozen=True, eq=False)
class Distractor:
    """A wrong answer.

    Attributes:
        kind: a key of :data:`DISTRACTOR_KINDS`.
        fails: the sub-score it fails: "instruction", "preservation" or "quality".
        image: the wrong output.
        mask: H x W bool, in the right answer's frame: the pixels where it differs from
            the right answer (all of them when the frames differ).
        spec: the spec it is a faithful rendering of, where one exists (wrong operation,
            region, direction), else None.
        damage: for collateral, the damaged pixels (outside the edit's mask), else None.
    """

    kind: str
    fails: str
    image: Image.Image
    mask: np.ndarray
    spec: EditSpec | None = None
    damage: np.ndarray | None = None


def make_distractors(spec: EditSpec, image: ImageLike, seed: int = 0) -> list[Distractor]:
    """Every kind of :data:`DISTRACTOR_KINDS` that applies to ``spec`` on ``image``."""
    source = load_image(image)
    right = render(spec, source, seed)
    built = (_build(kind, spec, source, right, seed) for kind in DISTRACTOR_KINDS)
    return [distractor for distractor in built if distractor is not None]


def make_distractor(spec: EditSpec, image: ImageLike, kind: str, seed: int = 0) -> Distractor | None:
    """One wrong answer of ``kind`` to ``spec``, or None where the kind does not apply."""
    if kind not in DISTRACTOR_KINDS:
        raise I2IInputError(f"unknown distractor {kind!r}; valid kinds: {', '.join(DISTRACTOR_KINDS)}")
    source = load_image(image)
    return _build(kind, spec, source, render(spec, source, seed), seed)


Right = tuple[Image.Image, np.ndarray]


def _build(kind: str, spec: EditSpec, source: Image.Image, right: Right, seed: int) -> Distractor | None:
    made = _BUILDERS[kind](spec, source, right, random.Random(f"{kind}/{seed}"), seed)
    if made is None:
        return None
    image, wrong_spec, damage = made
    if not visibly_different(image, right[0]):
        return None
    return Distractor(kind, DISTRACTOR_KINDS[kind], image, differing_pixels(image, right[0]), wrong_spec, damage)


Made = tuple[Image.Image, EditSpec | None, np.ndarray | None] | None


def _near_miss(change: str) -> Callable[..., Made]:
    """A wrong answer one respect away from the spec (:func:`visible_near_miss`), any split."""

    def build(spec, source, right, rng, seed) -> Made:
        found = visible_near_miss(spec, change, source, seed, None, rng, differ_from=[right[0]])
        return None if found is None else (found[1], found[0], None)

    return build


def _scaled(factor: float) -> Callable[..., Made]:
    def build(spec, source, right, rng, seed) -> Made:
        return (render(spec, source, seed, scale=factor)[0], None, None) if spec.operation.graded else None

    return build


def _partial(spec, source, right, rng, seed) -> Made:
    """The right edit on one half (of the mask's bounding box) of its footprint only."""
    image, mask = right
    if image.size != source.size:
        return None
    left, top, right_edge, bottom = bounding_box(mask)
    half = np.zeros_like(mask)
    side = rng.choice(("left", "right", "top", "bottom"))
    mid_x, mid_y = (left + right_edge) // 2, (top + bottom) // 2
    if side == "left":
        half[:, :mid_x] = True
    elif side == "right":
        half[:, mid_x:] = True
    elif side == "top":
        half[:mid_y] = True
    else:
        half[mid_y:] = True
    keep = mask & half
    pixels = np.array(source)
    pixels[keep] = np.asarray(image)[keep]
    return Image.fromarray(pixels), None, None


def _collateral(spec, source, right, rng, seed) -> Made:
    """The right edit plus an elliptical gray blotch where the edit has no business."""
    image, mask = right
    if image.size != source.size:
        return None
    boxes = [square_box(source.size, fraction, anchor) for fraction in (1 / 4, 1 / 6)
             for anchor in ("top_left", "top_right", "bottom_left", "bottom_right", "center")]  # fmt: skip
    boxes += _edge_boxes(source.size)
    free = [box for box in boxes if not mask[box[1] : box[3], box[0] : box[2]].any()]
    if not free:
        return None
    box = rng.choice(free)
    pixels = np.array(image)
    left, top, right_edge, bottom = box
    rows = (np.arange(bottom - top) + 0.5) / (bottom - top) * 2 - 1
    cols = (np.arange(right_edge - left) + 0.5) / (right_edge - left) * 2 - 1
    inside = rows[:, None] ** 2 + cols[None, :] ** 2 <= 1.0
    region = pixels[top:bottom, left:right_edge]
    region[inside] = 64 if region.mean() > 127 else 192
    damage = np.zeros_like(mask)
    damage[top:bottom, left:right_edge] = inside
    return Image.fromarray(pixels), None, damage


def _edge_boxes(size) -> list[Box]:
    """Squares of a sixth of the short side at the middle of each edge."""
    width, height = size
    side = max(1, round(short_side(size) / 6))
    x, y = (width - side) // 2, (height - side) // 2
    return [(x, 0, x + side, side), (x, height - side, x + side, height), (0, y, side, y + side),
            (width - side, y, width, y + side)]  # fmt: skip


def _no_op(spec, source, right, rng, seed) -> Made:
    return source.copy(), None, None


def _degraded(spec, source, right, rng, seed) -> Made:
    """The right edit, then one of a heavy blur, heavy noise or a JPEG round trip at quality 8."""
    image = right[0]
    radius = max(2.0, 0.03 * short_side(image.size))
    degradations = [
        lambda: image.filter(ImageFilter.GaussianBlur(radius)),
        lambda: gaussian_noise(image, 30.0, np.random.default_rng(seed)),
        lambda: jpeg(image, quality=8),
    ]
    rng.shuffle(degradations)
    for degrade in degradations:
        degraded = degrade()
        if visibly_different(degraded, image):
            return degraded, None, None
    return gaussian_noise(image, 60.0, np.random.default_rng(seed)), None, None


_BUILDERS: dict[str, Callable[..., Made]] = {
    "wrong_operation": _near_miss("operation"),
    "wrong_region": _near_miss("region"),
    "wrong_direction": _near_miss("opposite"),
    "under": _scaled(_UNDER),
    "over": _scaled(_OVER),
    "partial": _partial,
    "no_op": _no_op,
    "collateral": _collateral,
    "degraded": _degraded,
}

assert set(_BUILDERS) == set(DISTRACTOR_KINDS)
