"""GPU precision benchmark: triplets/s and peak memory, bfloat16 towers vs float32 (not run in CI).

    python benchmarks/bench_gpu.py [--models clip-vit-b-32 clip-vit-b-16] [--batch-sizes 64 256]
    python benchmarks/bench_gpu.py --device cpu --quick      # smoke test of the code path

For each model (at random init: speed does not depend on the weights) and batch size, the
metric is built with ``create_metric(..., dtype=...)``, its LoRA merged as
``load_metric`` does, and fed distinct triplets (every source, output and instruction
different, so nothing is shared) already preprocessed on the device: the figure is the
model's throughput, ``encode_pixels`` x2 + ``encode_instructions`` + ``forward_features``,
not decoding. Each configuration runs ``--warmup`` untimed steps, then ``--steps`` timed
ones (synchronised). Peak memory is ``torch.cuda.max_memory_allocated`` over the timed
steps, reset per configuration. Every low-precision row is printed with its ratio against
the float32 row of the same model and batch size, measured in the same process.

Without a CUDA device it exits with a message (status 2), unless ``--device cpu``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--models", nargs="+", default=["clip-vit-b-32", "clip-vit-b-16"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[64, 256])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"], choices=sorted(DTYPES))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="test-tiny, batches 2 and 4, 2 steps: a smoke test")
    parser.add_argument("--json", action="store_true", help="end with one JSON list of every row")
    parser.add_argument("--channels-last", action="store_true",
                        help="also measure each dtype with metric.optimize_for_inference(channels_last=True)")
    parser.add_argument("--compile", action="store_true",
                        help="also measure each dtype with metric.optimize_for_inference(compile=True)")
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.batch_sizes, args.steps, args.warmup = ["test-tiny"], [2, 4], 2, 1
    if "float32" not in args.dtypes:
        args.dtypes = ["float32", *args.dtypes]  # the reference of every ratio
    return args


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(model: str, batch: int, dtype: torch.dtype, device: torch.device, steps: int, warmup: int,
            options: dict | None = None) -> dict:
    import i2imetric

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "random weights": intended here
        metric = i2imetric.create_metric(model, device=str(device), dtype=dtype).merge_adapters()
    metric.optimize_for_inference(**(options or {}))
    clip_preprocess, timm_preprocess = metric.image_preprocessors()
    generator = torch.Generator().manual_seed(0)

    def pixels(preprocess):
        if preprocess is None:
            return None
        return torch.randn(batch, 3, *preprocess.size, generator=generator).to(device)

    sources = (pixels(clip_preprocess), pixels(timm_preprocess))
    outputs = (pixels(clip_preprocess), pixels(timm_preprocess))
    texts = [f"make object {i} look like a watercolour painting" for i in range(batch)]

    def step():
        source = metric.encode_pixels(*sources)
        output = metric.encode_pixels(*outputs)
        text = metric.encode_instructions(texts)
        return metric.forward_features(source, text, output).score

    with torch.inference_mode():
        for _ in range(warmup):
            step()
        _synchronize(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        for _ in range(steps):
            scores = step()
        _synchronize(device)
        seconds = time.perf_counter() - start
    if not torch.isfinite(scores).all():
        raise SystemExit(f"{model} batch {batch} {dtype}: non-finite scores")
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {
        "model": model,
        "batch": batch,
        "dtype": str(dtype).removeprefix("torch.") + "".join(f"+{k}" for k, on in (options or {}).items() if on),
        "triplets_per_s": steps * batch / seconds,
        "peak_mb": peak,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(
            "bench_gpu: no CUDA device is available (torch.cuda.is_available() is False). "
            "This benchmark measures GPU precision; run it on a machine with a GPU, or pass "
            "--device cpu --quick for a smoke test of the code path.",
            file=sys.stderr,
        )
        return 2
    if device.type == "cuda":
        print(f"device: {torch.cuda.get_device_name(device)}, torch {torch.__version__}")
    else:
        from _machine import describe_cpu_matmul

        print(f"device: {device} ({describe_cpu_matmul()}), torch {torch.__version__}")
    rows = []
    print(f"{'model':<16}{'batch':>6}  {'dtype':<24}{'triplets/s':>11}{'x fp32':>8}{'peak MB':>10}{'x fp32':>8}")
    for model in args.models:
        for batch in args.batch_sizes:
            reference = None
            variants = [{}] + [{key: True} for key, on in (("channels_last", args.channels_last),
                                                          ("compile", args.compile)) if on]
            for name in args.dtypes:
                for options in variants:
                    row = measure(model, batch, DTYPES[name], device, args.steps, args.warmup, options)
                    if device.type == "cuda":
                        torch.cuda.empty_cache()  # the metric was freed on return; start the next one clean
                    if name == "float32" and not options:
                        reference = row  # plain float32: the reference of every ratio
                    row["speed_ratio"] = row["triplets_per_s"] / reference["triplets_per_s"]
                    row["memory_ratio"] = row["peak_mb"] / reference["peak_mb"] if row["peak_mb"] else None
                    rows.append(row)
                    peak = f"{row['peak_mb']:10.0f}" if row["peak_mb"] is not None else f"{'-':>10}"
                    memory = f"{row['memory_ratio']:8.2f}" if row["memory_ratio"] is not None else f"{'-':>8}"
                    print(
                        f"{model:<16}{batch:>6}  {row['dtype']:<24}{row['triplets_per_s']:11.1f}"
                        f"{row['speed_ratio']:8.2f}{peak}{memory}",
                        flush=True,
                    )
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
