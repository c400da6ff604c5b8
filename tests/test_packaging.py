"""What a plain ``pip install .`` gives a user who works from another folder.

The wheel is built from a copy of this checkout, without build isolation (the test
environment already has setuptools), and installed with ``--no-deps`` into a temporary
target, so the installed copy reuses this environment's torch and open_clip. That keeps
the whole module near half a minute while still exercising the real wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds and installs a wheel

REPO = Path(__file__).resolve().parent.parent
DEMO_FILES = {"i2imetric_config.json", "model.safetensors", "base.safetensors", "README.md"}
NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "build", "dist", "runs", "*.egg-info", "__pycache__", ".*cache")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("wheel")
    source = workdir / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCES)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(workdir), str(source)],
        check=True,
        capture_output=True,
    )
    (found,) = workdir.glob("i2imetric-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    return target


def test_wheel_ships_the_demo_scorer_and_configs_and_no_generic_top_level(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names} - {n.split("/")[0] for n in names if ".dist-info/" in n}
    assert top_level == {"i2imetric", "i2imetric_training"}  # no top-level `training` to clash with
    assert {Path(n).name for n in names if n.startswith("i2imetric/checkpoints/demo/")} >= DEMO_FILES
    assert "i2imetric_training/configs/finetune_domain.yaml" in names
    assert "i2imetric/models/model_configs/test-tiny.json" in names
    demo_bytes = sum(info.file_size for info in zipfile.ZipFile(wheel).infolist() if "/checkpoints/" in info.filename)
    assert demo_bytes <= 20 * 2**20  # the shipped checkpoints' budget


def _run_installed(installed: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(installed), "HF_HUB_OFFLINE": "1"}
    env.pop("I2IMETRIC_CHECKPOINTS", None)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_installed_copy_loads_the_demo_from_another_folder(installed, tmp_path):
    code = (
        "import i2imetric, numpy as np\n"
        "assert i2imetric.__file__.startswith(%r), i2imetric.__file__\n"
        "metric = i2imetric.load_metric('demo')\n"
        "image = np.full((64, 64, 3), 128, dtype=np.uint8)\n"
        "print(metric.score(image, 'make it brighter', image))\n" % str(installed)
    )
    result = _run_installed(installed, tmp_path, "-c", code)
    assert result.returncode == 0, result.stderr
    float(result.stdout.strip().splitlines()[-1])


def test_installed_cli_lists_the_demo_and_offers_train(installed, tmp_path):
    models = _run_installed(installed, tmp_path, "-m", "i2imetric", "models")
    assert models.returncode == 0 and "  demo" in models.stdout, models.stderr
    train = _run_installed(installed, tmp_path, "-m", "i2imetric", "train", "--help")
    assert train.returncode == 0 and "finetune_domain" in train.stdout, train.stderr
    # A shipped config is found by name from any folder.
    bad_key = _run_installed(installed, tmp_path, "-m", "i2imetric", "train", "--config", "demo_scorer", "no_such_key=1")
    assert bad_key.returncode == 2 and "no_such_key" in bad_key.stderr
