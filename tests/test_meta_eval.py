"""Meta-evaluation: joins of results to labels, hand-checked statistics, scipy references, the CLI."""

import glob
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as sps

from i2imetric.cli.main import main
from i2imetric.data import Pairwise, Rating, Triplet, load_imagenhub_ratings, write_manifest
from i2imetric.errors import I2IInputError, ResultsError
from i2imetric.meta_eval import load_labels, meta_evaluate, read_results
from i2imetric.stats import (
    correlations,
    fit_four_way_thresholds,
    four_way_accuracy,
    group_accuracy,
    inter_rater_ceiling,
    pairwise_accuracy,
    tie_calibration,
    two_afc_score,
)

RESAMPLES = 50

# Seven judged pairs: (label, group, metric a, metric b, lpips a, lpips b); lpips is a distance.
PAIRS = [
    ("a", "g1", 0.9, 0.1, 0.2, 0.6),
    ("a", "g1", 0.8, 0.3, 0.5, 0.4),
    ("b", "g2", 0.2, 0.7, 0.3, 0.1),
    ("b", "g2", 0.6, 0.4, 0.9, 0.2),
    ("tie", "g4", 0.50, 0.52, 0.3, 0.3),
    ("tie", "g4", 0.40, 0.45, 0.1, 0.7),
    ("a", "g3", 0.7, 0.2, 0.8, 0.3),
]


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")
    return str(path)


def ok_row(row_id, score, baselines=None, **fields):
    return {"id": row_id, "score": score, "subscores": {}, "baselines": baselines or {}, "status": "ok", **fields}


def pair_records(pairs=PAIRS):
    return [
        Pairwise("src.png", "edit", f"p{i}_a.png", f"p{i}_b.png", label, id=f"p{i}", extra={"group": group})
        for i, (label, group, *_) in enumerate(pairs)
    ]


def per_side_rows(pairs=PAIRS):
    rows = []
    for i, (_, _, metric_a, metric_b, lpips_a, lpips_b) in enumerate(pairs):
        rows.append(ok_row(f"p{i}/a", metric_a, {"lpips": lpips_a}))
        rows.append(ok_row(f"p{i}/b", metric_b, {"lpips": lpips_b}))
    return rows


def columns(pairs=PAIRS):
    labels, _, metric_a, metric_b, lpips_a, lpips_b = (np.array(column) for column in zip(*pairs))
    return labels, metric_a, metric_b, -lpips_a.astype(float), -lpips_b.astype(float)


@pytest.fixture(scope="module")
def pairwise_result():
    return meta_evaluate(per_side_rows(), pair_records(), n_resamples=RESAMPLES, lower_is_better=["lpips"])


def row_of(result, key):
    (row,) = [row for row in result.rows if row.key == key]
    return row


# --------------------------------------------------------------------------
# pairwise
# --------------------------------------------------------------------------


def test_pairwise_accuracy_without_ties_is_hand_computed(pairwise_result):
    row = row_of(pairwise_result, "pairwise/accuracy_without_ties")
    # Untied pairs p0, p1, p2, p6 are right, p3 is wrong.
    assert row.n == 5
    assert row.values["metric"].value == pytest.approx(4 / 5)
    labels, _, _, lpips_a, lpips_b = columns()
    decided = labels != "tie"
    expected = pairwise_accuracy(lpips_a[decided], lpips_b[decided], labels[decided])
    assert row.values["lpips"].value == pytest.approx(expected)


def test_tie_calibration_reports_the_hand_computed_epsilon(pairwise_result):
    row = row_of(pairwise_result, "pairwise/accuracy_tie_calibrated")
    # Tying |delta| <= 0.05 turns both human ties right: 6 of 7.
    assert row.values["metric"].value == pytest.approx(6 / 7)
    assert row.values["metric"].params["epsilon"] == pytest.approx(0.05)
    labels, _, _, lpips_a, lpips_b = columns()
    accuracy, epsilon = tie_calibration(lpips_a, lpips_b, labels)
    assert row.values["lpips"].value == pytest.approx(accuracy)
    assert row.values["lpips"].params == {"epsilon": pytest.approx(epsilon)}


