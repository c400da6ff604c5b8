"""`i2imetric bench`: the benchmark adapters on fixtures in their upstream layouts, the
protocols against the peers' own formulas, the command end to end offline, and the table."""

import csv
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as scipy_stats

from i2imetric.cli.main import main
from i2imetric.data.loaders import (
    find_imagenhub_tasks,
    load_aurora_bench_ratings,
    load_discedit,
    load_editreward_bench_tiger,
    load_editscore_bench,
    load_genai_bench_votes,
    load_imagenhub_ratings,
)
from i2imetric.errors import I2IInputError
from i2imetric.meta_eval.bench_protocols import (
    Selection,
    aurora_bench_protocols,
    discedit_accuracy,
    editreward_bench_tiger,
    editreward_imagenhub,
    editscore_accuracy,
    imagenhub_protocols,
)
from i2imetric.meta_eval.bench_table import format_bench_table, read_bench_files
from i2imetric.meta_eval.benchmarks import BENCHMARKS, SUITES, find_data, resolve_names

pytest.importorskip("pyarrow")  # the Hub's benchmarks are parquet files (pip install 'i2imetric[bench]')

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def bench_root(data_dir):
    return os.path.join(data_dir, "fixtures", "bench")


# ---------------------------------------------------------------- the adapters


def test_genai_bench_parquet_gives_votes_named_by_position_and_writes_each_image_once(bench_root, tmp_path):
    records, report = load_genai_bench_votes(
        os.path.join(bench_root, "genai-bench"), image_dir=tmp_path / "images", check_files=True
    )

    assert report.kept == 12 and not report.skipped
    assert [r.label for r in records[:4]] == ["a", "b", "tie", "both_bad"]
    assert [r.id for r in records[:3]] == ["0", "1", "2"]  # GenAI-Bench's idx: the position in test_v1
    assert records[0].instruction == "add a red box to scene 0"
    assert records[0].extra["system_a"] == "MagicBrush" and records[0].extra["source_caption"] == "a scene 0"
    written = sorted(os.listdir(tmp_path / "images"))
    again, _ = load_genai_bench_votes(os.path.join(bench_root, "genai-bench"), image_dir=tmp_path / "images")
    assert sorted(os.listdir(tmp_path / "images")) == written  # a rerun finds the same files
    assert again[0].output_a == records[0].output_a


def test_genai_bench_folder_without_the_split_says_what_to_download(tmp_path):
    with pytest.raises(I2IInputError, match="huggingface-cli download --repo-type dataset TIGER-Lab/GenAI-Bench"):
        load_genai_bench_votes(tmp_path, image_dir=tmp_path / "images")


def test_editreward_bench_tiger_reads_letters_of_the_comparison(bench_root, tmp_path):
    records, report = load_editreward_bench_tiger(os.path.join(bench_root, "editreward-bench-tiger"), tmp_path)

    assert report.kept == 4 + 2 * 3 + 2 * 6
    by_id = {r.id: r for r in records}
    assert by_id["2pair/20001abcdef"].label == "b"  # "B>A"
    assert by_id["2pair/20003abcdef"].label == "tie"  # "A=B"
    bc = by_id["3pair/30000abcdef_2"]  # candidate_1 = B, candidate_2 = C, ranking "B>C"
    assert bc.extra["comparison_type"] == "BvsC" and bc.label == "a"
    assert bc.extra["group"] == "3pair/30000abcdef" and bc.extra["system_a"] == "model_1"
    assert len({r.extra["group"] for r in records if r.extra["subset"] == "4pair"}) == 2


def test_editreward_bench_tiger_refuses_a_ranking_of_other_letters(bench_root, tmp_path):
    from i2imetric.data.loaders.editreward_bench_tiger import _label

    assert _label("C>A", "A", "C") == "b" and _label("A=B=Good", "A", "B") == "tie"
    with pytest.raises(I2IInputError, match="does not compare A and C"):
        _label("A>B", "A", "C")


def test_editscore_bench_prefers_the_first_output_per_dimension(bench_root, tmp_path):
    records, report = load_editscore_bench(os.path.join(bench_root, "editscore-bench"), tmp_path)

    assert report.kept == 12 and {r.label for r in records} == {"a"}
    assert {r.extra["dimension"] for r in records} == {"prompt_following", "consistency", "overall"}
    first = records[0]
    assert first.id == "color_alter_0_good|color_alter_0_bad|prompt_following"
    # The same two outputs are judged once per dimension: the same image files.
    assert records[1].output_a == first.output_a and records[1].extra["dimension"] == "consistency"


