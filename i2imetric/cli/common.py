"""Helpers shared by the subcommands.

Arguments and paths are checked here before anything imports torch or open_clip, so a
typo costs a fraction of a second, not the seconds of a model import.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import BaseWeightsError, CheckpointError, I2IInputError
from ..models.devices import check_device

__all__ = [
    "UNTRAINED_PREFIX",
    "RANDOM_BASE",
    "add_metric_argument",
    "metric_from_argument",
    "require_files",
]

# `--metric untrained:CONFIG[@WEIGHTS]`: an untrained metric from a model config must be asked for by name.
UNTRAINED_PREFIX = "untrained:"
# `untrained:CONFIG@random`: a random base even where the config names real weights (speed and memory checks).
RANDOM_BASE = "random"


def add_metric_argument(parser, default: str = "demo") -> None:
    parser.add_argument(
        "--metric",
        default=default,
        help=f"a pretrained scorer name (see `i2imetric models`), a checkpoint folder, an hf-hub: id, "
        f"or {UNTRAINED_PREFIX}CONFIG[@WEIGHTS] for an UNTRAINED metric built from a model config, which scores "
        f"with the zero-shot prior of its base: the config's default base weights (fetched once), or WEIGHTS, "
        f"an OpenCLIP tag, an hf-hub:org/repo id, a local weights file, or '{RANDOM_BASE}'; e.g. "
        f"{UNTRAINED_PREFIX}clip-vit-b-32, {UNTRAINED_PREFIX}clip-vit-b-16@laion2b_s34b_b88k, "
        f"{UNTRAINED_PREFIX}test-tiny (a random test model: its scores mean nothing) (default: {default})",
    )
    parser.add_argument("--device", default=None, help="torch device, e.g. cuda or cuda:1 (default: cpu)")


def require_files(**paths) -> None:
    """Refuse a missing input file at once, naming its option: ``require_files(source=args.source)``."""
    for option, path in paths.items():
        if path is not None and not Path(path).is_file():
            flag = "--" + option.replace("_", "-")
            raise I2IInputError(f"{flag} {path}: no such file (working folder: {Path.cwd()})")


def metric_from_argument(name: str, device: str | None = None):
    """Load a trained metric; or, for ``untrained:CONFIG[@WEIGHTS]``, build an untrained one (with a warning).

    ``untrained:CONFIG`` builds the config's base with its default weights
    (``create_metric(CONFIG, pretrained=True, timm_pretrained=True)``; the test configs have
    none and stay random); ``@WEIGHTS`` names the OpenCLIP base weights instead, as
    ``create_metric``'s ``pretrained`` takes them (a tag, ``hf-hub:org/repo``, a local file),
    or ``@random`` for a random base. A bare model config name is refused, saying how to
    ask for the untrained metric, so nobody scores with an untrained head by mistake.
    ``device`` is checked (:func:`~i2imetric.models.devices.check_device`, errors naming ``--device``) before any model loads.
    """
    from ..hub.pretrained import checkpoint_folder, list_pretrained
    from ..models.config import list_models

    if name.startswith(UNTRAINED_PREFIX):
        return _untrained_metric(name, device)
    pretrained = list_pretrained()
    if name in list_models() and name not in pretrained:
        raise CheckpointError(
            f"--metric {name!r} is a model config, not a trained scorer; to score with an UNTRAINED metric "
            f"built from it, ask for one: --metric {UNTRAINED_PREFIX}{name}"
        )
    if name.startswith("hf-hub:"):
        device = check_device(device, option="--device")  # before the download, not after
    try:
        # Resolved here, torch-free, so a wrong name is refused before any model import.
        folder = checkpoint_folder(name)
    except CheckpointError as exc:
        raise CheckpointError(
            f"--metric {exc}; an untrained metric from a model config is {UNTRAINED_PREFIX}CONFIG "
            f"({', '.join(list_models())})"
        ) from None
    device = check_device(device, option="--device")
    from ..models.factory import load_metric

    return load_metric(folder, device=device)


def _untrained_metric(name: str, device: str | None):
    from ..models.config import get_model_config, list_models

    # partition at the first "@": config names never hold one, a weights path may.
    config_name, at, weights = name[len(UNTRAINED_PREFIX) :].partition("@")
    if config_name not in list_models():
        raise CheckpointError(
            f"--metric {name!r}: {config_name!r} is not a model config; choose from {', '.join(list_models())}"
        )
    if at and not weights:
        raise I2IInputError(
            f"--metric {name!r}: nothing after '@'; name the base weights (an OpenCLIP tag, hf-hub:org/repo, "
            f"a local file or {RANDOM_BASE!r}), or leave out '@' for the config's default weights"
        )
    device = check_device(device, option="--device")  # after the torch-free checks of the name, before any model is built
    config = get_model_config(config_name)
    if weights == RANDOM_BASE or not (weights or config.base.default_pretrained):
        pretrained, timm_pretrained, base = None, None, "a RANDOM base: its scores mean nothing"
    else:
        pretrained = weights or True
        # The timm tower does not change an untrained metric's scores (the head's outputs
        # start at zero), but a random one would make the metric wrong to fine-tune or save.
        timm_pretrained = True if config.timm is not None and config.timm.default_pretrained else None
        base = f"its base weights {weights or config.base.default_pretrained!r}"
    from ..models.factory import create_metric

    print(
        f"warning: {config_name!r} is a model config, not a trained scorer: the metric is UNTRAINED and scores "
        f"with the zero-shot prior of {base}. Use a trained checkpoint for the best scores.",
        file=sys.stderr,
    )
    try:
        return create_metric(config_name, pretrained=pretrained, device=device, timm_pretrained=timm_pretrained)
    except BaseWeightsError as exc:
        raise BaseWeightsError(f"--metric {name!r}: {exc}") from None
