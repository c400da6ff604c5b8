"""ShapesWorld: a procedural world in which every instruction has one exact answer.

A :class:`Scene` is a symbolic description (coloured shapes on a 3x3 grid over a
background) and :func:`render` is a pure function of it. Object-level edits
(:class:`ObjectEdit`) change the description, so the right answer to "make the red
circle green" is the render of the edited description, pixel for pixel. Distractors are
wrong descriptions, or degraded or half-finished renders, of the same edit.

Compositional generalisation is measured with :data:`HELDOUT_COMBOS`, colour x shape
pairs that the ``"train"`` split never shows (not in sources, targets or distractors)
and that every ``"heldout_combos"`` source contains. Held-out *seeds* are left to
callers: draw test examples from a seed range that training does not use.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace
from itertools import product

import numpy as np
from PIL import Image, ImageDraw

from ...errors import I2IInputError
from .edits import apply_distortion

__all__ = [
    "BACKGROUNDS",
    "CELLS",
    "COLORS",
    "EDIT_KINDS",
    "HELDOUT_COMBOS",
    "HELDOUT_SEED_START",
    "SHAPES",
    "SHAPES_DISTRACTORS",
    "SIZES",
    "SPLITS",
    "EditExample",
    "ObjectEdit",
    "Scene",
    "ShapeObject",
    "caption",
    "make_edit_example",
    "render",
    "sample_edit",
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

EDIT_KINDS: tuple[str, ...] = ("recolor", "remove", "add", "move", "resize", "replace_shape")
SHAPES_DISTRACTORS: tuple[str, ...] = (
    "wrong_object",
    "wrong_value",
    "no_edit",
    "extra_change",
    "degraded",
    "partial",
)

_CELL_PHRASES = {
    "top left": "at the top left", "top": "at the top", "top right": "at the top right",
    "left": "on the left", "middle": "in the middle", "right": "on the right",
    "bottom left": "at the bottom left", "bottom": "at the bottom", "bottom right": "at the bottom right",
}  # fmt: skip
_SIZE_SHARE = {"small": 0.5, "large": 0.85}  # object side as a share of its cell's side
_SUPERSAMPLE = 4  # draw this many times larger, then downsample: anti-aliased edges
_MIN_RENDER_SIZE = 32

# ------------------------------------------------------------------------- scenes


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


def _allowed_combos(split: str) -> frozenset[tuple[str, str]]:
    """Validate ``split`` and return the combos its edits and distractors may create."""
    _check_choice(split, SPLITS, "split")
    return _ALL_COMBOS - HELDOUT_COMBOS if split == "train" else _ALL_COMBOS


def _as_rng(rng: random.Random | int) -> random.Random:
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
    rng = _as_rng(rng)
    allowed = sorted(_allowed_combos(split))
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
    phrases = [f"a {obj.size} {obj.color} {obj.shape} {_CELL_PHRASES[obj.cell]}" for obj in scene.objects]
    if not phrases:
        return f"an empty {scene.background} background"
    listed = phrases[0] if len(phrases) == 1 else f"{', '.join(phrases[:-1])} and {phrases[-1]}"
    return f"{listed} on a {scene.background} background"


# ------------------------------------------------------------------------ rendering


def _cell_box(cell: str, side: int) -> tuple[int, int, int, int]:
    row, col = divmod(CELLS.index(cell), 3)
    return (col * side // 3, row * side // 3, (col + 1) * side // 3, (row + 1) * side // 3)


def _background(style: str, side: int) -> Image.Image:
    light, dark = 236, 212  # low contrast keeps textured backgrounds behind the objects
    rows, cols = np.mgrid[0:side, 0:side]
    period = max(1, side // 8)
    pattern = {
        "plain": np.zeros((side, side), dtype=bool),
        "checkered": (rows // period + cols // period) % 2 == 1,
        "striped": (rows + cols) // period % 2 == 1,
    }[style]
    gray = np.where(pattern, dark, light).astype(np.uint8)
    return Image.fromarray(np.stack([gray] * 3, axis=-1))


def _star_points(cx: float, cy: float, radius: float) -> list[tuple[float, float]]:
    """Five outer and five inner vertices, first point up."""
    points = []
    for k in range(10):
        r = radius if k % 2 == 0 else 0.42 * radius
        angle = -np.pi / 2 + k * np.pi / 5
        points.append((cx + r * np.cos(angle), cy + r * np.sin(angle)))
    return points


def _draw_object(draw: ImageDraw.ImageDraw, obj: ShapeObject, side: int) -> None:
    left, top, right, bottom = _cell_box(obj.cell, side)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    half = _SIZE_SHARE[obj.size] * (right - left) / 2
    x0, y0, x1, y1 = cx - half, cy - half, cx + half, cy + half
    fill = COLORS[obj.color]
    if obj.shape == "circle":
        draw.ellipse((x0, y0, x1, y1), fill=fill)
    elif obj.shape == "square":
        draw.rectangle((x0, y0, x1, y1), fill=fill)
    elif obj.shape == "triangle":
        draw.polygon([(cx, y0), (x1, y1), (x0, y1)], fill=fill)
    elif obj.shape == "star":
        draw.polygon(_star_points(cx, cy, half), fill=fill)
    else:  # cross: two bars a third of the object wide
        bar = half / 3
        draw.rectangle((x0, cy - bar, x1, cy + bar), fill=fill)
        draw.rectangle((cx - bar, y0, cx + bar, y1), fill=fill)


def render(scene: Scene, size: int = 64) -> Image.Image:
    """Draw ``scene`` as a ``size`` x ``size`` RGB image (anti-aliased, deterministic).

    Args:
        scene: what to draw.
        size: side in pixels, at least 32; 64 to 224 is the intended range.

    Returns:
        A new RGB image.
    """
    if size < _MIN_RENDER_SIZE:
        raise I2IInputError(f"render size must be at least {_MIN_RENDER_SIZE} px, got {size}")
    side = size * _SUPERSAMPLE
    canvas = _background(scene.background, side)
    draw = ImageDraw.Draw(canvas)
    for obj in scene.objects:
        _draw_object(draw, obj, side)
    return canvas.resize((size, size), Image.Resampling.LANCZOS)


# ---------------------------------------------------------------------------- edits

_KIND_OF_CHANGED_FIELD = {"color": "recolor", "cell": "move", "size": "resize", "shape": "replace_shape"}


@dataclass(frozen=True)
class ObjectEdit:
    """One object-level change: ``before`` becomes ``after``.

    ``before`` is None for an addition, ``after`` is None for a removal; otherwise the
    two differ in exactly one attribute, which names the kind of edit.
    """

    before: ShapeObject | None
    after: ShapeObject | None

    @property
    def changes(self) -> dict[str, str]:
        """The attributes a modification changes, with their new values."""
        return {
            field.name: getattr(self.after, field.name)
            for field in fields(ShapeObject)
            if getattr(self.before, field.name) != getattr(self.after, field.name)
        }

    @property
    def kind(self) -> str:
        if self.before is None:
            return "add"
        if self.after is None:
            return "remove"
        (changed,) = self.changes
        return _KIND_OF_CHANGED_FIELD[changed]

    @property
    def cells(self) -> frozenset[str]:
        """Cells whose pixels the edit may change."""
        return frozenset(obj.cell for obj in (self.before, self.after) if obj is not None)

    def apply(self, scene: Scene) -> Scene:
        kept = tuple(obj for obj in scene.objects if obj != self.before)
        added = () if self.after is None else (self.after,)
        return Scene(kept + added, scene.background)

    def instruction(self) -> str:
        before, after = self.before, self.after
        kind = self.kind
        if kind == "add":
            return f"add a {after.size} {after.color} {after.shape} {_CELL_PHRASES[after.cell]}"
        if kind == "remove":
            return f"remove {before.name}"
        if kind == "recolor":
            return f"make {before.name} {after.color}"
        if kind == "move":
            return f"move {before.name} to the {after.cell}"
        if kind == "resize":
            return f"make {before.name} {'bigger' if after.size == 'large' else 'smaller'}"
        return f"turn {before.name} into a {after.shape}"


def _candidate_edits(scene: Scene, allowed: frozenset[tuple[str, str]]) -> list[ObjectEdit]:
    """Every edit an instruction can name unambiguously whose result uses allowed combos."""
    free = scene.free_cells()
    edits = [
        ObjectEdit(None, ShapeObject(shape, color, size, cell))
        for cell in free
        for color, shape in sorted(allowed)
        for size in SIZES
    ]
    for obj in scene.referable_objects():
        variants = (
            [replace(obj, color=color) for color in COLORS]
            + [replace(obj, shape=shape) for shape in SHAPES]
            + [replace(obj, size=size) for size in SIZES]
            + [replace(obj, cell=cell) for cell in free]
        )
        edits += [ObjectEdit(obj, new) for new in variants if new != obj and new.combo in allowed]
        edits.append(ObjectEdit(obj, None))
    return edits


def _pick_edit(candidates: list[ObjectEdit], rng: random.Random) -> ObjectEdit:
    """Uniform over kinds, then over that kind's candidates: otherwise the hundreds of
    possible additions would crowd out every other kind."""
    kinds = sorted({edit.kind for edit in candidates}, key=EDIT_KINDS.index)
    kind = rng.choice(kinds)
    return rng.choice([edit for edit in candidates if edit.kind == kind])


def sample_edit(scene: Scene, rng: random.Random | int, split: str = "train") -> tuple[str, Scene, str]:
    """Draw a random object-level edit of ``scene``.

    Args:
        scene: the source scene.
        rng: a ``random.Random`` (advanced in place) or an int seed.
        split: in ``"train"`` the edit never creates a :data:`HELDOUT_COMBOS` pair.

    Returns:
        ``(instruction, edited_scene, edit_kind)``, edit_kind one of :data:`EDIT_KINDS`.
    """
    edit = _pick_edit(_candidate_edits(scene, _allowed_combos(split)), _as_rng(rng))
    return edit.instruction(), edit.apply(scene), edit.kind


# ---------------------------------------------------------------------- distractors


def _wrong_object_edits(scene: Scene, edit: ObjectEdit, allowed: frozenset[tuple[str, str]]) -> list[ObjectEdit]:
    """The same change made to another object (for an addition: another shape added)."""
    if edit.kind == "add":
        return [
            ObjectEdit(None, replace(edit.after, shape=shape))
            for shape in SHAPES
            if shape != edit.after.shape and (edit.after.color, shape) in allowed
        ]
    others = [obj for obj in scene.objects if obj != edit.before]
    if edit.kind == "remove":
        return [ObjectEdit(obj, None) for obj in others]
    changed = [(obj, replace(obj, **edit.changes)) for obj in others]
    return [ObjectEdit(obj, new) for obj, new in changed if new != obj and new.combo in allowed]


def _wrong_value_edits(edit: ObjectEdit, candidates: list[ObjectEdit]) -> list[ObjectEdit]:
    """The right object changed to the wrong value."""
    if edit.kind == "add":  # the right shape in the right cell, in the wrong colour or size
        return [
            other
            for other in candidates
            if other.kind == "add" and other != edit
            and other.after.cell == edit.after.cell and other.after.shape == edit.after.shape
        ]  # fmt: skip
    # A removal has no value and a resize only the one other size, so the right object
    # is recoloured instead: the right target, the wrong change.
    kind = "recolor" if edit.kind in ("remove", "resize") else edit.kind
    return [other for other in candidates if other.kind == kind and other.before == edit.before and other != edit]


def _half_done(source: Image.Image, target: Image.Image, cells: frozenset[str]) -> Image.Image:
    """The target with the right half of every edited cell still showing the source:
    an edit carried out halfway (half recoloured, half moved, half removed...)."""
    partial = target.copy()
    for cell in cells:
        left, top, right, bottom = _cell_box(cell, target.width)
        right_half = ((left + right) // 2, top, right, bottom)
        partial.paste(source.crop(right_half), right_half[:2])
    return partial


@dataclass
class EditExample:
    """A source, an instruction, its exact result and one wrong result per distractor kind.

    ``distractor_scenes`` holds the descriptions of the distractors that are scenes
    (``wrong_object``, ``wrong_value``, ``no_edit``, ``extra_change``); ``degraded``
    (the target blurred, noisy or JPEG-damaged) and ``partial`` (the target with half
    of each edited cell reverted to the source) exist only as images.
    """

    source: Image.Image
    instruction: str
    target: Image.Image
    distractors: dict[str, Image.Image]
    edit_kind: str
    scene: Scene
    edited_scene: Scene
    distractor_scenes: dict[str, Scene]


def make_edit_example(seed: int, size: int = 64, split: str = "train") -> EditExample:
    """Build one edit example with every distractor in :data:`SHAPES_DISTRACTORS`.

    Args:
        seed: fixes everything except the pixel size; the same seed at another size gives
            the same example, rendered larger.
        size: render side in pixels (at least 32).
        split: ``"train"`` or ``"heldout_combos"`` (see :data:`HELDOUT_COMBOS`).

    Returns:
        An :class:`EditExample`; every distractor visibly differs from the target.
    """
    allowed = _allowed_combos(split)
    rng = random.Random(seed)
    # Two objects at least, so that "the wrong object" always exists.
    scene = sample_scene(rng, split=split, min_objects=2)
    candidates = _candidate_edits(scene, allowed)
    # Only edits that some other object could wrongly receive: "make the red circle
    # green" has none when every other object is green already.
    edit = _pick_edit([c for c in candidates if _wrong_object_edits(scene, c, allowed)], rng)
    edited_scene = edit.apply(scene)
    extras = [extra for extra in _candidate_edits(edited_scene, allowed) if not extra.cells & edit.cells]
    distractor_scenes = {
        "wrong_object": rng.choice(_wrong_object_edits(scene, edit, allowed)).apply(scene),
        "wrong_value": rng.choice(_wrong_value_edits(edit, candidates)).apply(scene),
        "no_edit": scene,
        "extra_change": _pick_edit(extras, rng).apply(edited_scene),
    }
    source, target = render(scene, size), render(edited_scene, size)
    distractors = {kind: render(wrong, size) for kind, wrong in distractor_scenes.items()}
    degradation = rng.choice(("blur", "noise", "jpeg"))
    distractors["degraded"] = apply_distortion(target, degradation, severity=4, seed=rng.randrange(2**31))
    distractors["partial"] = _half_done(source, target, edit.cells)
    return EditExample(
        source=source,
        instruction=edit.instruction(),
        target=target,
        distractors={kind: distractors[kind] for kind in SHAPES_DISTRACTORS},
        edit_kind=edit.kind,
        scene=scene,
        edited_scene=edited_scene,
        distractor_scenes=distractor_scenes,
    )
