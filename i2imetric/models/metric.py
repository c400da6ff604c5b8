"""The metric itself: one (source, instruction, output) triplet in, one score out.

Follow one triplet through :meth:`I2IMetric.score`:

1. ``inputs.image_to_tensor`` decodes each image to a ``[3, H, W]`` float in [0, 1];
   ``inputs.check_instruction`` validates the text.
2. :meth:`I2IMetric.encode_images` preprocesses (whole image, the base's own statistics)
   and runs the OpenCLIP image tower (LoRA-adapted): pooled ``g`` and patch tokens ``P``;
   plus timm patch tokens when configured. :meth:`I2IMetric.encode_instructions` runs the
   text tower: ``t``.
3. :meth:`I2IMetric.forward_features` computes the zero-shot prior from those features
   (:mod:`i2imetric.models.prior`) and adds the head's residuals (:mod:`i2imetric.models.head`).

Lists of triplets are scored in batches by :mod:`i2imetric.models.batching`, which
encodes each distinct source image and instruction once.

Scores are logits (Bradley-Terry scale): higher is better, and ``sigmoid(a - b)`` is the
chance that a is preferred to b. ``calibrated=True`` maps them to [0, 1] with the
calibration stored in the checkpoint.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence, Union

import torch
import torch.nn as nn

from ..errors import I2IInputError
from ..hub.weights import WeightsSource
from .batching import iter_batches, score_all
from .checkpoint import MAX_PARAMETERS, load_checkpoint, save_checkpoint
from .config import SUBSCORE_NAMES, MetricConfig
from .encoders import OpenCLIPEncoder, TimmPatchEncoder, patch_pixel_stats
from .head import JointHead
from .lora import ParameterCount, count_parameters, inject_lora, lora_merged, merge_lora, set_trainable, unmerge_lora
from .outputs import Calibration, Explanation, ImageFeatures, MetricOutput, TextFeatures
from .precision import resolve_dtype, tower_autocast, warn_if_slow_on_cpu
from .preprocess import Preprocess
from .prior import global_cosines, zero_shot_prior

__all__ = ["I2IMetric", "build_metric"]


class I2IMetric(nn.Module):
    """A learned metric for image edits and image-to-image translation.

    Build one with :func:`i2imetric.create_metric` or load one with
    :func:`i2imetric.load_metric`; the constructor takes resolved parts.

    Args:
        config: the architecture.
        open_clip_config: the full open_clip model config dict of the base.
        preprocess: the base's preprocessing.
        base_source, timm_source: where the base weights came from (recorded on save).
        timm_weights_file: local timm weights to load at construction, if any.
    """

    higher_is_better = True
    is_differentiable = True
    score_range = (-math.inf, math.inf)
    calibrated_range = (0.0, 1.0)

    def __init__(
        self,
        config: MetricConfig,
        open_clip_config: dict,
        preprocess: Preprocess,
        base_source: WeightsSource,
        timm_source: Optional[WeightsSource] = None,
        timm_weights_file: Optional[str] = None,
    ):
        super().__init__()
        self.config = config
        self.base_source = base_source
        self.timm_source = timm_source
        self.calibration: Optional[Calibration] = None
        # Benchmark shares this scorer selected its checkpoints on, ``[{"bench", "fraction"}]``
        # (see i2imetric.meta_eval.benchmarks.validation_share): `i2imetric bench` leaves them out.
        self.validated_on: list = []
        self._channels_last = False  # see optimize_for_inference
        self._precision_checked = None  # (device, dtype) the towers last encoded in; see encode_pixels
        self.clip = OpenCLIPEncoder(open_clip_config, preprocess)
        self.timm = (
            TimmPatchEncoder(config.timm, self.clip.grid_size, config.image_resize, timm_weights_file)
            if config.timm is not None
            else None
        )
        grid_h, grid_w = self.clip.grid_size
        self.head = JointHead(
            config.head,
            clip_dim=self.clip.embed_dim,
            num_patches=grid_h * grid_w,
            timm_dim=self.timm.dim if self.timm is not None else 0,
        )

    def prepare_for_training_mode(self) -> None:
        """Inject LoRA (when ``config.trainable == "lora"``) and set ``requires_grad``.

        Called once after the base weights are loaded, by the factory functions.
        """
        if self.config.trainable == "lora":
            inject_lora(self.clip.model, self.timm.model if self.timm else None, self.config.lora)
        encoders = [self.clip] + ([self.timm] if self.timm is not None else [])
        set_trainable(encoders, self.head, self.config.trainable)

    def parameter_count(self) -> ParameterCount:
        """Trainable vs total parameters."""
        return count_parameters(self)

    # ------------------------------------------------------- inference speed

    @property
    def merged(self) -> bool:
        """Whether the LoRA adapters are folded into the towers' base weights (see :meth:`merge_adapters`)."""
        return lora_merged(self)

    def merge_adapters(self) -> "I2IMetric":
        """Fold every LoRA adapter into its base weight, for faster inference; returns ``self``.

        Scores stay the same up to float rounding (within 1e-5), and each adapted layer
        then costs what the plain layer costs. The ``lora_A``/``lora_B`` tensors stay as
        they are, so :meth:`save_pretrained` writes the same checkpoint; but changing them
        has no effect until :meth:`unmerge_adapters`. :func:`~i2imetric.load_metric` and
        :meth:`from_pretrained` return metrics merged; :func:`~i2imetric.create_metric`
        returns them unmerged, ready to train. ``metric.train()`` unmerges.
        """
        merge_lora(self)
        return self

    def unmerge_adapters(self) -> "I2IMetric":
        """Undo :meth:`merge_adapters` (the base weights come back up to rounding); returns ``self``."""
        unmerge_lora(self)
        return self

    def train(self, mode: bool = True) -> "I2IMetric":
        """As ``nn.Module.train``; entering training mode unmerges the adapters, so LoRA gets gradients."""
        if mode:
            unmerge_lora(self)
        return super().train(mode)

    @property
    def tower_dtype(self) -> torch.dtype:
        """The dtype of the image tower's weights (the towers run in it; the head may differ)."""
        return self.clip.model.visual.conv1.weight.dtype

    def set_precision(self, dtype: Union[str, torch.dtype]) -> "I2IMetric":
        """Run the towers in ``dtype`` (float32, bfloat16 or float16, or its name), the head in float32.

        The towers hold nearly all the weights and compute; the head and the zero-shot
        prior compare features whose cosines differ in the third decimal, so they stay in
        float32 and the towers' features are cast back before them. Merge (or load, which
        merges) before lowering the precision: a merge in bfloat16 rounds the adapter's
        delta. On CUDA the towers also run under autocast. On a CPU without AMX, low
        precision is emulated and slower than float32: the first batch encoded there warns
        (:func:`~i2imetric.models.precision.cpu_precision_warning`). Returns ``self``.
        """
        dtype = resolve_dtype(dtype)
        towers = [self.clip] + ([self.timm] if self.timm is not None else [])
        for tower in towers:
            tower.to(dtype)
        self.head.float()
        return self

    def optimize_for_inference(self, *, channels_last: bool = False, compile: bool = False, **compile_options) -> "I2IMetric":
        """Speed options for scoring; returns ``self``. Scores stay within float tolerance.

        Args:
            channels_last: keep the image tower's patch convolution and its input in
                ``torch.channels_last`` layout, which cuDNN's convolutions prefer on GPUs; on
                CPU it rarely helps (measure with ``benchmarks/bench_gpu.py --channels-last``).
            compile: ``torch.compile`` the image and text towers in place (``nn.Module.compile``,
                so parameter names and checkpoints are unchanged). The head is left eager: it is
                small, and its sequence length follows each batch's instructions. The first
                batch of each new shape pays the compilation. ``compile_options`` go to
                ``torch.compile`` (e.g. ``mode="max-autotune"``).
        """
        self._channels_last = channels_last
        self.clip.model.visual.conv1.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        if compile:
            towers = [self.clip.model.visual, self.clip.text_tower]
            if self.timm is not None:
                towers.append(self.timm.model)
            for tower in towers:
                tower.compile(**compile_options)
        return self

    @property
    def grid_size(self) -> tuple:
        return self.clip.grid_size

    @property
    def device(self) -> torch.device:
        return next(self.head.parameters()).device

    # ------------------------------------------------------------- differentiable

    def encode_images(self, images: Sequence[torch.Tensor]) -> ImageFeatures:
        """Encode ``[3, H, W]`` float images in [0, 1] (any sizes)."""
        clip_preprocess, timm_preprocess = self.image_preprocessors()
        timm_pixels = timm_preprocess.batch(images) if timm_preprocess is not None else None
        return self.encode_pixels(clip_preprocess.batch(images), timm_pixels)

    def image_preprocessors(self) -> tuple[Preprocess, Optional[Preprocess]]:
        """The CPU preprocessing of each image tower: ``(OpenCLIP, timm or None)``.

        They are small picklable objects, so data-loader workers can prepare batches for
        :meth:`encode_pixels` while the model runs.
        """
        return self.clip.preprocess, self.timm.preprocess if self.timm is not None else None

    def encode_pixels(self, clip_pixels: torch.Tensor, timm_pixels: Optional[torch.Tensor] = None) -> ImageFeatures:
        """Encode batches already prepared by :meth:`image_preprocessors`.

        Args:
            clip_pixels: ``[N, 3, h, w]`` from the OpenCLIP preprocessing.
            timm_pixels: ``[N, 3, h', w']`` from the timm preprocessing; required when the
                metric has a timm encoder, ignored otherwise.
        """
        if self.timm is not None and timm_pixels is None:
            raise I2IInputError("this metric has a timm encoder: pass timm_pixels to encode_pixels")
        self._check_precision()
        dtype = self.tower_dtype
        pixel_stats = None
        if self.config.head.pixel_stats:
            # From the pixels as the tower sees them, before a lower tower precision rounds them.
            clip_pixels = clip_pixels.to(self.device, non_blocking=True)
            pixel_stats = patch_pixel_stats(clip_pixels.float(), self.clip.grid_size)
        clip_pixels = clip_pixels.to(self.device, dtype, non_blocking=True)  # moved once: already on the device with stats
        if self._channels_last:
            clip_pixels = clip_pixels.contiguous(memory_format=torch.channels_last)
        with tower_autocast(self.device, dtype):
            pooled, patches = self.clip.encode_image(clip_pixels)
            timm_patches = None
            if self.timm is not None:
                timm_patches = self.timm.encode_patches(timm_pixels.to(self.device, dtype, non_blocking=True))
        return self._head_dtype(ImageFeatures(pooled, patches, timm_patches, pixel_stats))

    def encode_instructions(self, instructions: Sequence[str]) -> TextFeatures:
        """Encode instructions (over-long texts truncated with a warning).

        Returns the pooled ``[N, D]`` embeddings, plus the per-token outputs when the head
        reads words (``head.text_tokens``).
        """
        self._check_precision()
        tokens = self.clip.tokenize(instructions).to(self.device)
        with tower_autocast(self.device, self.tower_dtype):
            if self.config.head.text_tokens:
                text = TextFeatures(*self.clip.encode_text_tokens(tokens))
            else:
                text = TextFeatures(self.clip.encode_text(tokens))
        return text.to(self.head.norm.weight.dtype)

    def _check_precision(self) -> None:
        """Warn on the first encode after each change of placement when the towers' dtype is slow there.

        Checked at encode time, not at creation, because a metric is often made on the CPU
        and moved to a GPU (or set to another precision) before it scores.
        """
        placement = (self.device, self.tower_dtype)
        if self._precision_checked != placement:
            self._precision_checked = placement
            warn_if_slow_on_cpu(*placement)

    def _head_dtype(self, features: ImageFeatures) -> ImageFeatures:
        """Tower features in the head's dtype (float32 unless the whole metric was cast)."""
        dtype = self.head.norm.weight.dtype
        return features.map(lambda t: t.to(dtype))

    def forward_features(self, source: ImageFeatures, text: TextFeatures, output: ImageFeatures) -> MetricOutput:
        """Prior plus head residuals, from encoded features of N aligned triplets."""
        t = text.pooled
        prior = zero_shot_prior(source.pooled, output.pooled, t, source.patches, output.patches, self.config.prior)
        cosines = global_cosines(source.pooled, output.pooled, t, self.config.prior.direction_min_norm)
        head = self.head(
            source.pooled,
            output.pooled,
            t,
            cosines,
            source.patches,
            output.patches,
            source.timm_patches,
            output.timm_patches,
            words=text.tokens,
            word_mask=text.mask,
            stats_source=source.pixel_stats,
            stats_output=output.pixel_stats,
        )
        # The patch residuals are per-patch contributions to the score (their mean joins
        # it), so the score's loss is what teaches the map where an edit helped or hurt.
        return MetricOutput(
            score=prior.score + head.score + head.patch_map.mean(dim=-1),
            subscores=prior.subscores + head.subscores,
            patch_map=prior.patch_map + head.patch_map,
            latent=head.latent,
            prior_score=prior.score,
        )

    def forward(self, images: Sequence[torch.Tensor], instructions: Sequence[str], triplets: torch.Tensor) -> MetricOutput:
        """Differentiable scoring for training, with every image and instruction encoded once.

        Args:
            images: ``[3, H, W]`` float tensors in [0, 1], sources and outputs together.
            instructions: the distinct instruction strings.
            triplets: ``[M, 3]`` long tensor of (source image index, instruction index,
                output image index) rows, so a source shared by a right answer and its
                distractors is encoded once.

        Returns:
            The :class:`MetricOutput` of the M triplets.
        """
        features = self.encode_images(images)
        text = self.encode_instructions(instructions)
        triplets = triplets.to(features.pooled.device)
        return self.forward_features(
            features.select(triplets[:, 0]), text.select(triplets[:, 1]), features.select(triplets[:, 2])
        )

    # ------------------------------------------------------------------ user API

    def score(self, sources: Any, instructions: Any, outputs: Any, batch_size: int = 32, calibrated: bool = False):
        """Score edits. Higher is better.

        Args:
            sources: source images: a list of paths / PIL images / HxWxC uint8 arrays /
                CxHxW float tensors in [0, 1], or an NxCxHxW tensor. Or one image.
            instructions: a list of instruction strings, or one string.
            outputs: edited images, in the same forms as ``sources``.
            batch_size: triplets per forward pass.
            calibrated: map logits to [0, 1] with the checkpoint's calibration.

        Returns:
            A 1-D float tensor of N scores, or a Python float for a single triplet.

        Example:
            >>> metric = create_metric("test-tiny")  # doctest: +SKIP
            >>> metric.score("src.png", "make it brighter", "out.png")  # doctest: +SKIP
            0.42
        """
        single = isinstance(instructions, str)
        result = self._run_all(sources, instructions, outputs, batch_size)
        scores = result.score
        if calibrated:
            scores = self._calibrate(scores)
        return float(scores[0]) if single else scores

    def explain(self, source: Any, instruction: str, output: Any) -> Explanation:
        """Score one triplet and say where the score came from.

        Returns:
            An :class:`Explanation` with the score, the sub-scores by name, and the patch
            map on the patch grid (> 0 where the edit helped, < 0 where it hurt). See
            :func:`i2imetric.viz.heatmap.save_heatmap` to draw it over the output image.
        """
        if not isinstance(instruction, str):
            raise I2IInputError("explain() takes one triplet: a single image, a str instruction and a single image")
        result = self._run_all(source, instruction, output, batch_size=1)
        grid_h, grid_w = self.grid_size
        calibrated = float(self.calibration(result.score[:1])[0]) if self.calibration is not None else None
        return Explanation(
            score=float(result.score[0]),
            subscores={name: float(value) for name, value in zip(SUBSCORE_NAMES, result.subscores[0])},
            patch_map=result.patch_map[0].reshape(grid_h, grid_w).clone(),
            calibrated=calibrated,
        )

    def embed(self, sources: Any, instructions: Any, outputs: Any, batch_size: int = 32) -> torch.Tensor:
        """The joint latent z of each triplet, ``[N, latent_dim]`` (for FD / MMD / retrieval)."""
        result = self._run_all(sources, instructions, outputs, batch_size)
        return result.latent

    def subscores(self, sources: Any, instructions: Any, outputs: Any, batch_size: int = 32) -> dict:
        """Sub-scores by name, each a 1-D tensor (or a float for one triplet)."""
        single = isinstance(instructions, str)
        result = self._run_all(sources, instructions, outputs, batch_size)
        return {
            name: float(result.subscores[0, i]) if single else result.subscores[:, i]
            for i, name in enumerate(SUBSCORE_NAMES)
        }

    def _calibrate(self, scores: torch.Tensor) -> torch.Tensor:
        if self.calibration is None:
            raise I2IInputError(
                "calibrated=True: this metric has no calibration; fit one during training or use raw scores"
            )
        return self.calibration(scores)

    # --------------------------------------------------------------- batching

    def _run_all(self, sources: Any, instructions: Any, outputs: Any, batch_size: int) -> MetricOutput:
        return score_all(self, sources, instructions, outputs, batch_size)

    def iter_batches(
        self, sources: list, instructions: list[str], outputs: list, batch_size: int
    ) -> Iterator[tuple[torch.Tensor, MetricOutput]]:
        """Score aligned lists in batches, yielding ``(indices, MetricOutput)``.

        Each distinct source image and instruction is encoded once per call; see
        :func:`i2imetric.models.batching.iter_batches`.
        """
        return iter_batches(self, sources, instructions, outputs, batch_size)

    # ---------------------------------------------------------------- checkpoints

    def save_pretrained(
        self,
        folder: str | Path,
        card: Optional[str] = None,
        bundle_base: bool = False,
        *,
        push_to_hub: Optional[str] = None,
        private: Optional[bool] = None,
        commit_message: Optional[str] = None,
    ) -> Path:
        """Write the checkpoint folder (config, safetensors, model card). See :mod:`i2imetric.models.checkpoint`.

        ``push_to_hub="org/name"`` then uploads the folder to that hub repo (created if
        needed; ``private=``, ``commit_message=``); offline or on failure it raises a
        one-line CheckpointError at once, the folder already written locally.
        """
        return save_checkpoint(
            self,
            folder,
            card=card,
            bundle_base=bundle_base,
            push_to_hub=push_to_hub,
            private=private,
            commit_message=commit_message,
        )

    @classmethod
    def from_pretrained(
        cls,
        folder: str | Path,
        device: Optional[str] = None,
        base_weights: Optional[str] = None,
        allow_large: bool = False,
        *,
        dtype: Union[str, torch.dtype, None] = None,
        merge_adapters: bool = True,
    ):
        """Load a checkpoint folder safely (safetensors only, strict keys), in eval mode.

        ``allow_large`` lifts the size limit on the config's declared architecture
        (see :data:`i2imetric.models.checkpoint.MAX_PARAMETERS`). The metric comes back
        ready to score: LoRA merged into the base weights (:meth:`merge_adapters`; pass
        ``merge_adapters=False`` to keep them separate) and the towers in ``dtype``
        (:meth:`set_precision`; default float32).
        """
        dtype = resolve_dtype(dtype)  # a bad name fails before anything is read
        limit = None if allow_large else MAX_PARAMETERS
        metric = load_checkpoint(folder, build_metric, device=device, base_weights=base_weights, max_parameters=limit)
        if merge_adapters:
            metric.merge_adapters()  # in float32, before any cast down
        if dtype is not None:
            metric.set_precision(dtype)
        return metric


def build_metric(
    config: MetricConfig,
    open_clip_config: dict,
    preprocess: Preprocess,
    base_file: Optional[str],
    base_source: WeightsSource,
    timm_file: Optional[str] = None,
    timm_source: Optional[WeightsSource] = None,
    *,
    device: Optional[str] = None,
    seed: int = 0,
    dtype: Union[str, torch.dtype, None] = None,
) -> I2IMetric:
    """Construct, load base weights, add LoRA, freeze the base: the shared tail of create and load."""
    # Seed every random initialisation (head, random base, LoRA's A matrices) without
    # disturbing the caller's global RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        metric = I2IMetric(config, open_clip_config, preprocess, base_source, timm_source, timm_file)
        if base_file is not None:
            metric.clip.load_weights(base_file)
        metric.prepare_for_training_mode()
    metric = metric.to(device or "cpu").eval()
    return metric.set_precision(dtype) if dtype is not None else metric
