"""Records, the manifest format, and each loader on files in its upstream layout."""

import json
import os
import shutil
import tempfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from i2imetric.data import (
    LoadReport,
    Pairwise,
    Rating,
    Triplet,
    from_hf_dataset,
    iter_manifest,
    load_bapps_2afc,
    load_editreward,
    load_genai_bench_votes,
    load_imagenhub_ratings,
    load_nights,
    read_manifest,
    split_aspects,
    write_manifest,
)
from i2imetric.errors import I2IInputError

# Per-system means over ImagenHub's 3 raters and 179 edits as (SC, PQ, overall), as
# ImagenHub printed them in eval/human_ratings/AnalyzeHumanEval.ipynb
# (apply_average=True), rounded to 2 digits there; listed best overall first.
IMAGENHUB_PUBLISHED = {
    "MagicBrush": (0.51, 0.65, 0.47),
    "InstructPix2Pix": (0.28, 0.70, 0.27),
    "Prompt2prompt": (0.17, 0.55, 0.15),
    "CycleDiffusion": (0.17, 0.56, 0.14),
    "SDEdit": (0.04, 0.56, 0.04),
    "Text2Live": (0.02, 0.82, 0.02),
    "DiffEdit": (0.02, 0.23, 0.01),
    "Pix2PixZero": (0.01, 0.48, 0.01),
    "Imagic": (0.00, 0.03, 0.00),
}


def fixture(data_dir, *parts):
    return os.path.join(data_dir, "fixtures", *parts)


def line_numbers(report):
    """The part after the file name of each skipped row's ``where``."""
    return [where.rsplit(":", 1)[1] for where, _ in report.skipped]


@pytest.fixture
def imagenhub_tsvs(data_dir):
    return [
        os.path.join(data_dir, "imagenhub", f"Text-Guided_IE_rater{k}.tsv") for k in (1, 2, 3)
    ]


def system_means(ratings):
    by_system = {}
    for rating in ratings:
        by_system.setdefault(rating.system, []).append(rating)
    return {
        system: (
            np.mean([r.aspects["SC"] for r in members]),
            np.mean([r.aspects["PQ"] for r in members]),
            np.mean([r.value for r in members]),
        )
        for system, members in by_system.items()
    }


# ---------------------------------------------------------------- ImagenHub


def test_imagenhub_means_reproduce_the_published_table(imagenhub_tsvs, tmp_path):
    records, report = load_imagenhub_ratings(imagenhub_tsvs, tmp_path, aggregate="mean")

    assert report.read == report.kept == 3 * 179 * 9 and not report.skipped
    assert len(records) == 179 * 9
    means = system_means(records)
    for system, published in IMAGENHUB_PUBLISHED.items():
        assert means[system] == pytest.approx(published, abs=0.005 + 1e-9), system
    ranking = sorted(means, key=lambda system: means[system][2], reverse=True)
    # Beyond the sixth, published overall scores tie at 2 digits.
    assert ranking[:6] == list(IMAGENHUB_PUBLISHED)[:6]


def test_imagenhub_gives_one_rating_per_uid_system_and_rater(imagenhub_tsvs, tmp_path):
    records, _ = load_imagenhub_ratings(imagenhub_tsvs, image_root=tmp_path)

    assert len(records) == 3 * 179 * 9
    by_id = {r.id: r for r in records}
    # Upstream, rater1 wrote this cell "[0, 1]" and rater3 the next one "[1,0.5]".
    first = by_id["sample_100081_1.jpg/MagicBrush/rater1"]
    assert (first.value, first.aspects) == (0.0, {"SC": 0.0, "PQ": 1.0})
    assert first.group == "sample_100081_1.jpg"
    other = by_id["sample_100081_3.jpg/MagicBrush/rater3"]
    assert other.value == pytest.approx(np.sqrt(0.5)) and other.rater == "rater3"
    assert other.output == str(tmp_path / "MagicBrush" / "sample_100081_3.jpg")
    assert other.source == str(tmp_path / "input" / "sample_100081_3.jpg")
    assert other.instruction is None