def test_group_accuracy_matches_stats(pairwise_result):
    row = row_of(pairwise_result, "pairwise/group_accuracy")
    # Groups of untied pairs: g1 all right, g2 has p3 wrong, g3 right.
    assert (row.n, row.units) == (3, "groups")
    assert row.values["metric"].value == pytest.approx(2 / 3)
    labels, metric_a, metric_b, _, _ = columns()
    groups = np.array([group for _, group, *_ in PAIRS])
    decided = labels != "tie"
    expected = group_accuracy(metric_a[decided], metric_b[decided], labels[decided], groups[decided])
    assert row.values["metric"].value == pytest.approx(expected)


def test_every_estimate_has_an_interval_around_it(pairwise_result):
    for row in pairwise_result.rows:
        for estimate in row.values.values():
            assert estimate.low <= estimate.value + 1e-12 and estimate.value <= estimate.high + 1e-12


def test_paired_test_reports_delta_interval_and_p_value(pairwise_result):
    for row in pairwise_result.rows:
        assert set(row.versus_metric) == {"lpips"}
        test = row.versus_metric["lpips"]
        assert set(test) == {"delta", "low", "high", "p_value"}
        assert test["delta"] == pytest.approx(row.values["metric"].value - row.values["lpips"].value)
        assert 0.0 <= test["p_value"] <= 1.0


def test_paired_test_sees_a_clearly_better_metric():
    rng = np.random.default_rng(0)
    n = 60
    labels = rng.choice(["a", "b"], size=n)
    truth = np.where(labels == "a", 1.0, -1.0)
    records = [Pairwise("s.png", "edit", f"{i}a.png", f"{i}b.png", str(label), id=str(i)) for i, label in enumerate(labels)]
    rows = []
    for i in range(n):
        rows.append(ok_row(f"{i}/a", truth[i], {"coin": rng.normal(), "same": truth[i]}))
        rows.append(ok_row(f"{i}/b", 0.0, {"coin": rng.normal(), "same": 0.0}))
    result = meta_evaluate(rows, records, n_resamples=200)
    versus = row_of(result, "pairwise/accuracy_without_ties").versus_metric
    assert versus["coin"]["delta"] > 0.3 and versus["coin"]["p_value"] < 0.01
    assert versus["same"]["delta"] == 0.0 and versus["same"]["p_value"] == 1.0


def test_one_row_with_score_a_and_score_b_joins_like_two_rows(pairwise_result):
    rows = [
        {
            "id": f"p{i}",
            "score_a": metric_a,
            "score_b": metric_b,
            "baselines_a": {"lpips": lpips_a},
            "baselines_b": {"lpips": lpips_b},
            "status": "ok",
        }
        for i, (_, _, metric_a, metric_b, lpips_a, lpips_b) in enumerate(PAIRS)
    ]
    result = meta_evaluate(rows, pair_records(), n_resamples=RESAMPLES, lower_is_better=["lpips"])
    assert result.to_dict() == pairwise_result.to_dict()


def test_pairs_join_by_output_path_when_ids_are_missing(tmp_path):
    records = [
        Pairwise(None, "edit", str(tmp_path / f"p{i}_a.png"), str(tmp_path / f"p{i}_b.png"), label)
        for i, (label, *_) in enumerate(PAIRS)
    ]
    rows = []
    for i, (_, _, metric_a, metric_b, *_) in enumerate(PAIRS):
        # Relative output paths start at the results file's folder.
        rows.append(ok_row(f"row{2 * i}", metric_a, output=f"p{i}_a.png"))
        rows.append(ok_row(f"row{2 * i + 1}", metric_b, output=f"p{i}_b.png"))
    results = write_jsonl(tmp_path / "results.jsonl", rows)
    result = meta_evaluate(results, records, n_resamples=RESAMPLES)
    assert result.coverage.used == len(PAIRS)
    assert row_of(result, "pairwise/accuracy_without_ties").values["metric"].value == pytest.approx(4 / 5)


