"""Batching: encode each distinct input once, and reuse it wherever it recurs.

A benchmark scores several outputs of one (source, instruction), so the same source
image and the same instruction come back again and again. Three places exploit that:
:meth:`I2IMetric.score <i2imetric.models.metric.I2IMetric.score>` (and ``embed``,
``explain``, ``subscores``) through :func:`iter_batches` here, the evaluation engine
(:mod:`i2imetric.evaluation.engine`), and the set-level embeddings
(:mod:`i2imetric.evaluation.setlevel`). What they share is one step,
:func:`encode_once`: *given the keys of a batch and what is already stored, encode each
missing distinct key once, store it, and hand every item its value*. How long a stored
value is kept is where they differ, so the store is a parameter:

* :class:`LastUseStore` (here, for :func:`iter_batches`): the whole list is known up
  front, so triplets are grouped by source and each source is dropped right after its
  last triplet; memory stays bounded however long the lists are;
* the engine's least-recently-used ``FeatureCache``: items stream in from data-loader
  workers and the future is unknown, so it keeps what fits under a byte and entry bound;
* a plain :class:`dict` (or None): keep everything for one call, e.g. the texts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Hashable, Iterator, Optional, Protocol, Sequence, TypeVar

import torch

from ..errors import I2IInputError
from ..io.images import as_image_list, check_instruction, check_instructions, image_to_tensor
from .outputs import ImageFeatures, MetricOutput, TextFeatures

__all__ = [
    "Distinct",
    "LastUseStore",
    "Store",
    "distinct",
    "encode_once",
    "grouped_order",
    "image_key",
    "iter_batches",
    "score_all",
]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Store(Protocol):
    """Where :func:`encode_once` looks values up and keeps new ones: ``get`` (None when absent) and ``put``."""

    def get(self, key: Hashable) -> Optional[Any]: ...

    def put(self, key: Hashable, value: Any) -> None: ...


@dataclass(frozen=True)
class Distinct:
    """The distinct keys of a sequence, in first-seen order.

    Attributes:
        keys: each distinct key once.
        first: for each of ``keys``, the position of its first occurrence.
        slots: for each item of the sequence, the index of its key in ``keys``.
    """

    keys: list
    first: list[int]
    slots: list[int]


def distinct(keys: Sequence[Hashable]) -> Distinct:
    """Plan "each distinct key once": ``distinct(["a", "b", "a"])`` has keys a, b; first 0, 1; slots 0, 1, 0."""
    index: dict[Hashable, int] = {}
    first: list[int] = []
    slots = []
    for position, key in enumerate(keys):
        if key not in index:
            index[key] = len(first)
            first.append(position)
        slots.append(index[key])
    return Distinct(list(index), first, slots)


def encode_once(
    keys: Sequence[K], encode: Callable[[list[int]], Sequence[V]], store: Optional[Store] = None
) -> list[V]:
    """Per item of ``keys``, its value; each distinct key looked up once, each missing one encoded once.

    Args:
        keys: one key per item (repeats allowed).
        encode: called at most once, with the position in ``keys`` of the first
            occurrence of each missing key (first-seen order); returns their values in
            that order. It must return values that may be kept (clone a slice of a batch
            tensor before a long-lived store keeps it).
        store: what is already encoded and where new values go (see :class:`Store`);
            None: nothing is known, nothing is kept beyond this call.

    Returns:
        A list with one value per item of ``keys``.
    """
    plan = distinct(keys)
    found = [store.get(key) if store is not None else None for key in plan.keys]
    missing = [j for j, value in enumerate(found) if value is None]
    if missing:
        values = encode([plan.first[j] for j in missing])
        if len(values) != len(missing):
            raise ValueError(f"encode returned {len(values)} values for {len(missing)} keys")
        for j, value in zip(missing, values):
            found[j] = value
            if store is not None:
                store.put(plan.keys[j], value)
    return [found[slot] for slot in plan.slots]


class LastUseStore:
    """A store for a plan known in advance: each key is dropped once its last use has passed.

    Args:
        keys: the key of each item, in the order the items will be processed.
    """

    def __init__(self, keys: Sequence[Hashable]):
        self._last_use = {key: position for position, key in enumerate(keys)}
        self._values: dict[Hashable, Any] = {}

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: Hashable) -> Optional[Any]:
        return self._values.get(key)

    def put(self, key: Hashable, value: Any) -> None:
        self._values[key] = value

    def release_through(self, position: int) -> None:
        """Drop every value whose last use is at or before ``position``."""
        for key in [k for k in self._values if self._last_use[k] <= position]:
            del self._values[key]


def image_key(image: Any, name: str) -> str:
    """Identity of an image for de-duplication: its resolved path, or a hash of its content."""
    if isinstance(image, (str, Path)):
        return "path:" + str(Path(image).resolve())
    tensor = image_to_tensor(image, name=name)
    return "sha1:" + hashlib.sha1(tensor.numpy().tobytes()).hexdigest() + str(tuple(tensor.shape))


def grouped_order(keys: Sequence[Hashable]) -> list[int]:
    """Item positions grouped by key (keys in first-seen order, items in order within a key)."""
    plan = distinct(keys)
    return sorted(range(len(keys)), key=lambda i: (plan.slots[i], i))


# ----------------------------------------------------------------- the metric's calls


def score_all(metric, sources: Any, instructions: Any, outputs: Any, batch_size: int) -> MetricOutput:
    """Check the user's inputs, score them in batches, and return one :class:`MetricOutput` in input order.

    ``instructions`` a str means one triplet (``sources`` and ``outputs`` single images).
    """
    if instructions is None:
        # Checked first: otherwise a single image is taken for a batch and `sources` gets the blame.
        raise I2IInputError("instructions: got None; pass a str for one triplet, or a list of str for a batch")
    if isinstance(instructions, str):
        sources, instructions, outputs = [sources], [check_instruction(instructions)], [outputs]
    else:
        sources = as_image_list(sources, name="sources")
        outputs = as_image_list(outputs, name="outputs")
        instructions = check_instructions(instructions)
    if not (len(sources) == len(instructions) == len(outputs)):
        raise I2IInputError(
            f"sources, instructions and outputs must have the same length, got "
            f"{len(sources)}, {len(instructions)} and {len(outputs)}"
        )
    if not isinstance(batch_size, int) or batch_size < 1:
        raise I2IInputError(f"batch_size must be a positive int, got {batch_size!r}")
    if not sources:
        raise I2IInputError("nothing to score: the lists are empty")
    parts = list(iter_batches(metric, sources, instructions, outputs, batch_size))
    order = torch.cat([index for index, _ in parts])
    merged = _cat_outputs([output for _, output in parts])
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(len(order))
    return _select_output(merged, inverse)


@torch.inference_mode()
def iter_batches(
    metric, sources: list, instructions: list[str], outputs: list, batch_size: int
) -> Iterator[tuple[torch.Tensor, MetricOutput]]:
    """Score aligned lists with ``metric`` in batches, yielding ``(indices, MetricOutput)``.

    Each distinct source image and instruction is encoded once per call: triplets are
    grouped by source, and a source's features are dropped after its last triplet
    (:class:`LastUseStore`), so memory stays bounded however long the lists are.
    """
    metric.eval()
    source_keys = [image_key(image, f"sources[{i}]") for i, image in enumerate(sources)]
    text_features = encode_once(instructions, lambda first: _encode_texts(metric, instructions, first, batch_size))
    order = grouped_order(source_keys)
    cached_sources = LastUseStore([source_keys[i] for i in order])
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]

        def encode_sources(first: list[int], batch=batch) -> list[ImageFeatures]:
            images = [image_to_tensor(sources[batch[p]], name=f"sources[{batch[p]}]") for p in first]
            encoded = metric.encode_images(images)
            return [encoded.select(slice(j, j + 1)) for j in range(len(first))]

        per_item = encode_once([source_keys[i] for i in batch], encode_sources, cached_sources)
        output_images = [image_to_tensor(outputs[i], name=f"outputs[{i}]") for i in batch]
        text = TextFeatures.cat([text_features[i] for i in batch])
        yield torch.tensor(batch), metric.forward_features(
            ImageFeatures.cat(per_item), text, metric.encode_images(output_images)
        )
        cached_sources.release_through(start + len(batch) - 1)


def _encode_texts(metric, texts: list[str], first: list[int], batch_size: int) -> list[TextFeatures]:
    """Features of ``texts[p]`` for each ``p`` in ``first`` (one row each), ``batch_size`` texts per forward pass."""
    rows = []
    for start in range(0, len(first), batch_size):
        chunk = first[start : start + batch_size]
        encoded = metric.encode_instructions([texts[p] for p in chunk])
        rows.extend(encoded.select(slice(j, j + 1)) for j in range(len(chunk)))
    return rows


def _cat_outputs(parts: list[MetricOutput]) -> MetricOutput:
    return MetricOutput(*(torch.cat([getattr(p, f) for p in parts]) for f in MetricOutput.__dataclass_fields__))


def _select_output(output: MetricOutput, index: torch.Tensor) -> MetricOutput:
    return MetricOutput(*(getattr(output, f)[index] for f in MetricOutput.__dataclass_fields__))
