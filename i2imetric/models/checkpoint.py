"""A checkpoint is a folder, and loading one never runs code from it.

::

    i2imetric_config.json   architecture, base weights source (tag, hub id, or file+sha256),
                            preprocessing, LoRA config, calibration, score range, versions
    model.safetensors       every trainable tensor (head, LoRA; all weights for "full")
    README.md               the model card
    base.safetensors        only for a base that exists nowhere else (random or tiny bases),
                            or a local-file base copied in (bundle_base)
    timm_base.safetensors   the same for the optional timm ViT

Loading reads safetensors only, matches keys strictly and checks shapes, dtypes and values
(integer or bool tensors and NaN/inf are refused, never cast). Pickle files are refused
outright, a base file is checked against its recorded sha256, and a config written by a
newer major format is refused rather than half-understood. Every field of the config is
checked before anything is built, including the size of the architecture it declares, so
a tampered config fails with a :class:`~i2imetric.errors.CheckpointError` naming the file
and the field instead of a TypeError, or an attempt to allocate 200 GB.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

import torch
from safetensors.torch import save_file

from ..errors import CheckpointError, ConfigError
from ..hub.pretrained import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME
from ..hub.upload import push_folder_to_hub
from ..hub.weights import (
    WeightsSource,
    check_recorded_file,
    check_tensors,
    read_state_dict,
    resolve_open_clip_weights,
    resolve_timm_weights,
    sha256_file,
)
from ..io.json_files import read_json_file
from ..version import __version__
from .config import SUBSCORE_NAMES, MetricConfig
from .encoders import estimate_parameters
from .outputs import Calibration
from .preprocess import Preprocess

if TYPE_CHECKING:  # the metric calls this module; importing it back would be a cycle
    from .metric import I2IMetric

__all__ = [
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "CARD_NAME",
    "FORMAT_VERSION",
    "MAX_PARAMETERS",
    "save_checkpoint",
    "load_checkpoint",
]

BASE_NAME = "base.safetensors"
TIMM_BASE_NAME = "timm_base.safetensors"
FORMAT_VERSION = "1.0"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
# The largest architecture loading builds unless asked to: twice OpenCLIP's ViT-bigG-14
# (2.54 billion parameters), so every published CLIP fits, while a config tampered to
# declare, say, 64 layers of width 8192 (51 billion, ~200 GB) fails before allocating.
MAX_PARAMETERS = 5_000_000_000
DEFAULT_IMAGE_SIZE = 224  # open_clip's CLIPVisionCfg default


def trainable_tensors(metric: I2IMetric) -> dict[str, torch.Tensor]:
    """Every tensor training may change, by its name in the metric."""
    return {name: p.detach().cpu().contiguous() for name, p in metric.named_parameters() if p.requires_grad}


def save_checkpoint(
    metric: I2IMetric,
    folder: str | Path,
    card: Optional[str] = None,
    bundle_base: bool = False,
    *,
    push_to_hub: Optional[str] = None,
    private: Optional[bool] = None,
    commit_message: Optional[str] = None,
) -> Path:
    """Write ``metric`` to ``folder`` (created if needed) and return the folder.

    Args:
        metric: the metric to save.
        folder: the checkpoint folder.
        card: the model card's markdown (default: a short generated card, unless one exists).
        bundle_base: copy a local-file base (and a local-file timm ViT) into the folder,
            recorded by relative path and sha256, so the folder is self-contained (the
            shipped demo scorer does this).
        push_to_hub: a hub repo id ``"org/name"``: after writing the folder, create the repo
            if needed and upload the folder to it, so ``load_metric("hf-hub:org/name")``
            loads it. Offline or on any hub error this raises a one-line
            :class:`~i2imetric.errors.CheckpointError` at once (no retries) saying the folder
            was written locally and how to upload it later.
        private: with ``push_to_hub``, create a new repo as private.
        commit_message: with ``push_to_hub``, the hub commit's message.

    A metric with merged adapters is saved as if unmerged: the LoRA tensors are never
    changed by a merge, and a bundled base is written with the adapters taken out again.
    """
    low = sorted({str(p.dtype) for p in metric.parameters() if p.dtype != torch.float32})
    if low:
        raise CheckpointError(
            f"save_pretrained: the metric holds {', '.join(low)} weights, but a checkpoint stores float32 "
            "(casting back would keep the rounding). Load or create it in float32 (the default dtype) to save it."
        )
    if not metric.merged:
        written = _save(metric, folder, card, bundle_base)
    else:
        metric.unmerge_adapters()
        try:
            written = _save(metric, folder, card, bundle_base)
        finally:
            metric.merge_adapters()
    if push_to_hub is not None:
        push_folder_to_hub(written, push_to_hub, private=private, commit_message=commit_message)
    return written


def _save(metric: I2IMetric, folder: str | Path, card: Optional[str], bundle_base: bool) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(trainable_tensors(metric), str(folder / WEIGHTS_NAME))
    base_source = metric.base_source
    if bundle_base and base_source.kind == "file":
        # Under its own kind of name: a .pt base copied to base.safetensors would be read as safetensors.
        suffix = Path(base_source.ref).suffix.lower()
        base_source = _copy_base_file(base_source, folder / ("base" + suffix if suffix != ".safetensors" else BASE_NAME))
    base_source = _relative_if_inside(_bundle_if_needed(base_source, metric.clip.model, folder / BASE_NAME, metric), folder)
    timm_source = metric.timm_source
    if metric.timm is not None:
        if bundle_base and timm_source.kind == "file":
            # The timm ViT's weights file travels with the folder as the OpenCLIP base's does
            # (a DINO-style ViT pretrained here exists nowhere else).
            suffix = Path(timm_source.ref).suffix.lower()
            target = folder / (TIMM_BASE_NAME if suffix == ".safetensors" else "timm_base" + suffix)
            timm_source = _copy_base_file(timm_source, target)
        timm_source = _bundle_if_needed(timm_source, metric.timm.model, folder / TIMM_BASE_NAME, metric)
        timm_source = _relative_if_inside(timm_source, folder)
    config = {
        "format_version": FORMAT_VERSION,
        "i2imetric_version": __version__,
        "model": metric.config.to_dict(),
        "open_clip_config": metric.clip.open_clip_config,
        "preprocess": {
            "open_clip": metric.clip.preprocess.to_dict(),
            "timm": metric.timm.preprocess.to_dict() if metric.timm is not None else None,
        },
        "base_weights": base_source.to_dict(),
        "timm_weights": timm_source.to_dict() if timm_source is not None else None,
        "calibration": vars(metric.calibration) if metric.calibration is not None else None,
        "validated_on": list(getattr(metric, "validated_on", [])),
        "higher_is_better": True,
        "score_range": {"raw": [None, None], "calibrated": [0.0, 1.0]},
        "subscores": list(SUBSCORE_NAMES),
    }
    with open(folder / CONFIG_NAME, "w", encoding="utf-8") as handle:
        json.dump(config, handle, indent=2)
        handle.write("\n")
    if card is not None or not (folder / CARD_NAME).exists():
        (folder / CARD_NAME).write_text(card if card is not None else _default_card(metric), encoding="utf-8")
    return folder


def load_checkpoint(
    folder: str | Path,
    build_metric: Callable[..., "I2IMetric"],
    device: Optional[str] = None,
    base_weights: Optional[str] = None,
    max_parameters: Optional[int] = MAX_PARAMETERS,
) -> I2IMetric:
    """Load a checkpoint folder into an :class:`I2IMetric` in eval mode.

    Users call :meth:`I2IMetric.from_pretrained` or :func:`i2imetric.load_metric`, which
    pass the metric's own builder: this module reads and checks the folder, the metric
    module builds, so neither imports the other's internals back.

    Args:
        folder: the checkpoint folder.
        build_metric: :func:`i2imetric.models.metric.build_metric`.
        device: target device (CPU by default).
        base_weights: a local base weights file to use instead of the recorded source (its
            sha256 is still checked when one was recorded).
        max_parameters: refuse, before building anything, an architecture whose config
            declares more parameters than this; None builds any size.

    Raises:
        CheckpointError: a missing, unsafe or inconsistent file or config field, named.
    """
    folder = Path(folder)
    config_path = folder / CONFIG_NAME
    stored = _read_config(folder)
    config = MetricConfig.from_dict(stored["model"], where=f"{config_path}: model")
    _check_size(stored["open_clip_config"], config, config_path, max_parameters)
    clip_preprocess, timm_preprocess = _read_preprocess(stored, config_path)
    base_file, base_source = _resolve_base(stored, folder, base_weights, config)
    timm_file, timm_source = _resolve_timm(stored, folder, config)
    calibration = _read_calibration(stored.get("calibration"), config_path)
    validated_on = _read_validated_on(stored.get("validated_on"), config_path)
    try:
        metric = build_metric(
            config,
            stored["open_clip_config"],
            clip_preprocess,
            base_file,
            base_source,
            timm_file,
            timm_source,
        )
    except ConfigError as exc:
        raise ConfigError(f"{config_path}: {str(exc).rstrip('.')}{_dead_adapter_hint(exc)}") from exc
    if metric.timm is not None and timm_preprocess is not None:
        metric.timm.preprocess = timm_preprocess
    _load_trainable(metric, folder / WEIGHTS_NAME)
    metric.calibration = calibration
    metric.validated_on = validated_on
    return metric.to(device or "cpu").eval()


# ----------------------------------------------------------------------- saving


def _bundle_if_needed(source: WeightsSource, module: torch.nn.Module, path: Path, metric: I2IMetric) -> WeightsSource:
    """A random base exists nowhere else: write it next to the checkpoint, with its sha256.

    Bases with a tag, hub id or file source are recorded, not copied. A "full" fine-tune
    stores every weight in model.safetensors already.
    """
    if source.kind != "random" or metric.config.trainable == "full":
        return source
    save_file(_frozen_base_state(module), str(path))
    return WeightsSource("file", path.name, sha256_file(path))


def _relative_if_inside(source: WeightsSource, folder: Path) -> WeightsSource:
    """Record a base file inside the checkpoint folder by name, so the folder can move."""
    if source.kind != "file":
        return source
    path = Path(source.ref)
    if path.is_absolute() and path.resolve().parent == folder.resolve():
        return WeightsSource("file", path.name, source.sha256)
    return source


def _copy_base_file(source: WeightsSource, target: Path) -> WeightsSource:
    import shutil

    if Path(source.ref).resolve() != target.resolve():
        shutil.copyfile(source.ref, target)
    return WeightsSource("file", target.name, sha256_file(target))


def _frozen_base_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The module's original weights, with peft's LoRA tensors and wrapper names removed."""
    state = {}
    for name, tensor in module.state_dict().items():
        if "lora_" in name:
            continue
        state[name.replace(".base_layer", "")] = tensor.detach().cpu().contiguous()
    return state


