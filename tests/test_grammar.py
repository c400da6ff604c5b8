"""The edit grammar (i2imetric.data.synthetic.grammar): specs, exact masks, phrasings,
distractors, held-out splits, and the canonical edits as specs."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
from PIL import Image

from i2imetric.data.synthetic.canonical import CANONICAL_EDITS, apply_edit
from i2imetric.data.synthetic.grammar import (
    CANONICAL_SPECS,
    DISTRACTOR_KINDS,
    HELDOUT_COMBOS,
    HELDOUT_OPERATIONS,
    NEAR_MISS_CHANGES,
    OPERATIONS,
    REGIONS,
    SPLITS,
    EditSpec,
    Region,
    describe,
    heldout_sets,
    make_distractor,
    make_distractors,
    near_miss_candidates,
    phrase,
    phrase_parts,
    render,
    sample_example,
    sample_spec,
    split_of,
    visible_near_miss,
)
from i2imetric.data.synthetic.grammar.phrasebook import OPS
from i2imetric.data.synthetic.pixels import visibly_different
from i2imetric.errors import I2IInputError

QUARTER_TURNS = {"rotate90", "rotate270"}


def photo_like(height: int = 48, width: int = 64, seed: int = 0) -> Image.Image:
    """A smooth random image with a few hard-edged blocks: gradients and detail, not square."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8))
    pixels = np.array(coarse.resize((width, height), Image.Resampling.BICUBIC))
    for _ in range(6):
        top, left = rng.integers(0, height - 8), rng.integers(0, width - 8)
        pixels[top : top + rng.integers(3, 9), left : left + rng.integers(3, 9)] = rng.integers(0, 256, 3)
    return Image.fromarray(pixels)


def spec_for(op: str, region: str | Region = "whole", degree: str = "default", amount: float | None = None) -> EditSpec:
    row = OPERATIONS[op]
    color = "red" if row.shape is not None and row.fill == "color" else None
    return EditSpec(op, region, degree, amount, color)


IMAGE = photo_like()
SOURCE = np.asarray(IMAGE)


def check_exact_mask(spec: EditSpec, image: Image.Image = IMAGE) -> None:
    source = np.asarray(image)
    output, mask = render(spec, image, seed=3)
    assert output.mode == "RGB"
    assert mask.dtype == bool and mask.shape == source.shape[:2], spec
    assert mask.any(), spec
    out = np.asarray(output)
    if spec.op in QUARTER_TURNS and spec.region.name == "whole":
        assert output.size == (image.height, image.width) and mask.all()
        return
    assert out.shape == source.shape, spec
    assert np.array_equal(out[~mask], source[~mask]), f"{spec}: pixels outside the mask changed"
    assert (out[mask] != source[mask]).any(), f"{spec}: nothing inside the mask changed"


# ----------------------------------------------------------------- specs and rendering


def test_the_grammar_has_enough_operations_and_regions():
    assert len(OPERATIONS) >= 25
    assert {row.family for row in OPERATIONS.values()} == {"photometric", "filter", "geometric", "drawing"}
    assert set(REGIONS) >= {"whole", "left", "right", "top", "bottom", "top_left", "top_right",
                            "bottom_left", "bottom_right", "center", "border"}  # fmt: skip


def test_every_operation_region_and_magnitude_renders_with_an_exact_mask():
    for op, row in OPERATIONS.items():
        for region in REGIONS:
            for degree in row.degrees:
                check_exact_mask(spec_for(op, region, degree))
            for number in row.numbers[:1]:
                check_exact_mask(spec_for(op, region, amount=number))


def test_an_explicit_mask_region_confines_every_operation():
    rows, cols = np.mgrid[:48, :64]
    blob = (rows - 20) ** 2 + (cols - 40) ** 2 <= 81
    region = Region.from_mask(blob, "the red star")
    for op in OPERATIONS:
        spec = spec_for(op, region)
        check_exact_mask(spec)
        assert render(spec, IMAGE)[1].sum() <= blob.sum()
    assert hash(spec_for("blur", region)) == hash(spec_for("blur", Region.from_mask(blob, "the red star")))
    with pytest.raises(I2IInputError):
        render(spec_for("blur", region), photo_like(40, 40))


