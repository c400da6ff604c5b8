"""The trainer on tiny configs, a few steps each: it learns, resumes, and saves what it saw."""

import json
import math
import random
import shutil
import types

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import i2imetric
from i2imetric.errors import ConfigError, I2IInputError
from i2imetric_training.config import load_pretrain_config, load_train_config
from i2imetric_training.data import GroupMixture, ShapesWorldGroups, validation_groups
from i2imetric_training.losses import bradley_terry_loss, clip_contrastive_loss, hinge_loss, pairwise_targets
from i2imetric_training.train import build_mixture, collate_groups, group_loss, score_groups, train

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
    from i2imetric.data.synthetic.shapesworld import HELDOUT_SEED_START

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
    trained = i2imetric.load_metric(result.best_dir, merge_adapters=False)  # merged, the base would differ
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

    from i2imetric.data import Pairwise, write_manifest
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

    from i2imetric.data import Rating, write_manifest
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


# ------------------------------------------------------------- training state


def _model_tensors(best_dir):
    return load_file(str(best_dir / "model.safetensors"))


def _assert_same_model(a, b):
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(b[name], a[name], atol=1e-6, rtol=1e-5)


@pytest.fixture(scope="module")
def saved_runs(tmp_path_factory):
    """An uninterrupted 6-step run, one stopped after its step-4 save, and another seed's step-2 state."""
    root = tmp_path_factory.mktemp("runs")
    straight = train(_config(root / "straight"))
    train(_config(root / "partial"), stop_after_step=4)
    train(_config(root / "other", "seed=1"), stop_after_step=2)
    return {"root": root, "straight": _model_tensors(straight.best_dir), "accuracy": straight.best_accuracy}


