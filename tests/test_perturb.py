"""``i2imetric perturb``: a folder of images into resumable pairwise records."""

import argparse
import json
import os

import numpy as np
import pytest
from PIL import Image

from i2imetric.cli.main import main
from i2imetric.cli.perturb import configure_parser, run
from i2imetric.data import read_manifest
from i2imetric.data.synthetic.edits import CANONICAL_EDITS, DISTRACTORS
from i2imetric.data.synthetic.perturb import perturb_folder
from i2imetric.data.synthetic.shapesworld import make_edit_example
from i2imetric.errors import I2IInputError


@pytest.fixture
def images_dir(tmp_path):
    """Three small images (one nested, one RGBA, one JPEG), a corrupt PNG and a text file."""
    folder = tmp_path / "photos"
    (folder / "nested").mkdir(parents=True)
    make_edit_example(0, size=32).source.save(folder / "shapes.png")
    noise = np.random.default_rng(0).integers(0, 256, size=(20, 28, 4), dtype=np.uint8)
    Image.fromarray(noise, "RGBA").save(folder / "nested" / "noise.png")
    make_edit_example(1, size=40).source.save(folder / "nested" / "shapes.jpg", quality=90)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    (folder / "notes.txt").write_text("not an image, ignored")
    return folder


def manifest_lines(out_dir):
    return (out_dir / "manifest.jsonl").read_text().splitlines()


def test_perturb_writes_a_pairwise_manifest(images_dir, tmp_path):
    out_dir = tmp_path / "out"
    summary = perturb_folder(images_dir, out_dir, n=3, seed=0, size=24, progress=False)

    assert summary.images_found == 4
    assert [path for path, _ in summary.unreadable] == ["broken.png"]
    assert "broken.png\t" in (out_dir / "unreadable_images.txt").read_text()
    assert summary.records_written + summary.records_dropped == 9 and summary.records_reused == 0

    rows = [json.loads(line) for line in manifest_lines(out_dir)[1:]]  # after the header line
    assert len(rows) == summary.records_written
    for row in rows:
        assert row["type"] == "pairwise" and row["label"] == "a"
        assert row["instruction"] == CANONICAL_EDITS[row["edit"]] and row["distractor"] in DISTRACTORS
        for key in ("source", "output_a", "output_b"):
            assert not os.path.isabs(row[key]) and row[key].endswith(".png")
            with Image.open(out_dir / row[key]) as image:
                assert max(image.size) <= 24
    assert len({row["id"] for row in rows}) == len(rows)

    records, report = read_manifest(out_dir / "manifest.jsonl", check_files=True)
    assert report.kept == len(rows) and not report.skipped


def test_rerun_resumes_without_duplicates(images_dir, tmp_path):
    out_dir = tmp_path / "out"
    first = perturb_folder(images_dir, out_dir, n=2, progress=False)
    before = manifest_lines(out_dir)

    again = perturb_folder(images_dir, out_dir, n=2, progress=False)
    assert again.records_written == 0 and again.records_reused == first.records_written
    assert manifest_lines(out_dir) == before

    lost = json.loads(before[1])["output_b"]
    (out_dir / lost).unlink()
    repaired = perturb_folder(images_dir, out_dir, n=2, progress=False)
    assert repaired.records_written == 1 and manifest_lines(out_dir) == before

    extended = perturb_folder(images_dir, out_dir, n=3, progress=False)
    assert extended.records_reused == first.records_written  # records 0 and 1 kept as they were
    assert set(before) <= set(manifest_lines(out_dir))
    ids = [json.loads(line)["id"] for line in manifest_lines(out_dir)[1:]]
    assert len(ids) == len(set(ids)) == extended.records_total


def test_same_arguments_give_identical_images(images_dir, tmp_path):
    perturb_folder(images_dir, tmp_path / "one", n=2, seed=3, progress=False)
    perturb_folder(images_dir, tmp_path / "two", n=2, seed=3, progress=False)
    assert manifest_lines(tmp_path / "one") == manifest_lines(tmp_path / "two")
    for name in os.listdir(tmp_path / "one" / "images"):
        assert (tmp_path / "one" / "images" / name).read_bytes() == (tmp_path / "two" / "images" / name).read_bytes()


def test_resuming_with_other_settings_is_refused(images_dir, tmp_path):
    out_dir = tmp_path / "out"
    perturb_folder(images_dir, out_dir, n=1, seed=0, progress=False)
    with pytest.raises(I2IInputError, match="seed=0 and size=None"):
        perturb_folder(images_dir, out_dir, n=1, seed=1, progress=False)


def test_output_folder_inside_the_image_folder_is_not_read_back(images_dir):
    out_dir = images_dir / "pairs"
    perturb_folder(images_dir, out_dir, n=1, progress=False)
    assert perturb_folder(images_dir, out_dir, n=1, progress=False).images_found == 4


def test_flat_images_drop_pairs_that_look_the_same(tmp_path):
    folder = tmp_path / "flat"
    folder.mkdir()
    Image.new("RGB", (16, 16), (128, 128, 128)).save(folder / "gray.png")
    summary = perturb_folder(folder, tmp_path / "out", n=12, progress=False)
    assert summary.records_dropped > 0  # e.g. "grayscale" vs "unchanged" on a gray image
    assert summary.records_written + summary.records_dropped == 12


def test_bad_folders_raise_input_errors(tmp_path):
    with pytest.raises(I2IInputError, match="not a folder"):
        perturb_folder(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(I2IInputError, match="no image files"):
        perturb_folder(tmp_path / "empty", tmp_path / "out")


def test_command_line(images_dir, tmp_path, capsys):
    out_dir = tmp_path / "out"
    argv = ["perturb", "--images", str(images_dir), "--out", str(out_dir), "--n", "1", "--size", "16"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "skipped 1 unreadable images" in printed and "manifest:" in printed
    assert main([*argv[:-2], "--size", "20"]) == 2  # a different size cannot resume this folder
    assert "size=16" in capsys.readouterr().err


def test_run_fails_when_no_image_is_readable(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"garbage")
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    args = parser.parse_args(["--images", str(folder), "--out", str(tmp_path / "out")])
    assert run(args) == 1
