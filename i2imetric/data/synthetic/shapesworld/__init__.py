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

Modules: :mod:`.scenes` (the vocabulary, :class:`Scene`, sampling, captions),
:mod:`.rendering` (:func:`render`), :mod:`.edits` (:class:`ObjectEdit`,
:func:`sample_edit`) and :mod:`.distractors` (:func:`make_edit_example`); every public
name is importable from here.
"""

from .distractors import SHAPES_DISTRACTORS, EditExample, make_edit_example
from .edits import EDIT_KINDS, ObjectEdit, sample_edit
from .rendering import render
from .scenes import (
    BACKGROUNDS,
    CELLS,
    COLORS,
    HELDOUT_COMBOS,
    HELDOUT_SEED_START,
    SHAPES,
    SIZES,
    SPLITS,
    Scene,
    ShapeObject,
    caption,
    sample_scene,
)

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
