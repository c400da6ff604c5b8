"""Turning whatever the user gave us into images and instructions we can trust.

Every image, whatever its form (path, PIL image, numpy array, torch tensor), ends up as
one thing: a float32 tensor ``[3, H, W]`` in ``[0, 1]``. Paths, PIL images and numpy
arrays all pass through the same PIL -> uint8 -> float conversion, so the same picture
scores identically in any of those forms.

Anything unusable raises :class:`~i2imetric.errors.I2IInputError` naming the input and
saying how to fix it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import I2IInputError
from .text import check_instruction, check_instructions

__all__ = [
    "MAX_IMAGE_PIXELS",
    "load_image",
    "unreadable_file",
    "image_to_tensor",
    "decode_reduced",
    "as_image_list",
    "check_instruction",
    "check_instructions",
    "find_images",
]

# PIL's own default bomb limit; above it we refuse before decoding a single pixel.
MAX_IMAGE_PIXELS = 89_478_485

ImageLike = Any  # str | Path | PIL.Image.Image | np.ndarray | torch.Tensor


def load_image(image: ImageLike, *, name: str = "image") -> Image.Image:
    """Return ``image`` as an 8-bit RGB PIL image.

    Args:
        image: a file path, a PIL image, a numpy ``HxW`` / ``HxWxC`` array (uint8,
            uint16, or float in [0, 1]), or a torch ``CxHxW`` tensor (quantised to 8 bits;
            :func:`image_to_tensor` keeps a float tensor's full precision).
        name: how to refer to the input in error messages (e.g. ``"outputs[3]"``).

    Returns:
        An RGB ``PIL.Image.Image``; alpha is composited on white, EXIF orientation applied.

    Example:
        >>> load_image(np.zeros((4, 5, 3), dtype=np.uint8)).size
        (5, 4)
    """
    if isinstance(image, (str, os.PathLike)):
        return _open_image_file(Path(image))
    if isinstance(image, Image.Image):
        return _to_rgb(image, name)
    if isinstance(image, np.ndarray):
        return _array_to_pil(image, name)
    if isinstance(image, torch.Tensor):
        pixels = _tensor_to_rgb(image, name).permute(1, 2, 0).mul(255.0).round().to(torch.uint8)
        return Image.fromarray(pixels.numpy())
    raise I2IInputError(
        f"{name}: unsupported image type {type(image).__name__}; pass a file path, a PIL "
        "image, a numpy HxWxC uint8 array, or a torch CxHxW float tensor in [0, 1]"
    )


def image_to_tensor(image: ImageLike, *, name: str = "image") -> torch.Tensor:
    """Return ``image`` as a float32 ``[3, H, W]`` tensor in ``[0, 1]``.

    Args:
        image: anything :func:`load_image` accepts, or a torch ``CxHxW`` tensor (float in
            [0, 1], or uint8), with C in {1, 3, 4}.
        name: how to refer to the input in error messages.

    Returns:
        A contiguous float32 tensor on the CPU.
    """
    if isinstance(image, torch.Tensor):
        return _tensor_to_rgb(image, name)
    pil = load_image(image, name=name)
    array = np.asarray(pil, dtype=np.uint8)
    # .contiguous(): permute alone leaves a channels-last view, and the docstring promises contiguous.
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255.0).contiguous()


def as_image_list(images: Any, *, name: str) -> list:
    """Split a batch argument into a list of single images.

    A list/tuple is taken item by item; an ``NxCxHxW`` tensor or ``NxHxWxC`` array is
    split along its first axis. Returns the items untouched (decoding happens later, so a
    bad item can be reported with its index).
    """
    if isinstance(images, (list, tuple)):
        return list(images)
    if isinstance(images, torch.Tensor) and images.ndim == 4:
        return list(images.unbind(0))
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return list(images)
    raise I2IInputError(
        f"{name}: expected a list of images or a 4-D batch (NxCxHxW tensor or NxHxWxC "
        f"array), got {type(images).__name__}; for one triplet pass a single image and a "
        "str instruction"
    )


# ---------------------------------------------------------------------------- files


def decode_reduced(
    path: str | os.PathLike, need: Callable[[int, int], tuple[int, int]], *, name: str = "image"
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Decode an image file as :func:`image_to_tensor` does, but no larger than its consumers need.

    A JPEG decoder can scale by 1/2, 1/4 or 1/8 inside its inverse DCT, which is much
    faster and lighter than decoding every pixel and resizing afterwards. PIL's
    ``draft()`` picks the strongest of those scales whose result still covers the
    requested size in both dimensions, so the image returned is never smaller than
    ``need`` asks (nor larger than twice that, per side, when a scale applies). Other
    formats decode at full size. The decompression-bomb guard reads the file's own size
    before anything is decoded, as in :func:`load_image`.

    Args:
        path: an image file.
        need: ``(height, width) -> (min_height, min_width)``, called with the file's
            full size (after EXIF orientation) before decoding.
        name: how to refer to the input in error messages.

    Returns:
        ``(pixels, full_size)``: a float32 ``[3, h, w]`` tensor in [0, 1] (``h >= min_height``
        and ``w >= min_width``, unless the file itself is smaller) and the file's full
        ``(height, width)`` after EXIF orientation.
    """
    full_size: list[tuple[int, int]] = []

    def draft(opened: Image.Image) -> None:
        width, height = opened.size
        transposed = opened.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8)
        if transposed:  # stored on its side: EXIF orientation turns it a quarter
            width, height = height, width
        full_size.append((height, width))
        min_height, min_width = need(height, width)
        request = (max(1, min(width, int(min_width))), max(1, min(height, int(min_height))))
        opened.draft(None, request[::-1] if transposed else request)  # a no-op but for JPEG

    if not isinstance(path, (str, os.PathLike)):
        raise I2IInputError(f"{name}: decode_reduced takes a file path, got {type(path).__name__}")
    pil = _open_image_file(Path(path), draft)
    array = np.asarray(pil, dtype=np.uint8)
    pixels = torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255.0).contiguous()
    return pixels, full_size[0]


