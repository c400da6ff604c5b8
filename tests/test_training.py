"""The trainer on tiny configs, a few steps each: it learns, resumes, and saves what it saw."""

import json
import random

import pytest
import torch
from safetensors.torch import load_file

import i2imetric
from i2imetric.errors import ConfigError
from i2imetric_training.config import load_pretrain_config, load_train_config
from i2imetric_training.data import GroupMixture, ShapesWorldGroups, validation_groups
from i2imetric_training.losses import bradley_terry_loss, clip_contrastive_loss, hinge_loss, pairwise_targets
from i2imetric_training.train import collate_groups, group_loss, score_groups, train

TINY = (
    "model=test-tiny",
    "steps=6",
    "checkpoint_every=2",
    "log_every=1",
    "calibrate=false",
    "data.image_size=32",
    "data.groups_per_step=2",
    "data.sources=[{kind: shapesworld}]",
    "validation.every=3",
    "validation.shapes_count=3",
    "validation.photo_crops=0",
)


def _config(tmp_path, *extra):
    return load_train_config(None, TINY + (f"output_dir={tmp_path}",) + extra)


# ---------------------------------------------------------------------- losses


def test_bradley_terry_ties_are_half():
    a, b = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 0.0])
    targets = pairwise_targets(["a", "tie"])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(a - b, targets)
    assert bradley_terry_loss(a, b, targets) == pytest.approx(expected.item())
    assert pairwise_targets(["b", "both_bad", 0.25]).tolist() == [0.0, 0.5, 0.25]


def test_hinge_loss_margin_and_ties():
    a, b = torch.tensor([1.0, 0.2, 0.0]), torch.tensor([0.0, 0.0, 0.9])
    # a wins by 1 (no loss), a wins by 0.2 (0.3 short of the margin), tie 0.9 apart (0.4 too far)
    loss = hinge_loss(a, b, torch.tensor([1.0, 1.0, 0.5]), margin=0.5)
    assert loss.item() == pytest.approx((0.0 + 0.3 + 0.4) / 3)


def test_contrastive_loss_matches_hand_computation():
    images = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.6, 0.8]]), dim=-1)
    texts = torch.nn.functional.normalize(torch.tensor([[1.0, 0.1], [0.0, 1.0]]), dim=-1)
    logit_scale = torch.tensor(2.0)
    logits = logit_scale.exp() * images @ texts.t()
    by_hand = 0.0
    for i in range(2):
        by_hand += -torch.log_softmax(logits[i], 0)[i] - torch.log_softmax(logits[:, i], 0)[i]
    assert clip_contrastive_loss(images, texts, logit_scale).item() == pytest.approx(by_hand.item() / 4)


# ----------------------------------------------------------------------- config


def test_overrides_and_bad_keys(tmp_path):
    config = _config(tmp_path, "optim.lr=0.02", "loss.pairwise=hinge")
    assert config.optim.lr == 0.02 and config.loss.pairwise == "hinge" and config.steps == 6
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['lrr'\]; valid keys: .*'lr'"):
        load_train_config(None, ("optim.lrr=1",))
    with pytest.raises(ConfigError, match="key=value"):
        load_train_config(None, ("steps",))
    with pytest.raises(ConfigError, match="unknown kind"):
        load_train_config(None, ("data.sources=[{kind: videos}]",))


def test_shipped_configs_parse():
    assert load_train_config("configs/demo_scorer.yaml").model == "shapesclip"
    assert load_train_config("configs/finetune_domain.yaml", ("data.sources.0.images=/data",)).data.sources[0].images == "/data"
    assert load_pretrain_config("configs/shapesclip_pretrain.yaml").model == "shapesclip"


# ------------------------------------------------------------------------- data


def test_mixture_is_a_pure_function_of_step():
    mixture = GroupMixture([ShapesWorldGroups(32)], [1.0], seed=3)
    first, again = mixture.batch(5, 2), mixture.batch(5, 2)
    assert [g.instruction for g in first] == [g.instruction for g in again]
    assert all(torch.equal(a.preferred, b.preferred) for a, b in zip(first, again))
    assert [g.instruction for g in mixture.batch(6, 2)] != [g.instruction for g in first]


