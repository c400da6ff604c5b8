"""ShapesWorld scenes: coloured shapes on a 3x3 grid over a background, as descriptions.

A :class:`Scene` is symbolic; :func:`sample_scene` draws one, :func:`caption` describes it.
The vocabulary (:data:`SHAPES`, :data:`COLORS`, :data:`SIZES`, :data:`CELLS`,
:data:`BACKGROUNDS`) and the splits (:data:`HELDOUT_COMBOS`, :data:`SPLITS`,
:data:`HELDOUT_SEED_START`) are defined here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import product

from ....errors import I2IInputError

__all__ = [
    "BACKGROUNDS",
    "CELLS",
    "COLORS",
    "HELDOUT_COMBOS",
    "HELDOUT_SEED_START",
    "SHAPES",
    "SIZES",
    "SPLITS",
    "Scene",
    "ShapeObject",
    "caption",
    "sample_scene",
]

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross")
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "orange": (245, 140, 20),
    "yellow": (235, 205, 25),
    "green": (40, 165, 60),
    "cyan": (30, 195, 205),
    "blue": (40, 80, 220),
    "purple": (140, 60, 190),
    "pink": (240, 120, 180),
}
SIZES: tuple[str, ...] = ("small", "large")
# Reading order; an object's cell is also its identity, since a cell holds one object.
CELLS: tuple[str, ...] = (
    "top left", "top", "top right",
    "left", "middle", "right",
    "bottom left", "bottom", "bottom right",
)  # fmt: skip
BACKGROUNDS: tuple[str, ...] = ("plain", "checkered", "striped")

# Seeds at or above this are held out: training samples seeds below it, validation, the
# scorer's card and the demo use seeds from here on.
HELDOUT_SEED_START = 10**9

# One pair per colour, spread over the shapes, so every colour and every shape still
# appears in training, only never in these combinations.
HELDOUT_COMBOS: frozenset[tuple[str, str]] = frozenset({
    ("red", "star"),
    ("orange", "circle"),
    ("yellow", "square"),
    ("green", "triangle"),
    ("cyan", "cross"),
    ("blue", "circle"),
    ("purple", "square"),
    ("pink", "triangle"),
})  # fmt: skip
_ALL_COMBOS = frozenset(product(COLORS, SHAPES))
SPLITS: tuple[str, ...] = ("train", "heldout_combos")

# How captions and instructions place an object in its cell.
CELL_PHRASES = {
    "top left": "at the top left", "top": "at the top", "top right": "at the top right",
    "left": "on the left", "middle": "in the middle", "right": "on the right",
    "bottom left": "at the bottom left", "bottom": "at the bottom", "bottom right": "at the bottom right",
}  # fmt: skip


def _check_choice(value: str, valid, what: str) -> None:
    if value not in valid:
        raise I2IInputError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")


@dataclass(frozen=True)
class ShapeObject:
    """One coloured shape filling part of one grid cell."""

    shape: str
    color: str
    size: str
    cell: str

    def __post_init__(self) -> None:
        _check_choice(self.shape, SHAPES, "shape")
        _check_choice(self.color, COLORS, "color")
        _check_choice(self.size, SIZES, "size")
        _check_choice(self.cell, CELLS, "cell")

    @property
    def combo(self) -> tuple[str, str]:
        return (self.color, self.shape)

    @property
    def name(self) -> str:
        """How instructions refer to it: ``"the red circle"``."""
        return f"the {self.color} {self.shape}"


@dataclass(frozen=True)
class Scene:
    """Objects (at most one per cell) on a background, kept in reading order so that
    scenes with the same content compare equal."""

    objects: tuple[ShapeObject, ...]
    background: str = "plain"

    def __post_init__(self) -> None:
        _check_choice(self.background, BACKGROUNDS, "background")
        cells = [obj.cell for obj in self.objects]
        if len(set(cells)) != len(cells):
            raise I2IInputError(f"two objects share a cell in {cells}; objects must not overlap")
        ordered = tuple(sorted(self.objects, key=lambda obj: CELLS.index(obj.cell)))
        object.__setattr__(self, "objects", ordered)  # frozen: normalise once, here

    @property
    def combos(self) -> frozenset[tuple[str, str]]:
        return frozenset(obj.combo for obj in self.objects)

    def free_cells(self) -> tuple[str, ...]:
        taken = {obj.cell for obj in self.objects}
        return tuple(cell for cell in CELLS if cell not in taken)

    def referable_objects(self) -> tuple[ShapeObject, ...]:
        """Objects that "the <color> <shape>" names unambiguously."""
        return tuple(obj for obj in self.objects if sum(o.combo == obj.combo for o in self.objects) == 1)


def allowed_combos(split: str) -> frozenset[tuple[str, str]]:
    """Validate ``split`` and return the combos its edits and distractors may create."""
    _check_choice(split, SPLITS, "split")
    return _ALL_COMBOS - HELDOUT_COMBOS if split == "train" else _ALL_COMBOS


def as_rng(rng: random.Random | int) -> random.Random:
    return rng if isinstance(rng, random.Random) else random.Random(rng)


def sample_scene(
    rng: random.Random | int, *, split: str = "train", min_objects: int = 1, max_objects: int = 4
) -> Scene:
    """Draw a random scene.

    Args:
        rng: a ``random.Random`` (advanced in place) or an int seed.
        split: ``"train"`` never uses a :data:`HELDOUT_COMBOS` pair; ``"heldout_combos"``
            always includes at least one.
        min_objects, max_objects: bounds on the number of objects (1 to 9).

    Returns:
        A :class:`Scene` with a random background.
    """
    rng = as_rng(rng)
    allowed = sorted(allowed_combos(split))
    if not 1 <= min_objects <= max_objects <= len(CELLS):
        raise I2IInputError(f"need 1 <= min_objects <= max_objects <= 9, got {min_objects}, {max_objects}")
    cells = rng.sample(CELLS, rng.randint(min_objects, max_objects))
    combos = [rng.choice(allowed) for _ in cells]
    if split == "heldout_combos":
        combos[0] = rng.choice(sorted(HELDOUT_COMBOS))
    objects = tuple(
        ShapeObject(shape, color, rng.choice(SIZES), cell) for (color, shape), cell in zip(combos, cells)
    )
    return Scene(objects, rng.choice(BACKGROUNDS))


def caption(scene: Scene) -> str:
    """Describe every object and the background, e.g. ``"a large red circle at the top
    left and a small blue square in the middle on a plain background"``."""
    phrases = [f"a {obj.size} {obj.color} {obj.shape} {CELL_PHRASES[obj.cell]}" for obj in scene.objects]
    if not phrases:
        return f"an empty {scene.background} background"
    listed = phrases[0] if len(phrases) == 1 else f"{', '.join(phrases[:-1])} and {phrases[-1]}"
    return f"{listed} on a {scene.background} background"
