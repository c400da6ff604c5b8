"""Set-level distances: FD / MMD on embeddings, folder and triplet embedding with test-tiny, the CLI."""

import doctest
import json

import numpy as np
import pytest
import torch
from PIL import Image

import i2imetric
import i2imetric.evaluation.setlevel
from i2imetric.cli.main import main
from i2imetric.data import Pairwise, Triplet, write_manifest
from i2imetric.errors import I2IInputError
from i2imetric.evaluation.setlevel import (
    embed_folder,
    embed_set,
    embed_triplets,
    read_triplets,
    reference_sigma,
    set_distance,
)
from i2imetric.stats import frechet_distance, median_heuristic_sigma, mmd2_unbiased, mmd2_unbiased_ci


@pytest.fixture(scope="module")
def metric():
    return i2imetric.create_metric("test-tiny", seed=0)


def save_images(folder, n, base_colour, seed):
    """``n`` small noisy PNGs around one colour; returns their paths in name order."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        pixels = np.clip(np.array(base_colour) + rng.normal(scale=40, size=(20, 24, 3)), 0, 255).astype(np.uint8)
        path = folder / f"{i:02d}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("sets")
    red = save_images(root / "red", 5, (200, 40, 40), seed=0)
    blue = save_images(root / "blue", 5, (40, 40, 200), seed=1)
    save_images(root / "red" / ".hidden", 1, (0, 0, 0), seed=2)  # skipped
    return root, red, blue


# --------------------------------------------------------------------------
# set_distance
# --------------------------------------------------------------------------


def test_docstring_examples_run():
    result = doctest.testmod(i2imetric.evaluation.setlevel)
    assert result.attempted >= 2 and result.failed == 0


def test_set_distance_matches_stats_with_sigma_from_the_reference():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 6)), rng.normal(size=(30, 6)) + 1.0
    result = set_distance(x, y, n_resamples=100)
    sigma = median_heuristic_sigma(x)  # the reference alone, not x and y pooled
    _, low, high = mmd2_unbiased_ci(x, y, sigma, n_resamples=100)
    assert result == {
        "fd": pytest.approx(frechet_distance(x, y)),
        "mmd2_unbiased": pytest.approx(mmd2_unbiased(x, y, sigma)),
        "mmd2_low": pytest.approx(low),
        "mmd2_high": pytest.approx(high),
        "confidence": 0.95,
        "n_resamples": 100,
        "sigma": pytest.approx(sigma),
        "sigma_source": "median pairwise distance within x (40 points)",
        "n_x": 40,
        "n_y": 30,
    }
    assert set_distance(x, y, n_resamples=0)["mmd2_low"] is None


def test_comparisons_with_one_reference_share_one_sigma():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 3))
    near = set_distance(x, rng.normal(size=(60, 3)) + 0.5, n_resamples=0)
    far = set_distance(x, rng.normal(size=(60, 3)) + 3.0, n_resamples=0)
    assert near["sigma"] == far["sigma"] == pytest.approx(reference_sigma(x))
    assert far["mmd2_unbiased"] > near["mmd2_unbiased"]


def test_set_distance_separates_shifted_sets_and_takes_tensors():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(200, 4, generator=generator)
    same = set_distance(x, torch.randn(200, 4, generator=generator), sigma=2.0)
    shifted = set_distance(x, torch.randn(200, 4, generator=generator) + 2.0, sigma=2.0)
    assert same["sigma"] == shifted["sigma"] == 2.0
    assert abs(same["mmd2_unbiased"]) < 0.02 and same["fd"] < 0.3
    assert shifted["mmd2_unbiased"] > 0.3
    assert shifted["fd"] == pytest.approx(16.0, rel=0.2)  # ||mu_x - mu_y||^2 = 4 * 2^2


def test_set_distance_rejects_mismatched_inputs():
    with pytest.raises(I2IInputError, match="must be \\[n, d\\]"):
        set_distance(np.zeros(5), np.zeros((5, 2)))
    with pytest.raises(I2IInputError, match="dimension"):
        set_distance(np.random.rand(5, 2), np.random.rand(5, 3))


# --------------------------------------------------------------------------
# embedding
# --------------------------------------------------------------------------


def test_embed_folder_gives_normalised_clip_embeddings_in_file_order(metric, folders):
    root, red, _ = folders
    embeddings = embed_folder(metric, root / "red", batch_size=2)
    assert embeddings.shape == (5, 32) and not embeddings.requires_grad
    assert torch.allclose(embeddings.norm(dim=-1), torch.ones(5), atol=1e-5)
    with torch.no_grad():
        direct = metric.encode_images([i2imetric.io.images.image_to_tensor(str(p)) for p in red]).pooled
    assert torch.allclose(embeddings, direct, atol=1e-5)


def test_embed_folder_refuses_z_and_empty_folders(metric, tmp_path):
    with pytest.raises(I2IInputError, match="needs .*triplets"):
        embed_folder(metric, tmp_path, space="z")
    with pytest.raises(I2IInputError, match="no images"):
        embed_folder(metric, tmp_path)


def test_z_of_a_manifest_is_the_metrics_joint_latent(metric, folders, tmp_path):
    _, red, blue = folders
    triplets = [Triplet(str(r), "make it blue", str(b), id=str(i)) for i, (r, b) in enumerate(zip(red, blue))]
    manifest = tmp_path / "edits.jsonl"
    write_manifest(manifest, triplets)
    z = embed_set(metric, str(manifest), space="z", batch_size=2)
    expected = metric.embed([str(p) for p in red], ["make it blue"] * 5, [str(p) for p in blue])
    assert z.shape == (5, 32)
    assert torch.allclose(z, expected, atol=1e-5)
    clip = embed_set(metric, str(manifest), space="clip")
    assert torch.allclose(clip, embed_folder(metric, blue[0].parent), atol=1e-5)


def test_results_rows_with_image_paths_are_triplets(folders, tmp_path):
    _, red, blue = folders
    rows = [
        {"id": "0", "status": "ok", "score": 1.0, "source": str(red[0]), "instruction": "x", "output": str(blue[0])},
        {"id": "1", "status": "error", "score": None, "source": str(red[1]), "instruction": "x", "output": "gone.png"},
    ]
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    (triplet,) = read_triplets(path)
    assert (triplet.source, triplet.instruction, triplet.output) == (str(red[0]), "x", str(blue[0]))
    path.write_text(json.dumps({"id": "0", "status": "ok", "score": 1.0}) + "\n")
    with pytest.raises(I2IInputError, match="no 'output' image path"):
        read_triplets(path)


@pytest.mark.parametrize("name", ["results.jsonl", "results.csv"])
def test_the_result_files_eval_writes_give_the_manifests_triplets(metric, folders, tmp_path, name):
    _, red, blue = folders
    manifest = tmp_path / "edits.jsonl"
    write_manifest(manifest, [Triplet(str(r), "make it blue", str(b), id=str(i)) for i, (r, b) in enumerate(zip(red, blue))])
    out = tmp_path / name
    i2imetric.evaluate(metric, manifest, out=out, num_workers=0, baselines="none", progress=False)
    if name.endswith(".jsonl"):
        with open(out, "a", encoding="utf-8") as torn:
            torn.write('{"id": "5", "sta')  # a killed run's last line, which eval itself skips
    z = embed_set(metric, str(out), space="z", batch_size=2)
    assert torch.allclose(z, embed_set(metric, str(manifest), space="z", batch_size=2), atol=1e-5)


def test_z_needs_sources_and_pairs_are_refused(metric, folders, tmp_path):
    _, red, blue = folders
    with pytest.raises(I2IInputError, match="no source or no instruction"):
        embed_triplets(metric, [Triplet(None, "a prompt", str(blue[0]))], space="z")
    manifest = tmp_path / "pairs.jsonl"
    write_manifest(manifest, [Pairwise(str(red[0]), "x", str(blue[0]), str(blue[1]), "a")])
    with pytest.raises(I2IInputError, match="pairwise records"):
        embed_set(metric, str(manifest))


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def test_cli_compares_two_folders(folders, capsys):
    root, _, _ = folders
    argv = ["setdist", "--metric", "untrained:test-tiny", "--a", str(root / "red"), "--b", str(root / "blue"), "--json"]
    assert main([*argv, "--bootstrap", "50"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["space"] == "clip" and result["sigma"] > 0
    assert result["sigma_source"] == "median pairwise distance within --a (5 items)"
    (comparison,) = result["comparisons"]
    assert (comparison["n_x"], comparison["n_y"]) == (5, 5) and comparison["fd"] > 0
    assert comparison["mmd2_low"] <= comparison["mmd2_unbiased"] <= comparison["mmd2_high"]


def test_cli_compares_several_sets_under_one_printed_sigma_and_explains_negative_mmd(folders, capsys):
    root, _, _ = folders
    red, blue = str(root / "red"), str(root / "blue")
    argv = ["setdist", "--metric", "untrained:test-tiny", "--a", red, "--b", red, blue, "--bootstrap", "30"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("RBF sigma") == 1 and "the same for every --b" in out
    assert out.count("95% CI [") == 2
    assert "can come out negative (a folder against itself does)" in out
    assert main([*argv, "--json"]) == 0
    itself, other = json.loads(capsys.readouterr().out)["comparisons"]
    assert itself["mmd2_unbiased"] < 0 < other["mmd2_unbiased"]


@pytest.mark.parametrize(
    "extra, message",
    [(["--sigma", "0"], "--sigma 0.0: the RBF bandwidth must be"), (["--bootstrap", "-1"], "--bootstrap -1")],
)
def test_cli_refuses_bad_options_in_one_line(folders, capsys, extra, message):
    root, _, _ = folders
    argv = ["setdist", "--metric", "untrained:test-tiny", "--a", str(root / "red"), "--b", str(root / "blue")]
    assert main([*argv, *extra]) == 2
    assert message in capsys.readouterr().err


def test_cli_reports_a_missing_set_in_one_line(tmp_path, capsys):
    argv = ["setdist", "--metric", "untrained:test-tiny", "--a", str(tmp_path / "nope"), "--b", str(tmp_path)]
    assert main(argv) == 2
    assert "neither a folder of images nor a manifest" in capsys.readouterr().err