def test_training_and_validation_shapes_never_share_seeds():
    from i2imetric.shapesworld import HELDOUT_SEED_START

    source = ShapesWorldGroups(32)
    rng = random.Random(0)
    drawn = [source.seed_offset + rng.randrange(source.seed_range) for _ in range(1000)]
    assert max(drawn) < HELDOUT_SEED_START


def test_collate_encodes_each_source_once():
    groups = GroupMixture([ShapesWorldGroups(32)], [1.0]).batch(0, 2)
    images, instructions, triplets, pairs = collate_groups(groups)
    assert len(images) == sum(2 + len(g.rejected) for g in groups)
    assert len(pairs["preferred"]) == sum(len(g.rejected) for g in groups)
    assert set(triplets[:, 0].tolist()) == {0, 2 + len(groups[0].rejected)}


# ---------------------------------------------------------------------- training


def test_loss_goes_down_on_a_tiny_overfit_set():
    torch.manual_seed(0)
    metric = i2imetric.create_metric("test-tiny", seed=0)
    metric.train()
    groups = GroupMixture([ShapesWorldGroups(32)], [1.0]).batch(0, 2)
    images, instructions, triplets, pairs = collate_groups(groups)
    config = load_train_config(None, ("loss.subscore_weight=0.5",))
    optimizer = torch.optim.AdamW([p for p in metric.parameters() if p.requires_grad], lr=5e-3)
    losses = []
    for _ in range(12):
        loss, _ = group_loss(metric(images, instructions, triplets), pairs, config)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_training_changes_only_lora_and_head(tmp_path):
    before = {n: p.detach().clone() for n, p in i2imetric.create_metric("test-tiny", seed=0).named_parameters()}
    result = train(_config(tmp_path / "run"))
    trained = i2imetric.load_metric(result.best_dir)
    changed = set()
    for name, parameter in trained.named_parameters():
        if not torch.equal(parameter, before[name]):
            changed.add(name)
    assert changed, "training changed nothing"
    assert all("lora_" in n or n.startswith("head.") for n in changed), sorted(changed)[:5]
    frozen = [n for n in before if "lora_" not in n and not n.startswith("head.")]
    assert all(torch.equal(dict(trained.named_parameters())[n], before[n]) for n in frozen)


def test_saved_checkpoint_reproduces_validation_scores(tmp_path):
    config = _config(tmp_path / "run")
    result = train(config)
    stored = json.loads((result.best_dir / "validation.json").read_text())
    metric = i2imetric.load_metric(result.best_dir)
    sets = validation_groups(32, shapes_count=3, photo_crops=0)
    rows = score_groups(metric, sets["shapes_heldout_seeds"])
    accuracy = sum(r["right"] > r["wrong"] for r in rows) / len(rows)
    assert accuracy == pytest.approx(stored["shapes_heldout_seeds"]["accuracy"])
    assert (result.best_dir / "train_config.yaml").is_file()
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert any("validation" in row for row in log) and any("loss" in row for row in log)


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path):
    uninterrupted = train(_config(tmp_path / "straight"))
    interrupted = _config(tmp_path / "resumed")
    partial = train(interrupted, stop_after_step=4)  # state saved at step 4, then "killed"
    assert partial.steps == 4
    resumed = train(interrupted)
    assert resumed.steps == 6
    assert resumed.best_accuracy == pytest.approx(uninterrupted.best_accuracy)
    straight = load_file(str(uninterrupted.best_dir / "model.safetensors"))
    again = load_file(str(resumed.best_dir / "model.safetensors"))
    assert straight.keys() == again.keys()
    for name in straight:
        torch.testing.assert_close(again[name], straight[name], atol=1e-6, rtol=1e-5)


def test_head_only_training_keeps_encoders_frozen(tmp_path):
    result = train(_config(tmp_path / "head", "model_overrides={trainable: head}"))
    saved = load_file(str(result.best_dir / "model.safetensors"))
    assert saved and all(name.startswith("head.") for name in saved)


