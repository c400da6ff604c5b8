"""`i2imetric demo` end to end (small), and the shipped demo scorer's pinned scores."""

import json
import os

import pytest
import torch
from PIL import Image

import i2imetric
from i2imetric.cli import main

DEMO_REGRESSION = os.path.join(os.path.dirname(__file__), "data", "regression_demo.json")


def test_demo_command_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--metric", "test-tiny", "--out", str(out), "--shapes", "1", "--photos", "1"]) == 0
    printed = capsys.readouterr().out
    assert "<- the right answer" in printed and "ranked first in" in printed
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {row["system"] for row in rows} >= {"right edit", "no_edit", "unchanged"}
    for row in rows:
        heatmap = out / row["case"] / f"{row['system'].replace(' ', '_')}_heatmap.png"
        with Image.open(heatmap) as image:
            image.verify()
    assert "<html" in (out / "report.html").read_text()[:500].lower()


@pytest.mark.skipif("demo" not in i2imetric.list_pretrained(), reason="the demo scorer is not shipped yet")
def test_demo_scorer_reproduces_stored_scores():
    from i2imetric import shapesworld

    metric = i2imetric.load_metric("demo")
    example = shapesworld.make_edit_example(shapesworld.HELDOUT_SEED_START, size=64)
    candidates = [example.target, *example.distractors.values()]
    scores = metric.score([example.source] * len(candidates), [example.instruction] * len(candidates), candidates)
    if os.environ.get("I2IMETRIC_REGEN_REGRESSION"):
        with open(DEMO_REGRESSION, "w") as handle:
            json.dump({"instruction": example.instruction, "scores": scores.tolist()}, handle, indent=1)
    with open(DEMO_REGRESSION) as handle:
        stored = json.load(handle)
    assert stored["instruction"] == example.instruction
    torch.testing.assert_close(scores, torch.tensor(stored["scores"]), atol=1e-4, rtol=1e-4)
