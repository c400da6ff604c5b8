"""LoRA vs full fine-tuning of the same metric: trainable parameters, peak RSS, step time.

    python benchmarks/bench_train.py [--model shapesclip] [--steps 20] [--json]
    python benchmarks/bench_train.py --model clip-vit-b-16 --modes lora --steps 3 --warmup 2 \
        --groups 2 --threads 2 --json     # one mode only (full B/16 on a CPU is very slow)

Each mode runs in its own subprocess, so peak RSS (ru_maxrss) belongs to that mode alone.
Both use the same data (the same ShapesWorld groups, in the same order) and the same model
config; the ratios are full / LoRA, measured in this one run (reported only when both modes
run). The base is random (no download): step time and memory do not depend on the weights.
Images are the model's input size (224 px for clip-vit-b-16).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

import torch


def measure(model: str, mode: str, steps: int, groups: int, warmup: int) -> dict:
    import warnings

    import i2imetric
    from i2imetric_training.config import load_train_config
    from i2imetric_training.data import GroupMixture, ShapesWorldGroups
    from i2imetric_training.train import collate_groups, group_loss

    with warnings.catch_warnings():  # "random base, scores mean nothing": true and beside the point here
        warnings.simplefilter("ignore")
        metric = i2imetric.create_metric(model, trainable=mode)
    metric.train()
    config = load_train_config(None)
    trainable = [p for p in metric.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4)
    image_size = metric.clip.preprocess.size[0]
    mixture = GroupMixture([ShapesWorldGroups(max(32, image_size))], [1.0], seed=0)
    batches = [collate_groups(mixture.batch(step, groups)) for step in range(steps + warmup)]
    timings = []
    for step, (images, instructions, triplets, pairs) in enumerate(batches):
        started = time.perf_counter()
        loss, _ = group_loss(metric(images, instructions, triplets), pairs, config)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step >= warmup:
            timings.append(time.perf_counter() - started)
    count = metric.parameter_count()
    return {
        "mode": mode,
        "image_size": image_size,
        "images_per_step": len(batches[0][0]) if batches else 0,
        "timed_steps": len(timings),
        "trainable_parameters": count.trainable,
        "total_parameters": count.total,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "step_seconds_median": sorted(timings)[len(timings) // 2],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="shapesclip", help="model config (default: shapesclip)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--groups", type=int, default=8, help="groups (source + right + 6 wrong) per step")
    parser.add_argument("--modes", default="lora,full", help="comma-separated: lora, full (default: both)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", choices=["lora", "full"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in ("lora", "full") for m in modes):
        parser.error(f"--modes {args.modes!r}: give lora, full or lora,full")
    if args.child:
        print(json.dumps(measure(args.model, args.child, args.steps, args.groups, args.warmup)))
        return 0

    results = {}
    for mode in modes:
        command = [sys.executable, __file__, "--child", mode, "--model", args.model, "--steps", str(args.steps),
                   "--warmup", str(args.warmup), "--groups", str(args.groups)]
        if args.threads:
            command += ["--threads", str(args.threads)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results[mode] = json.loads(output.strip().splitlines()[-1])
    summary = {
        "model": args.model,
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "command": "python " + " ".join(sys.argv),
        **results,
    }
    if "lora" in results and "full" in results:
        lora, full = results["lora"], results["full"]
        summary["trainable_ratio_full_over_lora"] = full["trainable_parameters"] / lora["trainable_parameters"]
        summary["peak_rss_ratio_full_over_lora"] = full["peak_rss_mb"] / lora["peak_rss_mb"]
        summary["step_time_ratio_full_over_lora"] = full["step_seconds_median"] / lora["step_seconds_median"]
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for mode in modes:
            r = results[mode]
            print(f"{mode:>5}: trainable {r['trainable_parameters']:>10,} / {r['total_parameters']:,}  "
                  f"peak RSS {r['peak_rss_mb']:7.0f} MB  step {1000 * r['step_seconds_median']:7.1f} ms")
        if "step_time_ratio_full_over_lora" not in summary:
            return 0
        print(f"full / LoRA: trainable x{summary['trainable_ratio_full_over_lora']:.1f}, peak RSS "
              f"x{summary['peak_rss_ratio_full_over_lora']:.2f}, step time x{summary['step_time_ratio_full_over_lora']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