def test_imagenhub_results_folder_gives_images_and_instructions(data_dir):
    folder = fixture(data_dir, "imagenhub")
    tsv = os.path.join(folder, "Text-Guided_IE_rater1.tsv")

    records, report = load_imagenhub_ratings(
        tsv, image_root=os.path.join(folder, "results"), on_error="skip", check_files=True
    )

    assert [r.id for r in records] == [
        "sample_1_1.jpg/MagicBrush/rater1",
        "sample_1_1.jpg/SDEdit/rater1",
        "sample_2_1.jpg/MagicBrush/rater1",
    ]
    assert records[0].instruction == "make the cat a dog"
    assert records[0].extra == {
        "source_caption": "a cat on a sofa",
        "target_caption": "a dog on a sofa",
    }
    assert records[1].aspects == {"SC": 0.0, "PQ": 1.0}
    ((where, reason),) = report.skipped
    assert where == f"{tsv}:3 SDEdit" and "SDEdit/sample_2_1.jpg" in reason


def test_imagenhub_bad_cell_names_file_line_and_column(tmp_path):
    tsv = tmp_path / "Text-Guided_IE_rater2.tsv"
    tsv.write_text("uid\tA\tB\nsample_1_1.jpg\t[0, 2]\t[1,1]\nsample_2_1.jpg\t[0.5]\t[0, 0.5]\n")

    with pytest.raises(I2IInputError, match=r"rater2\.tsv:2 A: cell '\[0, 2\]'.*like \[0\.5, 1\]"):
        load_imagenhub_ratings(tsv)
    records, report = load_imagenhub_ratings(tsv, on_error="skip")
    assert [r.id for r in records] == ["sample_1_1.jpg/B/rater2", "sample_2_1.jpg/B/rater2"]
    assert line_numbers(report) == ["2 A", "3 A"]


def test_imagenhub_instructions_mapping_must_cover_every_uid(data_dir):
    tsv = fixture(data_dir, "imagenhub", "Text-Guided_IE_rater1.tsv")

    both = {"sample_1_1.jpg": "x", "sample_2_1.jpg": "y"}
    assert [r.instruction for r in load_imagenhub_ratings(tsv, instructions=both).records] == [
        "x", "x", "y", "y",
    ]
    with pytest.raises(I2IInputError, match="no instruction for 'sample_2_1.jpg'"):
        load_imagenhub_ratings(tsv, instructions={"sample_1_1.jpg": "x"})


def test_split_aspects_makes_one_rating_per_aspect():
    rating = Rating("s.png", "edit", "o.png", 0.5, aspects={"SC": 0.5, "PQ": 0.5}, id="u/M/r1")

    parts = split_aspects([rating])

    assert [(r.aspect, r.value, r.id, r.aspects) for r in parts] == [
        ("SC", 0.5, "u/M/r1/SC", None),
        ("PQ", 0.5, "u/M/r1/PQ", None),
    ]
    with pytest.raises(I2IInputError, match="no aspects"):
        split_aspects([Rating(None, None, "o.png", value=1.0)])


# ---------------------------------------------------------------- pairwise sets


def test_genai_bench_votes_become_four_way_labels(data_dir):
    folder = fixture(data_dir, "genai_bench")

    records, report = load_genai_bench_votes(
        os.path.join(folder, "image_edition.jsonl"), check_files=True
    )

    assert report.kept == 4
    assert [r.label for r in records] == ["a", "b", "tie", "both_bad"]
    first = records[0]
    assert first.instruction == "let a herd of sheep block the taxi"
    source_name = "50455b5ab8ef46578eec963b3fbe59f9_src.jpg"
    assert first.source == os.path.join(folder, "images", source_name)
    assert first.extra == {
        "source_caption": "a taxi on a street",
        "target_caption": "a herd of sheep blocking a taxi",
        "system_a": "MagicBrush",
        "system_b": "Pix2PixZero",
    }


def test_genai_bench_rows_in_memory_keep_unknown_fields(data_dir, tmp_path):
    with open(fixture(data_dir, "genai_bench", "image_edition.jsonl"), encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]
    rows[0]["judge"] = "anonymous"
    rows[1]["vote_type"] = "leftvote!"

    with pytest.raises(I2IInputError, match="row 1: vote_type 'leftvote!'"):
        load_genai_bench_votes(rows, image_root=tmp_path)
    records, report = load_genai_bench_votes(rows, image_root=tmp_path, on_error="skip")
    assert records[0].extra["judge"] == "anonymous"
    assert records[0].output_a.startswith(str(tmp_path))
    assert [where for where, _ in report.skipped] == ["row 1"]


