"""Reduced decoding in the evaluation engine's workers: JPEG DCT scaling, and the pixel baselines' working size."""

import errno
import json
from functools import partial

import numpy as np
import pytest
import torch
from helpers import trained_tiny
from PIL import Image

import i2imetric.evaluation.runner as runner
import i2imetric.io.images as images
from i2imetric.data import Triplet
from i2imetric.errors import I2IInputError
from i2imetric.evaluation import items
from i2imetric.evaluation.baselines import PIXEL_BASELINE_MAX_SIDE, at_size, l2, psnr, working_size
from i2imetric.evaluation.items import DecodingDataset, FailedItem
from i2imetric.evaluation.runner import evaluate
from i2imetric.io.images import decode_reduced, image_to_tensor

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# Reduced decode vs full decode, engine scores on the 1024x768 JPEGs below (measured once):
# test-tiny (32x32 input, so decoded at 1/8, the strongest scale): max |delta score| 1.6e-2
# trained, 1.8e-2 untrained, on scores spread over 4.3 to 4.6 between the six triplets (the
# closest two 0.4 apart); random-init clip-vit-b-32 (224x224, decoded at 1/2): 8.4e-3 on a
# spread of 2.1. The moved part is the instruction sub-score; the ranking never changes.
SCORE_TOLERANCE = 3e-2
# Why L2/PSNR turn the reduced decode off: on a 2048x1536 JPEG and the same picture saved
# again at quality 70 (PSNR 45 dB at the 1024x768 working size), decoding both at 1/2
# moved the PSNR by -3.5 dB (-4.0 dB at quality 90; -6.7 dB for 4096x3072 at 1/4, and -1.4
# dB even when decoding at 1/2 there, twice the working size); an inverted box, 16.9 dB:
# -0.03 dB. A DCT-scaled decode keeps a different share of JPEG's own noise.


def _jpeg(path, seed: int, size=(768, 1024), orientation=None) -> str:
    """A smooth random picture with a little grain (JPEG's usual case), ``size`` = (height, width) as stored."""
    rng = np.random.default_rng(seed)
    height, width = size
    coarse = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((width, height), Image.BICUBIC)
    grain = rng.normal(0, 6, (height, width, 3))
    picture = Image.fromarray(np.clip(np.asarray(coarse, dtype=float) + grain, 0, 255).astype(np.uint8))
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    picture.save(path, quality=90, exif=exif)
    return str(path)


@pytest.fixture(scope="module")
def metric():
    return trained_tiny()


# ---------------------------------------------------------------------- the helper


def test_jpeg_decodes_at_the_strongest_dct_scale_that_still_covers_the_need(tmp_path):
    path = _jpeg(tmp_path / "a.jpg", 0)
    full = image_to_tensor(path)
    for need, shape in [
        ((32, 32), (96, 128)),
        ((224, 224), (384, 512)),
        ((300, 600), (768, 1024)),
        ((0, 0), (96, 128)),
    ]:
        pixels, full_size = decode_reduced(path, lambda h, w, need=need: need)
        assert full_size == (768, 1024)
        assert tuple(pixels.shape) == (3, *shape)
        assert pixels.dtype == torch.float32 and pixels.is_contiguous()
    # The same picture: at a common size it differs from the full decode by JPEG's own noise only.
    pixels, _ = decode_reduced(path, lambda h, w: (224, 224))
    assert (at_size(pixels, (96, 128)) - at_size(full, (96, 128))).abs().mean() < 1e-2


def test_need_sees_the_full_size_and_a_need_above_it_decodes_whole(tmp_path):
    path = _jpeg(tmp_path / "a.jpg", 0)
    seen = []
    pixels, _ = decode_reduced(path, lambda h, w: seen.append((h, w)) or (5000, 5000))
    assert seen == [(768, 1024)]
    assert torch.equal(pixels, image_to_tensor(path))


def test_png_decodes_whole_and_exactly_as_image_to_tensor(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(path)
    pixels, full_size = decode_reduced(path, lambda h, w: (32, 32))
    assert full_size == (300, 400)
    assert torch.equal(pixels, image_to_tensor(path))


def test_exif_orientation_is_applied_and_the_need_is_met_in_the_turned_image(tmp_path):
    # Stored 2048 wide x 512 high, EXIF 6: shown 512 wide x 2048 high.
    path = _jpeg(tmp_path / "turned.jpg", 1, size=(512, 2048), orientation=6)
    assert tuple(image_to_tensor(path).shape) == (3, 2048, 512)
    # (200, 500) cannot be met at 1/2 (which would show 256 wide): decoded whole.
    for need, shape in [((1000, 200), (1024, 256)), ((200, 500), (2048, 512)), ((32, 32), (256, 64))]:
        pixels, full_size = decode_reduced(path, lambda h, w, need=need: need)
        assert full_size == (2048, 512)
        assert tuple(pixels.shape) == (3, *shape)


def test_the_decompression_bomb_guard_still_refuses_before_decoding(tmp_path, monkeypatch):
    path = _jpeg(tmp_path / "a.jpg", 0)
    assert 4096 * 4096 < images.MAX_IMAGE_PIXELS  # a 16 Mpx photo is allowed
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 1024 * 768 - 1)
    called = []
    with pytest.raises(I2IInputError, match="decompression-bomb"):
        decode_reduced(path, lambda h, w: called.append(1) or (32, 32))
    assert called == []  # refused on the header's size, before any draft


