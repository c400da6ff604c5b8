"""The HTML report: one self-contained, well-formed file whose every embedded image decodes."""

import base64
import html
import io
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

import i2imetric
from i2imetric.cli.main import main
from i2imetric.data import Pairwise, Rating, Triplet, write_manifest
from i2imetric.errors import I2IInputError
from i2imetric.viz.report import build_report, rank_cases

SYSTEMS = ("alpha", "beta", "gamma")
N_SOURCES = 4
VOID_TAGS = {"img", "br", "meta", "hr", "input", "link"}


class _Structure(HTMLParser):
    """Tags in order, with a check that every non-void element is closed in order."""

    def __init__(self):
        super().__init__()
        self.stack, self.seen, self.errors = [], [], []
        self.attributes = []

    def handle_starttag(self, tag, attrs):
        self.seen.append(tag)
        self.attributes.append(dict(attrs))
        if tag not in VOID_TAGS:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unbalanced </{tag}>")


def parse(page: str) -> _Structure:
    structure = _Structure()
    structure.feed(page)
    structure.close()
    assert not structure.errors and not structure.stack, (structure.errors, structure.stack)
    return structure


def embedded_images(structure: _Structure) -> list[Image.Image]:
    images = []
    for attributes in structure.attributes:
        source = attributes.get("src")
        if source is None:
            continue
        assert source.startswith("data:image/png;base64,"), source[:60]  # nothing fetched from outside
        data = base64.b64decode(source.split(",", 1)[1], validate=True)
        Image.open(io.BytesIO(data)).verify()
        images.append(Image.open(io.BytesIO(data)))
    return images


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """Tiny PNGs, results (half the rows carry image paths), the scored manifest and ratings."""
    root = tmp_path_factory.mktemp("bench")
    rng = np.random.default_rng(0)
    records, rows, ratings = [], [], []
    for g in range(N_SOURCES):
        source = root / f"source{g}.png"
        Image.fromarray(rng.integers(0, 255, (20, 28, 3), dtype=np.uint8)).save(source)
        for system in SYSTEMS:
            output = root / f"{system}{g}.png"
            Image.fromarray(rng.integers(0, 255, (20, 28, 3), dtype=np.uint8)).save(output)
            item_id = f"s{g}/{system}"
            instruction = f"edit <b>{g}</b> & more"  # must come out escaped
            records.append(Triplet(str(source), instruction, str(output), id=item_id, system=system))
            human = float(rng.uniform())
            ratings.append(Rating(str(source), instruction, str(output), value=human, system=system, group=f"s{g}", id=item_id))
            row = {
                "id": item_id,
                "system": system,
                "status": "ok",
                "error": None,
                "score": human + float(rng.normal(scale=0.2)),
                "subscores": {"instruction": 0.1, "preservation": -0.2, "quality": 0.3},
                "baselines": {"clip_t": float(rng.uniform()), "l2": float(rng.uniform())},
            }
            if g % 2 == 0:
                row.update(source=str(source), instruction=instruction, output=str(output))
            rows.append(row)
    rows.append({"id": "broken", "status": "error", "error": "output missing", "score": None, "baselines": {}})
    results = root / "results.jsonl"
    results.write_text("".join(json.dumps(row) + "\n" for row in rows))
    write_manifest(root / "data.jsonl", records)
    write_manifest(root / "ratings.jsonl", ratings)
    return root


@pytest.fixture(scope="module")
def metric(tiny_trained_checkpoint):
    return i2imetric.load_metric(tiny_trained_checkpoint)


@pytest.fixture(scope="module")
def full_report(bench, metric):
    out = build_report(
        bench / "results.jsonl",
        bench / "full.html",
        labels=bench / "ratings.jsonl",
        metric=metric,
        data=bench / "data.jsonl",
        top=3,
        meta_eval_options={"n_resamples": 20},
    )
    return out.read_text(encoding="utf-8")


def test_full_report_is_one_well_formed_page_with_every_section(full_report):
    assert full_report.startswith("<!DOCTYPE html>")
    structure = parse(full_report)
    assert structure.seen[0] == "html" and {"head", "title", "style", "body", "table"} <= set(structure.seen)
    section_ids = [a.get("id") for tag, a in zip(structure.seen, structure.attributes) if tag == "section"]
    assert section_ids == ["summary", "distributions", "agreement", "examples"]
    for heading in ("Score distributions", "Agreement with human labels", "Best 3 by score", "Worst 3 by score"):
        assert heading in full_report
    assert "13 rows: 12 scored, 1 failed" in full_report and "failed 1x: output missing" in full_report


