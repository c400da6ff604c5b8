"""ShapesWorld distractors: wrong descriptions, or degraded or half-finished renders, of
the same edit, and :func:`make_edit_example`, which builds a source, its instruction, the
exact result and one distractor of each kind.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from PIL import Image

from ..distortions import apply_distortion
from .edits import ObjectEdit, candidate_edits, pick_edit
from .rendering import cell_box, render
from .scenes import SHAPES, Scene, allowed_combos, sample_scene

__all__ = ["SHAPES_DISTRACTORS", "EditExample", "make_edit_example"]

SHAPES_DISTRACTORS: tuple[str, ...] = (
    "wrong_object",
    "wrong_value",
    "no_edit",
    "extra_change",
    "degraded",
    "partial",
)


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
        left, top, right, bottom = cell_box(cell, target.width)
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
    allowed = allowed_combos(split)
    rng = random.Random(seed)
    # Two objects at least, so that "the wrong object" always exists.
    scene = sample_scene(rng, split=split, min_objects=2)
    candidates = candidate_edits(scene, allowed)
    # Only edits that some other object could wrongly receive: "make the red circle
    # green" has none when every other object is green already.
    edit = pick_edit([c for c in candidates if _wrong_object_edits(scene, c, allowed)], rng)
    edited_scene = edit.apply(scene)
    extras = [extra for extra in candidate_edits(edited_scene, allowed) if not extra.cells & edit.cells]
    distractor_scenes = {
        "wrong_object": rng.choice(_wrong_object_edits(scene, edit, allowed)).apply(scene),
        "wrong_value": rng.choice(_wrong_value_edits(edit, candidates)).apply(scene),
        "no_edit": scene,
        "extra_change": pick_edit(extras, rng).apply(edited_scene),
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
