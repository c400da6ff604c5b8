"""Save -> load round trips, and every way a checkpoint folder can be refused."""

import json

import pytest
import torch
from helpers import trained_tiny
from safetensors.torch import load_file, save_file

import i2imetric
from i2imetric.errors import BaseWeightsError, CheckpointError
from i2imetric.models.checkpoint import CONFIG_NAME, WEIGHTS_NAME
from i2imetric.models.metric import Calibration


def _images(n, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.rand(3, 28, 36, generator=generator) for _ in range(n)]


@pytest.fixture(scope="module")
def saved(tiny_trained_checkpoint):
    """The shared checkpoint folder and an independently built metric of the same recipe."""
    metric = trained_tiny()
    metric.calibration = Calibration(slope=0.5, intercept=0.1)
    return metric, tiny_trained_checkpoint


@pytest.mark.parametrize("model_name", ["test-tiny", "test-tiny-timm"])
def test_round_trip_gives_identical_scores(tmp_path, model_name):
    metric = trained_tiny(model_name)
    folder = metric.save_pretrained(tmp_path / "ckpt")
    loaded = i2imetric.load_metric(folder, merge_adapters=False)
    sources, outputs = _images(3), _images(3, seed=1)
    instructions = ["make it brighter", "flip it", "blur the left half"]
    assert torch.equal(metric.score(sources, instructions, outputs), loaded.score(sources, instructions, outputs))
    assert not loaded.training and loaded.device.type == "cpu"
    # Loaded for scoring (the default), LoRA is merged into the base: equal up to rounding.
    merged = i2imetric.load_metric(folder)
    assert merged.merged
    torch.testing.assert_close(
        merged.score(sources, instructions, outputs), metric.score(sources, instructions, outputs), rtol=0, atol=1e-5
    )


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
    # Loaded for scoring, LoRA is merged into the base: equal up to float rounding.
    assert loaded.score(source, "x", output) == pytest.approx(saved[0].score(source, "x", output), rel=0, abs=1e-5)


@pytest.mark.parametrize("config_text", ["not json", '["a list"]', '{"base_weights": "a string"}'])
def test_malformed_hub_config_is_a_checkpoint_error(config_text, tmp_path, monkeypatch):
    import huggingface_hub

    (tmp_path / CONFIG_NAME).write_text(config_text)
    (tmp_path / WEIGHTS_NAME).write_bytes(b"")
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda repo_id, filename, **kw: str(tmp_path / filename))
    with pytest.raises(CheckpointError, match="hf-hub:someone/broken"):
        i2imetric.load_metric("hf-hub:someone/broken")


