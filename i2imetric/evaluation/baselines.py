"""The usual edit-evaluation baselines, computed beside the metric from what it already has.

A benchmark reports the learned score next to the numbers papers print: CLIP-T, CLIP-I,
CLIP-directional, DINO-style patch similarity, L2 and PSNR. Here they reuse the metric's
own encodings of each (source, instruction, output), so a baseline costs a few dot
products, not another forward pass; only the caption form of CLIP-directional encodes
extra text (the captions), and only for rows that have captions.

Two kinds of baseline:

* feature baselines take an :class:`EncodedTriplets` (the batch's encoded features) and
  return one value per triplet, ``[N]``; NaN where a row lacks what the baseline needs
  (it is written as null);
* pixel baselines take the decoded source and output as ``[3, H, W]`` floats in [0, 1]
  and return one float. They run in the data-loader workers, where the pixels are, at
  a fixed working resolution: the source's own size, shrunk (aspect kept) to at most
  :data:`PIXEL_BASELINE_MAX_SIDE` pixels on its long side (:func:`working_size`), with the
  output resized to the same size (:func:`at_source_size`). Sources up to that size are
  compared pixel for pixel as before; a larger one is compared at the working size
  (decoded whole, then resized), so a worker never holds a full-resolution photo for the
  rest of its batch.

With ``g`` pooled image embeddings, ``t`` the instruction embedding, ``P`` CLIP patch
tokens and ``V`` timm ViT patch tokens (``s`` source, ``o`` output):

=====================  =====================================  ================
name                   value                                  better
=====================  =====================================  ================
clip_t                 cos(g_o, t)                            higher
clip_i                 cos(g_o, g_s)                          higher
clip_dir               cos(g_o - g_s, t)                      higher
clip_dir_captions      cos(g_o - g_s, t_target - t_source)    higher
patch_preservation     mean_i cos(P_o[i], P_s[i])             higher
vit_patch              mean_i cos(V_o[i], V_s[i])             higher
l2                     mean((o - s)^2), pixels in [0, 1]      lower
psnr                   10 log10(1 / mean((o - s)^2)) in dB    higher
=====================  =====================================  ================

``clip_dir_captions`` is InstructPix2Pix's directional similarity and needs the
record's ``source_caption`` and ``target_caption``. ``vit_patch`` exists only for a
metric with a timm encoder. PSNR of identical images is capped at :data:`PSNR_CAP_DB`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F

from ..errors import I2IInputError
from ..models.metric import ImageFeatures

__all__ = [
    "BASELINES",
    "PIXEL_BASELINE_MAX_SIDE",
    "baseline_settings",
    "PSNR_CAP_DB",
    "Baseline",
    "EncodedTriplets",
    "at_size",
    "at_source_size",
    "resolve_baselines",
    "working_size",
]

# An MSE of 1e-10 on [0, 1] pixels: identical images get a finite, clearly-maximal PSNR.
PSNR_CAP_DB = 100.0

# The pixel baselines' working resolution: the long side of the source, at most. Editing
# benchmarks' images (512 to 1024 pixels) are compared at their own size.
PIXEL_BASELINE_MAX_SIDE = 1024


@dataclass
class EncodedTriplets:
    """The metric's encodings of N aligned triplets, as the feature baselines see them.

    Args:
        source, output: encoded source and output images.
        instruction: ``[N, D]`` instruction embeddings.
        source_caption, target_caption: ``[N, D]`` caption embeddings, NaN rows where a
            triplet has no captions; None when no triplet in the batch has any.
    """

    source: ImageFeatures
    output: ImageFeatures
    instruction: torch.Tensor
    source_caption: Optional[torch.Tensor] = None
    target_caption: Optional[torch.Tensor] = None


@dataclass(frozen=True)
class Baseline:
    """One named baseline: how to compute it and how to read it.

    Args:
        name: the key in each result row's ``baselines``.
        compute: ``EncodedTriplets -> [N]`` for ``kind="features"``;
            ``(source, output) -> float`` for ``kind="pixels"``.
        kind: ``"features"`` or ``"pixels"``.
        higher_is_better: the direction of a better edit.
        needs_timm: only available when the metric has a timm encoder.
        needs_captions: reads the records' ``source_caption`` and ``target_caption``
            (the engine encodes them, as :attr:`EncodedTriplets.source_caption` and
            ``target_caption``, only when a chosen baseline needs them).
    """

    name: str
    compute: Callable
    kind: str
    higher_is_better: bool = True
    needs_timm: bool = False
    needs_captions: bool = False


# ----------------------------------------------------------------- feature baselines


def clip_t(encoded: EncodedTriplets) -> torch.Tensor:
    """CLIP-T: does the output match the instruction? ``cos(g_o, t)``."""
    return F.cosine_similarity(encoded.output.pooled, encoded.instruction, dim=-1)


def clip_i(encoded: EncodedTriplets) -> torch.Tensor:
    """CLIP-I: how close is the output to the source? ``cos(g_o, g_s)``."""
    return F.cosine_similarity(encoded.output.pooled, encoded.source.pooled, dim=-1)


def clip_dir(encoded: EncodedTriplets) -> torch.Tensor:
    """CLIP-directional with the instruction as the direction: ``cos(g_o - g_s, t)``."""
    return F.cosine_similarity(encoded.output.pooled - encoded.source.pooled, encoded.instruction, dim=-1)


def clip_dir_captions(encoded: EncodedTriplets) -> torch.Tensor:
    """InstructPix2Pix's directional similarity: ``cos(g_o - g_s, t_target - t_source)``; NaN without captions."""
    if encoded.source_caption is None or encoded.target_caption is None:
        return torch.full_like(encoded.output.pooled[:, 0], math.nan)
    text_direction = encoded.target_caption - encoded.source_caption
    return F.cosine_similarity(encoded.output.pooled - encoded.source.pooled, text_direction, dim=-1)


