"""The batch evaluation engine: rows, errors, caching, resuming after a kill, sharding, CLI."""

import json
import os
import signal
import subprocess
import sys
import time
from functools import partial

import numpy as np
import pytest
import torch
from helpers import write_png

import i2imetric
from i2imetric.cli.main import main as cli_main
from i2imetric.data import Pairwise, Rating, Triplet, write_manifest
from i2imetric.data.records import record_id
from i2imetric.errors import I2IInputError
from i2imetric.evaluation.runner import evaluate
from i2imetric.io.images import image_to_tensor

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYSTEMS = ("sysA", "sysB", "sysC")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _subprocess_env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}


@pytest.fixture(scope="module")
def metric():
    return i2imetric.create_metric("test-tiny", seed=0)


_png = partial(write_png, size=(20, 24))


def _benchmark_records(folder, sources=4):
    """Every system edits every source: 3 outputs share each (source, instruction)."""
    records = []
    for s in range(sources):
        source = _png(folder / f"source{s}.png", seed=s)
        for k, system in enumerate(SYSTEMS):
            output = _png(folder / f"out{s}_{system}.png", seed=100 + 10 * s + k)
            records.append(Triplet(source, f"make object {s} red", output, id=f"{s}-{system}", system=system))
    return records


@pytest.fixture
def manifest(tmp_path):
    path = tmp_path / "bench.jsonl"
    write_manifest(path, _benchmark_records(tmp_path))
    return path


def _rows(path):
    """The result rows, without the header line."""
    with open(path, encoding="utf-8") as file:
        lines = [json.loads(line) for line in file]
    assert lines[0]["i2imetric_results"] == 1
    return lines[1:]


def _scores(rows):
    return {row["id"]: row["score"] for row in rows}


def _assert_same_rows(rows, expected):
    """Same ids in the same order, scores and baselines equal up to float32 rounding."""
    assert [r["id"] for r in rows] == [r["id"] for r in expected]
    for row, want in zip(rows, expected):
        assert row["status"] == want["status"]
        if want["score"] is not None:
            assert row["score"] == pytest.approx(want["score"], rel=1e-6, abs=1e-6)
        assert row["baselines"].keys() == want["baselines"].keys()
        for name, value in want["baselines"].items():
            assert row["baselines"][name] == (None if value is None else pytest.approx(value, rel=1e-5, abs=1e-6))


# ----------------------------------------------------------------------------- rows


def test_rows_match_metric_score_and_stream_in_input_order(metric, manifest, tmp_path):
    out = tmp_path / "results.jsonl"
    summary = evaluate(metric, manifest, out=out, batch_size=5, num_workers=2, baselines="none")

    rows = _rows(out)
    records = _benchmark_records(tmp_path)
    assert [r["id"] for r in rows] == [r.id for r in records]
    assert all(r["status"] == "ok" and r["error"] is None for r in rows)
    assert set(rows[0]) == {
        "id", "system", "source", "instruction", "output", "status", "error", "score", "subscores", "baselines"
    }  # fmt: skip
    assert set(rows[0]["subscores"]) == {"instruction", "preservation", "quality"}
    assert rows[0]["baselines"] == {}
    expected = metric.score([r.source for r in records], [r.instruction for r in records], [r.output for r in records])
    assert [r["score"] for r in rows] == pytest.approx(expected.tolist(), rel=1e-5, abs=1e-5)
    assert (summary.ok, summary.errors, summary.resumed) == (12, 0, 0)


