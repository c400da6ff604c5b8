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


# ------------------------------------------------------------------ score --manifest and --heatmap


def test_score_manifest_header_names_the_metric_given(triplet_files, tmp_path, capsys):
    from i2imetric.data import Triplet, write_manifest

    source, output = triplet_files
    manifest = tmp_path / "triplets.jsonl"
    write_manifest(manifest, [Triplet(str(source), "make it brighter", str(output), id="a")])
    out = tmp_path / "scores.jsonl"
    assert main(["score", "--metric", "untrained:test-tiny", "--manifest", str(manifest), "--out", str(out)]) == 0
    header = json.loads(out.read_text().splitlines()[0])
    # As `i2imetric eval` names it: the --metric given, not the config's name ("test-tiny").
    assert header["i2imetric_results"] == 1 and header["metric"]["name"] == "untrained:test-tiny"


def _model_loads_refused(monkeypatch):
    """Make any model load fail the test: the refusals below must come before one."""
    import i2imetric.models.factory as factory

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the arguments were checked")

    monkeypatch.setattr(factory, "create_metric", refuse)
    monkeypatch.setattr(factory, "load_metric", refuse)


@pytest.mark.parametrize(
    "heatmap, complaint",
    [
        ("{output}", "is the --output image"),
        ("{dir}/./output.png", "is the --output image"),  # another spelling of the same file
        ("{source}", "is the --source image"),
        ("{dir}/map.jpgx", "cannot write a heatmap as '.jpgx'"),
        ("{dir}", "is a folder"),
    ],
)
def test_score_refuses_a_heatmap_path_it_cannot_honour(triplet_files, tmp_path, capsys, monkeypatch, heatmap,
                                                       complaint):
    source, output = triplet_files
    _model_loads_refused(monkeypatch)
    before = output.read_bytes(), source.read_bytes()
    heatmap = heatmap.format(output=output, source=source, dir=tmp_path)
    code = main(["score", "--metric", "untrained:test-tiny", "--source", str(source), "--instruction", "x",
                 "--output", str(output), "--heatmap", heatmap])
    err = capsys.readouterr().err
    assert code == 2 and "--heatmap" in err and complaint in err and len(err.strip().splitlines()) == 1
    assert (output.read_bytes(), source.read_bytes()) == before  # the user's images are untouched


def test_score_refuses_heatmap_with_manifest(triplet_files, tmp_path, capsys, monkeypatch):
    source, _ = triplet_files
    _model_loads_refused(monkeypatch)
    manifest = tmp_path / "triplets.jsonl"
    manifest.write_text("")
    code = main(["score", "--manifest", str(manifest), "--out", str(tmp_path / "o.jsonl"), "--heatmap",
                 str(tmp_path / "map.png")])
    err = capsys.readouterr().err
    # It used to be ignored without a word; the message says where a manifest's heatmaps are drawn.
    assert code == 2 and "--heatmap" in err and "--manifest" in err and "i2imetric report" in err
    assert not (tmp_path / "o.jsonl").exists()


def test_score_heatmap_path_errors_come_before_any_model_import(triplet_files, tmp_path):
    source, output = triplet_files
    code, err, modules = _run_cli_in_fresh_interpreter(
        ["score", "--metric", "untrained:test-tiny", "--source", str(source), "--instruction", "x",
         "--output", str(output), "--heatmap", str(tmp_path / "map.xyz")]
    )
    assert code == 2 and "--heatmap" in err and "torch" not in modules


@pytest.mark.parametrize("suffix, image_format", [(".jpg", "JPEG"), (".jpeg", "JPEG"), (".tif", "TIFF"), ("", "PNG")])
def test_score_heatmap_is_written_in_the_format_its_suffix_names(triplet_files, tmp_path, capsys, suffix,
                                                                image_format):
    source, output = triplet_files
    heatmap = tmp_path / f"map{suffix}"
    assert main(["score", "--metric", "untrained:test-tiny", "--source", str(source), "--instruction", "x",
                 "--output", str(output), "--heatmap", str(heatmap)]) == 0
    with Image.open(heatmap) as image:  # PNG bytes in map.jpg used to be written without a word
        assert image.format == image_format and image.width > 56 and image.height >= 40


# ------------------------------------------------------------------ --device


@pytest.fixture
def no_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


