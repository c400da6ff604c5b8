"""The joint head: condenses one (source, instruction, output) triplet into a latent z.

Each patch position becomes one token ``[P_o, P_s, P_o - P_s]`` with a learned position
embedding, from the patches ``head.patch_source`` names: the OpenCLIP tower's (``clip``),
the timm ViT's (``timm``), or both concatenated (``both``). Fusing source and output *at the same
position* is what lets the head see flips, rotations and collateral damage that pooled
embeddings average away. In front go a text token (the instruction) and a global token
(pooled embeddings and the prior's cosines). With ``text_tokens`` the instruction's words
follow the patches, one token each (the text tower's per-token outputs, padding masked
out). A few transformer blocks let the text token attend over the patch differences, i.e.
ask "did the right place change?", and let each patch attend to the words, so "the right
half" can steer which patches count.

``z`` is read from the text and global tokens. The score, sub-scores and per-patch map
are *residuals* added to the zero-shot prior; their output layers start at zero, so an
untrained metric scores exactly like the prior. The metric adds the mean of the patch
residuals to the score, so training the score trains the map.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn as nn

from .config import HeadConfig
from .encoders import PIXEL_STATS_DIM

__all__ = ["HeadOutput", "JointHead"]

NUM_GLOBAL_COSINES = 4  # see prior.global_cosines


@dataclass
class HeadOutput:
    latent: torch.Tensor  # [N, latent_dim]
    score: torch.Tensor  # [N] residual over the prior
    subscores: torch.Tensor  # [N, 3] residuals
    patch_map: torch.Tensor  # [N, L] residuals


class JointHead(nn.Module):
    """Maps encoded triplet features to a latent z and residual scores.

    Args:
        config: head sizes, whether patch tokens are used at all and where they come from.
        clip_dim: width of the joint CLIP space (pooled, text and patch features).
        num_patches: patch-grid size L of the image encoder.
        timm_dim: width of the optional timm patch tokens (0 when absent).
    """

    def __init__(self, config: HeadConfig, clip_dim: int, num_patches: int, timm_dim: int = 0):
        super().__init__()
        self.use_patch_tokens = config.use_patch_tokens
        self.reads_words = config.text_tokens
        # A HeadConfig built on its own has not been resolved by a MetricConfig: the same default.
        self.patch_source = config.patch_source or ("both" if timm_dim else "clip")
        if self.patch_source != "clip" and not timm_dim:
            raise ValueError(f"head.patch_source {self.patch_source!r} needs timm patch tokens (timm_dim > 0)")
        patch_dim = {"clip": 3 * clip_dim, "timm": 3 * timm_dim, "both": 3 * clip_dim + 3 * timm_dim}[self.patch_source]
        self.reads_pixel_stats = config.pixel_stats
        if self.reads_pixel_stats:
            patch_dim += 3 * PIXEL_STATS_DIM
        width = config.fusion_dim
        self.text_in = nn.Linear(clip_dim, width)
        if self.reads_words:
            # The text tower already encodes word order; the bias tells words from patches.
            self.word_in = nn.Linear(clip_dim, width)
        self.global_in = nn.Linear(3 * clip_dim + NUM_GLOBAL_COSINES, width)
        if self.use_patch_tokens:
            self.patch_in = nn.Linear(patch_dim, width)
            self.patch_position = nn.Parameter(torch.zeros(1, num_patches, width))
            nn.init.trunc_normal_(self.patch_position, std=0.02)
            self.patch_out = nn.Linear(width, 1)
        block = nn.TransformerEncoderLayer(
            d_model=width,
            nhead=config.num_heads,
            dim_feedforward=int(width * config.mlp_ratio),
            dropout=config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(block, num_layers=config.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.to_latent = nn.Sequential(nn.Linear(2 * width, config.latent_dim), nn.GELU(), nn.Linear(config.latent_dim, config.latent_dim))
        self.score_out = nn.Linear(config.latent_dim, 1)
        self.subscore_out = nn.Linear(config.latent_dim, 3)
        self._zero_init_outputs()

    def _zero_init_outputs(self) -> None:
        outputs = [self.score_out, self.subscore_out] + ([self.patch_out] if self.use_patch_tokens else [])
        for layer in outputs:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(
        self,
        g_source: torch.Tensor,
        g_output: torch.Tensor,
        text: torch.Tensor,
        cosines: torch.Tensor,
        patches_source: torch.Tensor,
        patches_output: torch.Tensor,
        timm_source: Optional[torch.Tensor] = None,
        timm_output: Optional[torch.Tensor] = None,
        words: Optional[torch.Tensor] = None,
        word_mask: Optional[torch.Tensor] = None,
        stats_source: Optional[torch.Tensor] = None,
        stats_output: Optional[torch.Tensor] = None,
    ) -> HeadOutput:
        """``words [N, C, D]`` and ``word_mask [N, C]`` (True = a real token) are required
        when the head reads words (``text_tokens``) and ignored otherwise; ``timm_source``
        and ``timm_output`` when ``patch_source`` is ``timm`` or ``both``. With ``timm`` the
        OpenCLIP patches are not read (they only give the map's shape). ``stats_source`` and
        ``stats_output [N, L, 6]`` are required with ``pixel_stats``."""
        global_features = torch.cat([g_output, g_source, g_output - g_source, cosines], dim=-1)
        tokens = [self.text_in(text)[:, None], self.global_in(global_features)[:, None]]
        num_patches = 0
        if self.use_patch_tokens:
            local = []
            if self.patch_source in ("clip", "both"):
                local += [patches_output, patches_source, patches_output - patches_source]
            if self.patch_source in ("timm", "both"):
                if timm_source is None or timm_output is None:
                    raise ValueError(f"head.patch_source {self.patch_source!r}: pass timm_source and timm_output")
                local += [timm_output, timm_source, timm_output - timm_source]
            if self.reads_pixel_stats:
                if stats_source is None or stats_output is None:
                    raise ValueError("this head reads pixel statistics (head.pixel_stats): pass stats_source and stats_output")
                local += [stats_output, stats_source, stats_output - stats_source]
            tokens.append(self.patch_in(torch.cat(local, dim=-1)) + self.patch_position)
            num_patches = local[0].shape[1]
        ignore = None
        if self.reads_words:
            if words is None or word_mask is None:
                raise ValueError("this head reads the instruction's words: pass words and word_mask")
            tokens.append(self.word_in(words))
            attend = torch.cat([word_mask.new_ones(word_mask.shape[0], 2 + num_patches), word_mask], dim=1)
            ignore = ~attend
        hidden = self.norm(self.blocks(torch.cat(tokens, dim=1), src_key_padding_mask=ignore))

        latent = self.to_latent(hidden[:, :2].flatten(1))
        if self.use_patch_tokens:
            patch_map = self.patch_out(hidden[:, 2 : 2 + num_patches]).squeeze(-1)
        else:
            patch_map = patches_output.new_zeros(patches_output.shape[:2])
        return HeadOutput(
            latent=latent,
            score=self.score_out(latent).squeeze(-1),
            subscores=self.subscore_out(latent),
            patch_map=patch_map,
        )