def test_bad_rows_become_error_rows_naming_the_file_and_the_run_goes_on(metric, tmp_path):
    good = _benchmark_records(tmp_path, sources=1)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"not an image")
    source = good[0].source
    bad = [
        Triplet(source, "make it red", str(tmp_path / "missing.png"), id="missing"),
        Triplet(str(corrupt), "make it red", good[0].output, id="corrupt"),
        Triplet(source, "   ", good[0].output, id="empty"),
        Triplet(None, "a red cube", good[0].output, id="no-source"),
    ]
    out = tmp_path / "results.jsonl"
    summary = evaluate(metric, bad[:2] + good + bad[2:], out=out, batch_size=2, num_workers=1, baselines="all")

    rows = {row["id"]: row for row in _rows(out)}
    assert len(rows) == 7
    errors = {i: rows[i]["error"] for i in ("missing", "corrupt", "empty", "no-source")}
    assert all(rows[i]["status"] == "error" and rows[i]["score"] is None for i in errors)
    assert "missing.png" in errors["missing"] and "no such file" in errors["missing"]
    assert "corrupt.png" in errors["corrupt"]
    assert "empty" in errors["empty"]
    assert "source" in errors["no-source"]
    assert all(rows[r.id]["status"] == "ok" for r in good)
    assert (summary.ok, summary.error_rows, summary.errors) == (3, 4, 4)
    assert "missing.png" in summary.format_table()


def test_a_source_that_cannot_be_read_is_an_error_row_and_the_run_goes_on(metric, tmp_path):
    try:
        with open("/proc/self/mem", "rb") as file:
            file.read(1)
        pytest.skip("needs a file whose read fails with EIO (Linux /proc/self/mem)")
    except OSError:
        pass
    good = _benchmark_records(tmp_path, sources=1)
    unreadable = Triplet("/proc/self/mem", "make it red", good[0].output, id="unreadable")
    out = tmp_path / "results.jsonl"
    # The cache is on, so workers hash each source before decoding it: that read used to end the run.
    summary = evaluate(metric, [unreadable, *good], out=out, batch_size=2, num_workers=1, baselines="none")

    rows = {row["id"]: row for row in _rows(out)}
    assert rows["unreadable"]["status"] == "error" and rows["unreadable"]["error"].startswith("source: /proc/self/mem")
    assert all(rows[r.id]["status"] == "ok" for r in good)
    assert (summary.ok, summary.error_rows) == (3, 1)


def test_fail_fast_raises_on_the_first_bad_row(metric, tmp_path):
    records = _benchmark_records(tmp_path, sources=1)
    records.insert(1, Triplet(records[0].source, "make it red", str(tmp_path / "gone.png"), id="gone"))
    with pytest.raises(I2IInputError, match="gone.*gone.png"):
        evaluate(metric, records, out=tmp_path / "r.jsonl", batch_size=1, num_workers=0, fail_fast=True)


def test_refuses_to_write_results_over_the_manifest(metric, manifest):
    with pytest.raises(I2IInputError, match="overwrite the manifest"):
        evaluate(metric, manifest, out=manifest, num_workers=0)


def test_unreadable_manifest_lines_are_counted_as_errors(metric, manifest, tmp_path):
    with open(manifest, "a", encoding="utf-8") as file:
        file.write("{not json\n")
    summary = evaluate(metric, manifest, out=tmp_path / "r.jsonl", num_workers=0, baselines="none")
    assert summary.ok == 12 and summary.error_rows == 0 and summary.errors == 1
    assert summary.skipped_lines[0][0].endswith(":14")


def test_pairwise_gives_two_rows_and_rating_one(metric, tmp_path):
    triplet = _benchmark_records(tmp_path, sources=1)
    source, out_a, out_b = triplet[0].source, triplet[0].output, triplet[1].output
    records = [
        Pairwise(source, "make it red", out_a, out_b, label="a", id="p", extra={"system_a": "x", "system_b": "y"}),
        Rating(source, "make it red", out_b, value=3.0, system="y", id="r"),
        Triplet(source, "make it red", out_a),  # no id: named by its content
        Triplet(source, "make it red", out_b, id="r"),  # a repeated id: made unique
    ]
    out = tmp_path / "r.jsonl"
    evaluate(metric, records, out=out, num_workers=0, baselines="none")

    rows = _rows(out)
    unnamed = record_id(records[2])
    assert unnamed.startswith("#") and len(unnamed) == 17
    assert [(r["id"], r.get("system")) for r in rows] == [
        ("p/a", "x"),
        ("p/b", "y"),
        ("r", "y"),
        (unnamed, None),
        ("r#2", None),
    ]
    scores = _scores(rows)
    assert scores["p/a"] == pytest.approx(scores[unnamed], abs=1e-6)
    assert scores["p/b"] == pytest.approx(scores["r"], abs=1e-6) == pytest.approx(scores["r#2"], abs=1e-6)


