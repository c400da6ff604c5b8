"""Result files are never silently wrong: identity headers, the run lock, stable ids, torn tails, inputs per row."""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from functools import partial

import pytest
import torch
from helpers import write_png

import i2imetric
from i2imetric.cli.main import main as cli_main
from i2imetric.data import Pairwise, Triplet, write_manifest
from i2imetric.data.records import record_id
from i2imetric.errors import I2IInputError, ResultsError
from i2imetric.evaluation.results import ResultsLock, header_skipped_lines, read_header, read_rows
from i2imetric.evaluation.runner import evaluate, metric_identity

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def metric():
    return i2imetric.create_metric("test-tiny", seed=0)


_png = partial(write_png, size=(12, 12))


def _triplets(folder, count, ids=True):
    sources = [_png(folder / f"s{i}.png", seed=i) for i in range(3)]
    outputs = [_png(folder / f"o{i}.png", seed=50 + i) for i in range(5)]
    return [
        Triplet(sources[i % 3], f"edit number {i}", outputs[i % 5], id=f"t{i}" if ids else None) for i in range(count)
    ]


@pytest.fixture
def manifest(tmp_path):
    path = tmp_path / "bench.jsonl"
    write_manifest(path, _triplets(tmp_path, 6))
    return path


def _lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _run(metric, manifest, out, **options):
    return evaluate(metric, manifest, out=out, num_workers=0, progress=False, **{"baselines": "none", **options})


def _cli_eval(manifest, out, metric="untrained:test-tiny", *extra):
    argv = ["eval", "--metric", metric, "--data", str(manifest), "--out", str(out), "--num-workers", "0"]
    return cli_main([*argv, "--baselines", "none", *extra])


def _subprocess_env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1"}


# ------------------------------------------------------------------ 1. identity header


def test_header_records_metric_baselines_and_manifest(metric, manifest, tmp_path):
    out = tmp_path / "r.jsonl"
    _run(metric, manifest, out, baselines="clip_t,l2")

    header = _lines(out)[0]
    assert header == read_header(out)
    assert header["i2imetric_results"] == 1 and header["status"] == "header"
    assert header["metric"]["name"] == "test-tiny" and header["metric"]["version"] == i2imetric.version.__version__
    assert len(header["metric"]["config_sha256"]) == len(header["metric"]["weights_sha256"]) == 64
    assert header["baselines"] == ["clip_t", "l2"]
    assert header["manifest"]["path"] == str(manifest.resolve()) and len(header["manifest"]["sha256"]) == 64
    assert header["metric"]["device"] == "cpu"
    assert header["metric"]["precision"] == {"towers": "float32", "autocast": None, "head": "float32"}
    assert header["skipped_lines"] == []
    assert [row["id"] for row in read_rows(out)] == [f"t{i}" for i in range(6)]  # the header is no row


def _edit_header(out, **metric_entries):
    """Rewrite the header's metric entry, as another machine (or an older i2imetric) would have written it."""
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    header = json.loads(lines[0])
    for key, value in metric_entries.items():
        if value is None:
            del header["metric"][key]
        else:
            header["metric"][key] = value
    out.write_text(json.dumps(header) + "\n" + "".join(lines[1:]), encoding="utf-8")


def test_a_file_started_on_another_device_or_precision_is_not_resumed_here(metric, manifest, tmp_path):
    out = tmp_path / "r.jsonl"
    _run(metric, manifest, out)
    late = {"type": "triplet", "id": "late", "source": "s0.png", "instruction": "x", "output": "o1.png"}
    with open(manifest, "a", encoding="utf-8") as file:  # so there is something left to resume
        file.write(json.dumps(late) + "\n")
    before = out.read_bytes()

    gpu = {"towers": "float32", "autocast": "bfloat16", "head": "float32"}
    _edit_header(out, device="cuda", precision=gpu)  # as if started on a GPU
    with pytest.raises(ResultsError, match="another device or precision: recorded device cuda, towers float32 under "
                                           "bfloat16 autocast, head float32, this run device cpu, towers float32 "
                                           "without autocast, head float32; .*another --out"):
        _run(metric, manifest, out)
    out.write_bytes(before)
    assert _run(metric, manifest, out).ok == 7  # the same device and precision resume
    # Written before devices were recorded: taken as the default placement, so a CPU float32 run resumes it
    # (and a GPU one would not: the comparison is the same as above).
    with open(manifest, "a", encoding="utf-8") as file:
        file.write(json.dumps({**late, "id": "later"}) + "\n")
    _edit_header(out, device=None, precision=None)
    assert _run(metric, manifest, out).ok == 8