def test_discedit_pairs_true_and_contrast_instructions_as_aurora_reads_them(bench_root):
    records, report = load_discedit(os.path.join(bench_root, "discedit"), check_files=True)

    assert report.read == 8 and report.kept == 7
    assert "no 'pos'" in report.skipped[0][1]
    true, contrast = records[0], records[1]
    assert (true.id, contrast.id) == ("ag/0/true", "ag/0/contrast")
    assert true.instruction == "Make her stand up 0" and contrast.instruction == "Make her sit down 0"  # neg absent: prompt
    kubric = [r for r in records if r.extra["discedit_task"] == "kubric"]
    assert kubric[1].instruction == "move the mug 0 away from the bowl"  # neg given
    something = [r for r in records if r.extra["discedit_task"] == "something"][0]
    assert "/data/something/images/0/" in something.source  # the JSON's frames_validation_2K, shipped as images/


def test_imagenhub_tasks_are_found_with_their_museum_images(bench_root, tmp_path):
    tasks = find_imagenhub_tasks(os.path.join(bench_root, "imagenhub"))

    assert [t.name for t in tasks] == ["Text-Guided_IE"] and len(tasks[0].tsv_paths) == 3
    records, _ = load_imagenhub_ratings(tasks[0].tsv_paths, image_root=tasks[0].image_root, check_files=True)
    assert records[0].instruction == "turn object 0 green"
    ratings = tmp_path / "eval" / "human_ratings" / "Mask-Guided_IE"
    ratings.mkdir(parents=True)
    (ratings / "Mask-Guided_IE_rater1.tsv").write_text("uid\tX\nsample_1_1.jpg\t[1, 1]\n", encoding="utf-8")
    with pytest.raises(I2IInputError, match="ratings for Mask-Guided_IE but no .*ImagenHub_Mask-Guided_IE"):
        find_imagenhub_tasks(tmp_path)


