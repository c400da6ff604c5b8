"""Drawing a patch map over the output image, so a person can see where the score came from.

torch, numpy and matplotlib are imported inside the functions: the command line checks a
``--heatmap`` path with :func:`heatmap_format` before any model import.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from ..errors import I2IInputError

if TYPE_CHECKING:
    import torch

    from ..models.preprocess import Preprocess

__all__ = ["HEATMAP_FORMATS", "heatmap_format", "heatmap_overlay", "save_heatmap", "upsample_patch_map"]

# The file suffixes a heatmap may be written as, and the PIL format each names. A short
# list of ordinary image formats, not all PIL registers: some of those only read, or need
# plugins, or are not images a person opens (.h5, .grib, .pdf).
HEATMAP_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".gif": "GIF",
}


def heatmap_format(path: str | Path, option: str = "path") -> str:
    """The PIL format a heatmap at ``path`` is written in: the one its suffix names; PNG without a suffix.

    Raises:
        I2IInputError: an unknown suffix (or one this PIL cannot write), naming ``option``
            and the suffixes that work; writing PNG bytes into ``map.jpg`` would lie about the file.
    """
    suffix = Path(path).suffix.lower()
    if not suffix:
        return "PNG"
    image_format = HEATMAP_FORMATS.get(suffix)
    if image_format is None or image_format not in _writable_formats():
        usable = ", ".join(s for s, f in HEATMAP_FORMATS.items() if f in _writable_formats())
        raise I2IInputError(f"{option} {path}: cannot write a heatmap as {suffix!r}; use one of {usable}")
    return image_format


def _writable_formats() -> set:
    Image.init()  # registers every plugin, so SAVE lists all this PIL can write (WEBP needs libwebp)
    return set(Image.SAVE)


def _clip_preprocess(preprocess):
    """The OpenCLIP tower's preprocessing, from a Preprocess or a metric (whose patch grid the map is on)."""
    if preprocess is not None and hasattr(preprocess, "image_preprocessors"):
        return preprocess.image_preprocessors()[0]
    return preprocess


def upsample_patch_map(
    patch_map: "torch.Tensor", height: int, width: int, preprocess: "Preprocess | Any" = None
) -> "torch.Tensor":
    """The ``[gh, gw]`` patch map as a ``[height, width]`` float map over the image the user gave.

    The patch grid covers the encoder's input. With a squashing preprocess that input is
    the whole image, so the grid is stretched over it. With ``resize="letterbox"`` the image
    fills only part of the input, the rest being padding: each image pixel is then sampled
    where the preprocess placed it, so padding patches stay off the image and the map is
    neither shifted nor squashed.

    Args:
        patch_map: the map from :meth:`I2IMetric.explain`.
        height, width: the image's size in pixels.
        preprocess: the metric's OpenCLIP :class:`~i2imetric.models.preprocess.Preprocess`
            (``metric.image_preprocessors()[0]``), or the metric itself; None stretches the grid
            over the image, which is right for squashing metrics only.
    """
    import torch
    import torch.nn.functional as F

    values = patch_map.detach().float().cpu()[None, None]
    preprocess = _clip_preprocess(preprocess)
    if preprocess is None or preprocess.resize != "letterbox":
        return F.interpolate(values, size=(height, width), mode="bilinear", align_corners=False)[0, 0]
    # The placement is the preprocess's own (private there, reused rather than re-derived, so
    # the map cannot drift from the pixels the tower saw).
    top, left, (inner_h, inner_w) = preprocess.letterbox_placement(height, width)
    input_h, input_w = preprocess.size
    # Each image pixel's centre in encoder-input pixels, then in grid_sample's [-1, 1] over the
    # whole input; align_corners=False and border padding make it the same bilinear
    # interpolation as the squash branch, only at the placed coordinates.
    ys = (top + (torch.arange(height) + 0.5) * (inner_h / height)) / input_h * 2 - 1
    xs = (left + (torch.arange(width) + 0.5) * (inner_w / width)) / input_w * 2 - 1
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)[None]  # [1, H, W, (x, y)]
    return F.grid_sample(values, grid, mode="bilinear", padding_mode="border", align_corners=False)[0, 0]


