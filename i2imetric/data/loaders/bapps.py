"""BAPPS 2AFC folders (LPIPS' perceptual judgements) as ``Pairwise`` records."""

import glob
import os

import numpy as np

from ...errors import I2IInputError
from ..records import Pairwise
from ..rows import LoadResult, collect

_BAPPS_IMAGE_FOLDERS = ("ref", "p0", "p1")
_BAPPS_LAYOUT = "pass a BAPPS 2AFC folder holding ref/, p0/, p1/ and judge/"


def load_bapps_2afc(root, on_error: str = "raise", check_files: bool = False) -> LoadResult:
    """One BAPPS 2AFC folder (e.g. ``dataset/2afc/val/traditional``) as ``Pairwise`` records.

    The folder holds ``ref/``, ``p0/``, ``p1/`` images and ``judge/*.npy``, matched by
    file name; a judge file holds the share of people who found p1 closer to ref.

    Returns:
        ``LoadResult``; each record has source = ref, no instruction, a = p0, b = p1,
        label = 1 - judge (the share preferring p0), and id ``<folder>/<name>``.
    """
    root = os.path.abspath(os.fspath(root))
    judge_dir = os.path.join(root, "judge")
    if not os.path.isdir(judge_dir):
        raise I2IInputError(f"{root} has no judge/ folder; {_BAPPS_LAYOUT}")
    images = {folder: _files_by_stem(os.path.join(root, folder)) for folder in _BAPPS_IMAGE_FOLDERS}
    judge_files = sorted(glob.glob(os.path.join(glob.escape(judge_dir), "*.npy")))
    category = os.path.basename(root)

    def build(judge_file):
        return _bapps_pairwise(judge_file, images, category)

    return collect(((path, path) for path in judge_files), build, root, on_error, check_files)


def _files_by_stem(folder: str) -> dict[str, str]:
    if not os.path.isdir(folder):
        raise I2IInputError(f"{folder} is missing; {_BAPPS_LAYOUT}")
    return {os.path.splitext(name)[0]: os.path.join(folder, name) for name in os.listdir(folder)}


def _bapps_pairwise(judge_file: str, images: dict[str, dict[str, str]], category: str) -> Pairwise:
    stem = os.path.splitext(os.path.basename(judge_file))[0]
    absent = [folder for folder in _BAPPS_IMAGE_FOLDERS if stem not in images[folder]]
    if absent:
        raise I2IInputError(
            f"no image named {stem}.* in {', '.join(absent)}/; "
            "each judge file needs ref, p0 and p1 images of the same name"
        )
    share_for_p1 = _judge_share(judge_file)
    return Pairwise(
        source=images["ref"][stem],
        instruction=None,
        output_a=images["p0"][stem],
        output_b=images["p1"][stem],
        label=1.0 - share_for_p1,
        id=f"{category}/{stem}",
    )


def _judge_share(path: str) -> float:
    try:
        judged = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as problem:
        raise I2IInputError(
            f"cannot read the judge file ({problem}); it must be a NumPy .npy array"
        ) from None
    if judged.size != 1:
        raise I2IInputError(
            f"judge file holds {judged.size} values; it must hold one share in [0, 1]"
        )
    return float(judged.reshape(()))