def test_every_embedded_image_decodes(full_report):
    images = embedded_images(parse(full_report))
    # 3 plots (score, sub-scores, scatter) and source | output | heatmap for 6 examples.
    assert len(images) == 3 + 6 * 3
    assert all(image.format == "PNG" for image in images)
    thumbnails = images[3:]
    assert all(max(image.size) == 256 for image in thumbnails)  # small images are scaled up


def test_examples_show_heatmaps_and_escape_text(full_report):
    # The metric has a calibration: the re-scored number is shown calibrated, with its raw logit.
    rescored = r"<figcaption>heatmap: red helped, blue hurt \(re-scored [01]\.\d{3} \([+-]\d+\.\d{3}\)\)</figcaption>"
    assert len(re.findall(rescored, full_report)) == 6
    assert "edit &lt;b&gt;" in full_report and "edit <b>" not in full_report
    assert "metric − this:" in full_report  # paired tests under each baseline
    assert "l2 is a distance" in full_report


def test_best_rows_come_first_and_worst_rows_last(bench, full_report):
    rows = [json.loads(line) for line in (bench / "results.jsonl").read_text().splitlines()]
    ranked = sorted((row for row in rows if row["status"] == "ok"), key=lambda row: -row["score"])
    best_part, worst_part = full_report.split("Worst 3 by score")
    shown_best = re.findall(r"<code>([^<]+)</code>", best_part)
    shown_worst = re.findall(r"<code>([^<]+)</code>", worst_part)
    assert shown_best == [row["id"] for row in ranked[:3]]
    assert shown_worst == [row["id"] for row in ranked[::-1][:3]]


def test_without_metric_labels_or_data_the_report_says_what_is_missing(bench):
    page = build_report(bench / "results.jsonl", bench / "bare.html", top=12).read_text(encoding="utf-8")
    structure = parse(page)
    assert "agreement" not in [a.get("id") for a in structure.attributes]
    assert "No heatmaps: pass a metric" in page
    assert "pass the scored manifest (--data)" in page  # odd sources have no paths in their rows
    embedded_images(structure)


def test_pairwise_labels_give_a_table_but_no_scatter(bench, tmp_path):
    pairs = [Pairwise(None, "e", "a.png", "b.png", "a" if i % 3 else "b", id=f"p{i}") for i in range(6)]
    rows = [
        {"id": f"p{i}/{side}", "status": "ok", "score": float(score), "baselines": {"clip_t": float(-score)}}
        for i in range(6)
        for side, score in (("a", i), ("b", 2.5))
    ]
    write_manifest(tmp_path / "pairs.jsonl", pairs)
    page = build_report(rows, tmp_path / "r.html", labels=tmp_path / "pairs.jsonl", meta_eval_options={"n_resamples": 10})
    text = page.read_text(encoding="utf-8")
    assert "pairwise accuracy, no ties" in text and "Scatter plots need rating labels" in text
    parse(text)


def test_an_unreadable_image_is_reported_in_place(tmp_path):
    row = {"id": "x", "status": "ok", "score": 1.0, "source": None, "instruction": "t", "output": str(tmp_path / "gone.png")}
    text = build_report([row], tmp_path / "r.html", top=1).read_text(encoding="utf-8")
    assert "output unreadable" in text and "gone.png" in text
    # Where a row's paths start: not the working folder, which the image loader's hint names.
    assert "relative to the results file&#x27;s folder" in text and "resolved from" not in text


def test_relative_image_paths_start_at_the_results_folder_wherever_the_report_runs(bench, tmp_path, monkeypatch):
    folder = tmp_path / "runs" / "one"
    folder.mkdir(parents=True)
    row = {"id": "x", "status": "ok", "score": 1.0, "instruction": "t"}
    row.update(source=f"../../../{bench.name}/source0.png", output=str(bench / "alpha0.png"))
    (folder / "results.jsonl").write_text(json.dumps(row) + "\n")
    monkeypatch.chdir(folder.parent)  # from here, the relative source names nothing
    page = build_report("one/results.jsonl", tmp_path / "r.html", top=1).read_text(encoding="utf-8")
    assert "unreadable" not in page
    assert len(embedded_images(parse(page))) == 1 + 2 * 2  # the score plot; source | output as best and worst