def test_renders_are_deterministic_and_keep_odd_sizes():
    for op in ("noise", "blur", "rotate90", "erase", "shift_left"):
        spec = spec_for(op, "top_right")
        first, second = render(spec, IMAGE, seed=5)[0], render(spec, IMAGE, seed=5)[0]
        assert np.array_equal(np.asarray(first), np.asarray(second))
    for small in (photo_like(9, 13, seed=1), IMAGE.resize((1, 7)), IMAGE.resize((1, 1))):
        for op in OPERATIONS:
            for region in ("left", "center", "border", "bottom_right"):
                output, mask = render(spec_for(op, region), small)
                assert output.size == small.size and mask.shape == (small.height, small.width) and mask.any()


def test_specs_are_validated_and_hashable():
    assert len({spec_for("blur", "left"), spec_for("blur", "left"), EditSpec("blur", Region("left"))}) == 1
    with pytest.raises(I2IInputError):
        EditSpec("melt")
    with pytest.raises(I2IInputError):
        EditSpec("blur", "upstairs")
    with pytest.raises(I2IInputError):
        EditSpec("draw_circle")  # no colour
    with pytest.raises(I2IInputError):
        EditSpec("blur", color="red")
    with pytest.raises(I2IInputError):
        EditSpec("flip_h", degree="a_lot")  # ungraded
    with pytest.raises(I2IInputError):
        EditSpec("flip_h", amount=3.0)


def test_magnitudes_order_the_strength_of_the_change():
    for op in ("brighten", "blur", "saturate", "draw_square", "zoom_in"):
        changes = []
        for degree in ("slightly", "default", "a_lot"):
            out = np.asarray(render(spec_for(op, "left", degree), IMAGE)[0], dtype=np.int16)
            changes.append(np.abs(out - SOURCE).mean())
        assert changes[0] < changes[1] < changes[2], (op, changes)


# ----------------------------------------------------------------------- distractors


def test_every_distractor_kind_is_visibly_wrong_and_says_where():
    seen = set()
    for index, op in enumerate(OPERATIONS):
        for region in ("whole", "left", list(REGIONS)[2 + index % 9]):
            spec = spec_for(op, region)
            right, edit_mask = render(spec, IMAGE, seed=index)
            for distractor in make_distractors(spec, IMAGE, seed=index):
                seen.add(distractor.kind)
                assert distractor.fails == DISTRACTOR_KINDS[distractor.kind]
                assert distractor.fails in ("instruction", "preservation", "quality")
                assert visibly_different(distractor.image, right), (spec, distractor.kind)
                assert distractor.mask.shape == (right.height, right.width) and distractor.mask.any()
                if distractor.kind == "collateral":
                    assert distractor.damage is not None and distractor.damage.any()
                    assert not (distractor.damage & edit_mask).any(), f"{spec}: damage inside the edit"
                    assert distractor.damage.sum() <= distractor.mask.sum() + edit_mask.sum()
    assert seen == set(DISTRACTOR_KINDS)


def test_near_misses_differ_in_one_respect_and_stay_in_the_split():
    rng = random.Random(0)
    for _ in range(200):
        spec = sample_spec(rng, "train")
        for change in NEAR_MISS_CHANGES:
            candidates = near_miss_candidates(spec, change, "train", rng)
            assert all(split_of(candidate) == "train" and candidate != spec for candidate in candidates)
            if change == "opposite":
                assert [c.op for c in candidates] in ([], [spec.operation.opposite])
            elif change == "region":
                assert all(c.op == spec.op and c.region.name != spec.region.name for c in candidates)
            else:
                assert all(c.region == spec.region and c.op not in (spec.op, spec.operation.opposite) for c in candidates)
    with pytest.raises(I2IInputError, match="unknown near-miss change 'colour'; valid changes: opposite, region"):
        near_miss_candidates(spec_for("brighten"), "colour", "train", rng)