def triplet_bench(root, pairs=PAIRS):
    """Files for PAIRS as two instructions on one source, every pair's b the same unchanged copy.

    Returns the pairwise labels (ids ``p<i>``) and hand-made result rows of the same
    outputs scored as triplets (ids ``t<k>``), carrying their inputs as ``eval`` writes
    them: resolved paths, the instruction as given.
    """
    images = root / "images"
    images.mkdir()
    (images / "src.png").write_bytes(b"")
    (images / "unchanged.png").write_bytes(b"")
    records, rows = [], []
    for i, (label, group, metric_a, metric_b, *_) in enumerate(pairs):
        instruction = f"edit {i % 2}"  # two instructions share the unchanged output
        (images / f"p{i}_a.png").write_bytes(b"")
        # The labels reach the images through "..": the results name them resolved.
        via = root / "labels" / ".." / "images"
        records.append(Pairwise(str(via / "src.png"), instruction, str(via / f"p{i}_a.png"), str(via / "unchanged.png"), label, id=f"p{i}", extra={"group": group}))
        inputs = {"source": str(images / "src.png"), "instruction": instruction}
        rows.append(ok_row(f"t{2 * i}", metric_a, output=str(images / f"p{i}_a.png"), **inputs))
        if i < 2:
            rows.append(ok_row(f"t{2 * i + 1}", metric_b, output=str(images / "unchanged.png"), **inputs))
    return records, rows


def test_pairwise_labels_join_triplet_results_by_content(tmp_path):
    records, rows = triplet_bench(tmp_path, PAIRS[:2] * 2)
    # The unchanged copy scores the same for one instruction whichever pair it is in.
    result = meta_evaluate(rows, records, n_resamples=RESAMPLES)
    assert result.coverage.used == 4 and not result.coverage.no_result
    accuracy = row_of(result, "pairwise/accuracy_without_ties")
    assert accuracy.values["metric"].value == pytest.approx(1.0)  # 0.9 > 0.1 and 0.8 > 0.3, twice


def test_content_wins_over_ids_and_an_ambiguous_content_falls_back_to_them(tmp_path):
    records, rows = triplet_bench(tmp_path, PAIRS[:1])
    record = records[0]
    # Rows named like the engine names a pair, but p0/a holds another output.
    decoy = ok_row("p0/a", -5.0, source=rows[0]["source"], instruction="edit 0", output=str(tmp_path / "other.png"))
    result = meta_evaluate([*rows, decoy], [record, record], n_resamples=RESAMPLES)
    assert result.coverage.used == 2
    assert row_of(result, "pairwise/accuracy_without_ties").values["metric"].value == pytest.approx(1.0)

    twice = [*rows, dict(rows[0], id="again", score=-1.0), ok_row("p0/a", 0.95), ok_row("p0/b", 0.05)]
    result = meta_evaluate(twice, [record, record], n_resamples=RESAMPLES)
    assert result.coverage.used == 2  # p0/a by id, since two rows share its content
    assert row_of(result, "pairwise/accuracy_without_ties").values["metric"].value == pytest.approx(1.0)


def test_records_without_ids_join_by_content_id_like_the_engine_names_them():
    from i2imetric.data.records import record_id

    pairs = [Pairwise(None, "e", f"{i}a.png", f"{i}b.png", "a") for i in range(3)]
    records = [Triplet(None, "t", "x.png"), *pairs]
    rows = [
        ok_row(f"{record_id(pair)}/{side}", score)
        for i, pair in enumerate(pairs)
        for side, score in (("a", 1.0), ("b", float(i == 1)))
    ]
    result = meta_evaluate(rows, records, n_resamples=RESAMPLES)
    assert result.coverage.used == 3
    assert row_of(result, "pairwise/accuracy_without_ties").values["metric"].value == pytest.approx(2 / 3)


def test_distances_of_the_baseline_registry_are_negated_by_default():
    rows = [
        ok_row(f"p{i}/{side}", metric, {"l2": -metric, "psnr": metric})
        for i, (_, _, metric_a, metric_b, *_) in enumerate(PAIRS)
        for side, metric in (("a", metric_a), ("b", metric_b))
    ]
    result = meta_evaluate(rows, pair_records(), n_resamples=RESAMPLES)
    assert result.options["lower_is_better"] == ["l2"]
    accuracy = row_of(result, "pairwise/accuracy_without_ties").values
    assert accuracy["l2"].value == accuracy["psnr"].value == accuracy["metric"].value


