"""``i2imetric bench``: the editing benchmarks under their published protocols, and their table.

Examples::

    i2imetric bench --metric demo --suite editing --data-root ~/benchmarks --out bench/   # resumable
    i2imetric bench --metric demo --bench genai-bench --baselines all                     # from the Hub
    i2imetric bench table bench/*.json --markdown
    i2imetric bench table bench/*.json --judges results/image_edition/*/pairwise.jsonl   # judges, same items
    accelerate launch --multi_gpu --num_processes 4 -m i2imetric bench --metric demo --suite editing --data-root DIR

``--data-root DIR`` holds one folder per benchmark, named as ``--bench`` names them
(``DIR/genai-bench/``, ``DIR/editreward-bench-tiger/`` ...), each in its upstream
layout. Without it, the benchmarks on the Hugging Face Hub are downloaded (offline, the
command fails at once and says what to download). Everything the command can check
without torch (names, folders, layouts, the data itself) is checked before the metric
is loaded.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import I2IError, I2IInputError
from .common import add_metric_argument, metric_from_argument

HELP = "the editing benchmarks under their published protocols, and `bench table` of the results"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "words",
        nargs="*",
        metavar="table FILE",
        help="`table FILE...`: print the table of bench JSON files instead of running benchmarks",
    )
    add_metric_argument(parser)
    parser.add_argument("--suite", help="editing (GenAI-Bench, ImagenHub, both EditReward-Benches, DiscEdit, "
                        "AURORA-Bench), perceptual (NIGHTS, BAPPS) or all")
    parser.add_argument("--bench", help="comma-separated benchmarks: genai-bench, imagenhub, editreward-bench-tiger, "
                        "editscore-bench, discedit, aurora-bench, nights, bapps")
    parser.add_argument("--data-root", help="folder with one subfolder per benchmark, in its upstream layout "
                        "(default: download the Hub's from Hugging Face)")
    parser.add_argument("--out", default="bench", help="where results, manifests and <benchmark>.json go (default: bench)")
    parser.add_argument("--baselines", default="all", help="baselines scored beside the metric: all (default), none, "
                        "or names (clip_t, clip_i, clip_dir, ...)")
    parser.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples (default: 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and of GenAI-Bench's validation split")
    parser.add_argument("--validation-fraction", type=float, default=0.5,
                        help="share of GenAI-Bench's votes that fits the four-way thresholds (default: 0.5)")
    parser.add_argument("--judges", nargs="+", metavar="FILE", help="GenAI-Bench judge files "
                        "(results/image_edition/<judge>/pairwise.jsonl) to table beside the metric on the same "
                        "genai-bench votes as each protocol (four-way: GenAI-Bench's own rule; editreward: the "
                        "verdict's side); with `bench table`, added to genai-bench results written earlier")
    parser.add_argument("--limit", type=int, help="score only the first N items of each benchmark (a quick look)")
    parser.add_argument("--batch-size", type=int, default=32, help="outputs per forward pass (default: 32)")
    parser.add_argument("--num-workers", type=int, default=None, help="image-decoding processes (default: half the cores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    parser.add_argument("--markdown", action="store_true", help="table: Markdown (default: aligned text)")
    parser.add_argument("--all-protocols", action="store_true", help="table: every protocol, not only the headline ones")
    parser.add_argument("--ci", action="store_true", help="table: show each value's 95%% bootstrap interval")


def run(args: argparse.Namespace) -> int:
    if args.words:
        if args.words[0] != "table":
            raise I2IInputError(f"unknown bench action {args.words[0]!r}; the one action is `i2imetric bench table FILE...`")
        return _table(args.words[1:], args)
    return _bench(args)


def _table(paths: list[str], args: argparse.Namespace) -> int:
    from ..meta_eval.bench_table import format_bench_table, read_bench_files

    reports = read_bench_files(paths)
    if args.judges:
        from ..meta_eval.bench_judges import add_judges
        from ..meta_eval.judges import read_genai_bench_judge

        judged = [(path, report) for path, report in zip(paths, reports) if report["benchmark"] == "genai-bench"]
        if not judged:
            raise I2IInputError("--judges are GenAI-Bench judge files: give a genai-bench.json among the bench files")
        judges = [read_genai_bench_judge(path) for path in args.judges]
        for path, report in judged:
            add_judges(report, judges, path)  # the table only: the files are not rewritten
    print(format_bench_table(reports, markdown=args.markdown, all_protocols=args.all_protocols, ci=args.ci))
    return 0


def _bench(args: argparse.Namespace) -> int:
    import os

    from ..meta_eval.benchmarks import find_data, resolve_names

    if args.bootstrap < 1:
        raise I2IInputError(f"--bootstrap {args.bootstrap}: give a positive number of resamples")
    if not 0.0 < args.validation_fraction < 1.0:
        raise I2IInputError(f"--validation-fraction {args.validation_fraction}: give a share in (0, 1)")
    if args.limit is not None and args.limit < 2:
        raise I2IInputError(f"--limit {args.limit}: give at least 2 items (a bootstrap needs two)")
    if args.data_root is not None and not os.path.isdir(args.data_root):
        raise I2IInputError(f"--data-root {args.data_root}: no such folder")
    benchmarks = resolve_names(args.suite, args.bench)
    judges = _judges(args.judges, benchmarks)
    # Every benchmark's data is found and read before the metric is loaded, and all
    # that is missing is said at once, so one run fixes them all.
    problems, ready = [], []
    for benchmark in benchmarks:
        try:
            root = find_data(benchmark, args.data_root)
            ready.append((benchmark, root, benchmark.load(root, os.path.join(args.out, benchmark.name))))
        except I2IError as problem:
            problems.append(f"{benchmark.name}: {problem}" if not str(problem).startswith(benchmark.name) else str(problem))
    if problems:
        present = [b.name for b, _, _ in ready]
        hint = f" (these are ready: --bench {','.join(present)})" if present else ""
        raise I2IInputError(" | ".join(problems) + hint)

    from ..evaluation.runner import process_state
    from ..meta_eval.bench_run import run_benchmark, summarize
    from ..meta_eval.bench_table import format_bench_table

    state = process_state()
    # Under `accelerate launch` each process must use its own device; alone, keep --device's default.
    device = args.device or (str(state.device) if state.num_processes > 1 else None)
    metric = metric_from_argument(args.metric, device)
    reports = []
    for benchmark, root, loaded in ready:
        report = run_benchmark(
            metric,
            benchmark,
            loaded,
            args.out,
            metric_name=args.metric,
            data_root=root,
            baselines=args.baselines,
            n_resamples=args.bootstrap,
            seed=args.seed,
            validation_fraction=args.validation_fraction,
            limit=args.limit,
            batch_size=args.batch_size,
            num_workers=args.num_workers,
            progress=not args.no_progress,
            judges=judges if benchmark.name == "genai-bench" else (),
        )
        if report is None:
            continue  # another process of an `accelerate launch`: the main one reports
        reports.append(report)
        print(summarize(report))
        print(f"  -> {os.path.join(args.out, benchmark.name + '.json')}", file=sys.stderr)
    if any(report["protocols"] for report in reports):
        print()
        print(format_bench_table(reports, markdown=args.markdown, ci=args.ci))
    return 0


def _judges(paths: list[str] | None, benchmarks) -> list:
    if not paths:
        return []
    if "genai-bench" not in [b.name for b in benchmarks]:
        raise I2IInputError("--judges are GenAI-Bench judge files: add genai-bench to --bench (or use --suite editing)")
    from ..meta_eval.judges import read_genai_bench_judge

    return [read_genai_bench_judge(path) for path in paths]
