"""Canonical edits, distractors and quality distortions (i2imetric.data.synthetic.edits)."""

import numpy as np
import pytest
from PIL import Image

from i2imetric.data.synthetic.edits import (
    CANONICAL_EDITS,
    DISTRACTORS,
    GLOBAL_EDITS,
    LOCAL_EDITS,
    MAX_SEVERITY,
    QUALITY_DISTORTIONS,
    apply_distortion,
    apply_edit,
    make_distractor,
    visibly_different,
)
from i2imetric.data.synthetic.shapesworld import Scene, ShapeObject, render
from i2imetric.errors import I2IInputError

ODD_SIZES = [(1, 1), (3, 500), (17, 9)]


def textured(width=64, height=64):
    """Smooth colour waves plus a hard diagonal edge: something every edit visibly changes."""
    rows, cols = np.mgrid[0:height, 0:width]
    red = 127 + 100 * np.sin(cols / 4.0)
    green = 127 + 100 * np.cos(rows / 6.0)
    blue = np.where(cols > rows, 230, 30)
    return Image.fromarray(np.stack([red, green, blue], axis=-1).clip(0, 255).astype(np.uint8))


def pixels(image):
    return np.asarray(image, dtype=np.int16)


def changed_share(a, b, tolerance=24):
    """Share of pixels that moved by more than ``tolerance`` in some channel."""
    return float((np.abs(pixels(a) - pixels(b)).max(axis=2) > tolerance).mean())


def test_instructions_are_the_public_contract():
    assert CANONICAL_EDITS == {
        "grayscale": "make it black and white",
        "invert": "invert the colors",
        "brighten": "make it brighter",
        "darken": "make it darker",
        "contrast": "increase the contrast",
        "blur": "blur the image",
        "sharpen": "sharpen the image",
        "flip_h": "flip it horizontally",
        "flip_v": "flip it upside down",
        "rotate90": "rotate it 90 degrees clockwise",
        "sepia": "give it a sepia tone",
        "saturate": "make the colors more vivid",
        "blur_left_half": "blur the left half",
        "grayscale_top_half": "make the top half black and white",
        "pixelate_center": "pixelate the center",
        "red_square_center": "draw a red square in the middle",
    }
    assert LOCAL_EDITS == {"blur_left_half", "grayscale_top_half", "pixelate_center", "red_square_center"}
    assert LOCAL_EDITS | GLOBAL_EDITS == set(CANONICAL_EDITS) and not LOCAL_EDITS & GLOBAL_EDITS
    assert DISTRACTORS == ("unchanged", "wrong_edit", "under_edit", "over_edit", "wrong_region", "collateral")
    assert set(QUALITY_DISTORTIONS) >= {"noise", "jpeg", "blur", "color_shift", "warp"}


@pytest.mark.parametrize("size", ODD_SIZES)
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P"])
def test_every_edit_and_distractor_runs_on_odd_sizes_and_modes(size, mode):
    image = textured(*size).convert(mode)
    width, height = size
    for name in CANONICAL_EDITS:
        expected_size = (height, width) if name == "rotate90" else (width, height)
        for strength in (0.0, 0.5, 1.0):
            edited = apply_edit(image, name, strength)
            assert edited.mode == "RGB" and edited.size == expected_size, (name, strength)
        for kind in DISTRACTORS:
            assert make_distractor(image, name, kind, seed=1).mode == "RGB", (name, kind)
    for name in QUALITY_DISTORTIONS:
        distorted = apply_distortion(image, name, severity=MAX_SEVERITY, seed=1)
        assert distorted.mode == "RGB" and distorted.size == size, name


def test_rgba_is_composited_on_white():
    transparent = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert pixels(apply_edit(transparent, "flip_h")).min() == 255


@pytest.mark.parametrize("name", CANONICAL_EDITS)
def test_everything_is_deterministic_for_a_seed(name):
    image = textured(24, 16)
    assert apply_edit(image, name, 0.7).tobytes() == apply_edit(image, name, 0.7).tobytes()
    for kind in DISTRACTORS:
        first = make_distractor(image, name, kind, seed=5)
        assert first.tobytes() == make_distractor(image, name, kind, seed=5).tobytes(), kind


