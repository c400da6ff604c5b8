"""The operation table: what each edit does to pixels, and how strong each magnitude is.

Every operation is one :class:`OpDef` row of :data:`OPERATIONS`. ``crop`` operations map a
region's crop to a new crop (``apply(image, value, rng)``); ``shape`` operations paint a
circle or square centred on the region's anchor, in a colour or in the colour of the
surroundings (erasing). ``levels`` gives the internal value for the magnitudes
"slightly", "default" and "a lot"; ``identity`` is the value that leaves the image as it
is, so that a weaker or stronger version of any graded edit is one formula.
Settings that depend on size (blur radius, sharpen radius, pixel grid) follow the crop,
as the canonical local edits do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from ..pixels import Size, cross_fade, gaussian_noise, short_side

__all__ = ["COLORS", "DEGREES", "OPERATIONS", "OpDef"]

DEGREES: tuple[str, ...] = ("slightly", "default", "a_lot")
_LEVEL_INDEX = {degree: index for index, degree in enumerate(DEGREES)}

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0),
    "green": (0, 200, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "orange": (255, 140, 0),
    "purple": (140, 0, 170),
}

CropOp = Callable[[Image.Image, float, np.random.Generator], Image.Image]


@dataclass(frozen=True)
class OpDef:
    family: str  # photometric | filter | geometric | drawing
    apply: CropOp | None = None  # crop operations
    shape: str | None = None  # shape operations: "circle" or "square"
    fill: str = "color"  # shape operations: "color" (draw) or "surround" (erase)
    levels: tuple[float, float, float] | None = None  # None: ungraded (flip, invert)
    identity: float = 0.0
    limits: tuple[float, float] = (0.0, 1.0)
    unit: str | None = None  # how a number is phrased: percent | degrees | pixels | factor
    from_number: Callable[[float, Size], float] | None = None  # number, crop size -> value
    numbers: tuple[float, ...] = ()  # numbers sample_spec may use
    opposite: str | None = None  # the wrong-direction operation

    @property
    def graded(self) -> bool:
        return self.levels is not None

    @property
    def degrees(self) -> tuple[str, ...]:
        return DEGREES if self.graded else ("default",)

    def level(self, degree: str) -> float:
        return self.levels[_LEVEL_INDEX[degree]] if self.levels is not None else self.identity

    def scaled(self, value: float, factor: float) -> float:
        """The value ``factor`` times as far from the identity, kept within the limits."""
        lo, hi = self.limits
        return float(min(hi, max(lo, self.identity + factor * (value - self.identity))))


# ------------------------------------------------------------------ crop operations

_SEPIA_MATRIX = (  # the classic Microsoft sepia coefficients, as in canonical.py
    0.393, 0.769, 0.189, 0.0,
    0.349, 0.686, 0.168, 0.0,
    0.272, 0.534, 0.131, 0.0,
)  # fmt: skip


def _enhance(enhancer: type) -> CropOp:
    return lambda image, value, rng: enhancer(image).enhance(value)


def _mix(operation: Callable[[Image.Image], Image.Image]) -> CropOp:
    """A full-strength operation cross-faded in by ``value`` (1: the operation itself)."""
    return lambda image, value, rng: cross_fade(image, operation(image), value)


def _grayscale(image: Image.Image) -> Image.Image:
    return image.convert("L").convert("RGB")


def _blur_base(size: Size) -> float:
    return max(2.0, 0.02 * short_side(size))


def _blur(image: Image.Image, value: float, rng: np.random.Generator) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(value * _blur_base(image.size)))


def _sharpen(image: Image.Image, value: float, rng: np.random.Generator) -> Image.Image:
    radius = max(2.0, 0.01 * short_side(image.size))
    return image.filter(ImageFilter.UnsharpMask(radius=radius, percent=round(value), threshold=0))


def _pixelate(image: Image.Image, value: float, rng: np.random.Generator) -> Image.Image:
    cells = max(1, round(1 / value))
    grid = (min(cells, image.width), min(cells, image.height))
    return image.resize(grid, Image.Resampling.BOX).resize(image.size, Image.Resampling.NEAREST)


def _channels(image: Image.Image, function: Callable[[np.ndarray], np.ndarray]) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float32)
    return Image.fromarray(np.clip(function(pixels), 0, 255).round().astype(np.uint8))


def _warmth(sign: float) -> CropOp:
    shift = np.array([1.0, 0.25, -1.0], dtype=np.float32) * sign
    return lambda image, value, rng: _channels(image, lambda p: p + value * shift)


def _gamma(image: Image.Image, value: float, rng: np.random.Generator) -> Image.Image:
    return _channels(image, lambda p: 255.0 * (p / 255.0) ** value)


def _hue_shift(image: Image.Image, value: float, rng: np.random.Generator) -> Image.Image:
    hsv = np.array(image.convert("HSV"))
    hsv[:, :, 0] = (hsv[:, :, 0].astype(np.int32) + round(value / 360 * 256)) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


def _posterize(image: Image.Image, value: float, rng: np.random.Generator) -> Image.Image:
    return ImageOps.posterize(image, max(1, min(8, round(value))))


def _zoom(image: Image.Image, value: float, rng: np.random.Generator) -> Image.Image:
    width, height = image.size
    crop_w, crop_h = max(1, round(width / value)), max(1, round(height / value))
    left, top = (width - crop_w) // 2, (height - crop_h) // 2
    return image.crop((left, top, left + crop_w, top + crop_h)).resize(image.size, Image.Resampling.BICUBIC)


def _shift(sign: int) -> CropOp:
    """Move the content sideways by ``value`` of the width; the uncovered strip repeats the edge."""

    def shift(image: Image.Image, value: float, rng: np.random.Generator) -> Image.Image:
        pixels = np.asarray(image)
        width = pixels.shape[1]
        step = min(width - 1, max(1, round(value * width))) if width > 1 else 0
        if step == 0:
            return image.copy()
        if sign > 0:  # to the right
            moved = np.concatenate([np.repeat(pixels[:, :1], step, axis=1), pixels[:, : width - step]], axis=1)
        else:
            moved = np.concatenate([pixels[:, step:], np.repeat(pixels[:, -1:], step, axis=1)], axis=1)
        return Image.fromarray(np.ascontiguousarray(moved))

    return shift


def _fixed(operation: Callable[[Image.Image], Image.Image]) -> CropOp:
    return lambda image, value, rng: operation(image)


def _percent_up(number: float, size: Size) -> float:
    return 1.0 + number / 100.0


def _percent_down(number: float, size: Size) -> float:
    return 1.0 - number / 100.0


_UP = dict(identity=1.0, unit="percent", from_number=_percent_up, numbers=(20.0, 30.0, 50.0, 80.0))
_DOWN = dict(identity=1.0, unit="percent", from_number=_percent_down, numbers=(20.0, 30.0, 50.0, 70.0))
_SHAPE = dict(levels=(0.125, 0.25, 0.4), identity=0.0, limits=(0.04, 1.0))

OPERATIONS: dict[str, OpDef] = {
    # photometric
    "brighten": OpDef("photometric", _enhance(ImageEnhance.Brightness), levels=(1.2, 1.5, 2.0), limits=(1.0, 4.0), opposite="darken", **_UP),
    "darken": OpDef("photometric", _enhance(ImageEnhance.Brightness), levels=(0.8, 0.55, 0.3), limits=(0.05, 1.0), opposite="brighten", **_DOWN),
    "contrast_up": OpDef("photometric", _enhance(ImageEnhance.Contrast), levels=(1.3, 1.8, 2.6), limits=(1.0, 5.0), opposite="contrast_down", **_UP),
    "contrast_down": OpDef("photometric", _enhance(ImageEnhance.Contrast), levels=(0.7, 0.45, 0.2), limits=(0.0, 1.0), opposite="contrast_up", **_DOWN),
    "saturate": OpDef("photometric", _enhance(ImageEnhance.Color), levels=(1.4, 2.0, 3.0), limits=(1.0, 6.0), opposite="desaturate", **_UP),
    "desaturate": OpDef("photometric", _enhance(ImageEnhance.Color), levels=(0.7, 0.4, 0.15), limits=(0.0, 1.0), opposite="saturate", **_DOWN),
    "hue_shift": OpDef("photometric", _hue_shift, levels=(25.0, 60.0, 120.0), limits=(0.0, 180.0), unit="degrees",
                       from_number=lambda number, size: number, numbers=(30.0, 45.0, 90.0, 180.0)),
    "warmer": OpDef("photometric", _warmth(1.0), levels=(15.0, 35.0, 60.0), limits=(0.0, 120.0), opposite="cooler"),
    "cooler": OpDef("photometric", _warmth(-1.0), levels=(15.0, 35.0, 60.0), limits=(0.0, 120.0), opposite="warmer"),
    "gamma_up": OpDef("photometric", _gamma, levels=(0.8, 0.6, 0.4), identity=1.0, limits=(0.15, 1.0), opposite="gamma_down"),
    "gamma_down": OpDef("photometric", _gamma, levels=(1.25, 1.7, 2.5), identity=1.0, limits=(1.0, 6.0), opposite="gamma_up"),
    "grayscale": OpDef("photometric", _mix(_grayscale), levels=(0.5, 1.0, 1.0)),
    "sepia": OpDef("photometric", _mix(lambda image: image.convert("RGB", _SEPIA_MATRIX)), levels=(0.5, 1.0, 1.0)),
    "invert": OpDef("photometric", _fixed(ImageOps.invert)),
    "posterize": OpDef("photometric", _posterize, levels=(4.0, 3.0, 2.0), identity=8.0, limits=(1.0, 8.0)),
    # filters
    "blur": OpDef("filter", _blur, levels=(0.5, 1.0, 2.5), limits=(0.0, 12.0), opposite="sharpen", unit="pixels",
                  from_number=lambda number, size: number / _blur_base(size), numbers=(2.0, 3.0, 5.0, 8.0)),
    "sharpen": OpDef("filter", _sharpen, levels=(150.0, 300.0, 600.0), limits=(0.0, 1500.0), opposite="blur"),
    "noise": OpDef("filter", lambda image, value, rng: gaussian_noise(image, value, rng), levels=(10.0, 20.0, 40.0), limits=(0.0, 100.0)),
    "pixelate": OpDef("filter", _pixelate, levels=(1 / 16, 1 / 8, 1 / 4), limits=(0.01, 1.0)),
    # geometric
    "flip_h": OpDef("geometric", _fixed(ImageOps.mirror)),
    "flip_v": OpDef("geometric", _fixed(ImageOps.flip)),
    "rotate90": OpDef("geometric", _fixed(lambda image: image.transpose(Image.Transpose.ROTATE_270)), opposite="rotate270"),
    "rotate180": OpDef("geometric", _fixed(lambda image: image.transpose(Image.Transpose.ROTATE_180))),
    "rotate270": OpDef("geometric", _fixed(lambda image: image.transpose(Image.Transpose.ROTATE_90)), opposite="rotate90"),
    "zoom_in": OpDef("geometric", _zoom, levels=(1.25, 1.6, 2.5), identity=1.0, limits=(1.0, 8.0), unit="factor",
                     from_number=lambda number, size: number, numbers=(1.5, 2.0, 3.0)),
    "shift_left": OpDef("geometric", _shift(-1), levels=(0.1, 0.25, 0.4), limits=(0.0, 0.9), opposite="shift_right",
                        unit="percent", from_number=lambda number, size: number / 100, numbers=(10.0, 20.0, 30.0)),
    "shift_right": OpDef("geometric", _shift(1), levels=(0.1, 0.25, 0.4), limits=(0.0, 0.9), opposite="shift_left",
                         unit="percent", from_number=lambda number, size: number / 100, numbers=(10.0, 20.0, 30.0)),
    # drawing and erasing; the value is the shape's side as a share of the image's short side
    "draw_circle": OpDef("drawing", shape="circle", **_SHAPE),
    "draw_square": OpDef("drawing", shape="square", **_SHAPE),
    "erase": OpDef("drawing", shape="circle", fill="surround", **_SHAPE),
}  # fmt: skip
