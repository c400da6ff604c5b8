"""The scoring step of the evaluation engine: a decoded batch in, result rows out.

Benchmarks score several systems' outputs for the same (source, instruction), so the
embeddings of source images (keyed by the content hash of the file) and of texts (keyed
by the text) go through a :class:`FeatureCache`: each is encoded once while it stays in
the cache. Outputs are never cached: each is scored once. With a cache the workers send
a source's pixels only the first time they meet it; when its embedding has left the cache
by the time it comes back, the engine decodes the file again itself.

On CUDA the tower encodes run under bf16 autocast (the towers' own dtype when they were
set to bfloat16 or float16: :func:`tower_autocast_dtype`); their features are turned back
to float32 before they are cached or compared, and the head, the zero-shot prior and the
baselines run outside autocast, so scores and baselines are computed in float32 (as
:mod:`i2imetric.models.precision` keeps them). :func:`compute_identity` says which, for
the result header: a file is resumed only on the same kind of device and precision.

Every row, ok or error, names its inputs: ``source``, ``instruction`` and ``output``, the
image paths absolute with links resolved (:func:`item_inputs`), so any reader finds the
images from any folder, and labels can be joined to rows by content.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from typing import Any, Hashable, Optional, Sequence

import torch

from .._numbers import none_if_missing
from ..errors import I2IInputError
from ..models.batching import encode_once
from ..models.metric import I2IMetric
from ..models.outputs import SUBSCORE_NAMES, ImageFeatures, TextFeatures
from ..models.precision import tower_autocast
from .baselines import Baseline, EncodedTriplets
from .items import DecodedBatch, DecodingDataset, WorkItem

__all__ = ["FeatureCache", "ScoringEngine", "compute_identity", "error_row", "item_inputs", "tower_autocast_dtype"]


_LOW_PRECISION = (torch.bfloat16, torch.float16)


def tower_autocast_dtype(metric: I2IMetric) -> Optional[torch.dtype]:
    """The dtype the engine autocasts the towers to on the metric's device, or None where it does not.

    On CUDA, bfloat16 for towers in float32 (the speed a benchmark run wants), else the
    towers' own low precision (their own :func:`tower_autocast` would pick it anyway).
    Elsewhere autocast is off: a CPU runs what the weights are.
    """
    if metric.device.type != "cuda":
        return None
    return metric.tower_dtype if metric.tower_dtype in _LOW_PRECISION else torch.bfloat16


def compute_identity(metric: I2IMetric) -> dict:
    """Where and in what precision the engine scores with ``metric``: what a result header records.

    ``device`` is the device type (``"cpu"``, ``"cuda"``; not its index, which changes no
    value); ``precision`` holds the towers' weight dtype, the autocast dtype of their
    encodes (None: none), and the head's dtype (the head and prior run in it, outside
    autocast). Rows made under another of these differ beyond float rounding, so a file
    started under one is not resumed under another.
    """
    autocast = tower_autocast_dtype(metric)
    return {
        "device": metric.device.type,
        "precision": {
            "towers": _dtype_name(metric.tower_dtype),
            "autocast": _dtype_name(autocast) if autocast is not None else None,
            "head": _dtype_name(metric.head.norm.weight.dtype),
        },
    }


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


class FeatureCache:
    """A least-recently-used map of encoded features (:class:`ImageFeatures`, :class:`TextFeatures`), bounded twice.

    The engine's store for :func:`i2imetric.models.batching.encode_once`, the per-batch
    step it shares with :meth:`I2IMetric.score`. The keeping differs on purpose: ``score``
    sees its whole list up front, so it drops a source right after its last use
    (:class:`~i2imetric.models.batching.LastUseStore`); here batches stream in from
    data-loader workers over a manifest of any length and the future is unknown, so the
    cache keeps what was used most recently, within a byte and an entry bound.

    Args:
        max_bytes: evict the oldest entries once the stored tensors exceed this.
        max_entries: and once there are more entries than this.
    """

    def __init__(self, max_bytes: int, max_entries: int):
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> Optional[Any]:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: Hashable, value: Any) -> None:
        if key in self._entries:
            return
        size = _nbytes(value)
        self._entries[key] = (value, size)
        self.bytes += size
        while self._entries and (self.bytes > self.max_bytes or len(self._entries) > self.max_entries):
            _, (_, evicted) = self._entries.popitem(last=False)
            self.bytes -= evicted


def _nbytes(value: Any) -> int:
    if isinstance(value, ImageFeatures):
        return sum(_nbytes(t) for t in value.tensors())
    if isinstance(value, TextFeatures):
        return sum(_nbytes(t) for t in (value.pooled, value.tokens, value.mask) if t is not None)
    return value.numel() * value.element_size()


class ScoringEngine:
    """Scores :class:`DecodedBatch` es with a metric, its baselines, and an optional cache.

    Args:
        metric: the metric (already on its device).
        baselines: feature baselines to compute from the batch's encodings; pixel
            baselines arrive already computed in the batch.
        cache: where source and text embeddings are kept between batches; None encodes
            every item's source and instruction afresh (to measure what caching buys).
        decoder: the :class:`DecodingDataset` the batches come from.
    """

    def __init__(self, metric: I2IMetric, baselines: Sequence[Baseline], cache: Optional[FeatureCache],
                 decoder: DecodingDataset):  # fmt: skip
        self.metric = metric
        self.feature_baselines = [b for b in baselines if b.kind == "features"]
        self.baseline_names = [b.name for b in baselines]
        self.cache = cache
        self.device = metric.device
        self.autocast_dtype = tower_autocast_dtype(metric)
        # The workers' own dataset, so a source the engine decodes itself (one a worker sent
        # as a key alone, whose embedding has left the cache since) is decoded as they would.
        self.decoder = decoder

    @torch.inference_mode()
    def score(self, batch: DecodedBatch) -> list[dict]:
        """One result row per item of the batch, in the batch's order (errors included)."""
        self._decode_unsent_sources(batch)
        rows: list[Optional[dict]] = [None] * len(batch.items)
        for position, reason in batch.failures.items():
            rows[position] = error_row(batch.items[position], reason, self.baseline_names)
        if batch.good:
            scored = self._score_good(batch)
            for position, row in zip(batch.good, scored):
                rows[position] = row
        return rows

    def _score_good(self, batch: DecodedBatch) -> list[dict]:
        items = [batch.items[i] for i in batch.good]
        source = self._source_features(batch)
        instruction = self._text_features(batch.instructions)
        output = self._encode_pixels(batch.output_clip, batch.output_timm)
        # Outside autocast: the head and the prior compare unit vectors in float32.
        result = self.metric.forward_features(source, instruction, output)
        encoded = EncodedTriplets(source, output, instruction.pooled, *self._caption_features(items))
        baselines = {b.name: b.compute(encoded).float().tolist() for b in self.feature_baselines}
        baselines.update(batch.pixel_baselines)
        scores = result.score.float().tolist()
        subscores = result.subscores.float().tolist()
        return [
            _ok_row(item, scores[j], subscores[j], {name: baselines[name][j] for name in self.baseline_names})
            if math.isfinite(scores[j])
            else error_row(item, "the metric returned a non-finite score", self.baseline_names)
            for j, item in enumerate(items)
        ]

    def _decode_unsent_sources(self, batch: DecodedBatch) -> None:
        """Give pixels to every source slot that came as a key alone and is not in the cache.

        A worker skips the pixels of a source it sent before, trusting the cache to hold its
        embedding; a cache that has evicted it since, or a file that no longer decodes, is
        handled here: the source is decoded in this process, or its items become failed rows.
        """
        sent = set(batch.source_sent)
        unsent = [slot for slot in range(len(batch.source_keys)) if slot not in sent
                  and (self.cache is None or self.cache.get(batch.source_keys[slot]) is None)]  # fmt: skip
        decoded, failed = {}, {}
        for slot in unsent:
            try:
                decoded[slot] = self.decoder.prepare_source(batch.source_paths[slot])
            except I2IInputError as problem:
                failed[slot] = str(problem)
        batch.add_source_pixels(decoded)
        batch.fail_sources(failed)

    def _source_features(self, batch: DecodedBatch) -> ImageFeatures:
        """Per good item, its source's features; each distinct uncached source is encoded once."""
        row_of_slot = {slot: row for row, slot in enumerate(batch.source_sent)}
        if self.cache is None:
            index = torch.tensor([row_of_slot[slot] for slot in batch.source_slot.tolist()])
            timm = batch.source_timm[index] if batch.source_timm is not None else None
            return self._encode_pixels(batch.source_clip[index], timm)

        def encode(slots: list[int]) -> list[ImageFeatures]:
            index = torch.tensor([row_of_slot[slot] for slot in slots])
            timm = batch.source_timm[index] if batch.source_timm is not None else None
            encoded = self._encode_pixels(batch.source_clip[index], timm)
            # clone(): a view would keep the whole batch's storage alive in the cache.
            return [_clone(encoded.select(slice(j, j + 1))) for j in range(len(slots))]

        # Slots are distinct sources already; one whose items all failed is left out.
        slots = batch.source_slot.tolist()
        used = sorted(set(slots))
        encoded = encode_once([batch.source_keys[slot] for slot in used],
                              lambda positions: encode([used[p] for p in positions]), self.cache)  # fmt: skip
        features = dict(zip(used, encoded))
        return ImageFeatures.cat([features[slot] for slot in slots])

    def _text_features(self, texts: Sequence[str]) -> TextFeatures:
        """Features of ``texts`` (pooled ``[N, D]``, plus tokens for a head that reads words);
        each distinct uncached text is encoded once."""
        if self.cache is None:
            return self._encode_texts(texts)

        def encode(first: list[int]) -> list[TextFeatures]:
            encoded = self._encode_texts([texts[p] for p in first])
            # clone(): a view would keep the whole batch's storage alive in the cache.
            return [encoded.select(slice(j, j + 1)).clone() for j in range(len(first))]

        return TextFeatures.cat(encode_once([("text", text) for text in texts], encode, self.cache))

    def _caption_features(self, items: list[WorkItem]) -> tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        """Caption embeddings for the baselines that need them (NaN rows where an item has none)."""
        if not any(b.needs_captions for b in self.feature_baselines):
            return None, None
        has = [i for i, item in enumerate(items) if item.source_caption and item.target_caption]
        if not has:
            return None, None
        captions = [items[i].source_caption for i in has] + [items[i].target_caption for i in has]
        embedded = self._text_features(captions).pooled
        source = torch.full((len(items), embedded.shape[-1]), math.nan, device=embedded.device)
        target = source.clone()
        index = torch.tensor(has, device=embedded.device)
        source[index], target[index] = embedded[: len(has)], embedded[len(has) :]
        return source, target

    # The only places autocast is on: the towers, whose features leave in float32.
    def _encode_pixels(self, clip_pixels: torch.Tensor, timm_pixels: Optional[torch.Tensor]) -> ImageFeatures:
        with self._towers():
            return _as_float(self.metric.encode_pixels(clip_pixels, timm_pixels))

    def _encode_texts(self, texts: Sequence[str]) -> TextFeatures:
        with self._towers():
            return self.metric.encode_instructions(texts).to(torch.float32)

    def _towers(self):
        # Without an autocast dtype (off CUDA), tower_autocast of float32 is a no-op.
        return tower_autocast(self.device, torch.float32 if self.autocast_dtype is None else self.autocast_dtype)


