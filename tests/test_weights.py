"""Base weights: tags, hf-hub ids and local files, with every download mocked."""

import time

import huggingface_hub
import open_clip
import pytest
import torch
from safetensors.torch import save_file

import i2imetric
from i2imetric.errors import BaseWeightsError
from i2imetric.hub.weights import resolve_open_clip_weights, sha256_file
from i2imetric.models.config import get_model_config
from i2imetric.models.encoders import resolve_open_clip_config


@pytest.fixture(scope="module")
def tiny_base_file(tmp_path_factory):
    """A plain open_clip state dict for test-tiny's architecture, as a user would download it."""
    config = resolve_open_clip_config(get_model_config("test-tiny").base)
    torch.manual_seed(123)
    model = open_clip.CLIP(**config)
    path = tmp_path_factory.mktemp("base") / "tiny_clip.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path, model


def _probe_images():
    generator = torch.Generator().manual_seed(0)
    return torch.rand(3, 32, 32, generator=generator), torch.rand(3, 32, 32, generator=generator)


def test_local_file_is_loaded_and_recorded_with_sha256(tiny_base_file, tmp_path):
    path, reference = tiny_base_file
    metric = i2imetric.create_metric("test-tiny", pretrained=str(path))
    assert metric.base_source.kind == "file" and metric.base_source.sha256 == sha256_file(path)
    weight = metric.clip.model.visual.conv1.weight
    assert torch.equal(weight, reference.visual.conv1.weight)
    # The recorded file is used (and verified) again on load.
    folder = metric.save_pretrained(tmp_path / "ckpt")
    source, output = _probe_images()
    assert i2imetric.load_metric(folder).score(source, "x", output) == metric.score(source, "x", output)