def test_seed_changes_random_choices():
    image = textured()
    assert make_distractor(image, "blur", "over_edit", seed=0) != make_distractor(image, "blur", "over_edit", seed=1)
    assert apply_distortion(image, "warp", 3, seed=0) != apply_distortion(image, "warp", 3, seed=1)


def test_geometry_edits_move_pixels_the_right_way():
    image = Image.new("RGB", (3, 2))
    image.putpixel((0, 0), (255, 0, 0))  # a red top-left corner
    rotated = apply_edit(image, "rotate90")
    assert rotated.size == (2, 3)
    assert rotated.getpixel((1, 0)) == (255, 0, 0)  # clockwise: top-left goes to top-right
    assert apply_edit(image, "flip_h").getpixel((2, 0)) == (255, 0, 0)
    assert apply_edit(image, "flip_v").getpixel((0, 1)) == (255, 0, 0)


def test_strength_cross_fades_from_source_to_full_edit():
    image = textured(20, 20)
    assert apply_edit(image, "invert", 0.0) == image
    half = pixels(apply_edit(image, "invert", 0.5))
    assert np.abs(half - 127.5).max() <= 1  # x and 255 - x meet in the middle
    assert apply_edit(image, "flip_h", 0.0) == image
    wide = textured(30, 20)
    assert apply_edit(wide, "rotate90", 0.0) == wide.resize((20, 30), Image.Resampling.LANCZOS)


def test_global_edits_do_what_they_say():
    image = textured()
    gray = pixels(apply_edit(image, "grayscale"))
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    assert apply_edit(apply_edit(image, "invert"), "invert") == image
    assert pixels(apply_edit(image, "brighten")).mean() > pixels(image).mean() + 20
    assert pixels(apply_edit(image, "darken")).mean() < pixels(image).mean() - 20
    assert pixels(apply_edit(image, "contrast")).std() > pixels(image).std() * 1.3
    assert pixels(apply_edit(image, "blur")).std() < pixels(image).std()
    assert apply_edit(Image.new("RGB", (2, 2), "white"), "sepia").getpixel((0, 0)) == (255, 255, 239)


def test_local_edits_stay_in_their_region():
    image = textured()
    untouched = pixels(image)
    blurred = pixels(apply_edit(image, "blur_left_half"))
    assert (blurred[:, 32:] == untouched[:, 32:]).all() and (blurred[:, :32] != untouched[:, :32]).any()
    gray = pixels(apply_edit(image, "grayscale_top_half"))
    assert (gray[32:] == untouched[32:]).all() and (gray[:32, :, 0] == gray[:32, :, 2]).all()
    pixelated = pixels(apply_edit(image, "pixelate_center"))
    center = pixelated[16:48, 16:48].reshape(-1, 3)
    assert len(np.unique(center, axis=0)) <= 64  # an 8x8 grid of blocks
    outside = np.ones((64, 64), dtype=bool)
    outside[16:48, 16:48] = False
    assert (pixelated[outside] == untouched[outside]).all()
    squared = pixels(apply_edit(image, "red_square_center"))
    assert (squared[24:40, 24:40] == (255, 0, 0)).all()
    assert (squared[:24] == untouched[:24]).all()


def shapes_render():
    """A busy, asymmetric ShapesWorld scene: every region holds something to edit."""
    objects = (
        ShapeObject("star", "yellow", "large", "top left"),
        ShapeObject("circle", "blue", "small", "top right"),
        ShapeObject("cross", "red", "large", "middle"),
        ShapeObject("triangle", "green", "large", "bottom left"),
        ShapeObject("square", "purple", "large", "bottom right"),
    )
    return render(Scene(objects, "checkered"), size=64)


def distractor_cases():
    return [("textured", textured()), ("shapesworld", shapes_render())]


@pytest.mark.parametrize(("label", "image"), distractor_cases())
def test_every_distractor_visibly_differs_from_the_right_edit(label, image):
    for name in CANONICAL_EDITS:
        right = apply_edit(image, name)
        for kind in DISTRACTORS:
            wrong = make_distractor(image, name, kind, seed=2)
            assert wrong.size != right.size or changed_share(wrong, right) > 0.002, (label, name, kind)