def test_four_way_thresholds_are_fitted_on_the_validation_split_only():
    rng = np.random.default_rng(3)
    n = 40
    labels = rng.choice(["a", "b", "tie", "both_bad"], size=n)
    score_a, score_b = rng.normal(size=n), rng.normal(size=n)
    records = [Pairwise("s.png", "e", f"{i}a.png", f"{i}b.png", str(label), id=str(i)) for i, label in enumerate(labels)]
    rows = [ok_row(f"{i}/{side}", float(s)) for i in range(n) for side, s in (("a", score_a[i]), ("b", score_b[i]))]
    result = meta_evaluate(rows, records, n_resamples=RESAMPLES, seed=7, validation_fraction=0.25)
    row = row_of(result, "pairwise/four_way")

    # The documented split: a permutation seeded with `seed`, its first 25% fit the thresholds.
    order = np.random.default_rng(7).permutation(n)
    validation, test = np.sort(order[:10]), np.sort(order[10:])
    epsilon, tau = fit_four_way_thresholds(score_a[validation], score_b[validation], labels[validation])
    assert row.n == 30
    assert row.values["metric"].params == {"epsilon": epsilon, "tau": tau}
    expected = four_way_accuracy(score_a[test], score_b[test], labels[test], epsilon, tau)
    assert row.values["metric"].value == pytest.approx(expected)


def test_four_way_without_a_tied_validation_pair_says_no_tie_threshold():
    # Every pair has distinct scores, so at the fitted epsilon 0 nothing is tied.
    labels = ["a", "b", "a", "b", "both_bad", "a", "b", "a"]
    score_a = [0.9, 0.1, 0.8, 0.2, 0.7, 0.6, 0.3, 0.95]
    score_b = [0.1, 0.9, 0.2, 0.8, 0.3, 0.4, 0.7, 0.05]
    records = [Pairwise("s.png", "e", f"{i}a.png", f"{i}b.png", label, id=str(i)) for i, label in enumerate(labels)]
    rows = [ok_row(f"{i}/{side}", s) for i in range(8) for side, s in (("a", score_a[i]), ("b", score_b[i]))]
    result = meta_evaluate(rows, records, n_resamples=RESAMPLES, seed=0)
    row = row_of(result, "pairwise/four_way")
    params = row.values["metric"].params
    assert params["epsilon"] == 0.0
    assert params["tau"].value is None and "no tie threshold" in params["tau"].reason
    table = result.format_table()
    assert "no tie threshold" in table and "tau=inf" not in table
    (four_way,) = [r for r in json.loads(json.dumps(result.to_dict()))["statistics"] if r["key"] == "pairwise/four_way"]
    tau = four_way["values"]["metric"]["params"]["tau"]
    assert tau["value"] is None and tau["reason"].startswith("no tie threshold")


def test_two_afc_with_soft_labels_and_the_bapps_human_score():
    p_a = np.array([1.0, 0.75, 0.5, 0.25, 0.0, 0.6])
    score_a = np.array([0.9, 0.2, 0.5, 0.1, 0.3, 0.8])
    score_b = np.array([0.1, 0.4, 0.5, 0.7, 0.3, 0.2])
    records = [Pairwise("ref.png", None, f"{i}0.png", f"{i}1.png", float(p), id=str(i)) for i, p in enumerate(p_a)]
    rows = [ok_row(f"{i}/{side}", float(s)) for i in range(6) for side, s in (("a", score_a[i]), ("b", score_b[i]))]
    result = meta_evaluate(rows, records, n_resamples=RESAMPLES)
    (row,) = result.rows
    assert row.key == "two_afc/score"
    assert row.values["metric"].value == pytest.approx(two_afc_score(score_a, score_b, p_a))
    assert row.human.value == pytest.approx(np.mean(p_a**2 + (1 - p_a) ** 2))
    # The best score a metric can reach is a different number, and the notes say so.
    best = np.mean(np.maximum(p_a, 1 - p_a))
    assert any(f"{best:.3f}" in note and "best score" in note for note in result.notes)


# --------------------------------------------------------------------------
# ratings
# --------------------------------------------------------------------------


def rating_records(n_groups=5, systems=("s1", "s2", "s3", "s4"), raters=("r1", "r2"), seed=0):
    rng = np.random.default_rng(seed)
    records = []
    for g in range(n_groups):
        for system in systems:
            quality = rng.normal()
            for rater in raters:
                records.append(
                    Rating(
                        f"in/{g}.png",
                        "edit",
                        f"{system}/{g}.png",
                        value=float(quality + rng.normal(scale=0.5)),
                        rater=rater,
                        system=system,
                        group=f"u{g}",
                        id=f"u{g}/{system}/{rater}",
                    )
                )
    return records


