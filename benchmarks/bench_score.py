"""Scoring benchmark of the evaluation engine (results: docs/benchmarks.md, "Scoring").

    python benchmarks/bench_score.py [--quick] [--json] [--threads N] [--dtype bfloat16]

Four measurements, all in one run, all on models at random init (speed does not
depend on the weights), on images written to a temporary folder:

a. end_to_end_vs_bound: ``i2imetric.evaluate`` (score + CLIP-T + CLIP-I) from JPEG files
   on disk to result rows, in triplets/s, over the encoder-only bound: the same forward
   passes on images decoded and preprocessed beforehand. Goal >= 0.90.
b. cache_speedup: 4 outputs per (source, instruction), the engine with its embedding
   cache over the engine without it. Goal >= 1.8.
c. rss_growth_mb: resident memory growth of ``i2imetric eval`` (test-tiny, in a
   subprocess) between its 2,000th and 20,000th row (streaming; the end-of-run summary's
   own peak is reported apart). Goal < 150 MB.
d. peer_ratio: the engine (score + CLIP-T + CLIP-I) over CLIP-T + CLIP-I computed the
   usual way, torchmetrics-CLIPScore style: an equal-size open_clip model, one call per
   batch, images decoded in the loop, nothing cached. On the workload of (b), and
   (peer_ratio_distinct) on the distinct triplets of (a). Goals >= 2.0 and >= 1.1.

``--dtype bfloat16`` runs the metric's towers in bfloat16 (``metric.set_precision``; the head
stays in float32), as ``load_metric(..., dtype=...)`` does, for CPUs with bfloat16 matrix
units (AMX, AVX512-BF16). The peer stays the usual float32 loop, and the same loop in
bfloat16 is timed beside it (``peer_ratio_same_dtype``, ``peer_ratio_distinct_same_dtype``),
so the precision's share of a ratio is visible; ``max_score_change_vs_float32`` says how
far the scores moved.

The timed runs of (a), (b) and (d) are interleaved, one of each per round, and each
figure is the median over the rounds, so a change of load on a shared machine hits every
side alike. ``--json`` ends the output with one JSON object of every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from _machine import describe_machine
from PIL import Image

import i2imetric
from i2imetric.data import Triplet, read_manifest, write_manifest
from i2imetric.evaluation.runner import default_num_workers, evaluate
from i2imetric.io.images import image_to_tensor
from i2imetric.models.precision import resolve_dtype

MODEL = "clip-vit-b-32"
PEER_ARCHITECTURE = "ViT-B-32"  # open_clip's name for the same image and text towers
IMAGE_SIZE = 512  # a typical editing-benchmark resolution
OUTPUTS_PER_SOURCE = 4
MEMORY_MARKS = (2_000, 20_000)


@dataclass
class Sizes:
    triplets: int  # for (a), (b) and (d)
    batch_size: int
    repeats: int


QUICK = Sizes(triplets=24, batch_size=12, repeats=2)
FULL = Sizes(triplets=128, batch_size=32, repeats=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller workloads (a few minutes on 2 CPU cores)")
    parser.add_argument("--json", action="store_true", help="end with one JSON object of all figures")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--num-workers", type=int, default=None, help="the engine's decoding workers")
    parser.add_argument("--dtype", default="float32", help="the metric's tower precision: float32 (default) or bfloat16")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = QUICK if args.quick else FULL
    workers = default_num_workers() if args.num_workers is None else args.num_workers

    figures = {
        "machine": describe_machine(),
        "torch_threads": torch.get_num_threads(),
        "num_workers": workers,
        "batch_size": sizes.batch_size,
        "triplets": sizes.triplets,
        "model": MODEL,
        "dtype": args.dtype,
    }
    with tempfile.TemporaryDirectory(prefix="bench_score_") as work:
        work = Path(work)
        # Merged, as load_metric hands a scorer out: each adapted layer costs a plain one.
        metric = i2imetric.create_metric(MODEL).merge_adapters()
        distinct = _distinct_triplets(work / "distinct", sizes.triplets)
        shared = _shared_source_triplets(work / "shared", sizes.triplets // OUTPUTS_PER_SOURCE)
        dtype = resolve_dtype(args.dtype)
        if dtype != torch.float32:
            figures["max_score_change_vs_float32"] = _score_change(metric, distinct, dtype)
            metric.set_precision(dtype)
        figures |= _throughput(metric, distinct, shared, work, sizes, workers, dtype)
        figures |= _memory(work / "memory")
    _report(figures)
    if args.json:
        print(json.dumps(figures))


# -------------------------------------------------------------------------- data


def _jpeg(path: Path, seed: int) -> str:
    """A smooth random picture (JPEG's usual case, unlike white noise) with a little grain."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize(
        (IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC
    )
    grain = rng.normal(0, 6, (IMAGE_SIZE, IMAGE_SIZE, 3))
    pixels = np.clip(np.asarray(coarse, dtype=float) + grain, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=90)
    return str(path)


def _distinct_triplets(folder: Path, count: int) -> Path:
    """Every triplet its own source, instruction and output: nothing for a cache to reuse."""
    folder.mkdir(parents=True)
    records = [
        Triplet(
            _jpeg(folder / f"s{i}.jpg", i),
            f"edit number {i}: make the object red",
            _jpeg(folder / f"o{i}.jpg", 10_000 + i),
            id=str(i),
        )
        for i in range(count)
    ]
    return _manifest(folder, records)


def _shared_source_triplets(folder: Path, sources: int) -> Path:
    """Four systems' outputs for each (source, instruction), listed system by system as benchmarks do."""
    folder.mkdir(parents=True)
    source_paths = [_jpeg(folder / f"s{i}.jpg", i) for i in range(sources)]
    records = [
        Triplet(
            source_paths[i],
            f"edit number {i}: make the object red",
            _jpeg(folder / f"o{i}_{k}.jpg", 10_000 + OUTPUTS_PER_SOURCE * i + k),
            id=f"{k}/{i}",
            system=f"system{k}",
        )
        for k in range(OUTPUTS_PER_SOURCE)
        for i in range(sources)
    ]
    return _manifest(folder, records)


def _manifest(folder: Path, records: list[Triplet]) -> Path:
    path = folder / "manifest.jsonl"
    write_manifest(path, records)
    return path


def _records(manifest: Path) -> list[Triplet]:
    return read_manifest(manifest).records


# ---------------------------------------------------------------------- timing


def _score_change(metric, distinct: Path, dtype: torch.dtype) -> float:
    """Largest change of a raw score on the first 8 distinct triplets when the towers run in ``dtype``."""
    records = _records(distinct)[:8]
    triplets = ([r.source for r in records], [r.instruction for r in records], [r.output for r in records])
    before = metric.score(*triplets, batch_size=8)
    metric.set_precision(dtype)
    after = metric.score(*triplets, batch_size=8)
    metric.set_precision(torch.float32)
    return float((torch.as_tensor(after) - torch.as_tensor(before)).abs().max())


def _throughput(metric, distinct: Path, shared: Path, work: Path, sizes: Sizes, workers: int,
                dtype: torch.dtype = torch.float32) -> dict:  # fmt: skip
    """(a), (b) and (d): every compared side timed in one interleaved loop, so load changes hit all alike."""
    distinct_records, shared_records = _records(distinct), _records(shared)
    bound = _forward_passes_only(metric, distinct_records, sizes.batch_size)
    peer = _usual_clip_score_loop(sizes.batch_size)
    peer_same_dtype = _usual_clip_score_loop(sizes.batch_size, dtype) if dtype != torch.float32 else None

    def engine(manifest: Path, cached: bool = True) -> Callable[[], None]:
        cache = {} if cached else {"cache_bytes": 0}
        out = work / "results.jsonl"

        def run() -> None:
            out.unlink(missing_ok=True)
            evaluate(
                metric,
                manifest,
                out=out,
                batch_size=sizes.batch_size,
                num_workers=workers,
                baselines="clip_t,clip_i",
                progress=False,
                **cache,
            )

        return run

    bound()  # warm-up: first-call allocations are no one's steady state
    runs = {
        "bound": bound,
        "engine_distinct": engine(distinct),
        "peer_distinct": lambda: peer(distinct_records),
        "engine_cached": engine(shared),
        "engine_uncached": engine(shared, cached=False),
        "peer_shared": lambda: peer(shared_records),
    }
    if peer_same_dtype is not None:
        runs["peer_same_dtype_distinct"] = lambda: peer_same_dtype(distinct_records)
        runs["peer_same_dtype_shared"] = lambda: peer_same_dtype(shared_records)
    seconds = _interleaved_medians(runs, sizes.repeats)
    rate = {
        name: len(distinct_records if "distinct" in name or name == "bound" else shared_records) / value
        for name, value in seconds.items()
    }
    figures = {
        **{f"{name}_triplets_per_s": value for name, value in rate.items()},
        "end_to_end_vs_bound": rate["engine_distinct"] / rate["bound"],
        "cache_speedup": rate["engine_cached"] / rate["engine_uncached"],
        "peer_ratio": rate["engine_cached"] / rate["peer_shared"],
        "peer_ratio_distinct": rate["engine_distinct"] / rate["peer_distinct"],
    }
    if peer_same_dtype is not None:
        figures["peer_ratio_same_dtype"] = rate["engine_cached"] / rate["peer_same_dtype_shared"]
        figures["peer_ratio_distinct_same_dtype"] = rate["engine_distinct"] / rate["peer_same_dtype_distinct"]
    return figures


def _interleaved_medians(runs: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """Median seconds of each run over ``repeats`` rounds, one of each per round."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _forward_passes_only(metric, records: list[Triplet], batch_size: int) -> Callable[[], None]:
    """(a)'s bound: the engine's forward passes on images decoded and preprocessed beforehand."""
    clip_preprocess, _ = metric.image_preprocessors()
    sources = torch.stack([clip_preprocess(image_to_tensor(r.source)) for r in records])
    outputs = torch.stack([clip_preprocess(image_to_tensor(r.output)) for r in records])
    texts = [r.instruction for r in records]

    @torch.inference_mode()
    def run() -> None:
        for i in range(0, len(records), batch_size):
            batch = slice(i, i + batch_size)
            source, output = metric.encode_pixels(sources[batch]), metric.encode_pixels(outputs[batch])
            metric.forward_features(source, metric.encode_instructions(texts[batch]), output)

    return run


def _usual_clip_score_loop(batch_size: int, dtype: torch.dtype = torch.float32) -> Callable[[list[Triplet]], None]:
    """(d)'s peer: CLIP-T and CLIP-I as torchmetrics' CLIPScore computes them, batch by batch, nothing cached
    (in float32, the usual way; ``dtype`` casts the model and its inputs, for the same-precision row)."""
    import open_clip

    model, _, preprocess = open_clip.create_model_and_transforms(PEER_ARCHITECTURE, pretrained=None)
    model.eval().to(dtype)
    tokenizer = open_clip.get_tokenizer(PEER_ARCHITECTURE)

    @torch.inference_mode()
    def run(records: list[Triplet]) -> None:
        for i in range(0, len(records), batch_size):
            batch = records[i : i + batch_size]
            outputs = torch.stack([preprocess(Image.open(r.output).convert("RGB")) for r in batch]).to(dtype)
            sources = torch.stack([preprocess(Image.open(r.source).convert("RGB")) for r in batch]).to(dtype)
            g_output, g_source = model.encode_image(outputs), model.encode_image(sources)
            text = model.encode_text(tokenizer([r.instruction for r in batch]))
            torch.cosine_similarity(g_output, text), torch.cosine_similarity(g_output, g_source)

    return run


# ------------------------------------------------------------------------ memory


def _memory(folder: Path) -> dict:
    """(c) ``i2imetric eval`` on 20k tiny triplets in a subprocess, its RSS sampled as rows appear."""
    folder.mkdir(parents=True)
    manifest = _tiny_triplets_manifest(folder, MEMORY_MARKS[-1])
    out = folder / "results.jsonl"
    command = [
        sys.executable,
        "-m",
        "i2imetric",
        "eval",
        "--metric",
        "untrained:test-tiny",
        "--data",
        str(manifest),
        "--out",
        str(out),
        "--batch-size",
        "64",
        "--baselines",
        "all",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = _sample_rss(process, out)
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"the memory run failed (rc={process.returncode}): {' '.join(command)}")
    first, last = MEMORY_MARKS
    # Streaming is over once the last row is written; then the summary reads the file back
    # and bootstraps its CIs, a bounded one-off reported apart (rss_peak_with_summary_mb).
    streaming = [s for s in samples if first <= s[0] < last]
    return {
        "memory_rows": last,
        "memory_seconds": seconds,
        "rss_mb_at_rows": {
            str(mark): next(s[1] for s in samples if s[0] >= mark) for mark in (2_000, 5_000, 10_000, 15_000)
        },
        "rss_growth_mb": max(s[1] for s in streaming) - streaming[0][1],
        "rss_growth_with_workers_mb": max(s[2] for s in streaming) - streaming[0][2],
        "rss_peak_with_summary_mb": max(s[1] for s in samples),
    }


def _tiny_triplets_manifest(folder: Path, count: int) -> Path:
    """``count`` triplets over 400 sources, 400 outputs and 1000 instructions of 32x32 pixels."""
    rng = np.random.default_rng(0)
    for name in [f"s{i}" for i in range(400)] + [f"o{i}" for i in range(400)]:
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{name}.png")
    records = (
        Triplet(
            str(folder / f"s{i % 400}.png"),
            f"edit {i % 1000}",
            str(folder / f"o{(7 * i) % 400}.png"),
            id=str(i),
            system=f"system{i % 4}",
        )
        for i in range(count)
    )
    path = folder / "manifest.jsonl"
    write_manifest(path, records)
    return path


def _sample_rss(process: subprocess.Popen, out: Path) -> list[tuple[int, float, float]]:
    """``(rows written, RSS of the process MB, RSS of it and its workers MB)`` every 50 ms until it exits."""
    samples, rows, offset = [], 0, 0
    while process.poll() is None:
        if out.exists():
            with open(out, "rb") as file:
                file.seek(offset)
                chunk = file.read()
            rows += chunk.count(b"\n")
            offset += len(chunk)
        main = _rss_mb(process.pid)
        if main is not None:
            samples.append((rows, main, main + sum(_rss_mb(child) or 0.0 for child in _children(process.pid))))
        time.sleep(0.05)
    return samples


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        return None
    return None


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(child) for child in children.read().split()]
    except FileNotFoundError:
        return []


# ---------------------------------------------------------------------- reporting


def _report(figures: dict) -> None:
    goals = {  # the speed issue's goals
        "end_to_end_vs_bound": (">=", 0.90),
        "cache_speedup": (">=", 1.8),
        "peer_ratio": (">=", 2.0),
        "peer_ratio_distinct": (">=", 1.1),
        "rss_growth_mb": ("<", 150.0),
    }
    for name, value in figures.items():
        line = f"{name:<30} {value:.3f}" if isinstance(value, float) else f"{name:<30} {value}"
        if name in goals:
            sign, goal = goals[name]
            met = value >= goal if sign == ">=" else value < goal
            line += f"   (goal {sign} {goal}: {'met' if met else 'MISSED'})"
        print(line)


if __name__ == "__main__":
    main()