def test_a_visible_near_miss_looks_unlike_every_image_it_stands_against():
    # Brightening a white image changes nothing, in any half: no visible region near miss.
    white = Image.new("RGB", (48, 48), "white")
    spec = spec_for("brighten", "left")
    assert visible_near_miss(spec, "region", white, 0, "train", random.Random(0), [white]) is None
    left_brightened, _ = render(spec, IMAGE, seed=1)
    found, image = visible_near_miss(spec, "region", IMAGE, 1, "train", random.Random(0), [left_brightened, IMAGE])
    assert found.op == "brighten" and found.region.name != "left"
    assert np.array_equal(np.asarray(image), np.asarray(render(found, IMAGE, seed=1)[0]))
    assert visibly_different(image, left_brightened) and visibly_different(image, IMAGE)
    # exclude: a spec already taken is never returned, however different its pixels.
    darken = spec.variant(op="darken")
    assert visible_near_miss(spec, "opposite", IMAGE, 1, None, random.Random(0), [left_brightened])[0] == darken
    assert visible_near_miss(spec, "opposite", IMAGE, 1, None, random.Random(0), [left_brightened], exclude=[darken]) is None


def test_a_local_graded_edit_gets_every_kind_and_each_is_deterministic():
    spec = spec_for("brighten", "left")
    kinds = {distractor.kind: distractor for distractor in make_distractors(spec, IMAGE, seed=2)}
    assert set(kinds) == set(DISTRACTOR_KINDS)
    assert kinds["wrong_direction"].spec.op == "darken"
    assert kinds["wrong_region"].spec.region.name != "left" and kinds["wrong_operation"].spec.op != "brighten"
    assert np.array_equal(np.asarray(kinds["no_op"].image), SOURCE)
    for kind, distractor in kinds.items():
        again = make_distractor(spec, IMAGE, kind, seed=2)
        assert np.array_equal(np.asarray(again.image), np.asarray(distractor.image)), kind
    # Under and over bracket the right change; partial changes part of the region only.
    right = np.asarray(render(spec, IMAGE)[0], dtype=np.int16)
    change = lambda image: np.abs(np.asarray(image, dtype=np.int16) - SOURCE).mean()  # noqa: E731
    assert change(kinds["under"].image) < change(right) < change(kinds["over"].image)
    assert 0 < change(kinds["partial"].image) < change(right)
    with pytest.raises(I2IInputError):
        make_distractor(spec, IMAGE, "sideways")


def test_kinds_that_do_not_apply_give_none():
    assert make_distractor(spec_for("flip_h", "left"), IMAGE, "wrong_direction") is None
    assert make_distractor(spec_for("invert", "left"), IMAGE, "over") is None
    assert make_distractor(spec_for("blur"), IMAGE, "collateral") is None  # no pixel outside the edit


# ------------------------------------------------------------------------ phrasings


def _literals(entry: str) -> list[str]:
    """The fixed words of a held-out entry: its text between slots, without the marker."""
    return [piece.strip(" ,.?!:").lower() for piece in re.split(r"\{\w+\}", entry) if len(piece.strip(" ,.?!:")) >= 3]