def test_one_output_rated_under_two_instructions_is_two_items():
    from i2imetric.meta_eval.join import join_labels

    # An unedited source offered as the output for two edit requests: two judgements, not one.
    records = [Rating("in/0.png", instruction, "in/0.png", value=value, rater=rater, system="copy", group=group,
                      id=f"{group}/copy/{rater}")
               for group, instruction, value in (("g0", "make it red", 1.0), ("g1", "flip it", 2.0))
               for rater in ("r1", "r2")]  # fmt: skip
    rows = [ok_row("g0/copy", 0.5, {}), ok_row("g1/copy", 0.7, {})]
    usable, _ = join_labels(rows, records, aspect=None, notes=[])
    assert sorted(unit.judgement.by_rater["r1"][0] for unit, _ in usable) == [1.0, 2.0]
    assert all(len(values) == 1 for unit, _ in usable for values in unit.judgement.by_rater.values())


def rating_rows(records, seed=1):
    rng = np.random.default_rng(seed)
    human = {}
    for record in records:
        human.setdefault(record.id.rsplit("/", 1)[0], []).append(record.value)
    return [
        ok_row(item, float(np.mean(values) + rng.normal(scale=0.7)), {"noise": float(rng.normal())})
        for item, values in human.items()
    ]


def test_correlations_match_scipy_and_stats_at_every_level():
    records = rating_records()
    rows = rating_rows(records)
    result = meta_evaluate(rows, records, n_resamples=RESAMPLES)

    items = [row["id"] for row in rows]
    metric = np.array([row["score"] for row in rows])
    by_item = {item: [r.value for r in records if r.id.startswith(item + "/")] for item in items}
    human = np.array([np.mean(by_item[item]) for item in items])
    groups = np.array([item.split("/")[0] for item in items])
    systems = np.array([item.split("/")[1] for item in items])
    scipy_reference = {
        "pearson": sps.pearsonr(metric, human).statistic,
        "spearman": sps.spearmanr(metric, human).statistic,
        "kendall": sps.kendalltau(metric, human).statistic,  # tau-b
    }
    per_group = correlations(metric, human, level="group", groups=groups)
    per_system = correlations(metric, human, level="system", systems=systems)
    ceiling_matrix = np.array([by_item[item] for item in items]).T  # [raters, items]
    for method, expected in scipy_reference.items():
        sample = row_of(result, f"ratings/sample/{method}")
        assert sample.values["metric"].value == pytest.approx(expected)
        assert sample.human.value == pytest.approx(inter_rater_ceiling(ceiling_matrix, method))
        assert row_of(result, f"ratings/group/{method}").values["metric"].value == pytest.approx(per_group[method])
        assert row_of(result, f"ratings/system/{method}").values["metric"].value == pytest.approx(per_system[method])
    assert result.ratings.human == pytest.approx(human)


def test_group_rows_are_plain_means_and_fisher_z_only_for_pearson_over_groups_of_four():
    # Groups u0..u4 have 4 systems each; give u5 and u6 only 3, so the Fisher row leaves them out.
    records = rating_records(n_groups=7)
    records = [r for r in records if not (r.group in ("u5", "u6") and r.system == "s4")]
    rows = rating_rows(records)
    result = meta_evaluate(rows, records, n_resamples=RESAMPLES)
    metric = np.array([row["score"] for row in rows])
    human = np.array([np.mean([r.value for r in records if r.id.startswith(row["id"] + "/")]) for row in rows])
    groups = np.array([row["id"].split("/")[0] for row in rows])
    per_group = correlations(metric, human, level="group", groups=groups)
    for method in ("pearson", "spearman", "kendall"):
        row = row_of(result, f"ratings/group/{method}")
        assert row.label == f"{method}, per group (mean)"
        coefficients = [sps.pearsonr if method == "pearson" else sps.spearmanr if method == "spearman" else sps.kendalltau]
        expected = np.mean([coefficients[0](metric[groups == g], human[groups == g]).statistic for g in np.unique(groups)])
        assert row.values["metric"].value == pytest.approx(expected) == pytest.approx(per_group[method])
    fisher = row_of(result, "ratings/group/pearson_fisher_z")
    assert fisher.n == 5  # the groups of 4 only
    assert fisher.values["metric"].value == pytest.approx(per_group["pearson_fisher_z"])
    assert not [row for row in result.rows if row.key in ("ratings/group/spearman_fisher_z", "ratings/group/kendall_fisher_z")]
    assert any(note.startswith("Group-level correlations: 5 groups of 4 items, 2 of 3;") for note in result.notes)


