"""Drawing a patch map over the output image, so a person can see where the score came from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..io.images import load_image

__all__ = ["heatmap_overlay", "save_heatmap"]


def heatmap_overlay(
    patch_map: torch.Tensor, image: Any, alpha: float = 0.5, scale: float | None = None, legend: bool = True
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
        scale: the |value| that saturates the colours; by default the map's own max |value|,
            so the strongest patch is always fully coloured.
        legend: append the colour scale on the right, with its sign and limits, so a
            reader can tell "helped a little" from "helped a lot" and red from blue.

    Returns:
        An RGB PIL image: the size of ``image``, plus the legend strip when ``legend``.
    """
    import matplotlib

    base = load_image(image)
    values = patch_map.detach().float().cpu()[None, None]
    upsampled = F.interpolate(values, size=(base.height, base.width), mode="bilinear", align_corners=False)[0, 0]
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


def save_heatmap(patch_map: torch.Tensor, image: Any, path: str | Path, **kwargs) -> Path:
    """Write :func:`heatmap_overlay` as a PNG and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    heatmap_overlay(patch_map, image, **kwargs).save(path, format="PNG")
    return path