def test_a_random_base_is_hashed_once_until_a_tensor_changes(monkeypatch):
    from i2imetric.evaluation import runner

    random_metric = i2imetric.create_metric("test-tiny", seed=3)
    first = metric_identity(random_metric)["weights_sha256"]
    hashed = []
    original_sha256 = runner.hashlib.sha256
    monkeypatch.setattr(runner.hashlib, "sha256", lambda *a: hashed.append(1) or original_sha256(*a))
    assert metric_identity(random_metric)["weights_sha256"] == first and len(hashed) == 1  # the config's only
    frozen_base = next(p for n, p in random_metric.named_parameters() if "visual" in n and "lora" not in n)
    with torch.no_grad():
        frozen_base.add_(1e-3)  # a base tensor counts too: nothing else names a random base
    assert metric_identity(random_metric)["weights_sha256"] != first and len(hashed) == 3  # hashed afresh
    monkeypatch.setattr(runner.hashlib, "sha256", original_sha256)
    # The memo holds what hashing gives: a metric built the same way, never hashed, agrees.
    assert metric_identity(i2imetric.create_metric("test-tiny", seed=3))["weights_sha256"] == first


def test_weights_hash_changes_with_the_weights_and_not_with_a_reload(metric, tmp_path):
    folder = metric.save_pretrained(tmp_path / "ckpt")
    first, again = metric_identity(i2imetric.load_metric(folder)), metric_identity(i2imetric.load_metric(folder))
    assert first == again
    other = i2imetric.create_metric("test-tiny", seed=1)
    assert metric_identity(other)["weights_sha256"] != metric_identity(metric)["weights_sha256"]
    assert metric_identity(other)["config_sha256"] == metric_identity(metric)["config_sha256"]
    nudged = i2imetric.load_metric(folder)
    with torch.no_grad():
        next(p for p in nudged.head.parameters()).add_(1e-3)
    assert metric_identity(nudged)["weights_sha256"] != first["weights_sha256"]
    # Folding LoRA into the base for inference (what load_metric does) is the same metric.
    assert metric_identity(i2imetric.load_metric(folder, merge_adapters=False)) == first
    adapter_nudged = i2imetric.load_metric(folder)
    with torch.no_grad():  # an adapter is part of the identity, merged or not
        next(p for n, p in adapter_nudged.named_parameters() if "lora_B" in n).add_(1e-3)
    assert metric_identity(adapter_nudged)["weights_sha256"] != first["weights_sha256"]