def test_rating_aspect_selects_that_score():
    records = [
        Rating(None, "e", f"{i}.png", value=0.0, aspects={"SC": float(i), "PQ": float(-i)}, id=str(i)) for i in range(4)
    ]
    rows = [ok_row(str(i), float(i)) for i in range(4)]
    positive = meta_evaluate(rows, records, n_resamples=RESAMPLES, aspect="SC")
    negative = meta_evaluate(rows, records, n_resamples=RESAMPLES, aspect="PQ")
    assert row_of(positive, "ratings/sample/spearman").values["metric"].value == pytest.approx(1.0)
    assert row_of(negative, "ratings/sample/spearman").values["metric"].value == pytest.approx(-1.0)


# --------------------------------------------------------------------------
# ImagenHub
# --------------------------------------------------------------------------


IMAGENHUB_DIR = os.path.join(os.path.dirname(__file__), "data", "imagenhub")


@pytest.fixture(scope="module")
def imagenhub_tsvs():
    return sorted(glob.glob(os.path.join(IMAGENHUB_DIR, "Text-Guided_IE_rater*.tsv")))


def imagenhub_rows(tsvs, with_ids=True, image_root=None):
    """A fake result per (uid, system) cell: the mean human rating plus noise."""
    rng = np.random.default_rng(0)
    cells = load_imagenhub_ratings(tsvs, aggregate="mean", image_root=image_root).records
    rows = []
    for cell in cells:
        fields = {"output": cell.output} if not with_ids else {}
        rows.append(ok_row(cell.id if with_ids else None, cell.value + float(rng.normal(scale=0.3)), **fields))
    return cells, rows


def test_imagenhub_tsvs_join_by_uid_and_system(imagenhub_tsvs):
    cells, rows = imagenhub_rows(imagenhub_tsvs)
    assert rows[0]["id"].count("/") == 1 and rows[0]["id"].startswith("sample_")  # <uid>/<system>
    result = meta_evaluate(rows, load_labels(imagenhub_tsvs, "imagenhub"), n_resamples=10)

    assert result.coverage.used == len(cells) == result.coverage.label_items
    assert result.ratings.raters == ["rater1", "rater2", "rater3"]
    metric = np.array([row["score"] for row in rows])
    human = np.array([cell.value for cell in cells])
    spearman = row_of(result, "ratings/sample/spearman")
    assert spearman.values["metric"].value == pytest.approx(sps.spearmanr(metric, human).statistic)
    assert spearman.human.value == pytest.approx(inter_rater_ceiling(result.ratings.by_rater.T, "spearman"))
    assert row_of(result, "ratings/group/pearson").n == len({cell.group for cell in cells})
    assert row_of(result, "ratings/system/kendall").values["metric"].value > 0.5


def test_imagenhub_tsvs_join_by_output_path_under_image_root(imagenhub_tsvs, tmp_path):
    cells, rows = imagenhub_rows(imagenhub_tsvs, with_ids=False, image_root=tmp_path)
    labels = load_labels(imagenhub_tsvs, "imagenhub", image_root=tmp_path)
    result = meta_evaluate(rows, labels, n_resamples=5)
    assert result.coverage.used == len(cells)


# --------------------------------------------------------------------------
# coverage, reading, output, CLI
# --------------------------------------------------------------------------


def test_coverage_accounts_for_missing_and_failed_rows():
    rows = {row["id"]: row for row in per_side_rows()}
    del rows["p0/b"]
    rows["p1/b"]["status"] = "error"
    rows["p2/a"]["score"] = None
    records = [*pair_records(), Triplet(None, "t", "x.png")]
    result = meta_evaluate(list(rows.values()), records, n_resamples=RESAMPLES, lower_is_better=["lpips"])
    coverage = result.coverage
    assert (coverage.label_items, coverage.used, coverage.failed, coverage.no_result) == (7, 4, 2, ["p0"])
    assert "4 of 7 label items used" in coverage.summary()
    assert any("triplets" in note for note in result.notes)


