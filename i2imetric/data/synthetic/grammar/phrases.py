"""Edit requests in words: many templates and synonyms per spec, with held-out phrasings.

:func:`phrase` writes one request for a spec in one of four forms (imperative,
descriptive, terse, polite). ``split="train"`` draws only from training entries of
:mod:`.phrasebook`, ``split="heldout"`` only from held-out ones (wrapper, operation
wording, region wording and magnitude word all held out where the spec uses them), and
``split="canonical"`` returns a canonical edit's own instruction word for word.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from ....errors import I2IInputError
from ..canonical import CANONICAL_EDITS
from .canonical_specs import CANONICAL_SPECS
from .phrasebook import DEGREE_WORDS, FORMS, NUMBER_FORMATS, OPS, REGION_WORDS
from .spec import EditSpec

__all__ = ["PHRASE_SPLITS", "Phrase", "phrase", "phrase_parts"]

PHRASE_SPLITS: tuple[str, ...] = ("train", "heldout", "canonical")
_CANONICAL_TEXT: dict[EditSpec, str] = {spec: CANONICAL_EDITS[name] for name, spec in CANONICAL_SPECS.items()}
_SPACED_SLOTS = ("loc", "t", "da")
_SLOT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Phrase:
    """A request and what it was built from (entries as written in the phrasebook, markers included)."""

    text: str
    form: str
    wrapper: str
    entry: str
    words: tuple[str, ...]  # the region and magnitude words used

    @property
    def held_out(self) -> tuple[str, ...]:
        """The held-out entries used (all of them for ``split="heldout"``, none for "train")."""
        return tuple(part for part in (self.wrapper, self.entry, *self.words) if part.startswith("!"))


def phrase(spec: EditSpec, rng: random.Random | int, split: str = "train") -> str:
    """One request for ``spec``; deterministic for a seeded ``rng`` (a ``random.Random`` or an int seed)."""
    return phrase_parts(spec, rng, split).text


def phrase_parts(spec: EditSpec, rng: random.Random | int, split: str = "train") -> Phrase:
    """Like :func:`phrase`, also naming the wrapper, entry and words it used."""
    if split not in PHRASE_SPLITS:
        raise I2IInputError(f"unknown phrase split {split!r}; valid splits: {', '.join(PHRASE_SPLITS)}")
    if not isinstance(rng, random.Random):
        rng = random.Random(rng)
    if split == "canonical":
        return _canonical(spec)
    heldout = split == "heldout"
    ops = OPS[spec.op]
    forms = [form for form, (kind, _) in FORMS.items() if _entries(ops[kind], heldout, spec)]
    form = rng.choice(forms)
    kind, wrappers = FORMS[form]
    wrapper = rng.choice(_pool(wrappers, heldout))
    entry = rng.choice(_entries(ops[kind], heldout, spec))
    values, words = _slot_values(spec, _strip(entry), rng, heldout)
    text = _strip(wrapper).replace("{" + kind + "}", _fill(_strip(entry), values))
    text = re.sub(r"\s+", " ", text).strip()
    if rng.random() < 0.25:
        text = text[0].upper() + text[1:]
    return Phrase(text, form, wrapper, entry, words)


def _canonical(spec: EditSpec) -> Phrase:
    """A canonical edit's own string; any other spec gets its first training wording, plainly."""
    if spec in _CANONICAL_TEXT:
        return Phrase(_CANONICAL_TEXT[spec], "canonical", "{do}", "", ())
    entry = _entries(OPS[spec.op]["do"], False, spec)[0]
    values = {slot: _strip(_first(spec, slot)) for slot in ("obj", "loc", "t")}
    values.update(dc="", da=_number(spec) if spec.amount is not None else "", sz="", color=spec.color or "")
    if spec.amount is None and spec.degree != "default":
        values.update({slot: words[spec.degree][0] for slot, words in DEGREE_WORDS.items()})
    return Phrase(re.sub(r"\s+", " ", _fill(entry, values)).strip(), "canonical", "{do}", entry, ())


def _first(spec: EditSpec, slot: str) -> str:
    return _region_words(spec, slot)[0]


def _pool(entries: tuple[str, ...], heldout: bool) -> list[str]:
    return [entry for entry in entries if entry.startswith("!") == heldout]


def _entries(entries: tuple[str, ...], heldout: bool, spec: EditSpec) -> list[str]:
    pool = _pool(entries, heldout)
    if spec.amount is not None:  # a number needs a place: the adverb slot
        pool = [entry for entry in pool if "{da}" in entry]
    return pool


def _strip(entry: str) -> str:
    return entry[1:] if entry.startswith("!") else entry


def _strip_word(word: str, slot: str) -> str:
    if not word.startswith("!"):
        return word
    word = word[1:]
    return " " + word if slot in _SPACED_SLOTS and word and not word.startswith(" ") else word


def _region_words(spec: EditSpec, slot: str) -> tuple[str, ...]:
    region = spec.region
    if region.is_mask:  # a ShapesWorld object: its label, in every split
        label = region.label or ""
        return {"obj": (label,), "loc": (" on " + label,), "t": (" " + label.removeprefix("the "),)}[slot]
    return REGION_WORDS[region.name][slot]


def _number(spec: EditSpec) -> str:
    amount = spec.amount
    text = f"{amount:g}"
    return NUMBER_FORMATS[spec.operation.unit].format(n=text)


def _slot_values(spec: EditSpec, entry: str, rng: random.Random, heldout: bool) -> tuple[dict[str, str], tuple[str, ...]]:
    values = {"dc": "", "da": "", "sz": "", "color": spec.color or ""}
    words = []
    used = set(_SLOT.findall(entry))
    for slot in ("obj", "loc", "t"):
        if slot in used:
            options = _region_words(spec, slot)
            pool = _pool(options, heldout) or list(options)  # a mask region has one wording
            word = rng.choice(pool)
            words.append(word)
            values[slot] = _strip_word(word, slot)
    if spec.amount is not None:
        values["da"] = _number(spec)
    elif spec.degree != "default":
        for slot in used & set(DEGREE_WORDS):
            word = rng.choice(_pool(DEGREE_WORDS[slot][spec.degree], heldout))
            words.append(word)
            values[slot] = _strip_word(word, slot)
    return values, tuple(words)


def _fill(entry: str, values: dict[str, str]) -> str:
    return _SLOT.sub(lambda match: values.get(match.group(1), ""), entry)