def test_cli_resume_with_another_metric_is_refused_naming_both(metric, manifest, tmp_path, capsys):
    folder = i2imetric.create_metric("test-tiny", seed=1).save_pretrained(tmp_path / "other-metric")
    out = tmp_path / "r.jsonl"
    with open(manifest, "a", encoding="utf-8") as file:  # so the first run stops short of the whole manifest
        file.write("{not json\n")
    assert _cli_eval(manifest, out) == 1
    before = out.read_bytes()
    capsys.readouterr()

    assert _cli_eval(manifest, out, str(folder)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "another metric" in err and "'untrained:test-tiny'" in err and str(folder.resolve()) in err
    assert "recorded" in err and "this run" in err and "another --out" in err and "delete" in err
    assert out.read_bytes() == before  # nothing was added


def test_resume_with_other_baselines_or_another_manifest_is_refused(metric, manifest, tmp_path):
    out = tmp_path / "r.jsonl"
    _run(metric, manifest, out, baselines="clip_t")
    copy = tmp_path / "copy" / "bench.jsonl"
    copy.parent.mkdir()
    shutil.copy(manifest, copy)

    with pytest.raises(ResultsError, match="other baselines: recorded baselines clip_t, this run baselines l2"):
        _run(metric, manifest, out, baselines="l2")
    with pytest.raises(ResultsError, match=f"another manifest: recorded manifest {manifest.resolve()}, this run"):
        _run(metric, copy, out, baselines="clip_t")
    with pytest.raises(ResultsError, match="another manifest: .*this run records passed in memory"):
        _run(metric, _triplets(tmp_path, 6), out, baselines="clip_t")
    again = _run(metric, manifest, out, baselines="clip_t")  # the same setup still resumes
    assert again.resumed == 6


def _drop_baseline_settings(out):
    """Rewrite the header as i2imetric wrote it before baseline settings were recorded."""
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    header = json.loads(lines[0])
    del header["baseline_settings"]
    out.write_text(json.dumps(header) + "\n" + "".join(lines[1:]), encoding="utf-8")


def test_pixel_baselines_from_before_their_working_size_are_not_resumed_into(metric, manifest, tmp_path):
    # L2 and PSNR used to compare at the source's full size; since then at a long side of at
    # most 1024 px. A file that does not say which must not take rows of the other kind.
    pixels, features = tmp_path / "pixels.jsonl", tmp_path / "features.jsonl"
    _run(metric, manifest, pixels, baselines="l2")
    assert read_header(pixels)["baseline_settings"] == {"pixel_max_side": 1024}
    _drop_baseline_settings(pixels)
    with pytest.raises(ResultsError, match="baselines computed otherwise: recorded baseline settings none, this run "
                                           "baseline settings pixel_max_side=1024"):
        _run(metric, manifest, pixels, baselines="l2")
    _run(metric, manifest, features, baselines="clip_t")
    _drop_baseline_settings(features)
    assert _run(metric, manifest, features, baselines="clip_t").resumed == 6  # nothing else depends on it


def test_csv_results_keep_the_header_in_a_sidecar_and_refuse_another_metric(metric, manifest, tmp_path):
    out = tmp_path / "r.csv"
    _run(metric, manifest, out)
    header = json.loads((tmp_path / "r.csv.header.json").read_text())
    assert header == read_header(out) and header["metric"]["name"] == "test-tiny"
    with pytest.raises(ResultsError, match="r.csv: holds results of another metric"):
        _run(i2imetric.create_metric("test-tiny", seed=1), manifest, out)
    assert not list(tmp_path.glob("r.csv.rank*"))


def test_csv_resume_accepts_inputs_that_csv_writes_alike(metric, tmp_path):
    (good,) = _triplets(tmp_path, 1)
    records = [good, Triplet(None, "", good.output, id="no-source"), Triplet(good.source, None, good.output, id="none")]
    out = tmp_path / "r.csv"
    _run(metric, records, out)
    again = _run(metric, records, out)
    # The ok row is checked against its record and kept; the error rows are scored again.
    assert (again.resumed, again.retried) == (1, 2) and (again.ok, again.error_rows) == (1, 2)
    assert [row["id"] for row in read_rows(out)] == ["t0", "no-source", "none"]


def test_result_readers_import_without_torch():
    code = "import sys, i2imetric.evaluation.results, i2imetric.data.records; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_rows_without_a_header_are_refused(metric, manifest, tmp_path):
    out = tmp_path / "old.jsonl"
    out.write_text(json.dumps({"id": "t0", "status": "ok", "score": 1.0, "subscores": {}, "baselines": {}}) + "\n")
    with pytest.raises(ResultsError, match="old.jsonl: has result rows but no i2imetric header"):
        _run(metric, manifest, out)


def test_shard_of_another_metric_is_refused(metric, manifest, tmp_path):
    first = tmp_path / "first.jsonl"
    _run(i2imetric.create_metric("test-tiny", seed=1), manifest, first)
    out = tmp_path / "r.jsonl"
    shutil.copy(first, tmp_path / "r.jsonl.rank1.jsonl")  # as left by an interrupted sharded run
    with pytest.raises(ResultsError, match=r"r\.jsonl\.rank1\.jsonl: holds results of another metric"):
        _run(metric, manifest, out)


def test_a_scored_id_that_now_names_other_inputs_is_refused(metric, tmp_path):
    records = _triplets(tmp_path, 4)
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, records)
    out = tmp_path / "r.jsonl"
    _run(metric, manifest, out)
    records[2] = Triplet(records[2].source, records[2].instruction, records[0].output, id=records[2].id)
    write_manifest(manifest, records)  # regenerated in place: same ids, other images
    with pytest.raises(ResultsError, match="row 't2' was scored for output .*o2.png.* now has .*o0.png"):
        _run(metric, manifest, out)


