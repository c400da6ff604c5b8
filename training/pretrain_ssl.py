"""Pretrain a model config's timm ViT without text, by DINO-style self-distillation.

Q2 of ``docs/findings.md`` asks whether the language-supervised ShapesCLIP image tower is the
right source of patch tokens, or whether a ViT of the same size, trained on the same images
with a self-supervised objective, serves the metric as well. This trains that ViT:

* **The images** are the ShapesCLIP pretraining's (:class:`~i2imetric_training.pretrain.CaptionedBatches`,
  captions dropped): with the same ``seed``, ``batch_size``, shares and ``pool_size`` step
  ``s`` sees exactly the images ShapesCLIP's step ``s`` sees.
* **Two views** of each image: a random resized crop (``crop_scale`` of the area, aspect
  3:4 to 4:3) resized to the ViT's input, a horizontal flip half the time, colour jitter
  (``color_jitter``, with probability 0.8) and grayscale (``grayscale_p``). DINO's blur and
  solarisation are left out: at 64 px a blur erases most of the picture, and blurring is one
  of the edits the metric has to see.
* **Student and teacher**: the same ViT (its class token) followed by a projection head
  (an MLP to a ``bottleneck_dim`` bottleneck, L2-normalised, then cosine logits over
  ``out_dim`` prototypes). Only the student gets gradients; after every step the teacher
  becomes an exponential moving average of it (``teacher_momentum``, raised to 1 on a cosine).
* **The loss**: the student's softmax at ``student_temp`` of one view is trained towards the
  teacher's of the other view, centred (a running mean of the teacher's logits,
  ``center_momentum``, is subtracted, so no prototype can take over) and sharpened
  (``teacher_temp`` below ``student_temp``, so the targets are not uniform either).

The output is the teacher's ViT (DINO evaluates the teacher), without the projection head:
a plain timm state dict in a safetensors file with a ``.json`` beside it holding its sha256,
loaded as any timm weights file is::

    python -m i2imetric_training.pretrain_ssl --config configs/shapesvit_dino_pretrain.yaml
    i2imetric.create_metric("shapesclip_timm", pretrained=SHAPESCLIP_BASE, timm_pretrained=OUTPUT)
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from accelerate import Accelerator
from safetensors.torch import save_file
from tqdm import tqdm

from i2imetric.errors import ConfigError
from i2imetric.hub.weights import sha256_file
from i2imetric.models.config import get_model_config
from i2imetric.models.encoders import TimmPatchEncoder

from .config import SslPretrainConfig, load_ssl_pretrain_config
from .pretrain import CaptionedBatches, distinct_examples
from .train import warmup_cosine

__all__ = ["DinoHead", "DinoNetwork", "SelfDistillation", "dino_loss", "two_views", "timm_encoder", "pretrain_ssl",
           "main"]


def timm_encoder(model_name: str) -> TimmPatchEncoder:
    """The timm encoder of model config ``model_name``, randomly initialised.

    Built as the metric builds it (architecture and preprocessing from the config's timm
    section), so what is pretrained here is what ``create_metric(..., timm_pretrained=FILE)`` loads.

    Raises:
        ConfigError: the model config has no timm section.
    """
    model_config = get_model_config(model_name)
    if model_config.timm is None:
        raise ConfigError(f"model: {model_name!r} has no timm section, so there is no ViT to pretrain; name a model "
                          "config with one, e.g. model=shapesclip_timm")
    return TimmPatchEncoder(model_config.timm, None, model_config.image_resize)


class DinoHead(nn.Module):
    """The projection head: MLP to a bottleneck, L2-normalised, then cosine logits over prototypes.

    The prototypes are normalised in the forward pass: DINO's weight-normalised last layer
    with its norm fixed at 1.
    """

    def __init__(self, in_dim: int, hidden_dim: int, bottleneck_dim: int, out_dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, hidden_dim), nn.GELU(),
                                 nn.Linear(hidden_dim, bottleneck_dim))  # fmt: skip
        self.prototypes = nn.Parameter(torch.empty(out_dim, bottleneck_dim))
        nn.init.trunc_normal_(self.prototypes, std=0.02)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.mlp(features), dim=-1) @ F.normalize(self.prototypes, dim=-1).T


class DinoNetwork(nn.Module):
    """The ViT (its pooled class token; timm with ``num_classes=0``) and the projection head."""

    def __init__(self, backbone: nn.Module, head: DinoHead):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(pixels))


def dino_loss(student: list[torch.Tensor], teacher: list[torch.Tensor], center: torch.Tensor, student_temp: float,
              teacher_temp: float) -> torch.Tensor:  # fmt: skip
    """Cross-entropy from each teacher view's centred, sharpened softmax to the student's other views.

    Args:
        student, teacher: logits ``[N, K]`` per view, in the same view order.
        center: ``[1, K]``, the running mean of the teacher's logits.
        student_temp, teacher_temp: the softmax temperatures.
    """
    targets = [F.softmax((logits - center) / teacher_temp, dim=-1).detach() for logits in teacher]
    terms = [
        torch.sum(-target * F.log_softmax(logits / student_temp, dim=-1), dim=-1).mean()
        for t, target in enumerate(targets)
        for s, logits in enumerate(student)
        if s != t  # a view is never its own target
    ]
    return sum(terms) / len(terms)


def teacher_momentum(config: SslPretrainConfig, step: int) -> float:
    """The EMA momentum after ``step``: ``config.teacher_momentum`` raised to 1 on a cosine, as in DINO."""
    progress = step / max(1, config.steps - 1)
    return 1.0 - (1.0 - config.teacher_momentum) * (math.cos(math.pi * progress) + 1.0) / 2.0


def two_views(image: torch.Tensor, rng: random.Random, size: tuple, config: SslPretrainConfig) -> list[torch.Tensor]:
    """Two augmented ``[3, *size]`` views in [0, 1] of a ``[3, H, W]`` image in [0, 1]."""
    return [_augment(image, rng, size, config) for _ in range(2)]


def _augment(image: torch.Tensor, rng: random.Random, size: tuple, config: SslPretrainConfig) -> torch.Tensor:
    import torchvision.transforms.functional as TF

    top, left, height, width = _crop_box(image.shape[-2], image.shape[-1], rng, config.crop_scale)
    view = image[:, top : top + height, left : left + width]
    view = F.interpolate(view[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0].clamp(0, 1)
    if rng.random() < 0.5:
        view = view.flip(-1)
    strength = config.color_jitter
    if strength > 0 and rng.random() < 0.8:
        view = TF.adjust_brightness(view, rng.uniform(1 - strength, 1 + strength))
        view = TF.adjust_contrast(view, rng.uniform(1 - strength, 1 + strength))
        view = TF.adjust_saturation(view, rng.uniform(1 - strength / 2, 1 + strength / 2))
        view = TF.adjust_hue(view, rng.uniform(-strength / 4, strength / 4))
    if rng.random() < config.grayscale_p:
        view = TF.rgb_to_grayscale(view, num_output_channels=3)
    return view.clamp(0, 1)


def _crop_box(height: int, width: int, rng: random.Random, scale: list) -> tuple[int, int, int, int]:
    """A random resized crop's box (torchvision's rule: ten tries, then the whole image)."""
    for _ in range(10):
        area = height * width * rng.uniform(*scale)
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        w, h = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
        if 0 < w <= width and 0 < h <= height:
            return rng.randint(0, height - h), rng.randint(0, width - w), h, w
    return 0, 0, height, width


class SelfDistillation:
    """One DINO run: the student (trained through accelerate), its EMA teacher and the centre.

    Args:
        config: the run's settings.
        accelerator: where and how the student trains.
    """

    def __init__(self, config: SslPretrainConfig, accelerator: Accelerator):
        self.config, self.accelerator = config, accelerator
        self.encoder = timm_encoder(config.model)
        head = DinoHead(self.encoder.dim, config.hidden_dim, config.bottleneck_dim, config.out_dim)
        student = DinoNetwork(self.encoder.model, head)
        # The teacher starts as the student and only ever moves by the EMA (no gradients).
        self.teacher = copy.deepcopy(student).requires_grad_(False).to(accelerator.device)
        optimizer = torch.optim.AdamW(student.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(config.warmup_steps, config.steps))
        self.student, self.optimizer, self.scheduler = accelerator.prepare(student, optimizer, scheduler)
        self.center = torch.zeros(1, config.out_dim, device=accelerator.device)

    def views(self, images: list[torch.Tensor], step: int) -> list[torch.Tensor]:
        """The two preprocessed views ``[N, 3, h, w]`` of a batch, a pure function of (seed, step)."""
        rng = random.Random(f"dino/{self.config.seed}/{step}")
        pairs = [two_views(image, rng, self.encoder.preprocess.size, self.config) for image in images]
        # The encoder's own preprocessing: the views are at its size already, so this normalises.
        return [self.encoder.preprocess.batch([pair[v] for pair in pairs]).to(self.accelerator.device)
                for v in range(2)]  # fmt: skip

    def step(self, views: list[torch.Tensor], step: int) -> dict:
        """One optimisation step of the student on ``views``, then the teacher's EMA and the centre's update."""
        config = self.config
        student_logits = [self.student(view) for view in views]
        with torch.no_grad(), self.accelerator.autocast():
            teacher_logits = [self.teacher(view).float() for view in views]
        loss = dino_loss([s.float() for s in student_logits], teacher_logits, self.center, config.student_temp,
                         config.teacher_temp)  # fmt: skip
        self.accelerator.backward(loss)
        if config.grad_clip:
            self.accelerator.clip_grad_norm_(self.student.parameters(), config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad()
        self._update_teacher(teacher_momentum(config, step))
        self._update_center(torch.cat(teacher_logits))
        probabilities = F.softmax((teacher_logits[0] - self.center) / config.teacher_temp, dim=-1)
        # Collapse shows as one prototype taking every image (few used) or as uniform targets (entropy log K).
        entropy = float(-(probabilities * probabilities.clamp_min(1e-12).log()).sum(-1).mean())
        return {"loss": loss.item(), "teacher_entropy": entropy,
                "prototypes_used": int(probabilities.argmax(-1).unique().numel())}  # fmt: skip

    @torch.no_grad()
    def _update_teacher(self, momentum: float) -> None:
        student = self.accelerator.unwrap_model(self.student)
        for teacher_parameter, student_parameter in zip(self.teacher.parameters(), student.parameters()):
            teacher_parameter.mul_(momentum).add_(student_parameter.detach(), alpha=1.0 - momentum)

    @torch.no_grad()
    def _update_center(self, teacher_logits: torch.Tensor) -> None:
        batch_center = self.accelerator.reduce(teacher_logits.mean(dim=0, keepdim=True), reduction="mean")
        momentum = self.config.center_momentum
        self.center.mul_(momentum).add_(batch_center, alpha=1.0 - momentum)

    def teacher_backbone_state(self) -> dict[str, torch.Tensor]:
        """The teacher ViT's timm state dict (no projection head), on the CPU in ``save_dtype``."""
        dtype = getattr(torch, self.config.save_dtype)
        return {name: tensor.detach().to("cpu", dtype if tensor.is_floating_point() else tensor.dtype).contiguous()
                for name, tensor in self.teacher.backbone.state_dict().items()}  # fmt: skip