def test_bapps_label_is_share_preferring_p0(data_dir):
    folder = fixture(data_dir, "bapps", "2afc", "val", "traditional")

    records, _ = load_bapps_2afc(folder, check_files=True)

    assert [(r.id, r.label) for r in records] == [
        ("traditional/000000", 0.75),
        ("traditional/000001", 0.0),
    ]
    first = records[0]
    assert first.instruction is None
    assert (first.source, first.output_a, first.output_b) == tuple(
        os.path.join(folder, sub, "000000.png") for sub in ("ref", "p0", "p1")
    )


def test_bapps_judge_without_images_is_reported(tmp_path):
    for sub in ("ref", "p0", "p1", "judge"):
        (tmp_path / sub).mkdir()
    np.save(tmp_path / "judge" / "000007.npy", np.array([0.5]))

    records, report = load_bapps_2afc(tmp_path, on_error="skip")

    ((where, reason),) = report.skipped
    assert records == [] and where == str(tmp_path / "judge" / "000007.npy")
    assert "no image named 000007.* in ref, p0, p1/" in reason


def test_nights_keeps_triplets_with_at_least_six_votes(data_dir):
    folder = fixture(data_dir, "nights")

    records, report = load_nights(folder, check_files=True)

    assert [(r.id, r.label) for r in records] == [("0", 1.0), ("2", 0.0)]
    assert (report.read, report.kept) == (4, 2)
    assert report.reasons() == {"fewer than 6 votes": 2}
    assert line_numbers(report) == ["3", "5"]
    first = records[0]
    assert first.output_a == os.path.join(folder, "distort", "000", "000_0.png")
    assert first.extra == {"votes": "6", "prompt": "ant", "split": "train", "is_imagenet": "True"}


def test_nights_split_filter_is_reported_too(data_dir):
    csv_path = fixture(data_dir, "nights", "data.csv")

    records, report = load_nights(csv_path, split="test", min_votes=0)

    assert [r.id for r in records] == ["2", "3"]
    assert report.reasons() == {"not in split 'test'": 2}


def test_editreward_path1_is_preferred_unless_tied(data_dir):
    folder = fixture(data_dir, "editreward")

    records, _ = load_editreward(os.path.join(folder, "train.json"), check_files=True)

    assert [r.label for r in records] == ["tie", "a"]
    second = records[1]
    assert second.instruction == "Make the donut an apple."
    assert second.output_a == os.path.join(
        folder, "139724552af3a46f8a27e9825a7fcea0", "ovis_u1_seed2025_data_gen.png"
    )
    assert second.extra == {
        "system_a": "ovis_u1_seed2025",
        "system_b": "flux_kontext_seed2025",
        "scores_a": {"dim1": 4, "dim2": 3, "overall": 7},
        "scores_b": {"dim1": 3, "dim2": 3, "overall": 6},
        "choice_dist": None,
        "confidence": None,
    }


def test_hf_dataset_rows_map_onto_record_fields(tmp_path):
    # An Image(decode=False) column holds {"path", "bytes"}.
    rows = [{"src": {"path": "a.png", "bytes": None}, "edit": "red", "out": "b.png", "mos": 0.7}]
    columns = {"source": "src", "instruction": "edit", "output": "out", "value": "mos"}

    records, _ = from_hf_dataset(rows, columns, "rating", image_root=tmp_path)

    assert records == [Rating(str(tmp_path / "a.png"), "red", str(tmp_path / "b.png"), 0.7)]
    with pytest.raises(I2IInputError, match="not rating fields"):
        from_hf_dataset(rows, {"image": "src"}, "rating")


# ---------------------------------------------------------------- manifests