def _default_card(metric: I2IMetric) -> str:
    config = metric.config
    return (
        f"# i2imetric checkpoint: {config.name}\n\n"
        f"{config.description}\n\n"
        f"- base: {metric.base_source.kind} {metric.base_source.ref or ''}\n"
        f"- trainable: {config.trainable}; {metric.parameter_count()}\n"
        "- training data and validation numbers: not recorded (this card was written automatically).\n"
    )


# ---------------------------------------------------------------------- loading


def _read_config(folder: Path) -> dict:
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: not a checkpoint folder")
    config_path = folder / CONFIG_NAME
    if not config_path.is_file():
        raise CheckpointError(f"{folder}: missing {CONFIG_NAME}; is this an i2imetric checkpoint folder?")
    if not (folder / WEIGHTS_NAME).is_file():
        pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
        if pickles:
            raise CheckpointError(
                f"{folder}: found {pickles} but no {WEIGHTS_NAME}; pickle files are refused because loading them "
                "can run arbitrary code. Convert the tensors with safetensors.torch.save_file."
            )
        raise CheckpointError(f"{folder}: missing {WEIGHTS_NAME}")
    stored = read_json_file(config_path, fix="save the checkpoint again, or restore the file", expect=dict,
                            error=CheckpointError)  # fmt: skip
    _check_format_version(stored, config_path)
    for key in ("model", "open_clip_config", "preprocess", "base_weights"):
        if key not in stored:
            raise CheckpointError(f"{config_path}: missing required key {key!r}")
    return stored


