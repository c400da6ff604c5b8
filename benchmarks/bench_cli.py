"""Start-up cost of the command line (results: docs/benchmarks.md, "Command line").

    python benchmarks/bench_cli.py [--rounds N] [--json]

Each command runs in a fresh interpreter, as a user's shell would start it, and is timed
wall-clock from process start to exit. The baseline is ``python -c "import torch"`` in the
same run: a command that needs no model should cost well under one torch import. Rounds
are interleaved (one of each command per round) and each figure is the median, so a change
of load on a shared machine hits every command alike.

Figures (each over the median ``import torch``):

- ``help``: ``i2imetric --help``.
- ``models``: ``i2imetric models`` (lists configs and checkpoint folders). Goal < 0.8.
- ``score_missing_file``: ``i2imetric score`` on a missing source: the error must come
  before any model import. Goal < 0.8.
- ``score_unknown_metric``: ``i2imetric score --metric no-such-scorer`` on existing files.
- ``eval_missing_manifest``: ``i2imetric eval --data missing.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

GOALS = {"models": 0.8, "score_missing_file": 0.8}


def commands(folder: Path) -> dict[str, list[str]]:
    image = folder / "image.png"
    Image.fromarray(np.zeros((16, 16, 3), dtype=np.uint8)).save(image)
    cli = [sys.executable, "-m", "i2imetric"]
    return {
        "import_torch": [sys.executable, "-c", "import torch"],
        "help": [*cli, "--help"],
        "models": [*cli, "models"],
        "score_missing_file": [*cli, "score", "--source", str(folder / "missing.png"), "--instruction", "x",
                               "--output", str(image)],
        "score_unknown_metric": [*cli, "score", "--metric", "no-such-scorer", "--source", str(image),
                                 "--instruction", "x", "--output", str(image)],
        "eval_missing_manifest": [*cli, "eval", "--data", str(folder / "missing.jsonl"), "--out",
                                  str(folder / "out.jsonl")],
    }


def wall_time(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, capture_output=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="end with one JSON object of every figure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        runs = commands(folder)
        wall_time(runs["import_torch"], folder)  # warm the file cache for every side alike
        seconds: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, command in runs.items():
                seconds[name].append(wall_time(command, folder))
    median = {name: statistics.median(values) for name, values in seconds.items()}
    baseline = median.pop("import_torch")
    ratios = {name: value / baseline for name, value in median.items()}
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    print(f"import torch: {baseline:.3f} s (median of {args.rounds})")
    for name, ratio in ratios.items():
        goal = f"  goal < {GOALS[name]}: {'met' if ratio < GOALS[name] else 'NOT met'}" if name in GOALS else ""
        print(f"{name:<24} {median[name]:.3f} s  {ratio:.2f}x import torch{goal}")
    if args.json:
        print(json.dumps({"import_torch_s": baseline, **{f"{k}_s": v for k, v in median.items()},
                          **{f"{k}_ratio": v for k, v in ratios.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
