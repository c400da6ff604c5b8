"""Bad-input contract of :mod:`i2imetric.io`: images, and whole JSON files.

Every image is tiny and generated inside the test (``tmp_path``); nothing large is ever
decoded: decompression bombs are either crafted PNG headers or tiny images checked
against a monkeypatched limit.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from i2imetric.errors import I2IInputError
from i2imetric.io import images as inputs
from i2imetric.io.images import as_image_list, check_instruction, check_instructions, image_to_tensor, load_image

# ----------------------------------------------------------------------------- helpers


def _noise(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    shape = (height, width) if channels == 1 else (height, width, channels)
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def _pixels(image) -> np.ndarray:
    """``load_image(image)`` as an HxWx3 uint8 array, after checking the mode."""
    loaded = load_image(image)
    assert isinstance(loaded, Image.Image)
    assert loaded.mode == "RGB"
    return np.asarray(loaded)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A syntactically valid RGB PNG claiming ``width x height`` but holding one row of data.

    Opening it costs nothing; decoding it would allocate ``3 * width * height`` bytes.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\x00" * (3 * min(width, 16)))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))
    return path


@pytest.fixture
def no_decode(monkeypatch):
    """Make any pixel decoding of a file fail loudly (and without allocating)."""
    calls = []

    def refuse_load(self, *args, **kwargs):
        calls.append(self.size)
        raise RuntimeError(f"decoded a {self.size} image that should have been refused")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse_load)
    return calls


def _raises_naming(path, func=load_image, *, match_text: str | None = None) -> I2IInputError:
    with pytest.raises(I2IInputError) as info:
        func(path)
    message = str(info.value)
    assert str(path) in message
    if match_text is not None:
        assert match_text in message
    return info.value


# ------------------------------------------------------------------ unusable files


def test_missing_file_names_path(tmp_path):
    missing = tmp_path / "nope" / "missing.png"
    _raises_naming(missing, match_text="no such file")
    _raises_naming(str(missing), func=image_to_tensor, match_text="no such file")


def test_directory_is_refused(tmp_path):
    folder = tmp_path / "looks_like.png"
    folder.mkdir()
    _raises_naming(folder, match_text="directory")


def test_zero_byte_file(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    _raises_naming(empty, match_text="empty")


def test_random_bytes_named_png(tmp_path):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(np.random.default_rng(0).bytes(2000))
    _raises_naming(corrupt)
    _raises_naming(str(corrupt), func=image_to_tensor)


def test_unsupported_format_text_file(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("this is not an image\n" * 20)
    _raises_naming(text, match_text="PNG or JPEG")


def test_damaged_png_signature(tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(_noise(16, 16)).save(good)
    bad = tmp_path / "bad.png"
    data = bytearray(good.read_bytes())
    data[1:4] = b"XYZ"  # "\x89PNG" -> "\x89XYZ"
    bad.write_bytes(bytes(data))
    _raises_naming(bad)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file(tmp_path, fmt):
    whole = tmp_path / f"whole.{fmt.lower()}"
    Image.fromarray(_noise(64, 64)).save(whole, format=fmt)
    assert load_image(whole).size == (64, 64)  # the intact file is fine
    cut = tmp_path / f"cut.{fmt.lower()}"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    error = _raises_naming(cut)
    assert "truncated" in str(error) or "corrupt" in str(error)


def test_a_file_without_read_permission_says_so_not_that_it_is_corrupt(tmp_path, monkeypatch):
    locked = tmp_path / "locked.png"
    Image.fromarray(_noise(8, 8)).save(locked)

    def refuse(path, *args, **kwargs):
        # What open() raises on a file without read permission (chmod cannot stop root, who runs CI).
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(inputs.Image, "open", refuse)
    for func in (load_image, image_to_tensor):
        error = _raises_naming(locked, func=func, match_text="cannot read: check its read permission")
        assert "corrupt" not in str(error) and "re-export" not in str(error)


def test_truncated_png_with_pil_flag_off_by_default():
    # The truncation test above relies on PIL refusing truncated data; nobody may flip
    # this switch globally behind our back.
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_unsupported_python_type_names_argument():
    for bad in (42, None, b"bytes", {"a": 1}):
        with pytest.raises(I2IInputError, match=r"^outputs\[3\]: unsupported image type"):
            load_image(bad, name="outputs[3]")
    with pytest.raises(I2IInputError, match=r"^outputs\[3\]:"):
        image_to_tensor([1, 2, 3], name="outputs[3]")


def test_str_and_path_objects_both_accepted(tmp_path):
    path = tmp_path / "ok.png"
    Image.fromarray(_noise(5, 7)).save(path)
    assert torch.equal(image_to_tensor(path), image_to_tensor(str(path)))


# ----------------------------------------------------------- decompression bombs


def test_patched_limit_refuses_file_pil_and_array(tmp_path, monkeypatch, no_decode):
    path = tmp_path / "small.png"
    array = _noise(10, 10)
    Image.fromarray(array).save(path)
    monkeypatch.setattr(inputs, "MAX_IMAGE_PIXELS", 99)
    error = _raises_naming(path, match_text="10x10")
    assert "decompression" in str(error)
    assert no_decode == []  # refused from the header, before decoding
    for form in (Image.fromarray(array), array, array.astype(np.float32) / 255.0):
        with pytest.raises(I2IInputError, match="exceeds the limit of 99"):
            image_to_tensor(form)


def test_image_exactly_at_limit_is_accepted(tmp_path, monkeypatch):
    path = tmp_path / "small.png"
    Image.fromarray(_noise(10, 10)).save(path)
    monkeypatch.setattr(inputs, "MAX_IMAGE_PIXELS", 100)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    assert image_to_tensor(path).shape == (3, 10, 10)


def _refused_without_warning(path) -> I2IInputError:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        error = _raises_naming(path)
    leaked = [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    assert leaked == []
    return error


@pytest.mark.parametrize("size", [(12, 10), (15, 10)], ids=["1.2x", "1.5x"])
@pytest.mark.parametrize("ours", [100, 10**9], ids=["consistent", "ours-lenient"])
def test_pil_warning_range_is_an_error(tmp_path, monkeypatch, no_decode, size, ours):
    """Between 1x and 2x its limit PIL only warns (and would decode): we must refuse.

    With our own limit lenient the refusal has to come from turning PIL's warning into
    an error, not from our own pixel count.
    """
    path = tmp_path / "warning_range.png"
    Image.fromarray(_noise(size[1], size[0])).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    monkeypatch.setattr(inputs, "MAX_IMAGE_PIXELS", ours)
    _refused_without_warning(path)
    assert no_decode == []


def test_pil_error_range_is_an_error(tmp_path, monkeypatch, no_decode):
    path = tmp_path / "error_range.png"
    Image.fromarray(_noise(20, 20)).save(path)  # 400 > 2 * 100
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    monkeypatch.setattr(inputs, "MAX_IMAGE_PIXELS", 10**9)
    error = _refused_without_warning(path)
    assert "decompression bomb" in str(error)
    assert no_decode == []


def test_crafted_png_header_is_well_formed(tmp_path):
    """The crafting helper really produces a decodable PNG (so the bomb tests mean something)."""
    path = _png_header_only(tmp_path / "tiny.png", 16, 1)
    with Image.open(path) as opened:
        assert opened.format == "PNG"
        assert opened.size == (16, 1)
    assert np.asarray(load_image(path)).shape == (1, 16, 3)


@pytest.mark.parametrize(
    "size",
    [(20_000, 20_000), (10_000, 9_000)],
    ids=["beyond-2x-pil-limit", "between-1x-and-2x-pil-limit"],
)
def test_crafted_png_header_with_default_limits(tmp_path, no_decode, size):
    """Real default limits; the header alone claims too many pixels and nothing is decoded."""
    width, height = size
    assert width * height > Image.MAX_IMAGE_PIXELS
    path = _png_header_only(tmp_path / "bomb.png", width, height)
    error = _refused_without_warning(path)
    assert "decompression" in str(error)
    with pytest.raises(I2IInputError):
        image_to_tensor(path)
    assert no_decode == []


def test_pil_image_object_over_limit(monkeypatch):
    monkeypatch.setattr(inputs, "MAX_IMAGE_PIXELS", 20)
    with pytest.raises(I2IInputError, match=r"^sources\[0\]: 5x5 pixels exceeds"):
        load_image(Image.new("RGB", (5, 5)), name="sources[0]")
    assert load_image(Image.new("RGB", (4, 5))).size == (4, 5)


# ------------------------------------------------------------- mode conversions


def _roundtrip(image: Image.Image, tmp_path: Path, fmt: str = "PNG", **save_kwargs) -> Path:
    path = tmp_path / f"image.{fmt.lower()}"
    image.save(path, format=fmt, **save_kwargs)
    return path


@pytest.mark.parametrize("as_file", [False, True], ids=["pil", "file"])
def test_grayscale_l(tmp_path, as_file):
    gray = np.array([[0, 100], [200, 255]], dtype=np.uint8)
    image = Image.fromarray(gray, mode="L")
    source = _roundtrip(image, tmp_path) if as_file else image
    pixels = _pixels(source)
    assert np.array_equal(pixels, np.repeat(gray[:, :, None], 3, axis=2))


@pytest.mark.parametrize("as_file", [False, True], ids=["pil", "file"])
def test_la_composited_on_white(tmp_path, as_file):
    data = np.array([[[100, 255], [100, 0]], [[0, 128], [0, 255]]], dtype=np.uint8)
    image = Image.fromarray(data, mode="LA")
    source = _roundtrip(image, tmp_path) if as_file else image
    pixels = _pixels(source)
    assert pixels[0, 0].tolist() == [100, 100, 100]  # opaque
    assert pixels[0, 1].tolist() == [255, 255, 255]  # fully transparent -> white
    assert pixels[1, 1].tolist() == [0, 0, 0]
    assert np.all(np.abs(pixels[1, 0].astype(int) - 127) <= 1)  # black at half alpha -> mid grey


@pytest.mark.parametrize("as_file", [False, True], ids=["pil", "file"])
def test_rgba_composited_on_white(tmp_path, as_file):
    data = np.array(
        [[[10, 20, 30, 255], [10, 20, 30, 0]], [[0, 0, 0, 0], [200, 0, 0, 128]]],
        dtype=np.uint8,
    )
    image = Image.fromarray(data, mode="RGBA")
    source = _roundtrip(image, tmp_path) if as_file else image
    pixels = _pixels(source).astype(int)
    assert pixels[0, 0].tolist() == [10, 20, 30]
    assert pixels[0, 1].tolist() == [255, 255, 255]  # transparent colour is discarded
    assert pixels[1, 0].tolist() == [255, 255, 255]  # transparent black is white, not black
    assert np.all(np.abs(pixels[1, 1] - [227, 127, 127]) <= 1)


@pytest.mark.parametrize("as_file", [False, True], ids=["pil", "file"])
def test_palette(tmp_path, as_file):
    image = Image.new("P", (2, 2))
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    image.putdata([0, 1, 2, 1])
    source = _roundtrip(image, tmp_path) if as_file else image
    pixels = _pixels(source)
    assert pixels.reshape(-1, 3).tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255], [0, 255, 0]]


@pytest.mark.parametrize("as_file", [False, True], ids=["pil", "file"])
def test_palette_with_transparency(tmp_path, as_file):
    image = Image.new("P", (3, 1))
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    image.putdata([0, 1, 2])
    image.info["transparency"] = 0  # index 0 (black) is transparent
    source = _roundtrip(image, tmp_path, transparency=0) if as_file else image
    pixels = _pixels(source)
    assert pixels.reshape(-1, 3).tolist() == [[255, 255, 255], [255, 0, 0], [0, 0, 255]]


def test_sixteen_bit_png(tmp_path):
    values = np.array([[0, 257, 257 * 10, 257 * 128, 257 * 200, 65535]], dtype=np.uint16)
    path = _roundtrip(Image.fromarray(values), tmp_path)
    with Image.open(path) as opened:
        assert opened.mode.startswith("I")  # a genuine 16-bit file, not an 8-bit one
    expected = [0, 1, 10, 128, 200, 255]
    for source in (path, Image.open(path), values):
        pixels = _pixels(source)
        assert pixels.shape == (1, 6, 3)
        assert pixels[0, :, 0].tolist() == expected
        assert np.array_equal(pixels[..., 0], pixels[..., 2])


def test_thirty_two_bit_i_mode():
    wide = Image.fromarray(np.array([[0, 257 * 7, 65535]], dtype=np.int32))
    assert wide.mode == "I"
    assert _pixels(wide)[0, :, 1].tolist() == [0, 7, 255]
    narrow = Image.fromarray(np.array([[0, 7, 255]], dtype=np.int32))  # 8-bit data in "I"
    assert _pixels(narrow)[0, :, 1].tolist() == [0, 7, 255]
    with pytest.raises(I2IInputError, match="outside"):
        load_image(Image.fromarray(np.array([[-1, 5]], dtype=np.int32)))


def test_cmyk_jpeg(tmp_path):
    red = Image.new("CMYK", (16, 16), (0, 255, 255, 0))
    path = _roundtrip(red, tmp_path, fmt="JPEG", quality=95)
    with Image.open(path) as opened:
        assert opened.mode == "CMYK"
    pixels = _pixels(path).astype(int)
    assert np.all(np.abs(pixels - [255, 0, 0]) <= 8)


@pytest.mark.parametrize("orientation", [6, 8])
def test_exif_orientation_applied(tmp_path, orientation):
    # 16 wide x 8 high: left half red, right half blue.
    array = np.zeros((8, 16, 3), dtype=np.uint8)
    array[:, :8] = (255, 0, 0)
    array[:, 8:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = _roundtrip(Image.fromarray(array), tmp_path, fmt="JPEG", quality=95, exif=exif.tobytes())
    with Image.open(path) as opened:
        assert opened.size == (16, 8)
        assert opened.getexif()[0x0112] == orientation
    for source in (path, Image.open(path)):
        loaded = load_image(source)
        assert loaded.size == (8, 16)
        pixels = np.asarray(loaded).astype(int)
        top, bottom = pixels[2, 4], pixels[13, 4]
        # 6 = rotate 90 degrees clockwise to display (left edge goes up), 8 = counter-clockwise.
        up, down = ([255, 0, 0], [0, 0, 255]) if orientation == 6 else ([0, 0, 255], [255, 0, 0])
        assert np.all(np.abs(top - up) <= 30), top
        assert np.all(np.abs(bottom - down) <= 30), bottom
    assert image_to_tensor(path).shape == (3, 16, 8)


def test_pil_input_is_not_modified():
    image = Image.new("RGBA", (3, 3), (10, 20, 30, 0))
    load_image(image)
    assert image.mode == "RGBA"
    assert image.getpixel((1, 1)) == (10, 20, 30, 0)


# ------------------------------------------------------------------ torch tensors


def _rgb_tensor_ok(tensor: torch.Tensor, shape: tuple) -> None:
    assert tensor.dtype == torch.float32
    assert tuple(tensor.shape) == shape
    assert tensor.is_contiguous()
    assert float(tensor.min()) >= 0.0 and float(tensor.max()) <= 1.0


def test_float_tensor_in_range_accepted():
    source = torch.rand(3, 5, 6, generator=torch.Generator().manual_seed(0))
    out = image_to_tensor(source)
    _rgb_tensor_ok(out, (3, 5, 6))
    assert torch.equal(out, source)


def test_float_tensor_result_does_not_alias_input():
    source = torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(1))
    before = source.clone()
    out = image_to_tensor(source)
    out.mul_(0.0)  # callers may normalise in place
    assert torch.equal(source, before)


def test_float_tensor_tolerance_is_clamped():
    source = torch.full((3, 2, 2), 1.0 + 5e-7)
    source[0, 0, 0] = -5e-7
    out = image_to_tensor(source)
    _rgb_tensor_ok(out, (3, 2, 2))
    assert float(out.max()) == 1.0 and float(out.min()) == 0.0


def test_half_precision_tensor():
    out = image_to_tensor(torch.full((3, 2, 2), 0.5, dtype=torch.float16))
    _rgb_tensor_ok(out, (3, 2, 2))
    assert torch.all(out == 0.5)


def test_float_tensor_0_255_rejected_with_hint():
    tensor = torch.linspace(0, 255, 3 * 4 * 4).reshape(3, 4, 4)
    with pytest.raises(I2IInputError, match=r"^outputs\[2\]: .*divide by 255"):
        image_to_tensor(tensor, name="outputs[2]")


def test_float_tensor_minus1_1_rejected_with_hint():
    tensor = torch.linspace(-1, 1, 3 * 4 * 4).reshape(3, 4, 4)
    with pytest.raises(I2IInputError) as info:
        image_to_tensor(tensor, name="sources[0]")
    assert str(info.value).startswith("sources[0]: ")
    assert "(x + 1) / 2" in str(info.value)
    assert "divide by 255" not in str(info.value)


def test_float_tensor_far_out_of_range():
    with pytest.raises(I2IInputError, match=r"rescale it to \[0, 1\]"):
        image_to_tensor(torch.linspace(-3, 300, 48).reshape(3, 4, 4))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_tensor_rejected(bad):
    tensor = torch.full((3, 4, 4), 0.5)
    tensor[1, 2, 3] = bad
    with pytest.raises(I2IInputError, match="NaN or inf"):
        image_to_tensor(tensor)


def test_uint8_tensor_scaled():
    tensor = torch.tensor([0, 51, 255], dtype=torch.uint8).reshape(1, 1, 3).expand(3, 1, 3)
    out = image_to_tensor(tensor)
    _rgb_tensor_ok(out, (3, 1, 3))
    assert torch.allclose(out[0, 0], torch.tensor([0.0, 0.2, 1.0]))


def test_chw_numpy_array_gets_transpose_hint():
    with pytest.raises(I2IInputError, match=r"transpose\(1, 2, 0\)"):
        load_image(np.zeros((3, 6, 5), dtype=np.uint8))
    with pytest.raises(I2IInputError) as info:
        load_image(np.zeros((6, 5, 7), dtype=np.uint8))  # no plausible channel axis: no hint
    assert "transpose" not in str(info.value)


def test_missing_file_message_names_the_folder_only_for_relative_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(I2IInputError, match=f"working folder, {tmp_path}"):
        load_image("missing.png")
    with pytest.raises(I2IInputError) as info:
        load_image(tmp_path / "missing.png")
    assert "working folder" not in str(info.value)


def test_hwc_tensor_gets_permute_hint():
    with pytest.raises(I2IInputError, match=r"permute\(2, 0, 1\)"):
        image_to_tensor(torch.rand(6, 5, 3))
    with pytest.raises(I2IInputError) as info:
        image_to_tensor(torch.rand(6, 5, 7))  # no plausible channel axis: no hint
    assert "permute" not in str(info.value)


def test_one_channel_tensor_replicated():
    gray = torch.rand(1, 4, 5, generator=torch.Generator().manual_seed(2))
    out = image_to_tensor(gray)
    _rgb_tensor_ok(out, (3, 4, 5))
    for channel in range(3):
        assert torch.equal(out[channel], gray[0])
    assert torch.equal(image_to_tensor(gray[0]), out)  # bare HxW too


def test_four_channel_tensor_composited_on_white():
    rgba = torch.zeros(4, 1, 3)
    rgba[:3] = torch.tensor([0.2, 0.4, 0.6]).reshape(3, 1, 1)
    rgba[3, 0] = torch.tensor([1.0, 0.0, 0.5])
    out = image_to_tensor(rgba)
    _rgb_tensor_ok(out, (3, 1, 3))
    assert torch.allclose(out[:, 0, 0], torch.tensor([0.2, 0.4, 0.6]))
    assert torch.allclose(out[:, 0, 1], torch.ones(3))
    assert torch.allclose(out[:, 0, 2], torch.tensor([0.6, 0.7, 0.8]))


@pytest.mark.parametrize(
    "tensor",
    [torch.zeros(2, 4, 4), torch.zeros(1, 3, 4, 4), torch.zeros(4)],
    ids=["two-channels", "batched", "1-D"],
)
def test_bad_tensor_shapes(tensor):
    with pytest.raises(I2IInputError, match=r"^x: .*shape"):
        image_to_tensor(tensor, name="x")


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool])
def test_unsupported_tensor_dtype(dtype):
    with pytest.raises(I2IInputError, match="dtype"):
        image_to_tensor(torch.zeros(3, 2, 2, dtype=dtype))


@pytest.mark.parametrize("shape", [(3, 0, 4), (3, 4, 0), (0, 0)])
def test_empty_tensor_rejected(shape):
    for dtype in (torch.float32, torch.uint8):
        with pytest.raises(I2IInputError, match="no pixels"):
            image_to_tensor(torch.zeros(shape, dtype=dtype))


def test_tensor_requiring_grad_is_detached():
    source = torch.rand(3, 2, 2, requires_grad=True)
    out = image_to_tensor(source)
    assert not out.requires_grad


# ------------------------------------------------------------------- numpy arrays


def test_numpy_uint8_layouts():
    gray = _noise(4, 5, channels=1)
    expected = np.repeat(gray[:, :, None], 3, axis=2)
    assert np.array_equal(_pixels(gray), expected)
    assert np.array_equal(_pixels(gray[:, :, None]), expected)
    rgb = _noise(4, 5, seed=3)
    assert np.array_equal(_pixels(rgb), rgb)
    rgba = np.concatenate([rgb, np.zeros((4, 5, 1), np.uint8)], axis=2)
    rgba[0, 0, 3] = 255
    pixels = _pixels(rgba)
    assert pixels[0, 0].tolist() == rgb[0, 0].tolist()
    assert np.all(pixels.reshape(-1, 3)[1:] == 255)  # the transparent rest is white


def test_numpy_non_contiguous_view():
    rgb = _noise(6, 8, seed=4)
    view = rgb[::2, ::-1]
    assert np.array_equal(_pixels(view), np.ascontiguousarray(view))


def test_numpy_uint16():
    values = np.array([[0, 257 * 3, 65535]], dtype=np.uint16)
    assert _pixels(values)[0, :, 0].tolist() == [0, 3, 255]
    rgb16 = np.stack([values, values, values], axis=2)
    assert _pixels(rgb16)[0].tolist() == [[0, 0, 0], [3, 3, 3], [255, 255, 255]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_float_in_range(dtype):
    array = np.array([[[0.0, 0.2, 1.0]]], dtype=dtype)
    assert _pixels(array)[0, 0].tolist() == [0, 51, 255]


def test_numpy_bool_mask():
    mask = np.array([[True, False]])
    assert _pixels(mask)[0].tolist() == [[255, 255, 255], [0, 0, 0]]


@pytest.mark.parametrize(
    ("low", "high", "hint"),
    [(0.0, 255.0, "divide by 255"), (-1.0, 1.0, "(x + 1) / 2"), (-10.0, 10.0, "rescale")],
)
def test_numpy_float_out_of_range(low, high, hint):
    array = np.linspace(low, high, 4 * 4 * 3, dtype=np.float32).reshape(4, 4, 3)
    with pytest.raises(I2IInputError) as info:
        load_image(array, name="outputs[5]")
    assert str(info.value).startswith("outputs[5]: ")
    assert hint in str(info.value)


def test_numpy_float_nan_rejected():
    array = np.full((2, 2, 3), 0.5)
    array[1, 1, 1] = np.nan
    with pytest.raises(I2IInputError, match="NaN"):
        load_image(array)


@pytest.mark.parametrize("shape", [(4, 4, 2), (4, 4, 5), (2, 4, 4, 3), (7,)])
def test_numpy_bad_shapes(shape):
    with pytest.raises(I2IInputError, match=r"^img: .*shape"):
        load_image(np.zeros(shape, dtype=np.uint8), name="img")


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((0, 4, 3), np.uint8),
        np.zeros((0, 4, 3), np.float32),
        np.zeros((4, 0), np.uint16),
        np.zeros((0, 4), np.int32),
    ],
    ids=["uint8", "float32", "uint16", "int32"],
)
def test_numpy_empty_rejected(array):
    with pytest.raises(I2IInputError, match="no pixels"):
        image_to_tensor(array)


@pytest.mark.parametrize("array", [np.zeros((2, 2, 3), np.complex64), np.array([["a", "b"]])], ids=["complex", "str"])
def test_numpy_unsupported_dtype(array):
    with pytest.raises(I2IInputError, match="dtype"):
        load_image(array)


# ------------------------------------------------------- one picture, every form


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_path_pil_numpy_bit_identical(tmp_path, mode):
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    array = _noise(9, 11, channels=channels, seed=5)
    path = tmp_path / f"picture_{mode}.png"
    Image.fromarray(array, mode=mode).save(path)
    from_path = image_to_tensor(path)
    _rgb_tensor_ok(from_path, (3, 9, 11))
    with Image.open(path) as opened:
        from_pil = image_to_tensor(opened)
        from_numpy = image_to_tensor(np.asarray(opened))
    assert torch.equal(from_path, from_pil)
    assert torch.equal(from_path, from_numpy)
    assert torch.equal(from_path, image_to_tensor(str(path)))
    if mode == "RGB":
        # A uint8 tensor of the same pixels takes the tensor path and still agrees.
        assert torch.equal(from_path, image_to_tensor(torch.from_numpy(array).permute(2, 0, 1)))
        assert torch.equal(from_path, torch.from_numpy(array).permute(2, 0, 1).float() / 255.0)


# ------------------------------------------------------------------- instructions


def test_check_instruction_strips():
    assert check_instruction("  make it brighter \n") == "make it brighter"


@pytest.mark.parametrize("text", ["", "   ", "\t\n "])
def test_empty_instruction_rejected(text):
    with pytest.raises(I2IInputError, match=r"^instruction: the instruction is empty"):
        check_instruction(text)


@pytest.mark.parametrize("text", [None, 3, b"bytes", ["make it red"]])
def test_non_str_instruction_rejected(text):
    with pytest.raises(I2IInputError, match=f"expected a str instruction, got {type(text).__name__}"):
        check_instruction(text)


def test_check_instructions_names_index():
    assert check_instructions(["a ", " b"]) == ["a", "b"]
    assert check_instructions(("a",)) == ["a"]
    assert check_instructions([]) == []
    with pytest.raises(I2IInputError, match=r"^instructions\[1\]: .*empty"):
        check_instructions(["fine", "   ", "also fine"])
    with pytest.raises(I2IInputError, match=r"^instructions\[2\]: expected a str instruction, got int"):
        check_instructions(["fine", "ok", 7])
    with pytest.raises(I2IInputError, match=r"^edits\[0\]:"):
        check_instructions([""], name="edits")


@pytest.mark.parametrize("texts", ["make it red", None, 5, {"a": 1}], ids=["str", "None", "int", "dict"])
def test_check_instructions_requires_a_list(texts):
    with pytest.raises(I2IInputError, match=rf"^instructions: expected a list of str, got {type(texts).__name__}"):
        check_instructions(texts)


# ------------------------------------------------------------------- as_image_list


def test_as_image_list_lists_and_tuples_untouched():
    items = ["a.png", np.zeros((2, 2, 3), np.uint8)]
    out = as_image_list(items, name="sources")
    assert isinstance(out, list) and out[0] == "a.png" and out[1] is items[1]
    assert as_image_list(tuple(items), name="sources")[1] is items[1]
    assert as_image_list([], name="sources") == []


def test_as_image_list_splits_tensor_batch():
    batch = torch.rand(3, 3, 4, 5, generator=torch.Generator().manual_seed(6))
    out = as_image_list(batch, name="outputs")
    assert len(out) == 3
    for i, item in enumerate(out):
        assert tuple(item.shape) == (3, 4, 5)
        assert torch.equal(item, batch[i])
        assert torch.equal(image_to_tensor(item), batch[i])


def test_as_image_list_splits_array_batch():
    batch = np.stack([_noise(4, 5, seed=s) for s in range(2)])
    out = as_image_list(batch, name="outputs")
    assert len(out) == 2
    for i, item in enumerate(out):
        assert item.shape == (4, 5, 3)
        assert np.array_equal(_pixels(item), batch[i])


@pytest.mark.parametrize(
    "images",
    ["a.png", Path("a.png"), torch.rand(3, 4, 5), np.zeros((4, 5, 3), np.uint8), Image.new("RGB", (2, 2)), None, 7],
    ids=["str", "Path", "3-D tensor", "3-D array", "PIL", "None", "int"],
)
def test_as_image_list_rejects_single_images(images):
    with pytest.raises(I2IInputError) as info:
        as_image_list(images, name="outputs")
    message = str(info.value)
    assert message.startswith("outputs: expected a list of images or a 4-D batch")
    assert type(images).__name__ in message


def test_none_instruction_is_blamed_not_the_sources():
    from i2imetric import create_metric

    metric = create_metric("test-tiny")
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    with pytest.raises(I2IInputError, match="^instructions: got None") as info:
        metric.score(image, None, image)
    assert "sources" not in str(info.value)


# ------------------------------------------------------------------ JSON files


def test_a_json_file_that_is_binary_or_of_the_wrong_kind_is_named_with_its_fix(tmp_path):
    from i2imetric.errors import CheckpointError
    from i2imetric.io.json_files import read_json_file

    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00[")
    with pytest.raises(I2IInputError, match=r"binary\.json: not valid JSON .*; download it again"):
        read_json_file(binary, fix="download it again")
    wrong = tmp_path / "object.json"
    wrong.write_text('{"a": 1}')
    with pytest.raises(CheckpointError, match=r"object\.json: expected a JSON array of rows, got dict"):
        read_json_file(wrong, fix="-", expect=list, expected="a JSON array of rows", error=CheckpointError)
    assert read_json_file(wrong, fix="-", expect=dict) == {"a": 1}


def test_imagenhub_lookup_file_that_is_not_utf8_is_an_input_error(tmp_path):
    from i2imetric.data.loaders.imagenhub import _read_lookup_file

    path = tmp_path / "dataset_lookup.json"
    path.write_bytes(b"\xff\xfe{")  # was an uncaught UnicodeDecodeError
    with pytest.raises(I2IInputError, match="dataset_lookup.json: not valid JSON .*regenerate the lookup file"):
        _read_lookup_file(str(path))