def test_summary_gives_mean_and_bootstrap_ci_per_system(metric, manifest, tmp_path):
    out = tmp_path / "r.jsonl"
    summary = evaluate(metric, manifest, out=out, num_workers=0, baselines="clip_t")

    by_system = {s.system: s for s in summary.systems}
    assert list(by_system) == [*SYSTEMS, "all"]
    scores_a = [r["score"] for r in _rows(out) if r["system"] == "sysA"]
    a = by_system["sysA"]
    assert a.count == 4 and a.mean == pytest.approx(np.mean(scores_a))
    assert a.ci95[0] <= a.mean <= a.ci95[1]
    assert set(a.baselines) == {"clip_t"}
    data = summary.to_dict()
    assert json.loads(json.dumps(data)) == data
    table = summary.format_table()
    assert "sysA" in table and "95% CI" in table and "12 ok, 0 error" in table


# ---------------------------------------------------------------------------- cache


def _count_encoded_images(metric, monkeypatch):
    counts = []
    original = metric.encode_pixels

    def counting(clip_pixels, timm_pixels=None):
        counts.append(len(clip_pixels))
        return original(clip_pixels, timm_pixels)

    monkeypatch.setattr(metric, "encode_pixels", counting)
    return counts


def test_cache_encodes_each_source_once_and_changes_no_score(metric, manifest, tmp_path, monkeypatch):
    counts = _count_encoded_images(metric, monkeypatch)
    evaluate(metric, manifest, out=tmp_path / "cached.jsonl", batch_size=2, num_workers=0, baselines="all")
    encoded_with_cache = sum(counts)
    counts.clear()
    evaluate(
        metric, manifest, out=tmp_path / "plain.jsonl", batch_size=2, num_workers=0, baselines="all", cache_bytes=0
    )

    assert encoded_with_cache == 12 + 4  # every output, and each of the 4 sources once
    assert sum(counts) == 12 + 12  # without the cache every triplet encodes its source
    cached, plain = _rows(tmp_path / "cached.jsonl"), _rows(tmp_path / "plain.jsonl")
    _assert_same_rows(cached, plain)


def _count_decoded(monkeypatch):
    """Roles ("source", "output") of every image file decoded, in workers or by the engine."""
    from i2imetric.evaluation.items import DecodingDataset

    roles, original = [], DecodingDataset._load
    monkeypatch.setattr(DecodingDataset, "_load", lambda self, path, role: roles.append(role) or original(self, path, role))
    return roles


def test_workers_send_a_source_once_and_the_engine_decodes_it_again_once_evicted(metric, manifest, tmp_path,
                                                                                   monkeypatch):  # fmt: skip
    from i2imetric.evaluation.baselines import BASELINES

    features = [name for name, b in BASELINES.items() if b.kind == "features" and not b.needs_timm]
    decoded = _count_decoded(monkeypatch)
    run = partial(evaluate, metric, manifest, batch_size=2, num_workers=0, baselines=features)
    run(out=tmp_path / "plain.jsonl", cache_bytes=0)
    # Listed source by source in batches of 2, sources 0 and 2 straddle two batches each:
    # without a cache each of the 6 batches decodes its sources, 8 in all.
    assert decoded.count("source") == 8
    decoded.clear()
    run(out=tmp_path / "cached.jsonl")
    assert decoded.count("source") == 4 and decoded.count("output") == 12  # each source decoded once
    decoded.clear()
    run(out=tmp_path / "evicting.jsonl", cache_entries=1)  # each batch's text evicts its source
    assert decoded.count("source") == 4 + 4  # the engine decoded each repeat itself
    plain = _rows(tmp_path / "plain.jsonl")
    _assert_same_rows(_rows(tmp_path / "cached.jsonl"), plain)
    _assert_same_rows(_rows(tmp_path / "evicting.jsonl"), plain)