def case_rows():
    """Two cases of three candidates; in c2 a wrong answer ties the right one, c3 has no scored right answer."""
    scores = {"c1": {"right": 0.5, "w1": 0.9, "w2": 0.1}, "c2": {"right": 0.2, "w1": 0.2, "w2": -1.0}, "c3": {"w1": 1.0}}
    rows = [
        {"id": f"{case}/{system}", "case": case, "system": system, "instruction": f"do {case}", "status": "ok", "score": score}
        for case, candidates in scores.items()
        for system, score in candidates.items()
    ]
    rows.append({"id": "c3/right", "case": "c3", "system": "right", "status": "error", "error": "gone", "score": None})
    return rows


def test_rank_cases_puts_a_tie_above_the_right_answer():
    rankings, unranked = rank_cases([row for row in case_rows() if row["status"] == "ok"], "right")
    assert unranked == ["c3"]
    assert [(r.case, r.right_rank, r.beaten, r.wrong) for r in rankings] == [("c1", 2, 1, 2), ("c2", 2, 1, 2)]
    assert [row["system"] for row in rankings[1].ranked] == ["w1", "right", "w2"]
    with pytest.raises(I2IInputError, match="no case has a scored row of system 'edit'"):
        rank_cases(case_rows()[:3], "edit")


def test_cases_report_ranks_within_cases_and_never_pools(tmp_path):
    page = build_report(case_rows(), tmp_path / "r.html", right_answer="right").read_text(encoding="utf-8")
    structure = parse(page)
    section_ids = [a.get("id") for tag, a in zip(structure.seen, structure.attributes) if tag == "section"]
    assert section_ids == ["summary", "rankings", "cases"]
    assert "<td>c1</td><td>do c1</td><td>2 of 3</td><td>1 of 2</td><td>50.0%</td>" in page
    assert "<td>c2</td><td>do c2</td><td>2 of 3</td><td>1 of 2</td><td>50.0%</td>" in page
    assert "The right beat 2 of 4 wrong answers (50.0%) and was ranked first in 0 of 2 cases." in page
    assert "Left out, no scored right: c3." in page
    assert "Best " not in page and "mean" not in page  # no pooled lists or pooled score summary
    assert re.findall(r"<figcaption>(\d)\. [+-][\d.]+ (\w+)", page) == [
        ("1", "w1"), ("2", "right"), ("3", "w2"), ("1", "w1"), ("2", "right"), ("3", "w2")
    ]


def test_cli_report_takes_the_right_answer(tmp_path, capsys):
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(row) + "\n" for row in case_rows()))
    assert main(["report", str(results), "--out", str(tmp_path / "r.html"), "--right-answer", "right"]) == 0
    assert "rank of the right" in (tmp_path / "r.html").read_text(encoding="utf-8")
    assert main(["report", str(results), "--out", str(tmp_path / "r.html"), "--right-answer", "nobody"]) == 2
    assert "no case has a scored row of system 'nobody'" in capsys.readouterr().err


