"""Judge verdicts as results: GenAI-Bench's judge files and its leaderboard rule, checked by hand."""

import doctest
import json
import os

import pytest

import i2imetric.meta_eval.judges
from i2imetric.cli.main import main
from i2imetric.errors import I2IInputError
from i2imetric.meta_eval import evaluate_judges, read_genai_bench_judge
from i2imetric.meta_eval.judges import genai_bench_correct, genai_bench_leaderboard_value

JUDGES = os.path.join(os.path.dirname(__file__), "data", "fixtures", "genai_bench_judges", "results", "image_edition")
JUDGE_A = os.path.join(JUDGES, "judge-a", "pairwise.jsonl")  # JSON Lines, with prompts
JUDGE_B = os.path.join(JUDGES, "judge-b", "pairwise.json")  # one JSON array, no prompts (like `random`)

# The fixture by hand: idx, human vote, judge-a's verdict, judge-b's verdict.
VOTES = [
    (0, "leftvote", "[[A>B]]", "[[B>A]]"),
    (1, "rightvote", "[[B>>A]]", "[[B>A]]"),
    (2, "tievote", "[[A=B]]", "[[A=B=Bad]]"),
    (3, "bothbad_vote", "[[A=B]]", "[[A=B=Bad]]"),
    (4, "bothbad_vote", "[[A=B=Good]]", "[[A>B]]"),
    (5, "leftvote", None, "[[A > B]]"),
    (6, "rightvote", "[[A>B]] 2. Model B is better: [[B>A]]", "[[B>A]]"),
    (7, "bothbad_vote", "[[A=B=Bad]]", None),
]
# GenAI-Bench's parse_response, applied by hand to each row above:
#   judge-a: A>B on leftvote right; B>>A on rightvote right; A=B right on a tievote and on a
#   bothbad_vote; A=B=Good on bothbad wrong; no verdict wrong; two verdicts on one line wrong;
#   A=B=Bad on bothbad right.
#   judge-b: wrong, right, A=B=Bad on a tievote wrong, right, wrong, spaces wrong, right, none wrong.
CORRECT_A = [1, 1, 1, 1, 0, 0, 0, 1]
CORRECT_B = [0, 1, 0, 1, 0, 0, 1, 0]


def test_docstring_examples_run():
    result = doctest.testmod(i2imetric.meta_eval.judges)
    assert result.attempted >= 2 and result.failed == 0


def test_the_rule_is_parse_response():
    assert genai_bench_correct("[[A>B]]", "leftvote") and genai_bench_correct("[[A>>B]]", "leftvote")
    assert genai_bench_correct("[[B>A]]", "rightvote") and genai_bench_correct("[[B>>A]]", "rightvote")
    # A plain [[A=B]] counts for both kinds of tie; the explicit verdicts for their own kind only.
    assert genai_bench_correct("[[A=B]]", "tievote") and genai_bench_correct("[[A=B]]", "bothbad_vote")
    assert genai_bench_correct("[[A=B=Good]]", "tievote") and not genai_bench_correct("[[A=B=Good]]", "bothbad_vote")
    assert genai_bench_correct("[[A=B=Bad]]", "bothbad_vote") and not genai_bench_correct("[[A=B=Bad]]", "tievote")
    assert not genai_bench_correct(None, "leftvote") and not genai_bench_correct("[[A > B]]", "leftvote")
    with pytest.raises(I2IInputError, match="human_vote 'left' is not one of"):
        genai_bench_correct("[[A>B]]", "left")


def test_both_file_forms_are_read_row_by_row():
    a, b = read_genai_bench_judge(JUDGE_A), read_genai_bench_judge(JUDGE_B)
    assert (a.name, b.name) == ("judge-a", "judge-b")  # the folder names, as results/image_edition/<judge>/
    assert [(v.idx, v.human_vote, v.model_vote) for v in a.votes] == [(i, h, va) for i, h, va, _ in VOTES]
    assert [(v.idx, v.human_vote, v.model_vote) for v in b.votes] == [(i, h, vb) for i, h, _, vb in VOTES]
    assert [v.correct for v in a.votes] == [bool(c) for c in CORRECT_A]


