"""The encoders: OpenCLIP's two towers, and optionally a timm ViT for extra patch tokens.

* :class:`OpenCLIPEncoder` turns images into a pooled embedding ``g`` and projected
  patch tokens ``P`` (both in the joint image-text space, unit length), and
  instructions into ``t``, with the model's own tokenizer.
* :class:`TimmPatchEncoder` turns images into DINO-style patch tokens, resampled onto
  the OpenCLIP patch grid so both sources line up position by position.

Each encoder owns its :class:`~i2imetric.models.preprocess.Preprocess`, taken from its own
config, because each was trained with its own size and statistics.
"""

from __future__ import annotations

import copy
import math
import warnings
from typing import Optional, Sequence

import open_clip
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import BaseWeightsError, ConfigError
from ..hub.weights import check_weights_file, iter_weights_file
from .config import BaseConfig, TimmConfig
from .preprocess import Preprocess

__all__ = ["OpenCLIPEncoder", "TimmPatchEncoder", "resolve_open_clip_config", "estimate_parameters"]


def resolve_open_clip_config(base: BaseConfig) -> dict:
    """The full open_clip model config dict for ``base`` (a copy; safe to edit)."""
    if base.open_clip_config is not None:
        return copy.deepcopy(base.open_clip_config)
    config = open_clip.get_model_config(base.open_clip)
    if config is None:
        raise ConfigError(
            f"base.open_clip: {base.open_clip!r} is not an OpenCLIP architecture; see open_clip.list_models()"
        )
    return copy.deepcopy(config)


class SeqFirstContiguousAttention(nn.MultiheadAttention):
    """``nn.MultiheadAttention`` that takes batch-first input and hands it on sequence-first and contiguous.

    With an attention mask (the text tower's causal one), torch skips its fused attention
    and runs the packed input projection as ``F.linear`` on the transposed, non-contiguous
    ``[L, N, D]`` view. That goes through ``torch.matmul``, which folds a non-contiguous
    input into one matrix product only when the weight requires a gradient, whether or not
    gradients are on (``should_fold`` in ATen's LinearAlgebra.cpp; pytorch issue 118548).
    A frozen tower gets a batched product against the weight expanded over every position
    instead: measured here (``benchmarks/bench_text_attention.py``), the text tower's
    attention ran about 18x slower in bfloat16 and 2x in float32 than with the fold, and a
    plain open_clip model, whose weights require gradients, was faster than the same
    frozen tower. One contiguous copy of the
    input restores the folded product.
    The image tower's attention has no mask and takes torch's fused path, which this
    class would turn off (it needs batch-first input), so only the text tower uses it.
    Weights, state-dict keys and results are those of the module it replaces.
    """

    @classmethod
    def adopt(cls, attention: nn.MultiheadAttention) -> None:
        """Turn a batch-first ``attention`` into this class in place (parameters untouched)."""
        attention.__class__ = cls
        attention.batch_first = False  # the transposition happens here, contiguously, in forward

    def forward(self, query, key, value, *args, **kwargs):
        seq_first = {}
        for tensor in (query, key, value):
            if id(tensor) not in seq_first:  # self-attention passes one tensor three times: copy it once
                seq_first[id(tensor)] = tensor.transpose(0, 1).contiguous()
        output, weights = super().forward(seq_first[id(query)], seq_first[id(key)], seq_first[id(value)],
                                          *args, **kwargs)
        return output.transpose(0, 1), weights


PIXEL_STATS_DIM = 6  # per patch: the mean and the standard deviation of each colour channel