@pytest.fixture
def one_cuda_device(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


def test_check_device_refuses_what_is_not_a_device(no_cuda):
    from i2imetric.errors import I2IInputError
    from i2imetric.models.devices import check_device

    assert check_device(None) is None and check_device("cpu") == "cpu" and check_device("meta") == "meta"
    with pytest.raises(I2IInputError) as refused:
        check_device("gpu", option="--device")
    assert str(refused.value) == "--device 'gpu' is not a torch device; this machine has: cpu"
    with pytest.raises(I2IInputError, match=r"^device 'cuda': no CUDA device is available .*this machine has: cpu$"):
        check_device("cuda", option="device")


def test_check_device_knows_how_many_cuda_devices_there_are(one_cuda_device):
    from i2imetric.errors import I2IInputError
    from i2imetric.models.devices import available_devices, check_device

    assert available_devices()[:3] == ["cpu", "cuda", "cuda:0"]
    assert check_device("cuda") == "cuda" and check_device("cuda:0") == "cuda:0"
    with pytest.raises(I2IInputError, match=r"^device 'cuda:1': there is no cuda:1 \(1 cuda device, from index 0\)"):
        check_device("cuda:1")


@pytest.mark.parametrize("load", ["load_metric", "create_metric"])
def test_the_library_refuses_a_device_this_machine_lacks_before_building(no_cuda, monkeypatch, load):
    import i2imetric
    import i2imetric.models.factory as factory
    from i2imetric.errors import I2IInputError

    never = lambda *a, **k: pytest.fail("built before the device check")  # noqa: E731
    monkeypatch.setattr(factory, "build_metric", never)  # create_metric's
    monkeypatch.setattr("i2imetric.models.metric.build_metric", never)  # from_pretrained's (load_metric)
    name = "demo" if load == "load_metric" else "test-tiny"
    with pytest.raises(I2IInputError, match=r"^device 'cuda': no CUDA device is available"):
        getattr(i2imetric, load)(name, device="cuda")
    with pytest.raises(I2IInputError, match=r"^device 'gpu' is not a torch device"):
        getattr(i2imetric, load)(name, device="gpu")


@pytest.mark.parametrize("device", ["gpu", "cuda", "cuda:0"])
@pytest.mark.parametrize("metric", ["untrained:test-tiny", "trained"])
def test_bad_device_is_a_one_line_error_before_the_model_loads(triplet_files, tiny_trained_checkpoint, capsys,
                                                               monkeypatch, no_cuda, device, metric):
    source, output = triplet_files
    _model_loads_refused(monkeypatch)
    metric = str(tiny_trained_checkpoint) if metric == "trained" else metric
    code = main(["score", "--metric", metric, "--source", str(source), "--instruction", "x",
                 "--output", str(output), "--device", device])
    err = capsys.readouterr().err
    assert code == 2 and f"--device {device!r}" in err and "this machine has: cpu" in err
    assert len(err.strip().splitlines()) == 1  # no traceback, and no "UNTRAINED" warning: nothing was built


def test_an_unknown_metric_is_refused_before_the_device_is_checked(triplet_files):
    # The torch-free name check comes first: a wrong name with a wrong device costs no torch import.
    source, output = triplet_files
    code, err, modules = _run_cli_in_fresh_interpreter(
        ["score", "--metric", "untrained:no-such-config", "--source", str(source), "--instruction", "x",
         "--output", str(output), "--device", "gpu"]
    )
    assert code == 2 and "no-such-config" in err and "torch" not in modules


# ------------------------------------------------------------------ untrained:CONFIG@WEIGHTS


@pytest.fixture(scope="module")
def tiny_base_file(tmp_path_factory):
    """A plain open_clip state dict for test-tiny's architecture, as a user would download it."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    from i2imetric.models.config import get_model_config
    from i2imetric.models.encoders import resolve_open_clip_config

    torch.manual_seed(7)
    model = open_clip.CLIP(**resolve_open_clip_config(get_model_config("test-tiny").base))
    path = tmp_path_factory.mktemp("base") / "tiny_clip.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def test_untrained_metric_on_local_base_weights(tiny_base_file, triplet_files, capsys):
    import torch

    import i2imetric
    from i2imetric.cli.common import metric_from_argument
    from i2imetric.hub.weights import sha256_file

    metric = metric_from_argument(f"untrained:test-tiny@{tiny_base_file}")
    assert "UNTRAINED" in capsys.readouterr().err
    assert metric.base_source.kind == "file" and metric.base_source.sha256 == sha256_file(tiny_base_file)
    # The same metric as create_metric builds on those weights: the CLI scores with it.
    expected = i2imetric.create_metric("test-tiny", pretrained=str(tiny_base_file))
    assert torch.equal(metric.clip.model.visual.conv1.weight, expected.clip.model.visual.conv1.weight)
    source, output = triplet_files
    assert main(["score", "--metric", f"untrained:test-tiny@{tiny_base_file}", "--source", str(source),
                 "--instruction", "make it brighter", "--output", str(output), "--json"]) == 0
    score = json.loads(capsys.readouterr().out)["score"]
    assert score == pytest.approx(expected.score(str(source), "make it brighter", str(output)), abs=1e-6)
    assert metric_from_argument("untrained:test-tiny@random").base_source.kind == "random"


@pytest.mark.parametrize(
    "name, pretrained, timm_pretrained",
    [
        ("untrained:clip-vit-b-32", True, None),  # the config's default weights, as the README says
        ("untrained:clip-vit-b-16@laion2b_s34b_b88k", "laion2b_s34b_b88k", None),
        ("untrained:clip-vit-b-16@hf-hub:org/repo", "hf-hub:org/repo", None),
        ("untrained:clip-vit-b-16-dinov2", True, True),
        ("untrained:clip-vit-b-32@random", None, None),
        ("untrained:test-tiny", None, None),  # a test config has no real weights
    ],
)
def test_untrained_metric_asks_create_metric_for_the_named_base(monkeypatch, capsys, name, pretrained,
                                                                timm_pretrained):
    import i2imetric.models.factory as factory
    from i2imetric.cli.common import metric_from_argument

    calls = []
    monkeypatch.setattr(factory, "create_metric", lambda config, **kwargs: calls.append((config, kwargs)))
    metric_from_argument(name, device="cpu")
    config = name[len("untrained:"):].partition("@")[0]
    assert calls == [(config, {"pretrained": pretrained, "device": "cpu", "timm_pretrained": timm_pretrained})]
    warning = capsys.readouterr().err
    assert "UNTRAINED" in warning and ("RANDOM base" in warning) == (pretrained is None)


@pytest.mark.parametrize(
    "name, complaint",
    [
        ("untrained:test-tiny@", "nothing after '@'"),
        # test-tiny's base is an inline config, so an OpenCLIP tag cannot apply: the weights' own error, named.
        ("untrained:test-tiny@openai", "--metric 'untrained:test-tiny@openai': pretrained='openai': a tag needs"),
        ("untrained:test-tiny@/no/such/file.safetensors", "--metric 'untrained:test-tiny@/no/such/file.safetensors'"),
    ],
)
def test_untrained_metric_with_unusable_weights_is_a_one_line_error(triplet_files, capsys, name, complaint):
    source, output = triplet_files
    code = main(["score", "--metric", name, "--source", str(source), "--instruction", "x", "--output", str(output)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and complaint in err[-1] and "Traceback" not in "\n".join(err)


def test_score_heatmap_of_a_letterbox_metric_is_placed_as_its_image(tmp_path, capsys):
    import i2imetric
    from i2imetric.viz.heatmap import heatmap_overlay

    folder = i2imetric.create_metric("test-tiny", image_resize="letterbox").save_pretrained(tmp_path / "lb")
    rng = np.random.default_rng(3)
    source, output = tmp_path / "wide_source.png", tmp_path / "wide_output.png"
    for path in (source, output):  # 3:1, so a third of the letterbox is padding
        Image.fromarray((rng.random((20, 60, 3)) * 255).astype(np.uint8)).save(path)
    heatmap = tmp_path / "map.png"
    assert main(["score", "--metric", str(folder), "--source", str(source), "--instruction", "blur it",
                 "--output", str(output), "--heatmap", str(heatmap)]) == 0
    metric = i2imetric.load_metric(folder)
    patch_map = metric.explain(str(source), "blur it", str(output)).patch_map
    assert patch_map.abs().max() > 0  # the zero-shot prior's map: something to place
    with Image.open(heatmap) as image:
        written = np.asarray(image.convert("RGB"))
    placed = np.asarray(heatmap_overlay(patch_map, str(output), preprocess=metric))
    stretched = np.asarray(heatmap_overlay(patch_map, str(output)))
    assert np.abs(written.astype(int) - placed).max() <= 1 and np.abs(written.astype(int) - stretched).max() > 8
