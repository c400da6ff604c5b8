"""Validating on a share of a human-voted benchmark: the trainer selects on it, the scorer records it,
and `i2imetric bench` reports that benchmark on the other units only (the two agree on the share)."""

from __future__ import annotations

import json
import os

import pytest

from i2imetric.errors import CheckpointError, ConfigError, I2IInputError
from i2imetric.meta_eval.benchmarks import validation_share

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BENCH_ROOT = os.path.join(os.path.dirname(__file__), "data", "fixtures", "bench")


def test_the_share_is_fixed_by_the_ids_and_grows_with_the_fraction():
    ids = [str(i) for i in range(2000)]
    small, large = validation_share("genai-bench", ids, 0.1), validation_share("genai-bench", ids, 0.3)
    assert small <= large  # a unit keeps its side when the fraction grows
    assert 150 < len(small) < 250 and 520 < len(large) < 680
    assert validation_share("genai-bench", list(reversed(ids)), 0.1) == small  # no order, no seed
    assert validation_share("other-bench", ids, 0.1) != small  # each benchmark draws its own
    with pytest.raises(I2IInputError, match="must be in"):
        validation_share("genai-bench", ids, 1.0)


def test_the_config_names_what_can_be_validated_on(tmp_path):
    from i2imetric_training.config import load_train_config

    with pytest.raises(ConfigError, match="valid: genai-bench"):
        load_train_config(None, ("validation.benchmarks=[{bench: nights}]",))
    with pytest.raises(ConfigError, match="fraction 1.5"):
        load_train_config(None, ("validation.benchmarks=[{bench: genai-bench, fraction: 1.5}]",))


@pytest.fixture(scope="module")
def validated_checkpoint(tmp_path_factory):
    from i2imetric_training.config import load_train_config
    from i2imetric_training.train import train

    out = tmp_path_factory.mktemp("run")
    config = load_train_config(None, (
        "model=test-tiny", "steps=1", "validation.every=1", "validation.shapes_count=2", "validation.photo_crops=0",
        "data.groups_per_step=2", "data.image_size=32", f"output_dir={out}",
        f"validation.benchmarks=[{{bench: genai-bench, data_root: {BENCH_ROOT}, fraction: 0.5}}]",
    ))  # fmt: skip
    return train(config).best_dir


def test_training_selects_on_the_share_and_the_scorer_records_it(validated_checkpoint, tmp_path):
    import i2imetric
    from i2imetric.data import load_genai_bench_votes

    tables = json.loads((validated_checkpoint / "validation.json").read_text())
    records, _ = load_genai_bench_votes(os.path.join(BENCH_ROOT, "genai-bench"), image_dir=tmp_path)
    share = validation_share("genai-bench", [r.id for r in records], 0.5)
    decided = [r for r in records if r.id in share and r.label in ("a", "b")]
    assert decided and tables["bench_genai-bench@validation"]["pairs"] == len(decided)
    metric = i2imetric.load_metric(validated_checkpoint)
    assert metric.validated_on == [{"bench": "genai-bench", "fraction": 0.5}]


def test_bench_leaves_out_the_units_the_scorer_was_validated_on(validated_checkpoint, tmp_path):
    from i2imetric.cli.main import main

    out = tmp_path / "bench"
    assert main(["bench", "--metric", str(validated_checkpoint), "--bench", "genai-bench", "--data-root", BENCH_ROOT,
                 "--out", str(out), "--bootstrap", "10", "--num-workers", "0", "--no-progress",
                 "--baselines", "none"]) == 0  # fmt: skip
    report = json.loads((out / "genai-bench.json").read_text())
    lines = [json.loads(line) for line in (out / "genai-bench" / "manifest.jsonl").read_text().splitlines()]
    manifest = [row for row in lines if "output" in row]  # the triplets, not the header
    held = len(validation_share("genai-bench", [str(i) for i in range(12)], 0.5))
    assert report["coverage"]["units"] == 12 - held
    assert len(manifest) <= 2 * (12 - held)
    assert any("validated on them" in note for note in report["data"]["notes"])


def test_a_checkpoint_with_a_bad_record_is_refused(validated_checkpoint, tmp_path):
    import shutil

    import i2imetric

    folder = tmp_path / "bad"
    shutil.copytree(validated_checkpoint, folder)
    config = json.loads((folder / "i2imetric_config.json").read_text())
    config["validated_on"] = [{"bench": "genai-bench", "fraction": 2}]
    (folder / "i2imetric_config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"validated_on\[0\]"):
        i2imetric.load_metric(folder)
