"""Quality distortions: instruction-free degradations with graded severities, for
BAPPS-style 2AFC.

:data:`QUALITY_DISTORTIONS` names them; :func:`apply_distortion` applies one at a
severity from 1 to :data:`MAX_SEVERITY`, deterministically for a seed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

from ...errors import I2IInputError
from ...io.images import ImageLike, load_image
from .pixels import gaussian_noise, jpeg, short_side

__all__ = ["MAX_SEVERITY", "QUALITY_DISTORTIONS", "apply_distortion"]

QUALITY_DISTORTIONS: tuple[str, ...] = ("noise", "jpeg", "blur", "color_shift", "warp")
MAX_SEVERITY = 5

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
    "noise": lambda image, level, rng: gaussian_noise(image, _NOISE_SIGMA[level], rng),
    "jpeg": lambda image, level, rng: jpeg(image, _JPEG_QUALITY[level]),
    "blur": lambda image, level, rng: image.filter(
        # The floor keeps severities graded on thumbnails, where the share is sub-pixel.
        ImageFilter.GaussianBlur(max(0.5 * (level + 1), _BLUR_SHARE[level] * short_side(image.size)))
    ),
    "color_shift": lambda image, level, rng: _color_shift(image, _COLOR_SHIFT[level], rng),
    "warp": lambda image, level, rng: _warp(image, _WARP_SHARE[level] * short_side(image.size), rng),
}
