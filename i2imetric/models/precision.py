"""Precision of the towers: float32, bfloat16 or float16 weights, with the head kept in float32.

The encoders hold nearly all the parameters and nearly all the compute, so they are what
a lower precision speeds up; the head and the prior are small and compare unit vectors
whose cosines differ in the third decimal, so they stay in float32. Features leave the
towers in float32 (:class:`~i2imetric.models.encoders.OpenCLIPEncoder` normalises after
the cast), and on CUDA the towers additionally run under :func:`torch.autocast`, which
keeps softmax and the norms in float32 there.

On a CPU, bfloat16 and float16 pay only where the chip multiplies them natively (Intel
AMX); elsewhere PyTorch emulates them and the towers run slower than in float32, so
:func:`cpu_precision_warning` says so, on the first batch the towers encode there.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import warnings
from typing import Optional, TypedDict, Union

import torch

from ..errors import ConfigError

__all__ = ["DTYPES", "CpuMatmulSupport", "cpu_matmul_support", "cpu_precision_warning", "resolve_dtype", "tower_autocast"]

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


class CpuMatmulSupport(TypedDict):
    capability: str  # PyTorch's kernel level: "AVX2", "AVX512", "DEFAULT", ...
    x86: bool
    # Each unit: True or False as this torch's probe says, None where it has no such probe
    # (the probes are private, and newer than torch 2.1).
    amx_bf16: Optional[bool]  # Intel AMX tiles: bfloat16 matmuls in hardware
    amx_fp16: Optional[bool]
    avx512_bf16: Optional[bool]  # bfloat16 dot products without AMX


def cpu_matmul_support() -> CpuMatmulSupport:
    """What this CPU offers PyTorch's kernels: the vector level and native low-precision matmul units."""
    probes = {key: getattr(torch.cpu, name, None) for key, name in (
        ("amx_bf16", "_is_amx_tile_supported"), ("amx_fp16", "_is_amx_fp16_supported"),
        ("avx512_bf16", "_is_avx512_bf16_supported"))}  # fmt: skip
    return CpuMatmulSupport(
        capability=torch.backends.cpu.get_cpu_capability(),
        x86=platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86"),
        **{key: bool(probe()) if probe is not None else None for key, probe in probes.items()},
    )


# The AMX unit that runs each low precision natively.
_AMX_UNIT = {torch.bfloat16: "amx_bf16", torch.float16: "amx_fp16"}
# Measured with benchmarks/bench_gpu.py --device cpu (docs/benchmarks.md): a B/32 metric's
# rate against float32's on an AVX2-only CPU.
_AVX2_RATE = {torch.bfloat16: 0.11, torch.float16: 0.14}
# Measured by direct timing (docs/benchmarks.md, "A regression, most likely the host's"): a
# B/32 image tower's speed in bfloat16 against float32 on a CPU with avx512_bf16 and no AMX.
_AVX512_BF16_IMAGE_TOWER_RATE = 0.61


def cpu_precision_warning(dtype: torch.dtype, support: Optional[CpuMatmulSupport] = None) -> Optional[str]:
    """Why ``dtype`` will run slower than float32 on this CPU, or None where it should not.

    Only x86 CPUs whose torch can probe for the dtype's AMX unit are judged: elsewhere
    (ARM's bfloat16 units, an older torch) nothing is known, so nothing is said.
    """
    if dtype not in _AMX_UNIT:
        return None
    support = cpu_matmul_support() if support is None else support
    native = support[_AMX_UNIT[dtype]]
    if not support["x86"] or native is None or native:
        return None
    name = str(dtype).removeprefix("torch.")
    if dtype == torch.bfloat16 and support["avx512_bf16"]:
        measured = (f"bfloat16 dot products (avx512_bf16) do not make up for it: a B/32 image tower ran at "
                    f"{_AVX512_BF16_IMAGE_TOWER_RATE}x float32's speed on such a CPU")
    else:
        measured = (f"{name} matmuls are emulated: a B/32 metric scored at {_AVX2_RATE[dtype]}x float32's rate "
                    "on an AVX2 CPU")
    return (
        f"dtype={name} on a CPU without AMX matrix units (PyTorch kernels: {support['capability']}): the towers "
        f"run slower than in float32 here ({measured}; docs/benchmarks.md). "
        "Use float32 on this machine; low precision pays on a GPU or an AMX CPU."
    )


def warn_if_slow_on_cpu(device: torch.device, dtype: torch.dtype) -> None:
    """Warn when :func:`cpu_precision_warning` has something to say for towers on ``device``.

    The warning names the first caller outside this package (the user's line), not the
    library frame that noticed.
    """
    message = cpu_precision_warning(dtype) if device.type == "cpu" else None
    if message is not None:
        warnings.warn(message, RuntimeWarning, stacklevel=_stacklevel_outside_package())


# Frames a warning skips: this package's, and torch's (no_grad wrappers, nn.Module.__call__).
_LIBRARY_DIRS = tuple(folder + os.sep for folder in (
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),  # i2imetric/
    os.path.dirname(os.path.abspath(torch.__file__)),  # torch/
))  # fmt: skip


def _stacklevel_outside_package() -> int:
    """The ``stacklevel`` that makes ``warnings.warn``, called by this function's caller, name the first frame outside i2imetric and torch."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_LIBRARY_DIRS):
        level, frame = level + 1, frame.f_back
    return level