def test_an_evicted_source_that_no_longer_decodes_fails_its_rows_and_the_run_goes_on(metric, manifest, tmp_path,
                                                                                       monkeypatch):  # fmt: skip
    from i2imetric.evaluation.items import DecodingDataset

    def gone(self, path):
        raise I2IInputError(f"source: {path}: no such file")

    monkeypatch.setattr(DecodingDataset, "prepare_source", gone)  # only the engine's own decode calls it
    evaluate(metric, manifest, out=tmp_path / "out.jsonl", batch_size=2, num_workers=0, baselines=["clip_t"],
             cache_entries=1)  # fmt: skip
    rows = {row["id"]: row for row in _rows(tmp_path / "out.jsonl")}
    assert len(rows) == 12
    # Each source's items after its first batch came without pixels, and the cache had evicted it.
    failed = {key for key, row in rows.items() if row["status"] == "error"}
    assert failed == {"0-sysC", "1-sysB", "1-sysC", "2-sysC", "3-sysB", "3-sysC"}
    assert "source0.png: no such file" in rows["0-sysC"]["error"] and "source3.png" in rows["3-sysC"]["error"]
    assert all(rows[key]["score"] is not None for key in rows.keys() - failed)


class _RecordingAutocast:
    """Stands in for ``torch.autocast`` (no GPU here): counts how deep in autocast each call runs."""

    depth = 0
    entered: list = []

    def __init__(self, device_type, dtype=None, **kwargs):
        self.entered.append((device_type, dtype))

    def __enter__(self):
        type(self).depth += 1

    def __exit__(self, *exc):
        type(self).depth -= 1


def _record_depth(target, name, calls, monkeypatch):
    original = getattr(target, name)

    def recording(*args, **kwargs):
        calls.append((name, _RecordingAutocast.depth))
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, recording)


def test_on_cuda_only_the_tower_encodes_run_under_autocast(metric, tmp_path, monkeypatch):
    from dataclasses import replace

    from i2imetric.evaluation.baselines import resolve_baselines
    from i2imetric.evaluation.engine import FeatureCache, ScoringEngine
    from i2imetric.evaluation.items import DecodingDataset, collate, items_from_records

    records = _benchmark_records(tmp_path, sources=2)
    for record in records[:2]:
        record.extra.update(source_caption="a cube", target_caption="a red cube")  # so captions are encoded too
    calls = []
    baselines = resolve_baselines("clip_t,clip_i,clip_dir_captions", has_timm=False)
    baselines = [replace(b, compute=partial(lambda b, e: calls.append((b.name, _RecordingAutocast.depth)) or b.compute(e), b))
                 for b in baselines]  # fmt: skip
    for name in ("encode_pixels", "encode_instructions", "forward_features"):
        _record_depth(metric, name, calls, monkeypatch)
    dataset = DecodingDataset(*metric.image_preprocessors(), {}, skip_sent_sources=True)
    batch = collate(dataset.__getitems__(list(items_from_records(records))))

    def score(cache, device):
        engine = ScoringEngine(metric, baselines, cache, decoder=dataset)
        engine.device, engine.autocast_dtype = torch.device(device), torch.bfloat16  # as a CUDA metric's engine
        return engine.score(batch)

    expected = score(FeatureCache(2**30, 1000), "cpu")
    monkeypatch.setattr(torch, "autocast", _RecordingAutocast)
    for cache in (FeatureCache(2**30, 1000), None):
        calls.clear()
        _RecordingAutocast.entered.clear()
        rows = score(cache, "cuda")
        assert set(_RecordingAutocast.entered) == {("cuda", torch.bfloat16)}
        depth = {}
        for name, level in calls:
            depth.setdefault(name, set()).add(level)
        assert depth["encode_pixels"] == depth["encode_instructions"] == {1}  # instructions and captions
        # The head, the prior and the baselines compare unit vectors in float32: never under autocast.
        assert depth["forward_features"] == depth["clip_t"] == depth["clip_i"] == depth["clip_dir_captions"] == {0}
        assert _RecordingAutocast.depth == 0
        assert [row["score"] for row in rows] == pytest.approx([row["score"] for row in expected], abs=1e-6)


