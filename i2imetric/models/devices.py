"""Which torch devices this machine has, and a check of a requested one before any model loads."""

from __future__ import annotations

from ..errors import I2IInputError

__all__ = ["available_devices", "check_device"]


def available_devices() -> list[str]:
    """The torch devices this machine can score on, as ``device=`` and ``--device`` take them: cpu, then cuda (each index), mps, xpu."""
    import torch

    devices = ["cpu"]
    for kind, backend in (("cuda", torch.cuda), ("xpu", getattr(torch, "xpu", None))):
        if backend is not None and backend.is_available():
            devices += [kind] + [f"{kind}:{index}" for index in range(backend.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices += ["mps", "mps:0"]  # one Apple GPU, which torch also names by index
    return devices


def check_device(device, option: str = "device") -> str | None:
    """Refuse a device string that is not a torch device, or one this machine does not have, naming ``option``.

    Without this, ``device="gpu"`` (or ``--device cuda`` on a CPU-only machine) fails with a
    raw RuntimeError, and only after the model has loaded. :func:`~i2imetric.load_metric`,
    :func:`~i2imetric.create_metric` and the command line call it before loading.

    Args:
        device: a torch device or its string (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``), or
            None for the default (CPU), which is returned as is.
        option: how the caller names the argument in the error (``"--device"`` on the command line).

    Returns:
        The device, normalised by ``torch.device`` (``"cuda:0"`` stays ``"cuda:0"``), or None.

    Raises:
        I2IInputError: not a torch device, or not available here; the message lists the
            devices this machine has.
    """
    if device is None:
        return None
    import torch

    choices = available_devices()
    listed = f"this machine has: {', '.join(choices)}"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise I2IInputError(f"{option} {device!r} is not a torch device; {listed}") from None
    # "meta" builds shapes without storage: every machine has it (a device for tests and sizing).
    if parsed.type in ("cpu", "meta") or str(parsed) in choices:
        return str(parsed)
    if parsed.type == "cuda" and "cuda" not in choices:
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "without CUDA"
        reason = f"no CUDA device is available (torch {torch.__version__}, built {build})"
    elif parsed.type in choices:
        count = sum(choice.startswith(f"{parsed.type}:") for choice in choices)
        reason = f"there is no {parsed} ({count} {parsed.type} device{'s' if count != 1 else ''}, from index 0)"
    else:
        reason = f"{parsed.type} is not available"
    raise I2IInputError(f"{option} {device!r}: {reason}; {listed}")
