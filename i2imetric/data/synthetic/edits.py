"""Image operations with a known right answer, for building training and test pairs.

Three families live here because they share the same pixel primitives:

* canonical edits (:data:`CANONICAL_EDITS`, :func:`apply_edit`): an instruction and the
  one image that follows it exactly;
* distractors (:data:`DISTRACTORS`, :func:`make_distractor`): plausible wrong answers to
  such an instruction, each failing in one named way;
* quality distortions (:data:`QUALITY_DISTORTIONS`, :func:`apply_distortion`):
  instruction-free degradations with graded severities, for BAPPS-style 2AFC.

Every function accepts anything :func:`i2imetric.io.images.load_image` accepts (any PIL
mode, paths, arrays), works on images down to 1x1 pixel, and is deterministic for a seed.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps
from scipy import ndimage

from ...errors import I2IInputError
from ...io.images import ImageLike, load_image

__all__ = [
    "CANONICAL_EDITS",
    "DISTRACTORS",
    "GLOBAL_EDITS",
    "LOCAL_EDITS",
    "MAX_SEVERITY",
    "QUALITY_DISTORTIONS",
    "apply_distortion",
    "apply_edit",
    "make_distractor",
    "visibly_different",
]

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

DISTRACTORS: tuple[str, ...] = (
    "unchanged",
    "wrong_edit",
    "under_edit",
    "over_edit",
    "wrong_region",
    "collateral",
)

QUALITY_DISTORTIONS: tuple[str, ...] = ("noise", "jpeg", "blur", "color_shift", "warp")
MAX_SEVERITY = 5

# Two images count as visibly different when at least this share of pixels moved by more
# than this much in some channel. A share (not a mean) lets small local changes count,
# down to half of a small ShapesWorld star (about 0.4% of the image), while JPEG-level
# jitter does not.
_VISIBLE_PIXEL_CHANGE = 24
_VISIBLE_PIXEL_SHARE = 0.002

Box = tuple[int, int, int, int]  # left, upper, right, lower: PIL's crop convention
Size = tuple[int, int]  # width, height
Operation = Callable[[Image.Image], Image.Image]

# ------------------------------------------------------------------ whole-image edits

_SEPIA_MATRIX = (  # the classic Microsoft sepia coefficients, one row per output channel
    0.393, 0.769, 0.189, 0.0,
    0.349, 0.686, 0.168, 0.0,
    0.272, 0.534, 0.131, 0.0,
)  # fmt: skip
_PIXELATE_GRID = 8
_PURE_RED = (255, 0, 0)


def _short_side(size: Size) -> int:
    return min(size)


def _grayscale(image: Image.Image) -> Image.Image:
    # PIL's "L" conversion is the ITU-R 601 luma, copied back into all three channels.
    return image.convert("L").convert("RGB")


def _blur(image: Image.Image) -> Image.Image:
    radius = max(2.0, 0.02 * _short_side(image.size))
    return image.filter(ImageFilter.GaussianBlur(radius))


def _sharpen(image: Image.Image) -> Image.Image:
    # Radius scales with the image so the halo is equally visible at any resolution.
    radius = max(2.0, 0.01 * _short_side(image.size))
    return image.filter(ImageFilter.UnsharpMask(radius=radius, percent=300, threshold=0))


def _pixelate(image: Image.Image) -> Image.Image:
    grid = (min(_PIXELATE_GRID, image.width), min(_PIXELATE_GRID, image.height))
    return image.resize(grid, Image.Resampling.BOX).resize(image.size, Image.Resampling.NEAREST)


def _fill_red(image: Image.Image) -> Image.Image:
    return Image.new("RGB", image.size, _PURE_RED)


_WHOLE_IMAGE_OPS: dict[str, Operation] = {
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

# ------------------------------------------------------------------------- regions

_HALVES = ("left", "right", "top", "bottom")
_CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")


def _half_box(size: Size, side: str) -> Box:
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


def _square_box(size: Size, fraction: float, anchor: str) -> Box:
    """A square of ``fraction`` of the short side (at least 1 px), centred or in a corner."""
    width, height = size
    side = max(1, round(fraction * _short_side(size)))
    if anchor == "center":
        left, top = (width - side) // 2, (height - side) // 2
    else:
        left = 0 if anchor.endswith("left") else width - side
        top = 0 if anchor.startswith("top") else height - side
    return (left, top, left + side, top + side)


def _edit_inside(image: Image.Image, operation: Operation, box: Box) -> Image.Image:
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


def _boxes_overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@dataclass(frozen=True)
class _LocalEdit:
    """An operation confined to a region, plus the regions a wrong-region answer uses."""

    operation: Operation
    region: Callable[[Size], Box]
    wrong_regions: Callable[[Size], tuple[Box, ...]]


def _corner_squares(fraction: float) -> Callable[[Size], tuple[Box, ...]]:
    return lambda size: tuple(_square_box(size, fraction, corner) for corner in _CORNERS)


# Local edits run their operation on the region's crop, so size-relative settings (blur
# radius, the 8x8 pixel grid) follow the region. A same-size corner square overlaps the
# central one by a quarter at most: most of a misplaced pixelation still lands elsewhere.
_LOCAL_EDIT_SPECS: dict[str, _LocalEdit] = {
    "blur_left_half": _LocalEdit(
        _blur, lambda size: _half_box(size, "left"), lambda size: (_half_box(size, "right"),)
    ),
    "grayscale_top_half": _LocalEdit(
        _grayscale, lambda size: _half_box(size, "top"), lambda size: (_half_box(size, "bottom"),)
    ),
    "pixelate_center": _LocalEdit(
        _pixelate, lambda size: _square_box(size, 1 / 2, "center"), _corner_squares(1 / 2)
    ),
    "red_square_center": _LocalEdit(
        _fill_red, lambda size: _square_box(size, 1 / 4, "center"), _corner_squares(1 / 4)
    ),
}

LOCAL_EDITS: frozenset[str] = frozenset(_LOCAL_EDIT_SPECS)
GLOBAL_EDITS: frozenset[str] = frozenset(_WHOLE_IMAGE_OPS)

# -------------------------------------------------------------------- public: edits


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
    _check_edit_name(name)
    if not 0.0 <= strength <= 1.0:
        raise I2IInputError(f"strength must lie in [0, 1], got {strength}")
    source = load_image(image)
    return _cross_fade(source, _full_edit(source, name), strength)


def _check_edit_name(name: str) -> None:
    if name not in CANONICAL_EDITS:
        raise I2IInputError(f"unknown edit {name!r}; valid edits: {', '.join(CANONICAL_EDITS)}")


def _full_edit(source: Image.Image, name: str) -> Image.Image:
    if name in _LOCAL_EDIT_SPECS:
        spec = _LOCAL_EDIT_SPECS[name]
        return _edit_inside(source, spec.operation, spec.region(source.size))
    return _WHOLE_IMAGE_OPS[name](source)


def _cross_fade(source: Image.Image, edited: Image.Image, strength: float) -> Image.Image:
    if strength == 1.0:  # nothing to blend (and, for rotate90, no source to resize)
        return edited
    if source.size != edited.size:
        source = source.resize(edited.size, Image.Resampling.LANCZOS)
    return Image.blend(source, edited, strength)


def visibly_different(a: Image.Image, b: Image.Image) -> bool:
    """Whether a viewer would notice a difference between two RGB images.

    Images of different sizes always differ. Otherwise at least 0.2% of the pixels must
    change by more than 24/255 in some channel.
    """
    if a.size != b.size:
        return True
    change = np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).max(axis=2)
    return float((change > _VISIBLE_PIXEL_CHANGE).mean()) >= _VISIBLE_PIXEL_SHARE


# --------------------------------------------------------------- public: distractors


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
    _check_edit_name(edit_name)
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
    right = _full_edit(thumbnail, edit_name)
    others = [name for name in CANONICAL_EDITS if name != edit_name]
    distinct = [name for name in others if visibly_different(_full_edit(thumbnail, name), right)]
    return _full_edit(source, random.Random(seed).choice(distinct or others))


def _under_edit(source: Image.Image, edit_name: str, seed: int) -> Image.Image:
    return _cross_fade(source, _full_edit(source, edit_name), 0.3)


def _over_edit(source: Image.Image, edit_name: str, seed: int) -> Image.Image:
    noisy = _gaussian_noise(_full_edit(source, edit_name), sigma=40.0, rng=np.random.default_rng(seed))
    return _jpeg(noisy, quality=10)


def _wrong_region(source: Image.Image, edit_name: str, seed: int) -> Image.Image:
    rng = random.Random(seed)
    if edit_name in _LOCAL_EDIT_SPECS:
        spec = _LOCAL_EDIT_SPECS[edit_name]
        return _edit_inside(source, spec.operation, rng.choice(spec.wrong_regions(source.size)))
    half = _half_box(source.size, rng.choice(_HALVES))
    return _edit_inside(source, _WHOLE_IMAGE_OPS[edit_name], half)


def _collateral(source: Image.Image, edit_name: str, seed: int) -> Image.Image:
    """The right edit plus a gray blotch in a corner the edit did not touch."""
    edited = _full_edit(source, edit_name)
    corners = _corner_squares(1 / 4)(edited.size)
    if edit_name in _LOCAL_EDIT_SPECS:
        region = _LOCAL_EDIT_SPECS[edit_name].region(source.size)
        # On tiny images every corner touches the region; a blotch anywhere still counts.
        corners = tuple(box for box in corners if not _boxes_overlap(box, region)) or corners
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

# ------------------------------------------------------- public: quality distortions

# One entry per severity 1..MAX_SEVERITY, growing roughly geometrically.
_NOISE_SIGMA = (4.0, 8.0, 14.0, 22.0, 32.0)
_JPEG_QUALITY = (60, 40, 25, 15, 8)
_BLUR_SHARE = (0.004, 0.008, 0.015, 0.025, 0.04)  # radius as a share of the short side
_COLOR_SHIFT = (8.0, 16.0, 28.0, 42.0, 60.0)  # length of the RGB offset vector
_WARP_SHARE = (0.005, 0.01, 0.02, 0.03, 0.045)  # displacement std as a share of the short side


def apply_distortion(image: ImageLike, name: str, severity: int = 3, seed: int = 0) -> Image.Image:
    """Degrade an image without any instruction, for perceptual 2AFC judgements.

    Args:
        image: anything :func:`i2imetric.io.images.load_image` accepts.
        name: one of :data:`QUALITY_DISTORTIONS`: ``noise`` (Gaussian), ``jpeg``
            (compression), ``blur`` (Gaussian), ``color_shift`` (a random RGB offset),
            ``warp`` (a smooth random geometric wobble).
        severity: 1 (barely visible) to :data:`MAX_SEVERITY` (heavy); every distortion
            grows monotonically with it.
        seed: drives the random parts (noise pattern, shift direction, warp field).

    Returns:
        A new RGB image of the same size.
    """
    if name not in _DISTORTIONS:
        raise I2IInputError(f"unknown distortion {name!r}; valid distortions: {', '.join(QUALITY_DISTORTIONS)}")
    if severity not in range(1, MAX_SEVERITY + 1):
        raise I2IInputError(f"severity must be an integer from 1 to {MAX_SEVERITY}, got {severity!r}")
    return _DISTORTIONS[name](load_image(image), severity - 1, np.random.default_rng(seed))


def _gaussian_noise(image: Image.Image, sigma: float, rng: np.random.Generator) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float32)
    noisy = pixels + rng.normal(0.0, sigma, size=pixels.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).round().astype(np.uint8))


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def _color_shift(image: Image.Image, magnitude: float, rng: np.random.Generator) -> Image.Image:
    direction = rng.normal(size=3)
    offset = magnitude * direction / np.linalg.norm(direction)
    shifted = np.asarray(image, dtype=np.float32) + offset
    return Image.fromarray(np.clip(shifted, 0, 255).round().astype(np.uint8))


def _warp(image: Image.Image, amplitude: float, rng: np.random.Generator) -> Image.Image:
    """Resample along a smooth random displacement field: a 4x4 grid of random offsets,
    bicubically upsampled, bends straight lines the way lens or codec warps do."""
    width, height = image.size
    fields = [
        np.asarray(
            Image.fromarray(rng.normal(0.0, amplitude, size=(4, 4)).astype(np.float32), mode="F").resize(
                (width, height), Image.Resampling.BICUBIC
            )
        )
        for _ in range(2)
    ]
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    coordinates = [rows + fields[0], cols + fields[1]]
    pixels = np.asarray(image)
    channels = [ndimage.map_coordinates(pixels[..., c], coordinates, order=1, mode="reflect") for c in range(3)]
    return Image.fromarray(np.stack(channels, axis=-1).astype(np.uint8))


_DISTORTIONS: dict[str, Callable[[Image.Image, int, np.random.Generator], Image.Image]] = {
    "noise": lambda image, level, rng: _gaussian_noise(image, _NOISE_SIGMA[level], rng),
    "jpeg": lambda image, level, rng: _jpeg(image, _JPEG_QUALITY[level]),
    "blur": lambda image, level, rng: image.filter(
        # The floor keeps severities graded on thumbnails, where the share is sub-pixel.
        ImageFilter.GaussianBlur(max(0.5 * (level + 1), _BLUR_SHARE[level] * _short_side(image.size)))
    ),
    "color_shift": lambda image, level, rng: _color_shift(image, _COLOR_SHIFT[level], rng),
    "warp": lambda image, level, rng: _warp(image, _WARP_SHARE[level] * _short_side(image.size), rng),
}