def patch_pixel_stats(pixels: torch.Tensor, grid: tuple) -> torch.Tensor:
    """Mean and standard deviation of each colour channel over each cell of the patch grid.

    ``pixels [N, 3, h, w]`` (as the tower sees them) give ``[N, L, 6]``, patches in the
    tower's row-major order. A ViT's patch tokens are built to be invariant to much of what
    an edit request names (a little brighter, warmer, noisier, blurred in one quadrant);
    these six numbers say exactly how much each patch moved and in which direction, which
    the head compares with the words (``head.pixel_stats``).
    """
    mean = F.adaptive_avg_pool2d(pixels, grid)
    spread = (F.adaptive_avg_pool2d(pixels * pixels, grid) - mean * mean).clamp_min(0).sqrt()
    return torch.cat([mean, spread], dim=1).flatten(2).transpose(1, 2)


class OpenCLIPEncoder(nn.Module):
    """OpenCLIP image and text towers, returning global and patch features.

    Args:
        open_clip_config: a full open_clip model config dict (see
            :func:`resolve_open_clip_config`).
        preprocess: the image preprocessing that matches the weights.
    """

    def __init__(self, open_clip_config: dict, preprocess: Preprocess):
        super().__init__()
        self.open_clip_config = copy.deepcopy(open_clip_config)
        model_class = open_clip.CustomTextCLIP if _needs_custom_text(open_clip_config) else open_clip.CLIP
        self.model = model_class(**open_clip_config)
        for module in self.text_tower.modules():
            if type(module) is nn.MultiheadAttention and module.batch_first:
                SeqFirstContiguousAttention.adopt(module)
        if not isinstance(self.model.visual, open_clip.transformer.VisionTransformer):
            raise ConfigError("patch tokens need a ViT image tower; this open_clip config has none")
        self.model.visual.output_tokens = True
        self.preprocess = preprocess
        self.tokenizer = _make_tokenizer(open_clip_config)
        self.context_length = self.tokenizer.context_length

    @property
    def embed_dim(self) -> int:
        return int(self.open_clip_config["embed_dim"])

    @property
    def grid_size(self) -> tuple:
        return tuple(self.model.visual.grid_size)

    def encode_image(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode a preprocessed batch ``[N, 3, h, w]``.

        Returns:
            ``g``: ``[N, D]`` pooled embeddings, and ``P``: ``[N, L, D]`` patch tokens,
            both projected into the joint space and L2-normalised, in float32 whatever the
            tower's dtype (``pixels`` are cast to it).
        """
        pooled, tokens = self.model.visual(pixels.to(self.model.visual.conv1.weight.dtype))
        # Patch tokens leave the tower after ln_post but before the projection; sending
        # them through the same projection puts every patch in the text-comparable space.
        projection = self.model.visual.proj
        if projection is not None:
            tokens = tokens @ projection
        return F.normalize(pooled.float(), dim=-1), F.normalize(tokens.float(), dim=-1)

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """Tokenize with the model's own tokenizer; over-long texts are truncated, with one warning."""
        too_long = [text for text in texts if _token_count(self.tokenizer, text) > self.context_length]
        if too_long:
            warnings.warn(
                f"{len(too_long)} instruction(s) exceed the text encoder's context of "
                f"{self.context_length} tokens and were truncated, e.g. {too_long[0][:60]!r}",
                stacklevel=3,
            )
        return self.tokenizer(list(texts))

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[N, D]`` L2-normalised instruction embeddings, in float32."""
        if not self._padding_is_inert():
            return F.normalize(self.model.encode_text(tokens).float(), dim=-1)
        _, pooled = self._text_hidden(self._trim_padding(tokens))
        return F.normalize(self._text_projection()(pooled).float(), dim=-1)

    def encode_text_tokens(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The pooled embedding and every token's output, from one pass of the text tower.

        Returns:
            ``t``: ``[N, D]`` as :meth:`encode_text` gives it; ``W``: ``[N, C, D]`` the
            token outputs, sent through the same projection into the joint space and
            L2-normalised (so a word lives where the pooled text does); ``mask``:
            ``[N, C]`` bool, True for real tokens (start, words, end), False for padding.
            ``C`` is trimmed to the longest instruction of the batch: padding carries no words.
        """
        if self._padding_is_inert():
            tokens = self._trim_padding(tokens)
        hidden, pooled = self._text_hidden(tokens)
        project = self._text_projection()
        mask = tokens != self._pad_id()
        length = int(mask.sum(-1).max())
        words = project(hidden[:, :length])
        return F.normalize(project(pooled).float(), dim=-1), F.normalize(words.float(), dim=-1), mask[:, :length]

    def _padding_is_inert(self) -> bool:
        """Whether the trailing padding can be cut off without changing any real token's output.

        It can when padding cannot reach a real token (a causal mask: token i attends to
        tokens up to i; or a padding mask) and pooling reads a real token (the first, the
        end-of-text one found by argmax or by id), not the last position. A tower with an
        appended CLS token, or one that is not an open_clip TextTransformer, is left alone.
        """
        model = self.model
        if isinstance(model, open_clip.CustomTextCLIP):
            text = model.text
            if not isinstance(text, open_clip.transformer.TextTransformer) or text.cls_emb is not None:
                return False
            masked = text.attn_mask is not None or text.use_pad_mask
        else:
            masked = model.attn_mask is not None
        pool_type, eos_id = self._text_pooling()
        if pool_type == "eos" and eos_id == self._pad_id():
            return False  # the end token would be taken for padding and cut
        return masked and pool_type in ("first", "argmax", "eos")

    def _trim_padding(self, tokens: torch.Tensor) -> torch.Tensor:
        """``tokens`` cut after the batch's last real token.

        Instructions are a few words and the context is 77 tokens: padding is most of what
        the text tower would otherwise compute (its attention grows with the square of the
        length). Outputs of the real tokens are unchanged (:meth:`_padding_is_inert`).
        """
        real = (tokens != self._pad_id()).any(dim=0).nonzero()
        length = int(real.max()) + 1 if len(real) else 1
        return tokens[:, :length]

    def _text_hidden(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token outputs after the final LayerNorm, and the pooled one, before the projection.

        ``tokens`` may be shorter than the context (:meth:`_trim_padding`): positions and the
        causal mask are taken for its length.
        """
        model = self.model
        length = tokens.shape[1]
        if isinstance(model, open_clip.CustomTextCLIP):
            text = model.text
            if not isinstance(text, open_clip.transformer.TextTransformer) or text.cls_emb is not None:
                raise ConfigError("head.text_tokens needs an open_clip TextTransformer text tower without a CLS token")
            x, attn_mask = text._embeds(tokens)
            if attn_mask is not None and attn_mask.shape[-1] != length:
                attn_mask = attn_mask[..., :length, :length]  # _embeds slices the causal mask only beside a padding mask
            x = text.ln_final(text.transformer(x, attn_mask=attn_mask))
        else:
            # CLIP.encode_text, stopped before pooling so the per-token outputs are kept.
            cast_dtype = model.transformer.get_cast_dtype()
            x = model.token_embedding(tokens).to(cast_dtype) + model.positional_embedding[:length].to(cast_dtype)
            attn_mask = model.attn_mask[:length, :length] if model.attn_mask is not None else None
            x = model.ln_final(model.transformer(x, attn_mask=attn_mask))
        pool_type, eos_id = self._text_pooling()
        pooled = open_clip.transformer.text_global_pool(x, tokens, pool_type, eos_token_id=eos_id)
        return x, pooled

    def _text_pooling(self) -> tuple[str, Optional[int]]:
        """How the text tower pools its token outputs: open_clip's pool type and end-of-text id."""
        if isinstance(self.model, open_clip.CustomTextCLIP):
            return self.model.text.pool_type, getattr(self.model.text, "eos_id", None)
        return self.model.text_pool_type, getattr(self.model, "text_eos_id", None)

    @property
    def text_tower(self) -> nn.Module:
        """The module that runs the text transformer: ``CustomTextCLIP.text``, or ``CLIP.transformer``."""
        return self.model.text if isinstance(self.model, open_clip.CustomTextCLIP) else self.model.transformer

    def _text_projection(self):
        projection = self.model.text.text_projection if isinstance(self.model, open_clip.CustomTextCLIP) else self.model.text_projection
        if projection is None:
            return lambda x: x
        if isinstance(projection, nn.Linear):
            return projection
        return lambda x: x @ projection

    def _pad_id(self) -> int:
        # open_clip's SimpleTokenizer pads with 0; HF tokenizers name their own pad token.
        inner = getattr(self.tokenizer, "tokenizer", None)
        pad = getattr(inner, "pad_token_id", None)
        return int(pad) if pad is not None else 0

    # ------------------------------------------------------------------ weights

    def load_weights(self, path: str) -> None:
        """Load full-CLIP base weights from a local file, strictly.

        open_clip's loader reads safetensors directly and ``.pt``/``.bin`` with
        ``weights_only=True``, and converts older key layouts. It also casts every tensor
        to the model's dtype, so the file is checked first: integer or bool weights, and
        NaN or infinite values, are refused with the file and tensor named.
        """
        check_weights_file(path)
        try:
            open_clip.load_checkpoint(self.model, str(path), strict=True, weights_only=True)
        except Exception as exc:  # noqa: BLE001 - torch and open_clip raise many kinds here
            raise BaseWeightsError(f"{path}: could not load as {type(self.model).__name__} weights: {exc}") from exc


def _needs_custom_text(config: dict) -> bool:
    return bool(config.get("custom_text")) or "hf_model_name" in config.get("text_cfg", {})


def _make_tokenizer(open_clip_config: dict):
    text_cfg = open_clip_config.get("text_cfg", {})
    context_length = text_cfg.get("context_length", open_clip.tokenizer.DEFAULT_CONTEXT_LENGTH)
    if text_cfg.get("hf_tokenizer_name"):
        return open_clip.tokenizer.HFTokenizer(text_cfg["hf_tokenizer_name"], context_length=context_length)
    return open_clip.tokenizer.SimpleTokenizer(context_length=context_length, **text_cfg.get("tokenizer_kwargs", {}))


def _token_count(tokenizer, text: str) -> int:
    """Tokens the text needs, including start/end tokens (0 when the tokenizer can't say)."""
    if isinstance(tokenizer, open_clip.tokenizer.SimpleTokenizer):
        return len(tokenizer.encode(text)) + 2
    inner = getattr(tokenizer, "tokenizer", None)
    if inner is not None:
        return len(inner(text)["input_ids"])
    return 0


# ---------------------------------------------------------------------------- timm


class TimmPatchEncoder(nn.Module):
    """A timm ViT whose patch tokens are resampled onto a target grid.

    Args:
        config: the timm section of the metric config.
        target_grid: the OpenCLIP patch grid ``(gh, gw)`` to resample onto, or None for
            the ViT's own grid (pretraining it alone, :mod:`i2imetric_training.pretrain_ssl`).
        resize: ``"squash"`` or ``"letterbox"``, as for the OpenCLIP tower.
        weights_file: local pretrained weights, or None for random init.
    """

    def __init__(self, config: TimmConfig, target_grid: Optional[tuple], resize: str,
                 weights_file: Optional[str] = None):
        super().__init__()
        import timm

        kwargs = _timm_kwargs(config)
        overlay = None
        if weights_file is not None:
            check_weights_file(weights_file)  # timm's loader would cast integer weights silently
            overlay = _strict_file_overlay(config.model, weights_file)
        # timm applies the model's own checkpoint conversion and loads with weights_only=True.
        try:
            self.model = timm.create_model(config.model, pretrained=weights_file is not None,
                                           pretrained_cfg_overlay=overlay, num_classes=0, **kwargs)
        except RuntimeError as exc:  # torch's strict load_state_dict: missing or unexpected keys, shapes
            detail = " ".join(str(exc).split())
            raise BaseWeightsError(f"{weights_file}: does not fit timm {config.model} with {kwargs}: "
                                   f"{detail[:500]}{'...' if len(detail) > 500 else ''}") from exc
        data_config = timm.data.resolve_data_config({}, model=self.model)
        self.preprocess = Preprocess(
            # The model's own input size: img_size overrides the pretrained config's.
            size=tuple(self.model.patch_embed.img_size),
            mean=data_config["mean"],
            std=data_config["std"],
            interpolation="bicubic" if data_config.get("interpolation") == "bicubic" else "bilinear",
            resize=resize,
        )
        self.target_grid = tuple(target_grid if target_grid is not None else self.model.patch_embed.grid_size)
        self.model_name = config.model

    @property
    def dim(self) -> int:
        return int(self.model.num_features)

    def encode_patches(self, pixels: torch.Tensor) -> torch.Tensor:
        """``[N, L, C]`` L2-normalised patch tokens on the target grid."""
        dtype = next(self.model.parameters()).dtype
        tokens = self.model.forward_features(pixels.to(dtype))[:, self.model.num_prefix_tokens :].float()
        grid_h, grid_w = self.model.patch_embed.grid_size
        tokens = tokens.transpose(1, 2).reshape(tokens.shape[0], -1, grid_h, grid_w)
        if (grid_h, grid_w) != self.target_grid:
            tokens = F.interpolate(tokens, size=self.target_grid, mode="bilinear", align_corners=False)
        return F.normalize(tokens.flatten(2).transpose(1, 2), dim=-1)

def _strict_file_overlay(model_name: str, weights_file) -> dict:
    """timm's ``pretrained_cfg_overlay`` for loading ``weights_file``, strictly where it can be.

    timm drops the classifier of a checkpoint when the model is built without one (our
    ``num_classes=0``), and then loads with ``strict=False``: every other missing or
    unexpected key is logged, not refused, and the tower keeps random weights there. A file
    that holds no classifier (a backbone saved by ``pretrain_ssl``, DINOv2) needs no
    dropping, so the overlay says the weights have no classes and timm's load stays strict.
    """
    import timm

    overlay = {"file": str(weights_file)}
    default = timm.models.get_pretrained_cfg(model_name)
    classifiers = getattr(default, "classifier", None) or ()
    classifiers = (classifiers,) if isinstance(classifiers, str) else tuple(classifiers)
    names = [name for name, _ in iter_weights_file(weights_file)]
    if not any(name.startswith(f"{classifier}.") for name in names for classifier in classifiers):
        overlay["num_classes"] = 0
    return overlay


def _timm_kwargs(config: TimmConfig) -> dict:
    kwargs = dict(config.model_args)
    if config.img_size is not None:
        kwargs["img_size"] = config.img_size
    return kwargs


# ------------------------------------------------------------------- size estimate


def estimate_parameters(
    open_clip_config: dict, timm: Optional[TimmConfig] = None, where: str = "open_clip_config", error: type = ConfigError
) -> int:
    """Parameters the base would have, computed from its config without building it.

    A config read from disk can declare any size; this is what lets a loader refuse a
    200 GB architecture before allocating it. The OpenCLIP towers are counted from their
    widths, depths, patch and image sizes, MLP ratios, vocabulary and context (LoRA and
    the head add well under 1%). A timm encoder is built on the ``meta`` device, which
    allocates no memory, and counted. A Hugging Face text tower (``hf_model_name``) is not
    counted: its size lives in the HF config.

    Args:
        open_clip_config: the full open_clip model config dict.
        timm: the timm section of the metric config, if any.
        where: where the config came from, for error messages.
        error: the exception class to raise for an unusable field.

    Returns:
        The estimated parameter count.

    Example:
        >>> cfg = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "patch_size": 8},
        ...        "text_cfg": {"context_length": 16, "width": 32, "layers": 2}}
        >>> estimate_parameters(cfg) > 1_000_000  # the 49408-token vocabulary dominates
        True
    """
    if not isinstance(open_clip_config, dict):
        raise error(f"{where}: expected a mapping, got {type(open_clip_config).__name__}")
    embed_dim = _positive(open_clip_config.get("embed_dim"), f"{where}.embed_dim", error)
    vision = _section(open_clip_config, "vision_cfg", where, error)
    text = _section(open_clip_config, "text_cfg", where, error)
    total = _vision_parameters(vision, embed_dim, f"{where}.vision_cfg", error)
    if not text.get("hf_model_name"):
        total += _text_parameters(text, embed_dim, f"{where}.text_cfg", error)
    if timm is not None:
        total += _timm_parameters(timm, error)
    return total


def _section(config: dict, key: str, where: str, error: type) -> dict:
    section = config.get(key, {})
    if not isinstance(section, dict):
        raise error(f"{where}.{key}: expected a mapping, got {type(section).__name__}")
    return section


def _positive(value, where: str, error: type, kind=int):
    """``value`` as a positive int (or float), refusing bools, strings and non-finite numbers."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not number or value <= 0 or (kind is int and not float(value).is_integer()):
        raise error(f"{where}: expected a positive {'integer' if kind is int else 'number'}, got {value!r}")
    return kind(value)


def _block_parameters(width: int, mlp_ratio: float) -> int:
    """One pre-norm transformer block: fused qkv + output projection, two norms, the MLP."""
    hidden = int(width * mlp_ratio)
    attention = 4 * width * width + 4 * width
    norms = 4 * width
    mlp = 2 * width * hidden + hidden + width
    return attention + norms + mlp


def _vision_parameters(cfg: dict, embed_dim: int, where: str, error: type) -> int:
    defaults = open_clip.model.CLIPVisionCfg()
    width = _positive(cfg.get("width", defaults.width), f"{where}.width", error)
    layers = _positive(cfg.get("layers", defaults.layers), f"{where}.layers", error)
    patch = _positive(cfg.get("patch_size", defaults.patch_size), f"{where}.patch_size", error)
    mlp_ratio = _positive(cfg.get("mlp_ratio", defaults.mlp_ratio), f"{where}.mlp_ratio", error, float)
    size = cfg.get("image_size", defaults.image_size)
    sides = size if isinstance(size, (list, tuple)) and len(size) == 2 else [size]
    height, side = (_positive(s, f"{where}.image_size", error) for s in (sides * 2)[:2])
    tokens = (height // patch) * (side // patch) + 1
    stem = 3 * patch * patch * width + width + tokens * width + 4 * width  # conv, class token, positions, norms
    return stem + layers * _block_parameters(width, mlp_ratio) + width * embed_dim


def _text_parameters(cfg: dict, embed_dim: int, where: str, error: type) -> int:
    defaults = open_clip.model.CLIPTextCfg()
    width = _positive(cfg.get("width", defaults.width), f"{where}.width", error)
    layers = _positive(cfg.get("layers", defaults.layers), f"{where}.layers", error)
    vocab = _positive(cfg.get("vocab_size", defaults.vocab_size), f"{where}.vocab_size", error)
    context = _positive(cfg.get("context_length", defaults.context_length), f"{where}.context_length", error)
    mlp_ratio = _positive(cfg.get("mlp_ratio", defaults.mlp_ratio), f"{where}.mlp_ratio", error, float)
    embeddings = (vocab + context) * width + 2 * width
    return embeddings + layers * _block_parameters(width, mlp_ratio) + width * embed_dim + 1


def _timm_parameters(config: TimmConfig, error: type) -> int:
    import timm

    try:
        with torch.device("meta"):  # shapes only: nothing is allocated, whatever the size
            model = timm.create_model(config.model, pretrained=False, num_classes=0, **_timm_kwargs(config))
    except Exception as exc:  # noqa: BLE001 - timm raises many kinds for bad model args
        raise error(f"timm: cannot build {config.model!r} with {_timm_kwargs(config)}: {exc}") from exc
    return sum(p.numel() for p in model.parameters())
