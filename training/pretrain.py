"""Pretrain a small OpenCLIP base from scratch with the contrastive CLIP loss (ShapesCLIP).

No pretrained weights can be downloaded on the machine the demo is built on, so the demo
scorer's base is trained here. Its images and captions:

* ShapesWorld scenes with their captions ("a large red circle at the top left ...");
* crops of the real photos bundled with scikit-image / scikit-learn (training split only),
  each with a canonical edit applied and the edit's instruction as its caption, so the
  towers learn what "blur the left half" looks like;
* crops with a grammar edit of the ``train`` split applied (:mod:`i2imetric.data.synthetic.grammar`),
  captioned with a training phrasing of it, so the text tower meets the grammar's whole
  training vocabulary (operations, regions, degrees, the four forms) and not only sixteen
  fixed strings. With ``described_share``, that share of these crops is captioned instead
  with a description of the result in a wider vocabulary (:func:`grammar.describe`: "a
  photo where the left portion is much gloomier"), as a web-trained base would have read such
  words in captions. Held-out operations and combinations are never drawn here, nor any
  held-out request template; held-out *words* can occur in descriptions (see
  :mod:`i2imetric.data.synthetic.grammar.captions`).

The result is a plain open_clip state dict in a safetensors file with its sha256, loaded
through the same path as any real base (``create_metric(..., pretrained=FILE)``)::

    python -m i2imetric_training.pretrain --config configs/shapesclip_pretrain.yaml
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch
import torch.nn as nn
from accelerate import Accelerator
from safetensors.torch import save_file
from tqdm import tqdm

from i2imetric.data.synthetic import edits, grammar, photos, shapesworld
from i2imetric.hub.weights import sha256_file
from i2imetric.io.images import image_to_tensor
from i2imetric.models.config import get_model_config
from i2imetric.models.encoders import OpenCLIPEncoder, resolve_open_clip_config
from i2imetric.models.factory import open_clip_preprocess

from .config import PretrainConfig, load_pretrain_config
from .losses import clip_contrastive_loss
from .train import warmup_cosine

__all__ = ["CaptionedBatches", "ContrastiveTowers", "distinct_examples", "pretrain", "main"]


def _base_encoder(model_name: str) -> OpenCLIPEncoder:
    """The metric's OpenCLIP encoder for ``model_name``, randomly initialised.

    Built as :func:`i2imetric.create_metric` builds it (architecture, preprocessing and
    tokenizer from the model config), so what is pretrained here is what the metric loads.
    """
    model_config = get_model_config(model_name)
    open_clip_config = resolve_open_clip_config(model_config.base)
    return OpenCLIPEncoder(open_clip_config, open_clip_preprocess(open_clip_config, {}, model_config.image_resize))


class ContrastiveTowers(nn.Module):
    """The encoder's two towers with a ``forward``, which accelerate wraps (autocast, DDP).

    Returns the L2-normalised pooled image embeddings and text embeddings, ``[N, D]`` each.
    """

    def __init__(self, encoder: OpenCLIPEncoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, pixels: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled, _ = self.encoder.encode_image(pixels)
        return pooled, self.encoder.encode_text(tokens)


class CaptionedBatches:
    """Reproducible (image, caption) batches: batch ``step`` is a pure function of (seed, step).

    With ``config.pool_size`` the run sees only that many distinct examples: example ``i``
    of the run (``step * batch_size + k``) is example ``i % pool_size`` of the fresh stream,
    the one drawn without a pool. A pool as large as the run therefore changes nothing, and
    a smaller one repeats the run's first examples.
    """

    def __init__(self, config: PretrainConfig):
        self.config = config
        self.photos = photos.training_photos(max_side=256)
        self._fresh_cache: dict[int, tuple[list[torch.Tensor], list[str]]] = {}

    def batch(self, step: int) -> tuple[list[torch.Tensor], list[str]]:
        if self.config.pool_size is None:
            return self._fresh_batch(step)
        first = step * self.config.batch_size
        examples = [self._pooled_example((first + k) % self.config.pool_size) for k in range(self.config.batch_size)]
        return [image for image, _ in examples], [caption for _, caption in examples]

    def _pooled_example(self, index: int) -> tuple[torch.Tensor, str]:
        fresh_step, position = divmod(index, self.config.batch_size)
        if fresh_step not in self._fresh_cache:
            # A pooled batch spans at most two fresh ones, and the next batch starts where it ended.
            if len(self._fresh_cache) >= 2:
                self._fresh_cache.pop(next(iter(self._fresh_cache)))
            self._fresh_cache[fresh_step] = self._fresh_batch(fresh_step)
        images, captions = self._fresh_cache[fresh_step]
        return images[position], captions[position]

    def _fresh_batch(self, step: int) -> tuple[list[torch.Tensor], list[str]]:
        rng = random.Random(self.config.seed * 1_000_003 + step)
        examples = []
        while len(examples) < self.config.batch_size:
            draw = rng.random()
            if draw < self.config.photo_share:
                examples.append(self._photo_example(rng))
            elif draw < self.config.photo_share + self.config.grammar_share:
                examples.extend(self._grammar_group(rng))
            else:
                examples.append(self._scene_example(rng))
        examples = examples[: self.config.batch_size]
        return [image_to_tensor(image) for image, _ in examples], [text for _, text in examples]

    def _scene_example(self, rng: random.Random):
        scene = shapesworld.sample_scene(rng.randrange(10**8), split="train")
        return shapesworld.render(scene, self.config.image_size), shapesworld.caption(scene)

    def _photo_example(self, rng: random.Random):
        crop = photos.random_crop(self.photos[rng.randrange(len(self.photos))], rng)
        edit = rng.choice(sorted(edits.CANONICAL_EDITS))
        # Edit at the crop's own resolution; the preprocessing resizes afterwards.
        return edits.apply_edit(crop, edit), edits.CANONICAL_EDITS[edit]

    def _grammar_group(self, rng: random.Random) -> list[tuple]:
        """Up to ``grammar_group_size`` grammar edits of one crop, each with its caption.

        The siblings differ from the first edit in one respect (the region, the operation,
        or the direction), so within a batch a caption only finds its image by reading
        which edit it names, where, and which way: hard negatives for the text tower. A
        sibling that renders like one already in the group is skipped (it would be a false
        negative), so a group can come out smaller; the batch fills up with other examples.
        """
        crop = photos.random_crop(self.photos[rng.randrange(len(self.photos))], rng)
        spec, text = grammar.sample_example(rng, "train")
        render_seed = rng.randrange(2**31)
        first, _ = grammar.render(spec, crop, seed=render_seed)
        specs, group = [spec], [(first, self._caption(spec, text, render_seed))]
        for _ in range(self.config.grammar_group_size - 1):
            render_seed = rng.randrange(2**31)
            sibling = _visible_sibling(spec, crop, render_seed, specs, [image for image, _ in group], rng,
                                       self.config.sibling_changes)
            if sibling is not None:
                sibling_spec, image = sibling
                specs.append(sibling_spec)
                group.append((image, self._caption(sibling_spec, grammar.phrase(sibling_spec, rng, "train"), render_seed)))
        return group

    def _caption(self, spec, request: str, render_seed: int) -> str:
        # Whether to describe the result instead is drawn off the batch's stream, so the
        # images (which the DINO pretraining shares) are the same for any described_share.
        caption_rng = random.Random(render_seed)
        if caption_rng.random() < self.config.described_share:
            return grammar.describe(spec, caption_rng)
        return request


def _visible_sibling(spec: grammar.EditSpec, crop, render_seed: int, taken: list, images: list, rng: random.Random,
                     changes=grammar.NEAR_MISS_CHANGES):
    """A training near miss of ``spec`` (:func:`grammar.visible_near_miss`): not in ``taken``, unlike every one of ``images``.

    The change (one of ``changes``: direction, region, operation) is drawn first; one with
    no visible candidate hands over to the others.
    """
    changes = list(changes)
    rng.shuffle(changes)
    for change in changes:
        found = grammar.visible_near_miss(spec, change, crop, render_seed, "train", rng, differ_from=images,
                                          exclude=taken)
        if found is not None:
            return found
    return None


def distinct_examples(config: PretrainConfig) -> int:
    """How many distinct (image, caption) examples a run of ``config`` sees."""
    seen = config.steps * config.batch_size
    return seen if config.pool_size is None else min(seen, config.pool_size)


def pretrain(config: PretrainConfig) -> Path:
    """Train the base and write it to ``config.output`` (plus a ``.json`` with its sha256)."""
    accelerator = Accelerator(mixed_precision=config.mixed_precision)
    torch.manual_seed(config.seed)
    model = ContrastiveTowers(_base_encoder(config.model))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(config.warmup_steps, config.steps))
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    data = CaptionedBatches(config)

    started = time.time()
    progress = tqdm(range(config.steps), desc="pretrain ShapesCLIP", disable=not accelerator.is_main_process)
    for step in progress:
        images, captions = data.batch(step)
        unwrapped = accelerator.unwrap_model(model)
        pixels = unwrapped.encoder.preprocess.batch(images).to(accelerator.device)
        tokens = unwrapped.encoder.tokenizer(captions).to(accelerator.device)
        image_features, text_features = model(pixels, tokens)
        logit_scale = unwrapped.encoder.model.logit_scale
        loss = clip_contrastive_loss(image_features, text_features, logit_scale)
        accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        if step % config.log_every == 0:
            progress.set_postfix(loss=f"{loss.item():.3f}", scale=f"{logit_scale.exp().item():.1f}")

    output = Path(config.output)
    if accelerator.is_main_process:
        output.parent.mkdir(parents=True, exist_ok=True)
        dtype = getattr(torch, config.save_dtype)
        # The open_clip model's own keys, as any real base has them (what load_weights reads).
        state = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
                 for k, v in accelerator.unwrap_model(model).encoder.model.state_dict().items()}
        save_file(state, str(output))
        record = {"file": output.name, "sha256": sha256_file(output), "config": vars(config),
                  "distinct_examples": distinct_examples(config),
                  "seconds": round(time.time() - started, 1), "minutes": round((time.time() - started) / 60, 1),
                  "final_loss": round(loss.item(), 4)}
        output.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {output} (sha256 {record['sha256']}) in {record['minutes']} min, final loss {record['final_loss']}")
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="YAML config (see configs/shapesclip_pretrain.yaml)")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. steps=100")
    args = parser.parse_args(argv)
    pretrain(load_pretrain_config(args.config, tuple(args.overrides)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
