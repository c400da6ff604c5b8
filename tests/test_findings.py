"""Q1 of docs/findings.md: the simulated editors, the simulated raters, the known-quality statistics,
and `python -m i2imetric_training.findings q1` end to end at toy size (3 systems x 4 items, test-tiny)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from i2imetric.data.synthetic.grammar import HELDOUT_OPERATIONS, render, split_of
from i2imetric.data.synthetic.photos import HELDOUT_PHOTOS
from i2imetric.data.synthetic.simulated_editors import (
    OUTCOMES,
    SIMULATED_EDITORS,
    UTILITY,
    SimulatedEditor,
    render_outcome,
    sample_items,
    simulated_ratings,
)
from i2imetric.errors import I2IInputError
from i2imetric.meta_eval.known_quality import (
    pairwise_agreement,
    rater_pairwise_ceiling,
    same_item_pairs,
    system_agreement,
)
from i2imetric.stats import inter_rater_ceiling

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------ the editors


@pytest.fixture(scope="module")
def items():
    return sample_items(6, seed=3)


def test_items_come_from_heldout_splits_and_photos(items):
    assert [item.split for item in items] == ["heldout_combo", "heldout_operation"] * 3
    # Photos take turns, so two sets of items hold the same mix of photos.
    assert [item.photo for item in items] == list(HELDOUT_PHOTOS) * 2
    for item in items:
        assert split_of(item.spec) == item.split  # never a trained operation x region pair
    assert any(item.spec.op in HELDOUT_OPERATIONS for item in items)
    again = sample_items(6, seed=3)
    assert [(i.spec, i.instruction) for i in again] == [(i.spec, i.instruction) for i in items]
    # A longer list starts with the shorter one, so a bigger study reuses a smaller one's outputs.
    assert [i.spec for i in sample_items(3, seed=3)] == [i.spec for i in items[:3]]


def test_an_always_correct_editor_outputs_the_grammars_right_answer(items):
    perfect = SimulatedEditor("perfect", {"correct": 1.0})
    for item in items:
        outcome = perfect.draw(OUTCOMES, random.Random(item.index))
        assert outcome == "correct"
        expected, _ = render(item.spec, item.source, item.seed)
        assert np.array_equal(np.asarray(render_outcome(item, outcome)), np.asarray(expected))


def test_no_op_returns_the_source_and_failures_differ_from_the_right_answer(items):
    item = items[0]
    assert np.array_equal(np.asarray(render_outcome(item, "no_op")), np.asarray(item.source))
    right = np.asarray(render_outcome(item, "correct"))
    for outcome in ("degraded", "wrong_operation"):
        wrong = np.asarray(render_outcome(item, outcome))
        assert wrong.shape != right.shape or not np.array_equal(wrong, right)


def test_draw_keeps_to_the_rates_and_renormalises_over_what_applies():
    editor = SimulatedEditor("half", {"correct": 0.5, "under": 0.5})
    rng = random.Random(0)
    draws = [editor.draw(OUTCOMES, rng) for _ in range(2000)]
    assert 0.45 < draws.count("under") / len(draws) < 0.55
    # Under-doing does not apply to a flip: the editor then succeeds.
    assert {editor.draw(["correct", "no_op"], rng) for _ in range(50)} == {"correct"}
    assert SimulatedEditor("only-under", {"under": 1.0}).draw(["correct"], rng) == "no_op"


def test_editor_rates_are_validated_with_the_fix():
    with pytest.raises(I2IInputError, match="sum to 1"):
        SimulatedEditor("bad", {"correct": 0.5})
    with pytest.raises(I2IInputError, match="unknown outcome"):
        SimulatedEditor("bad", {"corect": 1.0})
    with pytest.raises(I2IInputError, match="render_outcome|unknown outcome"):
        render_outcome(sample_items(1)[0], "sideways")


def test_shipped_editors_span_a_range_with_a_close_global_local_pair():
    quality = {name: editor.expected_quality for name, editor in SIMULATED_EDITORS.items()}
    assert len(quality) == 8
    assert max(quality.values()) - min(quality.values()) > 0.7
    assert abs(quality["blurry"] - quality["sloppy"]) < 0.02
    assert SIMULATED_EDITORS["blurry"].rates.get("degraded", 0) > 0.5  # global failure
    local = SIMULATED_EDITORS["sloppy"].rates
    assert local.get("wrong_region", 0) + local.get("collateral", 0) > 0.5
    assert set(UTILITY) == set(OUTCOMES) and UTILITY["correct"] == 1.0 and UTILITY["no_op"] == 0.0


# ------------------------------------------------------------------ the raters


def test_noiseless_raters_read_the_truth_and_noisy_ones_fall_below_one():
    truth = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    exact = simulated_ratings(truth, n_raters=3, noise=0.0, bias=0.0)
    assert exact.tolist() == [[1, 2, 3, 4, 5]] * 3
    rng = np.random.default_rng(0)
    many = rng.choice(list(UTILITY.values()), size=400)
    noisy = simulated_ratings(many, n_raters=3, seed=1)
    assert noisy.min() >= 1 and noisy.max() <= 5
    ceiling = inter_rater_ceiling(noisy, "spearman")
    assert 0.5 < ceiling < 0.99
    pairwise = rater_pairwise_ceiling(noisy.reshape(3, 8, 50))
    assert 0.6 < pairwise["accuracy"] < 0.99
    with pytest.raises(I2IInputError, match="truth"):
        simulated_ratings([1.5])


# ------------------------------------------------------------------ the statistics


def test_same_item_pairs_leave_out_ties():
    system_a, system_b, item, labels = same_item_pairs([[1.0, 0.0, 0.5], [0.5, 0.0, 1.0]])
    assert item.tolist() == [0, 2] and labels.tolist() == ["a", "b"]
    assert system_a.tolist() == [0, 0] and system_b.tolist() == [1, 1]


def test_agreement_rewards_the_right_order_and_punishes_the_reverse():
    rng = np.random.default_rng(0)
    truth = rng.choice([0.0, 0.4, 1.0], size=(5, 30)) + np.linspace(0, 0.5, 5)[:, None]
    truth = np.clip(truth, 0, 1)
    good = system_agreement(lambda idx: truth[:, idx].mean(1), truth, n_resamples=50)
    bad = system_agreement(lambda idx: -truth[:, idx].mean(1), truth, n_resamples=50)
    assert good["kendall"][0] == pytest.approx(1.0) and bad["kendall"][0] == pytest.approx(-1.0)
    assert good["kendall"][1] <= good["kendall"][0] <= good["kendall"][2]
    assert pairwise_agreement(truth + 0.01, truth, n_resamples=50)["accuracy"] == 1.0
    assert pairwise_agreement(-truth, truth, n_resamples=50)["accuracy"] == 0.0
    constant = system_agreement(lambda idx: np.zeros(5), truth, n_resamples=50)
    assert np.isnan(constant["kendall"][0])
    with pytest.raises(I2IInputError, match="same outputs"):
        pairwise_agreement(truth[:, :3], truth, n_resamples=50)


# ------------------------------------------------------------------ q1 end to end

SYSTEMS = "faithful,blurry,lazy"
TOY = ["--items", "4", "--reference", "4", "--systems", SYSTEMS, "--resamples", "20", "--set-resamples", "10",
       "--metric", "untrained:test-tiny", "--no-progress"]  # fmt: skip


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory, tiny_trained_checkpoint):
    from i2imetric_training.findings import main

    out = tmp_path_factory.mktemp("q1")
    assert main(["q1", "--out", str(out), *TOY, "--previous", str(tiny_trained_checkpoint)]) == 0
    return out


def _scorers(out) -> dict:
    report = json.loads((out / "results.json").read_text())
    return {entry["name"]: entry for entry in report["analysis"]["scorers"]}


def test_q1_writes_its_tables_json_and_figures(toy_run):
    for name in ("results.json", "tables.md", "section.md", "q1_system_quality.png", "q1_failure_modes.png"):
        assert (toy_run / name).is_file() and (toy_run / name).stat().st_size > 0, name
    report = json.loads((toy_run / "results.json").read_text())
    names = {entry["name"] for entry in report["analysis"]["scorers"]}
    assert {"i2imetric score", "i2imetric instruction", "i2imetric preservation", "i2imetric quality", "CLIP-T",
            "CLIP-I", "CLIP-dir", "patch preservation", "L2 (negated)", "PSNR", "previous scorer", "FD, base pooled",
            "MMD², base pooled", "FD, base pooled vs photos", "FD, joint latent z", "MMD², joint latent z"} <= names
    # An untrained metric is its own zero-shot prior: no second, identical row.
    assert "zero-shot prior" not in names and "its own zero-shot prior" in report["run"]["prior_note"]
    assert report["run"]["previous"]["weights_sha256"] != report["run"]["metric"]["weights_sha256"]
    for entry in report["analysis"]["scorers"]:
        if entry["level"] == "sample" and entry.get("system"):
            assert 0.0 <= entry["pairwise_truth"]["accuracy"] <= 1.0
            assert len(entry["ranks"]) == 3
    text = (toy_run / "tables.md").read_text()
    for heading in ("**The systems**", "**Agreement with the truth**", "**System ranks**", "**Where each scorer fails**"):
        assert heading in text
    assert "| faithful |" in text and "human-human ceiling" in text


def test_q1_truth_is_what_the_rates_imply(toy_run):
    report = json.loads((toy_run / "results.json").read_text())
    systems = {s["name"]: s for s in report["analysis"]["systems"]}
    assert [s["name"] for s in report["analysis"]["systems"]] == SYSTEMS.split(",")
    # faithful: 0.90 correct ...; blurry: mostly degraded (0.4); lazy: mostly the source back (0).
    assert systems["faithful"]["true_quality"] > systems["blurry"]["true_quality"] > systems["lazy"]["true_quality"]
    assert report["analysis"]["true_ranks"] == [1, 2, 3]
    for item in report["items"]:
        for name, outcome in item["system_outcomes"].items():
            assert outcome in item["available"] and outcome in SIMULATED_EDITORS[name].rates
    for system in systems.values():
        counts = system["outcomes"]
        mean = sum(UTILITY[o] * n for o, n in counts.items()) / sum(counts.values())
        assert system["true_quality"] == pytest.approx(mean)
    humans = next(e for e in report["analysis"]["scorers"] if e["name"].startswith("humans"))
    assert humans["system"]["system_truth"] == pytest.approx([s["true_quality"] for s in systems.values()])


def test_q1_resume_reuses_the_cache(toy_run, tiny_trained_checkpoint, monkeypatch):
    import i2imetric.evaluation.runner as runner
    import i2imetric_training.findings_q1 as q1
    from i2imetric_training.findings import main

    cached = sorted(p for p in toy_run.rglob("*") if p.is_file() and p.suffix in (".png", ".jsonl", ".npz")
                    and not p.name.startswith("q1_"))  # fmt: skip
    stamps = {p: p.stat().st_mtime_ns for p in cached}
    before = json.loads((toy_run / "results.json").read_text())["analysis"]
    previous = tiny_trained_checkpoint

    def no_rendering(*args, **kwargs):
        raise AssertionError("a cached output was rendered again")

    def no_scoring(*args, **kwargs):
        raise AssertionError("a cached output was scored again")

    monkeypatch.setattr(q1, "render_outcome", no_rendering)
    monkeypatch.setattr(runner.ScoringEngine, "score", no_scoring)
    monkeypatch.setattr("i2imetric.evaluation.setlevel.embed_triplets", no_scoring)
    assert main(["q1", "--out", str(toy_run), *TOY, "--previous", str(previous)]) == 0
    assert {p: p.stat().st_mtime_ns for p in cached} == stamps
    after = json.loads((toy_run / "results.json").read_text())["analysis"]
    assert after == before


def test_q1_refuses_a_cache_of_other_settings_and_bad_arguments(toy_run, capsys):
    from i2imetric_training.findings import main

    assert main(["q1", "--out", str(toy_run), *TOY, "--working-size", "64"]) == 2
    assert "working_size" in capsys.readouterr().err
    assert main(["q1", "--out", str(toy_run), *TOY[:-1], "--systems", "faithful,nobody"]) == 2
    assert "--systems" in capsys.readouterr().err
    assert main(["q1", "--out", str(toy_run), *TOY, "--items", "1"]) == 2
    assert "--items" in capsys.readouterr().err


def test_q1_pastes_its_section_into_a_doc(toy_run, tmp_path):
    from i2imetric_training.findings import main

    doc = tmp_path / "findings.md"
    doc.write_text("# Findings\n\nbefore\n<!-- q1:begin -->\nold\n<!-- q1:end -->\nafter\n")
    assert main(["q1", "--out", str(toy_run), *TOY, "--doc", str(doc)]) == 0
    page = doc.read_text()
    assert "old" not in page and "before" in page and "after" in page and "**System ranks**" in page
    assert (tmp_path / "figures" / "q1_system_quality.png").is_file()
    assert "](figures/q1_system_quality.png)" in page
    doc.write_text("no markers\n")
    assert main(["q1", "--out", str(toy_run), *TOY, "--doc", str(doc)]) == 2


def test_q1_on_a_checkpoint_scores_its_zero_shot_prior_and_baselines_on_its_base(tmp_path, tiny_trained_checkpoint):
    """A trained checkpoint's prior is its untrained twin; the baselines come from that twin's base, not the LoRA towers."""
    from i2imetric import load_metric
    from i2imetric.evaluation.results import read_results
    from i2imetric_training.evaluate_scorer import untrained_twin
    from i2imetric_training.findings import main

    toy = [a for a in TOY if a != "untrained:test-tiny"]
    toy[toy.index("--metric") + 1] = str(tiny_trained_checkpoint)
    assert main(["q1", "--out", str(tmp_path), *toy, "--systems", "faithful,lazy"]) == 0
    scorers = _scorers(tmp_path)
    assert "zero-shot prior" in scorers and "previous scorer" not in scorers
    twin = untrained_twin(tiny_trained_checkpoint)
    [base_file] = (tmp_path / "scores").glob("base-*.jsonl")
    row = next(r for r in read_results(base_file) if r["id"].endswith("/correct"))
    triplet = (row["source"], row["instruction"], row["output"])
    # Within batching round-off of the twin, and clearly not the trained checkpoint's own score.
    assert row["score"] == pytest.approx(twin.score(*triplet), abs=1e-4)
    assert abs(row["score"] - load_metric(tiny_trained_checkpoint).score(*triplet)) > 1e-3
    assert row["baselines"]["clip_t"] is not None


def test_the_docs_utility_table_is_the_codes():
    """docs/findings.md states the utility table by hand (with the why); it must not drift from UTILITY."""
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "findings.md").read_text()
    table = {}
    for line in page.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] in UTILITY:
            table[cells[0]] = float(cells[1])
    assert table == UTILITY


# ------------------------------------------------------------------ q2 end to end

Q2_TOY = ["--quick", "--pretrain-steps", "1", "--train-steps", "2", "--pretrain-batch", "4", "--groups-per-step", "2",
          "--grammar", "2", "--shapes", "2", "--photo-crops", "0"]  # fmt: skip
Q2_ARMS = ("clip", "timm", "both", "clip_half_data", "clip_double_data")


@pytest.fixture(scope="module")
def q2_run(tmp_path_factory):
    """Every stage of `findings q2 --quick` (four pretrainings, five trainings, five evaluations), at toy size."""
    from i2imetric_training.findings import main

    out = tmp_path_factory.mktemp("q2")
    # Two worker processes, as a user with cores to spare runs it; the reruns below go one at a time.
    assert main(["q2", "--out", str(out), *Q2_TOY, "--jobs", "2"]) == 0
    return out


@pytest.mark.parametrize("jobs", [1, 2])
def test_run_stages_keeps_order_and_runs_every_stage_when_some_fail(tmp_path, capsys, jobs):
    import math
    from pathlib import Path

    from i2imetric_training.findings_q2 import run_stages

    stages = {"a": (math.sqrt, (4.0,)), "b": (math.sqrt, (9.0,)), "c": (math.sqrt, (16.0,))}
    assert list(run_stages(stages, jobs=jobs, cost={"c": 2.0}).items()) == [("a", 2.0), ("b", 3.0), ("c", 4.0)]
    # Failing stages come first; the ones after them still run (a rerun resumes with their
    # outputs), the first failure is raised and the other is reported.
    markers = [tmp_path / f"ran-{k}.txt" for k in range(3)]
    failing = {"bad": (math.sqrt, (-1.0,)), "worse": (int, ("not a number",))}
    writes = {f"good-{k}": (Path.write_text, (marker, "done")) for k, marker in enumerate(markers)}
    with pytest.raises(ValueError, match="math domain error"):
        run_stages({**failing, **writes}, jobs=jobs)
    assert [marker.read_text() for marker in markers] == ["done"] * 3
    err = capsys.readouterr().err
    assert "2 Q2 stages failed (bad, worse)" in err and "invalid literal for int()" in err


def test_stages_start_costliest_first_and_reused_bases_cost_nothing():
    from i2imetric_training.findings_q2 import ARMS, BASES, pretraining_cost, start_order, training_cost

    assert start_order(["a", "b", "c", "d"], {"c": 2.0, "d": 3.0}) == ["d", "c", "a", "b"]
    costs = {name: pretraining_cost(base, reuse={}) for name, base in BASES.items()}
    assert start_order(BASES, costs) == ["clip_double_data", "timm", "clip", "clip_half_data"]  # 2 x steps; DINO 2x
    assert pretraining_cost(BASES["clip_double_data"], reuse={"clip_double_data": "x"}) == 0.0
    costs = {arm.name: training_cost(arm) for arm in ARMS}
    assert start_order([arm.name for arm in ARMS], costs)[:2] == ["timm", "both"]


def test_a_cached_base_pretrained_with_another_config_is_refused(tmp_path):
    from i2imetric.errors import I2IInputError
    from i2imetric.hub.weights import sha256_file
    from i2imetric_training.findings_q2 import (
        BASES,
        Q2Settings,
        _base_path,
        _pretrain_config,
        _pretrain_overrides,
        config_differences,
        pretrain_base,
    )

    settings = Q2Settings(pretrain_steps=1, train_steps=1, grammar=1, shapes=0, photo_crops=0, pretrain_batch=4)
    base = BASES["clip"]
    path = _base_path(tmp_path, base.name)
    config = _pretrain_config(base, _pretrain_overrides(base, settings, path))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"weights")
    recorded = {**json.loads(json.dumps(vars(config), default=str)), "output": "elsewhere.safetensors"}
    assert config_differences(recorded, config) == {}  # where it was written says nothing of the weights
    record = {"sha256": sha256_file(path), "config": recorded, "distinct_examples": 4, "seconds": 1.0}
    path.with_suffix(".json").write_text(json.dumps(record))
    assert pretrain_base(tmp_path, base, settings, reuse={})["sha256"] == record["sha256"]
    # The recipe changed since (here the descriptions' share): the cached base is not this run's.
    stale = {**record, "config": {**recorded, "described_share": 0.0}}
    path.with_suffix(".json").write_text(json.dumps(stale))
    with pytest.raises(I2IInputError, match=r"described_share.*delete it and clip.json"):
        pretrain_base(tmp_path, base, settings, reuse={})
    older = {**record, "config": {k: v for k, v in recorded.items() if k != "grammar_group_size"}}
    assert config_differences(older["config"], config) == {"grammar_group_size": ("unrecorded", 4)}
    # A setting added since, at the default that keeps the old behaviour, matches a record without it.
    before_siblings = {k: v for k, v in recorded.items() if k != "sibling_changes"}
    assert config_differences(before_siblings, config) == {}


def test_a_reused_base_without_a_record_is_labelled_unverified():
    from i2imetric_training.findings_q2 import _base_cell

    base = {"objective": "clip", "steps": 1000, "batch_size": 96, "pool_size": None, "distinct_examples": 96_000,
            "reused": True, "verified": False}  # fmt: skip
    assert _base_cell(base).endswith("(reused file, no pretraining record: unverified)")
    assert _base_cell({**base, "verified": True}).endswith("96,000 distinct (reused file)")


@pytest.mark.slow  # five arms trained and scored, at toy size: about half a minute
def test_q2_trains_and_measures_every_arm(q2_run):
    for name in ("q2.json", "q2.md", "section.md", "q2_heldout_accuracy.png"):
        assert (q2_run / name).is_file() and (q2_run / name).stat().st_size > 0, name
    report = json.loads((q2_run / "q2.json").read_text())
    arms = {arm["arm"]: arm for arm in report["arms"]}
    assert tuple(arms) == Q2_ARMS
    stage = report["run"]["stage_minutes"]
    assert set(stage) == {"pretraining", "training", "evaluation"} and all(v > 0 for v in stage.values())
    assert report["run"]["jobs"] == 2 and "min of pretraining" in (q2_run / "q2.md").read_text()
    table = (q2_run / "q2.md").read_text()
    for name in Q2_ARMS:
        assert f"| `{name}` |" in table
    assert [arms[name]["patch_source"] for name in Q2_ARMS] == ["clip", "timm", "both", "clip", "clip"]
    for arm in arms.values():
        for split in ("grammar_train", "grammar_heldout_phrasing", "grammar_heldout_combo", "grammar_heldout_operation"):
            assert 0.0 <= arm["accuracy"][split]["accuracy"] <= 1.0 and arm["accuracy"][split]["pairs"] > 0
        assert set(arm["checks"]) == {"map_helped_positive", "map_pointing", "map_damage_pointing", "instruction_swap"}
        assert arm["parameters"]["total"] > arm["parameters"]["trainable"] > 0
        assert arm["seconds_per_step"] > 0 and arm["pretraining_minutes"] >= 0
    # Same steps and images for the two objectives; half the distinct data, or twice the steps, for the quantity arms.
    bases = report["bases"]
    assert bases["clip"]["steps"] == bases["timm"]["steps"] == bases["clip_half_data"]["steps"] == 1
    assert bases["clip_double_data"]["steps"] == 2 and bases["clip_double_data"]["distinct_examples"] == 8
    assert bases["clip_half_data"]["pool_size"] == 2 and bases["clip_half_data"]["distinct_examples"] == 2
    assert [b["name"] for b in arms["timm"]["bases"]] == ["clip", "timm"]
    # The timm arm's checkpoint carries the DINO-style ViT it was trained on.
    best = json.loads((q2_run / "arms" / "timm" / "train" / "best" / "i2imetric_config.json").read_text())
    assert best["timm_weights"]["sha256"] == bases["timm"]["sha256"]
    section = (q2_run / "section.md").read_text()
    for needed in ("python -m i2imetric_training.pretrain_ssl --config configs/shapesvit_dino_pretrain.yaml",
                   "i2imetric train --config configs/demo_scorer.yaml model=shapesclip_timm", "pool_size=2",
                   "DreamSim (Fu et al. 2023, NeurIPS", "ImagenHub (Ku et al. 2024, ICLR", "Spearman .30 vs .28",
                   "](figures/q2_heldout_accuracy.png)"):  # fmt: skip
        assert needed in section, needed


@pytest.mark.slow
def test_q2_resume_skips_every_finished_stage(q2_run, monkeypatch):
    import i2imetric_training.evaluate_scorer as evaluate_scorer
    import i2imetric_training.pretrain as pretrain
    import i2imetric_training.pretrain_ssl as pretrain_ssl
    import i2imetric_training.train as train
    from i2imetric_training.findings import main

    def never(*args, **kwargs):
        raise AssertionError("a finished stage ran again")

    for module, name in ((pretrain, "pretrain"), (pretrain_ssl, "pretrain_ssl"), (train, "train"),
                         (evaluate_scorer, "evaluate_scorer")):  # fmt: skip
        monkeypatch.setattr(module, name, never)
    before = json.loads((q2_run / "q2.json").read_text())
    assert main(["q2", "--out", str(q2_run), *Q2_TOY]) == 0
    after = json.loads((q2_run / "q2.json").read_text())
    assert after["arms"] == before["arms"] and after["bases"] == before["bases"]
    # The cost is the stages' own, not this (instant) invocation's.
    assert after["run"]["stage_minutes"] == before["run"]["stage_minutes"]


@pytest.mark.slow
def test_q2_scores_again_an_arm_whose_weights_changed(q2_run, monkeypatch):
    import i2imetric_training.evaluate_scorer as evaluate_scorer
    from i2imetric_training.findings import main

    [path] = (q2_run / "arms" / "clip").glob("eval-*.json")
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "weights_sha256": "0" * 64}))  # as if the arm were trained again
    scored = []
    original = evaluate_scorer.evaluate_scorer
    monkeypatch.setattr(evaluate_scorer, "evaluate_scorer", lambda *a, **k: scored.append(1) or original(*a, **k))
    assert main(["q2", "--out", str(q2_run), *Q2_TOY]) == 0
    assert len(scored) == 1 and json.loads(path.read_text())["weights_sha256"] == record["weights_sha256"]


@pytest.mark.slow
def test_q2_refuses_other_settings_and_bad_reuse(q2_run, capsys):
    from i2imetric_training.findings import main

    toy = list(Q2_TOY)
    toy[toy.index("--train-steps") + 1] = "3"
    assert main(["q2", "--out", str(q2_run), *toy]) == 2
    assert "train_steps: cached 2, asked 3" in capsys.readouterr().err
    assert main(["q2", "--out", str(q2_run), *Q2_TOY, "--reuse-base", "dino=x.safetensors"]) == 2
    assert "no such base; valid: clip, clip_half_data, clip_double_data, timm" in capsys.readouterr().err
    # A reused file whose record says it was pretrained otherwise is refused, not mixed in.
    base = q2_run / "bases" / "clip.safetensors"
    assert main(["q2", "--out", str(q2_run), *Q2_TOY, "--reuse-base", f"clip_double_data={base}"]) == 2
    assert "was pretrained with" in capsys.readouterr().err


@pytest.mark.slow
def test_q2_reuses_a_base_file_and_pastes_its_section(q2_run, tmp_path):
    from i2imetric_training.findings_q2 import BASES, Q2Settings, pretrain_base

    settings = Q2Settings(pretrain_steps=1, train_steps=2, grammar=2, shapes=2, photo_crops=0, pretrain_batch=4,
                          groups_per_step=2)  # fmt: skip
    path = q2_run / "bases" / "clip_double_data.safetensors"
    record = pretrain_base(tmp_path, BASES["clip_double_data"], settings, {"clip_double_data": path})
    assert record["reused"] and record["verified"] and record["sha256"] == json.loads(path.with_suffix(".json").read_text())["sha256"]
    assert not (tmp_path / "bases").exists()  # nothing pretrained

    from i2imetric_training.findings import main

    doc = tmp_path / "findings.md"
    doc.write_text("# Findings\n<!-- q2:begin -->\nstale section\n<!-- q2:end -->\nafter\n")
    assert main(["q2", "--out", str(q2_run), *Q2_TOY, "--doc", str(doc)]) == 0
    page = doc.read_text()
    assert "stale section" not in page and "after" in page and "**Pairwise accuracy**" in page
    assert (tmp_path / "figures" / "q2_heldout_accuracy.png").is_file()


def test_q2_seconds_per_step_is_the_median_between_logged_steps(tmp_path):
    from i2imetric_training.findings_q2 import seconds_per_step

    log = tmp_path / "log.jsonl"
    rows = [{"step": 1, "time": 0.0, "loss": 1}, {"step": 11, "time": 10.0, "loss": 1},
            {"step": 11, "time": 50.0, "validation": {}}, {"step": 21, "time": 20.0, "loss": 1},
            {"step": 31, "time": 130.0, "loss": 1}, {"step": 41, "time": 140.0, "loss": 1}]  # fmt: skip
    log.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert seconds_per_step(log) == pytest.approx(1.0)  # the interval with a resume (110 s) does not count
    log.write_text(json.dumps(rows[0]) + "\n")
    assert seconds_per_step(log) is None
