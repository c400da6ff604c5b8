"""What the evaluation engine scores, and how its images get decoded off the main process.

Records become :class:`WorkItem` s, one per output image to score: a Triplet or a Rating
gives one item, a Pairwise gives two, ``<id>/a`` and ``<id>/b`` (each row of the result
file is one scored output, so systems can be compared row by row). A record without an id
is named by its content (:func:`i2imetric.data.records.record_id`), never by its position: a
position shifts when a malformed manifest line is fixed, and a resumed run would then give
later records the scores of others. An item id seen before gets ``#<k>`` appended (``k``
counts its occurrences, from 2), with one warning saying how many were renamed, so every
item id is unique and the same on every run, which is what resuming relies on.

Decoding runs in torch DataLoader workers: :class:`DecodingDataset` is a map-style
dataset whose keys are the items themselves, so the main process streams the items
(no list of the whole manifest) and the workers only decode. A bad item becomes a
:class:`FailedItem` carrying the reason, never an exception, and :func:`collate` keeps
it beside the good ones.

A worker never keeps a full-resolution image past its own item, so memory depends on the
batch and not on the files' resolution (8 sources of 16 Mpx used to be held whole for
their batch): a source stays for the rest of its batch only as its encoder inputs and,
when pixel baselines are on, its pixels at their working size
(:func:`~i2imetric.evaluation.baselines.working_size`: the source's size, long side at
most 1024). Without pixel baselines, a JPEG is decoded straight at a reduced scale (PIL's
``draft``, 1/2 to 1/8, never below the largest encoder input, per side:
:func:`i2imetric.io.images.decode_reduced`), which moves scores slightly
(``tests/test_decoding.py`` bounds it). With L2 or PSNR on, every file is decoded whole:
a DCT-scaled decode keeps a different share of JPEG's own noise, and moved the PSNR of a
near-identical 2048x1536 pair by 3.5 dB.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Iterator, Optional

import torch

from ..data.records import Pairwise, Rating, Record, Triplet, record_id
from ..errors import I2IInputError
from ..io.images import check_instruction, decode_reduced, image_to_tensor, unreadable_file
from ..models.batching import distinct
from ..models.preprocess import Preprocess
from .baselines import at_size, at_source_size, working_size

__all__ = ["WorkItem", "FailedItem", "DecodedItem", "DecodedBatch", "DecodingDataset", "items_from_records", "collate"]

log = logging.getLogger("i2imetric.evaluation")


@dataclass(frozen=True)
class WorkItem:
    """One output image to score, with what it is scored against.

    Args:
        id: unique within the run (see the module docstring).
        record_index: position of its record in the input (processes shard by it).
        source, output: image file paths (``source`` None for text-to-image rows).
        instruction: the edit instruction, unchecked.
        system: the editing system behind ``output``, when known.
        source_caption, target_caption: captions for InstructPix2Pix-style baselines.
    """

    id: str
    record_index: int
    source: Optional[str]
    instruction: Optional[str]
    output: str
    system: Optional[str] = None
    source_caption: Optional[str] = None
    target_caption: Optional[str] = None


def items_from_records(records: Iterable[Record], warn_duplicates: bool = True) -> Iterator[WorkItem]:
    """The items of ``records`` in order, with unique, run-stable ids.

    Args:
        records: Triplet, Pairwise and Rating records.
        warn_duplicates: once the records are exhausted, log one warning saying how many
            item ids were repeated (and so renamed ``<id>#<k>``); a caller that reads the
            same input several times passes False on all passes but one.

    Returns:
        A generator of :class:`WorkItem`.
    """
    occurrences: dict[str, int] = {}
    renamed: list[tuple[str, str]] = []
    for index, record in enumerate(records):
        for item in _record_items(record, index):
            unique = _unique_id(item.id, occurrences)
            if unique != item.id:
                renamed.append((item.id, unique))
                item = replace(item, id=unique)
            yield item
    if renamed and warn_duplicates:
        first, new = renamed[0]
        log.warning(
            "%d item id(s) repeat an earlier one and were renamed <id>#<k> (e.g. %r -> %r); give each record "
            "its own id to keep the names you chose",
            len(renamed),
            first,
            new,
        )


def _unique_id(item_id: str, occurrences: dict[str, int]) -> str:
    """``item_id``, or ``item_id#<k>`` for its k-th occurrence (skipping names already taken)."""
    count = occurrences.get(item_id, 0)
    occurrences[item_id] = count + 1
    if count == 0:
        return item_id
    k = count + 1
    while f"{item_id}#{k}" in occurrences:  # an explicit id may already be "r#2"
        k += 1
    unique = f"{item_id}#{k}"
    occurrences[unique] = 1
    return unique


def _record_items(record: Record, index: int) -> list[WorkItem]:
    if not isinstance(record, (Triplet, Rating, Pairwise)):
        raise I2IInputError(f"record {index}: expected a Triplet, Pairwise or Rating, got {type(record).__name__}")
    item_id = record_id(record)
    captions = {name: _text_or_none(record.extra.get(name)) for name in ("source_caption", "target_caption")}
    shared = dict(record_index=index, source=record.source, instruction=record.instruction, **captions)
    if isinstance(record, Pairwise):
        return [
            WorkItem(
                id=f"{item_id}/{side}",
                output=output,
                system=_text_or_none(record.extra.get(f"system_{side}")),
                **shared,
            )
            for side, output in (("a", record.output_a), ("b", record.output_b))
        ]
    return [WorkItem(id=item_id, output=record.output, system=record.system, **shared)]


def _text_or_none(value) -> Optional[str]:
    return value if isinstance(value, str) and value.strip() else None


# ------------------------------------------------------------------------ decoding


@dataclass
class Prepared:
    """One image as the encoders take it: OpenCLIP input, and timm input when there is a timm tower."""

    clip: torch.Tensor
    timm: Optional[torch.Tensor]


@dataclass
class DecodedItem:
    """A good item, decoded and preprocessed in a worker."""

    item: WorkItem
    instruction: str
    source_key: str  # content hash of the source file: the embedding cache's key
    source: Optional[Prepared]  # None: this worker sent the source's pixels in an earlier batch
    output: Prepared
    pixel_baselines: dict[str, float]


@dataclass
class FailedItem:
    """An item that cannot be scored, and why (naming the file at fault)."""

    item: WorkItem
    reason: str


class DecodingDataset(torch.utils.data.Dataset):
    """Decodes :class:`WorkItem` keys into :class:`DecodedItem` or :class:`FailedItem`.

    Args:
        clip_preprocess, timm_preprocess: from :meth:`I2IMetric.image_preprocessors`.
        pixel_baselines: ``name -> fn(source, output) -> float``, computed here, where
            the pixels are, so they never cross to the main process; at the source's
            working size (:func:`~i2imetric.evaluation.baselines.working_size`).
        reduced_decode: when no pixel baseline is chosen, let JPEGs decode at a reduced
            scale that still covers every encoder input (see the module docstring);
            False decodes every file whole.
        skip_sent_sources: send a source's pixels only the first time this worker meets
            it (by content), and its key alone after that, for an engine that caches
            source embeddings. A benchmark lists each source once per system, so its
            sources return batch after batch; decoding them again was most of what the
            cache left to do. Ignored with pixel baselines, which need the pixels of every
            item's source. The engine decodes a source itself when its embedding has left
            the cache since (:meth:`ScoringEngine.score`).
    """

    # How many sources a worker remembers having sent: their keys only, ~100 bytes each.
    SENT_SOURCES_KEPT = 65536

    def __init__(
        self,
        clip_preprocess: Preprocess,
        timm_preprocess: Optional[Preprocess],
        pixel_baselines: dict[str, Callable[[torch.Tensor, torch.Tensor], float]],
        reduced_decode: bool = True,
        skip_sent_sources: bool = False,
    ):
        self.clip_preprocess = clip_preprocess
        self.timm_preprocess = timm_preprocess
        self.pixel_baselines = pixel_baselines
        self.reduced_decode = reduced_decode and not pixel_baselines
        self.skip_sent_sources = skip_sent_sources and not pixel_baselines
        self._sent_sources: OrderedDict[str, None] = OrderedDict()  # each worker process has its own copy
        sizes = [p.size for p in (clip_preprocess, timm_preprocess) if p is not None]
        self.encoder_size = (max(size[0] for size in sizes), max(size[1] for size in sizes))

    def __getitem__(self, item: WorkItem) -> DecodedItem | FailedItem:
        return self.__getitems__([item])[0]

    def __getitems__(self, items: list[WorkItem]) -> list[DecodedItem | FailedItem]:
        """Decode a batch; a source shared by several items of the batch is decoded once."""
        sources: dict[str, tuple[str, Optional[torch.Tensor], Prepared]] = {}
        return [self._decode(item, sources) for item in items]

    def _decode(self, item: WorkItem, sources: dict) -> DecodedItem | FailedItem:
        try:
            instruction = check_instruction(item.instruction, name="instruction")
            if item.source is None:
                raise I2IInputError("no source image: the metric scores edits of a source image")
            if item.source not in sources:
                sources[item.source] = self._load_source(item.source)
            source_key, source_pixels, source = sources[item.source]
            output_pixels = self._load(item.output, "output")
        except I2IInputError as problem:
            return FailedItem(item, str(problem))
        comparable = at_source_size(source_pixels, output_pixels) if source_pixels is not None else None
        return DecodedItem(
            item=item,
            instruction=instruction,
            source_key=source_key,
            source=source,
            output=self._prepare(output_pixels),
            pixel_baselines={name: fn(source_pixels, comparable) for name, fn in self.pixel_baselines.items()},
        )

    def _load_source(self, path: str) -> tuple[str, Optional[torch.Tensor], Optional[Prepared]]:
        """The source's cache key, its pixels at the baselines' working size (None without pixel
        baselines), and its encoder inputs (None when this worker has sent them before)."""
        key = _file_digest(path, "source") if self.skip_sent_sources and os.path.isfile(path) else None
        if key in self._sent_sources:
            self._sent_sources.move_to_end(key)
            return key, None, None
        pixels = self._load(path, "source")  # an unreadable file fails here, named
        key = key or _file_digest(path, "source")
        if self.skip_sent_sources:  # only a source that decoded is ever skipped
            self._sent_sources[key] = None
            if len(self._sent_sources) > self.SENT_SOURCES_KEPT:
                self._sent_sources.popitem(last=False)
        working = at_size(pixels, working_size(*pixels.shape[-2:])) if self.pixel_baselines else None
        return key, working, self._prepare(pixels)

    def prepare_source(self, path: str) -> Prepared:
        """A source's encoder inputs, decoded as a worker decodes them (for the engine's own use)."""
        return self._prepare(self._load(path, "source"))

    def _load(self, path: str, role: str) -> torch.Tensor:
        try:
            if self.reduced_decode:
                return decode_reduced(path, lambda height, width: self.encoder_size, name=role)[0]
            return image_to_tensor(path, name=role)
        except I2IInputError as problem:
            raise I2IInputError(f"{role}: {problem}") from None
        except OSError as problem:
            # The decoder names what it reads, but checking the path (stat, a folder the
            # user may not enter) can fail before it: that too is this row's error, not the run's.
            raise _unreadable_file(role, path, problem) from None

    def _prepare(self, pixels: torch.Tensor) -> Prepared:
        timm = self.timm_preprocess(pixels) if self.timm_preprocess is not None else None
        return Prepared(self.clip_preprocess(pixels), timm)


def _file_digest(path: str, role: str) -> str:
    """The content hash of a file; one that cannot be read is its row's error (``I2IInputError``)."""
    digest = hashlib.sha1()
    try:
        with open(path, "rb") as file:
            for chunk in iter(lambda: file.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as problem:
        # Hashed before it is decoded (to skip a source sent before), so the decoder's own
        # errors have not named the file yet; an OSError here would end the whole run.
        raise _unreadable_file(role, path, problem) from None
    return "sha1:" + digest.hexdigest()


def _unreadable_file(role: str, path: str, problem: OSError) -> I2IInputError:
    """The row error for an image file the system refuses to read, naming its role and path."""
    return I2IInputError(f"{role}: {unreadable_file(path, problem)}")


# ----------------------------------------------------------------------- collating


@dataclass
class DecodedBatch:
    """One batch as the engine takes it.

    ``items`` keeps the batch's order; ``failures`` maps positions in it to reasons.
    The tensors cover the good items (``good`` lists their positions): each distinct
    source (by content) has one slot (``source_keys``, ``source_paths``), and
    ``source_slot`` says which slot each good item uses. ``source_clip`` (and
    ``source_timm``) hold the slots whose pixels the worker sent, in slot order;
    ``source_sent`` lists those slots (all of them unless the worker skipped sources it
    had sent before).
    """

    items: list[WorkItem]
    failures: dict[int, str]
    good: list[int] = field(default_factory=list)
    instructions: list[str] = field(default_factory=list)
    source_keys: list[str] = field(default_factory=list)
    source_paths: list[str] = field(default_factory=list)
    source_sent: list[int] = field(default_factory=list)
    source_slot: Optional[torch.Tensor] = None
    source_clip: Optional[torch.Tensor] = None
    source_timm: Optional[torch.Tensor] = None
    output_clip: Optional[torch.Tensor] = None
    output_timm: Optional[torch.Tensor] = None
    pixel_baselines: dict[str, list[float]] = field(default_factory=dict)

    def add_source_pixels(self, prepared: dict[int, Prepared]) -> None:
        """Add the encoder inputs of source slots that came without them (slot -> inputs)."""
        if not prepared:
            return
        clip, timm = _stack(list(prepared.values()))
        self.source_clip = clip if self.source_clip is None else torch.cat([self.source_clip, clip])
        if timm is not None:
            self.source_timm = timm if self.source_timm is None else torch.cat([self.source_timm, timm])
        self.source_sent = self.source_sent + list(prepared)

    def fail_sources(self, reasons: dict[int, str]) -> None:
        """Turn every good item whose source slot is in ``reasons`` into a failure with that reason."""
        if not reasons:
            return
        slots = self.source_slot.tolist()
        keep = [j for j, slot in enumerate(slots) if slot not in reasons]
        for j, slot in enumerate(slots):
            if slot in reasons:
                self.failures[self.good[j]] = reasons[slot]
        index = torch.tensor(keep, dtype=torch.long)
        self.good = [self.good[j] for j in keep]
        self.instructions = [self.instructions[j] for j in keep]
        self.source_slot = self.source_slot[index]
        self.output_clip = self.output_clip[index]
        if self.output_timm is not None:
            self.output_timm = self.output_timm[index]
        self.pixel_baselines = {name: [values[j] for j in keep] for name, values in self.pixel_baselines.items()}

    def pin_memory(self) -> "DecodedBatch":
        """Page-locked tensors, so the copy to the GPU overlaps compute (DataLoader calls this)."""
        for name in ("source_clip", "source_timm", "output_clip", "output_timm"):
            tensor = getattr(self, name)
            if tensor is not None:
                setattr(self, name, tensor.pin_memory())
        return self


def collate(decoded: list[DecodedItem | FailedItem]) -> DecodedBatch:
    """Stack the good items' tensors; keep the failed ones as markers, never raise."""
    batch = DecodedBatch(
        items=[d.item for d in decoded],
        failures={i: d.reason for i, d in enumerate(decoded) if isinstance(d, FailedItem)},
    )
    good = [(i, d) for i, d in enumerate(decoded) if isinstance(d, DecodedItem)]
    if not good:
        return batch
    sources = distinct([d.source_key for _, d in good])
    batch.good = [i for i, _ in good]
    batch.instructions = [d.instruction for _, d in good]
    batch.source_keys = sources.keys
    batch.source_paths = [good[p][1].item.source for p in sources.first]
    batch.source_slot = torch.tensor(sources.slots)
    # A source repeated within the batch has its pixels on its first item (one decode per batch).
    batch.source_sent = [slot for slot, p in enumerate(sources.first) if good[p][1].source is not None]
    if batch.source_sent:
        batch.source_clip, batch.source_timm = _stack([good[sources.first[slot]][1].source for slot in batch.source_sent])
    batch.output_clip, batch.output_timm = _stack([d.output for _, d in good])
    batch.pixel_baselines = {name: [d.pixel_baselines[name] for _, d in good] for name in good[0][1].pixel_baselines}
    return batch


def _stack(prepared: list[Prepared]) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    clip = torch.stack([p.clip for p in prepared])
    timm = torch.stack([p.timm for p in prepared]) if prepared[0].timm is not None else None
    return clip, timm