def test_changed_base_file_is_refused_on_load(tiny_base_file, tmp_path):
    import shutil

    path = tmp_path / "base.safetensors"
    shutil.copy(tiny_base_file[0], path)
    folder = i2imetric.create_metric("test-tiny", pretrained=str(path)).save_pretrained(tmp_path / "ckpt")
    path.write_bytes(path.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(BaseWeightsError, match="sha256"):
        i2imetric.load_metric(folder)


def test_torch_file_loads_with_weights_only(tiny_base_file, tmp_path):
    path = tmp_path / "tiny_clip.pt"
    torch.save(tiny_base_file[1].state_dict(), path)
    metric = i2imetric.create_metric("test-tiny", pretrained=str(path))
    assert torch.equal(metric.clip.model.visual.conv1.weight, tiny_base_file[1].visual.conv1.weight)


def test_pickled_object_file_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.pt"
    torch.save({"visual.conv1.weight": Evil()}, path)
    with pytest.raises(BaseWeightsError, match="could not load"):
        i2imetric.create_metric("test-tiny", pretrained=str(path))


def test_mismatched_architecture_file_is_refused(tmp_path):
    path = tmp_path / "wrong.safetensors"
    save_file({"something.else": torch.zeros(2)}, str(path))
    with pytest.raises(BaseWeightsError, match="could not load"):
        i2imetric.create_metric("test-tiny", pretrained=str(path))


def test_open_clip_tag_downloads_through_the_hub_cache(tiny_base_file, monkeypatch):
    """A tag resolves to open_clip's hub id; the cache is tried before any download."""
    calls = []

    def fake_download(repo_id, filename, cache_dir=None, local_files_only=False, **kwargs):
        calls.append((repo_id, filename, local_files_only))
        if local_files_only:
            raise huggingface_hub.errors.LocalEntryNotFoundError("not cached")
        return str(tiny_base_file[0])

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    path, source, tag_config = resolve_open_clip_weights("ViT-B-32", "openai")
    # open_clip's table: "org/repo/" (trailing slash) names a repo with the default file names.
    expected_repo = open_clip.get_pretrained_cfg("ViT-B-32", "openai")["hf_hub"].rstrip("/")
    assert path == str(tiny_base_file[0])
    assert source.kind == "open_clip" and source.ref == "openai"
    assert tag_config["quick_gelu"] is True and len(tag_config["mean"]) == 3
    assert calls[0][2] is True  # cache first
    assert any(not local for _, _, local in calls)
    assert all(repo == expected_repo for repo, _, _ in calls)
    assert [name for _, name, local in calls if not local] == ["open_clip_model.safetensors"]


def test_cached_file_never_downloads(tiny_base_file, monkeypatch):
    def fake_download(repo_id, filename, cache_dir=None, local_files_only=False, **kwargs):
        assert local_files_only, "a cached file must not trigger a download"
        return str(tiny_base_file[0])

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    metric = i2imetric.create_metric("test-tiny", pretrained="hf-hub:someone/tiny-clip")
    assert metric.base_source.kind == "hf-hub" and metric.base_source.ref == "hf-hub:someone/tiny-clip"


def test_offline_and_not_cached_fails_fast_with_the_fix(monkeypatch, tmp_path):
    """With HF_HUB_OFFLINE=1 the real huggingface_hub answers from the (empty) cache at once."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(BaseWeightsError) as error:
        i2imetric.create_metric("clip-vit-b-32", pretrained="openai", cache_dir=str(tmp_path))
    assert time.monotonic() - started < 5.0
    message = str(error.value)
    assert str(tmp_path) in message and "HF_HUB_OFFLINE" in message and "pretrained=/path/to" in message


def test_failed_download_is_reported_not_retried_forever(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")

    def unreachable(repo_id, filename, cache_dir=None, local_files_only=False, **kwargs):
        if local_files_only:
            raise huggingface_hub.errors.LocalEntryNotFoundError("not cached")
        raise OSError("Could not resolve host: huggingface.co")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", unreachable)
    with pytest.raises(BaseWeightsError, match="Could not resolve host.*\n.*Otherwise download the file"):
        resolve_open_clip_weights("ViT-B-16", "openai", cache_dir=str(tmp_path))


def test_unknown_tag_lists_valid_tags():
    with pytest.raises(BaseWeightsError, match="openai"):
        resolve_open_clip_weights("ViT-B-32", "no_such_tag")


def test_tag_needs_a_named_architecture():
    with pytest.raises(BaseWeightsError, match="inline"):
        i2imetric.create_metric("test-tiny", pretrained="openai")


def test_no_pretrained_means_no_download(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("create_metric without pretrained must not download")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", forbidden)
    assert i2imetric.create_metric("test-tiny").base_source.kind == "random"


def test_preprocess_comes_from_the_tag(tiny_base_file, monkeypatch):
    from i2imetric.models.factory import open_clip_preprocess

    config = resolve_open_clip_config(get_model_config("clip-vit-b-32").base)
    tag = open_clip.get_pretrained_cfg("ViT-B-32", "openai")
    preprocess = open_clip_preprocess(config, tag, "letterbox")
    assert preprocess.size == (224, 224)
    assert preprocess.mean == pytest.approx(tag["mean"]) and preprocess.std == pytest.approx(tag["std"])
    assert preprocess.interpolation == "bicubic" and preprocess.resize == "letterbox"


# ------------------------------------------------------------ dtypes and values


def _tampered_copy(tiny_base_file, tmp_path, name, change, filename="base.safetensors"):
    from safetensors.torch import load_file

    tensors = load_file(str(tiny_base_file[0]))
    tensors[name] = change(tensors[name])
    path = tmp_path / filename
    save_file(tensors, str(path))
    return path


@pytest.mark.parametrize("dtype", [torch.int32, torch.int8, torch.bool])
def test_integer_or_bool_base_weights_refused_not_cast(tiny_base_file, tmp_path, dtype):
    path = _tampered_copy(tiny_base_file, tmp_path, "visual.proj", lambda t: (t * 100).to(dtype))
    with pytest.raises(BaseWeightsError, match=r"base\.safetensors: tensor 'visual\.proj' is stored as"):
        i2imetric.create_metric("test-tiny", pretrained=str(path))


def test_nan_base_weights_refused(tiny_base_file, tmp_path):
    def poison(tensor):
        tensor = tensor.clone()
        tensor.view(-1)[3] = float("nan")
        return tensor

    path = _tampered_copy(tiny_base_file, tmp_path, "text_projection", poison)
    with pytest.raises(BaseWeightsError, match=r"base\.safetensors: tensor 'text_projection' holds 1 NaN"):
        i2imetric.create_metric("test-tiny", pretrained=str(path))


def test_nan_in_a_torch_base_file_refused(tiny_base_file, tmp_path):
    state = {k: v.clone() for k, v in tiny_base_file[1].state_dict().items()}
    state["ln_final.weight"][0] = float("inf")
    path = tmp_path / "tiny_clip.pt"
    torch.save(state, path)
    with pytest.raises(BaseWeightsError, match=r"tiny_clip\.pt: tensor 'ln_final\.weight'.*infinite"):
        i2imetric.create_metric("test-tiny", pretrained=str(path))


def test_float16_base_weights_are_cast(tiny_base_file, tmp_path):
    path = _tampered_copy(tiny_base_file, tmp_path, "visual.proj", lambda t: t.half())
    metric = i2imetric.create_metric("test-tiny", pretrained=str(path))
    expected = tiny_base_file[1].visual.proj.half().float()
    assert torch.equal(metric.clip.model.visual.proj, expected)  # loaded vs saved: exact


def test_corrupt_base_file_named(tiny_base_file, tmp_path):
    path = tmp_path / "base.safetensors"
    path.write_bytes(tiny_base_file[0].read_bytes()[:64])
    with pytest.raises(BaseWeightsError, match=r"base\.safetensors: not a readable safetensors file"):
        i2imetric.create_metric("test-tiny", pretrained=str(path))


def test_integer_counters_may_stay_integers(tmp_path):
    from i2imetric.hub.weights import check_weights_file

    path = tmp_path / "bn.safetensors"
    save_file({"bn.weight": torch.ones(3), "bn.num_batches_tracked": torch.tensor(7)}, str(path))
    check_weights_file(path)  # no error
    save_file({"bn.weight": torch.ones(3, dtype=torch.int64)}, str(path))
    with pytest.raises(BaseWeightsError, match="'bn.weight' is stored as int64"):
        check_weights_file(path)


@pytest.fixture(scope="module")
def tiny_timm_file(tmp_path_factory):
    """test-tiny-timm's timm encoder weights, as a user would pass them."""
    metric = i2imetric.create_metric("test-tiny-timm", trainable="head")
    path = tmp_path_factory.mktemp("timm") / "tiny_timm.safetensors"
    save_file({k: v.contiguous() for k, v in metric.timm.model.state_dict().items()}, str(path))
    return path, metric.timm.model


def test_timm_weights_file_is_loaded(tiny_timm_file):
    path, reference = tiny_timm_file
    metric = i2imetric.create_metric("test-tiny-timm", timm_pretrained=str(path), seed=5)
    assert torch.equal(metric.timm.model.patch_embed.proj.weight, reference.patch_embed.proj.weight)


def test_timm_weights_of_another_layout_are_refused_not_half_loaded(tmp_path):
    """timm drops a classifier and then loads non-strictly; a file without one must still match key for key."""
    adapted = i2imetric.create_metric("test-tiny-timm")  # LoRA on the timm tower renames its linear layers
    path = tmp_path / "lora_named.safetensors"
    save_file({k: v.contiguous() for k, v in adapted.timm.model.state_dict().items()}, str(path))
    with pytest.raises(BaseWeightsError, match=r"lora_named\.safetensors: does not fit timm .*Missing key"):
        i2imetric.create_metric("test-tiny-timm", timm_pretrained=str(path))


@pytest.mark.parametrize("bad", ["int8", "nan"])
def test_bad_timm_weights_refused(tiny_timm_file, tmp_path, bad):
    from safetensors.torch import load_file

    tensors = load_file(str(tiny_timm_file[0]))
    name = "blocks.0.mlp.fc1.weight"
    tensors[name] = tensors[name].to(torch.int8) if bad == "int8" else torch.full_like(tensors[name], float("nan"))
    path = tmp_path / "timm.safetensors"
    save_file(tensors, str(path))
    with pytest.raises(BaseWeightsError, match=rf"timm\.safetensors: tensor '{name}'"):
        i2imetric.create_metric("test-tiny-timm", timm_pretrained=str(path))
