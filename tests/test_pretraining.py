"""Pretraining the bases from scratch: the data pool of ShapesCLIP's and the DINO-style timm ViT (Q2)."""

import json

import pytest
import torch
from accelerate import Accelerator
from safetensors.torch import load_file

import i2imetric
from i2imetric.errors import ConfigError
from i2imetric_training.config import load_pretrain_config, load_ssl_pretrain_config
from i2imetric_training.pretrain import CaptionedBatches, distinct_examples

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _batches(*overrides):
    return CaptionedBatches(load_pretrain_config(None, ("batch_size=4", "image_size=32", *overrides)))


def _same(a, b) -> bool:
    (images_a, captions_a), (images_b, captions_b) = a, b
    return captions_a == captions_b and all(torch.equal(x, y) for x, y in zip(images_a, images_b, strict=True))


def test_without_a_pool_every_example_is_fresh_and_the_stream_is_unchanged():
    fresh = _batches()
    # The default config's stream at seed 0 (groups of one edit: no siblings, which the shipped
    # base's config also draws): a pool must not have changed it.
    assert fresh.batch(0)[1][:3] == [
        "a large blue triangle at the top left, a small purple circle at the top right and a small yellow star on "
        "the left on a striped background",
        "draw a red square in the middle",
        "a small blue cross at the top right, a small red triangle in the middle and a large red cross at the bottom "
        "left on a checkered background",
    ]
    assert fresh.batch(0)[1] != fresh.batch(1)[1]
    # A pool as large as the run changes nothing.
    whole = _batches("pool_size=12")
    assert all(_same(whole.batch(step), fresh.batch(step)) for step in range(3))


def test_a_pool_cycles_the_first_examples_of_the_fresh_stream():
    fresh, pooled = _batches(), _batches("pool_size=6")
    # Run examples 12..15 are pool examples 0..3: the same images and captions as run examples 0..3.
    assert _same(pooled.batch(3), pooled.batch(0)) and _same(pooled.batch(0), fresh.batch(0))
    # Run examples 4..7 are pool examples 4, 5, 0, 1: the end of the pool, then its start again.
    images, captions = pooled.batch(1)
    fresh_images = fresh.batch(0)[0] + fresh.batch(1)[0]
    fresh_captions = fresh.batch(0)[1] + fresh.batch(1)[1]
    assert captions == [fresh_captions[4], fresh_captions[5], fresh_captions[0], fresh_captions[1]]
    assert all(torch.equal(a, fresh_images[k]) for a, k in zip(images, (4, 5, 0, 1)))
    assert distinct_examples(load_pretrain_config(None, ("steps=10", "batch_size=4", "pool_size=6"))) == 6
    assert distinct_examples(load_pretrain_config(None, ("steps=10", "batch_size=4"))) == 40


def test_described_share_recaptions_grammar_crops_and_keeps_the_images():
    plain, described = _batches(), _batches("described_share=1.0")
    for step in range(4):
        (images_a, captions_a), (images_b, captions_b) = plain.batch(step), described.batch(step)
        assert all(torch.equal(a, b) for a, b in zip(images_a, images_b, strict=True))
        # Only grammar crops change caption; scenes and canonical strings stay.
        changed = [a != b for a, b in zip(captions_a, captions_b, strict=True)]
        assert sum(changed) < len(changed)
    assert any(a != b for step in range(4) for a, b in zip(plain.batch(step)[1], described.batch(step)[1]))


def test_grammar_groups_edit_one_crop_with_siblings_that_differ_in_one_respect():
    import random

    from i2imetric.data.synthetic import edits, grammar, photos
    from i2imetric_training.pretrain import _visible_sibling

    rng = random.Random(0)
    training_photos = photos.training_photos()
    found_count = 0
    for _ in range(60):
        crop = photos.random_crop(training_photos[rng.randrange(len(training_photos))], rng).resize((48, 48))
        spec = grammar.sample_spec(rng, "train")
        specs, images = [spec], [grammar.render(spec, crop, seed=0)[0]]
        for render_seed in (1, 2, 3):
            found = _visible_sibling(spec, crop, render_seed, specs, images, rng)
            if found is None:
                continue
            sibling, image = found
            assert sibling not in specs and grammar.in_split(sibling, "train")
            assert sibling.op == spec.op or sibling.region == spec.region
            # No false negatives: a sibling never looks like an image already in its group.
            assert all(edits.visibly_different(image, other) for other in images)
            specs.append(sibling)
            images.append(image)
            found_count += 1
    assert found_count >= 150  # nearly every draw finds one (of 180)
    grouped = _batches("grammar_group_size=3", "grammar_share=1.0", "photo_share=0.0")
    images, captions = grouped.batch(0)
    assert len(images) == len(captions) == 4 and len(set(captions)) == 4
    # The first three examples are one group: three edits of the same crop (same size).
    assert images[0].shape == images[1].shape == images[2].shape
    with pytest.raises(ConfigError, match=r"grammar_group_size: expected a positive integer"):
        load_pretrain_config(None, ("grammar_group_size=0",))