def test_aurora_bench_ratings_are_read_row_by_row_and_panels_are_cut_to_their_output(bench_root, tmp_path):
    from PIL import Image

    root = os.path.join(bench_root, "aurora-bench")
    with open(os.path.join(root, "human_ratings.json"), encoding="utf-8") as text:
        rows = json.load(text)

    records, report = load_aurora_bench_ratings(root, tmp_path / "images")

    assert report.kept == len(rows) == 20 and not report.skipped
    first = records[0]
    assert first.value == rows[0]["score"] == 0.0 and first.system == rows[0]["model"]
    assert first.instruction == "transform the black DVD into a white DVD" and first.extra["task"] == "kubric"
    assert first.source == os.path.join(root, "human_ratings", "kubric", "8159", "input.jpg")
    assert len({r.group for r in records}) == 4 and all(len([r for r in records if r.group == g]) == 5
                                                        for g in {r.group for r in records})
    # The three something outputs stored as [source | output] panels: the right half is scored.
    panels = [r for r in records if "composite" in r.extra]
    assert {r.extra["task"] for r in panels} == {"something"} and len(panels) == 3
    for record in panels:
        with Image.open(record.extra["composite"]) as panel, Image.open(record.output) as cut:
            assert cut.size == (panel.width // 2, panel.height)
            assert cut.tobytes() == panel.convert("RGB").crop((panel.width // 2, 0, panel.width, panel.height)).tobytes()
    others = [r for r in records if "composite" not in r.extra]
    assert all(r.output.startswith(root) for r in others)  # the other outputs are read where they are


def test_aurora_bench_wide_output_that_is_not_a_panel_of_its_source_is_kept(bench_root, tmp_path):
    import shutil

    from PIL import Image

    root = tmp_path / "aurora-bench"
    shutil.copytree(os.path.join(bench_root, "aurora-bench"), root)
    output = root / "human_ratings" / "kubric" / "8159" / "genhowto.png"
    Image.new("RGB", (32, 16), (250, 0, 250)).save(output)  # twice as wide, but not the source on the left

    records, _ = load_aurora_bench_ratings(root, tmp_path / "images")

    wide = next(r for r in records if r.output == str(output))
    assert "composite" not in wide.extra


def test_aurora_bench_bad_rows_are_named_and_missing_images_say_where_the_archive_goes(bench_root, tmp_path):
    import shutil

    root = tmp_path / "aurora-bench"
    shutil.copytree(os.path.join(bench_root, "aurora-bench"), root)
    path = root / "human_ratings.json"
    rows = json.loads(path.read_text(encoding="utf-8"))
    rows[1]["score"] = 2.5
    del rows[2]["prompt"]
    rows.append(dict(rows[0]))  # the same system's output of the same item, twice
    path.write_text(json.dumps(rows), encoding="utf-8")

    with pytest.raises(I2IInputError, match=r"human_ratings.json\[1\]: score must be a number in \[0, 2\]"):
        load_aurora_bench_ratings(root, tmp_path / "images")
    records, report = load_aurora_bench_ratings(root, tmp_path / "images", on_error="skip")
    assert report.kept == 18 and [where.rsplit("[", 1)[1] for where, _ in report.skipped] == ["1]", "2]", "20]"]
    assert "lacks field(s) 'prompt'" in report.skipped[1][1] and "a second rating" in report.skipped[2][1]

    shutil.rmtree(root / "human_ratings")
    with pytest.raises(I2IInputError, match="images archive is not unpacked there.*unzip the images there"):
        load_aurora_bench_ratings(root, tmp_path / "images", on_error="skip")
    (root / "other.json").write_text("[]", encoding="utf-8")
    (root / "human_ratings.json").rename(root / "ratings.json")
    with pytest.raises(I2IInputError, match="several .json files .* rename the ratings file to human_ratings.json"):
        BENCHMARKS["aurora-bench"].load(str(root), str(tmp_path))


@pytest.mark.parametrize("name, units", [("nights", 4), ("bapps", 5)])
def test_perceptual_sets_are_read_through_the_existing_loaders(bench_root, tmp_path, name, units):
    loaded = BENCHMARKS[name].load(os.path.join(bench_root, name), str(tmp_path))

    assert len(loaded.units) == units
    assert {out.instruction for unit in loaded.units for out in unit} == {"keep the image unchanged"}


# ---------------------------------------------------------------- the protocols


def _editreward_as_published(pred, gt, models):
    """EditReward's evaluate_imagenhub_from_json, restated: per-model Spearman, mean, then tanh."""
    z_score_list = []
    for model in dict.fromkeys(models):
        rows = [i for i, m in enumerate(models) if m == model]
        if len(set(gt[i] for i in rows)) < 2:
            z_score_list.append(math.nan)  # scipy's answer for a constant input, without its warning
            continue
        r, _ = scipy_stats.spearmanr([pred[i] for i in rows], [gt[i] for i in rows])
        z_score_list.append(r)
    z_avg = sum(z_score_list) / len(z_score_list)
    return (math.exp(2 * z_avg) - 1) / (math.exp(2 * z_avg) + 1)


def test_editreward_imagenhub_number_matches_their_formula_on_real_ratings(data_dir):
    folder = os.path.join(data_dir, "imagenhub")
    tsvs = [os.path.join(folder, f"Text-Guided_IE_rater{k}.tsv") for k in (1, 2, 3)]
    records, _ = load_imagenhub_ratings(tsvs, aggregate="mean")
    human = np.array([r.value for r in records])
    systems = np.array([r.system for r in records])
    pred = human + np.random.default_rng(0).normal(0, 0.3, len(human))

    ours = editreward_imagenhub(pred, human, systems)

    # Imagic's outputs are all rated 0: no coefficient, left out (EditReward's code would give NaN).
    rated = systems != "Imagic"
    assert math.isnan(_editreward_as_published(pred, human, systems))
    assert ours == pytest.approx(_editreward_as_published(pred[rated], human[rated], systems[rated]), abs=1e-12)
    # The quirk is real: a true Fisher-z mean of the same coefficients differs.
    per_system = [scipy_stats.spearmanr(pred[systems == s], human[systems == s]).statistic for s in set(systems[rated])]
    assert abs(ours - math.tanh(np.mean(np.arctanh(per_system)))) > 1e-3


def test_imagenhub_corrected_number_groups_by_uid():
    human = np.array([1.0, 2, 3, 3, 2, 1])
    scores = np.array([1.0, 2, 3, 1, 2, 3])
    systems = np.array(["x", "y", "z"] * 2)
    uids = np.array(["u1"] * 3 + ["u2"] * 3)
    selection = Selection(list(range(6)), [], {"metric": scores[:, None]}, [])

    estimands = {e.key.split("/")[1]: e for e in imagenhub_protocols("T", human, human[:, None], systems, uids, selection)}

    corrected = estimands["editreward-corrected"]
    assert corrected.fn(*corrected.arrays["metric"]) == pytest.approx(0.0)  # +1 in u1, -1 in u2


def test_tiger_k2_calibrates_ties_and_groups_need_every_comparison_right():
    # Two 2pair items (one tie), one 3pair group with its 3 comparisons, one incomplete group.
    scores = np.array([[1.0, 0.0], [0.5, 0.45], [3, 2], [3, 1], [2, 1], [5, 4]])
    labels = np.array(["a", "tie", "a", "a", "a", "a"])
    subsets = np.array(["2pair", "2pair", "3pair", "3pair", "3pair", "3pair"])
    groups = np.array(["p1", "p2", "g", "g", "g", "short"])

    estimands = {e.key: e for e in editreward_bench_tiger({"metric": scores}, labels, subsets, groups)}

    k2 = estimands["K=2"]
    assert k2.fn(*k2.arrays["metric"]) == 1.0 and k2.params["metric"]["epsilon"] == pytest.approx(0.05)
    assert "K=3" not in estimands  # one complete group is too few to bootstrap
    assert any("without all 3 scored comparisons" in note for note in k2.notes)
    overall = estimands["overall"]
    assert overall.n == 3 and overall.fn(*overall.arrays["metric"]) == 1.0


def test_editscore_counts_a_tie_wrong_and_averages_task_types():
    scores = np.array([[2.0, 1.0], [1.0, 1.0], [1.0, 2.0], [3.0, 1.0], [3.0, 2.0]])
    tasks = np.array(["a", "a", "a", "b", "b"])

    estimand = editscore_accuracy("overall", {"metric": scores}, tasks)

    assert estimand.fn(*estimand.arrays["metric"]) == pytest.approx((1 / 3 + 1) / 2)
    assert estimand.breakdown["metric"] == {"a": pytest.approx(1 / 3), "b": 1.0}


def test_aurora_bench_protocols_by_hand():
    # Two items, three systems: human scores and metric scores chosen so each number is known.
    human = np.array([2.0, 1.0, 0.0, 1.0, 1.0, 0.0])
    metric = np.array([3.0, 1.0, 2.0, 5.0, 4.0, 4.0])
    systems = np.array(["x", "y", "z"] * 2)
    uids = np.array(["u1"] * 3 + ["u2"] * 3)
    tasks = np.array(["ag"] * 3 + ["kubric"] * 3)
    selection = Selection(list(range(6)), [], {"metric": metric[:, None]}, [])

    estimands = {e.key: e for e in aurora_bench_protocols(human, systems, uids, tasks, selection)}

    sample = estimands["sample-spearman"]
    assert sample.fn(*sample.arrays["metric"]) == pytest.approx(scipy_stats.spearmanr(metric, human).statistic)
    # u1: (x>y) right, (x>z) right, (y>z) wrong; u2: x=y left out, (x>z) right, (y>z) tie -> wrong.
    pairwise = estimands["pairwise"]
    assert pairwise.n == 2 and pairwise.fn(*pairwise.arrays["metric"]) == pytest.approx(3 / 5)
    means = estimands["system-means"]
    assert means.breakdown["human"] == {"x": 1.5, "y": 1.0, "z": 0.0}
    assert means.breakdown["metric"] == {"x": 4.0, "y": 2.5, "z": 3.0}
    assert means.fn(*means.arrays["metric"]) == pytest.approx(0.5)  # ranks (3, 1, 2) against (3, 2, 1)
    assert not means.primary


def test_discedit_is_true_above_contrast_per_task():
    scores = np.array([[2.0, 1.0], [1.0, 2.0], [1.0, 0.0]])
    estimand = discedit_accuracy({"metric": scores}, np.array(["ag", "ag", "kubric"]))

    assert estimand.fn(*estimand.arrays["metric"]) == pytest.approx(0.75)


# ---------------------------------------------------------------- names and data


def test_both_editreward_benches_are_named_apart():
    assert {"editreward-bench-tiger", "editscore-bench"} <= set(SUITES["editing"])
    with pytest.raises(I2IInputError, match="editreward-bench-tiger and editscore-bench"):
        resolve_names(None, "editreward-bench")
    with pytest.raises(I2IInputError, match="not both"):
        resolve_names("editing", "genai-bench")


def test_missing_folder_under_data_root_says_how_to_get_it(tmp_path):
    with pytest.raises(I2IInputError, match="no discedit/ folder; clone the AURORA repository"):
        find_data(BENCHMARKS["discedit"], str(tmp_path))


def _fresh_cli(args, env):
    code = (
        "import sys; from i2imetric.cli import main; code = main(sys.argv[1:]); "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules}))); sys.exit(code)"
    )
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    return result.returncode, result.stderr, set(result.stdout.split())