def _check_size(open_clip_config: dict, config: MetricConfig, config_path: Path, max_parameters: Optional[int]) -> None:
    """Refuse an architecture too large to be meant, from its config alone (nothing is built)."""
    estimate = estimate_parameters(open_clip_config, config.timm, f"{config_path}: open_clip_config", CheckpointError)
    if max_parameters is not None and estimate > max_parameters:
        raise CheckpointError(
            f"{config_path}: open_clip_config (and timm, if any) declares about {estimate / 1e9:.1f} billion "
            f"parameters ({estimate:,}; ~{4 * estimate / 2**30:.0f} GiB in float32), over the limit of "
            f"{max_parameters:,}. A tampered or mistyped config can declare any size. If this architecture is "
            "intended, load it with load_metric(..., allow_large=True) or I2IMetric.from_pretrained(..., allow_large=True)."
        )


def _read_preprocess(stored: dict, config_path: Path) -> tuple[Preprocess, Optional[Preprocess]]:
    """The towers' preprocessing, checked field by field and against the declared input size."""
    section = stored["preprocess"]
    if not isinstance(section, dict) or not isinstance(section.get("open_clip"), dict):
        raise CheckpointError(f"{config_path}: preprocess: expected a mapping with an 'open_clip' entry, got {section!r}")
    unknown = sorted(set(section) - {"open_clip", "timm"})
    if unknown:
        raise CheckpointError(f"{config_path}: preprocess: unknown key(s) {unknown}; valid keys: ['open_clip', 'timm']")
    clip = Preprocess.from_dict(section["open_clip"], where=f"{config_path}: preprocess.open_clip")
    # The positional embedding has one entry per patch of the declared image size.
    image_size = stored["open_clip_config"].get("vision_cfg", {}).get("image_size", DEFAULT_IMAGE_SIZE)
    expected = tuple(image_size) if isinstance(image_size, (list, tuple)) else (image_size, image_size)
    if clip.size != expected:
        raise CheckpointError(
            f"{config_path}: preprocess.open_clip.size is {list(clip.size)} but open_clip_config.vision_cfg."
            f"image_size is {image_size}; the image tower only takes {list(expected)}"
        )
    timm = section.get("timm")
    return clip, Preprocess.from_dict(timm, where=f"{config_path}: preprocess.timm") if timm else None