def test_cli_writes_the_report(bench, capsys):
    out = bench / "cli.html"
    argv = ["report", str(bench / "results.jsonl"), "--out", str(out), "--top", "2"]
    assert main([*argv, "--labels", str(bench / "ratings.jsonl"), "--bootstrap", "10", "--data", str(bench / "data.jsonl")]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    page = out.read_text(encoding="utf-8")
    assert "Best 2 by score" in page and "spearman, per item" in page
    embedded_images(parse(page))


# ------------------------------------------------------------------ calibrated scores


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_eval_results_show_the_calibrated_score_the_header_records(bench, metric, tmp_path):
    from i2imetric.evaluation.results import read_header
    from i2imetric.evaluation.runner import evaluate
    from i2imetric.models.config import CALIBRATED_MEANING

    out = tmp_path / "eval.jsonl"
    evaluate(metric, bench / "data.jsonl", out=out, baselines=())
    assert read_header(out)["metric"]["calibration"] == {"slope": 0.5, "intercept": 0.1}
    page = build_report(out, tmp_path / "r.html", top=12).read_text(encoding="utf-8")
    rows = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    for row in rows:
        # The calibrated number is the metric's own calibrated score, with the raw logit beside it.
        expected = metric.score(row["source"], row["instruction"], row["output"], calibrated=True)
        assert f"calibrated {float(expected):.3f} (raw score {row['score']:+.3f})" in page
    calibrated = np.array([_sigmoid(0.5 * row["score"] + 0.1) for row in rows])
    assert f"calibrated score: mean {calibrated.mean():.3f}, median {np.median(calibrated):.3f}" in page
    assert html.escape(CALIBRATED_MEANING) in page
    assert "raw score (logit): mean" in page and "No calibration" not in page


def test_the_summary_names_manifest_lines_the_run_skipped(bench, metric, tmp_path):
    from i2imetric.evaluation.runner import evaluate

    lines = (bench / "data.jsonl").read_text().splitlines(keepends=True)
    manifest = tmp_path / "data.jsonl"
    manifest.write_text(lines[0] + "{not json\n" + "".join(lines[1:]))
    out = tmp_path / "eval.jsonl"
    evaluate(metric, manifest, out=out, baselines=())
    page = build_report(out, tmp_path / "r.html", top=2).read_text(encoding="utf-8")
    # A skipped line has no row; without the header the report could not know it existed.
    assert f"1 manifest line(s) skipped as malformed, never scored; {manifest}:2: " in html.unescape(page)
    clean = build_report(bench / "results.jsonl", tmp_path / "clean.html", top=2).read_text(encoding="utf-8")
    assert "skipped as malformed" not in clean


def test_rows_without_a_calibration_show_the_raw_logit_and_say_so(bench):
    page = build_report(bench / "results.jsonl", bench / "raw.html", top=2).read_text(encoding="utf-8")
    assert "No calibration: the scorer that made these rows carries none" in page
    assert "(raw logit; no calibration)" in page and "calibrated score:" not in page


def test_a_rows_own_calibrated_field_wins_and_cases_show_it(tmp_path):
    rows = case_rows()
    for row in rows:
        if row["status"] == "ok":
            row["calibrated"] = round(_sigmoid(row["score"]), 6)
    page = build_report(rows, tmp_path / "r.html", right_answer="right").read_text(encoding="utf-8")
    # Candidates: place, calibrated score, (raw logit), system.
    shown = re.findall(r"<figcaption>(\d)\. ([01]\.\d{3}) \(([+-][\d.]+)\) (\w+)", page)
    assert shown[:3] == [("1", f"{_sigmoid(0.9):.3f}", "+0.900", "w1"), ("2", f"{_sigmoid(0.5):.3f}", "+0.500", "right"),
                         ("3", f"{_sigmoid(0.1):.3f}", "+0.100", "w2")]
    assert "Calibrated score (the number in [0, 1] shown first)" in page
    # A case without a calibrated score among calibrated ones is named in the note, not guessed.
    rows[0]["calibrated"] = None
    page = build_report(rows, tmp_path / "r.html", right_answer="right").read_text(encoding="utf-8")
    assert "1 of 7 rows have no calibrated score and show the raw one only" in page


# ------------------------------------------------------------------ --top


@pytest.mark.parametrize("top", ["-3", "0"])
def test_cli_refuses_a_top_that_is_not_positive(bench, capsys, monkeypatch, top):
    import i2imetric.models.factory as factory

    # Refused before --metric is loaded: a bad number costs no model load.
    monkeypatch.setattr(factory, "load_metric", lambda *a, **k: pytest.fail("the metric was loaded first"))
    out = bench / "top.html"
    code = main(["report", str(bench / "results.jsonl"), "--out", str(out), "--top", top, "--metric", "demo"])
    assert code == 2 and f"--top {top}: expected an integer at least 1" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("top", [-3, 0, 2.5, True])
def test_build_report_refuses_a_top_that_is_not_a_positive_int(bench, tmp_path, top):
    # top=-3 used to show "Best -3": every row but the last three, as ranked[:-3] slices.
    with pytest.raises(I2IInputError, match=r"^top .*: expected an integer at least 1$"):
        build_report(bench / "results.jsonl", tmp_path / "r.html", top=top)


def test_report_draws_heatmaps_where_the_metric_placed_the_image(bench, metric, tmp_path, monkeypatch):
    import i2imetric.viz.report as report

    placed = []
    original = report.heatmap_overlay

    def recording(patch_map, image, **kwargs):
        placed.append(kwargs.get("preprocess"))
        return original(patch_map, image, **kwargs)

    monkeypatch.setattr(report, "heatmap_overlay", recording)
    build_report(bench / "results.jsonl", tmp_path / "r.html", metric=metric, data=bench / "data.jsonl", top=1)
    assert placed and all(preprocess is metric for preprocess in placed)


# ------------------------------------------------------------------ heatmaps over letterboxed images


def _letterbox(size=(32, 32)):
    from i2imetric.models.preprocess import Preprocess

    return Preprocess(size=size, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), resize="letterbox")


def _iou(a, b) -> float:
    return float((a & b).sum()) / float((a | b).sum())