_EXIF_ORIENTATION = 0x0112


def _open_image_file(path: Path, draft: Optional[Callable[[Image.Image], None]] = None) -> Image.Image:
    if not path.exists():
        where = "" if path.is_absolute() else f" (a relative path is read from the working folder, {Path.cwd()})"
        raise I2IInputError(f"{path}: no such file; check the path{where}")
    if path.is_dir():
        raise I2IInputError(f"{path}: is a directory, not an image file")
    if path.stat().st_size == 0:
        raise I2IInputError(f"{path}: the file is empty (0 bytes); re-export or re-download it")
    try:
        with warnings.catch_warnings():
            # PIL only *warns* between 1x and 2x its limit and then allocates anyway.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                _check_pixel_count(opened, str(path))
                if draft is not None:
                    draft(opened)
                opened.load()
                return _to_rgb(opened, str(path))
    except I2IInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise I2IInputError(f"{path}: refused as a possible decompression bomb ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise I2IInputError(
            f"{path}: not a readable image (unknown or unsupported format); convert it to PNG or JPEG"
        ) from exc
    except PermissionError as exc:
        # An OSError too, but nothing is wrong with the image: re-exporting would not help.
        raise unreadable_file(path, exc) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        # PIL raises OSError("image file is truncated") and friends on damaged files.
        raise I2IInputError(f"{path}: the image is corrupt or truncated ({exc}); re-export it") from exc


def _check_pixel_count(image: Image.Image, name: str) -> None:
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        raise I2IInputError(
            f"{name}: {width}x{height} pixels exceeds the limit of {MAX_IMAGE_PIXELS} "
            "(decompression-bomb guard); downscale the image first"
        )
    if width == 0 or height == 0:
        raise I2IInputError(f"{name}: the image has no pixels ({width}x{height})")


# ------------------------------------------------------------------------ conversion


