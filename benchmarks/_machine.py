"""The machine line every benchmark prints beside its figures (imported by the scripts here)."""

from __future__ import annotations

import os
import platform


def describe_machine() -> str:
    """Cores, CPU model, GPU if any, and the load average when the run starts."""
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
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} CPU cores ({cpu}), {gpu}, load average {load:.1f} at start"