def test_offline_without_data_fails_at_once_naming_the_download(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}

    code, err, modules = _fresh_cli(["bench", "--metric", "demo", "--bench", "genai-bench,nights", "--out",
                                     str(tmp_path / "out")], env)

    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "offline (HF_HUB_OFFLINE=1)" in err and "huggingface-cli download --repo-type dataset TIGER-Lab/GenAI-Bench" in err
    assert "nights.zip" in err  # every missing benchmark in the one message
    assert "torch" not in modules


# ---------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    root = os.path.join(os.path.dirname(__file__), "data", "fixtures", "bench")
    out = tmp_path_factory.mktemp("bench")
    args = ["bench", "--metric", "demo", "--suite", "all", "--data-root", root, "--out", str(out),
            "--bootstrap", "20", "--num-workers", "0", "--no-progress", "--markdown"]
    assert main(args) == 0
    return out, args


def test_bench_writes_one_json_per_benchmark_with_value_ci_and_baselines(bench_run):
    out, _ = bench_run
    for name in SUITES["all"]:
        report = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
        assert report["benchmark"] == name and report["metric"] == "demo"
        assert report["coverage"]["failed"] == 0 and report["protocols"]
        for entry in report["protocols"]:
            assert entry["n"] >= 2 and entry["name"] and entry["units"]
            assert entry["value"] is None or isinstance(entry["value"], float)
            assert len(entry["ci95"]) == 2
        assert all("reference" in e for e in report["protocols"])
    genai = json.loads((out / "genai-bench.json").read_text(encoding="utf-8"))
    names = [e["name"] for e in genai["protocols"]]
    assert names == ["four-way", "editreward"]
    assert {"clip_t", "clip_dir_captions", "l2"} <= set(genai["protocols"][1]["baselines"])
    tiger = json.loads((out / "editreward-bench-tiger.json").read_text(encoding="utf-8"))
    assert [e["name"] for e in tiger["protocols"]] == ["K=2", "K=3", "K=4", "overall"]
    aurora = json.loads((out / "aurora-bench.json").read_text(encoding="utf-8"))
    assert [e["name"] for e in aurora["protocols"]] == ["sample-spearman", "pairwise", "system-means"]
    assert aurora["protocols"][0]["n"] == 20 and aurora["protocols"][1]["n"] == 4  # outputs; items
    assert "3 output(s) were comparison panels" in aurora["data"]["notes"][0]
    nights = json.loads((out / "nights.json").read_text(encoding="utf-8"))
    assert "metric:preservation" in nights["protocols"][0]["subscores"]
    assert "clip_t" not in nights["protocols"][0]["baselines"]  # a fixed instruction: no CLIP-T
    assert nights["data"]["skipped"] == 2  # DreamSim's rule: test split, >= 6 votes