@pytest.mark.parametrize("height, width, half", [(60, 120, "left"), (120, 60, "top")])
def test_letterbox_heatmap_lands_on_the_region_the_map_marks(height, width, half):
    """A synthetic map of a region, built through the preprocess's own geometry, is drawn back on that region."""
    import torch

    from i2imetric.viz.heatmap import upsample_patch_map

    preprocess = _letterbox()
    region = torch.zeros(height, width, dtype=torch.bool)
    if half == "left":
        region[:, : width // 2] = True
    else:
        region[: height // 2] = True
    grid = (8, 8)
    # Each patch's share of the region, as the tower's patches see it: padding patches get 0.
    patch_map = preprocess.patch_coverage(region, grid).reshape(grid)
    assert patch_map[0].max() == 0 or patch_map[:, 0].max() == 0  # the grid does hold padding
    placed = upsample_patch_map(patch_map, height, width, preprocess) > 0.5
    stretched = upsample_patch_map(patch_map, height, width) > 0.5  # padding included, as before
    assert placed.shape == (height, width)
    assert _iou(placed, region) > 0.9
    assert _iou(stretched, region) < 0.75  # the old drawing: shifted and squashed into the middle


@pytest.mark.parametrize("height, width, rows, columns", [(16, 32, slice(8, 24), slice(None)),
                                                          (32, 8, slice(None), slice(12, 20))])
def test_letterbox_heatmap_is_the_inputs_map_cropped_to_the_image(height, width, rows, columns):
    """An image as large as its place in the input: its map is exactly the input's map, cut to that place."""
    import torch
    import torch.nn.functional as F

    from i2imetric.viz.heatmap import upsample_patch_map

    patch_map = torch.randn(8, 8, generator=torch.Generator().manual_seed(1))
    whole_input = F.interpolate(patch_map[None, None], size=(32, 32), mode="bilinear", align_corners=False)[0, 0]
    placed = upsample_patch_map(patch_map, height, width, _letterbox())
    assert torch.allclose(placed, whole_input[rows, columns], atol=1e-5)


def test_letterbox_heatmap_of_an_image_that_fills_the_input_is_the_plain_stretch():
    import torch

    from i2imetric.viz.heatmap import upsample_patch_map

    patch_map = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))
    # Same aspect as the input: no padding, so both ways of drawing must agree.
    placed = upsample_patch_map(patch_map, 48, 48, _letterbox())
    assert torch.allclose(placed, upsample_patch_map(patch_map, 48, 48), atol=1e-5)
    wide = upsample_patch_map(patch_map, 24, 48, _letterbox((16, 32)))
    assert torch.allclose(wide, upsample_patch_map(patch_map, 24, 48), atol=1e-5)


def test_heatmap_takes_the_metric_for_its_placement(tmp_path):
    import torch

    from i2imetric.viz.heatmap import heatmap_overlay, upsample_patch_map

    letterboxed = i2imetric.create_metric("test-tiny", image_resize="letterbox")
    image = torch.rand(3, 20, 60)
    explanation = letterboxed.explain(image, "blur it", image)
    by_metric = upsample_patch_map(explanation.patch_map, 20, 60, letterboxed)
    by_preprocess = upsample_patch_map(explanation.patch_map, 20, 60, letterboxed.image_preprocessors()[0])
    assert torch.equal(by_metric, by_preprocess)
    overlay = heatmap_overlay(explanation.patch_map, image, legend=False, preprocess=letterboxed)
    assert overlay.size == (60, 20)


@pytest.mark.parametrize("name, image_format", [("map.jpg", "JPEG"), ("map.JPEG", "JPEG"), ("map.png", "PNG"),
                                                ("map.bmp", "BMP"), ("map", "PNG")])
def test_save_heatmap_writes_the_format_its_suffix_names(tmp_path, name, image_format):
    import torch

    path = i2imetric.save_heatmap(torch.randn(4, 4), torch.rand(3, 20, 30), tmp_path / name, legend=False)
    with Image.open(path) as image:
        assert image.format == image_format and image.size == (30, 20)


def test_save_heatmap_refuses_a_suffix_that_is_no_image_format(tmp_path):
    import torch

    with pytest.raises(I2IInputError, match=r"map\.txt: cannot write a heatmap as '\.txt'; use one of \.png, \.jpg"):
        i2imetric.save_heatmap(torch.randn(4, 4), torch.rand(3, 20, 30), tmp_path / "map.txt")
    assert not (tmp_path / "map.txt").exists()
