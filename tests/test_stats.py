"""Tests for i2imetric.stats: hand-computed cases, scipy/brute-force references, coverage."""

import doctest
import itertools
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as sps

from i2imetric import stats
from i2imetric.stats import (
    bootstrap_ci,
    correlations,
    fisher_z_mean,
    fit_four_way_thresholds,
    four_way_accuracy,
    frechet_distance,
    group_accuracy,
    inter_rater_ceiling,
    median_heuristic_sigma,
    mmd2_unbiased,
    paired_bootstrap_test,
    pairwise_accuracy,
    tie_calibration,
    two_afc_score,
)


def test_docstring_examples_run():
    result = doctest.testmod(stats)
    assert result.attempted > 10
    assert result.failed == 0


def test_import_does_not_pull_in_torch():
    code = "import sys, i2imetric.stats; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------
# pairwise accuracy / tie calibration
# --------------------------------------------------------------------------


def test_pairwise_accuracy_counts_each_tie_category():
    # One pair each of C, D, T_h, T_m, T_hm: (C + T_hm) / 5 = 2/5.
    score_a = [0.9, 0.1, 0.6, 0.5, 0.3]
    score_b = [0.1, 0.9, 0.2, 0.5, 0.3]
    labels = ["a", "a", "tie", "b", "tie"]
    assert pairwise_accuracy(score_a, score_b, labels) == pytest.approx(2 / 5)


def test_pairwise_accuracy_without_ties_is_plain_accuracy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=200), rng.normal(size=200)
    labels = rng.choice(["a", "b"], size=200)
    plain = np.mean(np.where(a > b, "a", "b") == labels)
    assert pairwise_accuracy(a, b, labels) == pytest.approx(plain)