def test_rerun_reuses_every_scored_row(bench_run, capsys):
    out, args = bench_run
    results = out / "discedit" / "results.jsonl"
    before = results.read_text(encoding="utf-8")

    assert main([*args[:3], "--bench", "discedit", *args[5:]]) == 0

    assert results.read_text(encoding="utf-8") == before
    assert "discedit: 7 of 7 units scored" in capsys.readouterr().out


def test_table_puts_metric_baselines_and_cited_references_side_by_side(bench_run, capsys):
    out, _ = bench_run
    files = sorted(str(p) for p in out.glob("*.json"))

    assert main(["bench", "table", *files, "--markdown"]) == 0

    table = capsys.readouterr().out
    header, rule, *rows = table.splitlines()
    assert header.startswith("| Method | ") and "editreward-bench-tiger: K=3" in header and "editscore-bench: overall" in header
    assert rows[0].startswith("| demo | ")
    assert any(row.startswith("| clip_t (demo) |") for row in rows)
    assert any(row.startswith("| random |") and "| 25.90 [" in row for row in rows)
    assert "GenAI-Bench README, 'Current Leaderboard (v1 split)'" in table
    text = format_bench_table(read_bench_files(files), markdown=False, ci=True)
    assert "[" in text.splitlines()[1] and "95% bootstrap CI" in text


