"""The shipped demo scorer, measured on what the grounding work asked of it.

Grammar edits on the held-out photos (never used to train the base or the scorer), every
split: do the sub-scores order as their names say, is the map signed, does the score read
the instruction? The thresholds are the measured values of the shipped scorer with a
margin for the sample size here (``docs/ablations.md`` has the full measurement and the
issue's goals beside them); a retrained scorer that falls below them is a regression.
"""

from __future__ import annotations

import pytest

import i2imetric

GROUPS_PER_SPLIT = 16


@pytest.fixture(scope="module")
def measured():
    from i2imetric_training.data import grammar_validation_groups
    from i2imetric_training.evaluate_scorer import evaluate_scorer

    metric = i2imetric.load_metric("demo")
    return evaluate_scorer(metric, grammar_validation_groups(GROUPS_PER_SPLIT), batch_size=128)


def _pooled(measured, key):
    parts = [table["checks"][key] for table in measured.values()]
    n = sum(p["n"] for p in parts)
    return sum(p["share"] * p["n"] for p in parts if p["n"]) / n


def _ordering(measured, name):
    parts = [table["checks"]["subscores"][name] for table in measured.values()]
    n = sum(p["n"] for p in parts)
    return sum(p["share"] * p["n"] for p in parts if p["n"]) / n


@pytest.mark.parametrize(
    "ordering, at_least",
    [
        ("preservation(unchanged) >= preservation(right edit)", 0.95),
        ("preservation(right edit) >= preservation(collateral)", 0.95),
        ("quality(unchanged) >= quality(degraded)", 0.95),
        ("instruction(right edit) > instruction(unchanged)", 0.90),
    ],
)
def test_subscores_order_as_their_names_say(measured, ordering, at_least):
    assert _ordering(measured, ordering) >= at_least


@pytest.mark.xfail(strict=True, reason="goal not met yet: the instruction sub-score barely tells the right "
                   "operation from a wrong one (73% on 256 held-out groups; docs/ablations.md)")
def test_instruction_subscore_prefers_the_right_operation(measured):
    assert _ordering(measured, "instruction(right edit) > instruction(wrong operation)") >= 0.90


def test_map_is_positive_where_a_local_edit_helped_and_points_at_it(measured):
    # Goals 0.90 both; measured 0.995 and 0.87 on 256 groups (the scorer before this one: 0.88 and 0.77,
    # trained without the pointing loss or map targets for the instruction-contrast answers).
    assert _pooled(measured, "map_pointing") >= 0.95
    assert _pooled(measured, "map_helped_positive") >= 0.80


def test_grammar_is_learned_beyond_its_training_phrasings_and_pairs(measured):
    for split in ("grammar_train", "grammar_heldout_phrasing", "grammar_heldout_combo", "grammar_heldout_operation"):
        assert measured[split]["accuracy"] >= 0.60, split  # the untrained prior: 46-60%; measured 76-78% on 256


def test_score_prefers_the_right_output_under_its_own_words(measured):
    # 75% on 256 held-out groups (the scorer before: 74%; before instruction-contrast negatives: 53.5%).
    assert _pooled(measured, "instruction_swap") >= 0.65


@pytest.mark.xfail(strict=True, reason="goal not met yet: the right answer beats itself under another edit's "
                   "instruction in 72% of the 64 groups here (75.0% of 256 held-out groups, on the goal's edge); "
                   "the score still judges the edit about as much as the words")
def test_score_reads_the_instruction(measured):
    assert _pooled(measured, "instruction_swap") >= 0.75


def test_preservation_and_quality_are_two_signals(measured):
    # The scorer before the distractor orderings had them at rho 1.00 ("how little changed", twice);
    # this one 0.70 on 256 held-out groups (the one before it 0.64).
    for split, table in measured.items():
        assert table["checks"]["preservation_quality_spearman"]["rho"] <= 0.85, split


def test_map_finds_collateral_damage(measured):
    # Goal 0.80; measured 0.915 on 256 groups (the scorer before this one, without the pointing loss: 0.59).
    assert _pooled(measured, "map_damage_pointing") >= 0.80