def test_pairwise_accuracy_epsilon_turns_close_pairs_into_ties():
    a, b, labels = [1.0, 1.0], [0.75, 0.0], ["tie", "a"]
    assert pairwise_accuracy(a, b, labels) == 0.5
    assert pairwise_accuracy(a, b, labels, epsilon=0.25) == 1.0  # |delta| <= eps is a tie
    assert pairwise_accuracy(a, b, labels, epsilon=1.0) == 0.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"score_b": [0.1, 0.2]}, "score_b has 2 items"),
        ({"labels": ["a", "B", "tie"]}, "labels has unknown values \\['B'\\]"),
        ({"labels": ["a", "b"]}, "labels has 2 items"),
        ({"score_a": [0.1, np.nan, 0.3]}, "score_a contains NaN"),
        ({"score_a": [[0.1, 0.2, 0.3]]}, "score_a must be 1-D"),
        ({"score_a": ["x", "y", "z"]}, "score_a must be numeric"),
        ({"epsilon": -0.1}, "epsilon must be a finite number >= 0"),
    ],
)
def test_pairwise_accuracy_rejects_bad_input(kwargs, message):
    args = {"score_a": [0.1, 0.2, 0.3], "score_b": [0.3, 0.2, 0.1], "labels": ["a", "b", "tie"]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        pairwise_accuracy(**args)


def test_tie_calibration_finds_crafted_optimum():
    # |delta| ascending with the change in correct pairs if tied:
    # 0.05 tie(+1), 0.1 tie(+1), 0.2 b(-1), 0.25 a(-1), 0.3 tie(+1), 0.5 a(-1), 0.8 b(-1).
    # Correct counts per threshold: 0->4, .05->5, .1->6, .2->5, .25->4, .3->5, .5->4, .8->3.
    delta = np.array([0.05, 0.1, -0.2, 0.25, 0.3, 0.5, -0.8])
    labels = ["tie", "tie", "b", "a", "tie", "a", "b"]
    accuracy, epsilon = tie_calibration(delta, np.zeros_like(delta), labels)
    assert epsilon == 0.1
    assert accuracy == pytest.approx(6 / 7)


def test_tie_calibration_prefers_smallest_epsilon_and_handles_zero_deltas():
    # Equal scores are ties even at epsilon 0; nothing beats epsilon 0 here.
    accuracy, epsilon = tie_calibration([1.0, 2.0, 0.0], [1.0, 0.0, 2.0], ["tie", "a", "b"])
    assert (accuracy, epsilon) == (1.0, 0.0)


def _brute_force_tie_calibration(a, b, labels):
    candidates = np.unique(np.concatenate(([0.0], np.abs(a - b))))
    accuracies = [pairwise_accuracy(a, b, labels, eps) for eps in candidates]
    best = int(np.argmax(accuracies))
    return accuracies[best], candidates[best]


@pytest.mark.parametrize("seed", range(5))
def test_tie_calibration_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 120
    # Quantised scores give repeated |delta| values and exact-zero deltas.
    a, b = rng.integers(0, 8, size=n) / 4, rng.integers(0, 8, size=n) / 4
    labels = rng.choice(["a", "b", "tie"], size=n, p=[0.35, 0.35, 0.3])
    accuracy, epsilon = tie_calibration(a, b, labels)
    assert (accuracy, epsilon) == pytest.approx(_brute_force_tie_calibration(a, b, labels))
    assert pairwise_accuracy(a, b, labels, epsilon) == pytest.approx(accuracy)


# --------------------------------------------------------------------------
# four-way and group accuracy, 2AFC
# --------------------------------------------------------------------------


def test_four_way_accuracy_hand_case():
    score_a = [0.9, 0.2, 0.8, 0.1, 0.7, 0.5]
    score_b = [0.1, 0.9, 0.8, 0.1, 0.1, 0.5]
    labels = ["a", "b", "tie", "both_bad", "tie", "tie"]
    # Predicted: a, b, tie (mean .8), both_bad (mean .1), a, tie (mean .5 >= tau): 5 of 6 right.
    assert four_way_accuracy(score_a, score_b, labels, epsilon=0.0, tau=0.5) == pytest.approx(5 / 6)
    # tau above every mean turns every tie into "both_bad": 3 of 6 right.
    assert four_way_accuracy(score_a, score_b, labels, 0.0, float("inf")) == pytest.approx(3 / 6)


def test_four_way_accuracy_rejects_bad_input():
    with pytest.raises(ValueError, match="labels has unknown values \\['both_good'\\]"):
        four_way_accuracy([1.0], [0.0], ["both_good"], epsilon=0.0, tau=0.5)
    with pytest.raises(ValueError, match="tau must not be NaN"):
        four_way_accuracy([1.0], [0.0], ["a"], epsilon=0.0, tau=float("nan"))
    with pytest.raises(ValueError, match="score_b has 2 items"):
        four_way_accuracy([1.0], [0.0, 1.0], ["a"], epsilon=0.0, tau=0.5)


def test_fit_four_way_thresholds_crafted_case():
    # Deltas 3, -0.25, 0.25, -2: tying the two |0.25| pairs and splitting their
    # means (3.125 good, 0.375 bad) gets all four right.
    score_a, score_b = [4.0, 3.0, 0.5, 1.0], [1.0, 3.25, 0.25, 3.0]
    labels = ["a", "tie", "both_bad", "b"]
    epsilon, tau = fit_four_way_thresholds(score_a, score_b, labels)
    assert (epsilon, tau) == (0.25, 3.125)
    assert four_way_accuracy(score_a, score_b, labels, epsilon, tau) == 1.0
    assert stats.four_way_tied_count(score_a, score_b, epsilon) == 2


def test_fit_four_way_thresholds_without_any_tie_returns_inf_and_counts_no_tie():
    # Every pair decided and right at epsilon 0: nothing is tied, tau never acts.
    score_a, score_b, labels = [2.0, 0.0, 3.0], [1.0, 1.0, 0.5], ["a", "b", "a"]
    epsilon, tau = fit_four_way_thresholds(score_a, score_b, labels)
    assert (epsilon, tau) == (0.0, float("inf"))
    assert stats.four_way_tied_count(score_a, score_b, epsilon) == 0


@pytest.mark.parametrize("seed", range(4))
def test_fit_four_way_thresholds_matches_grid_search(seed):
    rng = np.random.default_rng(seed)
    n = 60
    a, b = rng.integers(0, 6, size=n) / 4, rng.integers(0, 6, size=n) / 4
    labels = rng.choice(["a", "b", "tie", "both_bad"], size=n)
    eps_grid = np.unique(np.concatenate(([0.0], np.abs(a - b))))
    tau_grid = np.concatenate((np.unique((a + b) / 2), [np.inf]))
    best = max(
        four_way_accuracy(a, b, labels, e, t) for e, t in itertools.product(eps_grid, tau_grid)
    )
    epsilon, tau = fit_four_way_thresholds(a, b, labels)
    assert four_way_accuracy(a, b, labels, epsilon, tau) == pytest.approx(best)


def test_group_accuracy_requires_every_pair_in_group_correct():
    score_a = [0.9, 0.8, 0.7, 0.2, 0.5, 0.5]
    score_b = [0.1, 0.2, 0.3, 0.9, 0.5, 0.4]
    labels = ["a", "a", "a", "a", "tie", "tie"]
    groups = [1, 1, 2, 2, 3, 3]
    # Group 1 all right; group 2 has a wrong pair; group 3's second pair is
    # only right once epsilon >= 0.1 makes it a tie.
    assert group_accuracy(score_a, score_b, labels, groups) == pytest.approx(1 / 3)
    assert group_accuracy(score_a, score_b, labels, groups, epsilon=0.15) == pytest.approx(2 / 3)


def test_group_accuracy_rejects_mismatched_groups():
    with pytest.raises(ValueError, match="groups has 1 items"):
        group_accuracy([1.0, 2.0], [0.0, 0.0], ["a", "a"], groups=["g"])


def test_two_afc_score_hand_case_best_score_and_human_score():
    # Credits: p_a (prefers a), 1 - p_a (prefers b), 0.5 (equal).
    assert two_afc_score([0.9, 0.1, 0.5], [0.2, 0.3, 0.5], [0.8, 0.4, 0.9]) == pytest.approx(
        (0.8 + 0.6 + 0.5) / 3
    )
    p_a = np.array([0.9, 0.3, 0.6, 0.1])
    majority = np.where(p_a > 0.5, 1.0, 0.0)  # scores that always side with the majority
    best = two_afc_score(majority, 1 - majority, p_a)
    assert best == pytest.approx(np.mean(np.maximum(p_a, 1 - p_a))) == pytest.approx(stats.two_afc_best_score(p_a))
    human = stats.two_afc_human_score(p_a)
    assert human == pytest.approx(np.mean(p_a**2 + (1 - p_a) ** 2))
    assert human < best  # siding with the majority beats being one more judge


def test_two_afc_score_rejects_probabilities_outside_unit_interval():
    with pytest.raises(ValueError, match="p_a must lie in"):
        two_afc_score([1.0], [0.0], [1.5])
    with pytest.raises(ValueError, match="p_a must lie in"):
        stats.two_afc_human_score([-0.1])


# --------------------------------------------------------------------------
# correlations
# --------------------------------------------------------------------------


def test_sample_correlations_match_scipy():
    rng = np.random.default_rng(1)
    human = rng.normal(size=300)
    metric = human + rng.normal(size=300)
    result = correlations(metric, human)
    assert result["pearson"] == pytest.approx(sps.pearsonr(metric, human).statistic)
    assert result["spearman"] == pytest.approx(sps.spearmanr(metric, human).statistic)
    assert result["kendall"] == pytest.approx(sps.kendalltau(metric, human, variant="b").statistic)
    assert result["n_items"] == 300


def test_kendall_is_tau_b_with_ties():
    metric, human = [1, 1, 2, 3, 3, 4], [1, 2, 2, 3, 4, 4]
    # tau-b by hand: n0 = 15 pairs, 2 tied in metric, 2 in human, none in both;
    # 11 concordant, 0 discordant -> 11 / sqrt(13 * 13).
    assert correlations(metric, human)["kendall"] == pytest.approx(11 / 13)


def test_group_correlations_plain_mean_sizes_and_skips():
    rows = [  # (group, metric, human)
        ("g1", 1, 1), ("g1", 2, 2), ("g1", 3, 4), ("g1", 4, 3),
        ("g2", 1, 2), ("g2", 3, 1), ("g2", 2, 3), ("g2", 5, 4), ("g2", 4, 5),
        ("g3", 1, 5), ("g3", 2, 7), ("g3", 3, 6),
        ("small", 2, 1), ("small", 9, 2),  # 2 items: skipped
        ("const", 3, 1), ("const", 3, 2), ("const", 3, 3),  # constant metric: skipped
    ]
    groups = np.array([r[0] for r in rows])
    metric = np.array([r[1] for r in rows], dtype=float)
    human = np.array([r[2] for r in rows], dtype=float)
    result = correlations(metric, human, level="group", groups=groups)
    assert (result["n_groups"], result["n_groups_skipped"], result["n_items"]) == (3, 2, 17)
    assert result["group_sizes"] == {3: 1, 4: 1, 5: 1}
    references = [("pearson", sps.pearsonr), ("spearman", sps.spearmanr), ("kendall", sps.kendalltau)]
    for method, fn in references:
        rs = [fn(metric[groups == g], human[groups == g]).statistic for g in ("g1", "g2", "g3")]
        assert result[method] == pytest.approx(np.mean(rs)), method
    # Pearson's Fisher-z mean: only g1 (4 items, weight 1) and g2 (5 items, weight 2).
    r1, r2 = (sps.pearsonr(metric[groups == g], human[groups == g]).statistic for g in ("g1", "g2"))
    assert result["n_groups_fisher_z"] == 2
    assert result["pearson_fisher_z"] == pytest.approx(np.tanh((np.arctanh(r1) + 2 * np.arctanh(r2)) / 3))
    assert "spearman_fisher_z" not in result and "kendall_fisher_z" not in result


def test_group_fisher_z_bias_in_groups_of_three_and_the_plain_mean():
    """Issue 11: with a true within-group r of 0.5 and groups of 3, the Fisher-z mean read ~1.

    A rank correlation of 3 items is +-1 about 40% of the time here; clipped at
    1 - 1e-7 each becomes z = +-8.4 and the Fisher-z mean of Spearman's rho reads
    0.98-1.0 (0.996 in the issue), whatever the true correlation. The plain mean
    reads the expected value of the per-group coefficient instead: for Kendall's tau
    exactly (2/pi) arcsin(0.5) = 1/3 at any group size; for Spearman's rho with n = 3,
    6/(pi (n+1)) (arcsin(r) + (n-2) arcsin(r/2)) = 0.371; for Pearson's r a value
    below 0.5 (r from 3 items is biased towards 0), far from 0.996.
    """
    rng = np.random.default_rng(11)
    n_groups, size, rho = 3000, 3, 0.5
    human = rng.normal(size=(n_groups, size))
    metric = rho * human + np.sqrt(1 - rho**2) * rng.normal(size=(n_groups, size))
    groups = np.repeat(np.arange(n_groups), size)
    per_group = stats.group_coefficients(metric.ravel(), human.ravel(), groups)

    old_fisher = fisher_z_mean(per_group["spearman"])  # the former default
    assert old_fisher > 0.98
    assert np.mean(np.abs(per_group["spearman"]) == 1.0) > 0.3

    result = correlations(metric.ravel(), human.ravel(), level="group", groups=groups)
    assert result["group_sizes"] == {3: n_groups}
    expected_kendall = 2 / np.pi * np.arcsin(rho)
    expected_spearman = 6 / (np.pi * (size + 1)) * (np.arcsin(rho) + (size - 2) * np.arcsin(rho / 2))
    assert result["kendall"] == pytest.approx(expected_kendall, abs=0.03)
    assert result["spearman"] == pytest.approx(expected_spearman, abs=0.03)
    assert 0.35 < result["pearson"] < 0.5
    # No group has the 4 items Fisher's z needs, so there is no Fisher-z number at all.
    assert np.isnan(result["pearson_fisher_z"]) and result["n_groups_fisher_z"] == 0


def test_group_fisher_z_pearson_is_close_to_the_truth_in_larger_groups():
    rng = np.random.default_rng(12)
    n_groups, size, rho = 2000, 8, 0.5
    human = rng.normal(size=(n_groups, size))
    metric = rho * human + np.sqrt(1 - rho**2) * rng.normal(size=(n_groups, size))
    result = correlations(metric.ravel(), human.ravel(), level="group", groups=np.repeat(np.arange(n_groups), size))
    assert result["pearson_fisher_z"] == pytest.approx(rho, abs=0.03)
    assert result["n_groups_fisher_z"] == n_groups


def test_fisher_z_mean_weights():
    assert fisher_z_mean([0.5, 0.9], weights=[2, 1]) == pytest.approx(np.tanh((2 * np.arctanh(0.5) + np.arctanh(0.9)) / 3))
    with pytest.raises(ValueError, match="weights must be >= 0 with a positive sum"):
        fisher_z_mean([0.5, 0.9], weights=[0, 0])
    with pytest.raises(ValueError, match="weights has 1 items"):
        fisher_z_mean([0.5, 0.9], weights=[1])


def test_group_correlations_all_groups_skipped_gives_nan():
    result = correlations([1, 2, 3, 4], [4, 3, 2, 1], level="group", groups=[0, 0, 1, 1])
    assert np.isnan(result["pearson"])
    assert (result["n_groups"], result["n_groups_skipped"]) == (0, 2)


def test_system_correlations_correlate_per_system_means():
    rng = np.random.default_rng(2)
    systems = np.repeat(np.arange(6), 10)
    metric, human = rng.normal(size=60), rng.normal(size=60)
    metric_means = np.array([metric[systems == s].mean() for s in range(6)])
    human_means = np.array([human[systems == s].mean() for s in range(6)])
    result = correlations(metric, human, level="system", systems=systems)
    assert result["pearson"] == pytest.approx(sps.pearsonr(metric_means, human_means).statistic)
    assert result["spearman"] == pytest.approx(sps.spearmanr(metric_means, human_means).statistic)
    assert result["n_systems"] == 6


def test_correlations_constant_input_is_nan():
    assert np.isnan(correlations([1, 1, 1], [1, 2, 3])["spearman"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level": "group"}, "groups must be given exactly when level='group'"),
        ({"groups": [0, 0, 1]}, "groups must be given exactly when level='group'"),
        ({"level": "system"}, "systems must be given exactly"),
        ({"level": "corpus"}, "level must be"),
        ({"human": [1.0, 2.0]}, "human has 2 items"),
        ({"level": "group", "groups": [0, 1]}, "groups has 2 items"),
    ],
)
def test_correlations_rejects_bad_input(kwargs, message):
    args = {"metric": [1.0, 2.0, 3.0], "human": [1.0, 3.0, 2.0], **kwargs}
    with pytest.raises(ValueError, match=message):
        correlations(**args)


def test_fisher_z_mean_hand_computation_and_clipping():
    assert fisher_z_mean([0.5, 0.9]) == pytest.approx(np.tanh((np.arctanh(0.5) + np.arctanh(0.9)) / 2))
    clipped = np.tanh((np.arctanh(1 - 1e-7) + np.arctanh(0.2)) / 2)
    assert fisher_z_mean([1.0, 0.2]) == pytest.approx(clipped)
    with pytest.raises(ValueError, match="coefficients must lie in"):
        fisher_z_mean([1.5])


def test_inter_rater_ceiling_leave_one_out():
    ratings = np.array([[1, 2, 3, 4, 5], [2, 1, 3, 5, 4], [3, 1, 2, 4, 5]], dtype=float)
    per_rater = [
        sps.pearsonr(ratings[r], np.delete(ratings, r, axis=0).mean(axis=0)).statistic
        for r in range(3)
    ]
    expected = np.tanh(np.mean(np.arctanh(per_rater)))  # Pearson over 5 items: Fisher z
    assert inter_rater_ceiling(ratings, method="pearson") == pytest.approx(expected)
    per_rater_tau = [
        sps.kendalltau(ratings[r], np.delete(ratings, r, axis=0).mean(axis=0)).statistic for r in range(3)
    ]
    # Kendall's tau is never Fisher-transformed: a plain mean.
    assert inter_rater_ceiling(ratings, method="kendall") == pytest.approx(np.mean(per_rater_tau))


def test_inter_rater_ceiling_skips_constant_rater_and_validates():
    ratings = [[1, 2, 3, 4], [2, 1, 4, 3], [3, 3, 3, 3]]
    r0 = sps.spearmanr([1, 2, 3, 4], [2.5, 2, 3.5, 3]).statistic
    r1 = sps.spearmanr([2, 1, 4, 3], [2, 2.5, 3, 3.5]).statistic
    assert inter_rater_ceiling(ratings) == pytest.approx((r0 + r1) / 2)  # Spearman: plain mean
    with pytest.raises(ValueError, match="ratings_by_rater needs at least 2 rows"):
        inter_rater_ceiling([[1, 2, 3]])
    with pytest.raises(ValueError, match="method must be one of"):
        inter_rater_ceiling(ratings, method="cosine")


# --------------------------------------------------------------------------
# bootstrap
# --------------------------------------------------------------------------


def _mean_last_axis(x):
    return x.mean(axis=-1)


def test_bootstrap_ci_coverage_of_a_mean():
    rng = np.random.default_rng(123)
    hits = 0
    for rep in range(200):
        sample = rng.normal(loc=2.0, scale=3.0, size=50)
        _, low, high = bootstrap_ci(_mean_last_axis, sample, seed=rep, vectorized=True)
        hits += low <= 2.0 <= high
    assert 0.88 <= hits / 200 <= 0.99


def test_bootstrap_ci_loop_and_vectorized_agree():
    x = np.random.default_rng(3).normal(size=40)
    looped = bootstrap_ci(np.mean, x, n_resamples=300, seed=7)
    vectorized = bootstrap_ci(_mean_last_axis, x, n_resamples=300, seed=7, vectorized=True)
    assert looped == pytest.approx(vectorized)
    assert looped[0] == pytest.approx(x.mean())
    assert looped == bootstrap_ci(np.mean, x, n_resamples=300, seed=7)  # seeded


def test_bootstrap_ci_resamples_arrays_jointly():
    a = np.arange(30.0)
    # If a and b were resampled with different indices, a - b would vary.
    est, low, high = bootstrap_ci(lambda x, y: float(np.mean(x - y)), a, a + 1.0, n_resamples=50)
    assert est == low == high == -1.0


def test_group_bootstrap_keeps_groups_whole_and_widens_clustered_ci():
    rng = np.random.default_rng(4)
    groups = np.repeat(np.arange(20), 5)
    values = np.repeat(rng.normal(size=20), 5) + 0.1 * rng.normal(size=100)

    def groups_whole(g):
        counts = np.bincount(g, minlength=20)
        return float(np.all(counts % 5 == 0))

    assert bootstrap_ci(groups_whole, groups, groups=groups, n_resamples=50) == (1.0, 1.0, 1.0)
    _, item_low, item_high = bootstrap_ci(np.mean, values)
    _, group_low, group_high = bootstrap_ci(np.mean, values, groups=groups)
    # Items within a group are near copies, so the honest interval is ~sqrt(5) wider.
    assert group_high - group_low > 1.5 * (item_high - item_low)


def test_bootstrap_drops_non_finite_resamples_with_warning():
    def fragile(v):  # undefined on a constant resample, like a correlation
        return float("nan") if np.all(v == v[0]) else float(np.mean(v))

    with pytest.warns(RuntimeWarning, match="non-finite"):
        est, low, high = bootstrap_ci(fragile, np.array([1.0, 1.0, 1.0, 2.0]), n_resamples=200)
    assert 1.0 < low <= est <= high <= 2.0


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((np.mean, [1.0, 2.0], [1.0]), {}, "arrays\\[1\\] has 1 items"),
        ((np.mean, [1.0, 2.0]), {"confidence": 1.0}, "confidence must be in"),
        ((np.mean, [1.0, 2.0]), {"n_resamples": 0}, "n_resamples must be a positive integer"),
        ((np.mean, [1.0, 2.0]), {"groups": [0, 1], "vectorized": True}, "vectorized=True cannot"),
        ((np.mean, [1.0, 2.0]), {"vectorized": True}, "must return shape"),
        ((np.mean, [1.0]), {}, "at least 2 items"),
        ((np.mean,), {}, "non-empty tuple or list"),
    ],
)
def test_bootstrap_ci_rejects_bad_input(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_ci(*args, **kwargs)


def test_paired_bootstrap_detects_consistent_improvement():
    rng = np.random.default_rng(5)
    difficulty = rng.normal(scale=5.0, size=200)
    baseline = difficulty
    metric = difficulty + 0.1  # tiny gain, huge shared item noise
    result = paired_bootstrap_test(_mean_last_axis, (metric,), (baseline,), vectorized=True)
    # Same indices for both -> the difference is exactly 0.1 in every resample.
    assert result["delta"] == pytest.approx(0.1)
    assert result["low"] == pytest.approx(0.1)
    assert result["high"] == pytest.approx(0.1)
    assert result["p_value"] == 0.0


def test_paired_bootstrap_with_pairwise_accuracy():
    rng = np.random.default_rng(6)
    n = 400
    quality_a, quality_b = rng.normal(size=n), rng.normal(size=n)
    labels = np.where(quality_a > quality_b, "a", "b")
    good = (quality_a + 0.3 * rng.normal(size=n), quality_b + 0.3 * rng.normal(size=n), labels)
    bad = (quality_a + 3.0 * rng.normal(size=n), quality_b + 3.0 * rng.normal(size=n), labels)
    better = paired_bootstrap_test(pairwise_accuracy, good, bad, n_resamples=300)
    assert better["delta"] == pytest.approx(pairwise_accuracy(*good) - pairwise_accuracy(*bad))
    assert better["low"] > 0 and better["p_value"] < 0.01
    worse = paired_bootstrap_test(pairwise_accuracy, bad, good, n_resamples=300)
    assert worse["p_value"] > 0.99


def test_paired_bootstrap_identical_systems_never_win():
    x = np.random.default_rng(7).normal(size=50)
    result = paired_bootstrap_test(np.mean, [x], [x], n_resamples=100)
    assert result == {"delta": 0.0, "low": 0.0, "high": 0.0, "p_value": 1.0}


def test_paired_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError, match="metric_arrays must be a non-empty tuple or list"):
        paired_bootstrap_test(np.mean, np.ones(5), (np.ones(5),))
    with pytest.raises(ValueError, match="baseline_arrays has 4 items but metric_arrays has 5"):
        paired_bootstrap_test(np.mean, (np.ones(5),), (np.ones(4),))


