"""The text tower's attention with frozen weights (results: docs/benchmarks.md, "The text tower's attention").

    python benchmarks/bench_text_attention.py [--rounds N] [--json]

One torch thread, inference mode. Two workloads, each timed in interleaved rounds (one of
each side per round, the median kept), so load changes hit every side alike:

- ``nn.MultiheadAttention(512, 8)`` on ``[12, 77, 512]`` with a causal mask, float32 and
  bfloat16: weights that require gradients (a plain open_clip model), frozen weights (the
  metric before the fix), and frozen weights in ``SeqFirstContiguousAttention`` (now).
  Ratios are over the frozen plain module. The same three on the image tower's shape
  (``nn.MultiheadAttention(768, 12)`` on ``[12, 50, 768]``, no mask), where the frozen
  module takes torch's fused kernel.
- the B/32 text tower of ``clip-vit-b-32`` (random weights, frozen) on 12 instructions,
  with its attention as plain ``nn.MultiheadAttention`` and as the metric now builds it,
  both over the whole 77-token context as open_clip's ``encode_text`` runs it. Ratio:
  plain over now. Also the largest embedding difference between the two. Then the
  metric's own ``encode_text``, which runs only the batch's real tokens (10 here, padding
  cut: ``OpenCLIPEncoder._trim_padding``): ``trim_speedup`` is the full context over that,
  with the largest embedding difference.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

import torch
import torch.nn as nn
from _machine import describe_machine

import i2imetric
from i2imetric.models.encoders import SeqFirstContiguousAttention

INSTRUCTIONS = ["make the sky a deep orange colour please"] * 12


def _seconds(run, rounds: dict, repeats: int) -> None:
    with torch.inference_mode():
        run()  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            run()
    rounds.setdefault(run.__name__, []).append((time.perf_counter() - start) / repeats)


def _as_plain(attention: nn.MultiheadAttention) -> None:
    attention.__class__ = nn.MultiheadAttention
    attention.batch_first = True


def attention_figures(rounds: int, width: int = 512, length: int = 77, causal: bool = True, prefix: str = "attention") -> dict:
    figures = {}
    mask = torch.full((length, length), float("-inf")).triu(1) if causal else None
    for dtype in (torch.float32, torch.bfloat16):
        x = torch.randn(12, length, width, dtype=dtype)
        attn_mask = None if mask is None else mask.to(dtype)
        sides = {}
        for name in ("requires_grad", "frozen", "frozen_contiguous"):
            module = nn.MultiheadAttention(width, width // 64, batch_first=True).eval().to(dtype)
            module.requires_grad_(name == "requires_grad")
            if name == "frozen_contiguous":
                SeqFirstContiguousAttention.adopt(module)

            def run(module=module, x=x, attn_mask=attn_mask):
                module(x, x, x, need_weights=False, attn_mask=attn_mask)

            run.__name__ = name
            sides[name] = run
        times: dict = {}
        for _ in range(rounds):
            for run in sides.values():
                _seconds(run, times, repeats=10)
        medians = {name: statistics.median(values) for name, values in times.items()}
        label = str(dtype).replace("torch.", "")
        for name, value in medians.items():
            figures[f"{prefix}_{label}_{name}_ms"] = 1000 * value
            if name != "frozen":
                figures[f"{prefix}_{label}_{name}_speedup_over_frozen"] = medians["frozen"] / value
    return figures


def text_tower_figures(rounds: int) -> dict:
    figures = {}
    metric = i2imetric.create_metric("clip-vit-b-32").merge_adapters().eval()
    model = metric.clip.model
    tokens = metric.clip.tokenize(INSTRUCTIONS)
    attentions = [m for m in metric.clip.text_tower.modules() if isinstance(m, SeqFirstContiguousAttention)]
    for dtype in (torch.float32, torch.bfloat16):
        model.to(dtype)
        label = str(dtype).replace("torch.", "")
        times: dict = {}

        def plain():
            model.encode_text(tokens)

        def now():
            model.encode_text(tokens)

        def trimmed():
            metric.clip.encode_text(tokens)

        with torch.inference_mode():
            for attention in attentions:
                _as_plain(attention)
            before = model.encode_text(tokens).float()
            for attention in attentions:
                SeqFirstContiguousAttention.adopt(attention)
            after = model.encode_text(tokens).float()
            cut = metric.clip.encode_text(tokens).float()  # normalised: compare with the same
        figures[f"text_tower_{label}_max_embedding_change"] = (after - before).abs().max().item()
        full = torch.nn.functional.normalize(after, dim=-1)
        figures[f"text_tower_{label}_trim_max_embedding_change"] = (cut - full).abs().max().item()
        for _ in range(rounds):
            for attention in attentions:
                _as_plain(attention)
            _seconds(plain, times, repeats=2)
            for attention in attentions:
                SeqFirstContiguousAttention.adopt(attention)
            _seconds(now, times, repeats=2)
            _seconds(trimmed, times, repeats=2)
        figures[f"text_tower_{label}_plain_s"] = statistics.median(times["plain"])
        figures[f"text_tower_{label}_now_s"] = statistics.median(times["now"])
        figures[f"text_tower_{label}_speedup"] = figures[f"text_tower_{label}_plain_s"] / figures[f"text_tower_{label}_now_s"]
        figures[f"text_tower_{label}_trimmed_s"] = statistics.median(times["trimmed"])
        figures[f"text_tower_{label}_trim_speedup"] = (figures[f"text_tower_{label}_now_s"]
                                                       / figures[f"text_tower_{label}_trimmed_s"])
        figures[f"text_tower_{label}_real_tokens"] = int(metric.clip._trim_padding(tokens).shape[1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="end with one JSON object of all figures")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message=".*random weights.*")
    figures = {"machine": describe_machine(), "torch_threads": 1, "rounds": args.rounds}
    figures |= attention_figures(args.rounds)
    # The image tower's shape, no mask: torch's fused kernel, which batch-first input needs.
    figures |= attention_figures(args.rounds, width=768, length=50, causal=False, prefix="image_attention")
    figures |= text_tower_figures(args.rounds)
    for name, value in figures.items():
        print(f"{name:60s} {value:.4g}" if isinstance(value, float) else f"{name:60s} {value}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