def test_table_refuses_a_file_that_is_not_a_bench_result(tmp_path, capsys):
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"scorers": []}), encoding="utf-8")

    assert main(["bench", "table", str(other)]) == 2
    assert "not a benchmark result of `i2imetric bench`" in capsys.readouterr().err


def test_a_broken_row_is_reported_and_the_rest_is_scored(tmp_path):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(os.path.join(os.path.dirname(__file__), "data", "fixtures", "bench", "nights"), root / "nights")
    with open(root / "nights" / "data.csv", newline="", encoding="utf-8") as text:
        rows = list(csv.reader(text))
    rows[1][1] = "many"  # left_vote not a number
    os.remove(root / "nights" / rows[2][5])  # an image that is gone
    with open(root / "nights" / "data.csv", "w", newline="", encoding="utf-8") as text:
        csv.writer(text).writerows(rows)

    assert main(["bench", "--metric", "demo", "--bench", "nights", "--data-root", str(root), "--out",
                 str(tmp_path / "out"), "--bootstrap", "10", "--num-workers", "0", "--no-progress"]) == 0

    report = json.loads((tmp_path / "out" / "nights.json").read_text(encoding="utf-8"))
    assert report["data"]["skipped"] == 3 and "left_vote" in json.dumps(report["data"]["skipped_examples"])
    assert report["coverage"]["failed"] == 1 and report["coverage"]["error_rows"] == 1
    assert report["protocols"][0]["n"] == 2


@pytest.mark.parametrize("metric", ["untrained:test-tiny", "checkpoint"])
def test_any_metric_argument_of_the_other_commands_works(metric, bench_root, tiny_trained_checkpoint, tmp_path, capsys):
    name = str(tiny_trained_checkpoint) if metric == "checkpoint" else metric

    assert main(["bench", "--metric", name, "--bench", "discedit", "--data-root", bench_root, "--out", str(tmp_path),
                 "--bootstrap", "10", "--num-workers", "0", "--no-progress", "--baselines", "clip_t"]) == 0

    report = json.loads((tmp_path / "discedit.json").read_text(encoding="utf-8"))
    assert report["metric"] == name and list(report["protocols"][0]["baselines"]) == ["clip_t"]
    assert ("UNTRAINED" in capsys.readouterr().err) == (metric != "checkpoint")


def _write_judge(path, records, verdicts, flip=None):
    """A GenAI-Bench judge file over ``records``: verdict ``verdicts(idx)``; ``flip`` gives one idx another human vote."""
    from i2imetric.meta_eval.judges import genai_bench_correct

    human = {"a": "leftvote", "b": "rightvote", "tie": "tievote", "both_bad": "bothbad_vote"}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        for record in records:
            idx = int(record.id)
            vote = verdicts(idx)
            if vote is False:
                continue  # no row for this vote
            human_vote = "rightvote" if idx == flip else human[record.label]
            out.write(json.dumps({"idx": idx, "response": f"verdict {vote or 'none'}", "model_vote": vote,
                                  "human_vote": human_vote, "correct": genai_bench_correct(vote, human_vote)}) + "\n")
    return path


