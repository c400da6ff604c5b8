"""Precision of the towers: float32, bfloat16 or float16 weights, with the head kept in float32.

The encoders hold nearly all the parameters and nearly all the compute, so they are what
a lower precision speeds up; the head and the prior are small and compare unit vectors
whose cosines differ in the third decimal, so they stay in float32. Features leave the
towers in float32 (:class:`~i2imetric.models.encoders.OpenCLIPEncoder` normalises after
the cast), and on CUDA the towers additionally run under :func:`torch.autocast`, which
keeps softmax and the norms in float32 there.
"""

from __future__ import annotations

import contextlib
from typing import Optional, Union

import torch

from ..errors import ConfigError

__all__ = ["DTYPES", "resolve_dtype", "tower_autocast"]

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
}


def resolve_dtype(dtype: Union[str, torch.dtype, None]) -> Optional[torch.dtype]:
    """``dtype`` as a ``torch.dtype``: a dtype, its name (``"bfloat16"``, ``"bf16"``, ``"torch.float16"``) or None.

    Example:
        >>> resolve_dtype("bf16")
        torch.bfloat16
    """
    if dtype is None or isinstance(dtype, torch.dtype):
        resolved = dtype
    elif isinstance(dtype, str):
        resolved = DTYPES.get(dtype.lower().removeprefix("torch."))
    else:
        resolved = None
    if (resolved is None and dtype is not None) or resolved not in (None, *DTYPES.values()):
        raise ConfigError(
            f"dtype: {dtype!r} is not supported; use torch.float32, torch.bfloat16 or torch.float16 "
            f"(or one of the names {sorted(DTYPES)})"
        )
    return resolved


def tower_autocast(device: torch.device, dtype: torch.dtype):
    """Autocast for a tower forward on CUDA in a low precision; a no-op elsewhere."""
    if device.type == "cuda" and dtype in (torch.bfloat16, torch.float16):
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()