# --------------------------------------------------------------------------
# Frechet distance and MMD
# --------------------------------------------------------------------------


def _with_exact_moments(rng, n, mean, cov):
    """Samples whose sample mean and (ddof=1) covariance equal mean and cov exactly."""
    z = rng.normal(size=(n, len(mean)))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T  # whiten
    return z @ np.linalg.cholesky(cov).T + mean


def _psd_sqrt(m):
    w, v = np.linalg.eigh(m)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def test_frechet_distance_closed_form_diagonal():
    rng = np.random.default_rng(8)
    mu_x, mu_y = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    var_x, var_y = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    x = _with_exact_moments(rng, 200, mu_x, np.diag(var_x))
    y = _with_exact_moments(rng, 300, mu_y, np.diag(var_y))
    # ||mu_x - mu_y||^2 = 5; sum (sqrt(var_x) - sqrt(var_y))^2 = 1 + 1 + 4 = 6.
    assert frechet_distance(x, y) == pytest.approx(11.0)


def test_frechet_distance_closed_form_full_covariance():
    rng = np.random.default_rng(9)
    d = 4
    a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    cov_x, cov_y = a @ a.T + np.eye(d), b @ b.T + 0.5 * np.eye(d)
    mu_x, mu_y = rng.normal(size=d), rng.normal(size=d)
    root_x = _psd_sqrt(cov_x)
    expected = (
        np.sum((mu_x - mu_y) ** 2)
        + np.trace(cov_x + cov_y)
        - 2 * np.trace(_psd_sqrt(root_x @ cov_y @ root_x))  # tr sqrt(Sx Sy), symmetric form
    )
    x = _with_exact_moments(rng, 100, mu_x, cov_x)
    y = _with_exact_moments(rng, 100, mu_y, cov_y)
    assert frechet_distance(x, y) == pytest.approx(expected)