def test_a_baseline_missing_on_some_outputs_is_left_out_not_the_items():
    rows = {row["id"]: row for row in per_side_rows()}
    for row in rows.values():
        row["baselines"]["clip_dir_captions"] = None  # the engine's null: no captions
    rows["p3/a"]["baselines"]["lpips"] = None
    result = meta_evaluate(list(rows.values()), pair_records(), n_resamples=RESAMPLES)
    assert result.scorers == ["metric"] and result.coverage.used == 7
    assert "lpips has no score for 1 of 14 outputs and is left out." in result.notes


def test_no_usable_item_is_an_error():
    with pytest.raises(I2IInputError, match="no label item could be used"):
        meta_evaluate([ok_row("other", 1.0)], pair_records(), n_resamples=RESAMPLES)
    with pytest.raises(I2IInputError, match="no pairwise or rating records"):
        meta_evaluate([ok_row("x", 1.0)], [Triplet(None, "t", "x.png")], n_resamples=RESAMPLES)


def test_import_does_not_pull_in_torch():
    code = "import sys, i2imetric.meta_eval; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_read_results_resolves_relative_image_paths(tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [ok_row("x", 1.0, output="o.png", source="/abs/s.png")])
    (row,) = read_results(path)
    assert row["output"] == str(tmp_path / "o.png") and row["source"] == "/abs/s.png"
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\n[1, 2]\n')
    with pytest.raises(ResultsError, match="bad.jsonl:2"):
        read_results(tmp_path / "bad.jsonl")
    with pytest.raises(ResultsError, match="missing.jsonl: no such result file"):
        read_results(tmp_path / "missing.jsonl")


def test_a_torn_last_line_is_left_out_as_eval_leaves_it(tmp_path):
    # A killed `eval` leaves its last row half-written; eval resumes over it, so meta-eval must read it too.
    path = write_jsonl(tmp_path / "results.jsonl", per_side_rows())
    with open(path, "a", encoding="utf-8") as out:
        out.write('{"id": "p9/a", "sco')
    result = meta_evaluate(path, pair_records(), n_resamples=RESAMPLES, lower_is_better=["lpips"])
    assert result.coverage.used == len(PAIRS)


@pytest.fixture(scope="module")
def scored_bench(tmp_path_factory):
    """PAIRS as image files, scored by ``i2imetric.evaluate`` (test-tiny) as eval writes them.

    Returns the folder, the pairwise labels manifest (ids ``p<i>``), and a manifest of the
    same outputs as triplets with other ids (``t<k>``).
    """
    from PIL import Image

    import i2imetric

    root = tmp_path_factory.mktemp("scored")
    rng = np.random.default_rng(0)
    pairs, triplets = [], []
    for i, (label, group, *_) in enumerate(PAIRS):
        paths = []
        for name in ("src", "a", "b"):
            path = root / f"p{i}_{name}.png"
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(path)
            paths.append(str(path))
        pairs.append(Pairwise(paths[0], "make it red", paths[1], paths[2], label, id=f"p{i}", extra={"group": group}))
        triplets += [Triplet(paths[0], "make it red", output, id=f"t{2 * i + k}") for k, output in enumerate(paths[1:])]
    write_manifest(root / "labels.jsonl", pairs)
    write_manifest(root / "triplets.jsonl", triplets)
    metric = i2imetric.create_metric("test-tiny", seed=0)
    for manifest, out in (("labels", "pairs.jsonl"), ("labels", "pairs.csv"), ("triplets", "triplet_results.jsonl")):
        i2imetric.evaluate(metric, root / f"{manifest}.jsonl", out=root / out, num_workers=0, baselines="l2", progress=False)
    return root


@pytest.mark.parametrize("name", ["pairs.csv", "triplet_results.jsonl"])
def test_meta_eval_reads_what_eval_writes_whatever_the_format_and_ids(scored_bench, name):
    expected = meta_evaluate(scored_bench / "pairs.jsonl", scored_bench / "labels.jsonl", n_resamples=RESAMPLES)
    assert expected.coverage.used == len(PAIRS) and expected.scorers == ["metric", "l2"]
    result = meta_evaluate(scored_bench / name, scored_bench / "labels.jsonl", n_resamples=RESAMPLES)
    assert result.coverage.used == len(PAIRS)
    for row in expected.rows:
        for scorer, estimate in row.values.items():
            assert row_of(result, row.key).values[scorer].value == pytest.approx(estimate.value, abs=1e-6)