def test_judge_verdicts_sit_beside_the_metric_on_the_same_votes_of_each_protocol(bench_root, tmp_path, capsys):
    records, _ = load_genai_bench_votes(os.path.join(bench_root, "genai-bench"), image_dir=tmp_path / "images")
    # By idx % 4 (the fixture's votes are leftvote, rightvote, tievote, bothbad_vote in turn):
    # right, right, right for both ties ([[A=B]]), no verdict (wrong).
    verdicts = ["[[A>B]]", "[[B>A]]", "[[A=B]]", None]
    judge = _write_judge(tmp_path / "results" / "image_edition" / "judge-x" / "pairwise.jsonl", records,
                         lambda idx: verdicts[idx % 4])
    # judge-y has rows for the first 7 votes only, all [[A>B]]: right on leftvotes alone.
    partial = _write_judge(tmp_path / "results" / "image_edition" / "judge-y" / "pairwise.jsonl", records,
                           lambda idx: "[[A>B]]" if idx < 7 else False)

    assert main(["bench", "--metric", "demo", "--bench", "genai-bench", "--data-root", bench_root, "--out",
                 str(tmp_path / "out"), "--bootstrap", "10", "--num-workers", "0", "--no-progress", "--baselines",
                 "clip_t", "--judges", str(judge), str(partial), "--markdown"]) == 0

    report = json.loads((tmp_path / "out" / "genai-bench.json").read_text(encoding="utf-8"))
    four_way, editreward = report["protocols"]
    # The metric's four-way test votes: the seeded half not used to fit its thresholds (seed 0).
    test = np.sort(np.random.default_rng(0).permutation(12)[6:])
    assert four_way["n"] == 6 and four_way["items"]["ids"] == [str(i) for i in test]
    x = four_way["judges"]["judge-x"]
    assert (x["n"], x["of"]) == (6, 6) and x["value"] == pytest.approx(np.mean(test % 4 != 3))
    y = four_way["judges"]["judge-y"]
    mine = test[test < 7]
    assert (y["n"], y["of"]) == (len(mine), 6) and y["value"] == pytest.approx(np.mean(mine % 4 == 0))
    # accuracy with ties, on all 12 votes: both kinds of human tie are ties, [[A=B]] is a tie.
    assert editreward["n"] == 12 and editreward["judges"]["judge-x"]["value"] == pytest.approx(9 / 12)
    assert editreward["judges"]["judge-y"]["n"] == 7
    assert editreward["judges"]["judge-y"]["value"] == pytest.approx(np.mean(np.arange(7) % 4 == 0))
    table = capsys.readouterr().out
    judge_rows = [row for row in table.splitlines() if "(judge) |" in row]
    assert [row.split(" |")[0] for row in judge_rows] == ["| judge-x (judge)", "| judge-y (judge)"]
    assert f"(n={len(mine)} of 6)" in judge_rows[1] and "(n=7 of 12)" in judge_rows[1] and "(n=" not in judge_rows[0]
    assert table.index("| clip_t (demo) |") < table.index("| judge-x (judge) |") < table.index("*Published")
    assert main(["bench", "--bench", "nights", "--data-root", bench_root, "--judges", str(judge)]) == 2
    assert "--judges are GenAI-Bench judge files: add genai-bench" in capsys.readouterr().err


def test_bench_table_adds_judges_to_results_written_earlier(bench_run, bench_root, tmp_path, capsys):
    out, _ = bench_run
    files = sorted(str(p) for p in out.glob("*.json"))
    records, _ = load_genai_bench_votes(os.path.join(bench_root, "genai-bench"), image_dir=tmp_path / "images")
    judge = _write_judge(tmp_path / "judge-z" / "pairwise.jsonl", records, lambda idx: "[[B>A]]" if idx % 2 else "[[A>B]]")
    before = (out / "genai-bench.json").read_text(encoding="utf-8")

    assert main(["bench", "table", *files, "--judges", str(judge), "--markdown", "--ci"]) == 0

    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.startswith("| judge-z (judge) |"))
    header = table.splitlines()[0].split(" | ")
    cells = row.split(" | ")
    report = json.loads(before)
    labels = np.array(report["protocols"][0]["items"]["labels"])
    # [[A>B]] on even idx, [[B>A]] on odd: right where the vote is leftvote (idx % 4 == 0) or rightvote (1).
    expected = 100 * np.mean(np.isin(labels, ["a", "b"]))
    assert cells[header.index("genai-bench: four-way")].startswith(f"{expected:.2f} [")
    assert cells[header.index("aurora-bench: pairwise")] == "--"  # a judge of GenAI-Bench has no verdict there
    assert (out / "genai-bench.json").read_text(encoding="utf-8") == before  # the table does not rewrite the files

    other = _write_judge(tmp_path / "judge-w" / "pairwise.jsonl", records, lambda idx: "[[A>B]]", flip=0)
    assert main(["bench", "table", *files, "--judges", str(other)]) == 2
    assert "idx 0 has human_vote 'rightvote'" in capsys.readouterr().err
    assert main(["bench", "table", str(out / "nights.json"), "--judges", str(judge)]) == 2
    assert "give a genai-bench.json" in capsys.readouterr().err