def write_lines(path, *rows):
    """One line per row: dicts as JSON, strings as they are."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))


def test_manifest_without_header_reads_paths_relative_to_its_folder(tmp_path):
    manifest = tmp_path / "sub" / "m.jsonl"
    manifest.parent.mkdir()
    row = {"type": "triplet", "source": None, "instruction": "draw", "output": "o.png", "note": 1}
    write_lines(manifest, row)

    (record,), report = read_manifest(manifest)

    assert record == Triplet(None, "draw", str(tmp_path / "sub" / "o.png"), extra={"note": 1})
    assert report.summary().endswith("read 1, kept 1, skipped 0")


def test_malformed_line_raises_with_file_line_and_fix(tmp_path):
    manifest = tmp_path / "m.jsonl"
    good = {"type": "triplet", "id": "1", "source": "s.png", "instruction": "x", "output": "o.png"}
    half = {"type": "pairwise", "source": None}
    write_lines(manifest, good, "{not json", half, "", {**good, "type": "trip"}, good)

    with pytest.raises(I2IInputError, match=r"m\.jsonl:2: not valid JSON .* one JSON object per"):
        read_manifest(manifest)
    records, report = read_manifest(manifest, on_error="skip")
    assert len(records) == 2 and report.read == 5
    assert line_numbers(report) == ["2", "3", "5"]
    reasons = [reason for _, reason in report.skipped]
    assert "missing key(s) instruction, output_a, output_b, label" in reasons[1]
    assert "unknown type 'trip'" in reasons[2]


def test_nul_tail_of_a_power_cut_is_a_skipped_line_not_a_crash(tmp_path):
    manifest = tmp_path / "m.jsonl"
    good = {"type": "triplet", "id": "1", "source": "s.png", "instruction": "x", "output": "o.png"}
    write_lines(manifest, good)
    with open(manifest, "ab") as file:
        file.write(b'{"type": "trip' + b"\xc3" + b"\x00" * 4096 + b"\n")  # a torn UTF-8 character, then zeros

    with pytest.raises(I2IInputError, match=r"m\.jsonl:2: NUL bytes.*power cut"):
        read_manifest(manifest)
    records, report = read_manifest(manifest, on_error="skip")
    assert [r.id for r in records] == ["1"]
    assert line_numbers(report) == ["2"] and "NUL bytes" in report.skipped[0][1]


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_binary_garbage_is_an_error_naming_file_and_line(tmp_path, suffix):
    garbage = tmp_path / f"garbage{suffix}"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(128, 256)) * 20)

    with pytest.raises(I2IInputError, match=rf"garbage\{suffix}:1: not UTF-8 text .*Save it as UTF-8"):
        read_manifest(garbage, on_error="skip")
    if suffix == ".json":  # the loaders that also take JSON arrays read it the same way
        with pytest.raises(I2IInputError, match=r"garbage\.json:1: not UTF-8"):
            load_genai_bench_votes(garbage)


def test_bad_values_are_malformed_rows(tmp_path):
    manifest = tmp_path / "m.jsonl"
    base = dict(type="pairwise", source=None, instruction="x", output_a="a", output_b="b")
    bad = [{**base, "label": 1.5}, {**base, "label": "left"}, {**base, "label": 0, "source": 3}]
    write_lines(manifest, *bad)

    records, report = read_manifest(manifest, on_error="skip")

    reasons = [reason for _, reason in report.skipped]
    assert records == [] and len(reasons) == 3
    assert "label 1.5 is outside [0, 1]" in reasons[0]
    assert "label 'left' is not one of a, b, tie, both_bad" in reasons[1]
    assert "source must be an image file path" in reasons[2]


def test_missing_image_is_reported_with_its_row(tmp_path):
    (tmp_path / "s.png").write_bytes(b"")
    manifest = tmp_path / "m.jsonl"
    row = {"type": "rating", "source": "s.png", "instruction": "x", "output": "s.png", "value": 1}
    write_lines(manifest, row, {**row, "output": "gone.png"})

    assert len(read_manifest(manifest).records) == 2
    with pytest.raises(I2IInputError, match=r"m\.jsonl:2: image not found: output=.*gone\.png"):
        read_manifest(manifest, check_files=True)


def test_newer_schema_version_is_refused_even_when_skipping(tmp_path):
    manifest = tmp_path / "m.jsonl"
    write_lines(manifest, {"type": "header", "schema": "i2imetric-manifest", "version": 99})

    with pytest.raises(I2IInputError, match="version 99 .* upgrade i2imetric"):
        read_manifest(manifest, on_error="skip")


def test_unknown_on_error_is_refused_before_reading(tmp_path):
    with pytest.raises(I2IInputError, match="on_error must be one of"):
        iter_manifest(tmp_path / "absent.jsonl", on_error="ignore")


def test_iter_manifest_streams_and_fills_the_report(tmp_path):
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, (Triplet(None, str(i), str(tmp_path / f"{i}.png")) for i in range(3)))
    report = LoadReport(str(manifest))

    records = iter_manifest(manifest, report=report)

    assert next(records).instruction == "0" and report.kept == 1
    assert [r.instruction for r in records] == ["1", "2"] and report.kept == 3


def test_write_manifest_keeps_outside_paths_absolute(tmp_path):
    inside, outside = str(tmp_path / "img" / "a.png"), "/elsewhere/b.png"
    manifest = tmp_path / "m.jsonl"

    write_manifest(manifest, [Pairwise(inside, None, outside, inside, "tie")])

    header, row = (json.loads(line) for line in manifest.read_text().splitlines())
    assert header == {"type": "header", "schema": "i2imetric-manifest", "version": 1}
    assert (row["source"], row["output_a"]) == ("img/a.png", "/elsewhere/b.png")


def test_write_manifest_refuses_extra_that_clashes_and_leaves_no_file(tmp_path):
    clashing = Pairwise(None, None, "a.png", "b.png", "a", extra={"label": 1})

    with pytest.raises(I2IInputError, match=r"record 0 .*\['label'\] clash"):
        write_manifest(tmp_path / "m.jsonl", [clashing])
    assert not os.listdir(tmp_path)


# ---------------------------------------------------------------- round trip

RESERVED_KEYS = {
    "type", "id", "source", "instruction", "output", "output_a", "output_b", "label",
    "system", "value", "aspect", "aspects", "rater", "group",
}
names = st.text(st.characters(categories=("L", "N")), min_size=1, max_size=8)
texts = st.text(max_size=30)
optional_texts = st.none() | texts
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite_floats | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)
extra_keys = texts.filter(lambda key: key not in RESERVED_KEYS)
extras = st.dictionaries(extra_keys, json_values, max_size=3)

# Hypothesis draws the paths before any test runs, so their folder is made at import.
MANIFEST_FOLDER = tempfile.mkdtemp(prefix="i2imetric-roundtrip-")


@pytest.fixture(scope="module", autouse=True)
def _remove_manifest_folder():
    yield
    shutil.rmtree(MANIFEST_FOLDER, ignore_errors=True)


def image_paths():
    """Paths in the manifest's folder, in a subfolder, and outside it."""
    return names.flatmap(
        lambda name: st.sampled_from([
            os.path.join(MANIFEST_FOLDER, f"{name}.png"),
            os.path.join(MANIFEST_FOLDER, "img", f"{name}.png"),
            f"/outside/{name}.png",
        ])
    )


def records():
    shared = {
        "source": st.none() | image_paths(),
        "instruction": optional_texts,
        "id": optional_texts,
        "extra": extras,
    }
    labels = st.sampled_from(["a", "b", "tie", "both_bad"]) | st.floats(0, 1)
    return st.one_of(
        st.builds(Triplet, output=image_paths(), system=optional_texts, **shared),
        st.builds(Pairwise, output_a=image_paths(), output_b=image_paths(), label=labels, **shared),
        st.builds(
            Rating,
            output=image_paths(),
            value=finite_floats,
            aspect=optional_texts,
            aspects=st.none() | st.dictionaries(names, finite_floats, max_size=2),
            rater=optional_texts,
            system=optional_texts,
            group=optional_texts,
            **shared,
        ),
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(records(), max_size=5))
def test_manifest_write_then_read_is_lossless(original):
    path = os.path.join(MANIFEST_FOLDER, "roundtrip.jsonl")

    assert write_manifest(path, original) == len(original)
    assert read_manifest(path).records == original
