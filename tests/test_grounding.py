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
                   "operation from a wrong one (58% on 256 held-out groups; docs/ablations.md)")
def test_instruction_subscore_prefers_the_right_operation(measured):
    assert _ordering(measured, "instruction(right edit) > instruction(wrong operation)") >= 0.90


def test_map_is_positive_where_a_local_edit_helped_and_points_at_it(measured):
    assert _pooled(measured, "map_pointing") >= 0.85
    assert _pooled(measured, "map_helped_positive") >= 0.45  # goal 0.90; measured 0.61 on 256 groups


def test_grammar_is_learned_beyond_its_training_phrasings_and_pairs(measured):
    for split in ("grammar_train", "grammar_heldout_phrasing", "grammar_heldout_combo", "grammar_heldout_operation"):
        assert measured[split]["accuracy"] >= 0.55, split  # the untrained prior: 46-60%


@pytest.mark.xfail(strict=True, reason="goal not met yet: the right answer scores about as well under another "
                   "edit's instruction (53.5% on 256 held-out groups); the score judges the edit more than the words")
def test_score_reads_the_instruction(measured):
    assert _pooled(measured, "instruction_swap") >= 0.75
