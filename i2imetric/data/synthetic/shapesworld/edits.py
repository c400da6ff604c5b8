"""ShapesWorld object-level edits: an :class:`ObjectEdit` changes a scene's description,
so the right answer to its instruction is the render of the edited description.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace

from .scenes import CELL_PHRASES, COLORS, SHAPES, SIZES, Scene, ShapeObject, allowed_combos, as_rng

__all__ = ["EDIT_KINDS", "ObjectEdit", "sample_edit"]

EDIT_KINDS: tuple[str, ...] = ("recolor", "remove", "add", "move", "resize", "replace_shape")
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
            return f"add a {after.size} {after.color} {after.shape} {CELL_PHRASES[after.cell]}"
        if kind == "remove":
            return f"remove {before.name}"
        if kind == "recolor":
            return f"make {before.name} {after.color}"
        if kind == "move":
            return f"move {before.name} to the {after.cell}"
        if kind == "resize":
            return f"make {before.name} {'bigger' if after.size == 'large' else 'smaller'}"
        return f"turn {before.name} into a {after.shape}"


def candidate_edits(scene: Scene, allowed: frozenset[tuple[str, str]]) -> list[ObjectEdit]:
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


def pick_edit(candidates: list[ObjectEdit], rng: random.Random) -> ObjectEdit:
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
    edit = pick_edit(candidate_edits(scene, allowed_combos(split)), as_rng(rng))
    return edit.instruction(), edit.apply(scene), edit.kind
