"""The zero-shot prior: a score from fixed formulas over pretrained CLIP features.

It needs no training, so a metric built on any pretrained OpenCLIP model is usable at once,
and the trained head only has to learn a residual on top of it (see :mod:`i2imetric.models.head`).

With ``g_s, g_o`` the pooled source/output embeddings, ``t`` the instruction embedding and
``P_s, P_o`` the patch tokens (all unit length, in the joint space):

* direction    = cos(g_o - g_s, t): did the image move the way the instruction points?
  The norm of ``g_o - g_s`` is floored at ``direction_min_norm``: when the image barely
  moved, the direction of the difference is numerical noise and must not count.
* gain         = cos(g_o, t) - cos(g_s, t): is the output a better match than the source?
* preservation = mean_i cos(P_o[i], P_s[i]) - 1: how much of the picture was changed (<= 0).

``instruction = scale * (w_d * direction + w_g * gain)``, ``preservation = scale * w_p *
preservation``, ``quality = 0`` (no fixed formula judges quality; that sub-score is
learned), and the score is their sum. Per patch, the same terms give the map:
``scale * (w_g * (cos(P_o[i], t) - cos(P_s[i], t)) + w_p * (cos(P_o[i], P_s[i]) - 1))``,
positive where the edit helped and negative where it hurt.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .config import PriorConfig

__all__ = ["PriorOutput", "zero_shot_prior", "global_cosines"]


@dataclass
class PriorOutput:
    score: torch.Tensor  # [N]
    subscores: torch.Tensor  # [N, 3]: instruction, preservation, quality
    patch_map: torch.Tensor  # [N, L]


def global_cosines(
    g_source: torch.Tensor, g_output: torch.Tensor, text: torch.Tensor, direction_min_norm: float = 0.05
) -> torch.Tensor:
    """``[N, 4]``: direction, gain, cos(g_o, g_s) and cos(g_o, t), the prior's global terms."""
    output_text = (g_output * text).sum(-1)
    source_text = (g_source * text).sum(-1)
    direction = (F.normalize(g_output - g_source, dim=-1, eps=direction_min_norm) * text).sum(-1)
    output_source = (g_output * g_source).sum(-1)
    return torch.stack([direction, output_text - source_text, output_source, output_text], dim=-1)


def zero_shot_prior(
    g_source: torch.Tensor,
    g_output: torch.Tensor,
    text: torch.Tensor,
    patches_source: torch.Tensor,
    patches_output: torch.Tensor,
    weights: PriorConfig,
) -> PriorOutput:
    """Score a batch of encoded triplets with the fixed prior formulas.

    Args:
        g_source, g_output, text: ``[N, D]`` unit vectors.
        patches_source, patches_output: ``[N, L, D]`` unit patch tokens.
        weights: the prior's fixed weights and scale.

    Returns:
        The prior's score ``[N]``, sub-scores ``[N, 3]`` and per-patch map ``[N, L]``.
    """
    cosines = global_cosines(g_source, g_output, text, weights.direction_min_norm)
    direction, gain = cosines[:, 0], cosines[:, 1]
    patch_similarity = (patches_output * patches_source).sum(-1)  # [N, L]
    preservation = patch_similarity.mean(-1) - 1.0

    instruction_term = weights.scale * (weights.direction * direction + weights.gain * gain)
    preservation_term = weights.scale * weights.preservation * preservation
    subscores = torch.stack([instruction_term, preservation_term, torch.zeros_like(direction)], dim=-1)

    patch_gain = ((patches_output - patches_source) * text[:, None, :]).sum(-1)
    patch_map = weights.scale * (weights.gain * patch_gain + weights.preservation * (patch_similarity - 1.0))
    return PriorOutput(score=subscores.sum(-1), subscores=subscores, patch_map=patch_map)
