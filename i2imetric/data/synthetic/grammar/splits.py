"""Held-out splits, fixed by construction: phrasings, operation x region pairs, whole operations.

* ``train``: training operations on their training regions, training phrasings;
* ``heldout_phrasing``: the same specs, phrased only with held-out templates and words;
* ``heldout_combo``: training operations on regions they are never trained on;
* ``heldout_operation``: operations never trained at all (:data:`HELDOUT_OPERATIONS`).

The held-out combinations are two non-whole regions per training operation, picked by a
SHA-256 of ``"op/region"`` (no canonical edit among them), so they never depend on a seed,
a Python version or the order of the tables. Evaluation can report each split apart;
:func:`split_of` names the spec split any spec belongs to.
"""

from __future__ import annotations

import hashlib
import random

from ....errors import I2IInputError
from .canonical_specs import CANONICAL_SPECS
from .operations import COLORS, OPERATIONS
from .phrasebook import DEGREE_WORDS, FORMS, OPS, REGION_WORDS
from .phrases import phrase
from .regions import NAMED_REGIONS
from .spec import EditSpec

__all__ = [
    "HELDOUT_COMBOS",
    "HELDOUT_OPERATIONS",
    "SPLITS",
    "TRAIN_OPERATIONS",
    "heldout_sets",
    "in_split",
    "sample_example",
    "sample_spec",
    "split_of",
]

SPLITS: dict[str, str] = {  # spec split -> the phrase split its instructions use
    "train": "train",
    "heldout_phrasing": "heldout",
    "heldout_combo": "train",
    "heldout_operation": "train",
}

# Each has a trained sibling (warmer, rotate90, draw_square, pixelate), so the split asks
# whether the metric reads the instruction rather than recalls it.
HELDOUT_OPERATIONS: tuple[str, ...] = ("cooler", "rotate270", "draw_circle", "posterize")
TRAIN_OPERATIONS: tuple[str, ...] = tuple(op for op in OPERATIONS if op not in HELDOUT_OPERATIONS)
_COMBOS_PER_OPERATION = 2
_CANONICAL_COMBOS = {(spec.op, spec.region.name) for spec in CANONICAL_SPECS.values()}


def _heldout_combos() -> frozenset[tuple[str, str]]:
    combos = set()
    for op in TRAIN_OPERATIONS:
        candidates = [region for region in NAMED_REGIONS if region != "whole" and (op, region) not in _CANONICAL_COMBOS]
        candidates.sort(key=lambda region: hashlib.sha256(f"{op}/{region}".encode()).hexdigest())
        combos.update((op, region) for region in candidates[:_COMBOS_PER_OPERATION])
    return frozenset(combos)


HELDOUT_COMBOS: frozenset[tuple[str, str]] = _heldout_combos()
_TRAIN_PAIRS = tuple((op, region) for op in TRAIN_OPERATIONS for region in NAMED_REGIONS if (op, region) not in HELDOUT_COMBOS)
_COMBO_PAIRS = tuple(sorted(HELDOUT_COMBOS))
_OPERATION_PAIRS = tuple((op, region) for op in HELDOUT_OPERATIONS for region in NAMED_REGIONS)
_PAIRS = {"train": _TRAIN_PAIRS, "heldout_phrasing": _TRAIN_PAIRS, "heldout_combo": _COMBO_PAIRS, "heldout_operation": _OPERATION_PAIRS}
_NUMBER_SHARE = 0.2


def sample_spec(rng: random.Random, split: str = "train") -> EditSpec:
    """A random spec of ``split`` (a key of :data:`SPLITS`): operation and region from the
    split's pairs, then a magnitude (an explicit number a fifth of the time where the
    operation takes one) and, for drawing, a colour."""
    if split not in _PAIRS:
        raise I2IInputError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    op, region = rng.choice(_PAIRS[split])
    row = OPERATIONS[op]
    color = rng.choice(sorted(COLORS)) if row.shape is not None and row.fill == "color" else None
    if row.numbers and rng.random() < _NUMBER_SHARE:
        return EditSpec(op, region, amount=rng.choice(row.numbers), color=color)
    return EditSpec(op, region, rng.choice(row.degrees), color=color)


def in_split(spec: EditSpec, split: str) -> bool:
    """Whether ``spec``'s operation x region pair is one that ``split`` draws from.

    Words built for a training group (a contrast instruction, say) must stay inside the
    training pairs, or a held-out combination would reach training through the text.
    """
    if split not in _PAIRS:
        raise I2IInputError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    return (spec.op, spec.region.name) in _PAIRS[split]


def sample_example(rng: random.Random, split: str = "train") -> tuple[EditSpec, str]:
    """A spec of ``split`` and an instruction for it, phrased as that split requires."""
    spec = sample_spec(rng, split)
    return spec, phrase(spec, rng, SPLITS[split])


def split_of(spec: EditSpec) -> str:
    """The spec split ``spec`` belongs to: train, heldout_combo or heldout_operation.
    (Explicit-mask regions count as training regions.)"""
    if spec.op in HELDOUT_OPERATIONS:
        return "heldout_operation"
    if (spec.op, spec.region.name) in HELDOUT_COMBOS:
        return "heldout_combo"
    return "train"


def heldout_sets() -> dict[str, tuple]:
    """Everything held out, by kind, for reports and for checks that training never sees it."""
    markers = [wrapper for _, wrappers in FORMS.values() for wrapper in wrappers]
    entries = [entry for op in OPS.values() for kind in op.values() for entry in kind]
    region_words = [word for slots in REGION_WORDS.values() for words in slots.values() for word in words]
    degree_words = [word for slots in DEGREE_WORDS.values() for words in slots.values() for word in words]
    held = lambda items: tuple(item[1:] for item in items if item.startswith("!"))  # noqa: E731
    return {
        "operations": HELDOUT_OPERATIONS,
        "combos": tuple(sorted(HELDOUT_COMBOS)),
        "wrappers": held(markers),
        "operation_wordings": held(entries),
        "region_words": held(region_words),
        "degree_words": held(degree_words),
    }