def _with_bad_output(folder, ids=True):
    """Four good triplets and, second, one whose output file does not exist."""
    records = _triplets(folder, 4, ids=ids)
    bad = Triplet(records[0].source, "make it blue", str(folder / "nope.png"), id="missing_out" if ids else None)
    return [records[0], bad, *records[1:]]


def test_a_fixed_error_row_is_scored_again_and_its_new_row_replaces_it(metric, tmp_path, capsys):
    records = _with_bad_output(tmp_path)
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, records)
    out = tmp_path / "r.jsonl"
    assert _cli_eval(manifest, out) == 1
    assert "4 ok, 1 error" in capsys.readouterr().out

    records[1] = Triplet(records[1].source, records[1].instruction, records[2].output, id="missing_out")
    write_manifest(manifest, records)  # the output fixed under the same id: its error row named other inputs
    assert _cli_eval(manifest, out) == 0
    printed = capsys.readouterr().out
    assert "5 rows (5 ok, 0 error), 4 from an earlier run, 1 failed earlier and scored again" in printed

    fresh_out = tmp_path / "fresh.jsonl"
    _run(metric, manifest, fresh_out)
    rows, fresh = list(read_rows(out)), list(read_rows(fresh_out))
    assert [row["id"] for row in rows] == [row["id"] for row in fresh] == ["t0", "missing_out", "t1", "t2", "t3"]
    assert rows[1]["status"] == "ok" and rows[1]["output"] == records[2].output
    assert [row["score"] for row in rows] == pytest.approx([row["score"] for row in fresh], rel=1e-5, abs=1e-5)
    assert _lines(out)[0]["status"] == "header" and not list(tmp_path.glob("r.jsonl.rank*"))


def test_an_error_row_that_fails_again_is_replaced_by_its_new_reason(metric, tmp_path):
    records = _with_bad_output(tmp_path)
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, records)
    out = tmp_path / "r.jsonl"
    _run(metric, manifest, out)
    records[1] = Triplet(records[1].source, records[1].instruction, str(tmp_path / "still-nope.png"), id="missing_out")
    write_manifest(manifest, records)

    summary = _run(metric, manifest, out)

    rows = {row["id"]: row for row in read_rows(out)}
    assert len(rows) == len(list(read_rows(out))) == 5  # one row per id
    assert "still-nope.png" in rows["missing_out"]["error"] and rows["missing_out"]["output"].endswith("still-nope.png")
    assert (summary.ok, summary.error_rows, summary.resumed, summary.retried) == (4, 1, 4, 1)


