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


def heatmap_overlay(patch_map: torch.Tensor, image: Any, alpha: float = 0.5, scale: float | None = None) -> Image.Image:
    """Blend a ``[gh, gw]`` patch map over ``image``: red where the edit helped, blue where it hurt.

    Args:
        patch_map: the map from :meth:`I2IMetric.explain`.
        image: the output image (any form :func:`i2imetric.io.images.load_image` takes).
        alpha: opacity of the colour layer.
        scale: the |value| that saturates the colours; by default the map's own max |value|,
            so the strongest patch is always fully coloured.

    Returns:
        An RGB PIL image the size of ``image``.
    """
    import matplotlib

    base = load_image(image)
    values = patch_map.detach().float().cpu()[None, None]
    upsampled = F.interpolate(values, size=(base.height, base.width), mode="bilinear", align_corners=False)[0, 0]
    limit = scale if scale is not None else float(upsampled.abs().max()) or 1.0
    # Diverging colormap centred on zero: the sign is the message, so 0 must stay neutral.
    colours = matplotlib.colormaps["coolwarm"]((upsampled.numpy() / limit + 1.0) / 2.0)[..., :3]
    blended = (1 - alpha) * (np.asarray(base, dtype=np.float32) / 255.0) + alpha * colours
    return Image.fromarray((blended.clip(0, 1) * 255).round().astype(np.uint8))


def save_heatmap(patch_map: torch.Tensor, image: Any, path: str | Path, **kwargs) -> Path:
    """Write :func:`heatmap_overlay` as a PNG and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    heatmap_overlay(patch_map, image, **kwargs).save(path, format="PNG")
    return path
