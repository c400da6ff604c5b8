"""ShapesWorld scenes, captions, exact object edits, distractors and the held-out split."""

import re
from dataclasses import replace

import numpy as np
import pytest

from i2imetric.data.synthetic.edits import visibly_different
from i2imetric.data.synthetic.shapesworld import (
    CELLS,
    COLORS,
    EDIT_KINDS,
    HELDOUT_COMBOS,
    SHAPES,
    SHAPES_DISTRACTORS,
    Scene,
    ShapeObject,
    caption,
    make_edit_example,
    render,
    sample_edit,
    sample_scene,
)
from i2imetric.errors import I2IInputError

PHRASE_TO_CELL = {
    "at the top left": "top left", "at the top": "top", "at the top right": "top right",
    "on the left": "left", "in the middle": "middle", "on the right": "right",
    "at the bottom left": "bottom left", "at the bottom": "bottom", "at the bottom right": "bottom right",
}  # fmt: skip
WORD = r"(\w+)"


def find(scene, color, shape):
    """The one object an instruction names; fails the test if the name is ambiguous."""
    (match,) = [obj for obj in scene.objects if (obj.color, obj.shape) == (color, shape)]
    return match


def execute(instruction, scene):
    """Carry out an instruction on a scene description, independently of the library."""

    def swap(old, new):
        return Scene(tuple(new if obj == old else obj for obj in scene.objects), scene.background)

    if match := re.fullmatch(rf"make the {WORD} {WORD} (smaller|bigger)", instruction):
        target = find(scene, *match.groups()[:2])
        return swap(target, replace(target, size="small" if match[3] == "smaller" else "large"))
    if match := re.fullmatch(rf"make the {WORD} {WORD} {WORD}", instruction):
        target = find(scene, match[1], match[2])
        return swap(target, replace(target, color=match[3]))
    if match := re.fullmatch(rf"remove the {WORD} {WORD}", instruction):
        target = find(scene, *match.groups())
        return Scene(tuple(obj for obj in scene.objects if obj != target), scene.background)
    if match := re.fullmatch(rf"add a {WORD} {WORD} {WORD} (.+)", instruction):
        size, color, shape, phrase = match.groups()
        cell = PHRASE_TO_CELL[phrase]
        assert cell in scene.free_cells()
        return Scene(scene.objects + (ShapeObject(shape, color, size, cell),), scene.background)
    if match := re.fullmatch(rf"move the {WORD} {WORD} to the (.+)", instruction):
        target = find(scene, match[1], match[2])
        assert match[3] in scene.free_cells()
        return swap(target, replace(target, cell=match[3]))
    if match := re.fullmatch(rf"turn the {WORD} {WORD} into a {WORD}", instruction):
        target = find(scene, match[1], match[2])
        return swap(target, replace(target, shape=match[3]))
    raise AssertionError(f"unexpected instruction {instruction!r}")


def test_vocabulary_is_rich_enough():
    assert {"circle", "square", "triangle", "star", "cross"} <= set(SHAPES)
    assert len(COLORS) >= 8 and len(CELLS) == 9
    assert len(HELDOUT_COMBOS) == 8 and all(color in COLORS and shape in SHAPES for color, shape in HELDOUT_COMBOS)


def test_caption_describes_every_object_and_the_background():
    scene = Scene(
        (
            ShapeObject("square", "blue", "small", "middle"),
            ShapeObject("circle", "red", "large", "top left"),
        ),
        "striped",
    )
    assert caption(scene) == (
        "a large red circle at the top left and a small blue square in the middle on a striped background"
    )
    three = Scene(scene.objects + (ShapeObject("star", "pink", "small", "right"),))
    assert caption(three) == (
        "a large red circle at the top left, a small blue square in the middle "
        "and a small pink star on the right on a plain background"
    )
    assert caption(Scene(())) == "an empty plain background"


@pytest.mark.parametrize("seed", range(8))
def test_render_shows_what_the_caption_says(seed):
    scene = sample_scene(seed)
    text = caption(scene)
    image = np.asarray(render(scene, size=96), dtype=int)
    for obj in scene.objects:
        assert f"{obj.size} {obj.color} {obj.shape}" in text
        row, col = divmod(CELLS.index(obj.cell), 3)
        center = image[row * 32 + 16, col * 32 + 16]
        assert np.abs(center - COLORS[obj.color]).max() <= 12, (obj, center)
    for cell in scene.free_cells():
        row, col = divmod(CELLS.index(cell), 3)
        patch = image[row * 32 + 8 : row * 32 + 24, col * 32 + 8 : col * 32 + 24]
        assert np.ptp(patch, axis=2).max() <= 2, cell  # gray background only


def test_render_is_deterministic_and_anti_aliased():
    scene = Scene((ShapeObject("circle", "red", "large", "middle"),))
    first, second = render(scene, 64), render(scene, 64)
    assert first.size == (64, 64) and first.tobytes() == second.tobytes()
    reds = np.asarray(first)[..., 0]
    assert len(np.unique(reds)) > 4  # edge pixels blend object and background