def _random_specs(count: int, seed: int) -> list[EditSpec]:
    rng = random.Random(seed)
    return [sample_spec(rng, split) for split in SPLITS for _ in range(count // len(SPLITS))]


def test_phrases_are_deterministic_for_a_seed():
    spec = spec_for("blur", "left", "slightly")
    assert [phrase(spec, random.Random(7)) for _ in range(3)] == [phrase(spec, 7)] * 3
    assert len({phrase(spec, seed) for seed in range(200)}) > 40


def test_heldout_phrasings_never_appear_in_training_phrases():
    specs = _random_specs(3000, seed=0)
    rng = random.Random(1)
    train = [phrase_parts(spec, rng, "train") for spec in specs]
    heldout = [phrase_parts(spec, rng, "heldout") for spec in specs]
    assert not any(part.held_out for part in train)
    assert all(part.wrapper.startswith("!") and part.entry.startswith("!") for part in heldout)
    assert all(word.startswith("!") for part in heldout for word in part.words)  # no mask regions sampled
    held = heldout_sets()
    train_text = "\n".join(part.text.lower() for part in train)

    def appears(fragment: str) -> bool:
        return re.search(r"\b" + re.escape(fragment) + r"\b", train_text) is not None

    # Held-out region and magnitude words never occur in training text at all; held-out
    # templates and operation wordings share single verbs with training ("make", "give")
    # but never a phrase of two words or more.
    words = [piece for kind in ("region_words", "degree_words") for entry in held[kind] for piece in _literals(entry)]
    phrases = [piece for kind in ("wrappers", "operation_wordings") for entry in held[kind] for piece in _literals(entry)]
    assert len(words) > 30 and len(phrases) > 100
    assert not [word for word in words if appears(word)]
    assert not [piece for piece in phrases if len(piece.split()) >= 2 and appears(piece)]
    assert {part.form for part in train} == {part.form for part in heldout} == {"imperative", "descriptive", "terse", "polite"}


def test_graded_wordings_always_say_the_magnitude():
    for op, row in OPERATIONS.items():
        for kind, entries in OPS[op].items():
            assert any(entry.startswith("!") for entry in entries) and any(not entry.startswith("!") for entry in entries)
            if row.graded:
                assert all(re.search(r"\{(dc|da|sz)\}", entry) for entry in entries), (op, kind)
    spec = spec_for("brighten", "left", amount=30.0)
    assert all("30%" in phrase(spec, seed, split) for seed in range(50) for split in ("train", "heldout"))


def test_descriptions_cover_every_operation_and_region_and_say_the_magnitude():
    for op in OPERATIONS:
        for region in REGIONS:
            spec = EditSpec(op, region, color="red" if OPERATIONS[op].fill == "color" and OPERATIONS[op].shape else None)
            texts = {describe(spec, seed) for seed in range(30)}
            assert len(texts) > 5 and all(text and len(text.split()) <= 16 for text in texts), (op, region)
            assert describe(spec, random.Random(3)) == describe(spec, 3)
    assert all("red" in describe(spec_for("draw_square", "left"), seed) for seed in range(20))
    assert all("30%" in describe(spec_for("brighten", "left", amount=30.0), seed) for seed in range(20))
    slight = [describe(spec_for("blur", "top", "slightly"), seed) for seed in range(40)]
    assert all(re.search(r"slightly|a bit|a little|marginally|somewhat|mildly|faintly|small|little|tiny", t, re.I) for t in slight)


def test_descriptions_use_no_request_template():
    # Descriptions may share held-out *words* (synonyms), never a held-out request wrapper.
    wrappers = [piece for entry in heldout_sets()["wrappers"] for piece in _literals(entry) if len(piece.split()) >= 2]
    text = "\n".join(describe(spec, seed).lower() for seed, spec in enumerate(_random_specs(2000, seed=4)))
    assert wrappers and not [piece for piece in wrappers if piece.lower() in text]


# --------------------------------------------------------------------------- splits


def test_spec_splits_are_disjoint_and_deterministic():
    assert len(HELDOUT_OPERATIONS) >= 3 and HELDOUT_COMBOS
    assert all(op not in HELDOUT_OPERATIONS and region != "whole" for op, region in HELDOUT_COMBOS)
    rng = random.Random(0)
    for split in SPLITS:
        specs = [sample_spec(rng, split) for _ in range(600)]
        expected = "train" if split in ("train", "heldout_phrasing") else split
        assert {split_of(spec) for spec in specs} == {expected}, split
    train_ops = {sample_spec(rng, "train").op for _ in range(2000)}
    assert train_ops == set(OPERATIONS) - set(HELDOUT_OPERATIONS)
    assert [sample_spec(random.Random(4), "heldout_combo") for _ in range(2)] == [sample_spec(random.Random(4), "heldout_combo")] * 2
    assert all(split_of(spec) == "train" for spec in CANONICAL_SPECS.values())
    held = heldout_sets()
    assert held["operations"] == HELDOUT_OPERATIONS and set(held["combos"]) == HELDOUT_COMBOS
    spec, text = sample_example(random.Random(3), "heldout_phrasing")
    assert split_of(spec) == "train" and isinstance(text, str) and text


# ------------------------------------------------------------------------ canonical


@pytest.mark.parametrize("size", [(64, 48), (37, 23), (5, 3)])
def test_canonical_specs_reproduce_the_canonical_edits(size):
    assert set(CANONICAL_SPECS) == set(CANONICAL_EDITS)
    image = IMAGE.resize(size)
    for name, spec in CANONICAL_SPECS.items():
        assert phrase(spec, 0, "canonical") == CANONICAL_EDITS[name]
        expected, got = np.asarray(apply_edit(image, name)), np.asarray(render(spec, image)[0])
        assert expected.shape == got.shape and np.array_equal(expected, got), name
