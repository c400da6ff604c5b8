"""The machine line every benchmark prints beside its figures (imported by the scripts here)."""

from __future__ import annotations

import os
import platform


def describe_machine() -> str:
    """Cores, CPU model and what its kernels can use, GPU if any, and the load average when the run starts.

    The CPU's matmul units decide whether bfloat16 pays on it (AMX: yes; without, slower
    than float32), so a figure from another host can be read against the right one.
    """
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (FileNotFoundError, StopIteration):
        pass
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    except ImportError:
        gpu = "no GPU"
    else:
        cpu = f"{cpu}; {describe_cpu_matmul()}"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} CPU cores ({cpu}), {gpu}, load average {load:.1f} at start"


def describe_cpu_matmul() -> str:
    """``"kernels AVX2, no AMX, no avx512_bf16"``: what decides the CPU's bfloat16 speed."""
    from i2imetric.models.precision import cpu_matmul_support

    support = cpu_matmul_support()
    amx = [name for name in ("amx_bf16", "amx_fp16") if support[name]]
    unknown = [name for name in ("amx_bf16", "amx_fp16", "avx512_bf16") if support[name] is None]
    if amx:
        amx_text = "+".join(amx)
    else:
        amx_text = "AMX unknown" if {"amx_bf16", "amx_fp16"} & set(unknown) else "no AMX"
    avx_text = {True: "avx512_bf16", False: "no avx512_bf16", None: "avx512_bf16 unknown"}[support["avx512_bf16"]]
    return f"kernels {support['capability']}, {amx_text}, {avx_text}"  # unknown: this torch has no probe
