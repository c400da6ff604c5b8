"""Baselines against hand computations, alone and as the evaluation engine writes them."""

import math
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from helpers import write_png

import i2imetric
from i2imetric.data import Triplet
from i2imetric.errors import I2IInputError
from i2imetric.evaluation.baselines import BASELINES, PSNR_CAP_DB, at_source_size, l2, psnr, resolve_baselines
from i2imetric.evaluation.results import read_rows
from i2imetric.evaluation.runner import evaluate
from i2imetric.io.images import image_to_tensor

pytestmark = pytest.mark.usefixtures("one_torch_thread")


_png = partial(write_png, size=(16, 20))


def _evaluated_rows(metric, records, tmp_path, baselines):
    out = tmp_path / "rows.jsonl"
    evaluate(metric, records, out=out, batch_size=2, num_workers=0, baselines=baselines)
    return list(read_rows(out))  # the rows, without the file's header line


# ------------------------------------------------------------------------ pixels


def test_l2_and_psnr_of_known_images():
    black = torch.zeros(3, 4, 4)
    grey = torch.full((3, 4, 4), 0.1)
    assert l2(black, grey) == pytest.approx(0.01)
    assert psnr(black, grey) == pytest.approx(20.0)  # 10 * log10(1 / 0.01)
    assert psnr(grey, grey) == PSNR_CAP_DB
    half = black.clone()
    half[:, :, :2] = 1.0
    assert l2(black, half) == pytest.approx(0.5) and psnr(black, half) == pytest.approx(10 * math.log10(2))


def test_outputs_are_compared_at_the_source_size():
    source = torch.rand(3, 10, 12)
    assert at_source_size(source, source) is source
    output = torch.full((3, 20, 24), 0.25)
    resized = at_source_size(source, output)
    assert resized.shape == source.shape and torch.allclose(resized, torch.full_like(source, 0.25))


# ---------------------------------------------------------------------- features


@pytest.fixture(scope="module")
def metric():
    return i2imetric.create_metric("test-tiny", seed=0)


@pytest.fixture
def triplets(tmp_path):
    captions = {"source_caption": "a photo of a cat", "target_caption": "a photo of a red cat"}
    return [
        Triplet(_png(tmp_path / "s0.png", 0), "make it red", _png(tmp_path / "o0.png", 1), id="a", extra=captions),
        Triplet(_png(tmp_path / "s1.png", 2), "add a hat", _png(tmp_path / "o1.png", 3, size=(32, 40)), id="b"),
        Triplet(str(tmp_path / "s0.png"), "make it blue", str(tmp_path / "o1.png"), id="c"),
    ]


def test_clip_baselines_are_cosines_of_the_metrics_own_features(metric, triplets, tmp_path):
    rows = _evaluated_rows(metric, triplets, tmp_path, "clip_t,clip_i,clip_dir,clip_dir_captions,patch_preservation")

    with torch.no_grad():
        source = metric.encode_images([image_to_tensor(t.source) for t in triplets])
        output = metric.encode_images([image_to_tensor(t.output) for t in triplets])
        text = metric.encode_instructions([t.instruction for t in triplets]).pooled
        source_caption, target_caption = metric.encode_instructions(["a photo of a cat", "a photo of a red cat"]).pooled
    expected = {
        "clip_t": F.cosine_similarity(output.pooled, text),
        "clip_i": F.cosine_similarity(output.pooled, source.pooled),
        "clip_dir": F.cosine_similarity(output.pooled - source.pooled, text),
        "patch_preservation": F.cosine_similarity(output.patches, source.patches, dim=-1).mean(-1),
    }
    for name, values in expected.items():
        assert [row["baselines"][name] for row in rows] == pytest.approx(values.tolist(), abs=1e-5), name
    ip2p = F.cosine_similarity(output.pooled[0] - source.pooled[0], target_caption - source_caption, dim=0)
    assert rows[0]["baselines"]["clip_dir_captions"] == pytest.approx(float(ip2p), abs=1e-5)
    assert rows[1]["baselines"]["clip_dir_captions"] is None  # no captions, no value


def test_pixel_baselines_in_rows_match_hand_computation(metric, triplets, tmp_path):
    rows = _evaluated_rows(metric, triplets, tmp_path, "l2,psnr")

    for row, triplet in zip(rows, triplets):
        source, output = image_to_tensor(triplet.source), image_to_tensor(triplet.output)
        output = F.interpolate(output[None], size=source.shape[-2:], mode="bilinear", antialias=True)[0].clamp(0, 1)
        mse = float(((output - source) ** 2).mean())
        assert row["baselines"]["l2"] == pytest.approx(mse, rel=1e-5)
        assert row["baselines"]["psnr"] == pytest.approx(-10 * math.log10(mse), rel=1e-5)


def test_vit_patch_uses_the_timm_encoders_patch_tokens(triplets, tmp_path):
    metric = i2imetric.create_metric("test-tiny-timm", seed=0)
    rows = _evaluated_rows(metric, triplets, tmp_path, "all")

    with torch.no_grad():
        source = metric.encode_images([image_to_tensor(t.source) for t in triplets])
        output = metric.encode_images([image_to_tensor(t.output) for t in triplets])
    expected = F.cosine_similarity(output.timm_patches, source.timm_patches, dim=-1).mean(-1)
    assert [row["baselines"]["vit_patch"] for row in rows] == pytest.approx(expected.tolist(), abs=1e-5)
    assert list(rows[0]["baselines"]) == list(BASELINES)


# ------------------------------------------------------------------------ choice


def test_resolve_baselines_by_name_all_and_none():
    assert [b.name for b in resolve_baselines("psnr, clip_t", has_timm=False)] == ["clip_t", "psnr"]
    assert [b.name for b in resolve_baselines(["clip_i"], has_timm=False)] == ["clip_i"]
    assert "vit_patch" not in [b.name for b in resolve_baselines("all", has_timm=False)]
    assert len(resolve_baselines("all", has_timm=True)) == len(BASELINES)
    assert resolve_baselines("none", has_timm=True) == resolve_baselines(None, has_timm=True) == []
    assert BASELINES["l2"].higher_is_better is False


def test_what_a_baseline_needs_is_a_field_not_its_name():
    assert [b.name for b in BASELINES.values() if b.needs_timm] == ["vit_patch"]
    assert [b.name for b in BASELINES.values() if b.needs_captions] == ["clip_dir_captions"]


def test_resolve_baselines_refuses_unknown_names_and_vit_patch_without_timm():
    with pytest.raises(I2IInputError, match="unknown baseline"):
        resolve_baselines("clip_t,fid", has_timm=True)
    with pytest.raises(I2IInputError, match="timm"):
        resolve_baselines("vit_patch", has_timm=False)