def test_without_ids_a_fixed_record_replaces_its_error_row_and_only_the_input_is_counted(metric, tmp_path, capsys):
    records = _with_bad_output(tmp_path, ids=False)[:2]
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, records)
    out = tmp_path / "r.jsonl"
    assert _cli_eval(manifest, out) == 1
    old_error_id = record_id(records[1])
    capsys.readouterr()

    records[1] = Triplet(records[1].source, records[1].instruction, records[0].output)  # fixed: a new content id
    write_manifest(manifest, records)
    assert _cli_eval(manifest, out, "untrained:test-tiny", "--json") == 0

    summary = json.loads(capsys.readouterr().out)
    assert (summary["ok"], summary["error_rows"], summary["errors"], summary["resumed"]) == (2, 0, 0, 1)
    # The old error row holds no score and names a record that no longer exists: dropped.
    assert summary["stale_rows"] == 0 and old_error_id not in {row["id"] for row in read_rows(out)}
    assert [row["id"] for row in read_rows(out)] == [record_id(r) for r in records]


def test_scored_rows_of_records_taken_out_are_kept_named_and_not_counted(metric, tmp_path):
    records = _triplets(tmp_path, 5)
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, records)
    out = tmp_path / "r.jsonl"
    _run(metric, manifest, out)
    write_manifest(manifest, records[:3])  # two records taken out of the manifest

    summary = _run(metric, manifest, out)

    assert (summary.ok, summary.resumed, summary.stale_rows, summary.stale_examples) == (3, 3, 2, ["t3", "t4"])
    table = summary.format_table()
    assert "kept 2 scored row(s) whose ids are no longer in the input (not counted here): 't3', 't4'" in table
    assert [row["id"] for row in read_rows(out)] == ["t0", "t1", "t2", "t3", "t4"]  # no score is lost
    assert "(3 ok, 0 error)" in table


def test_scoring_in_chunks_into_one_file_keeps_every_chunks_rows(metric, tmp_path):
    from i2imetric.evaluation.runner import evaluate

    records = _triplets(tmp_path, 5)
    out = tmp_path / "r.jsonl"
    evaluate(metric, records[:3], out=out, baselines=())
    summary = evaluate(metric, records[3:], out=out, baselines=())
    assert (summary.ok, summary.stale_rows) == (2, 3)
    assert sorted(row["id"] for row in read_rows(out)) == ["t0", "t1", "t2", "t3", "t4"]


def test_merge_keeps_the_row_that_replaces_the_others(tmp_path):
    from i2imetric.evaluation.results import make_header, merge_results

    header = make_header({"name": "m"}, [], None)
    out = tmp_path / "r.jsonl"

    def write(path, *rows):
        path.write_text("".join(json.dumps(row) + "\n" for row in [header, *rows]), encoding="utf-8")

    def row(item_id, status, note):
        return {"id": item_id, "status": status, "error": None if status == "ok" else note, "score": 1.0,
                "subscores": {}, "baselines": {}, "note": note}  # fmt: skip

    # out: an error row for a, retried into rank0; b was retried into rank0 by a run of 2 processes,
    # and an older run of another process count left its error row for b in rank1.
    write(out, row("a", "error", "old"), row("b", "error", "old"), row("c", "error", "old"))
    write(tmp_path / "r.jsonl.rank0.jsonl", row("a", "ok", "new"), row("b", "ok", "new"), row("c", "error", "newer"))
    write(tmp_path / "r.jsonl.rank1.jsonl", row("b", "error", "older shard"), row("gone", "ok", "stale"))

    stale = merge_results(out, ["a", "b", "c"], [], header)

    assert stale == ["gone"]
    assert [(r["id"], r["status"], r["note"]) for r in read_rows(out)] == [
        ("a", "ok", "new"), ("b", "ok", "new"), ("c", "error", "newer"), ("gone", "ok", "stale")]  # fmt: skip
    assert not list(tmp_path.glob("r.jsonl.rank*"))


# ------------------------------------------------------------------------ 2. the lock


def test_a_second_run_on_a_locked_out_fails_at_once_and_writes_nothing(metric, manifest, tmp_path):
    out = tmp_path / "r.jsonl"
    with ResultsLock(out):  # another run holds it
        with pytest.raises(ResultsError, match=f"another i2imetric eval \\(pid {os.getpid()} .*another --out"):
            _run(metric, manifest, out)
        assert not out.exists()
    assert _run(metric, manifest, out).ok == 6  # released: the file is free again


