"""The canonical edits: an instruction and the one image that follows it exactly.

:data:`CANONICAL_EDITS` maps each edit's name to its instruction; :func:`apply_edit`
carries it out. Whole-image edits (:data:`GLOBAL_EDITS`) run on the full frame, local
ones (:data:`LOCAL_EDITS`) on one region. :func:`full_edit`, :data:`WHOLE_IMAGE_OPS` and
:data:`LOCAL_EDIT_SPECS` are what the distractors build their wrong answers from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from ...errors import I2IInputError
from ...io.images import ImageLike, load_image
from .pixels import Box, Operation, Size, corner_squares, cross_fade, edit_inside, half_box, short_side, square_box

__all__ = ["CANONICAL_EDITS", "GLOBAL_EDITS", "LOCAL_EDITS", "apply_edit"]

CANONICAL_EDITS: dict[str, str] = {
    "grayscale": "make it black and white",
    "invert": "invert the colors",
    "brighten": "make it brighter",
    "darken": "make it darker",
    "contrast": "increase the contrast",
    "blur": "blur the image",
    "sharpen": "sharpen the image",
    "flip_h": "flip it horizontally",
    "flip_v": "flip it upside down",
    "rotate90": "rotate it 90 degrees clockwise",
    "sepia": "give it a sepia tone",
    "saturate": "make the colors more vivid",
    "blur_left_half": "blur the left half",
    "grayscale_top_half": "make the top half black and white",
    "pixelate_center": "pixelate the center",
    "red_square_center": "draw a red square in the middle",
}

# ------------------------------------------------------------------ whole-image edits

_SEPIA_MATRIX = (  # the classic Microsoft sepia coefficients, one row per output channel
    0.393, 0.769, 0.189, 0.0,
    0.349, 0.686, 0.168, 0.0,
    0.272, 0.534, 0.131, 0.0,
)  # fmt: skip
_PIXELATE_GRID = 8
_PURE_RED = (255, 0, 0)


def _grayscale(image: Image.Image) -> Image.Image:
    # PIL's "L" conversion is the ITU-R 601 luma, copied back into all three channels.
    return image.convert("L").convert("RGB")


def _blur(image: Image.Image) -> Image.Image:
    radius = max(2.0, 0.02 * short_side(image.size))
    return image.filter(ImageFilter.GaussianBlur(radius))


def _sharpen(image: Image.Image) -> Image.Image:
    # Radius scales with the image so the halo is equally visible at any resolution.
    radius = max(2.0, 0.01 * short_side(image.size))
    return image.filter(ImageFilter.UnsharpMask(radius=radius, percent=300, threshold=0))


def _pixelate(image: Image.Image) -> Image.Image:
    grid = (min(_PIXELATE_GRID, image.width), min(_PIXELATE_GRID, image.height))
    return image.resize(grid, Image.Resampling.BOX).resize(image.size, Image.Resampling.NEAREST)


def _fill_red(image: Image.Image) -> Image.Image:
    return Image.new("RGB", image.size, _PURE_RED)


WHOLE_IMAGE_OPS: dict[str, Operation] = {
    "grayscale": _grayscale,
    "invert": ImageOps.invert,
    "brighten": lambda image: ImageEnhance.Brightness(image).enhance(1.5),
    "darken": lambda image: ImageEnhance.Brightness(image).enhance(0.55),
    "contrast": lambda image: ImageEnhance.Contrast(image).enhance(1.8),
    "blur": _blur,
    "sharpen": _sharpen,
    "flip_h": ImageOps.mirror,
    "flip_v": ImageOps.flip,
    "rotate90": lambda image: image.transpose(Image.Transpose.ROTATE_270),  # PIL turns counter-clockwise
    "sepia": lambda image: image.convert("RGB", _SEPIA_MATRIX),
    "saturate": lambda image: ImageEnhance.Color(image).enhance(2.0),
}

# ------------------------------------------------------------------------ local edits


@dataclass(frozen=True)
class LocalEdit:
    """An operation confined to a region, plus the regions a wrong-region answer uses."""

    operation: Operation
    region: Callable[[Size], Box]
    wrong_regions: Callable[[Size], tuple[Box, ...]]


# Local edits run their operation on the region's crop, so size-relative settings (blur
# radius, the 8x8 pixel grid) follow the region. A same-size corner square overlaps the
# central one by a quarter at most: most of a misplaced pixelation still lands elsewhere.
LOCAL_EDIT_SPECS: dict[str, LocalEdit] = {
    "blur_left_half": LocalEdit(
        _blur, lambda size: half_box(size, "left"), lambda size: (half_box(size, "right"),)
    ),
    "grayscale_top_half": LocalEdit(
        _grayscale, lambda size: half_box(size, "top"), lambda size: (half_box(size, "bottom"),)
    ),
    "pixelate_center": LocalEdit(
        _pixelate, lambda size: square_box(size, 1 / 2, "center"), corner_squares(1 / 2)
    ),
    "red_square_center": LocalEdit(
        _fill_red, lambda size: square_box(size, 1 / 4, "center"), corner_squares(1 / 4)
    ),
}

LOCAL_EDITS: frozenset[str] = frozenset(LOCAL_EDIT_SPECS)
GLOBAL_EDITS: frozenset[str] = frozenset(WHOLE_IMAGE_OPS)

# ---------------------------------------------------------------------------- public


def apply_edit(image: ImageLike, name: str, strength: float = 1.0, seed: int = 0) -> Image.Image:
    """Return the result of the canonical edit ``name``.

    Args:
        image: any image :func:`i2imetric.io.images.load_image` accepts; alpha is composited
            on white.
        name: a key of :data:`CANONICAL_EDITS`.
        strength: in [0, 1]; cross-fades the source (0) into the full edit (1). This is a
            cross-fade for flips and rotations too. rotate90 always returns the rotated
            frame (width and height swapped), so on non-square images its strength-0 end
            is the source resized into that frame.
        seed: accepted so edits, distractors and distortions share one calling
            convention; canonical edits contain no randomness, so it has no effect.

    Returns:
        A new RGB image, the size of the source except for rotate90.
    """
    check_edit_name(name)
    if not 0.0 <= strength <= 1.0:
        raise I2IInputError(f"strength must lie in [0, 1], got {strength}")
    source = load_image(image)
    return cross_fade(source, full_edit(source, name), strength)


def check_edit_name(name: str) -> None:
    if name not in CANONICAL_EDITS:
        raise I2IInputError(f"unknown edit {name!r}; valid edits: {', '.join(CANONICAL_EDITS)}")


def full_edit(source: Image.Image, name: str) -> Image.Image:
    """The edit ``name`` at full strength on an RGB image (``name`` already checked)."""
    if name in LOCAL_EDIT_SPECS:
        spec = LOCAL_EDIT_SPECS[name]
        return edit_inside(source, spec.operation, spec.region(source.size))
    return WHOLE_IMAGE_OPS[name](source)