def _to_rgb(image: Image.Image, name: str) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB, with alpha composited on white."""
    _check_pixel_count(image, name)
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return _array_to_pil(np.asarray(image), name)
    if image.mode == "P":
        image = image.convert("RGBA")  # palette transparency survives only via RGBA
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _array_to_pil(array: np.ndarray, name: str) -> Image.Image:
    array = _array_to_uint8(array, name)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        looks_channels_first = array.ndim == 3 and array.shape[0] in (1, 3, 4)
        hint = " (it looks like CxHxW: use array.transpose(1, 2, 0))" if looks_channels_first else ""
        raise I2IInputError(
            f"{name}: expected an HxW or HxWxC array with C in (1, 3, 4), got shape {tuple(array.shape)}{hint}"
        )
    channels = array.shape[2]
    if channels == 1:
        array = np.repeat(array, 3, axis=2)
    image = Image.fromarray(np.ascontiguousarray(array), mode="RGBA" if channels == 4 else "RGB")
    return _to_rgb(image, name)


def _array_to_uint8(array: np.ndarray, name: str) -> np.ndarray:
    if array.size == 0:
        raise I2IInputError(f"{name}: the image has no pixels (shape {tuple(array.shape)})")
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return (array.astype(np.float64) / 257.0).round().astype(np.uint8)
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.integer):
        # PIL's 32-bit "I" mode usually carries 16-bit data.
        if array.min() < 0 or array.max() > 65535:
            raise I2IInputError(f"{name}: integer pixel values outside [0, 65535]; convert to uint8 first")
        scale = 257.0 if array.max() > 255 else 1.0
        return (array.astype(np.float64) / scale).round().astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        _check_float_range(torch.from_numpy(np.asarray(array, dtype=np.float32)), name)
        return (array.astype(np.float64) * 255.0).round().astype(np.uint8)
    raise I2IInputError(f"{name}: unsupported array dtype {array.dtype}; use uint8 or float in [0, 1]")


def _tensor_to_rgb(tensor: torch.Tensor, name: str) -> torch.Tensor:
    tensor = tensor.detach().cpu()
    if tensor.ndim == 2:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 3:
        raise I2IInputError(
            f"{name}: expected a CxHxW tensor, got shape {tuple(tensor.shape)}; pass batches as a list or NxCxHxW"
        )
    if tensor.shape[0] not in (1, 3, 4):
        hint = " (it looks like HxWxC: use tensor.permute(2, 0, 1))" if tensor.shape[-1] in (1, 3, 4) else ""
        raise I2IInputError(f"{name}: expected 1, 3 or 4 channels first, got shape {tuple(tensor.shape)}{hint}")
    if tensor.shape[1] == 0 or tensor.shape[2] == 0:
        raise I2IInputError(f"{name}: the image has no pixels (shape {tuple(tensor.shape)})")
    if tensor.dtype == torch.uint8:
        tensor = tensor.float().div_(255.0)
    elif tensor.is_floating_point():
        tensor = tensor.float()
        _check_float_range(tensor, name)
        # Out of place: never hand back (a view of) the caller's tensor, and squash the
        # tolerance _check_float_range allows so the result really lies in [0, 1].
        tensor = tensor.clamp(0.0, 1.0)
    else:
        raise I2IInputError(f"{name}: unsupported tensor dtype {tensor.dtype}; use float in [0, 1] or uint8")
    if tensor.shape[0] == 1:
        tensor = tensor.expand(3, -1, -1)
    elif tensor.shape[0] == 4:
        rgb, alpha = tensor[:3], tensor[3:]
        tensor = rgb * alpha + (1.0 - alpha)  # composite on white, as for RGBA files
    return tensor.contiguous()


def _check_float_range(values: torch.Tensor, name: str) -> None:
    if not torch.isfinite(values).all():
        raise I2IInputError(f"{name}: contains NaN or inf values; clean the image before scoring")
    low, high = float(values.min()), float(values.max())
    if low >= -1e-6 and high <= 1.0 + 1e-6:
        return
    if low >= 0.0 and high <= 255.0:
        fix = "it looks like [0, 255]: divide by 255"
    elif low >= -1.0 - 1e-6 and high <= 1.0 + 1e-6:
        fix = "it looks like [-1, 1]: use (x + 1) / 2"
    else:
        fix = "rescale it to [0, 1]"
    raise I2IInputError(f"{name}: float pixel values must lie in [0, 1], got [{low:.3g}, {high:.3g}]; {fix}")


def find_images(folder: str | os.PathLike, exclude: str | os.PathLike | None = None) -> list[Path]:
    """Every file under ``folder`` (recursively, sorted) whose suffix PIL can open.

    Hidden files and folders are skipped, and so is ``exclude`` (an output folder that may
    lie inside ``folder`` and must not feed on its own results). Files are not opened here:
    a broken one is reported by whoever loads it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise I2IInputError(f"{folder}: not a folder of images")
    openable = {suffix for suffix, format_name in Image.registered_extensions().items() if format_name in Image.OPEN}
    excluded = Path(exclude).resolve() if exclude is not None else None
    found = []
    for path in sorted(folder.rglob("*")):
        relative_parts = path.relative_to(folder).parts
        if (
            path.is_file()
            and path.suffix.lower() in openable
            and not any(part.startswith(".") for part in relative_parts)
            and not (excluded is not None and path.resolve().is_relative_to(excluded))
        ):
            found.append(path)
    return found


def unreadable_file(path, problem: OSError) -> I2IInputError:
    """The error for a file the system refuses to read (permission, I/O), naming it and what to check."""
    if isinstance(problem, PermissionError):
        return I2IInputError(f"{path}: cannot read: check its read permission")
    reason = problem.strerror or str(problem) or type(problem).__name__
    return I2IInputError(f"{path}: cannot read it ({reason}); check the file and the disk it is on")