def _as_float(features: ImageFeatures) -> ImageFeatures:
    return features.map(torch.Tensor.float)


def _clone(features: ImageFeatures) -> ImageFeatures:
    return features.map(torch.Tensor.clone)


# ---------------------------------------------------------------------------- rows


def _ok_row(item: WorkItem, score: float, subscores: list[float], baselines: dict) -> dict:
    return _row(item, "ok", None, score, dict(zip(SUBSCORE_NAMES, subscores)), baselines)


def error_row(item: WorkItem, reason: str, baseline_names: Sequence[str]) -> dict:
    """The row of an item that could not be scored: every value null, the reason given."""
    return _row(item, "error", reason, None, dict.fromkeys(SUBSCORE_NAMES), dict.fromkeys(baseline_names))


def item_inputs(item: WorkItem) -> dict:
    """What a row records of its item: ``source``, ``instruction``, ``output`` (paths absolute, links resolved)."""
    return {
        "source": os.path.realpath(item.source) if item.source is not None else None,
        "instruction": item.instruction,
        "output": os.path.realpath(item.output),
    }


def _row(item: WorkItem, status: str, error: Optional[str], score, subscores: dict, baselines: dict) -> dict:
    row = {"id": item.id}
    if item.system is not None:
        row["system"] = item.system
    row.update(item_inputs(item))
    # A baseline that does not apply to this row is NaN; JSON has no NaN, so it is written as null.
    baselines = {name: none_if_missing(value) for name, value in baselines.items()}
    row.update(status=status, error=error, score=score, subscores=subscores, baselines=baselines)
    return row