def test_the_engine_autocasts_the_towers_on_cuda_only_and_in_their_own_low_precision():
    from types import SimpleNamespace

    from i2imetric.evaluation.engine import tower_autocast_dtype

    def fake(device, towers):
        return SimpleNamespace(device=torch.device(device), tower_dtype=towers)

    assert tower_autocast_dtype(fake("cuda", torch.float32)) == torch.bfloat16
    assert tower_autocast_dtype(fake("cuda", torch.float16)) == torch.float16
    assert tower_autocast_dtype(fake("cuda", torch.bfloat16)) == torch.bfloat16
    assert tower_autocast_dtype(fake("cpu", torch.bfloat16)) is None
    assert tower_autocast_dtype(fake("cpu", torch.float32)) is None


def test_feature_cache_evicts_least_recently_used_by_entries_and_bytes():
    from i2imetric.evaluation.engine import FeatureCache

    cache = FeatureCache(max_bytes=3 * 40, max_entries=2)
    for key in "ab":
        cache.put(key, torch.zeros(10))  # 40 bytes each
    assert cache.get("a") is not None  # "b" is now the least recently used
    cache.put("c", torch.zeros(10))
    assert cache.get("b") is None and len(cache) == 2
    cache.put("big", torch.zeros(25))  # 100 bytes: only it fits
    assert len(cache) == 1 and cache.bytes == 100


# --------------------------------------------------------------------------- resume


def _many_triplets_manifest(folder, count):
    """``count`` triplets over a few tiny files: slow enough in total to be killed midway."""
    sources = [_png(folder / f"s{i}.png", seed=i, size=(8, 8)) for i in range(5)]
    outputs = [_png(folder / f"o{i}.png", seed=50 + i, size=(8, 8)) for i in range(7)]
    records = [
        Triplet(sources[i % 5], f"edit number {i % 11}", outputs[i % 7], id=f"t{i}", system=SYSTEMS[i % 3])
        for i in range(count)
    ]
    path = folder / "many.jsonl"
    write_manifest(path, records)
    return path


def _wait_for_rows(path, minimum, process, timeout=180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= minimum:
            return
        if process.poll() is not None:
            pytest.fail(f"the run ended (rc={process.returncode}) before it could be killed")
        time.sleep(0.02)
    pytest.fail("no rows appeared in time")


@pytest.mark.slow
def test_rerun_after_sigkill_equals_an_uninterrupted_run(metric, tmp_path):
    manifest = _many_triplets_manifest(tmp_path, count=400)
    expected_out = tmp_path / "expected.jsonl"
    evaluate(metric, manifest, out=expected_out, batch_size=1, num_workers=0, baselines="none")
    expected = _rows(expected_out)

    out = tmp_path / "results.jsonl"
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
        "1",
        "--num-workers",
        "0",
        "--baselines",
        "none",
    ]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=_subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for_rows(out, minimum=1 + 5, process=process)  # the header, then 5 rows
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    written = len(_rows(out)) if out.read_bytes().endswith(b"\n") else None
    with open(out, "a", encoding="utf-8") as file:
        file.write('{"id": "t399", "status": "ok", "sco')  # as if killed in the middle of a write
    assert written is None or written < len(expected)

    summary = evaluate(metric, manifest, out=out, batch_size=1, num_workers=0, baselines="none")

    rows = _rows(out)
    _assert_same_rows(rows, expected)
    assert len({r["id"] for r in rows}) == len(rows) == 400
    assert 5 <= summary.resumed < 400 and summary.ok == 400


def test_resume_merges_rows_left_in_shard_files_by_an_interrupted_sharded_run(metric, manifest, tmp_path):
    expected_out = tmp_path / "expected.jsonl"
    evaluate(metric, manifest, out=expected_out, num_workers=0, baselines="none")
    expected = _rows(expected_out)
    header = expected_out.read_text().splitlines(keepends=True)[0]  # the same metric, baselines and manifest
    out = tmp_path / "results.jsonl"
    with open(tmp_path / "results.jsonl.rank1.jsonl", "w", encoding="utf-8") as shard:
        shard.write(header)
        shard.writelines(json.dumps(row) + "\n" for row in expected[1::2])

    summary = evaluate(metric, manifest, out=out, num_workers=0, baselines="none")

    _assert_same_rows(_rows(out), expected)
    assert summary.resumed == 6
    assert not (tmp_path / "results.jsonl.rank1.jsonl").exists()