def pretrain_ssl(config: SslPretrainConfig) -> Path:
    """Train the ViT and write the teacher's to ``config.output`` (plus a ``.json`` with its sha256)."""
    accelerator = Accelerator(mixed_precision=config.mixed_precision)
    torch.manual_seed(config.seed)
    run = SelfDistillation(config, accelerator)
    data = CaptionedBatches(config)

    started = time.time()
    progress = tqdm(range(config.steps), desc="pretrain DINO-style ViT", disable=not accelerator.is_main_process)
    for step in progress:
        images, _ = data.batch(step)  # the captions are what this objective does without
        parts = run.step(run.views(images, step), step)
        if step % config.log_every == 0 or step == config.steps - 1:
            progress.set_postfix(loss=f"{parts['loss']:.3f}", entropy=f"{parts['teacher_entropy']:.2f}",
                                 used=parts["prototypes_used"])  # fmt: skip

    output = Path(config.output)
    if accelerator.is_main_process:
        output.parent.mkdir(parents=True, exist_ok=True)
        save_file(run.teacher_backbone_state(), str(output))
        seconds = time.time() - started
        record = {"file": output.name, "sha256": sha256_file(output), "network": "teacher",
                  "timm": vars(get_model_config(config.model).timm), "config": vars(config),
                  "distinct_examples": distinct_examples(config), "seconds": round(seconds, 1),
                  "minutes": round(seconds / 60, 1), "final_loss": round(parts["loss"], 4),
                  "final_teacher_entropy": round(parts["teacher_entropy"], 3),
                  "final_prototypes_used": parts["prototypes_used"]}  # fmt: skip
        output.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {output} (sha256 {record['sha256']}) in {record['minutes']} min, final loss "
              f"{record['final_loss']}, {record['final_prototypes_used']} of {config.out_dim} prototypes used")  # fmt: skip
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="YAML config (see configs/shapesvit_dino_pretrain.yaml)")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. steps=100")
    args = parser.parse_args(argv)
    pretrain_ssl(load_ssl_pretrain_config(args.config, tuple(args.overrides)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