def patch_preservation(encoded: EncodedTriplets) -> torch.Tensor:
    """Mean cosine of each CLIP patch token of the output with the same patch of the source."""
    return F.cosine_similarity(encoded.output.patches, encoded.source.patches, dim=-1).mean(-1)


def vit_patch(encoded: EncodedTriplets) -> torch.Tensor:
    """DINO-style: mean cosine of the timm ViT's patch tokens, output vs source, patch by patch."""
    return F.cosine_similarity(encoded.output.timm_patches, encoded.source.timm_patches, dim=-1).mean(-1)


# ------------------------------------------------------------------- pixel baselines


def baseline_settings(chosen: Sequence[Baseline]) -> dict:
    """What besides their names decides the values of the ``chosen`` baselines (for a results header).

    Pixel baselines compare at :data:`PIXEL_BASELINE_MAX_SIDE`; files written when they
    compared at full resolution must not be resumed into.

    Example:
        >>> baseline_settings([]), baseline_settings(resolve_baselines("l2", has_timm=False))
        ({}, {'pixel_max_side': 1024})
    """
    return {"pixel_max_side": PIXEL_BASELINE_MAX_SIDE} if any(b.kind == "pixels" for b in chosen) else {}


def working_size(height: int, width: int) -> tuple[int, int]:
    """Where the pixel baselines compare a source of ``height x width``: its size, long side capped.

    Example:
        >>> working_size(512, 768), working_size(4096, 3072)
        ((512, 768), (1024, 768))
    """
    scale = min(1.0, PIXEL_BASELINE_MAX_SIDE / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def at_size(pixels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``pixels`` resized to ``size`` (antialiased bilinear, as :func:`at_source_size`); unchanged when it matches."""
    if tuple(pixels.shape[-2:]) == tuple(size):
        return pixels
    resized = F.interpolate(pixels[None], size=size, mode="bilinear", antialias=True, align_corners=False)
    return resized[0].clamp_(0.0, 1.0)


def at_source_size(source: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """The output resized to the source's height and width (unchanged when they match)."""
    return at_size(output, tuple(source.shape[-2:]))


def l2(source: torch.Tensor, output: torch.Tensor) -> float:
    """Mean squared pixel difference, images in [0, 1] at a common size."""
    return float(torch.mean((output - source) ** 2))


def psnr(source: torch.Tensor, output: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1], capped at :data:`PSNR_CAP_DB`."""
    mse = l2(source, output)
    return min(PSNR_CAP_DB, -10.0 * math.log10(mse)) if mse > 0 else PSNR_CAP_DB


BASELINES: dict[str, Baseline] = {
    baseline.name: baseline
    for baseline in (
        Baseline("clip_t", clip_t, "features"),
        Baseline("clip_i", clip_i, "features"),
        Baseline("clip_dir", clip_dir, "features"),
        Baseline("clip_dir_captions", clip_dir_captions, "features", needs_captions=True),
        Baseline("patch_preservation", patch_preservation, "features"),
        Baseline("vit_patch", vit_patch, "features", needs_timm=True),
        Baseline("l2", l2, "pixels", higher_is_better=False),
        Baseline("psnr", psnr, "pixels"),
    )
}


def resolve_baselines(spec: str | Sequence[str] | None, has_timm: bool) -> list[Baseline]:
    """The baselines a ``--baselines`` value asks for.

    Args:
        spec: ``"all"`` (every baseline this metric can compute), ``"none"``, None or an
            empty sequence (no baselines), a comma-separated string, or a sequence of names.
        has_timm: whether the metric has a timm encoder (baselines with ``needs_timm``,
            such as ``vit_patch``, need one).

    Returns:
        The chosen :class:`Baseline` objects, in the order of :data:`BASELINES`.

    Raises:
        I2IInputError: for an unknown name, or a ``needs_timm`` baseline on a metric without timm.
    """
    if spec is None or spec == "none":
        return []
    if spec == "all":
        return [b for b in BASELINES.values() if has_timm or not b.needs_timm]
    names = [name.strip() for name in spec.split(",")] if isinstance(spec, str) else list(spec)
    names = [name for name in names if name]
    unknown = [name for name in names if name not in BASELINES]
    if unknown:
        raise I2IInputError(f"unknown baseline(s) {unknown}; choose from {', '.join(BASELINES)}, 'all' or 'none'")
    chosen = [b for b in BASELINES.values() if b.name in names]
    need_timm = [b.name for b in chosen if b.needs_timm]
    if not has_timm and need_timm:
        raise I2IInputError(
            f"{', '.join(need_timm)} {'needs' if len(need_timm) == 1 else 'need'} a metric with a timm encoder "
            "(e.g. clip-vit-b-16-dinov2)"
        )
    return chosen