def test_of_two_shards_failing_on_one_item_the_newer_attempt_counts(tmp_path):
    import os

    from i2imetric.evaluation.results import kept_rows, shard_files

    out = tmp_path / "results.jsonl"
    older, newer = tmp_path / "results.jsonl.rank3.jsonl", tmp_path / "results.jsonl.rank0.jsonl"
    for path, error in ((older, "CUDA out of memory"), (newer, "cannot decode out.png")):
        path.write_text(json.dumps({"id": "a", "status": "error", "error": error}) + "\n")
    os.utime(older, ns=(1_000_000_000, 1_000_000_000))  # a 4-process run, before a 1-process rerun
    assert shard_files(out) == [older, newer]
    assert kept_rows([out, *shard_files(out)])["a"]["error"] == "cannot decode out.png"


def test_csv_output_is_written_whole_and_resumes(metric, manifest, tmp_path):
    out = tmp_path / "results.csv"
    first = evaluate(metric, manifest, out=out, num_workers=0, baselines="clip_t,psnr")
    content = out.read_text()
    again = evaluate(metric, manifest, out=out, num_workers=0, baselines="clip_t,psnr")

    header = content.splitlines()[0].split(",")
    assert header[:5] == ["id", "system", "status", "error", "score"]
    assert "subscores.preservation" in header and "baselines.psnr" in header
    assert len(content.splitlines()) == 13
    assert again.resumed == 12 and out.read_text() == content
    assert [s.mean for s in again.systems] == pytest.approx([s.mean for s in first.systems])


def test_parquet_output_round_trips(metric, manifest, tmp_path):
    pytest.importorskip("pyarrow")
    out = tmp_path / "results.parquet"
    first = evaluate(metric, manifest, out=out, num_workers=0, baselines="clip_i")
    again = evaluate(metric, manifest, out=out, num_workers=0, baselines="clip_i")
    assert first.ok == again.ok == again.resumed == 12
    assert [s.mean for s in again.systems] == pytest.approx([s.mean for s in first.systems])


# ------------------------------------------------------------------------- sharding