def test_an_uncached_hub_checkpoint_offline_says_to_download_the_folder(tmp_path, monkeypatch):
    import huggingface_hub

    from i2imetric.errors import BaseWeightsError

    def not_cached(repo_id, filename, **kw):
        raise FileNotFoundError(filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", not_cached)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BaseWeightsError) as refused:
        i2imetric.load_metric("hf-hub:someone/scorer", cache_dir=str(tmp_path))
    message = str(refused.value)
    # load_metric takes no pretrained=: the way out is the folder, not a weights file.
    assert "hf download someone/scorer --local-dir DIR" in message and "load_metric(DIR)" in message
    assert "pretrained=" not in message and str(tmp_path) in message


# ------------------------------------------------------------ dtypes and values


def _rewrite_tensor(folder, name, change):
    tensors = load_file(str(folder / WEIGHTS_NAME))
    tensors[name] = change(tensors[name])
    save_file(tensors, str(folder / WEIGHTS_NAME))


@pytest.mark.parametrize("dtype", [torch.int32, torch.int8, torch.bool])
def test_non_float_weights_refused_not_cast(saved, tmp_path, dtype):
    folder = _copy(saved[1], tmp_path)
    _rewrite_tensor(folder, "head.score_out.weight", lambda t: (t * 1000).to(dtype))
    with pytest.raises(CheckpointError, match=rf"model\.safetensors.*'head\.score_out\.weight'.*{str(dtype)[6:]}"):
        i2imetric.load_metric(folder)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_weights_refused(saved, tmp_path, value):
    folder = _copy(saved[1], tmp_path)
    _rewrite_tensor(folder, "head.score_out.bias", lambda t: torch.full_like(t, value))
    with pytest.raises(CheckpointError, match=r"model\.safetensors.*'head\.score_out\.bias'.*NaN or infinite"):
        i2imetric.load_metric(folder)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_other_float_dtypes_load(saved, tmp_path, dtype):
    folder = _copy(saved[1], tmp_path)
    save_file({k: v.to(dtype) for k, v in load_file(str(folder / WEIGHTS_NAME)).items()}, str(folder / WEIGHTS_NAME))
    loaded = i2imetric.load_metric(folder)
    source, output = _images(1)[0], _images(1, seed=1)[0]
    # float16/bfloat16 round the weights; the score moves a little, no more.
    assert loaded.score(source, "x", output) == pytest.approx(saved[0].score(source, "x", output), abs=0.05)


def test_corrupt_weights_file_named(saved, tmp_path):
    folder = _copy(saved[1], tmp_path)
    (folder / WEIGHTS_NAME).write_bytes((folder / WEIGHTS_NAME).read_bytes()[:100])
    with pytest.raises(CheckpointError, match=rf"{WEIGHTS_NAME}: not a readable safetensors file"):
        i2imetric.load_metric(folder)


def test_bundled_base_with_nan_refused(saved, tmp_path):
    """A base file whose sha256 was updated to match is still checked tensor by tensor."""
    from i2imetric.hub.weights import sha256_file

    folder = _copy(saved[1], tmp_path)
    tensors = load_file(str(folder / "base.safetensors"))
    tensors["visual.conv1.weight"][0, 0, 0, 0] = float("nan")
    save_file(tensors, str(folder / "base.safetensors"))
    config = json.loads((folder / CONFIG_NAME).read_text())
    config["base_weights"]["sha256"] = sha256_file(folder / "base.safetensors")
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(BaseWeightsError, match=r"base\.safetensors.*'visual\.conv1\.weight'.*NaN"):
        i2imetric.load_metric(folder)


# ----------------------------------------------------------- malformed configs


def _tamper(folder, change):
    config = json.loads((folder / CONFIG_NAME).read_text())
    change(config)
    (folder / CONFIG_NAME).write_text(json.dumps(config))


def _set(path, value):
    """A change that sets config[path[0]][path[1]]... to value (or deletes it for _DELETE)."""

    def change(config):
        for key in path[:-1]:
            config = config[key]
        if value is _DELETE:
            del config[path[-1]]
        else:
            config[path[-1]] = value

    return change


_DELETE = object()
MALFORMED = [
    (("base_weights", "sha256"), _DELETE, r"base_weights\.sha256"),
    (("base_weights", "sha256"), 12345, r"base_weights\.sha256"),
    (("base_weights", "sha256"), "abc", r"base_weights\.sha256"),
    (("base_weights", "ref"), None, r"base_weights\.ref"),
    (("base_weights", "kind"), "ftp", r"base_weights\.kind"),
    (("base_weights",), "base.safetensors", r"base_weights"),
    (("preprocess", "open_clip", "crop"), True, r"preprocess\.open_clip.*crop"),
    (("preprocess", "open_clip", "std"), [0.0, 0.26, 0.27], r"preprocess\.open_clip\.std"),
    (("preprocess", "open_clip", "mean"), [0.5, 0.5], r"preprocess\.open_clip\.mean"),
    (("preprocess", "open_clip", "size"), [32, -1], r"preprocess\.open_clip\.size"),
    (("preprocess", "open_clip", "size"), [64, 64], r"preprocess\.open_clip\.size.*image_size"),
    (("preprocess", "open_clip", "interpolation"), "nearest", r"preprocess\.open_clip\.interpolation"),
    (("preprocess", "open_clip", "resize"), "crop", r"preprocess\.open_clip\.resize"),
    (("preprocess", "open_clip"), None, r"preprocess"),
    (("calibration", "temperature"), 2.0, r"calibration.*temperature"),
    (("calibration", "slope"), "steep", r"calibration\.slope"),
    (("open_clip_config", "vision_cfg", "width"), "wide", r"open_clip_config\.vision_cfg\.width"),
    (("open_clip_config", "text_cfg", "layers"), -2, r"open_clip_config\.text_cfg\.layers"),
]


@pytest.mark.parametrize(("path", "value", "field"), MALFORMED, ids=[f"{'.'.join(p)}={v!r}"[:40] for p, v, _ in MALFORMED])
def test_malformed_config_field_is_a_checkpoint_error_naming_file_and_field(saved, tmp_path, path, value, field):
    folder = _copy(saved[1], tmp_path)
    _tamper(folder, _set(path, value))
    with pytest.raises(CheckpointError, match=field) as error:
        i2imetric.load_metric(folder)
    assert str(folder / CONFIG_NAME) in str(error.value)


def test_config_that_is_not_an_object_refused(saved, tmp_path):
    folder = _copy(saved[1], tmp_path)
    (folder / CONFIG_NAME).write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="expected a JSON object"):
        i2imetric.load_metric(folder)


