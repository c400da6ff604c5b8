"""Training losses. Scores are logits on a Bradley-Terry scale: p(a beats b) = sigmoid(a - b)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "pairwise_targets",
    "bradley_terry_loss",
    "hinge_loss",
    "clip_contrastive_loss",
    "patch_map_targets",
    "patch_map_loss",
    "patch_pointing_loss",
]


def pairwise_targets(labels: list) -> torch.Tensor:
    """Map pairwise labels to p(a preferred): "a" -> 1, "b" -> 0, "tie"/"both_bad" -> 0.5, floats as given.

    A both-bad pair with a reference output is trained as a group instead (see
    ``training.data.ManifestGroups``); without one it can only say "neither is better".
    """
    mapping = {"a": 1.0, "b": 0.0, "tie": 0.5, "both_bad": 0.5}
    return torch.tensor([mapping[label] if isinstance(label, str) else float(label) for label in labels])


def bradley_terry_loss(score_a: torch.Tensor, score_b: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of sigmoid(a - b) against p(a preferred); ties are target 0.5.

    Args:
        score_a, score_b: ``[N]`` logits.
        target: ``[N]`` in [0, 1].
    """
    return F.binary_cross_entropy_with_logits(score_a - score_b, target.to(score_a))


def hinge_loss(score_a: torch.Tensor, score_b: torch.Tensor, target: torch.Tensor, margin: float = 0.5) -> torch.Tensor:
    """DreamSim-style margin loss: the preferred side must win by ``margin``.

    Ties (target 0.5) are asked to stay within the margin of each other instead.
    """
    sign = (target.to(score_a) - 0.5) * 2.0  # +1 prefer a, -1 prefer b, 0 tie
    difference = score_a - score_b
    decided = F.relu(margin - sign * difference)
    tied = F.relu(difference.abs() - margin)
    return torch.where(sign != 0, decided, tied).mean()


def clip_contrastive_loss(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor,
                          logit_scale: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric InfoNCE: image i belongs with text i and with no other.

    Synthetic batches repeat captions ("blur the image"). Repeats embed identically, so
    counting them as extra positives gives exactly the same loss as this form: each
    duplicate's column has the same logit. The loss just cannot fall below log(k) for a
    caption repeated k times, which is harmless.

    Args:
        image_embeddings, text_embeddings: ``[N, D]`` L2-normalised.
        logit_scale: the model's learned log temperature (exponentiated and capped at 100).
    """
    logits = logit_scale.exp().clamp(max=100.0) * image_embeddings @ text_embeddings.t()
    targets = torch.arange(len(logits), device=logits.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets))


# A patch counts as helped / hurt when at least this share of it is; patches on a mask's
# edge, partly one and partly the other, are left out of the loss rather than guessed.
PATCH_SHARE = 0.5


def patch_map_targets(helped: torch.Tensor, hurt: torch.Tensor) -> torch.Tensor:
    """Per-patch targets from mask coverages (``[L]`` shares in [0, 1], see ``Preprocess.patch_coverage``).

    +1 where the patch is mostly helped (changed as asked) and not hurt, -1 where it is
    mostly hurt, 0 where neither mask touches it (nothing should change and nothing
    did), NaN on the edges in between (not supervised).
    """
    target = torch.full_like(helped, float("nan"))
    target[(helped == 0) & (hurt == 0)] = 0.0
    target[(helped >= PATCH_SHARE) & (hurt == 0)] = 1.0
    target[hurt >= PATCH_SHARE] = -1.0
    return target


def patch_map_loss(patch_map: torch.Tensor, target: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """The signed map's dense loss: above ``margin`` where helped, below ``-margin`` where hurt, near 0 elsewhere.

    Softplus pushes helped and hurt patches past the margin and then lets them be; the
    unchanged patches get a Huber pull to zero. Each of the three kinds is averaged on its
    own and the three means averaged, so the many unchanged patches of a local edit do
    not drown out its few changed ones.

    Args:
        patch_map: ``[R, L]`` the metric's map (prior plus residual), one row per candidate.
        target: ``[R, L]`` from :func:`patch_map_targets`: +1, -1, 0 or NaN (ignored).
    """
    terms = []
    for sign, loss in ((1.0, F.softplus(margin - patch_map)), (-1.0, F.softplus(margin + patch_map)),
                       (0.0, F.smooth_l1_loss(patch_map, torch.zeros_like(patch_map), reduction="none"))):
        chosen = target == sign
        if chosen.any():
            terms.append(loss[chosen].mean())
    if not terms:
        return patch_map.sum() * 0.0  # keeps the graph (and DDP's gradient hooks) intact
    return torch.stack(terms).mean()


# The pointing loss's softmax temperature, in the map's units: with the map's margin of 1, a
# patch one margin beyond the rest takes about e^2 = 7 times their mass.
POINTING_TEMPERATURE = 0.5


def patch_pointing_loss(patch_map: torch.Tensor, target: torch.Tensor,
                        temperature: float = POINTING_TEMPERATURE) -> torch.Tensor:
    """The pointing game made differentiable: a row's extreme patches should lie in its masks.

    :func:`patch_map_loss` pushes each patch past the margin on its own, so a row may meet it
    and still have its most negative patch outside the damage. This loss ranks the patches
    of a row against each other, which is what the pointing checks measure
    (``evaluate_scorer.grammar_checks``): for each row with hurt patches, the softmax of
    ``-map / temperature`` over its supervised patches should put its mass on the hurt
    ones; for each row with helped patches, the softmax of ``map / temperature`` on the
    helped ones. Unsupervised edge patches (NaN) are left out of both.

    Args:
        patch_map: ``[R, L]`` the metric's map, one row per candidate.
        target: ``[R, L]`` from :func:`patch_map_targets`.

    Returns:
        The mean cross-entropy over the rows that have such patches, the two kinds averaged.
    """
    supervised = ~torch.isnan(target)
    terms = []
    for sign in (1.0, -1.0):
        wanted = target == sign
        rows = wanted.any(dim=1)
        if not rows.any():
            continue
        logits = (sign * patch_map[rows] / temperature).masked_fill(~supervised[rows], float("-inf"))
        in_mask = torch.logsumexp(logits.masked_fill(~wanted[rows], float("-inf")), dim=1)
        terms.append((torch.logsumexp(logits, dim=1) - in_mask).mean())
    if not terms:
        return patch_map.sum() * 0.0  # keeps the graph (and DDP's gradient hooks) intact
    return torch.stack(terms).mean()
