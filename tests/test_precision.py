"""Inference speed-ups that must not change the scores: merged LoRA, lower tower precision."""

from __future__ import annotations

import warnings

import pytest
import torch
from helpers import perturb_trainable, trained_tiny
from safetensors.torch import load_file

import i2imetric
from i2imetric.hub.pretrained import WEIGHTS_NAME, registered_checkpoints

INSTRUCTIONS = ["make it brighter", "flip it", "add a red square", "blur the left half"]
# Measured on CPU (torch 2.14) over these triplets: bf16 towers moved test-tiny's scores
# (about -10) by at most ~0.1 (1% relative), fp16 by ~0.01. The bounds leave headroom.
BF16_RELATIVE = 0.05
FP16_RELATIVE = 0.02


def _images(n, seed=0, size=(20, 24)):
    generator = torch.Generator().manual_seed(seed)
    return [torch.rand(3, *size, generator=generator) for _ in range(n)]


def _triplets():
    return _images(4), INSTRUCTIONS, _images(4, seed=1)


def _lora_layers(metric):
    return [m for m in metric.modules() if hasattr(m, "merged_adapters")]


# ------------------------------------------------------------------ merging


@pytest.mark.parametrize("model_name", ["test-tiny", "test-tiny-timm"])
def test_merged_scores_match_unmerged(model_name):
    metric = trained_tiny(model_name)
    sources, instructions, outputs = _triplets()
    assert not metric.merged  # create_metric: separate adapters, ready to train
    before = metric.score(sources, instructions, outputs)
    assert metric.merge_adapters() is metric and metric.merged
    assert _lora_layers(metric) and all(layer.merged for layer in _lora_layers(metric))
    torch.testing.assert_close(metric.score(sources, instructions, outputs), before, rtol=0, atol=1e-5)
    metric.unmerge_adapters()
    assert not metric.merged
    torch.testing.assert_close(metric.score(sources, instructions, outputs), before, rtol=0, atol=1e-5)


def test_demo_loads_merged_and_matches_unmerged():
    from i2imetric.cli.demo import build_cases

    merged = i2imetric.load_metric("demo")
    unmerged = i2imetric.load_metric("demo", merge_adapters=False)
    assert merged.merged and not unmerged.merged
    case = build_cases(shapes=1, photo_edits=0)[0]
    candidates = list(case.candidates.values())
    args = ([case.source] * len(candidates), [case.instruction] * len(candidates), candidates)
    # Folding B @ A into W rounds differently from adding B(Ax) afterwards: on demo scores of
    # magnitude 4-6 (float32 spacing 5e-7) the two differ by up to 1.5e-5, 3e-6 relative.
    torch.testing.assert_close(merged.score(*args), unmerged.score(*args), rtol=1e-5, atol=1e-5)


def test_merge_then_unmerge_restores_the_base_even_if_lora_changed_meanwhile():
    metric = trained_tiny()
    base = {n: p.detach().clone() for n, p in metric.named_parameters() if "base_layer" in n}
    metric.merge_adapters()
    perturb_trainable(metric, seed=5)  # moves lora_B while merged: must not leak into the base
    metric.unmerge_adapters()
    for name, tensor in base.items():
        torch.testing.assert_close(dict(metric.named_parameters())[name], tensor, rtol=0, atol=1e-6)


def test_train_mode_unmerges_so_lora_gets_gradients():
    metric = trained_tiny().merge_adapters()
    metric.train()
    assert not metric.merged
    output = metric(_images(2), ["make it brighter"], torch.tensor([[0, 0, 1]]))
    output.score.sum().backward()
    grads = [p.grad for n, p in metric.named_parameters() if "lora_B" in n]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)


def test_save_of_merged_demo_writes_the_same_tensors(tmp_path):
    original = load_file(str(registered_checkpoints()["demo"] / WEIGHTS_NAME))
    metric = i2imetric.load_metric("demo")
    assert metric.merged
    metric.save_pretrained(tmp_path / "copy")
    assert metric.merged  # saving does not change the metric's state
    saved = load_file(str(tmp_path / "copy" / WEIGHTS_NAME))
    assert sorted(saved) == sorted(original)
    for name, tensor in original.items():
        assert saved[name].dtype == tensor.dtype
        torch.testing.assert_close(saved[name], tensor, rtol=0, atol=1e-6)


def test_save_of_merged_random_base_bundles_the_unmerged_base(tmp_path):
    metric = trained_tiny()
    sources, instructions, outputs = _triplets()
    before = metric.score(sources, instructions, outputs)
    metric.merge_adapters().save_pretrained(tmp_path / "ckpt")
    reloaded = i2imetric.load_metric(tmp_path / "ckpt")
    torch.testing.assert_close(reloaded.score(sources, instructions, outputs), before, rtol=0, atol=1e-5)


# ------------------------------------------------------------------ precision


