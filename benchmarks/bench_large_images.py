"""Peak memory of the evaluation engine on 16 Mpx photos, batch 8 over batch 1 (results: docs/benchmarks.md).

    python benchmarks/bench_large_images.py [--json] [--num-workers N]

Writes 8 synthetic 4096x4096 JPEGs to a temporary folder and scores 8 triplets, each with
its own source (the output is the next triplet's source), with ``i2imetric.evaluate``:
untrained test-tiny (no weights needed), decoding in the scoring process by default
(``--num-workers 0``), so a process's peak is the whole run's. Each run is a subprocess of its own and reports its peak resident memory
(``VmHWM`` of ``/proc/self/status``, plus the largest decoding worker's peak from
``getrusage(RUSAGE_CHILDREN)`` when there are workers).

Figures, all from one run of this script:

* large_image_rss_ratio: peak RSS at batch 8 over batch 1, every baseline (the
  default: with L2/PSNR on, files decode whole and sources are kept at the pixel
  baselines' working size). Goal < 1.3.
* large_image_rss_ratio_draft: the same with CLIP-T and CLIP-I only, where JPEGs decode
  at a reduced scale (``draft``).
* peak_mb and seconds of each of the four runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _machine import describe_machine
from PIL import Image

SIDE = 4096
IMAGES = 8
BATCHES = (1, 8)
GOAL = 1.3
RUNS = {"all_baselines": "all", "clip_only": "clip_t,clip_i"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="end with one JSON object of all figures")
    parser.add_argument("--num-workers", type=int, default=0, help="the engine's decoding workers (default 0)")
    parser.add_argument("--child", nargs=4, metavar=("MANIFEST", "OUT", "BATCH", "BASELINES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child, num_workers=args.num_workers)
        return

    figures: dict = {
        "machine": describe_machine(),
        "images": f"{IMAGES} JPEGs of {SIDE}x{SIDE}",
        "num_workers": args.num_workers,
    }
    with tempfile.TemporaryDirectory(prefix="bench_large_") as work:
        work = Path(work)
        manifest = _photos(work)
        for label, baselines in RUNS.items():
            for batch in BATCHES:
                name = f"{label}_batch{batch}"
                start = time.perf_counter()
                peak = _run(manifest, work / f"{name}.jsonl", batch, baselines, args.num_workers)
                figures[f"{name}_peak_mb"] = peak
                figures[f"{name}_seconds"] = time.perf_counter() - start
    figures["large_image_rss_ratio"] = figures["all_baselines_batch8_peak_mb"] / figures["all_baselines_batch1_peak_mb"]
    figures["large_image_rss_ratio_draft"] = figures["clip_only_batch8_peak_mb"] / figures["clip_only_batch1_peak_mb"]
    figures["load_average_at_end"] = round(os.getloadavg()[0], 2)
    for name, value in figures.items():
        line = f"{name:<28} {value:.3f}" if isinstance(value, float) else f"{name:<28} {value}"
        if name.startswith("large_image_rss_ratio"):
            line += f"   (goal < {GOAL}: {'met' if value < GOAL else 'MISSED'})"
        print(line)
    if args.json:
        print(json.dumps(figures))


def _photos(folder: Path) -> Path:
    """``IMAGES`` smooth random 16 Mpx photos with grain, and triplets pairing each with the next."""
    from i2imetric.data import Triplet, write_manifest

    paths = []
    for i in range(IMAGES):
        rng = np.random.default_rng(i)
        coarse = Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).resize((SIDE, SIDE), Image.BICUBIC)
        grain = rng.integers(-8, 9, (SIDE, SIDE, 3), dtype=np.int16)
        pixels = np.clip(np.asarray(coarse, dtype=np.int16) + grain, 0, 255).astype(np.uint8)
        path = folder / f"photo{i}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(str(path))
    records = [
        Triplet(paths[i], f"make object {i} red", paths[(i + 1) % IMAGES], id=str(i), system="s") for i in range(IMAGES)
    ]
    manifest = folder / "manifest.jsonl"
    write_manifest(manifest, records)
    return manifest


def _run(manifest: Path, out: Path, batch: int, baselines: str, num_workers: int) -> float:
    command = [sys.executable, __file__, "--child", str(manifest), str(out), str(batch), baselines]
    command += ["--num-workers", str(num_workers)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"run failed (rc={done.returncode}): {' '.join(command)}\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_mb"]


def _child(manifest: str, out: str, batch: str, baselines: str, num_workers: int) -> None:
    """One run in this fresh process; prints ``{"peak_mb": ...}``."""
    import torch

    import i2imetric
    import i2imetric.evaluation.runner as runner

    torch.set_num_threads(1)
    metric = i2imetric.create_metric("test-tiny", seed=0)
    summary = runner.evaluate(
        metric, manifest, out=out, batch_size=int(batch), num_workers=num_workers, baselines=baselines, progress=False
    )
    assert summary.ok == IMAGES, summary.format_table()
    # The largest child's peak: a decoding worker's (when there are workers; some library also
    # runs a short-lived helper process of ~400 MB here, which is why it is not counted at 0).
    workers_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if num_workers > 0 else 0
    print(json.dumps({"peak_mb": (_vm_hwm_kb() + workers_kb) / 1024}))


def _vm_hwm_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


if __name__ == "__main__":
    main()