def test_pretrain_writes_a_base_that_loads(tmp_path):
    from i2imetric_training.pretrain import pretrain

    output = tmp_path / "base.safetensors"
    config = load_pretrain_config(None, ("model=test-tiny", "steps=2", "batch_size=4", "image_size=32",
                                         "warmup_steps=1", f"output={output}"))
    pretrain(config)
    record = json.loads(output.with_suffix(".json").read_text())
    metric = i2imetric.create_metric("test-tiny", pretrained=str(output))
    assert metric.base_source.sha256 == record["sha256"]


def test_manifest_groups_labels_and_both_bad_reference(tmp_path):
    from PIL import Image

    from i2imetric.datasets import Pairwise, write_manifest
    from i2imetric_training.data import ManifestGroups

    for name, value in [("src", 10), ("a", 90), ("b", 170), ("ref", 250)]:
        Image.new("RGB", (16, 12), (value, value, value)).save(tmp_path / f"{name}.png")
    paths = {n: str(tmp_path / f"{n}.png") for n in ("src", "a", "b")}
    records = [
        Pairwise(paths["src"], "brighten", paths["a"], paths["b"], "b", id="1"),
        Pairwise(paths["src"], "brighten", paths["a"], paths["b"], "both_bad", id="2", extra={"reference": "ref.png"}),
        Pairwise(None, "a cat", paths["a"], paths["b"], "a", id="3"),  # text-to-image: unusable here
    ]
    write_manifest(tmp_path / "m.jsonl", records)
    with pytest.warns(UserWarning, match="1 of 3 records"):
        source = ManifestGroups(tmp_path / "m.jsonl")
    by_id = {}
    for seed in range(20):
        group = source.sample(random.Random(seed))
        by_id[len(group.rejected)] = group
    assert by_id[1].labels == [0.0]  # "b": output_b preferred
    both_bad = by_id[2]
    assert both_bad.labels == [1.0, 1.0] and both_bad.preferred.mean() > 0.95  # the white reference wins


def test_rating_groups_rank_within_prompt_and_pick_the_failing_aspect(tmp_path):
    from PIL import Image

    from i2imetric.datasets import Rating, write_manifest
    from i2imetric_training.data import RatingGroups

    for name, value in [("src", 10), ("good", 250), ("blurry", 120), ("wrong", 60)]:
        Image.new("RGB", (16, 12), (value, value, value)).save(tmp_path / f"{name}.png")
    path = {n: str(tmp_path / f"{n}.png") for n in ("src", "good", "blurry", "wrong")}
    records = []
    for rater in ("r1", "r2"):
        records += [
            Rating(path["src"], "add a hat", path["good"], 1.0, aspects={"SC": 1.0, "PQ": 1.0}, rater=rater),
            Rating(path["src"], "add a hat", path["blurry"], 0.7, aspects={"SC": 1.0, "PQ": 0.5}, rater=rater),
            Rating(path["src"], "add a hat", path["wrong"], 0.0, aspects={"SC": 0.0, "PQ": 1.0}, rater=rater),
        ]
    write_manifest(tmp_path / "ratings.jsonl", records)
    group = RatingGroups(tmp_path / "ratings.jsonl").sample(random.Random(0))
    assert group.preferred.mean() > 0.95  # the top-rated output is the one preferred
    assert len(group.rejected) == 2 and group.labels == [1.0, 1.0]
    assert group.aspects == ["quality", "instruction"]  # blurry loses on PQ, wrong on SC


def test_score_loss_trains_the_patch_map():
    """The map's residual is part of the score, so the pairwise loss reaches its output layer."""
    metric = i2imetric.create_metric("test-tiny", seed=0)
    metric.train()
    images, instructions, triplets, pairs = collate_groups(GroupMixture([ShapesWorldGroups(32)], [1.0]).batch(0, 2))
    loss, _ = group_loss(metric(images, instructions, triplets), pairs, load_train_config(None))
    loss.backward()
    assert metric.head.patch_out.weight.grad.abs().sum() > 0