@pytest.mark.parametrize(("dtype", "relative"), [("bfloat16", BF16_RELATIVE), (torch.float16, FP16_RELATIVE)])
@pytest.mark.parametrize("model_name", ["test-tiny", "test-tiny-timm"])
def test_low_precision_towers_run_on_cpu_close_to_float32(model_name, dtype, relative):
    sources, instructions, outputs = _triplets()
    reference = trained_tiny(model_name).score(sources, instructions, outputs)
    metric = trained_tiny(model_name).merge_adapters().set_precision(dtype)
    assert metric.tower_dtype == (torch.float16 if dtype is torch.float16 else torch.bfloat16)
    assert metric.head.norm.weight.dtype == torch.float32
    scores = metric.score(sources, instructions, outputs)
    assert scores.dtype == torch.float32 and torch.isfinite(scores).all()
    assert float(((scores - reference).abs() / reference.abs()).max()) < relative


def test_whole_metric_cast_to_bfloat16_runs():
    """``metric.to(torch.bfloat16)`` used to fail in the first conv: float32 pixels, bf16 weights."""
    sources, instructions, outputs = _triplets()
    reference = trained_tiny().score(sources, instructions, outputs)
    scores = trained_tiny().to(torch.bfloat16).score(sources, instructions, outputs)
    assert torch.isfinite(scores).all()
    assert float(((scores.float() - reference).abs() / reference.abs()).max()) < BF16_RELATIVE


def test_load_and_create_take_a_dtype_or_its_name(tmp_path):
    metric = i2imetric.load_metric("demo", dtype="bf16")
    assert metric.merged and metric.tower_dtype == torch.bfloat16 and metric.head.norm.weight.dtype == torch.float32
    created = i2imetric.create_metric("test-tiny", dtype=torch.bfloat16)
    assert created.tower_dtype == torch.bfloat16
    assert i2imetric.create_metric("test-tiny", dtype="torch.float32").tower_dtype == torch.float32
    with pytest.raises(i2imetric.ConfigError, match="dtype"):
        i2imetric.create_metric("test-tiny", dtype="int8")
    with pytest.raises(i2imetric.CheckpointError, match="float32"):
        created.save_pretrained(tmp_path / "low")


NO_AMX = {"capability": "AVX2", "x86": True, "amx_bf16": False, "amx_fp16": False, "avx512_bf16": False}


def test_low_precision_on_an_x86_cpu_without_amx_says_it_will_be_slower():
    from i2imetric.models.precision import cpu_matmul_support, cpu_precision_warning

    message = cpu_precision_warning(torch.bfloat16, NO_AMX)
    assert "dtype=bfloat16 on a CPU without AMX" in message and "AVX2" in message and "Use float32" in message
    assert "0.11x" in message and "0.14x" in cpu_precision_warning(torch.float16, NO_AMX)
    assert "dtype=float16" in cpu_precision_warning(torch.float16, {**NO_AMX, "amx_bf16": True})
    assert cpu_precision_warning(torch.bfloat16, {**NO_AMX, "amx_bf16": True}) is None
    assert cpu_precision_warning(torch.float32, NO_AMX) is None
    # Where nothing is known (ARM's own bfloat16 units, a torch without the dtype's probe), nothing is said;
    # each dtype is judged by its own unit's probe.
    assert cpu_precision_warning(torch.bfloat16, {**NO_AMX, "x86": False}) is None
    assert cpu_precision_warning(torch.bfloat16, {**NO_AMX, "amx_bf16": None}) is None
    assert "dtype=bfloat16" in cpu_precision_warning(torch.bfloat16, {**NO_AMX, "amx_fp16": None})
    assert set(cpu_matmul_support()) == set(NO_AMX) and isinstance(cpu_matmul_support()["capability"], str)
    # With avx512_bf16 but no AMX, bfloat16 is still slower, and the message quotes that host's figure.
    avx512 = cpu_precision_warning(torch.bfloat16, {**NO_AMX, "capability": "AVX512", "avx512_bf16": True})
    assert "avx512_bf16" in avx512 and "0.61x" in avx512 and "0.11x" not in avx512


def test_the_first_batch_encoded_in_low_precision_on_cpu_warns_once_and_names_the_callers_line(monkeypatch):
    import i2imetric.models.precision as precision

    monkeypatch.setattr(precision, "cpu_matmul_support", lambda: NO_AMX)
    sources, instructions, outputs = _triplets()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # setup.cfg ignores this warning suite-wide; here it must not be raised
        metric = i2imetric.create_metric("test-tiny", dtype="bf16")  # placed, not yet run: nothing to say
    with pytest.warns(RuntimeWarning, match="dtype=bfloat16 on a CPU without AMX") as caught:
        metric.score(sources, instructions, outputs)
    assert [w.filename for w in caught] == [__file__]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metric.score(sources, instructions, outputs)  # once per placement, not per batch
        metric.encode_instructions(["blur it"])
        i2imetric.create_metric("test-tiny").score(sources, instructions, outputs)  # float32
        monkeypatch.setattr(precision, "cpu_matmul_support", lambda: {**NO_AMX, "amx_bf16": True})
        i2imetric.create_metric("test-tiny", dtype="bf16").score(sources, instructions, outputs)
    # The text tower alone (instruction retrieval, vocabulary probes) warns too.
    monkeypatch.setattr(precision, "cpu_matmul_support", lambda: NO_AMX)
    with pytest.warns(RuntimeWarning, match="dtype=bfloat16 on a CPU without AMX"):
        i2imetric.create_metric("test-tiny", dtype="bf16").encode_instructions(["blur it"])


