"""Small builders shared by the test modules (import as ``from helpers import ...``).

pytest puts ``tests/`` on ``sys.path`` (the default rootdir-relative import mode), so this
plain module is importable from every test file; fixtures live in ``conftest.py``.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

import i2imetric


def perturb_trainable(metric, seed: int = 1, scale: float = 0.05):
    """Move every trainable tensor a little, so a test sees a metric that is not just the prior.

    Untrained, the head's outputs start at zero and the metric equals its zero-shot prior;
    this stands in for training without running any.
    """
    with torch.no_grad():
        generator = torch.Generator().manual_seed(seed)
        for parameter in metric.parameters():
            if parameter.requires_grad:
                parameter.add_(scale * torch.randn(parameter.shape, generator=generator))
    return metric


def trained_tiny(model_name: str = "test-tiny", **overrides):
    """The suite's stand-in for a trained scorer: ``model_name`` at seed 0, trainables perturbed."""
    return perturb_trainable(i2imetric.create_metric(model_name, seed=0, **overrides))


def write_png(path, seed: int, size=(16, 20)) -> str:
    """A random RGB PNG of ``size`` (height, width) at ``path``; returns the path as a str."""
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return str(path)