def test_distractors_fail_in_the_way_they_name():
    image = textured()
    assert make_distractor(image, "blur", "unchanged") == image
    assert make_distractor(image, "blur", "under_edit") == apply_edit(image, "blur", 0.3)
    wrong_edit = make_distractor(image, "blur", "wrong_edit", seed=4)
    assert any(wrong_edit == apply_edit(image, other) for other in CANONICAL_EDITS if other != "blur")
    over = make_distractor(image, "grayscale", "over_edit")
    assert np.abs(pixels(over) - pixels(apply_edit(image, "grayscale"))).mean() > 10


def test_wrong_region_misses_the_instructed_region():
    image = textured()
    for seed in range(4):
        misplaced = pixels(make_distractor(image, "red_square_center", "wrong_region", seed=seed))
        assert not (misplaced[24:40, 24:40] == (255, 0, 0)).all()
        assert ((misplaced == (255, 0, 0)).all(axis=2)).sum() == 16 * 16  # the square, elsewhere
    blurred_right = pixels(make_distractor(image, "blur_left_half", "wrong_region"))
    assert (blurred_right[:, :32] == pixels(image)[:, :32]).all()
    half_gray = pixels(make_distractor(image, "grayscale", "wrong_region", seed=1))
    is_gray = (half_gray[..., 0] == half_gray[..., 1]) & (half_gray[..., 1] == half_gray[..., 2])
    assert 0.3 < is_gray.mean() < 0.7


def test_collateral_keeps_the_edit_and_adds_a_change_elsewhere():
    image = textured()
    for seed in range(4):
        collateral = pixels(make_distractor(image, "red_square_center", "collateral", seed=seed))
        right = pixels(apply_edit(image, "red_square_center"))
        assert (collateral[24:40, 24:40] == (255, 0, 0)).all()
        changed = np.abs(collateral - right).max(axis=2) > 24
        rows, cols = np.nonzero(changed)
        assert changed.any() and (np.minimum(rows, 63 - rows).max() < 16) and (np.minimum(cols, 63 - cols).max() < 16)
    left_blur = pixels(make_distractor(image, "blur_left_half", "collateral"))
    assert (np.abs(left_blur - pixels(apply_edit(image, "blur_left_half")))[:, :32] == 0).all()


@pytest.mark.parametrize("name", QUALITY_DISTORTIONS)
def test_distortions_grow_with_severity(name):
    image = textured()
    errors = [
        np.abs(pixels(apply_distortion(image, name, severity, seed=0)) - pixels(image)).mean()
        for severity in range(1, MAX_SEVERITY + 1)
    ]
    assert all(low < high for low, high in zip(errors, errors[1:])), errors


def test_visibly_different():
    image = textured()
    assert not visibly_different(image, image.copy())
    nudged = image.copy()
    nudged.putpixel((5, 5), (0, 0, 0))  # one pixel of 4096 is not visible
    assert not visibly_different(image, nudged)
    assert visibly_different(image, apply_edit(image, "red_square_center"))
    assert visibly_different(image, image.resize((64, 63)))


def test_bad_arguments_raise_input_errors():
    image = textured(8, 8)
    with pytest.raises(I2IInputError, match="valid edits: grayscale, invert"):
        apply_edit(image, "make it pop")
    for strength in (-0.1, 1.5):
        with pytest.raises(I2IInputError, match="strength"):
            apply_edit(image, "blur", strength)
    with pytest.raises(I2IInputError, match="valid distractors"):
        make_distractor(image, "blur", "nonsense")
    with pytest.raises(I2IInputError, match="valid edits"):
        make_distractor(image, "nonsense", "unchanged")
    with pytest.raises(I2IInputError, match="valid distortions"):
        apply_distortion(image, "nonsense")
    for severity in (0, MAX_SEVERITY + 1):
        with pytest.raises(I2IInputError, match="severity"):
            apply_distortion(image, "noise", severity)