@pytest.mark.parametrize("seed", range(40))
def test_sampled_edits_do_exactly_what_the_instruction_says(seed):
    scene = sample_scene(seed)
    instruction, edited, kind = sample_edit(scene, seed)
    assert kind in EDIT_KINDS
    assert edited == execute(instruction, scene), instruction


def test_every_edit_kind_is_sampled():
    kinds = {sample_edit(sample_scene(seed), seed)[2] for seed in range(60)}
    assert kinds == set(EDIT_KINDS)


@pytest.mark.parametrize("seed", range(12))
def test_edit_example_target_is_the_render_of_the_edited_scene(seed):
    example = make_edit_example(seed, size=48)
    assert example.edited_scene == execute(example.instruction, example.scene)
    assert example.target.tobytes() == render(example.edited_scene, 48).tobytes()
    assert example.source.tobytes() == render(example.scene, 48).tobytes()
    assert tuple(example.distractors) == SHAPES_DISTRACTORS
    assert example.distractors["no_edit"].tobytes() == example.source.tobytes()
    for kind, scene in example.distractor_scenes.items():
        assert example.distractors[kind].tobytes() == render(scene, 48).tobytes()
    for kind, distractor in example.distractors.items():
        assert distractor.size == (48, 48)
        assert visibly_different(distractor, example.target), (example.instruction, kind)


def test_distractor_scenes_fail_in_the_way_they_name():
    for seed in range(20):
        example = make_edit_example(seed, size=32)
        source_cells = {obj.cell: obj for obj in example.scene.objects}
        target_cells = {obj.cell: obj for obj in example.edited_scene.objects}
        edited_cells = {cell for cell in source_cells.keys() | target_cells.keys()
                        if source_cells.get(cell) != target_cells.get(cell)}  # fmt: skip
        extra = example.distractor_scenes["extra_change"]
        extra_cells = {obj.cell: obj for obj in extra.objects}
        for cell in edited_cells:  # the right edit is in place...
            assert extra_cells.get(cell) == target_cells.get(cell)
        assert extra != example.edited_scene  # ...plus something else
        wrong_object = example.distractor_scenes["wrong_object"]
        assert wrong_object != example.edited_scene and wrong_object != example.scene


def test_partial_edit_is_half_done():
    examples = (make_edit_example(seed, size=96) for seed in range(100))
    example = next(example for example in examples if example.edit_kind == "recolor")
    (cell,) = {obj.cell for obj in example.scene.objects if obj not in example.edited_scene.objects}
    row, col = divmod(CELLS.index(cell), 3)
    rows = slice(row * 32, row * 32 + 32)
    left_half, right_half = slice(col * 32, col * 32 + 16), slice(col * 32 + 16, col * 32 + 32)
    partial, target, source = (
        np.asarray(image) for image in (example.distractors["partial"], example.target, example.source)
    )
    assert (partial[rows, left_half] == target[rows, left_half]).all()
    assert (partial[rows, right_half] == source[rows, right_half]).all()


def test_examples_are_reproducible_and_size_independent():
    first, again = make_edit_example(7, size=32), make_edit_example(7, size=32)
    for kind in SHAPES_DISTRACTORS:
        assert first.distractors[kind].tobytes() == again.distractors[kind].tobytes()
    larger = make_edit_example(7, size=64)
    assert (larger.instruction, larger.scene, larger.edited_scene) == (first.instruction, first.scene, first.edited_scene)


def test_training_split_never_shows_a_heldout_combo():
    for seed in range(300):
        scene = sample_scene(seed)
        assert not scene.combos & HELDOUT_COMBOS
        assert not sample_edit(scene, seed)[1].combos & HELDOUT_COMBOS
    for seed in range(30):
        example = make_edit_example(seed, size=32)
        scenes = [example.scene, example.edited_scene, *example.distractor_scenes.values()]
        assert not any(scene.combos & HELDOUT_COMBOS for scene in scenes), seed


def test_heldout_split_always_shows_a_heldout_combo():
    for seed in range(30):
        assert sample_scene(seed, split="heldout_combos").combos & HELDOUT_COMBOS
        assert make_edit_example(seed, size=32, split="heldout_combos").scene.combos & HELDOUT_COMBOS


def test_invalid_descriptions_raise_input_errors():
    with pytest.raises(I2IInputError, match="unknown color 'teal'"):
        ShapeObject("circle", "teal", "small", "top")
    with pytest.raises(I2IInputError, match="unknown cell"):
        ShapeObject("circle", "red", "small", "center left")
    square = ShapeObject("square", "red", "small", "top")
    with pytest.raises(I2IInputError, match="share a cell"):
        Scene((square, replace(square, shape="circle")))
    with pytest.raises(I2IInputError, match="at least 32"):
        render(Scene((square,)), size=16)
    with pytest.raises(I2IInputError, match="unknown split"):
        make_edit_example(0, split="test")