def heatmap_overlay(
    patch_map: "torch.Tensor",
    image: Any,
    alpha: float = 0.5,
    scale: float | None = None,
    legend: bool = True,
    preprocess: "Preprocess | Any" = None,
) -> Image.Image:
    """Blend a ``[gh, gw]`` patch map over ``image``: red where the edit helped, blue where it hurt.

    The sign convention is the metric's (:class:`~i2imetric.models.outputs.MetricOutput`):
    a patch is positive where the output changed as the instruction asked, negative where
    it is wrong (changed what should stay, damaged, or left undone what was asked), and
    near zero where nothing should change and nothing did.

    Args:
        patch_map: the map from :meth:`I2IMetric.explain`.
        image: the output image (any form :func:`i2imetric.io.images.load_image` takes).
        alpha: opacity of the colour layer.
        scale: the |value| that saturates the colours; by default the map's own max |value|
            over the image, so the strongest patch is always fully coloured.
        legend: append the colour scale on the right, with its sign and limits, so a
            reader can tell "helped a little" from "helped a lot" and red from blue.
        preprocess: the metric (or its OpenCLIP preprocessing), so the map lands where the
            metric placed the image: needed for ``image_resize="letterbox"`` metrics, whose
            grid includes padding (see :func:`upsample_patch_map`).

    Returns:
        An RGB PIL image: the size of ``image``, plus the legend strip when ``legend``.
    """
    import matplotlib
    import numpy as np

    from ..io.images import load_image

    base = load_image(image)
    upsampled = upsample_patch_map(patch_map, base.height, base.width, preprocess)
    limit = scale if scale is not None else float(upsampled.abs().max()) or 1.0
    # Diverging colormap centred on zero: the sign is the message, so 0 must stay neutral.
    colormap = matplotlib.colormaps["coolwarm"]
    colours = colormap((upsampled.numpy() / limit + 1.0) / 2.0)[..., :3]
    blended = (1 - alpha) * (np.asarray(base, dtype=np.float32) / 255.0) + alpha * colours
    overlay = Image.fromarray((blended.clip(0, 1) * 255).round().astype(np.uint8))
    return _with_legend(overlay, colormap, limit) if legend else overlay


LEGEND_MIN_HEIGHT = 120  # px: room for three labels even beside a thumbnail


def _with_legend(overlay: Image.Image, colormap, limit: float) -> Image.Image:
    """``overlay`` with a vertical colour bar on its right: +limit (helped) at the top, -limit (hurt) at the bottom."""
    import numpy as np
    from PIL import ImageDraw, ImageFont

    height = max(overlay.height, LEGEND_MIN_HEIGHT)
    bar_width, text_width, margin = 12, 78, 6
    canvas = Image.new("RGB", (overlay.width + margin + bar_width + text_width, height), "white")
    canvas.paste(overlay, (0, 0))
    levels = np.linspace(1.0, 0.0, height - 2 * margin)  # top: +limit
    bar = (colormap(levels)[:, :3] * 255).round().astype(np.uint8)
    strip = Image.fromarray(np.repeat(bar[:, None, :], bar_width, axis=1))
    left = overlay.width + margin
    canvas.paste(strip, (left, margin))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    labels = ((margin, f"+{limit:.3g} helped"), (height // 2 - 5, "0"), (height - margin - 11, f"-{limit:.3g} hurt"))
    for top, text in labels:
        draw.text((left + bar_width + 3, top), text, fill="black", font=font)
    return canvas


def save_heatmap(patch_map: "torch.Tensor", image: Any, path: str | Path, **kwargs) -> Path:
    """Write :func:`heatmap_overlay` to ``path`` in the format its suffix names (PNG without one); return the path.

    ``kwargs`` go to :func:`heatmap_overlay`; pass ``preprocess=metric`` for a letterbox metric.

    Raises:
        I2IInputError: a suffix that is not an image format in :data:`HEATMAP_FORMATS`.
    """
    path = Path(path)
    image_format = heatmap_format(path)  # before drawing: a wrong suffix costs nothing
    overlay = heatmap_overlay(patch_map, image, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Lossy formats: near-lossless, so the colours still read against the legend.
    options = {"quality": 95} if image_format in ("JPEG", "WEBP") else {}
    overlay.save(path, format=image_format, **options)
    return path