def test_frechet_distance_population_limit_and_identity():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(20000, 2))
    y = rng.normal(loc=[1.0, 0.0], scale=[1.0, 2.0], size=(20000, 2))
    assert frechet_distance(x, y) == pytest.approx(2.0, abs=0.1)  # 1 + (2 - 1)^2
    assert frechet_distance(x[:500], x[:500]) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_singular_covariance_and_one_dimension():
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(5, 12)), rng.normal(size=(6, 12)) + 0.5  # n < d: singular
    root_x = _psd_sqrt(np.cov(x, rowvar=False))
    expected = (
        np.sum((x.mean(0) - y.mean(0)) ** 2)
        + np.trace(np.cov(x, rowvar=False) + np.cov(y, rowvar=False))
        - 2 * np.trace(_psd_sqrt(root_x @ np.cov(y, rowvar=False) @ root_x))
    )
    assert frechet_distance(x, y) == pytest.approx(expected, rel=1e-4)
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-4)
    # d = 1: (m_x - m_y)^2 + (s_x - s_y)^2 with sample std devs.
    u, v = np.array([[0.0], [2.0]]), np.array([[1.0], [5.0], [3.0]])
    expected_1d = (1.0 - 3.0) ** 2 + (np.std(u, ddof=1) - np.std(v, ddof=1)) ** 2
    assert frechet_distance(u, v) == pytest.approx(expected_1d)