def test_meta_eval_reads_parquet(scored_bench, tmp_path):
    pytest.importorskip("pyarrow")
    import i2imetric

    metric = i2imetric.create_metric("test-tiny", seed=0)
    out = tmp_path / "pairs.parquet"
    i2imetric.evaluate(metric, scored_bench / "labels.jsonl", out=out, num_workers=0, baselines="l2", progress=False)
    assert meta_evaluate(out, scored_bench / "labels.jsonl", n_resamples=RESAMPLES).coverage.used == len(PAIRS)


def test_cli_reads_a_csv_result_file(scored_bench, capsys):
    argv = ["meta-eval", "--results", str(scored_bench / "pairs.csv"), "--labels", str(scored_bench / "labels.jsonl")]
    assert main([*argv, "--bootstrap", "10", "--no-progress"]) == 0
    assert f"{len(PAIRS)} of {len(PAIRS)} label items used" in capsys.readouterr().out


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("terminal, progress, shown", [(True, True, True), (True, False, False), (False, True, False)])
def test_a_progress_bar_counts_the_bootstraps_on_a_terminal(monkeypatch, terminal, progress, shown):
    stderr = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    meta_evaluate(per_side_rows(), pair_records(), n_resamples=5, lower_is_better=["lpips"], progress=progress)
    # Three statistics, each bootstrapped for metric and lpips plus one paired test.
    assert ("i2imetric meta-eval" in stderr.getvalue() and "9/9" in stderr.getvalue()) == shown


def test_table_and_json_hold_every_scorer(pairwise_result):
    table = pairwise_result.format_table()
    header, *_ = table.splitlines()
    assert header.split() == ["statistic", "n", "metric", "lpips"]
    assert "eps=0.05" in table and "metric - X" in table
    assert "lpips is a distance" in table
    data = json.loads(json.dumps(pairwise_result.to_dict(), allow_nan=False))
    assert data["scorers"] == ["metric", "lpips"]
    assert {row["key"] for row in data["statistics"]} == {
        "pairwise/accuracy_without_ties",
        "pairwise/accuracy_tie_calibrated",
        "pairwise/group_accuracy",
    }


def test_nan_becomes_null_in_json():
    # Constant metric scores leave every correlation undefined.
    records = rating_records(n_groups=2)
    rows = [ok_row(row["id"], 1.0) for row in rating_rows(records)]
    with pytest.warns(RuntimeWarning, match="non-finite statistic"):
        data = meta_evaluate(rows, records, n_resamples=5).to_dict()
    assert data["statistics"][0]["values"]["metric"]["value"] is None
    json.dumps(data, allow_nan=False)


def test_cli_prints_the_table_and_writes_json(tmp_path, capsys):
    results = write_jsonl(tmp_path / "results.jsonl", per_side_rows())
    labels = tmp_path / "labels.jsonl"
    write_manifest(labels, pair_records())
    out = tmp_path / "table.json"
    argv = ["meta-eval", "--results", results, "--labels", str(labels), "--out", str(out)]
    assert main([*argv, "--bootstrap", "30", "--lower-is-better", "lpips"]) == 0
    assert "pairwise accuracy, no ties" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["options"]["n_resamples"] == 30 and data["options"]["lower_is_better"] == ["lpips"]


def test_cli_reads_imagenhub_tsvs(imagenhub_tsvs, tmp_path, capsys):
    _, rows = imagenhub_rows(imagenhub_tsvs)
    results = write_jsonl(tmp_path / "results.jsonl", rows)
    argv = ["meta-eval", "--results", results, "--labels", *imagenhub_tsvs, "--labels-format", "imagenhub"]
    assert main([*argv, "--bootstrap", "5", "--aspect", "SC"]) == 0
    out = capsys.readouterr().out
    assert "spearman, per group (mean)" in out
    assert "Group-level correlations:" in out and "groups of" in out


def test_cli_turns_bad_labels_into_a_one_line_error(tmp_path, capsys):
    results = write_jsonl(tmp_path / "results.jsonl", per_side_rows())
    assert main(["meta-eval", "--results", results, "--labels", str(tmp_path / "missing.jsonl")]) == 2
    assert "error" in capsys.readouterr().err
