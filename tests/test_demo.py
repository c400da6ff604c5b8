"""`i2imetric demo` end to end (small), and the shipped demo scorer's pinned scores."""

import base64
import contextlib
import html
import io
import json
import os
import re

import pytest
import torch
from PIL import Image

import i2imetric
from i2imetric.cli.main import main

DEMO_REGRESSION = os.path.join(os.path.dirname(__file__), "data", "regression_demo.json")
RIGHT = "right edit"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo (test-tiny, two cases) run with a relative --out: the folder, its rows, what it printed."""
    root = tmp_path_factory.mktemp("demo")
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        patch.chdir(root)
        argv = ["demo", "--metric", "untrained:test-tiny", "--out", "rel/dir", "--shapes", "1", "--photos", "1"]
        assert main(argv) == 0
    out = root / "rel" / "dir"
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return out, rows, printed.getvalue()


def embedded_images(page: str) -> list[Image.Image]:
    """Every <img> of the page, decoded: the report is self-contained, so each is a data URI."""
    sources = re.findall(r"<img [^>]*src=\"([^\"]*)\"", page)
    assert len(sources) == page.count("<img ")
    images = []
    for source in sources:
        assert source.startswith("data:image/png;base64,"), source[:60]
        image = Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1], validate=True)))
        image.load()
        images.append(image)
    return images


def by_case(rows):
    cases = {}
    for row in rows:
        cases.setdefault(row["case"], []).append(row)
    return cases


def test_demo_command_end_to_end(demo):
    out, rows, printed = demo
    assert "<- the right answer" in printed and "ranked first in" in printed
    assert {row["system"] for row in rows} >= {RIGHT, "no_edit", "unchanged"}
    for row in rows:
        heatmap = out / row["case"] / f"{row['system'].replace(' ', '_')}_heatmap.png"
        assert row["heatmap"] == os.path.realpath(heatmap)
        with Image.open(heatmap) as image:
            image.verify()
    assert "<html" in (out / "report.html").read_text()[:500].lower()


def test_demo_rows_name_their_images_as_eval_does(demo):
    out, rows, _ = demo
    for row in rows:
        for key in ("source", "output", "heatmap"):
            assert os.path.isabs(row[key]) and row[key] == os.path.realpath(row[key]) and os.path.isfile(row[key])
        assert row["status"] == "ok" and set(row) >= {"id", "system", "instruction", "score", "subscores", "baselines"}


def test_the_report_of_a_relative_out_embeds_every_image(demo):
    out, rows, _ = demo
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "unreadable" not in page and "no image path" not in page
    # The rankings chart, then per case its source and an output and a heatmap per candidate.
    assert len(embedded_images(page)) == 1 + sum(1 + 2 * len(case) for case in by_case(rows).values())


def test_report_reads_the_demo_results_from_any_working_folder(demo, tmp_path, monkeypatch, capsys):
    out, rows, _ = demo
    monkeypatch.chdir(tmp_path)
    argv = ["report", os.path.relpath(out / "results.jsonl"), "--out", "again.html", "--right-answer", RIGHT]
    assert main(argv) == 0
    page = (tmp_path / "again.html").read_text(encoding="utf-8")
    assert "unreadable" not in page
    # Without --metric too: the rows name the heatmaps the demo drew.
    assert len(embedded_images(page)) == 1 + sum(1 + 2 * len(case) for case in by_case(rows).values())


def test_the_demo_report_shows_each_cases_rank_of_the_right_edit_not_pooled_lists(demo):
    out, rows, printed = demo
    page = (out / "report.html").read_text(encoding="utf-8")
    beaten_all = wrong_all = 0
    for case, candidates in by_case(rows).items():
        right = next(row["score"] for row in candidates if row["system"] == RIGHT)
        wrong = [row["score"] for row in candidates if row["system"] != RIGHT]
        rank = 1 + sum(score >= right for score in wrong)  # a tie is not a win
        beaten = sum(score < right for score in wrong)
        beaten_all, wrong_all = beaten_all + beaten, wrong_all + len(wrong)
        cells = [case, candidates[0]["instruction"], f"{rank} of {len(candidates)}", f"{beaten} of {len(wrong)}"]
        assert "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) in page
        assert re.search(rf"\n{re.escape(case)}: .*\n(  .*\n){{{rank - 1}}}  {rank}\. .*{RIGHT}  <- the right answer", printed)
    share = f"{100 * beaten_all / wrong_all:.1f}%"
    assert f"beat {beaten_all} of {wrong_all} wrong answers ({share})" in page
    assert f"beat {beaten_all}/{wrong_all} wrong answers ({share})" in printed  # the console says the same
    # Scores of different cases cannot be compared: no pooled best/worst rows, no per-label chart.
    assert "Best " not in page and "Worst " not in page
    assert 'id="examples"' not in page and 'id="distributions"' not in page


@pytest.mark.skipif("demo" not in i2imetric.list_pretrained(), reason="the demo scorer is not shipped yet")
def test_demo_scorer_reproduces_stored_scores():
    from i2imetric.data.synthetic import shapesworld

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


def test_an_uncalibrated_scorer_prints_raw_logits_and_says_there_is_no_calibration(demo):
    out, rows, printed = demo
    assert "This scorer has no calibration" in printed
    assert all(row["calibrated"] is None for row in rows)
    assert "No calibration" in (out / "report.html").read_text(encoding="utf-8")


def test_a_calibrated_scorer_prints_and_reports_the_calibrated_score_with_its_meaning(tiny_trained_checkpoint, tmp_path):
    from i2imetric.models.config import CALIBRATED_MEANING

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        argv = ["demo", "--metric", str(tiny_trained_checkpoint), "--out", str(tmp_path), "--shapes", "1", "--photos", "0"]
        assert main(argv) == 0
    printed = printed.getvalue()
    assert CALIBRATED_MEANING in printed and "no calibration" not in printed
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    for row in rows:
        # The fixture's calibration is sigmoid(0.5 * score + 0.1).
        assert row["calibrated"] == pytest.approx(float(torch.sigmoid(torch.tensor(0.5 * row["score"] + 0.1))), abs=1e-6)
        assert f"{row['calibrated']:6.3f}  (raw {row['score']:+8.3f})  {row['system']}" in printed
        assert f"{row['calibrated']:.3f} ({row['score']:+.3f}) {html.escape(row['system'])}" in page
    assert html.escape(CALIBRATED_MEANING) in page


@pytest.mark.parametrize(
    "argv, complaint",
    [
        (["--photos", "17"], "--photos 17: expected an integer from 0 to 16"),  # 16 canonical edits to sample
        (["--photos", "-1"], "--photos -1: expected an integer from 0 to 16"),
        (["--shapes", "-2"], "--shapes -2: expected an integer at least 0"),
        (["--shapes", "0", "--photos", "0"], "nothing to score"),
    ],
)
def test_demo_refuses_case_counts_it_cannot_honour_before_loading_the_scorer(tmp_path, capsys, monkeypatch, argv,
                                                                             complaint):
    import i2imetric.cli.common as common

    monkeypatch.setattr(common, "metric_from_argument", lambda *a, **k: pytest.fail("the scorer was loaded first"))
    code = main(["demo", "--metric", "untrained:test-tiny", "--out", str(tmp_path / "out"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and complaint in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_build_cases_names_its_own_arguments():
    from i2imetric.cli.demo import build_cases
    from i2imetric.errors import I2IInputError

    with pytest.raises(I2IInputError, match="photo_edits 17: expected an integer from 0 to 16"):
        build_cases(shapes=0, photo_edits=17)
    assert len(build_cases(shapes=0, photo_edits=16)) == 16  # every canonical edit once
