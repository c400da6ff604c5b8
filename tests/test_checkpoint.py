"""Save -> load round trips, and every way a checkpoint folder can be refused."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

import i2imetric
from i2imetric.checkpoint import CONFIG_NAME, WEIGHTS_NAME
from i2imetric.errors import BaseWeightsError, CheckpointError
from i2imetric.metric import Calibration


def _images(n, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.rand(3, 28, 36, generator=generator) for _ in range(n)]


def _perturbed(model_name="test-tiny", **overrides):
    metric = i2imetric.create_metric(model_name, **overrides)
    with torch.no_grad():
        generator = torch.Generator().manual_seed(3)
        for parameter in metric.parameters():
            if parameter.requires_grad:
                parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    return metric


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    metric = _perturbed()
    metric.calibration = Calibration(slope=0.5, intercept=0.1)
    folder = metric.save_pretrained(tmp_path_factory.mktemp("ckpt") / "tiny")
    return metric, folder


@pytest.mark.parametrize("model_name", ["test-tiny", "test-tiny-timm"])
def test_round_trip_gives_identical_scores(tmp_path, model_name):
    metric = _perturbed(model_name)
    folder = metric.save_pretrained(tmp_path / "ckpt")
    loaded = i2imetric.load_metric(folder)
    sources, outputs = _images(3), _images(3, seed=1)
    instructions = ["make it brighter", "flip it", "blur the left half"]
    assert torch.equal(metric.score(sources, instructions, outputs), loaded.score(sources, instructions, outputs))
    assert not loaded.training and loaded.device.type == "cpu"


def test_every_trainable_tensor_is_in_the_file(saved):
    metric, folder = saved
    stored = load_file(str(folder / WEIGHTS_NAME))
    trainable = {n for n, p in metric.named_parameters() if p.requires_grad}
    assert set(stored) == trainable
    assert any("lora_" in n for n in stored) and any(n.startswith("head.") for n in stored)


def test_config_records_what_loading_needs(saved):
    _, folder = saved
    config = json.loads((folder / CONFIG_NAME).read_text())
    assert config["base_weights"]["kind"] == "file" and len(config["base_weights"]["sha256"]) == 64
    assert config["preprocess"]["open_clip"]["resize"] == "squash"
    assert config["model"]["lora"]["r"] == 4
    assert config["calibration"] == {"slope": 0.5, "intercept": 0.1}
    assert config["i2imetric_version"] == i2imetric.__version__
    assert (folder / "README.md").read_text().startswith("# i2imetric checkpoint")


def test_calibration_survives_round_trip(saved):
    metric, folder = saved
    loaded = i2imetric.load_metric(folder)
    source, output = _images(1)[0], _images(1, seed=2)[0]
    calibrated = loaded.score(source, "a", output, calibrated=True)
    assert 0.0 < calibrated < 1.0
    assert calibrated == pytest.approx(metric.score(source, "a", output, calibrated=True), abs=1e-6)


def _copy(folder, tmp_path):
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    return target


def test_unknown_key_refused(saved, tmp_path):
    folder = _copy(saved[1], tmp_path)
    tensors = load_file(str(folder / WEIGHTS_NAME))
    tensors["head.surprise"] = torch.zeros(1)
    save_file(tensors, str(folder / WEIGHTS_NAME))
    with pytest.raises(CheckpointError, match="unexpected.*head.surprise"):
        i2imetric.load_metric(folder)


def test_missing_key_refused(saved, tmp_path):
    folder = _copy(saved[1], tmp_path)
    tensors = load_file(str(folder / WEIGHTS_NAME))
    del tensors["head.score_out.weight"]
    save_file(tensors, str(folder / WEIGHTS_NAME))
    with pytest.raises(CheckpointError, match="missing.*head.score_out.weight"):
        i2imetric.load_metric(folder)


def test_wrong_shape_refused(saved, tmp_path):
    folder = _copy(saved[1], tmp_path)
    tensors = load_file(str(folder / WEIGHTS_NAME))
    tensors["head.score_out.bias"] = torch.zeros(2)
    save_file(tensors, str(folder / WEIGHTS_NAME))
    with pytest.raises(CheckpointError, match="shapes.*head.score_out.bias"):
        i2imetric.load_metric(folder)


def test_pickle_checkpoint_refused_without_unpickling(saved, tmp_path, monkeypatch):
    folder = _copy(saved[1], tmp_path)
    (folder / WEIGHTS_NAME).unlink()
    (folder / "model.bin").write_bytes(b"not even read")

    def forbidden(*args, **kwargs):
        raise AssertionError("torch.load must not be called on a checkpoint")

    monkeypatch.setattr(torch, "load", forbidden)
    with pytest.raises(CheckpointError, match="pickle files are refused"):
        i2imetric.load_metric(folder)


def test_newer_major_format_refused(saved, tmp_path):
    folder = _copy(saved[1], tmp_path)
    config = json.loads((folder / CONFIG_NAME).read_text())
    config["format_version"] = "2.0"
    config["i2imetric_version"] = "9.0.0"
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="Upgrade i2imetric"):
        i2imetric.load_metric(folder)


def test_base_file_with_wrong_sha256_refused(saved, tmp_path):
    folder = _copy(saved[1], tmp_path)
    tensors = load_file(str(folder / "base.safetensors"))
    first = next(iter(tensors))
    tensors[first] = tensors[first] + 1.0
    save_file(tensors, str(folder / "base.safetensors"))
    with pytest.raises(BaseWeightsError, match="sha256"):
        i2imetric.load_metric(folder)


def test_missing_config_and_unknown_name(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="missing i2imetric_config.json"):
        i2imetric.load_metric(tmp_path / "empty")
    with pytest.raises(CheckpointError, match="registered name"):
        i2imetric.load_metric("no-such-scorer")


def test_unknown_config_key_in_checkpoint_refused(saved, tmp_path):
    folder = _copy(saved[1], tmp_path)
    config = json.loads((folder / CONFIG_NAME).read_text())
    config["model"]["head"]["mystery"] = 1
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(i2imetric.ConfigError, match="mystery"):
        i2imetric.load_metric(folder)


def test_registered_names_from_environment(saved, tmp_path, monkeypatch):
    import shutil

    shutil.copytree(saved[1], tmp_path / "my-scorer")
    monkeypatch.setenv("I2IMETRIC_CHECKPOINTS", str(tmp_path))
    assert "my-scorer" in i2imetric.list_pretrained()
    assert isinstance(i2imetric.load_metric("my-scorer"), i2imetric.I2IMetric)


def test_load_from_hf_hub_uses_the_hub_cache(saved, monkeypatch):
    """hf-hub:org/name fetches the folder's files through huggingface_hub (mocked)."""
    import huggingface_hub

    folder = saved[1]
    requested = []

    def fake_download(repo_id, filename, cache_dir=None, local_files_only=False, **kwargs):
        requested.append((repo_id, filename, local_files_only))
        path = folder / filename
        if not path.exists():
            raise huggingface_hub.errors.EntryNotFoundError(filename)
        return str(path)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    loaded = i2imetric.load_metric("hf-hub:someone/tiny-scorer")
    assert {name for _, name, _ in requested} >= {CONFIG_NAME, WEIGHTS_NAME, "base.safetensors"}
    assert all(repo == "someone/tiny-scorer" for repo, _, _ in requested)
    source, output = _images(1)[0], _images(1, seed=1)[0]
    assert loaded.score(source, "x", output) == saved[0].score(source, "x", output)