def test_broken_files_are_refused_naming_the_file(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not a jpeg")
    with pytest.raises(I2IInputError, match="broken.jpg"):
        decode_reduced(broken, lambda h, w: (32, 32))
    with pytest.raises(I2IInputError, match="no such file"):
        decode_reduced(tmp_path / "missing.jpg", lambda h, w: (32, 32))


# ------------------------------------------------------------------- the dataset


def test_working_size_caps_the_long_side_only():
    assert working_size(512, 512) == (512, 512)
    assert working_size(PIXEL_BASELINE_MAX_SIDE, 700) == (PIXEL_BASELINE_MAX_SIDE, 700)
    assert working_size(4096, 4096) == (1024, 1024)
    assert working_size(1536, 2048) == (768, 1024)


def test_a_large_source_is_compared_at_the_working_size_and_not_kept_whole(metric, tmp_path):
    source = tmp_path / "s.png"
    output = tmp_path / "o.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (1536, 2048, 3), dtype=np.uint8)).save(source)
    Image.fromarray(rng.integers(0, 256, (1200, 1600, 3), dtype=np.uint8)).save(output)
    item = runner.WorkItem(id="x", record_index=0, source=str(source), instruction="make it red", output=str(output))
    dataset = DecodingDataset(*metric.image_preprocessors(), {"l2": l2, "psnr": psnr})
    held = dataset._load_source(str(source))[1]
    assert tuple(held.shape) == (3, 768, 1024)  # what stays for the rest of the batch
    decoded = dataset[item]
    s = at_size(image_to_tensor(source), (768, 1024))
    o = at_size(image_to_tensor(output), (768, 1024))
    assert decoded.pixel_baselines["l2"] == pytest.approx(l2(s, o), rel=1e-6)
    assert decoded.pixel_baselines["psnr"] == pytest.approx(psnr(s, o), rel=1e-6)


def _reads_fail(path: str) -> bool:
    """Whether reading ``path`` fails with an OSError here (``/proc/self/mem`` at offset 0 gives EIO on Linux)."""
    try:
        with open(path, "rb") as file:
            file.read(1)
    except OSError:
        return True
    return False


@pytest.mark.parametrize("skip_sent_sources", [False, True])
def test_a_source_that_cannot_be_read_is_its_items_error_naming_role_and_path(metric, tmp_path, skip_sent_sources):
    if not _reads_fail("/proc/self/mem"):
        pytest.skip("needs a file whose read fails with EIO (Linux /proc/self/mem)")
    output = str(tmp_path / "o.png")
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(output)
    dataset = DecodingDataset(*metric.image_preprocessors(), {}, skip_sent_sources=skip_sent_sources)
    failed = dataset[runner.WorkItem("x", 0, "/proc/self/mem", "make it red", output)]
    # With skip_sent_sources the source is hashed before it is decoded; that read used to raise.
    assert isinstance(failed, FailedItem), failed
    assert failed.reason.startswith("source: /proc/self/mem: ")


def test_a_source_without_read_permission_is_its_items_error_when_hashed_first(metric, tmp_path, monkeypatch):
    source, output = str(tmp_path / "s.png"), str(tmp_path / "o.png")
    for path in (source, output):
        Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(path)
    builtin_open = open

    def refuse_source(path, *args, **kwargs):
        # What open() raises on a file without read permission (chmod cannot stop root, who runs CI).
        if str(path) == source:
            raise PermissionError(13, "Permission denied", str(path))
        return builtin_open(path, *args, **kwargs)

    monkeypatch.setattr(items, "open", refuse_source, raising=False)  # the module's own hashing only
    dataset = DecodingDataset(*metric.image_preprocessors(), {}, skip_sent_sources=True)
    failed = dataset[runner.WorkItem("x", 0, source, "make it red", output)]
    assert isinstance(failed, FailedItem), failed
    assert failed.reason == f"source: {source}: cannot read: check its read permission"


def test_an_os_error_before_the_decoder_names_the_file_is_the_items_error(metric, tmp_path, monkeypatch):
    source, output = str(tmp_path / "s.png"), str(tmp_path / "o.png")
    for path in (source, output):
        Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(path)

    def stat_fails(path, need, name):
        # As a stat of a file in a folder the user may not enter fails, before any decoding.
        raise OSError(errno.EIO, "Input/output error", path)

    monkeypatch.setattr(items, "decode_reduced", stat_fails)
    failed = DecodingDataset(*metric.image_preprocessors(), {})[runner.WorkItem("x", 0, source, "make it red", output)]
    assert isinstance(failed, FailedItem), failed
    assert failed.reason.startswith(f"source: {source}: cannot read it (Input/output error)")


# -------------------------------------------------------------------- the engine


def _rows(path):
    with open(path, encoding="utf-8") as file:
        return [json.loads(line) for line in file][1:]


def _run(metric, records, out, reduced: bool, baselines: str, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(runner, "DecodingDataset", partial(DecodingDataset, reduced_decode=reduced))
        evaluate(metric, records, out=out, batch_size=4, num_workers=0, baselines=baselines, progress=False)
    return _rows(out)


@pytest.fixture(scope="module")
def photo_records(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    sources = [_jpeg(folder / f"s{i}.jpg", i) for i in range(2)]
    return [
        Triplet(sources[i], f"make object {i} red", _jpeg(folder / f"o{i}_{k}.jpg", 10 + 3 * i + k), id=f"{i}-{k}")
        for i in range(2)
        for k in range(3)
    ]


def test_engine_scores_with_reduced_decode_stay_close_to_a_full_decode(metric, photo_records, tmp_path, monkeypatch):
    # test-tiny takes 32x32, so 1024x768 JPEGs decode at 1/8 (128x96): the strongest reduction there is.
    full = _run(metric, photo_records, tmp_path / "full.jsonl", False, "none", monkeypatch)
    reduced = _run(metric, photo_records, tmp_path / "reduced.jsonl", True, "none", monkeypatch)
    assert [r["status"] for r in reduced] == ["ok"] * 6
    for got, want in zip(reduced, full):
        assert got["id"] == want["id"]
        assert got["score"] == pytest.approx(want["score"], abs=SCORE_TOLERANCE)
        for name, value in want["subscores"].items():
            assert got["subscores"][name] == pytest.approx(value, abs=SCORE_TOLERANCE)
    assert max(abs(g["score"] - w["score"]) for g, w in zip(reduced, full)) > 0  # the draft did act
    order = sorted(range(6), key=lambda i: full[i]["score"])
    assert sorted(range(6), key=lambda i: reduced[i]["score"]) == order


def test_pixel_baselines_at_or_below_the_working_size_decode_whole(metric, photo_records, tmp_path, monkeypatch):
    # With L2/PSNR on, files decode whole, and a 1024x768 source is its own working size: rows are unchanged.
    full = _run(metric, photo_records, tmp_path / "full.jsonl", False, "all", monkeypatch)
    reduced = _run(metric, photo_records, tmp_path / "reduced.jsonl", True, "all", monkeypatch)
    for got, want in zip(reduced, full):
        assert got["score"] == pytest.approx(want["score"], rel=1e-6, abs=1e-6)
        for name, value in want["baselines"].items():
            assert got["baselines"][name] == (None if value is None else pytest.approx(value, rel=1e-6, abs=1e-6))


def test_pixel_baselines_above_the_working_size_decode_whole(metric, tmp_path, monkeypatch):
    # 2048x1536 JPEGs: compared at 1024x768 after a whole decode, whatever reduced_decode says.
    source = _jpeg(tmp_path / "s.jpg", 0, size=(1536, 2048))
    resaved = tmp_path / "resaved.jpg"  # nearly the source: only JPEG's noise differs (high PSNR)
    Image.open(source).save(resaved, quality=70)
    other = _jpeg(tmp_path / "other.jpg", 1, size=(1536, 2048))
    records = [Triplet(source, "change nothing", str(resaved), id="same"), Triplet(source, "redo", other, id="other")]
    assert DecodingDataset(*metric.image_preprocessors(), {"psnr": psnr}).reduced_decode is False
    full = _run(metric, records, tmp_path / "full.jsonl", False, "l2,psnr", monkeypatch)
    reduced = _run(metric, records, tmp_path / "reduced.jsonl", True, "l2,psnr", monkeypatch)
    s = at_size(image_to_tensor(source), (768, 1024))
    assert reduced[0]["baselines"]["psnr"] == pytest.approx(psnr(s, at_size(image_to_tensor(resaved), (768, 1024))))
    assert reduced[0]["baselines"]["psnr"] > 40
    for got, want in zip(reduced, full):
        assert got["score"] == pytest.approx(want["score"], rel=1e-6, abs=1e-6)
        for name, value in want["baselines"].items():
            assert got["baselines"][name] == pytest.approx(value, rel=1e-6, abs=1e-6)