@pytest.mark.slow
def test_sharded_two_process_run_with_accelerate_launch_equals_single_process(metric, manifest, tmp_path):
    single_out = tmp_path / "single.jsonl"
    evaluate(metric, manifest, out=single_out, num_workers=0, baselines="clip_t,l2")
    out = tmp_path / "sharded.jsonl"
    # `accelerate launch --cpu` runs one process (it shards CPUs only through MPI); --multi_gpu
    # starts torchrun's process group, which i2imetric forms on the CPU when there is no CUDA.
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        "0",
        "-m",
        "i2imetric",
        "eval",
        "--metric",
        "untrained:test-tiny",
        "--data",
        str(manifest),
        "--out",
        str(out),
        "--num-workers",
        "0",
        "--baselines",
        "clip_t,l2",
    ]
    result = subprocess.run(command, cwd=REPO_ROOT, env=_subprocess_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    rows, expected = _rows(out), _rows(single_out)
    _assert_same_rows(rows, expected)
    assert not list(tmp_path.glob("sharded.jsonl.rank*"))
    assert "sysA" in result.stdout  # the summary, printed once by the main process
    assert result.stdout.count("95% CI") == 1


# ------------------------------------------------------------------------------ CLI


def test_score_manifest_command_runs_through_the_engine(manifest, tmp_path, capsys):
    out = tmp_path / "scores.jsonl"
    rc = cli_main(["score", "--metric", "untrained:test-tiny", "--manifest", str(manifest), "--out", str(out), "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ok"] == 12 and summary["errors"] == 0
    assert all(row["baselines"] == {} for row in _rows(out))


def test_eval_command_writes_baselines_and_exits_1_on_error_rows(manifest, tmp_path, capsys):
    with open(manifest, "a", encoding="utf-8") as file:
        file.write(
            json.dumps(
                {"type": "triplet", "id": "bad", "source": "source0.png", "instruction": "x", "output": "nope.png"}
            )
            + "\n"
        )
    out = tmp_path / "results.jsonl"
    rc = cli_main(
        [
            "eval",
            "--metric",
            "untrained:test-tiny",
            "--data",
            str(manifest),
            "--out",
            str(out),
            "--baselines",
            "clip_t,l2",
            "--num-workers",
            "0",
        ]
    )
    assert rc == 1
    rows = _rows(out)
    assert set(rows[0]["baselines"]) == {"clip_t", "l2"}
    assert rows[-1]["status"] == "error" and "nope.png" in rows[-1]["error"]
    assert "12 ok, 1 error" in capsys.readouterr().out


def test_eval_command_rejects_an_unknown_baseline(manifest, tmp_path, capsys):
    rc = cli_main(
        [
            "eval",
            "--metric",
            "untrained:test-tiny",
            "--data",
            str(manifest),
            "--out",
            str(tmp_path / "r.jsonl"),
            "--baselines",
            "fid",
        ]
    )
    assert rc == 2 and "unknown baseline" in capsys.readouterr().err


# ---------------------------------------------------------------------- torchmetrics


def test_torchmetrics_class_keeps_running_sums(metric, tmp_path):
    from i2imetric.integrations.torchmetrics import I2IMetricScore

    records = _benchmark_records(tmp_path, sources=2)
    sources = [image_to_tensor(r.source) for r in records]
    outputs = [image_to_tensor(r.output) for r in records]
    instructions = [r.instruction for r in records]
    tracker = I2IMetricScore(metric)
    tracker.update(sources[:4], instructions[:4], outputs[:4])
    tracker.update(sources[4:], instructions[4:], outputs[4:])

    expected = metric.score(sources, instructions, outputs).double()
    result = tracker.compute()
    assert int(result["count"]) == 6
    assert float(result["mean"]) == pytest.approx(float(expected.mean()), rel=1e-6)
    assert float(result["std"]) == pytest.approx(float(expected.std()), rel=1e-5)
    assert all(state.ndim == 0 for state in (tracker.total, tracker.total_squares, tracker.count))
    tracker.reset()
    assert int(tracker.count) == 0 and float(tracker.total) == 0.0


def test_torchmetrics_tracker_holds_no_parameters_and_leaves_the_scorer_merged(metric):
    from i2imetric.integrations.torchmetrics import I2IMetricScore

    assert I2IMetricScore(metric.train()).metric.training is False  # a scorer handed over training scores in eval mode
    tracker = I2IMetricScore(metric.merge_adapters())  # as load_metric returns it
    model = torch.nn.Module()  # stands in for a LightningModule that logs the tracker
    model.layer, model.tracker = torch.nn.Linear(2, 2), tracker
    # The scorer's ~380k trainable parameters used to land in the model's optimizer and checkpoints.
    assert list(tracker.parameters()) == [] and len(list(model.parameters())) == 2
    assert not any(key.startswith("tracker.") for key in model.state_dict())
    assert tracker.metric is metric and metric.training is False and metric.merged
    for mode in (True, False, True):
        model.train(mode)
        # model.train() used to reach the scorer and unmerge its LoRA adapters (slower scoring).
        assert tracker.training is mode and metric.training is False and metric.merged
    image = torch.rand(3, 20, 24)
    tracker.update([image], ["make it red"], [image])
    assert int(tracker.compute()["count"]) == 1


def test_torchmetrics_tracker_moves_the_scorer_with_its_device_not_its_dtype(metric):
    from i2imetric.integrations.torchmetrics import I2IMetricScore

    tracker = I2IMetricScore(metric)
    model = torch.nn.Module()
    model.tracker = tracker
    model.double()  # a dtype cast through a parent: the scorer keeps its own precision
    assert metric.tower_dtype == torch.float32 and next(metric.head.parameters()).dtype == torch.float32
    assert metric.device.type == "cpu"
    # No second real device on a CPU machine: "meta" is one, and a move to it shows the scorer follows.
    model.to("meta")
    assert metric.device.type == "meta" and tracker.total.device.type == "meta"
    assert next(metric.clip.parameters()).device.type == "meta"
