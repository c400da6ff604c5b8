"""head.patch_source: which image tower's patch tokens the head compares (Q2 of docs/findings.md).

"clip" is the head every checkpoint before the key had; "timm" reads the timm ViT's patches
only; "both" concatenates the two, as configs with a timm section always did."""

import pytest
import torch
from helpers import perturb_trainable
from safetensors.torch import save_file

import i2imetric
from i2imetric.errors import ConfigError
from i2imetric.models.config import HeadConfig
from i2imetric.models.head import JointHead

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CLIP_DIM, TIMM_DIM, PATCHES = 32, 24, 16


def _head(patch_source, timm_dim=TIMM_DIM, seed=0):
    torch.manual_seed(seed)
    config = HeadConfig(fusion_dim=32, depth=1, num_heads=2, latent_dim=32, patch_source=patch_source)
    return JointHead(config, clip_dim=CLIP_DIM, num_patches=PATCHES, timm_dim=timm_dim)


def _features(seed=0, n=3):
    g = torch.Generator().manual_seed(seed)
    pooled = [torch.randn(n, CLIP_DIM, generator=g) for _ in range(3)]  # source, output, text
    cosines = torch.randn(n, 4, generator=g)
    clip_patches = [torch.randn(n, PATCHES, CLIP_DIM, generator=g) for _ in range(2)]
    timm_patches = [torch.randn(n, PATCHES, TIMM_DIM, generator=g) for _ in range(2)]
    return pooled, cosines, clip_patches, timm_patches


def _run(head, pooled, cosines, clip_patches, timm_patches):
    return head(pooled[0], pooled[1], pooled[2], cosines, clip_patches[0], clip_patches[1], timm_patches[0],
                timm_patches[1])  # fmt: skip


def test_clip_patch_source_builds_exactly_the_head_of_before():
    """Left out, patch_source is "clip" without timm patches: same tensors, names, shapes and values."""
    default, explicit = _head(None, timm_dim=0), _head("clip", timm_dim=0)
    assert default.patch_source == explicit.patch_source == "clip"
    before, after = default.state_dict(), explicit.state_dict()
    assert list(before) == list(after)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert after["patch_in.weight"].shape == (32, 3 * CLIP_DIM)
    # A config with a timm section and no patch_source concatenates, as it always did.
    assert _head(None).patch_source == "both" and _head(None).patch_in.in_features == 3 * CLIP_DIM + 3 * TIMM_DIM
    assert i2imetric.get_model_config("test-tiny").head.patch_source == "clip"
    assert i2imetric.get_model_config("test-tiny-timm").head.patch_source == "both"


def test_a_checkpoint_written_before_the_key_loads_unchanged(tmp_path):
    """A config written before patch_source existed (the demo's, with the key taken out) loads
    strictly, as the CLIP-patch head it is."""
    import json
    import shutil

    from i2imetric.hub.pretrained import CONFIG_NAME, checkpoint_folder

    folder = tmp_path / "older"
    shutil.copytree(checkpoint_folder("demo"), folder)
    stored = json.loads((folder / CONFIG_NAME).read_text())
    stored["model"]["head"].pop("patch_source", None)
    (folder / CONFIG_NAME).write_text(json.dumps(stored))
    metric = i2imetric.load_metric(folder)
    assert metric.config.head.patch_source == "clip" and metric.timm is None
    reference = i2imetric.load_metric("demo")
    assert {k: v.shape for k, v in metric.state_dict().items()} == {k: v.shape for k, v in reference.state_dict().items()}


def test_timm_head_ignores_the_clip_patches_and_reads_the_timm_ones():
    head = perturb_trainable(_head("timm"), scale=0.2).eval()
    pooled, cosines, clip_patches, timm_patches = _features()
    with torch.no_grad():
        reference = _run(head, pooled, cosines, clip_patches, timm_patches)
        other_clip = [p + torch.randn_like(p) for p in clip_patches]
        unchanged = _run(head, pooled, cosines, other_clip, timm_patches)
        other_timm = [p + torch.randn_like(p) for p in timm_patches]
        changed = _run(head, pooled, cosines, clip_patches, other_timm)
        # The global token still reads the pooled embeddings.
        other_pooled = [pooled[0] + 1.0, pooled[1], pooled[2]]
        moved = _run(head, other_pooled, cosines, clip_patches, timm_patches)
    for name in ("score", "latent", "patch_map", "subscores"):
        assert torch.equal(getattr(unchanged, name), getattr(reference, name)), name
    assert not torch.allclose(changed.score, reference.score)
    assert not torch.allclose(changed.patch_map, reference.patch_map)
    assert not torch.allclose(moved.score, reference.score)
    assert head.patch_in.in_features == 3 * TIMM_DIM


