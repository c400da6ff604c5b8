"""ShapesWorld rendering: :func:`render` is a pure function of a :class:`~.scenes.Scene`."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from ....errors import I2IInputError
from .scenes import CELLS, COLORS, Scene, ShapeObject

__all__ = ["render"]

_SIZE_SHARE = {"small": 0.5, "large": 0.85}  # object side as a share of its cell's side
_SUPERSAMPLE = 4  # draw this many times larger, then downsample: anti-aliased edges
_MIN_RENDER_SIZE = 32


def cell_box(cell: str, side: int) -> tuple[int, int, int, int]:
    row, col = divmod(CELLS.index(cell), 3)
    return (col * side // 3, row * side // 3, (col + 1) * side // 3, (row + 1) * side // 3)


def _background(style: str, side: int) -> Image.Image:
    light, dark = 236, 212  # low contrast keeps textured backgrounds behind the objects
    rows, cols = np.mgrid[0:side, 0:side]
    period = max(1, side // 8)
    pattern = {
        "plain": np.zeros((side, side), dtype=bool),
        "checkered": (rows // period + cols // period) % 2 == 1,
        "striped": (rows + cols) // period % 2 == 1,
    }[style]
    gray = np.where(pattern, dark, light).astype(np.uint8)
    return Image.fromarray(np.stack([gray] * 3, axis=-1))


def _star_points(cx: float, cy: float, radius: float) -> list[tuple[float, float]]:
    """Five outer and five inner vertices, first point up."""
    points = []
    for k in range(10):
        r = radius if k % 2 == 0 else 0.42 * radius
        angle = -np.pi / 2 + k * np.pi / 5
        points.append((cx + r * np.cos(angle), cy + r * np.sin(angle)))
    return points


def _draw_object(draw: ImageDraw.ImageDraw, obj: ShapeObject, side: int) -> None:
    left, top, right, bottom = cell_box(obj.cell, side)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    half = _SIZE_SHARE[obj.size] * (right - left) / 2
    x0, y0, x1, y1 = cx - half, cy - half, cx + half, cy + half
    fill = COLORS[obj.color]
    if obj.shape == "circle":
        draw.ellipse((x0, y0, x1, y1), fill=fill)
    elif obj.shape == "square":
        draw.rectangle((x0, y0, x1, y1), fill=fill)
    elif obj.shape == "triangle":
        draw.polygon([(cx, y0), (x1, y1), (x0, y1)], fill=fill)
    elif obj.shape == "star":
        draw.polygon(_star_points(cx, cy, half), fill=fill)
    else:  # cross: two bars a third of the object wide
        bar = half / 3
        draw.rectangle((x0, cy - bar, x1, cy + bar), fill=fill)
        draw.rectangle((cx - bar, y0, cx + bar, y1), fill=fill)


def render(scene: Scene, size: int = 64) -> Image.Image:
    """Draw ``scene`` as a ``size`` x ``size`` RGB image (anti-aliased, deterministic).

    Args:
        scene: what to draw.
        size: side in pixels, at least 32; 64 to 224 is the intended range.

    Returns:
        A new RGB image.
    """
    if size < _MIN_RENDER_SIZE:
        raise I2IInputError(f"render size must be at least {_MIN_RENDER_SIZE} px, got {size}")
    side = size * _SUPERSAMPLE
    canvas = _background(scene.background, side)
    draw = ImageDraw.Draw(canvas)
    for obj in scene.objects:
        _draw_object(draw, obj, side)
    return canvas.resize((size, size), Image.Resampling.LANCZOS)