def _copy_partial(saved_runs, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(saved_runs["root"] / "partial", run_dir)
    return run_dir


class _Trap:
    """Unpickling it creates a marker file: proof that something unpickled a planted file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _plant_pickles(folder, marker):
    import pickle

    payload = pickle.dumps(_Trap(marker))
    for name in ("custom_checkpoint_0.pkl", "random_states_0.pkl", "optimizer.bin", "scheduler.bin", "scaler.pt"):
        (folder / name).write_bytes(payload)
    return payload


def test_state_folder_is_safetensors_and_json(saved_runs):
    state_dir = saved_runs["root"] / "partial" / "state"
    names = sorted(p.name for p in state_dir.iterdir())
    assert names == ["model.safetensors", "optimizer.json", "optimizer.safetensors", "rng-0.json",
                     "rng-0.safetensors", "scheduler.json", "state.json"]
    manifest = json.loads((state_dir / "state.json").read_text())
    assert manifest["step"] == 4 and set(manifest["files"]) == set(names) - {"state.json"}
    optimizer = load_file(str(state_dir / "optimizer.safetensors"))
    assert any(key.endswith("::exp_avg_sq") for key in optimizer) and any(key.endswith("::step") for key in optimizer)
    assert load_file(str(state_dir / "rng-0.safetensors"))["torch"].dtype == torch.uint8


def test_resume_never_unpickles_files_planted_in_the_state(saved_runs, tmp_path, monkeypatch):
    import pickle

    run_dir = _copy_partial(saved_runs, tmp_path)
    marker = tmp_path / "unpickled"
    payload = _plant_pickles(run_dir / "state", marker)
    pickle.loads(payload)  # the trap works: unpickling it does create the marker
    assert marker.exists()
    marker.unlink()

    def refuse(*args, **kwargs):
        raise AssertionError("training state must never be unpickled")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    resumed = train(_config(run_dir))
    assert resumed.steps == 6 and not marker.exists()
    _assert_same_model(saved_runs["straight"], _model_tensors(resumed.best_dir))


def test_an_accelerate_pickle_state_is_refused_not_loaded(tmp_path):
    from i2imetric.errors import CheckpointError

    state_dir = tmp_path / "run" / "state"
    state_dir.mkdir(parents=True)
    marker = tmp_path / "unpickled"
    _plant_pickles(state_dir, marker)
    with pytest.raises(CheckpointError, match=r"pickle format .*--fresh"):
        train(_config(tmp_path / "run"))
    assert not marker.exists()


def _damage(state_dir, how, other_state):
    if how == "missing":
        (state_dir / "optimizer.safetensors").unlink()
        return "optimizer.safetensors"
    if how == "corrupt_json":
        (state_dir / "state.json").write_text('{"format": "i2imetric-training-state", "vers')
        return "state.json"
    if how == "truncated_safetensors":
        data = (state_dir / "model.safetensors").read_bytes()
        (state_dir / "model.safetensors").write_bytes(data[: len(data) // 2])
        return "model.safetensors"
    if how == "corrupt_safetensors_rehashed":  # the manifest agrees, the file still cannot be parsed
        from i2imetric.hub.weights import sha256_file

        path = state_dir / "rng-0.safetensors"
        path.write_bytes(b"\xff" * 64)
        manifest = json.loads((state_dir / "state.json").read_text())
        manifest["files"][path.name] = {"bytes": 64, "sha256": sha256_file(path)}
        (state_dir / "state.json").write_text(json.dumps(manifest))
        return "rng-0.safetensors"
    if how == "other_process_count":  # every file intact, but saved by a 2-process run
        manifest = json.loads((state_dir / "state.json").read_text())
        (state_dir / "state.json").write_text(json.dumps({**manifest, "num_processes": 2}))
        return r"state.json: saved by 2 process"
    if how == "from_another_save":
        shutil.copy(other_state / "model.safetensors", state_dir / "model.safetensors")
        return "model.safetensors"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["missing", "corrupt_json", "truncated_safetensors", "corrupt_safetensors_rehashed",
                                 "other_process_count", "from_another_save"])
def test_a_torn_state_is_a_checkpoint_error_naming_the_file(saved_runs, tmp_path, how):
    from i2imetric.errors import CheckpointError

    run_dir = _copy_partial(saved_runs, tmp_path)
    name = _damage(run_dir / "state", how, saved_runs["root"] / "other" / "state")
    with pytest.raises(CheckpointError, match=rf"{name}.*--fresh"):
        train(_config(run_dir))


def _write_yaml(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text("model: test-tiny\n")
    return str(path)


def test_cli_reports_a_torn_state_in_one_line_and_fresh_starts_over(saved_runs, tmp_path, capsys):
    from i2imetric.cli.main import main

    run_dir = _copy_partial(saved_runs, tmp_path)
    _damage(run_dir / "state", "missing", None)
    argv = ["train", "--config", _write_yaml(tmp_path), *TINY, f"output_dir={run_dir}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    error_lines = [line for line in err.splitlines() if line.startswith("i2imetric train: error:")]
    assert len(error_lines) == 1 and "optimizer.safetensors" in error_lines[0] and "--fresh" in error_lines[0]
    assert main(argv + ["--fresh"]) == 0
    _assert_same_model(saved_runs["straight"], _model_tensors(run_dir / "best"))


def test_a_kill_during_a_save_keeps_the_previous_state(tmp_path, saved_runs, monkeypatch):
    from i2imetric_training import state as state_module

    run_dir = tmp_path / "run"
    write_optimizer = state_module.TrainingState._write_optimizer

    def killed_at_step_4(self, folder):
        if self.progress.step == 4:
            raise KeyboardInterrupt  # as a kill would, after the model file of step 4 was written
        write_optimizer(self, folder)

    monkeypatch.setattr(state_module.TrainingState, "_write_optimizer", killed_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        train(_config(run_dir))
    monkeypatch.undo()
    assert json.loads((run_dir / "state" / "state.json").read_text())["step"] == 2
    assert list(run_dir.glob("state.tmp-*")), "the torn save should be a leftover beside the state"
    resumed = train(_config(run_dir))
    assert resumed.steps == 6 and not list(run_dir.glob("state.*-*"))
    _assert_same_model(saved_runs["straight"], _model_tensors(resumed.best_dir))


def test_a_kill_between_the_renames_of_a_save_recovers_the_new_state(tmp_path, saved_runs, monkeypatch):
    import os

    from i2imetric_training import state as state_module
    from i2imetric_training.state import recover_state_dir

    run_dir = tmp_path / "run"
    rename = os.rename

    def killed_before_the_new_state_is_in(source, target):
        if str(source).endswith(f"state.tmp-{os.getpid()}") and (run_dir / f"state.old-{os.getpid()}").exists():
            raise KeyboardInterrupt  # the old state was renamed away, the new one not yet in
        rename(source, target)

    monkeypatch.setattr(state_module.os, "rename", killed_before_the_new_state_is_in)
    with pytest.raises(KeyboardInterrupt):
        train(_config(run_dir))
    monkeypatch.undo()
    assert not (run_dir / "state").exists()
    recover_state_dir(run_dir / "state")
    assert json.loads((run_dir / "state" / "state.json").read_text())["step"] == 4  # the complete new one
    assert not list(run_dir.glob("state.*-*"))
    resumed = train(_config(run_dir))
    assert resumed.steps == 6
    _assert_same_model(saved_runs["straight"], _model_tensors(resumed.best_dir))


def test_recovery_restores_the_old_state_when_the_new_one_is_incomplete(tmp_path):
    from i2imetric_training.state import MANIFEST, recover_state_dir

    old, temp = tmp_path / "state.old-11", tmp_path / "state.tmp-11"
    old.mkdir()
    (old / MANIFEST).write_text("{}")
    temp.mkdir()
    (temp / "model.safetensors").write_bytes(b"half")  # no state.json: the save never finished
    recover_state_dir(tmp_path / "state")
    assert (tmp_path / "state" / MANIFEST).is_file() and not old.exists() and not temp.exists()
    temp.mkdir()  # a first save killed part way: nothing to recover, nothing left behind
    shutil.rmtree(tmp_path / "state")
    recover_state_dir(tmp_path / "state")
    assert not (tmp_path / "state").exists() and not temp.exists()


# -------------------------------------------------- user errors, one line each


def _bad_inputs(tmp_path):
    """(override, text the one-line error must contain) for bad configs and bad training data."""
    from PIL import Image

    from i2imetric.data import Pairwise, write_manifest

    for name, value in [("src", 10), ("a", 90), ("b", 170)]:
        Image.new("RGB", (16, 12), (value, value, value)).save(tmp_path / f"{name}.png")
    paths = {n: str(tmp_path / f"{n}.png") for n in ("src", "a", "b")}
    write_manifest(tmp_path / "badref.jsonl", [Pairwise(paths["src"], "brighten", paths["a"], paths["b"], "both_bad",
                                                        extra={"reference": 5})])
    (tmp_path / "latin1.jsonl").write_bytes(b'{"source": "caf\xe9.png"}\n')
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file at all")
    manifest = "data.sources=[{{kind: {kind}, path: {path}}}]"
    return [
        ("model_overrides={lora: {r: 0}}", "lora.r"),
        ("model_overrides={head: {fusion_dim: wide}}", "head.fusion_dim: expected a positive integer"),
        ("model_overrides={head: {dropout: 2.0}}", "head.dropout"),  # was torch's ValueError
        ("data.sources=[{kind: shapesworld, weight: heavy}]", "data.sources[0].weight: expected float"),
        ("data.sources=[{kind: shapesworld, weight: 0}]", "data.sources[0].weight"),
        ("checkpoint_every=0", "checkpoint_every"),
        ("mixed_precision=fp99", "mixed_precision"),
        ("optim.lr=fast", "optim.lr: expected float"),
        (manifest.format(kind="manifest", path=tmp_path / "badref.jsonl"), "extra field 'reference'"),
        (manifest.format(kind="manifest", path=tmp_path / "latin1.jsonl"), "UTF-8"),
        (manifest.format(kind="ratings", path=tmp_path), "a folder, not a manifest file"),
        (manifest.format(kind="manifest", path=tmp_path / "missing.jsonl"), "data.sources[0] (manifest)"),
        (f"data.sources=[{{kind: canonical_edits, images: {tmp_path / 'empty'}}}]", "no images found"),
        (f"pretrained={tmp_path / 'bad.safetensors'}", "bad.safetensors"),
    ]


def test_bad_configs_and_data_exit_2_with_one_line(tmp_path, capsys):
    from i2imetric.cli.main import main

    config = _write_yaml(tmp_path)
    failures = []
    for override, expected in _bad_inputs(tmp_path):
        code = main(["train", "--config", config, *TINY, f"output_dir={tmp_path / 'run'}", override])
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.startswith("i2imetric train: error:")]
        if code != 2 or len(lines) != 1 or expected not in lines[0] or "Traceback" in err:
            failures.append((override, code, err[-300:]))
    assert not failures, failures


def test_yaml_exponents_without_a_dot_are_floats():
    assert load_train_config(None, ("optim.lr=3e-4",)).optim.lr == pytest.approx(3e-4)


# ----------------------------------------------------------------- grammar source

def _grammar_source(**kwargs):
    from i2imetric.data.synthetic import photos
    from i2imetric_training.data import GrammarEditGroups

    return GrammarEditGroups(photos.training_photos(128), working_size=48, **kwargs)


def test_grammar_groups_are_valid_and_tagged_with_the_failing_aspect():
    from i2imetric.data.synthetic import grammar

    source = _grammar_source()
    rng = random.Random(3)
    for _ in range(12):
        group = source.sample(rng)
        assert group.family == "grammar" and group.edit in grammar.OPERATIONS and group.instruction
        assert group.rejected and len(group.rejected) == len(group.kinds) == len(group.labels)
        assert group.aspects == [grammar.DISTRACTOR_KINDS[k] for k in group.kinds]
        assert set(group.aspects) <= {"instruction", "preservation", "quality"}
        for image in [group.source, group.preferred, *group.rejected]:
            assert image.ndim == 3 and image.shape[0] == 3 and max(image.shape[1:]) <= 48
    groups = [source.sample(rng) for _ in range(2)]
    images, instructions, triplets, pairs = collate_groups(groups)
    # every grammar distractor feeds a sub-score, plus the orderings involving the unchanged output
    extra = sum(len(g.aspect_pairs) for g in groups)
    assert len(pairs["aspect_pairs"]) == len(pairs["preferred"]) + extra


def test_grammar_source_is_deterministic_and_draws_only_train_specs_and_phrasings():
    from i2imetric.data.synthetic import grammar

    source = _grammar_source()
    mixture = GroupMixture([source], [1.0], seed=5)
    first, again = mixture.batch(4, 3), mixture.batch(4, 3)
    assert [g.instruction for g in first] == [g.instruction for g in again]
    assert all(torch.equal(a.preferred, b.preferred) and len(a.rejected) == len(b.rejected)
               and all(torch.equal(x, y) for x, y in zip(a.rejected, b.rejected)) for a, b in zip(first, again))
    assert [g.instruction for g in first] != [g.instruction for g in mixture.batch(5, 3)]

    held = grammar.heldout_sets()
    rng = random.Random(0)
    for _ in range(400):  # draw() is what sample() builds from; no rendering needed to check the split
        _, spec, words, _ = source.draw(rng)
        assert grammar.split_of(spec) == "train", spec
        assert spec.op not in held["operations"] and (spec.op, spec.region.name) not in held["combos"]
        assert words.held_out == (), words
        # Phrase keeps the phrasebook's "!" markers, heldout_sets() lists the entries without them.
        assert words.wrapper.lstrip("!") not in held["wrappers"], words
        assert words.entry.lstrip("!") not in held["operation_wordings"], words
        assert not {w.lstrip("!") for w in words.words} & set(held["region_words"] + held["degree_words"]), words
    # sample() uses the same draw: its instruction is the train phrasing of the drawn spec.
    _, _, words, _ = source.draw(random.Random(11))
    assert source.sample(random.Random(11)).instruction == words.text


def test_grammar_validation_sets_cover_each_split():
    from i2imetric.data.synthetic import grammar
    from i2imetric_training.data import GRAMMAR_VALIDATION_SPLITS, grammar_validation_groups

    sets = grammar_validation_groups(3, working_size=32)
    assert set(sets) == set(GRAMMAR_VALIDATION_SPLITS) and all(len(groups) == 3 for groups in sets.values())
    assert set(grammar_validation_groups(3, working_size=32)["grammar_heldout_operation"][0].kinds) == \
        set(sets["grammar_heldout_operation"][0].kinds)
    assert all(g.edit in grammar.HELDOUT_OPERATIONS for g in sets["grammar_heldout_operation"])
    assert all(g.edit not in grammar.HELDOUT_OPERATIONS for g in sets["grammar_train"])
    assert grammar_validation_groups(0) == {}


def test_training_with_a_grammar_source_reports_each_grammar_split(tmp_path):
    config = _config(tmp_path / "run", "steps=3", "validation.every=3", "data.working_size=32",
                     "validation.grammar_count=2", "data.sources=[{kind: shapesworld}, {kind: grammar}]")
    result = train(config)
    names = ("grammar_train", "grammar_heldout_phrasing", "grammar_heldout_combo", "grammar_heldout_operation")
    assert result.steps == 3 and all(result.final_validation[n]["pairs"] > 0 for n in names)
    logged = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert set(names) <= set([r for r in logged if "validation" in r][-1]["validation"])
    # The held-out grammar splits are reported, but only the other sets choose the checkpoint.
    selecting = [t["accuracy"] for n, t in result.final_validation.items()
                 if isinstance(t, dict) and not n.startswith("grammar_heldout")]
    assert result.final_validation["mean_accuracy"] == pytest.approx(sum(selecting) / len(selecting))
    # Without a grammar source the validation sets are the ones they always were.
    from i2imetric_training.train import build_validation_sets

    assert not any(n.startswith("grammar") for n in build_validation_sets(_config(tmp_path / "plain")))


# ------------------------------------------------------------------ the signed map


def test_patch_map_targets_signs():
    from i2imetric_training.losses import patch_map_targets

    helped = torch.tensor([1.0, 0.6, 0.2, 0.0, 0.0, 1.0])
    hurt = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.7, 0.3])
    target = patch_map_targets(helped, hurt)
    assert target[:2].tolist() == [1.0, 1.0] and target[3] == 0 and target[4] == -1
    assert torch.isnan(target[2]) and torch.isnan(target[5])  # edges are not guessed


def test_patch_map_loss_rewards_the_right_signs():
    from i2imetric_training.losses import patch_map_loss

    target = torch.tensor([[1.0, -1.0, 0.0, float("nan")]])
    right = patch_map_loss(torch.tensor([[3.0, -3.0, 0.0, 9.0]]), target)
    wrong = patch_map_loss(torch.tensor([[-3.0, 3.0, 2.0, 9.0]]), target)
    assert right < 0.1 < wrong
    empty = patch_map_loss(torch.zeros(1, 2, requires_grad=True), torch.full((1, 2), float("nan")))
    assert empty.item() == 0 and empty.requires_grad


def test_patch_pointing_loss_ranks_patches_within_a_row():
    from i2imetric_training.losses import patch_map_loss, patch_pointing_loss

    nan = float("nan")
    # A collateral output on 17 patches: patch 0 edited as asked, patch 1 damaged, patch 2 an
    # unsupervised edge, the rest untouched.
    target = torch.tensor([[1.0, -1.0, nan] + [0.0] * 14])
    points = torch.tensor([[3.0, -3.0, -9.0] + [-1.0] + [0.0] * 13])  # the edge's -9 does not count
    misses = torch.tensor([[3.0, -3.0, -9.0] + [-4.0] + [0.0] * 13])  # one untouched patch below the damage
    # Averaged over the many untouched patches, one stray patch costs the margin loss little;
    # the pointing loss ranks the row's patches, so it is what the miss costs.
    assert patch_map_loss(misses, target) - patch_map_loss(points, target) < 0.1
    assert patch_pointing_loss(points, target) < 0.1 < 1.0 < patch_pointing_loss(misses, target)
    # Gradients push the damaged patch down and the stray one up, and leave the edge alone.
    misses.requires_grad_(True)
    patch_pointing_loss(misses, target).backward()
    assert misses.grad[0, 1] > 0 > misses.grad[0, 3] and misses.grad[0, 2] == 0
    # A row whose supervised patches are all in the mask has nothing to rank.
    assert patch_pointing_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[-1.0, nan]])).item() == 0
    empty = patch_pointing_loss(torch.zeros(1, 2, requires_grad=True), torch.zeros(1, 2))
    assert empty.item() == 0 and empty.requires_grad


def test_grammar_groups_carry_map_masks_and_subscore_orderings():
    from i2imetric.data.synthetic import grammar, photos
    from i2imetric.models.preprocess import Preprocess
    from i2imetric_training.data import GrammarEditGroups

    source = photos.training_photos(128)[0].crop((0, 0, 96, 64))
    maker = GrammarEditGroups([source], working_size=48)
    spec = grammar.EditSpec("brighten", "left", "a_lot")
    group = maker.group(source, spec, "brighten the left half a lot", seed=1)
    preprocess = Preprocess(size=(32, 32), mean=(0.5,) * 3, std=(0.5,) * 3)
    coverage = lambda mask: preprocess.patch_coverage(torch.from_numpy(mask), (4, 4)).reshape(4, 4)  # noqa: E731
    helped, hurt = group.map_masks[0]
    assert coverage(helped)[:, :2].mean() > 0.5 and coverage(helped)[:, 2:].max() == 0 and not hurt.any()
    kinds = group.kinds
    _, damage = group.map_masks[1 + kinds.index("collateral")]
    assert damage.any() and not (damage & helped).any()  # the damage lies outside the edit
    no_op_helped, no_op_hurt = group.map_masks[1 + kinds.index("no_op")]
    assert not no_op_helped.any() and coverage(no_op_hurt)[:, :2].mean() > 0.5  # the undone edit is wrong
    unchanged = 1 + kinds.index("no_op")
    assert (unchanged, 0, "preservation") in group.aspect_pairs
    position = {kind: 1 + k for k, kind in enumerate(kinds)}
    assert (unchanged, position["degraded"], "quality") in group.aspect_pairs
    assert (position["under"], position["degraded"], "quality") in group.aspect_pairs
    assert (position["under"], position["collateral"], "preservation") in group.aspect_pairs
    assert not any(b == position["degraded"] and a == position["wrong_operation"] for a, b, _ in group.aspect_pairs)
    images, instructions, triplets, pairs = collate_groups([group], lambda m: preprocess.patch_coverage(m, (4, 4)))
    assert len(pairs["map_rows"]) == 1 + len(group.rejected)
    assert pairs["map_targets"].shape == (1 + len(group.rejected), 16)
    right_target = pairs["map_targets"][0].reshape(4, 4)
    assert (right_target[:, :2] == 1).all() and (right_target[:, 2:] == 0).all()


def test_shapesworld_groups_carry_exact_map_masks_when_asked():
    from i2imetric.data.synthetic import shapesworld
    from i2imetric_training.data import ShapesWorldGroups

    assert ShapesWorldGroups(32).group(5).map_masks is None  # the shipped recipe trains without them
    for seed in range(6):
        group = ShapesWorldGroups(32, map_masks=True).group(seed)
        example = shapesworld.make_edit_example(seed, size=32)
        masks = dict(zip(["right", *group.kinds], group.map_masks))
        helped, hurt = masks["right"]
        changed = np.abs(np.asarray(example.target, dtype=int) - np.asarray(example.source, dtype=int)).max(-1) > 2
        assert helped.any() and (helped == changed).all() and not hurt.any()
        no_edit_helped, no_edit_hurt = masks["no_edit"]
        assert not no_edit_helped.any() and (no_edit_hurt == helped).all()  # all of the edit left undone
        partial_helped, partial_hurt = masks["partial"]
        assert partial_hurt.any() and partial_helped.any() and not (partial_hurt & ~helped).any()
        assert masks["wrong_object"][1].any()
        extra_helped, extra_hurt = masks["extra_change"]
        assert (extra_hurt & ~helped).any() and extra_helped.any()  # the edit is right, the extra change wrong
        assert masks["degraded"][1].sum() > helped.sum()  # blur or noise reaches beyond the edit
    images, instructions, triplets, pairs = collate_groups([group], lambda m: m.float().flatten())
    assert len(pairs["map_rows"]) == 1 + len(group.rejected)


def test_map_masks_are_refused_on_sources_that_are_not_shapesworld(tmp_path):
    from i2imetric.errors import ConfigError

    with pytest.raises(ConfigError, match="map_masks is for shapesworld"):
        _config(tmp_path / "run", "data.sources=[{kind: grammar, map_masks: true}]")
    config = _config(tmp_path / "run", "steps=1", "validation.every=1", "validation.grammar_count=0",
                     "data.sources=[{kind: shapesworld, map_masks: true}]", "loss.map_weight=0.5")
    train(config)
    logged = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert any("map" in r for r in logged)  # ShapesWorld alone now trains the map


def test_training_with_map_loss_and_word_tokens(tmp_path):
    config = _config(tmp_path / "run", "steps=2", "validation.every=2", "data.working_size=32",
                     "validation.grammar_count=1", "loss.map_weight=0.5", "loss.map_pointing_weight=0.5",
                     "model_overrides={head: {text_tokens: true}}",
                     "data.sources=[{kind: grammar}]")
    result = train(config)
    logged = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    steps = [r for r in logged if "loss" in r]
    assert steps and all(math.isfinite(r[key]) for r in steps for key in ("map", "map_pointing", "subscore"))
    loaded = i2imetric.load_metric(result.best_dir)
    assert loaded.config.head.text_tokens is True


def test_negative_map_weight_is_refused(tmp_path):
    from i2imetric.errors import ConfigError

    with pytest.raises(ConfigError, match="loss.map_weight"):
        _config(tmp_path / "run", "loss.map_weight=-1")
    with pytest.raises(ConfigError, match="loss.map_pointing_weight"):
        _config(tmp_path / "run", "loss.map_pointing_weight=-1")


def test_grammar_checks_measure_map_subscores_and_instruction_reading():
    from i2imetric_training.data import grammar_validation_groups
    from i2imetric_training.evaluate_scorer import GOALS, SUBSCORE_ORDERINGS, goals_table, grammar_checks

    metric = i2imetric.create_metric("test-tiny")
    groups = grammar_validation_groups(3, working_size=32)["grammar_train"]
    checks = grammar_checks(metric, groups, batch_size=16)
    assert checks["instruction_swap"]["n"] == 3
    assert set(checks["subscores"]) == {name for name, *_ in SUBSCORE_ORDERINGS}
    for value in [checks["map_pointing"], checks["instruction_swap"], *checks["subscores"].values()]:
        assert value["n"] == 0 or 0.0 <= value["share"] <= 1.0
    # The untrained metric is its prior: an unchanged output keeps preservation exactly at its
    # maximum (0), so the first ordering holds wherever a no-op distractor was built.
    first = checks["subscores"][SUBSCORE_ORDERINGS[0][0]]
    assert first["n"] > 0 and first["share"] == 1.0
    # Its quality is the prior's constant 0, so it cannot correlate with preservation at all.
    rho = checks["preservation_quality_spearman"]
    assert rho["n"] == sum(len(list(g.scored_candidates())) for g in groups) and rho["rho"] != rho["rho"]
    table = goals_table({"tiny": {"grammar_train": {"accuracy": 0.5, "checks": checks}}})
    assert all(title in table for title, *_ in GOALS)


def test_grammar_groups_draw_again_where_the_right_answer_would_not_show():
    from PIL import Image

    from i2imetric.data.synthetic import edits, grammar, photos
    from i2imetric_training.data import GrammarEditGroups

    # Brightening a white crop changes nothing; darkening it does: the first draw is skipped.
    white = Image.new("RGB", (96, 96), (255, 255, 255))
    white.paste((40, 90, 160), (0, 0, 30, 30))  # a distractor needs something to get wrong
    maker = GrammarEditGroups([white], working_size=32)
    invisible, visible = grammar.EditSpec("brighten", "right", "slightly"), grammar.EditSpec("darken", "right", "a_lot")
    assert not edits.visibly_different(grammar.render(invisible, white)[0], white)
    words = lambda text: types.SimpleNamespace(text=text)  # noqa: E731  (a grammar.Phrase's one field read here)
    draws = iter([(white, invisible, words("brighten the right half slightly"), 0),
                  (white, visible, words("darken the right half"), 0)])
    maker.draw = lambda rng: next(draws)
    assert maker.sample(random.Random(0)).instruction == "darken the right half"
    # "Another operation" words always ask for an output that looks unlike the right one.
    source = photos.training_photos(128)[0]
    spec = grammar.EditSpec("brighten", "right", "a_lot")
    target, _ = grammar.render(spec, source)
    rng = random.Random(5)
    for _ in range(20):
        for kind, other, _ in _grammar_source().contrast_specs(spec, source, target, rng, seed=0):
            if kind == "words_other_operation":
                assert edits.visibly_different(grammar.render(other, source, 0)[0], target), other


def test_contrast_map_masks_read_the_right_output_against_what_the_other_words_ask(tmp_path):
    from i2imetric.data.synthetic import grammar, photos
    from i2imetric_training.data import GrammarEditGroups

    source = photos.training_photos(128)[0]
    spec = grammar.EditSpec("brighten", "right", "a_lot")
    plain = GrammarEditGroups([source], working_size=32, instruction_contrast=True)
    with_maps = GrammarEditGroups([source], working_size=32, instruction_contrast=True, contrast_map_masks=True)
    without, group = (maker.group(source, spec, "brighten the right half a lot", seed=0) for maker in (plain, with_maps))
    assert without.kinds == group.kinds and "words_opposite" in group.kinds and "words_other_region" in group.kinds
    helped = group.map_masks[0][0]
    assert group.rejected_instructions[-1] == "I think it should be far brighter"  # the other region drawn: whole
    for k, kind in enumerate(group.kinds):
        if not kind.startswith("words_"):
            continue
        assert without.map_masks[1 + k] is None
        kept, hurt = group.map_masks[1 + k]
        assert not (kept & hurt).any() and not (kept & ~helped).any()
        if kind == "words_opposite":  # darkening was asked: every brightened pixel is wrong
            assert not kept.any() and hurt[helped].all()
        if kind == "words_other_region":  # "brighten the whole image": the right half done, the left left undone
            assert kept[helped].all() and hurt[:, : hurt.shape[1] // 2].mean() > 0.9 and not (hurt & helped).any()
    with pytest.raises(I2IInputError, match="needs instruction_contrast"):
        GrammarEditGroups([source], contrast_map_masks=True)
    with pytest.raises(ConfigError, match="instruction_contrast: true"):
        _config(tmp_path, "data.sources=[{kind: grammar, contrast_map_masks: true}]")


def test_grammar_groups_on_blank_images_say_so():
    from PIL import Image

    from i2imetric.data.synthetic import grammar
    from i2imetric_training.data import GrammarEditGroups

    white = Image.new("RGB", (96, 96), (255, 255, 255))
    blank = GrammarEditGroups([white], working_size=32)
    words = types.SimpleNamespace(text="brighten it slightly")  # draw's Phrase: only its text is read
    blank.draw = lambda rng: (white, grammar.EditSpec("brighten", "whole", "slightly"), words, 0)
    with pytest.raises(I2IInputError, match="changed nothing visible.*blank"):
        blank.sample(random.Random(0))


def test_instruction_contrast_scores_the_right_output_under_another_edits_words(tmp_path):
    from i2imetric.data.synthetic import grammar, photos
    from i2imetric_training.data import GrammarEditGroups

    maker = GrammarEditGroups(photos.training_photos(128), working_size=32, instruction_contrast=True)
    group = maker.sample(random.Random(4))
    contrast = [k for k, kind in enumerate(group.kinds) if kind.startswith("words_")]
    assert contrast and contrast == list(range(contrast[0], len(group.kinds)))  # appended after the distractors
    assert "words_other_operation" in group.kinds
    k = contrast[0]
    for j in contrast:
        assert group.aspects[j] == "instruction"
        assert torch.equal(group.rejected[j], group.preferred)  # the same pixels: only the words differ
        assert group.instruction_of(j) != group.instruction
        assert group.map_masks[1 + j] is None  # the map is not told a sign for the right pixels under other words
    assert all(group.instruction_of(j) == group.instruction for j in range(k))
    # The near misses: the same operation elsewhere and the opposite direction, never a held-out pair.
    source = photos.training_photos(128)[0]
    spec = grammar.EditSpec("brighten", "right", "a_lot")  # darken x right is a training pair too
    target, _ = grammar.render(spec, source)
    found = {kind: other for kind, other, _ in maker.contrast_specs(spec, source, target, random.Random(0), seed=0)}
    assert set(found) == {"words_other_operation", "words_other_region", "words_opposite"}
    assert found["words_opposite"].op == "darken" and found["words_other_region"].op == "brighten"
    assert found["words_other_region"].region.name != "right"
    rng = random.Random(1)
    for _ in range(40):
        spec = grammar.sample_spec(rng, "train")
        for _, other, _ in maker.contrast_specs(spec, source, grammar.render(spec, source)[0], rng, seed=0):
            assert grammar.in_split(other, "train"), other
    images, instructions, triplets, pairs = collate_groups([group])
    assert len(instructions) == 1 + len(contrast) and triplets[1 + k, 1] == instructions.index(group.instruction_of(k))
    assert (triplets[: 1 + k, 1] == instructions.index(group.instruction)).all()
    assert len(images) == 2 + k and (triplets[1 + k :, 2] == 1).all()  # the right output is encoded once
    # The trainer builds it from the config, and refuses it on a source it does not apply to.
    config = _config(tmp_path / "run", "steps=1", "validation.every=1", "data.working_size=32",
                     "validation.grammar_count=1", "data.sources=[{kind: grammar, instruction_contrast: true}]")
    from i2imetric_training.train import build_mixture

    assert all("words_other_operation" in g.kinds for g in build_mixture(config).batch(0, 2))
    assert train(config).steps == 1
    mapped = _config(tmp_path / "mapped", "data.sources=[{kind: grammar, instruction_contrast: true, contrast_map_masks: true}]")
    (source,) = build_mixture(mapped).sources
    assert source.contrast_map_masks and not build_mixture(config).sources[0].contrast_map_masks
    with pytest.raises(ConfigError, match="instruction_contrast is for grammar"):
        _config(tmp_path / "bad", "data.sources=[{kind: shapesworld, instruction_contrast: true}]")


def test_timm_pretrained_loads_the_timm_weights_and_is_refused_where_there_is_no_timm(tmp_path, tiny_trained_checkpoint):
    from safetensors.torch import save_file

    from i2imetric_training.train import build_metric

    donor = i2imetric.create_metric("test-tiny-timm", seed=7, trainable="head")
    path = tmp_path / "vit.safetensors"
    save_file({k: v.contiguous() for k, v in donor.timm.model.state_dict().items()}, str(path))
    metric = build_metric(load_train_config(None, ("model=test-tiny-timm", f"timm_pretrained={path}")))
    assert metric.timm_source.kind == "file" and metric.timm_source.sha256 is not None
    assert torch.equal(metric.timm.model.patch_embed.proj.weight, donor.timm.model.patch_embed.proj.weight)
    with pytest.raises(ConfigError, match=r"timm_pretrained=.*has no timm encoder"):
        build_metric(load_train_config(None, ("model=test-tiny", f"timm_pretrained={path}")))
    with pytest.raises(ConfigError, match=r"with init_from=.* the timm weights are the checkpoint's"):
        build_metric(load_train_config(None, ("model=null", f"init_from={tiny_trained_checkpoint}",
                                               f"timm_pretrained={path}")))


def test_the_shipped_recipes_training_stream_is_pinned():
    """The first two steps of configs/demo_scorer.yaml's groups, as drawn when the demo scorer was trained.

    A change to the grammar, its near misses or distractors, or the trainer's contrast
    draws changes what the shipped recipe trains on. When that is meant, say so in
    docs/training.md and update the pin; when not, this is the place that notices.
    """
    import hashlib

    mixture = build_mixture(load_train_config("demo_scorer", ()))
    rows = [[g.family, g.instruction, g.edit, list(g.kinds), list(g.rejected_instructions or [])]
            for step in range(2) for g in mixture.batch(step, 8)]  # fmt: skip
    assert rows[2][:3] == ["grammar", "reduce the contrast of the bottom part of the image, please", "contrast_down"]
    assert rows[5][4][-3:] == ["please enlarge the middle of the top-right quadrant", "Contrast up image by 50%!",
                               "Please reduce the contrast of the center by 50%"]  # fmt: skip
    assert hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16] == "69bcf3d303f0fbab"