def test_frechet_distance_rejects_bad_input():
    with pytest.raises(ValueError, match="y has dimension 3 but x has 2"):
        frechet_distance(np.ones((4, 2)), np.ones((4, 3)))
    with pytest.raises(ValueError, match="x needs at least 2 rows"):
        frechet_distance(np.ones((1, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="x must be 2-D"):
        frechet_distance(np.ones(4), np.ones((4, 1)))


def _mmd2_double_loop(x, y, sigma):
    def k(p, q):
        return np.exp(-np.sum((p - q) ** 2) / (2 * sigma**2))

    m, n = len(x), len(y)
    k_xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    k_yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    k_xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return k_xx + k_yy - 2 * k_xy


def test_mmd2_unbiased_matches_double_loop(monkeypatch):
    rng = np.random.default_rng(12)
    x, y = rng.normal(size=(7, 3)), rng.normal(loc=0.5, size=(9, 3))
    expected = _mmd2_double_loop(x, y, sigma=1.3)
    assert mmd2_unbiased(x, y, 1.3) == pytest.approx(expected)
    assert mmd2_unbiased(y, x, 1.3) == pytest.approx(expected)
    # Force the row-blocked kernel path (blocks of 2 rows) and get the same answer.
    monkeypatch.setattr(stats.distances, "_MAX_BATCH_ELEMENTS", 20)
    assert mmd2_unbiased(x, y, 1.3) == pytest.approx(expected)


def _mmd2_biased(x, y, sigma):
    def kernel_mean(p, q):
        sq = np.sum((p[:, None, :] - q[None, :, :]) ** 2, axis=-1)
        return np.exp(-sq / (2 * sigma**2)).mean()

    return kernel_mean(x, x) + kernel_mean(y, y) - 2 * kernel_mean(x, y)


def test_mmd2_unbiased_is_centred_for_same_distribution_and_positive_otherwise():
    rng = np.random.default_rng(13)
    same, biased, shifted = [], [], []
    for _ in range(200):
        x, y, z = rng.normal(size=(20, 2)), rng.normal(size=(20, 2)), rng.normal(size=(20, 2))
        same.append(mmd2_unbiased(x, y, 1.0))
        biased.append(_mmd2_biased(x, y, 1.0))
        shifted.append(mmd2_unbiased(x, z + 1.5, 1.0))
    standard_error = np.std(same) / np.sqrt(len(same))
    assert abs(np.mean(same)) < 4 * standard_error
    assert min(same) < 0 < max(same)  # an unbiased estimate of 0 must go negative
    assert np.mean(biased) > 10 * standard_error  # the V-statistic is biased upwards
    assert np.mean(shifted) > 20 * standard_error


def test_mmd2_unbiased_rejects_bad_sigma():
    with pytest.raises(ValueError, match="sigma must be a finite number > 0"):
        mmd2_unbiased(np.ones((3, 2)), np.zeros((3, 2)), sigma=0.0)


def test_median_heuristic_sigma():
    x, y = np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([[0.0, 4.0]])
    # Pairwise distances 5, 4, 3 -> median 4.
    assert median_heuristic_sigma(x, y) == 4.0
    rng = np.random.default_rng(14)
    big_x, big_y = rng.normal(size=(1500, 3)), rng.normal(size=(1500, 3))
    full = median_heuristic_sigma(big_x, big_y, max_points=3000)
    sub = median_heuristic_sigma(big_x, big_y, max_points=500, seed=1)
    assert sub == median_heuristic_sigma(big_x, big_y, max_points=500, seed=1)
    assert sub == pytest.approx(full, rel=0.05)
    with pytest.raises(ValueError, match="median pairwise distance is 0"):
        median_heuristic_sigma(np.ones((3, 2)), np.ones((2, 2)))


def test_median_heuristic_sigma_of_the_reference_alone_is_one_sigma_for_every_comparison():
    rng = np.random.default_rng(15)
    reference = rng.normal(size=(200, 3))
    near, far = rng.normal(size=(200, 3)) + 0.5, rng.normal(size=(200, 3)) + 4.0
    from scipy.spatial.distance import pdist

    sigma = median_heuristic_sigma(reference)
    assert sigma == pytest.approx(np.median(pdist(reference)))
    # Pooled per pair, the far set would get a far wider kernel than the near one.
    assert median_heuristic_sigma(reference, far) > 1.5 * median_heuristic_sigma(reference, near)
    with pytest.raises(ValueError, match="x needs at least 2 rows"):
        median_heuristic_sigma(reference[:1])


def test_mmd2_unbiased_ci_contains_the_estimate_and_is_centred_on_it():
    rng = np.random.default_rng(16)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(50, 3)) + 1.0
    estimate, low, high = stats.mmd2_unbiased_ci(x, y, sigma=1.5, n_resamples=300)
    assert estimate == pytest.approx(mmd2_unbiased(x, y, 1.5))
    assert low < estimate < high and low > 0
    # Drawing a point twice must not pair it with its own copy (kernel 1): the
    # resampled statistic stays centred on the estimate rather than above it.
    assert (low + high) / 2 == pytest.approx(estimate, abs=0.25 * (high - low))


def test_mmd2_unbiased_ci_resample_is_the_u_statistic_of_distinct_points(monkeypatch):
    """One resample by hand: counts c, pairs of different points weighted c_i c_j."""
    rng = np.random.default_rng(17)
    x, y = rng.normal(size=(5, 2)), rng.normal(size=(4, 2))
    counts_x, counts_y = np.array([2, 0, 1, 2, 0]), np.array([1, 1, 0, 2])

    class FixedDraws:  # every resample draws these counts
        def multinomial(self, n, p, size):
            return np.array([counts_x if n == 5 else counts_y] * size)

    monkeypatch.setattr(stats.distances.np.random, "default_rng", lambda seed: FixedDraws())
    _, low, high = stats.mmd2_unbiased_ci(x, y, sigma=1.0, n_resamples=3)

    def k(a, b):
        return np.exp(-np.sum((a - b) ** 2) / 2.0)

    def within(points, c):
        total = sum(c[i] * c[j] * k(points[i], points[j]) for i in range(len(c)) for j in range(len(c)) if i != j)
        return total / (c.sum() ** 2 - np.sum(c**2))

    cross = sum(counts_x[i] * counts_y[j] * k(x[i], y[j]) for i in range(5) for j in range(4)) / (5 * 4)
    expected = within(x, counts_x) + within(y, counts_y) - 2 * cross
    assert low == pytest.approx(expected) and high == pytest.approx(expected)


def test_mmd2_unbiased_of_a_set_against_itself_is_negative_and_its_interval_holds_zero():
    x = np.random.default_rng(18).normal(size=(60, 4))
    estimate, low, high = stats.mmd2_unbiased_ci(x, x, sigma=2.0, n_resamples=200)
    assert estimate < 0 and low < 0 < high


def test_mmd2_unbiased_ci_rejects_bad_options():
    x = np.zeros((3, 2)) + np.arange(3)[:, None]
    with pytest.raises(ValueError, match="n_resamples must be a positive integer"):
        stats.mmd2_unbiased_ci(x, x, 1.0, n_resamples=0)
    with pytest.raises(ValueError, match="confidence must be in"):
        stats.mmd2_unbiased_ci(x, x, 1.0, confidence=1.0)
    with pytest.raises(ValueError, match="sigma must be a finite number > 0"):
        stats.mmd2_unbiased_ci(x, x, float("nan"))
