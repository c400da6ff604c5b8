"""Precision of the towers: float32, bfloat16 or float16 weights, with the head kept in float32.

The encoders hold nearly all the parameters and nearly all the compute, so they are what
a lower precision speeds up; the head and the prior are small and compare unit vectors
whose cosines differ in the third decimal, so they stay in float32. Features leave the
towers in float32 (:class:`~i2imetric.models.encoders.OpenCLIPEncoder` normalises after
the cast), and on CUDA the towers additionally run under :func:`torch.autocast`, which
keeps softmax and the norms in float32 there.

On a CPU, bfloat16 and float16 pay only where the chip multiplies them natively (Intel
AMX); elsewhere PyTorch emulates them and the towers run slower than in float32, so
:func:`cpu_precision_warning` says so before a user waits for it.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Optional, Union

import torch

from ..errors import ConfigError

__all__ = ["DTYPES", "cpu_matmul_support", "cpu_precision_warning", "resolve_dtype", "tower_autocast", "warn_if_slow_on_cpu"]

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


def cpu_matmul_support() -> dict:
    """What this CPU offers PyTorch's kernels: the vector level and native low-precision matmul units.

    ``capability`` is PyTorch's kernel level (``"AVX2"``, ``"AVX512"``, ...);
    ``amx_bf16`` / ``amx_fp16``: Intel AMX tiles, which multiply bfloat16 / float16
    natively; ``avx512_bf16``: bfloat16 dot products without AMX.
    """
    cpu = torch.cpu
    probe = lambda name: bool(getattr(cpu, name, lambda: False)())  # noqa: E731 (private, absent in old torch)
    return {
        "capability": torch.backends.cpu.get_cpu_capability(),
        "amx_bf16": probe("_is_amx_tile_supported"),
        "amx_fp16": probe("_is_amx_fp16_supported"),
        "avx512_bf16": probe("_is_avx512_bf16_supported"),
    }


def cpu_precision_warning(dtype: torch.dtype, support: Optional[dict] = None) -> Optional[str]:
    """Why ``dtype`` will run slower than float32 on this CPU, or None where it should not.

    Measured (docs/benchmarks.md): a B/32 metric in bfloat16 scored at 0.11x float32's
    rate on an AVX2-only CPU, and its image tower took 1.6x float32's time on a CPU with
    ``avx512_bf16`` but no AMX.
    """
    if dtype not in (torch.bfloat16, torch.float16):
        return None
    support = cpu_matmul_support() if support is None else support
    native = support["amx_bf16"] if dtype == torch.bfloat16 else support["amx_fp16"]
    if native:
        return None
    name = str(dtype).removeprefix("torch.")
    return (
        f"dtype={name} on a CPU without AMX matrix units (PyTorch kernels: {support['capability']}): "
        f"{name} matmuls are emulated here and the towers will run slower than in float32 "
        "(a B/32 metric in bfloat16 scored at 0.11x float32's rate on an AVX2 CPU; with avx512_bf16, its "
        "image tower took 1.6x float32's time). "
        "Use float32 on this machine; low precision pays on a GPU or an AMX CPU."
    )


def warn_if_slow_on_cpu(device: torch.device, dtype: torch.dtype) -> None:
    """Warn (once per call site) when :func:`cpu_precision_warning` has something to say for ``device``."""
    message = cpu_precision_warning(dtype) if device.type == "cpu" else None
    if message is not None:
        warnings.warn(message, RuntimeWarning, stacklevel=3)
