"""Real photos that ship inside installed packages, for the demo and its training data.

No dataset can be downloaded here, but scikit-image and scikit-learn carry a handful of
real photographs in their wheels. They are split once, by name, so that validation and
the demo always use photos the shipped scorer never saw.
"""

from __future__ import annotations

import random

import numpy as np
from PIL import Image

from ...errors import I2IInputError
from .pixels import shrink_to

__all__ = [
    "TRAIN_PHOTOS",
    "HELDOUT_PHOTOS",
    "TINTED_TRAIN_PHOTOS",
    "load_photo",
    "training_photos",
    "shrink_to",
    "random_crop",
    "tint",
]

# Colour photos. The held-out three are never used for training anything shipped.
TRAIN_PHOTOS = ("astronaut", "chelsea", "hubble_deep_field", "immunohistochemistry", "retina", "flower")
HELDOUT_PHOTOS = ("coffee", "rocket", "china")
# Grayscale photos, used for training only after a random colour tint (a colour-free
# source would make "make it black and white" a no-op).
TINTED_TRAIN_PHOTOS = ("camera", "brick", "grass", "gravel", "moon", "coins", "clock", "page", "text", "cell")

_SKLEARN_PHOTOS = {"china": "china.jpg", "flower": "flower.jpg"}


def load_photo(name: str, max_side: int | None = None) -> Image.Image:
    """One bundled photo as RGB, optionally downscaled so its longer side is ``max_side``.

    Raises:
        I2IInputError: unknown name, or scikit-image missing (``pip install scikit-image``).
    """
    array = _load_array(name)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    image = Image.fromarray(np.ascontiguousarray(array[:, :, :3]).astype(np.uint8))
    return shrink_to(image, max_side)


def training_photos(max_side: int = 256) -> list[Image.Image]:
    """Every photo training may use: the colour ones, and the grayscale ones tinted (seeded)."""
    images = [load_photo(name, max_side=max_side) for name in TRAIN_PHOTOS]
    images += [tint(load_photo(name, max_side=max_side), random.Random(i)) for i, name in enumerate(TINTED_TRAIN_PHOTOS)]
    return images


def _load_array(name: str) -> np.ndarray:
    if name in _SKLEARN_PHOTOS:
        from sklearn.datasets import load_sample_image

        return load_sample_image(_SKLEARN_PHOTOS[name])
    known = TRAIN_PHOTOS + HELDOUT_PHOTOS + TINTED_TRAIN_PHOTOS
    if name not in known:
        raise I2IInputError(f"unknown bundled photo {name!r}; known: {', '.join(known)}")
    try:
        import skimage.data
    except ImportError as exc:
        raise I2IInputError("the bundled photos need scikit-image: pip install scikit-image") from exc
    return getattr(skimage.data, name)()


def random_crop(image: Image.Image, rng: random.Random, min_share: float = 0.4) -> Image.Image:
    """A crop covering at least ``min_share`` of each side, with aspect ratio in [3:4, 4:3]."""
    width, height = image.size
    share = rng.uniform(min_share, 1.0)
    aspect = rng.uniform(0.75, 1.333)
    crop_w = max(8, min(width, round(share * min(width, height) * aspect)))
    crop_h = max(8, min(height, round(share * min(width, height) / aspect)))
    left, top = rng.randint(0, width - crop_w), rng.randint(0, height - crop_h)
    return image.crop((left, top, left + crop_w, top + crop_h))


def tint(image: Image.Image, rng: random.Random) -> Image.Image:
    """Colour a (grayscale) image with a random two-colour ramp, like a duotone print."""
    gray = np.asarray(image.convert("L"), dtype=np.float32)[:, :, None] / 255.0
    dark = np.array([rng.uniform(0, 0.5) for _ in range(3)], dtype=np.float32)
    light = np.array([rng.uniform(0.5, 1.0) for _ in range(3)], dtype=np.float32)
    coloured = dark + gray * (light - dark)
    return Image.fromarray((coloured * 255).round().astype(np.uint8))