@pytest.mark.parametrize(("support", "expected"), [
    (NO_AMX, "kernels AVX2, no AMX, no avx512_bf16"),
    ({**NO_AMX, "capability": "AVX512", "amx_bf16": True, "amx_fp16": True, "avx512_bf16": True},
     "kernels AVX512, amx_bf16+amx_fp16, avx512_bf16"),
    ({**NO_AMX, "amx_bf16": None, "amx_fp16": None, "avx512_bf16": None},
     "kernels AVX2, AMX unknown, avx512_bf16 unknown"),
])  # fmt: skip
def test_benchmarks_record_the_cpu_units_that_decide_low_precision_speed(monkeypatch, support, expected):
    from pathlib import Path

    import i2imetric.models.precision as precision

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from _machine import describe_cpu_matmul, describe_machine

    monkeypatch.setattr(precision, "cpu_matmul_support", lambda: support)
    assert describe_cpu_matmul() == expected
    assert f"; {expected})" in describe_machine()


# ----------------------------------------------------------- optimize_for_inference


def test_channels_last_scores_like_the_default_layout():
    metric = i2imetric.create_metric("test-tiny").merge_adapters()
    generator = torch.Generator().manual_seed(0)
    sources = [torch.rand(3, 24, 40, generator=generator) for _ in range(3)]
    outputs = [torch.rand(3, 24, 40, generator=generator) for _ in range(3)]
    texts = ["brighten it", "blur the left half", "x"]
    plain = metric.score(sources, texts, outputs)
    metric.optimize_for_inference(channels_last=True)
    assert metric.clip.model.visual.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(metric.score(sources, texts, outputs), plain, atol=1e-5, rtol=1e-5)
    metric.optimize_for_inference(channels_last=False)
    assert metric.clip.model.visual.conv1.weight.is_contiguous()


def test_compile_compiles_both_towers_in_place_and_keeps_parameter_names(monkeypatch):
    metric = i2imetric.create_metric("test-tiny").merge_adapters()
    names = set(metric.state_dict())
    compiled = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **options: compiled.append((self, options)))
    metric.optimize_for_inference(compile=True, mode="reduce-overhead")
    assert [module for module, _ in compiled] == [metric.clip.model.visual, metric.clip.model.transformer]
    assert all(options == {"mode": "reduce-overhead"} for _, options in compiled)
    assert set(metric.state_dict()) == names  # a compiled metric still saves and loads as before


# ------------------------------------------------------ the text tower's attention


def test_text_attention_gets_contiguous_input_and_computes_what_plain_attention_does():
    from i2imetric.models.encoders import SeqFirstContiguousAttention

    metric = i2imetric.create_metric("test-tiny")
    attentions = [m for m in metric.clip.text_tower.modules() if isinstance(m, torch.nn.MultiheadAttention)]
    assert attentions and all(type(m) is SeqFirstContiguousAttention for m in attentions)
    # The image tower has no mask and keeps torch's fused path, which needs batch-first attention.
    assert all(type(m) is torch.nn.MultiheadAttention for m in metric.clip.model.visual.modules()
               if isinstance(m, torch.nn.MultiheadAttention))  # fmt: skip

    torch.manual_seed(0)
    plain = torch.nn.MultiheadAttention(16, 4, batch_first=True).eval()
    adopted = torch.nn.MultiheadAttention(16, 4, batch_first=True).eval()
    adopted.load_state_dict(plain.state_dict())
    SeqFirstContiguousAttention.adopt(adopted)
    assert set(adopted.state_dict()) == set(plain.state_dict())
    x, memory = torch.randn(3, 7, 16), torch.randn(3, 5, 16)
    causal = torch.full((7, 7), float("-inf")).triu(1)
    for grad in (False, True):
        with torch.set_grad_enabled(grad):
            for args, kwargs in (((x, x, x), {"attn_mask": causal}), ((x, memory, memory), {})):
                expected, expected_weights = plain(*args, **kwargs)
                got, got_weights = adopted(*args, **kwargs)
                torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)
                torch.testing.assert_close(got_weights, expected_weights, atol=1e-6, rtol=1e-5)