def test_both_head_reads_either_towers_patches():
    head = perturb_trainable(_head("both"), scale=0.2).eval()
    pooled, cosines, clip_patches, timm_patches = _features()
    with torch.no_grad():
        reference = _run(head, pooled, cosines, clip_patches, timm_patches).score
        clip_moved = _run(head, pooled, cosines, [p + 1.0 for p in clip_patches], timm_patches).score
        timm_moved = _run(head, pooled, cosines, clip_patches, [p + 1.0 for p in timm_patches]).score
    assert not torch.allclose(clip_moved, reference) and not torch.allclose(timm_moved, reference)
    with pytest.raises(ValueError, match="timm_source"):
        head(pooled[0], pooled[1], pooled[2], cosines, clip_patches[0], clip_patches[1])


@pytest.mark.parametrize(
    ("model", "patch_source", "message"),
    [
        ("test-tiny", "timm", "needs a timm section"),
        ("test-tiny", "both", "needs a timm section"),
        ("test-tiny-timm", "clip", "leaves the timm encoder of this config unused"),
        ("test-tiny", "dino", "is not one of 'clip', 'timm', 'both'"),
    ],
)
def test_patch_source_is_validated_naming_the_key(model, patch_source, message):
    with pytest.raises(ConfigError, match=rf"head\.patch_source.*{message}"):
        i2imetric.get_model_config(model, head={"patch_source": patch_source})


def test_timm_patch_source_metric_survives_save_and_load(tmp_path):
    metric = perturb_trainable(i2imetric.create_metric("test-tiny-timm", head={"patch_source": "timm"}, seed=0))
    folder = metric.save_pretrained(tmp_path / "ckpt")
    loaded = i2imetric.load_metric(folder, merge_adapters=False)  # strict: every trainable tensor must come back
    assert loaded.config.head.patch_source == "timm"
    saved = {n: p for n, p in metric.named_parameters() if p.requires_grad}
    back = {n: p for n, p in loaded.named_parameters() if p.requires_grad}
    assert list(saved) == list(back) and all(torch.equal(saved[n], back[n]) for n in saved)
    g = torch.Generator().manual_seed(0)
    sources, outputs = [torch.rand(3, 24, 40, generator=g) for _ in range(2)], [torch.rand(3, 24, 40, generator=g)
                                                                                  for _ in range(2)]  # fmt: skip
    instructions = ["make it brighter", "blur the left half"]
    assert torch.equal(metric.score(sources, instructions, outputs), loaded.score(sources, instructions, outputs))


def test_a_timm_weights_file_is_bundled_and_the_folder_moves(tmp_path):
    """bundle_base copies a file timm ViT in, as it copies the base; a loaded metric saved elsewhere still loads."""
    donor = i2imetric.create_metric("test-tiny-timm", seed=3, trainable="head")  # plain timm keys, no LoRA
    weights = tmp_path / "vit.safetensors"
    save_file({k: v.contiguous() for k, v in donor.timm.model.state_dict().items()}, str(weights))
    metric = i2imetric.create_metric("test-tiny-timm", timm_pretrained=str(weights), head={"patch_source": "timm"})
    folder = metric.save_pretrained(tmp_path / "a", bundle_base=True)
    assert (folder / "timm_base.safetensors").is_file()
    weights.unlink()  # the folder no longer needs the original file
    loaded = i2imetric.load_metric(folder)
    assert torch.equal(loaded.timm.model.patch_embed.proj.weight, donor.timm.model.patch_embed.proj.weight)
    elsewhere = loaded.save_pretrained(tmp_path / "b")  # records the bundled file by its absolute path
    again = i2imetric.load_metric(elsewhere)
    assert torch.equal(again.timm.model.patch_embed.proj.weight, donor.timm.model.patch_embed.proj.weight)