def test_the_leaderboard_number_is_genai_benchs_formula_by_hand():
    result = evaluate_judges([JUDGE_A, JUDGE_B], n_resamples=50, progress=False)
    agreement = result.rows[0]
    assert agreement.key == "genai_bench/agreement" and agreement.n == 8
    # show_results.py: round(100 * mean(correct), 2) over every row, missing verdicts included.
    assert agreement.values["judge-a"].value == sum(CORRECT_A) / 8 == 0.625
    assert agreement.values["judge-b"].value == sum(CORRECT_B) / 8 == 0.375
    assert genai_bench_leaderboard_value(sum(CORRECT_A) / 8) == 62.5
    assert "image editing (show_results.py: round(100 x mean(correct), 2)): judge-a 62.5, judge-b 37.5." in (
        "\n".join(result.notes)
    )
    # The published rows come out the same way: e.g. GPT-4o's 53.54 is 492 right of 919.
    assert genai_bench_leaderboard_value(492 / 919) == 53.54
    assert any("are not its rows" in note for note in result.notes)  # 8 votes, not the 919 of test_v1


def test_pairwise_rows_beside_scalar_metrics_by_hand():
    result = evaluate_judges([JUDGE_A, JUDGE_B], n_resamples=50, progress=False)
    rows = {row.key: row for row in result.rows}
    # Human A>B / B>A votes: idx 0, 1, 5, 6. judge-a: right, right, none, two verdicts -> 2/4;
    # judge-b: wrong, right, "[[A > B]]" is no verdict, right -> 2/4.
    no_ties = rows["pairwise/accuracy_without_ties"]
    assert no_ties.n == 4 and no_ties.values["judge-a"].value == 0.5 == no_ties.values["judge-b"].value
    # With ties (both tie votes and every A=B verdict are ties): judge-a right on 0-4 and 7 -> 6/8;
    # judge-b right on 1, 2, 3, 6 -> 4/8.
    with_ties = rows["pairwise/accuracy_with_ties"]
    assert with_ties.values["judge-a"].value == 6 / 8 and with_ties.values["judge-b"].value == 4 / 8
    assert set(rows["genai_bench/agreement"].versus_metric) == {"judge-b"}


def write_rows(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def row(idx=0, human="leftvote", vote="[[A>B]]", **extra):
    return {"idx": idx, "model_vote": vote, "human_vote": human, **extra}


@pytest.mark.parametrize(
    "rows, message",
    [
        ([row(correct=False)], "line 1: correct is false but GenAI-Bench's rule .* gives true"),
        ([row(response="Final: [[B>A]]")], r"model_vote '\[\[A>B\]\]' is not the \[\[...\]\] span of response"),
        ([row(), row()], "line 2: idx 0 is already on line 1"),
        ([row(human="left")], "human_vote 'left' is not one of"),
        ([row(idx="0")], "idx must be the vote's position"),
        ([{"idx": 0, "human_vote": "leftvote"}], "missing model_vote"),
        ([], "holds no judge verdicts"),
    ],
)
def test_a_file_that_is_not_genai_benchs_is_refused_naming_the_line(tmp_path, rows, message):
    with pytest.raises(I2IInputError, match=message):
        read_genai_bench_judge(write_rows(tmp_path / "pairwise.jsonl", rows))


def test_judges_of_different_votes_are_not_tabled_together(tmp_path):
    for judge in ("x", "y"):
        (tmp_path / judge).mkdir()
    one = write_rows(tmp_path / "x" / "pairwise.jsonl", [row(0), row(1)])
    other = write_rows(tmp_path / "y" / "pairwise.jsonl", [row(0), row(2)])
    with pytest.raises(I2IInputError, match="judge different votes"):
        evaluate_judges([one, other], n_resamples=5, progress=False)


def test_cli_tables_judges_and_writes_json(tmp_path, capsys):
    out = tmp_path / "judges.json"
    argv = ["meta-eval", "--results", JUDGE_A, JUDGE_B, "--results-format", "genai-bench", "--bootstrap", "20"]
    assert main([*argv, "--no-progress", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].split() == ["statistic", "n", "judge-a", "judge-b"]
    assert "GenAI-Bench agreement (leaderboard rule)" in printed and "judge-a - X" in printed
    data = json.loads(out.read_text())
    assert data["scorers"] == ["judge-a", "judge-b"] and data["options"]["results_format"] == "genai-bench"
    assert data["statistics"][0]["values"]["judge-a"]["value"] == 0.625


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--labels", "labels.jsonl"], "--labels: GenAI-Bench judge files carry the human votes"),
        (["--aspect", "SC"], "--aspect: not used with --results-format genai-bench"),
    ],
)
def test_cli_refuses_options_judges_do_not_use(capsys, extra, message):
    argv = ["meta-eval", "--results", JUDGE_A, "--results-format", "genai-bench", *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_cli_needs_labels_and_one_file_for_i2imetric_results(capsys):
    assert main(["meta-eval", "--results", JUDGE_A]) == 2
    assert "--labels is required" in capsys.readouterr().err
    assert main(["meta-eval", "--results", JUDGE_A, JUDGE_B, "--labels", JUDGE_A]) == 2
    assert "2 files given" in capsys.readouterr().err