def test_sibling_changes_can_hold_siblings_to_one_respect():
    import random

    from i2imetric.data.synthetic import grammar, photos
    from i2imetric_training.pretrain import _visible_sibling

    rng = random.Random(3)
    crop = photos.random_crop(photos.training_photos(96)[0], rng)
    found = 0
    for _ in range(40):
        spec = grammar.sample_spec(rng, "train")
        sibling = _visible_sibling(spec, crop, 1, [spec], [grammar.render(spec, crop, seed=0)[0]], rng, ("region",))
        if sibling is not None:  # the same edit, elsewhere: only reading "where" tells them apart
            assert (sibling[0].op, sibling[0].degree) == (spec.op, spec.degree) and sibling[0].region != spec.region
            found += 1
    assert found >= 20
    assert load_pretrain_config(None, ("sibling_changes=[region]",)).sibling_changes == ["region"]
    for bad in ("[]", "[where]", "[region, region]", "region"):
        with pytest.raises(ConfigError, match=r"sibling_changes: expected a non-empty list of distinct changes"):
            load_pretrain_config(None, (f"sibling_changes={bad}",))


def test_described_share_must_be_a_share():
    with pytest.raises(ConfigError, match=r"described_share: expected a share in \[0, 1\]"):
        load_pretrain_config(None, ("described_share=1.5",))


@pytest.mark.parametrize("bad", ["0", "-3", "'12'", "true", "2.5"])
def test_pool_size_must_be_a_positive_integer(bad):
    with pytest.raises(ConfigError, match=r"pool_size: expected a positive integer"):
        load_pretrain_config(None, (f"pool_size={bad}",))


@pytest.mark.parametrize(("override", "key"), [("steps=0", "steps"), ("batch_size=0", "batch_size"),
                                               ("log_every=0", "log_every"), ("image_size=-1", "image_size"),
                                               ("lr=0", "lr"), ("warmup_steps=-5", "warmup_steps")])  # fmt: skip
def test_pretraining_sizes_are_validated_before_any_work(override, key):
    # Once crashed deep in the loop (an unbound loss at steps=0, a division by log_every=0).
    with pytest.raises(ConfigError, match=key):
        load_pretrain_config(None, (override,))
    with pytest.raises(ConfigError, match=key):
        load_ssl_pretrain_config("shapesvit_dino_pretrain", (override,))


# ------------------------------------------------------------------ the DINO-style ViT

TINY_SSL = ("batch_size=4", "image_size=32", "warmup_steps=1", "out_dim=16", "hidden_dim=32", "bottleneck_dim=8",
            "save_dtype=float32")  # fmt: skip


def test_pretrain_ssl_writes_a_backbone_the_metric_loads(tmp_path):
    from i2imetric_training.pretrain_ssl import pretrain_ssl

    output = tmp_path / "vit.safetensors"
    pretrain_ssl(load_ssl_pretrain_config("shapesvit_dino_pretrain", (*TINY_SSL, "steps=2", f"output={output}")))
    record = json.loads(output.with_suffix(".json").read_text())
    saved = load_file(str(output))
    assert not any(name.startswith(("head.", "mlp.", "prototypes")) for name in saved)  # no DINO head
    metric = i2imetric.create_metric("shapesclip_timm", timm_pretrained=str(output))
    assert metric.timm_source.sha256 == record["sha256"] and record["network"] == "teacher"
    # Every tensor of the tower came from the file (LoRA wraps the linear layers as base_layer).
    loaded = {name.replace(".base_layer", ""): t for name, t in metric.timm.model.state_dict().items() if "lora_" not in name}
    assert sorted(loaded) == sorted(saved)
    assert all(torch.equal(loaded[name], saved[name]) for name in saved)
    assert record["distinct_examples"] == 8 and record["final_prototypes_used"] >= 1


