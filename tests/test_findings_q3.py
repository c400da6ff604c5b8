"""Q3 of docs/findings.md: what the joint latent z holds. The statistics on constructed features, and
`python -m i2imetric_training.findings q3` end to end at toy size on a test-tiny checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest

from i2imetric.errors import I2IInputError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_probes_read_a_linear_code_and_folds_keep_items_apart():
    from i2imetric_training.findings_q3 import probe_accuracy

    rng = np.random.default_rng(0)
    items = np.repeat(np.arange(30), 4)
    labels = rng.integers(0, 3, size=len(items))
    coded = np.eye(3)[labels] * 3.0 + rng.normal(size=(len(items), 3))
    assert probe_accuracy(np.hstack([coded, rng.normal(size=(len(items), 5))]), labels.tolist(), items)[
        "balanced_accuracy"] > 0.9  # fmt: skip
    # A label that belongs to the item, and features that only say which item this is: a probe
    # that saw the item in training would score 1.0; folds grouped by item leave it at chance.
    item_label = rng.integers(0, 2, size=30)[items]
    identity = np.eye(30)[items] + 0.01 * rng.normal(size=(len(items), 30))
    leaky = probe_accuracy(identity, item_label.tolist(), items)
    assert leaky["balanced_accuracy"] < 0.75 and leaky["chance"] == 0.5 and leaky["classes"] == 2


def test_condensation_counts_components_and_probes_in_fewer_dimensions():
    from i2imetric_training.findings_q3 import probe_accuracy, variance_components

    rng = np.random.default_rng(1)
    signal = rng.normal(size=(120, 3)) * 10.0
    features = signal @ rng.normal(size=(3, 40)) + 0.01 * rng.normal(size=(120, 40))
    variance = variance_components(features)
    assert variance["dims"] == 40 and variance["for_90"] <= 3 and variance["for_99"] <= 3
    assert variance["cumulative"][-1] == pytest.approx(1.0)
    labels = (signal[:, 0] > 0).tolist()
    items = np.arange(120) // 2
    assert probe_accuracy(features, labels, items, components=3)["balanced_accuracy"] > 0.85


def test_retrieval_ranks_count_ties_against_the_true_instruction():
    from i2imetric_training.findings_q3 import retrieval_ranks, retrieval_summary

    scores = np.array([[3.0, 1.0, 2.0], [1.0, 1.0, 0.0], [0.0, 1.0, 2.0]])
    ranks = retrieval_ranks(scores)
    assert ranks.tolist() == [1, 2, 3]
    summary = retrieval_summary(ranks, ["heldout_phrasing", "heldout_combo", "heldout_combo"], 3)
    assert summary["all"]["top1"] == pytest.approx(1 / 3) and summary["heldout_combo"]["n"] == 2
    assert summary["chance"] == {"top1": pytest.approx(1 / 3), "top5": 1.0, "mean_rank": 2.0}


@pytest.fixture(scope="module")
def examples():
    from i2imetric_training.findings_q3 import Q3Settings, heldout_examples

    return heldout_examples(Q3Settings(n_items=6, n_candidates=4, working_size=32))


def test_items_are_heldout_specs_and_candidates_are_other_edits(examples):
    from i2imetric.data.synthetic.grammar import split_of
    from i2imetric_training.findings_q3 import SPLITS, retrieval_candidates, triplet_table

    assert [e.split for e in examples] == [s for s in SPLITS for _ in range(6)]
    for example in examples:
        # Held-out phrasings are trained specs in words never trained.
        assert split_of(example.spec) == ("train" if example.split == "heldout_phrasing" else example.split)
    lists = retrieval_candidates(examples, 4, seed=0)
    assert lists == retrieval_candidates(examples, 4, seed=0)
    by_instruction = {e.group.instruction: e for e in examples}
    for example, candidates in zip(examples, lists):
        assert candidates[0] == example.group.instruction and len(set(candidates)) == 4
        for other in candidates[1:]:
            assert (by_instruction[other].op, by_instruction[other].region) != (example.op, example.region)
            assert by_instruction[other].split == example.split
    table = triplet_table(examples)
    assert sum(table["right output"]) == len(examples)
    assert set(table["failure mode"]) - {"right"} <= set(k for e in examples for k in e.group.kinds)
    with pytest.raises(I2IInputError, match="--candidates 50"):
        retrieval_candidates(examples, 50, seed=0)


TOY = ["--items", "6", "--candidates", "4", "--working-size", "32", "--no-progress"]


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory, tiny_trained_checkpoint):
    from i2imetric_training.findings import main

    out = tmp_path_factory.mktemp("q3")
    assert main(["q3", "--out", str(out), "--metric", str(tiny_trained_checkpoint), *TOY]) == 0
    return out


def test_q3_writes_every_table_and_the_figure(toy_run):
    from i2imetric_training.findings_q3 import PROBES, SPACES

    for name in ("results.json", "tables.md", "section.md", "q3_condensation.png", "settings.json"):
        assert (toy_run / name).is_file() and (toy_run / name).stat().st_size > 0, name
    report = json.loads((toy_run / "results.json").read_text())
    analysis = report["analysis"]
    assert set(analysis["probes"]) == set(SPACES)
    for space in SPACES:
        for probe in PROBES:
            entry = analysis["probes"][space][probe]
            assert 0.0 <= entry["balanced_accuracy"] <= 1.0 and entry["n"] == report["run"]["n_triplets"]
    # A trained checkpoint has a prior of its own: four retrieval rows.
    assert set(analysis["retrieval"]) == {"i2imetric score", "zero-shot prior", "CLIP-T", "CLIP-dir"}
    assert analysis["set_level"] is None
    text = (toy_run / "tables.md").read_text()
    for heading in ("**Linear probes**", "**Instruction retrieval**", "**Condensation**", "**What it says**"):
        assert heading in text


def test_q3_resumes_from_its_cache_and_reads_q1_set_level_rows(toy_run, tiny_trained_checkpoint, monkeypatch,
                                                               tmp_path):  # fmt: skip
    import i2imetric_training.findings_q3 as q3
    from i2imetric_training.findings import main

    def no_scoring(*args, **kwargs):
        raise AssertionError("a cached embedding or score was computed again")

    monkeypatch.setattr(q3, "embed_table", no_scoring)
    monkeypatch.setattr(q3, "pooled_features", no_scoring)
    monkeypatch.setattr(q3, "retrieval_scores", no_scoring)
    report = json.loads((toy_run / "results.json").read_text())
    q1 = tmp_path / "q1"
    q1.mkdir()
    scorers = [{"name": "FD, joint latent z", "level": "set", "system": {"kendall": [0.4, 0.1, 0.7]}},
               {"name": "FD, base pooled", "level": "set", "system": {"kendall": [-0.2, -0.5, 0.1]}},
               {"name": "CLIP-T", "level": "sample", "system": {"kendall": [0.1, 0.0, 0.2]}}]
    (q1 / "results.json").write_text(json.dumps({"run": {"metric": report["run"]["metric"], "n_items": 40},
                                                 "analysis": {"scorers": scorers}}))  # fmt: skip
    doc = tmp_path / "findings.md"
    doc.write_text("# Findings\n<!-- q3:begin -->\nSTALE SECTION\n<!-- q3:end -->\n")
    assert main(["q3", "--out", str(toy_run), "--metric", str(tiny_trained_checkpoint), *TOY, "--q1", str(q1),
                 "--doc", str(doc)]) == 0  # fmt: skip
    set_level = json.loads((toy_run / "results.json").read_text())["analysis"]["set_level"]
    assert set(set_level["rows"]) == {"FD, joint latent z", "FD, base pooled"}
    page = doc.read_text()
    assert "STALE SECTION" not in page and "**Set level**" in page and "tau 0.40" in page
    assert (tmp_path / "figures" / "q3_condensation.png").is_file()
    # A Q1 run of another checkpoint is refused, naming the fix.
    other = json.loads((q1 / "results.json").read_text())
    other["run"]["metric"] = {**other["run"]["metric"], "weights_sha256": "0" * 64}
    (q1 / "results.json").write_text(json.dumps(other))
    assert main(["q3", "--out", str(toy_run), "--metric", str(tiny_trained_checkpoint), *TOY, "--q1", str(q1)]) == 2


def test_q3_refuses_a_cache_made_with_other_settings(toy_run, tiny_trained_checkpoint, capsys):
    from i2imetric_training.findings import main

    assert main(["q3", "--out", str(toy_run), "--metric", str(tiny_trained_checkpoint), "--items", "7",
                 "--candidates", "4", "--working-size", "32", "--no-progress"]) == 2  # fmt: skip
    assert "n_items" in capsys.readouterr().err


def test_pooled_features_encode_each_source_once_and_match_row_by_row_encoding():
    import torch

    import i2imetric
    from i2imetric_training import findings_q3 as q3

    base = i2imetric.create_metric("test-tiny").eval()
    generator = torch.Generator().manual_seed(0)
    sources = [torch.rand(3, 16, 20, generator=generator) for _ in range(2)]
    table = {"item": [0, 0, 0, 1, 1], "source": [sources[0]] * 3 + [sources[1]] * 2,
             "output": [torch.rand(3, 16, 20, generator=generator) for _ in range(5)],
             "instruction": ["brighten it", "blur it", "flip it", "darken it", "add a square"]}  # fmt: skip
    encoded = []
    original = base.encode_images
    base.encode_images = lambda images: encoded.append(len(images)) or original(images)
    features = q3.pooled_features(base, table, batch_size=2)
    assert sum(encoded) == 2 + 5  # two distinct sources, five outputs
    with torch.no_grad():
        g_source, g_output = original(table["source"]).pooled, original(table["output"]).pooled
        text = base.encode_instructions(table["instruction"]).pooled
    expected = torch.cat([g_output, g_source, g_output - g_source, text], dim=-1).numpy()
    np.testing.assert_allclose(features, expected, atol=1e-5, rtol=1e-4)