class _Shard:
    """What the engine reads of an `accelerate launch` process (accelerate's PartialState), for process
    ``rank`` of 2. The barriers are no-ops: the test runs the processes one after the other, in the order
    the barriers would let them finish (process 1 scores its share, then process 0 scores and merges)."""

    num_processes = 2
    device = "cpu"

    def __init__(self, rank):
        self.process_index = rank
        self.is_main_process = rank == 0

    def wait_for_everyone(self):
        pass


def test_bench_scores_through_the_engines_shards_and_merges_to_the_unsharded_result(bench_root, tmp_path, monkeypatch):
    from i2imetric.cli.common import metric_from_argument
    from i2imetric.data.manifest import write_manifest
    from i2imetric.evaluation import runner
    from i2imetric.evaluation.results import read_results
    from i2imetric.meta_eval.bench_run import run_benchmark
    from i2imetric.meta_eval.benchmarks import triplets_of

    benchmark, root = BENCHMARKS["aurora-bench"], os.path.join(bench_root, "aurora-bench")
    metric = metric_from_argument("untrained:test-tiny")

    def run(out):
        loaded = benchmark.load(root, str(out / benchmark.name))
        report = run_benchmark(metric, benchmark, loaded, out, metric_name="untrained:test-tiny", data_root=root,
                               baselines="clip_t,l2", n_resamples=50, num_workers=0, batch_size=3, progress=False)
        return loaded, report

    single_loaded, single = run(tmp_path / "single")
    out = tmp_path / "sharded"
    work = out / benchmark.name
    states = iter([_Shard(1), _Shard(0)])
    monkeypatch.setattr(runner, "process_state", lambda: state)
    monkeypatch.setattr(runner, "_broadcast", lambda value, state: value)  # the main process's value, everywhere
    # Before its first barrier, process 0 writes the manifest that every process then reads.
    work.mkdir(parents=True)
    write_manifest(work / "manifest.jsonl", triplets_of(benchmark.load(root, str(work))))

    state = next(states)
    _, none = run(out)  # process 1: its share (records 1::2) to its shard, no statistics
    assert none is None and not (work / "results.jsonl").exists()
    shard = work / "results.jsonl.rank1.jsonl"
    assert 0 < len(list(read_results(shard))) < 20
    state = next(states)
    loaded, merged = run(out)  # process 0: its share, then the merge of both shards and the statistics

    assert not list(work.glob("results.jsonl.rank*"))  # merged and removed

    def by_unit(loaded, results):  # output ids hash their paths, and panels are cut into each run's own folder
        unit_of = {unit[0].key: name for unit, name in zip(loaded.units, loaded.unit_ids)}
        return {unit_of[row["id"]]: row for row in read_results(results)}

    rows = by_unit(loaded, work / "results.jsonl")
    expected = by_unit(single_loaded, tmp_path / "single" / benchmark.name / "results.jsonl")
    assert rows.keys() == expected.keys() and len(rows) == 20
    for key, row in rows.items():
        assert row["score"] == pytest.approx(expected[key]["score"], abs=1e-5)
        assert row["baselines"] == pytest.approx(expected[key]["baselines"], abs=1e-5)
    assert merged["coverage"] == single["coverage"]
    for ours, theirs in zip(merged["protocols"], single["protocols"], strict=True):
        assert ours["name"] == theirs["name"] and ours["n"] == theirs["n"]
        assert ours["value"] == pytest.approx(theirs["value"], abs=1e-6)
        assert ours["ci95"] == pytest.approx(theirs["ci95"], abs=1e-6)
        assert {k: v["value"] for k, v in ours["baselines"].items()} == pytest.approx(
            {k: v["value"] for k, v in theirs["baselines"].items()}, abs=1e-6)