def test_the_teacher_moves_only_by_the_ema_of_the_student():
    from i2imetric_training.pretrain_ssl import SelfDistillation, teacher_momentum

    config = load_ssl_pretrain_config("shapesvit_dino_pretrain", (*TINY_SSL, "steps=3"))
    run = SelfDistillation(config, Accelerator())
    student = run.accelerator.unwrap_model(run.student)
    before = [p.detach().clone() for p in run.teacher.parameters()]
    assert all(torch.equal(t, s) for t, s in zip(before, student.parameters()))  # the teacher starts as the student
    images, _ = CaptionedBatches(config).batch(0)
    parts = run.step(run.views(images, 0), 0)
    momentum = teacher_momentum(config, 0)
    assert momentum == pytest.approx(config.teacher_momentum)
    moved = False
    for teacher, old, new in zip(run.teacher.parameters(), before, student.parameters()):
        assert not teacher.requires_grad and teacher.grad is None
        torch.testing.assert_close(teacher, momentum * old + (1 - momentum) * new.detach(), rtol=0, atol=1e-6)
        moved |= not torch.equal(new, old)
    assert moved and torch.isfinite(torch.tensor(parts["loss"]))
    assert not torch.equal(run.center, torch.zeros_like(run.center))
    assert teacher_momentum(config, config.steps - 1) == pytest.approx(1.0)


def test_views_are_reproducible_augmented_and_at_the_vits_size():
    from i2imetric_training.pretrain_ssl import SelfDistillation

    config = load_ssl_pretrain_config("shapesvit_dino_pretrain", (*TINY_SSL, "steps=1"))
    run = SelfDistillation(config, Accelerator())
    images, _ = CaptionedBatches(config).batch(0)
    first, second = run.views(images, 0)
    assert first.shape == second.shape == (4, 3, 64, 64)  # shapesclip_timm's ViT takes 64 px
    assert not torch.equal(first, second)
    assert all(torch.equal(a, b) for a, b in zip(run.views(images, 0), (first, second)))
    assert not torch.equal(run.views(images, 1)[0], first)


def test_dino_loss_prefers_a_student_that_agrees_with_the_other_views_teacher():
    from i2imetric_training.pretrain_ssl import dino_loss

    teacher = [torch.eye(4) * 5, torch.eye(4) * 5]
    center = torch.zeros(1, 4)
    agreeing = dino_loss([torch.eye(4) * 5, torch.eye(4) * 5], teacher, center, 0.1, 0.04)
    disagreeing = dino_loss([torch.eye(4).roll(1, 0) * 5] * 2, teacher, center, 0.1, 0.04)
    assert agreeing < disagreeing


@pytest.mark.parametrize(("override", "key"), [("crop_scale=[0.8, 0.2]", "crop_scale"), ("teacher_temp=0", "teacher_temp"),
                                               ("out_dim=0", "out_dim"), ("color_jitter=1.5", "color_jitter"),
                                               ("teacher_momentum=2", "teacher_momentum")])  # fmt: skip
def test_ssl_settings_are_validated_naming_the_key(override, key):
    with pytest.raises(ConfigError, match=key):
        load_ssl_pretrain_config("shapesvit_dino_pretrain", (override,))


def test_pretrain_ssl_needs_a_model_with_a_timm_section():
    from i2imetric_training.pretrain_ssl import timm_encoder

    with pytest.raises(ConfigError, match=r"model: 'shapesclip' has no timm section"):
        timm_encoder("shapesclip")


def test_both_pretraining_configs_draw_the_same_images():
    clip = load_pretrain_config("shapesclip_pretrain")
    dino = load_ssl_pretrain_config("shapesvit_dino_pretrain")
    for key in ("seed", "batch_size", "photo_share", "grammar_share", "grammar_group_size", "image_size", "pool_size", "steps"):
        assert getattr(clip, key) == getattr(dino, key), key


# ------------------------------------------------------------------ the vocabulary probe


def test_the_vocabulary_probe_measures_nearest_neighbours_against_chance(tmp_path):
    from i2imetric_training.probe_vocabulary import _chance, main, probe

    assert _chance(["a", "a", "b", "b"]) == pytest.approx(1 / 3, abs=1e-4)
    result = probe(i2imetric.create_metric("test-tiny", seed=0), count=24, seed=1)
    assert set(result) == {"specs", "chance_operation", "chance_region", "heldout_phrasing", "train_phrasing"}
    for kind in ("heldout_phrasing", "train_phrasing"):
        assert set(result[kind]) == {"operation", "region"}
        assert all(0.0 <= value <= 1.0 for value in result[kind].values())
    checkpoint = tmp_path / "ckpt"
    i2imetric.create_metric("test-tiny", seed=0).save_pretrained(checkpoint)
    out = tmp_path / "probe.json"
    assert main(["--metric", f"tiny={checkpoint}", "--count", "12", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["tiny"]["specs"] == 12


def test_the_vocabulary_probe_names_a_bad_argument(tmp_path):
    from i2imetric.errors import I2IInputError
    from i2imetric_training.probe_vocabulary import main

    with pytest.raises(I2IInputError, match="expected NAME=PATH"):
        main(["--base", "no-equals-sign"])
    with pytest.raises(I2IInputError, match="does not exist"):
        main(["--metric", f"x={tmp_path / 'missing'}"])
