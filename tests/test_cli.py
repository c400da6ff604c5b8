"""The command line: models, score (one triplet), train wiring, demo, and error exits."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from i2imetric.cli.main import main


@pytest.fixture
def triplet_files(tmp_path):
    rng = np.random.default_rng(0)
    source = tmp_path / "source.png"
    output = tmp_path / "output.png"
    Image.fromarray((rng.random((40, 56, 3)) * 255).astype(np.uint8)).save(source)
    Image.fromarray((rng.random((40, 56, 3)) * 255).astype(np.uint8)).save(output)
    return source, output


def test_models_lists_configs(capsys):
    assert main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert "test-tiny" in listed["model_configs"] and "clip-vit-b-32" in listed["model_configs"]


def test_score_one_triplet_json_and_heatmap(triplet_files, tmp_path, capsys):
    source, output = triplet_files
    heatmap = tmp_path / "map.png"
    code = main(["score", "--metric", "untrained:test-tiny", "--source", str(source), "--instruction", "make it brighter",
                 "--output", str(output), "--json", "--heatmap", str(heatmap)])
    assert code == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert isinstance(result["score"], float)
    assert set(result["subscores"]) == {"instruction", "preservation", "quality"}
    assert "UNTRAINED" in captured.err  # a model config is not a trained scorer, and the user is told
    with Image.open(heatmap) as image:  # the output's size, plus the colour scale on the right
        assert image.width > 56 and image.height >= 40


def test_score_human_readable(triplet_files, tiny_trained_checkpoint, capsys):
    source, output = triplet_files
    assert main(["score", "--metric", str(tiny_trained_checkpoint), "--source", str(source), "--instruction", "blur it",
                 "--output", str(output)]) == 0
    out = capsys.readouterr().out
    assert "score" in out and "preservation" in out
    calibrated, *rest = out.splitlines()
    # The checkpoint has a calibration: its [0, 1] score comes first, with what it means.
    name, value = calibrated.split()[:2]
    assert name == "calibrated" and 0.0 <= float(value) <= 1.0 and "chance" in calibrated
    # Every name is followed by at least one space before its signed value ("preservation-24.6" was not).
    for line in rest:
        name, value = line.split()[:2]
        assert value[0] in "+-" and name in ("score", "instruction", "preservation", "quality")


def test_score_json_has_the_calibrated_score_and_help_says_what_it_means(triplet_files, tiny_trained_checkpoint,
                                                                         capsys):
    source, output = triplet_files
    assert main(["score", "--metric", str(tiny_trained_checkpoint), "--source", str(source), "--instruction", "x",
                 "--output", str(output), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0.0 <= result["calibrated"] <= 1.0
    with pytest.raises(SystemExit):
        main(["score", "--help"])
    assert "calibrated=True" in capsys.readouterr().out


def test_empty_instruction_gets_the_instructions_own_error(triplet_files, capsys):
    source, output = triplet_files
    code = main(["score", "--metric", "untrained:test-tiny", "--source", str(source), "--instruction", "  ",
                 "--output", str(output)])
    err = capsys.readouterr().err
    assert code == 2 and "--instruction: the instruction is empty" in err and "give --source" not in err


def _run_cli_in_fresh_interpreter(args: list) -> tuple[int, str, set]:
    """Exit code, stderr and the top-level modules imported by the time the command ended."""
    code = (
        "import sys; from i2imetric.cli import main; code = main(sys.argv[1:]); "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules}))); sys.exit(code)"
    )
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    return result.returncode, result.stderr, set(result.stdout.split())


@pytest.mark.parametrize(
    "args, complaint",
    [
        (["score", "--source", "missing.png", "--instruction", "x", "--output", "missing.png"], "--source missing.png"),
        (["score", "--metric", "no-such-scorer", "--source", "a.png", "--instruction", "x", "--output", "b.png"],
         "--source a.png"),
        (["models"], None),
    ],
)
def test_argument_and_path_errors_come_before_any_model_import(args, complaint, tmp_path):
    code, err, modules = _run_cli_in_fresh_interpreter(args)
    assert "torch" not in modules and "open_clip" not in modules
    if complaint is None:
        assert code == 0
    else:
        assert code == 2 and complaint in err and len(err.strip().splitlines()) == 1


def test_unknown_metric_fails_before_any_model_import(triplet_files):
    source, output = triplet_files
    code, err, modules = _run_cli_in_fresh_interpreter(
        ["score", "--metric", "no-such-scorer", "--source", str(source), "--instruction", "x", "--output", str(output)]
    )
    assert code == 2 and "no-such-scorer" in err and "torch" not in modules


def test_missing_file_is_a_one_line_error(triplet_files, capsys):
    source, _ = triplet_files
    code = main(["score", "--metric", "untrained:test-tiny", "--source", str(source), "--instruction", "x",
                 "--output", "does/not/exist.png"])
    assert code == 2
    err = capsys.readouterr().err
    assert "does/not/exist.png" in err and "Traceback" not in err


def test_unknown_metric_is_a_one_line_error(triplet_files, capsys):
    source, output = triplet_files
    code = main(["score", "--metric", "no-such-scorer", "--source", str(source), "--instruction", "x",
                 "--output", str(output)])
    assert code == 2 and "registered name" in capsys.readouterr().err


def test_train_bad_key_lists_valid_keys(capsys):
    assert main(["train", "--config", "demo_scorer", "optim.lrr=1"]) == 2
    assert "valid keys" in capsys.readouterr().err


def test_train_without_config_is_refused(capsys):
    # It used to start a 1000-step test-tiny run in ./runs without a word.
    with pytest.raises(SystemExit) as stop:
        main(["train", "steps=5"])
    assert stop.value.code == 2 and "--config" in capsys.readouterr().err


def test_train_finds_a_shipped_config_by_name():
    from i2imetric_training.config import load_train_config

    config = load_train_config("finetune_domain", ("steps=7",))
    assert config.steps == 7 and config.pretrained == "openai"
    assert load_train_config("configs/demo_scorer.yaml").model == "shapesclip"  # the path form works from anywhere


def test_yaml_no_stays_a_string_for_mixed_precision():
    from i2imetric_training.config import load_train_config

    # YAML 1.1 reads `no` as False, which accelerate rejected with a traceback.
    assert load_train_config("demo_scorer", ("mixed_precision=no",)).mixed_precision == "no"
    assert load_train_config("demo_scorer", ("tensorboard=true",)).tensorboard is True


def test_python_dash_m_entry_point():
    result = subprocess.run([sys.executable, "-m", "i2imetric", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("i2imetric ")