@pytest.mark.slow
def test_two_concurrent_cli_runs_write_every_row_once(metric, tmp_path):
    manifest = tmp_path / "many.jsonl"
    write_manifest(manifest, _triplets(tmp_path, 200))
    out = tmp_path / "r.jsonl"
    command = [sys.executable, "-m", "i2imetric", "eval", "--metric", "untrained:test-tiny", "--data", str(manifest)]
    command += ["--out", str(out), "--batch-size", "1", "--num-workers", "0", "--baselines", "none"]
    env = _subprocess_env()
    first = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while not (out.exists() and out.read_bytes().count(b"\n") >= 3):  # the header and 2 rows
            assert first.poll() is None and time.monotonic() < deadline, "the first run ended before it was seen"
            time.sleep(0.01)
        first.send_signal(signal.SIGSTOP)  # frozen mid-run, holding the lock: no race with the clock
        second = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    finally:
        first.send_signal(signal.SIGCONT)
        first.wait(timeout=300)
    assert second.returncode == 2, second.stderr[-2000:]
    assert "another i2imetric eval" in second.stderr and "Traceback" not in second.stderr
    assert first.returncode == 0, first.stderr.read()[-2000:]
    ids = [row["id"] for row in read_rows(out)]
    assert len(ids) == len(set(ids)) == 200


# --------------------------------------------------------------------- 3. stable ids


def test_record_id_is_its_content_and_ignores_other_records(tmp_path):
    a = Triplet("s.png", "make it red", "o.png")
    assert record_id(a) == record_id(Triplet(os.path.abspath("s.png"), "make it red", os.path.abspath("o.png")))
    assert record_id(a) != record_id(Triplet("s.png", "make it blue", "o.png"))
    assert record_id(a) != record_id(Pairwise("s.png", "make it red", "o.png", "o.png", label="a"))
    assert record_id(Triplet("s.png", "x", "o.png", id="7")) == "7"


def test_resume_after_fixing_a_malformed_line_gives_each_record_its_own_score(metric, tmp_path):
    records = _triplets(tmp_path, 6, ids=False)
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, records)
    lines = manifest.read_text().splitlines(keepends=True)
    broken = lines.copy()
    broken[2] = broken[2].replace('"type": "triplet"', '"type": "triplett"')  # record 1 is malformed
    manifest.write_text("".join(broken))
    out = tmp_path / "r.jsonl"
    first = _run(metric, manifest, out)
    assert first.ok == 5 and len(first.skipped_lines) == 1
    # A later reader of the file alone (report, meta-eval) sees what was never scored.
    assert header_skipped_lines(read_header(out)) == first.skipped_lines
    assert read_header(out)["skipped_lines"][0]["where"] == f"{manifest}:3"

    manifest.write_text("".join(lines))  # fixed
    resumed = _run(metric, manifest, out)
    assert read_header(out)["skipped_lines"] == [] and resumed.skipped_lines == []  # the header says so too
    fresh_out = tmp_path / "fresh.jsonl"
    _run(metric, manifest, fresh_out)

    assert resumed.resumed == 5 and resumed.ok == 6
    fresh = {row["id"]: row for row in read_rows(fresh_out)}
    rows = list(read_rows(out))
    assert sorted(row["id"] for row in rows) == sorted(fresh) == sorted(record_id(r) for r in records)
    for row in rows:
        assert row["output"] == fresh[row["id"]]["output"] and row["instruction"] == fresh[row["id"]]["instruction"]
        assert row["score"] == pytest.approx(fresh[row["id"]]["score"], rel=1e-5, abs=1e-5)


# ------------------------------------------------------------------- 4. torn tails