# ------------------------------------------------------------ architecture size


def test_estimated_size_matches_the_built_model():
    import open_clip

    from i2imetric.models.encoders import estimate_parameters, resolve_open_clip_config

    for name in ("test-tiny", "test-tiny-timm", "shapesclip", "clip-vit-b-32"):
        config = i2imetric.get_model_config(name)
        open_clip_config = resolve_open_clip_config(config.base)
        with torch.device("meta"):  # counts shapes; allocates nothing
            actual = sum(p.numel() for p in open_clip.CLIP(**open_clip_config).parameters())
        if config.timm is not None:
            timm = i2imetric.create_metric(name).timm.model
            actual += sum(p.numel() for n, p in timm.named_parameters() if "lora_" not in n)
        assert estimate_parameters(open_clip_config, config.timm) == actual, name


class _Built(Exception):
    """Raised instead of building: proves a check passed without allocating anything."""


@pytest.fixture
def giant(saved, tmp_path, monkeypatch):
    """test-tiny's checkpoint tampered to declare a 64-layer, width-8192 image tower (~51B parameters)."""
    import i2imetric.models.metric

    def refuse_to_build(*args, **kwargs):
        raise _Built

    monkeypatch.setattr(i2imetric.models.metric, "build_metric", refuse_to_build)
    folder = _copy(saved[1], tmp_path)
    _tamper(folder, lambda config: config["open_clip_config"]["vision_cfg"].update(width=8192, layers=64))
    return folder


def test_giant_architecture_refused_before_construction(giant):
    with pytest.raises(CheckpointError) as error:
        i2imetric.load_metric(giant)
    message = str(error.value)
    assert str(giant / CONFIG_NAME) in message
    assert "51.6 billion" in message and "load_metric(..., allow_large=True)" in message


def test_giant_architecture_builds_only_when_asked(giant):
    with pytest.raises(_Built):
        i2imetric.load_metric(giant, allow_large=True)
    with pytest.raises(CheckpointError, match="allow_large"):
        i2imetric.I2IMetric.from_pretrained(giant)
    with pytest.raises(_Built):
        i2imetric.I2IMetric.from_pretrained(giant, allow_large=True)


# --------------------------------------------------------------------- the demo


def test_demo_has_no_dead_adapters_and_every_one_acts():
    from test_metric import assert_every_adapter_acts

    from i2imetric.cli.demo import build_cases

    # Loaded for scoring, the adapters are merged and a lora_B change would not act: unmerge.
    metric = i2imetric.load_metric("demo").unmerge_adapters()
    names = [n for n, _ in metric.named_parameters() if "lora_B" in n]
    assert len(names) == 14 and not any("out_proj" in n for n in names)  # 7 resblocks x (c_fc, c_proj)
    case = build_cases(shapes=1, photo_edits=0)[0]
    candidates = list(case.candidates.values())[:2]
    assert_every_adapter_acts(metric, [case.source] * 2, [case.instruction] * 2, candidates)


def test_checkpoint_with_dead_out_proj_adapters_says_how_to_repair_it(tmp_path):
    """Checkpoints trained with the old default targets are refused with the fix, not loaded half-working."""
    import shutil

    from i2imetric.hub.pretrained import registered_checkpoints

    folder = tmp_path / "old-demo"
    shutil.copytree(registered_checkpoints()["demo"], folder)

    def old_targets(config):
        for key in ("image_targets", "text_targets"):
            config["model"]["lora"][key] = config["model"]["lora"][key].replace(r"\.(mlp", r"\.(attn\.out_proj|mlp")

    _tamper(folder, old_targets)
    with pytest.raises(i2imetric.ConfigError, match=r"attn\.out_proj.*MultiheadAttention.*remove") as error:
        i2imetric.load_metric(folder)
    assert str(folder / CONFIG_NAME) in str(error.value)


