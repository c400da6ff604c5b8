"""The three record types that every reader returns and every writer takes.

A record checks its fields when it is made, so a record that exists is usable:
its images are paths, its label or value is a finite number in range, and its
``extra`` is a dict. Readers turn a failed check into an error naming the row.

:func:`record_id` is the one rule for naming a record that has no id: every module
that joins results to records (evaluation, meta-evaluation, reports) calls it.
"""

import hashlib
import json
import math
import numbers
import os
from dataclasses import dataclass, field, fields
from typing import ClassVar

from ..errors import I2IInputError

_STRING_LABELS = ("a", "b", "tie", "both_bad")


@dataclass
class Triplet:
    """A source image, an instruction, and the output an editing system made from them.

    Args:
        source: path of the source image; None for text-to-image data.
        instruction: the edit instruction (or the prompt); None where the data has none.
        output: path of the output image.
        id: the row's identifier in its data set (an int is turned into a str).
        system: the editing system that made ``output``.
        extra: every other field of the row, kept so that writing it back loses nothing.

    Example:
        >>> Triplet("cat.png", "make it a dog", "dog.png", system="MagicBrush").output
        'dog.png'
    """

    manifest_type: ClassVar[str] = "triplet"
    image_fields: ClassVar[tuple[str, ...]] = ("source", "output")

    source: str | None
    instruction: str | None
    output: str
    id: str | None = None
    system: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        _check_shared_fields(self)
        self.output = _path(self.output, "output")
        self.system = _optional_text(self.system, "system")


@dataclass
class Pairwise:
    """A human judgement between two outputs made from the same source and instruction.

    Args:
        source: path of the source (or reference) image; None for text-to-image data.
        instruction: the edit instruction; None where the data has none (BAPPS, NIGHTS).
        output_a: path of the first output.
        output_b: path of the second output.
        label: ``"a"`` or ``"b"`` (that output is better), ``"tie"``, ``"both_bad"``,
            or a float: the share of judges who preferred ``output_a``, in [0, 1].
        id: the row's identifier in its data set.
        extra: every other field of the row (systems, captions, per-dimension scores).

    Example:
        >>> Pairwise("ref.png", None, "p0.png", "p1.png", label=0.25).label
        0.25
    """

    manifest_type: ClassVar[str] = "pairwise"
    image_fields: ClassVar[tuple[str, ...]] = ("source", "output_a", "output_b")

    source: str | None
    instruction: str | None
    output_a: str
    output_b: str
    label: str | float
    id: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        _check_shared_fields(self)
        self.output_a = _path(self.output_a, "output_a")
        self.output_b = _path(self.output_b, "output_b")
        self.label = _label(self.label)


@dataclass
class Rating:
    """One human score of one output.

    Args:
        source: path of the source image; None for text-to-image data.
        instruction: the edit instruction; None where the data has none.
        output: path of the rated output.
        value: the score (higher is better).
        aspect: what ``value`` measures when it is one aspect (e.g. ``"SC"``); None for overall.
        aspects: the per-aspect scores behind an overall ``value``, e.g. ``{"SC": 1.0, "PQ": 0.5}``.
        rater: who gave the score; None for a mean over raters.
        system: the editing system that made ``output``.
        group: items sharing a group share their source and instruction (rank within it).
        id: the row's identifier in its data set.
        extra: every other field of the row.

    Example:
        >>> Rating(None, "a red cube", "cube.png", value=0.5, aspects={"SC": 0.5, "PQ": 0.5}).value
        0.5
    """

    manifest_type: ClassVar[str] = "rating"
    image_fields: ClassVar[tuple[str, ...]] = ("source", "output")

    source: str | None
    instruction: str | None
    output: str
    value: float
    aspect: str | None = None
    aspects: dict | None = None
    rater: str | None = None
    system: str | None = None
    group: str | None = None
    id: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        _check_shared_fields(self)
        self.output = _path(self.output, "output")
        self.value = _finite_number(self.value, "value")
        self.aspect = _optional_text(self.aspect, "aspect")
        self.aspects = _optional_aspects(self.aspects)
        self.rater = _optional_text(self.rater, "rater")
        self.system = _optional_text(self.system, "system")
        self.group = _optional_text(self.group, "group")


Record = Triplet | Pairwise | Rating
RECORD_TYPES = {cls.manifest_type: cls for cls in (Triplet, Pairwise, Rating)}


def record_id(record: Record) -> str:
    """The record's id, or for a record without one an id made from its content.

    The content id is ``#`` and 16 hex digits of the sha256 of the record's fields (image
    paths made absolute): it names the same record the same way on every run, whatever
    other lines of its manifest parsed, were fixed, added or removed, which is what
    resuming a result file and joining labels to results rely on. Two records with equal
    content get equal ids; the evaluation engine tells them apart (``#...#2``).

    Args:
        record: a Triplet, Pairwise or Rating.

    Returns:
        ``record.id`` when it has one, else ``"#<16 hex digits>"``.

    Example:
        >>> record_id(Triplet("a.png", "make it red", "b.png", id="7"))
        '7'
        >>> record_id(Triplet("a.png", "make it red", "b.png")).startswith("#")
        True
    """
    if record.id is not None:
        return record.id
    content = {"type": record.manifest_type}
    for f in fields(record):
        if f.name != "id":
            value = getattr(record, f.name)
            # Absolute, so a relative in-memory path and a manifest's resolved one agree.
            content[f.name] = os.path.abspath(value) if f.name in record.image_fields and value else value
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return "#" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _check_shared_fields(record: Record) -> None:
    record.source = None if record.source is None else _path(record.source, "source")
    record.instruction = _optional_text(record.instruction, "instruction")
    record.id = _identifier(record.id)
    if not isinstance(record.extra, dict):
        raise I2IInputError(f"extra must be a dict, got {type(record.extra).__name__}")


def _path(value, name: str) -> str:
    if not isinstance(value, (str, os.PathLike)):
        raise I2IInputError(
            f"{name} must be an image file path (str or os.PathLike), got {type(value).__name__}; "
            "save the image to a file and pass its path"
        )
    path = os.fspath(value)
    if not path:
        raise I2IInputError(f"{name} is an empty path; give the image file's path")
    return path


def _optional_text(value, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise I2IInputError(f"{name} must be a string or null, got {type(value).__name__}")


def _identifier(value) -> str | None:
    # Data sets number their rows; ids compare as strings everywhere else.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _optional_text(value, "id")


def _finite_number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise I2IInputError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise I2IInputError(
            f"{name} must be finite, got {number}; drop the row or give a real score"
        )
    return number


def _label(value) -> str | float:
    if isinstance(value, str):
        if value in _STRING_LABELS:
            return value
        raise I2IInputError(
            f"label {value!r} is not one of {', '.join(_STRING_LABELS)}; "
            "use one of them or a float p(a) in [0, 1]"
        )
    share = _finite_number(value, "label")
    if not 0.0 <= share <= 1.0:
        raise I2IInputError(
            f"label {share} is outside [0, 1]; a float label is the share of judges preferring a"
        )
    return share


def _optional_aspects(value) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise I2IInputError(f"aspects must be a dict of name -> score, got {type(value).__name__}")
    for name in value:
        if not isinstance(name, str):
            raise I2IInputError(f"aspect names must be strings, got {name!r}")
    return {name: _finite_number(score, f"aspects[{name!r}]") for name, score in value.items()}