def test_nul_tail_of_a_power_cut_is_a_torn_tail(metric, manifest, tmp_path):
    out = tmp_path / "r.jsonl"
    _run(metric, manifest, out)
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:4]) + b"\x00" * 4096 + b"\n")  # the header, 3 rows, a zeroed block

    assert [row["id"] for row in read_rows(out)] == ["t0", "t1", "t2"]
    summary = _run(metric, manifest, out)

    assert summary.resumed == 3 and summary.ok == 6
    assert b"\x00" not in out.read_bytes()
    assert [row["id"] for row in read_rows(out)] == [f"t{i}" for i in range(6)]


def test_nul_bytes_before_intact_rows_are_damage_not_a_tail(tmp_path):
    out = tmp_path / "r.jsonl"
    row = json.dumps({"id": "t0", "status": "ok"}).encode()
    out.write_bytes(b"\x00" * 64 + b"\n" + row + b"\n")
    with pytest.raises(ResultsError, match=r"r\.jsonl:1: NUL bytes before intact rows"):
        list(read_rows(out))


def test_binary_garbage_manifest_is_a_one_line_error(metric, tmp_path, capsys):
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(bytes(range(128, 256)) * 40)
    with pytest.raises(I2IInputError, match=r"garbage\.jsonl:1: not UTF-8 text"):
        _run(metric, garbage, tmp_path / "r.jsonl")
    assert _cli_eval(garbage, tmp_path / "r2.jsonl") == 2
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("warning: 'test-tiny'")]
    assert len(err) == 1 and "garbage.jsonl:1" in err[0]


# ------------------------------------------------------------------- 5. duplicate ids


def test_duplicate_ids_are_renamed_with_one_warning_saying_how_many(metric, tmp_path, caplog):
    records = _triplets(tmp_path, 5)
    records = [*records, *[Triplet(r.source, r.instruction, r.output, id="t0") for r in records[1:3]]]
    caplog.set_level(logging.WARNING, logger="i2imetric.evaluation")
    _run(metric, records, tmp_path / "r.csv")  # a CSV run reads the input three times

    warnings = [r.getMessage() for r in caplog.records if r.name == "i2imetric.evaluation"]
    assert len(warnings) == 1
    assert warnings[0].startswith("2 item id(s) repeat") and "'t0' -> 't0#2'" in warnings[0]
    assert [row["id"] for row in read_rows(tmp_path / "r.csv")][-2:] == ["t0#2", "t0#3"]


# --------------------------------------------------------------- 6. inputs in each row


def test_rows_name_their_inputs_as_absolute_resolved_paths(metric, tmp_path, monkeypatch):
    images = tmp_path / "images"
    images.mkdir()
    _png(images / "s.png", seed=1)
    _png(images / "o.png", seed=2)
    os.symlink(images, tmp_path / "linked")
    manifest = tmp_path / "data" / "m.jsonl"
    manifest.parent.mkdir()
    ok = {"source": "../linked/s.png", "instruction": "make it red", "output": "../images/o.png"}
    bad = {"source": "../images/s.png", "instruction": "x", "output": "missing.png"}
    rows = [{"type": "triplet", "id": "ok", **ok}, {"type": "triplet", "id": "bad", **bad}]
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # relative paths resolve from the manifest's folder, not from here

    for out in (tmp_path / "r.jsonl", tmp_path / "r.csv"):
        _run(metric, manifest, out)
        by_id = {row["id"]: row for row in read_rows(out)}
        assert by_id["ok"]["status"] == "ok" and by_id["bad"]["status"] == "error"
        assert by_id["ok"]["source"] == str((images / "s.png").resolve())  # the link resolved
        assert by_id["ok"]["output"] == by_id["bad"]["source"].replace("s.png", "o.png")
        assert by_id["bad"]["output"] == str((tmp_path / "data" / "missing.png").resolve())
        assert (by_id["ok"]["instruction"], by_id["bad"]["instruction"]) == ("make it red", "x")
    header = (tmp_path / "r.csv").read_text().splitlines()[0].split(",")
    assert header[:8] == ["id", "system", "status", "error", "score", "source", "instruction", "output"]