# ------------------------------------------------------------ push_to_hub


def _fake_hub(tmp_path, monkeypatch):
    """Mock huggingface_hub's upload and download against a folder standing in for the hub."""
    import shutil

    import huggingface_hub

    hub = tmp_path / "fake-hub"
    calls = {"create_repo": [], "upload_folder": []}

    def create_repo(self, repo_id, *, private=None, exist_ok=False, repo_type=None, **kwargs):
        calls["create_repo"].append({"repo_id": repo_id, "private": private, "exist_ok": exist_ok})
        (hub / repo_id).mkdir(parents=True, exist_ok=True)

    def upload_folder(self, *, repo_id, folder_path, commit_message=None, repo_type=None, **kwargs):
        calls["upload_folder"].append({"repo_id": repo_id, "commit_message": commit_message})
        shutil.copytree(folder_path, hub / repo_id, dirs_exist_ok=True)

    def fake_download(repo_id, filename, cache_dir=None, local_files_only=False, **kwargs):
        path = hub / repo_id / filename
        if not path.exists():
            raise huggingface_hub.errors.EntryNotFoundError(filename)
        return str(path)

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    return hub, calls


def test_push_to_hub_round_trip_through_a_mocked_hub(tmp_path, monkeypatch):
    hub, calls = _fake_hub(tmp_path, monkeypatch)
    metric = trained_tiny()
    metric.calibration = Calibration(slope=0.5, intercept=0.1)
    card = "# tiny scorer\n\nA card that must arrive.\n"
    local = metric.save_pretrained(
        tmp_path / "ckpt", card=card, push_to_hub="someone/pushed", private=True, commit_message="first upload"
    )
    assert (local / CONFIG_NAME).is_file()
    assert calls["create_repo"] == [{"repo_id": "someone/pushed", "private": True, "exist_ok": True}]
    assert calls["upload_folder"] == [{"repo_id": "someone/pushed", "commit_message": "first upload"}]
    loaded = i2imetric.load_metric("hf-hub:someone/pushed")
    sources, outputs = _images(3), _images(3, seed=1)
    instructions = ["make it brighter", "flip it", "blur the left half"]
    torch.testing.assert_close(
        loaded.score(sources, instructions, outputs), metric.score(sources, instructions, outputs), rtol=0, atol=1e-5
    )
    from i2imetric.hub.pretrained import checkpoint_folder

    assert (checkpoint_folder("hf-hub:someone/pushed") / "README.md").read_text() == card


def test_push_to_hub_offline_fails_at_once_naming_the_local_folder(tmp_path, monkeypatch):
    import time

    import huggingface_hub

    def must_not_be_called(*args, **kwargs):
        raise AssertionError("offline push_to_hub must not touch the hub")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", must_not_be_called)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", must_not_be_called)
    metric = trained_tiny()
    start = time.monotonic()
    with pytest.raises(CheckpointError, match="HF_HUB_OFFLINE") as error:
        metric.save_pretrained(tmp_path / "ckpt", push_to_hub="someone/offline")
    assert time.monotonic() - start < 5
    message = str(error.value)
    assert "\n" not in message and str(tmp_path / "ckpt") in message and "upload" in message
    assert (tmp_path / "ckpt" / CONFIG_NAME).is_file()  # written locally all the same


def test_push_to_hub_failure_is_one_line_with_the_way_out(tmp_path, monkeypatch):
    import huggingface_hub

    _fake_hub(tmp_path, monkeypatch)

    def refuse(self, repo_id, **kwargs):
        raise OSError("401 Client Error: no token\nsecond line")

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", refuse)
    with pytest.raises(CheckpointError, match="someone/denied.*401") as error:
        trained_tiny().save_pretrained(tmp_path / "ckpt", push_to_hub="someone/denied")
    assert "\n" not in str(error.value) and str(tmp_path / "ckpt") in str(error.value)


def test_push_to_hub_rejects_a_malformed_repo_id(tmp_path, monkeypatch):
    _fake_hub(tmp_path, monkeypatch)
    with pytest.raises(CheckpointError, match="org/name"):
        trained_tiny().save_pretrained(tmp_path / "ckpt", push_to_hub="no-slash")