def _dead_adapter_hint(error: ConfigError) -> str:
    """How to repair a checkpoint written when the default LoRA targets included attn.out_proj."""
    if "out_proj" not in str(error):
        return ""
    return (
        ". Checkpoints trained with the old default targets carry these dead adapters: remove "
        "'attn\\.out_proj|' from the regexes under model.lora and the '.attn.out_proj.lora_' tensors from "
        f"{WEIGHTS_NAME} (their lora_B is all zero, so scores stay the same)"
    )


def _read_calibration(data, config_path: Path) -> Optional[Calibration]:
    if not data:
        return None
    where = f"{config_path}: calibration"
    if not isinstance(data, dict):
        raise CheckpointError(f"{where}: expected a mapping with 'slope' and 'intercept', got {data!r}")
    unknown = sorted(set(data) - {"slope", "intercept"})
    if unknown:
        raise CheckpointError(f"{where}: unknown key(s) {unknown}; valid keys: ['intercept', 'slope']")
    for key, value in data.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise CheckpointError(f"{where}.{key}: expected a finite number, got {value!r}")
    return Calibration(**data)


def _read_validated_on(data, config_path: Path) -> list:
    """The benchmark shares the scorer was validated on; absent in checkpoints older than the record."""
    if data is None:
        return []
    where = f"{config_path}: validated_on"
    if not isinstance(data, list):
        raise CheckpointError(f"{where}: expected a list of {{bench, fraction}}, got {data!r}")
    for index, record in enumerate(data):
        if not isinstance(record, dict) or set(record) != {"bench", "fraction"}:
            raise CheckpointError(f"{where}[{index}]: expected exactly the keys bench and fraction, got {record!r}")
        fraction = record["fraction"]
        if not isinstance(record["bench"], str) or isinstance(fraction, bool) or \
                not isinstance(fraction, (int, float)) or not 0.0 < fraction < 1.0:  # fmt: skip
            raise CheckpointError(f"{where}[{index}]: expected a benchmark name and a fraction in (0, 1), got {record!r}")
    return [dict(record) for record in data]


def _check_format_version(stored: dict, config_path: Path) -> None:
    version = str(stored.get("format_version", ""))
    try:
        major = int(version.split(".")[0])
    except ValueError:
        raise CheckpointError(f"{config_path}: missing or invalid format_version {version!r}") from None
    ours = int(FORMAT_VERSION.split(".")[0])
    if major > ours:
        raise CheckpointError(
            f"{config_path}: written in checkpoint format {version} by i2imetric "
            f"{stored.get('i2imetric_version', '?')}; this is i2imetric {__version__} (format {FORMAT_VERSION}). "
            "Upgrade i2imetric to load it."
        )


def _resolve_base(stored: dict, folder: Path, override: Optional[str], config: MetricConfig):
    source = WeightsSource.from_dict(stored["base_weights"], where=f"{folder / CONFIG_NAME}: base_weights")
    if override is not None:
        recorded = WeightsSource("file", str(Path(override).resolve()), source.sha256)
        return (check_recorded_file(recorded, folder) if source.sha256 else str(override)), recorded
    if source.kind == "file":
        path = check_recorded_file(source, folder)
        # In memory the source is absolute, so saving the metric elsewhere still finds it.
        return path, WeightsSource("file", str(Path(path).resolve()), source.sha256)
    if source.kind in ("open_clip", "hf-hub"):
        path, _, _ = resolve_open_clip_weights(config.base.open_clip, source.ref, None)
        return path, source
    if source.kind == "random" and config.trainable == "full":
        return None, source  # every weight is in model.safetensors
    raise CheckpointError(
        f"{folder / CONFIG_NAME}: base_weights {source.to_dict()} cannot be resolved: a {source.kind!r} base "
        f"does not go with trainable={config.trainable!r}"
    )


def _resolve_timm(stored: dict, folder: Path, config: MetricConfig):
    if config.timm is None:
        return None, None
    where = f"{folder / CONFIG_NAME}: timm_weights"
    source = WeightsSource.from_dict(stored["timm_weights"], where) if stored.get("timm_weights") else WeightsSource("random")
    if source.kind == "file":
        path = check_recorded_file(source, folder)
        # Absolute in memory, as for the base: saving the metric elsewhere must still find the file.
        return path, WeightsSource("file", str(Path(path).resolve()), source.sha256)
    if source.kind in ("timm", "hf-hub"):
        tag = source.ref.split(".", 1)[1] if source.kind == "timm" else source.ref
        path, _ = resolve_timm_weights(config.timm.model, tag, None)
        return path, source
    if source.kind == "open_clip":
        raise CheckpointError(f"{where}.kind: 'open_clip' names a CLIP tag; a timm source is 'timm', 'hf-hub' or 'file'")
    return None, source


def _load_trainable(metric: I2IMetric, path: Path) -> None:
    """Copy the saved tensors in, refusing any mismatch of names, shapes, dtypes or values."""
    saved = read_state_dict(path, error=CheckpointError)
    expected = {name: p for name, p in metric.named_parameters() if p.requires_grad}
    missing = sorted(set(expected) - set(saved))
    unexpected = sorted(set(saved) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: tensor names do not match the architecture in the config: "
            f"missing {_preview(missing)}, unexpected {_preview(unexpected)}"
        )
    wrong_shapes = [
        f"{name}: file {tuple(saved[name].shape)} vs model {tuple(p.shape)}"
        for name, p in expected.items()
        if saved[name].shape != p.shape
    ]
    if wrong_shapes:
        raise CheckpointError(f"{path}: tensor shapes do not match: {_preview(wrong_shapes)}")
    # copy_ would cast an int8 tensor to float and copy NaN as it is: refuse both first.
    check_tensors(saved.items(), path, CheckpointError)
    with torch.no_grad():
        for name, parameter in expected.items():
            parameter.copy_(saved[name])


def _preview(items: list, limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return f"[{shown}{', ...' if len(items) > limit else ''}] ({len(items)})"
