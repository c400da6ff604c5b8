"""AURORA-Bench's human ratings (Krojer et al., AURORA, NeurIPS 2024) as ``Rating`` records.

The AURORA authors (McGill-NLP/AURORA, MIT) released, on 2024-12-05, human ratings of the
outputs of five editing systems on the 400 items of AURORA-Bench: 2,000 ratings, one per
output. They are not on the Hugging Face Hub (``McGill-NLP/aurora-bench`` there holds the
benchmark's inputs, not the ratings) but on Google Drive, linked from the repository's
README ("Human Ratings"): a JSON file and an archive of the images.

Upstream layout, as the README does not spell it out (see ``docs/benchmarks.md``,
"AURORA-Bench", for where each fact comes from):

* the JSON file is one array of 2,000 objects, one per rated output, with at least
  ``input`` (the source image), ``gen`` (the system's output), ``prompt`` (the
  instruction), ``model`` (the system), ``task`` (one of AURORA-Bench's 8 tasks) and
  ``score``: the mean of the raters' judgements of the edit, each 0 (not done),
  1 (partly) or 2 (done), so a number in [0, 2], fractional where raters differed;
* the image paths are relative: the archive unpacks to ``human_ratings/<task>/<item>/``
  holding ``input.<ext>`` and one ``<model>.png`` per system, and the JSON's paths name
  those files from the folder the archive was unpacked in;
* in the ``something`` task, three of the systems' released outputs are their
  comparison panels, the source on the left and the output on the right, not the
  output alone. Such an image is found here by its shape and pixels
  (:func:`split_composite`), and its right half is what gets scored.

Where to put it for ``i2imetric bench --data-root DIR``: the JSON file directly in
``DIR/aurora-bench/`` (any name ending in ``.json``; ``human_ratings.json`` if there are
several JSON files there) and the archive unpacked in the same folder, so that
``DIR/aurora-bench/human_ratings/`` exists.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import os

import numpy as np

from ...errors import I2IInputError
from ...io.json_files import read_json_file
from ..records import Rating
from ..rows import LoadResult, collect, require_keys

AURORA_BENCH_SYSTEMS = (
    "finetune_magicbrush_ag_something_kubric_15-15-1-1_init-magic_first_epoch=02-step=41999",  # AURORA's model
    "genhowto",
    "instruct-pix2pix-00-22000",
    "magic_reproduce_epoch=47-step=12999",  # MagicBrush, reproduced by the AURORA authors
    "mgie",
)
AURORA_BENCH_TASKS = ("ag", "clevr", "emu", "epic", "kubric", "magicbrush", "something", "whatsup")
AURORA_BENCH_RATINGS_NAME = "human_ratings.json"
AURORA_BENCH_SCORE_RANGE = (0.0, 2.0)
AURORA_BENCH_MANUAL = (
    "download AURORA-Bench's human ratings from the links in https://github.com/McGill-NLP/AURORA#human-ratings "
    "(Google Drive: the json, https://drive.google.com/file/d/1uWpVOit_eUvI6GnY_Bvaj_vPd3H8cTbT, and the image "
    "files, https://drive.google.com/file/d/1wUwlxN1ArqTlCQQgnsj7DoXNoPRX71Ao); put the json in DIR/aurora-bench/ "
    f"(as {AURORA_BENCH_RATINGS_NAME}) and unzip the images there, so that DIR/aurora-bench/human_ratings/ exists"
)
_FIELDS = ("input", "gen", "prompt", "model", "score", "task")
# A comparison panel is two images side by side: twice the source's aspect ratio, and
# its left half is the source. Tolerances (the editors resize, and the files are lossy):
_PANEL_ASPECT_TOLERANCE = 0.03  # relative, on width / height
_PANEL_COMPARE_SIDE = 64  # both compared at 64x64 RGB
_PANEL_MAX_MEAN_DIFFERENCE = 4.0  # mean absolute difference per channel, of 255


def find_aurora_bench_ratings(root) -> str:
    """The ratings JSON file in ``root``: its one ``.json`` file, or ``human_ratings.json`` among several.

    Raises:
        I2IInputError: there is no JSON file, or several and none of them is ``human_ratings.json``.
    """
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise I2IInputError(f"{root}: no such folder; {AURORA_BENCH_MANUAL}")
    found = sorted(name for name in os.listdir(root) if name.lower().endswith(".json") and os.path.isfile(os.path.join(root, name)))
    if len(found) == 1:
        return os.path.join(root, found[0])
    if AURORA_BENCH_RATINGS_NAME in found:
        return os.path.join(root, AURORA_BENCH_RATINGS_NAME)
    if not found:
        raise I2IInputError(f"{root}: no ratings .json file; {AURORA_BENCH_MANUAL}")
    raise I2IInputError(
        f"{root}: several .json files ({', '.join(found)}) and none is {AURORA_BENCH_RATINGS_NAME}; rename the "
        f"ratings file to {AURORA_BENCH_RATINGS_NAME}"
    )


def load_aurora_bench_ratings(
    root,
    image_dir,
    ratings_file=None,
    on_error: str = "raise",
    check_files: bool = True,
) -> LoadResult:
    """AURORA-Bench's released human ratings, one ``Rating`` per rated output.

    Args:
        root: the folder the ratings file's image paths are relative to (where the images
            archive was unpacked).
        image_dir: where the outputs cut out of comparison panels are written (PNG, named
            by the panel file's sha256, so a rerun finds them).
        ratings_file: the JSON file; default: :func:`find_aurora_bench_ratings` in ``root``.
        on_error: ``"raise"`` or ``"skip"`` a malformed row.
        check_files: treat a row whose images do not exist as malformed. When no row's
            source image exists at all, the archive was not unpacked (or not there):
            that is raised at once, whatever ``on_error`` says.

    Returns:
        ``LoadResult``. Each record: ``value`` the released score in [0, 2]; ``system`` the
        ``model`` field; ``group`` ``<input>|<prompt>`` (the five outputs of one item);
        ``id`` ``<group>|<model>``; extra ``task``, the row's other fields, and
        ``composite`` (the panel's path) when the output was cut out of a panel.
    """
    root = os.path.abspath(os.fspath(root))
    path = os.fspath(ratings_file) if ratings_file is not None else find_aurora_bench_ratings(root)
    rows = _rows(path)
    if check_files:
        _require_some_images(rows, root, path)
    seen: set[tuple[str, str]] = set()
    result = collect(rows, lambda row: _rating(row, root, seen), path, on_error, check_files)
    for record in result.records:
        split_composite(record, image_dir)
    return result


def _rows(path: str):
    rows = read_json_file(path, fix="download the ratings file again", expect=list,
                          expected="a JSON array of rated outputs (AURORA-Bench's human ratings)")  # fmt: skip
    return [(f"{path}[{index}]", row) for index, row in enumerate(rows)]


def _require_some_images(rows, root: str, path: str) -> None:
    """Fail at once, saying where the archive goes, when not one rated image is where the file says."""
    named = [row["input"] for _, row in rows if isinstance(row, dict) and isinstance(row.get("input"), str)]
    if named and not any(os.path.isfile(os.path.join(root, name)) for name in named):
        raise I2IInputError(
            f"{path}: none of its {len(named)} source images is under {root} (e.g. {os.path.join(root, named[0])}); "
            f"the images archive is not unpacked there: {AURORA_BENCH_MANUAL}"
        )


def _rating(row, root: str, seen: set[tuple[str, str]]) -> Rating:
    if not isinstance(row, dict):
        raise I2IInputError(f"expected a JSON object, got {type(row).__name__}")
    require_keys(row, _FIELDS, "AURORA-Bench human ratings")
    for key in ("input", "gen", "prompt", "model", "task"):
        if not isinstance(row[key], str) or not row[key].strip():
            raise I2IInputError(f"{key} must be a non-empty string, got {row[key]!r}")
    score = row["score"]
    low, high = AURORA_BENCH_SCORE_RANGE
    if isinstance(score, bool) or not isinstance(score, numbers.Real) or not math.isfinite(score) or not low <= score <= high:
        raise I2IInputError(f"score must be a number in [{low:g}, {high:g}] (the mean of 0/1/2 judgements), got {score!r}")
    prompt = row["prompt"].strip()
    group = f"{row['input']}|{prompt}"
    key = (group, row["model"])
    if key in seen:
        raise I2IInputError(f"a second rating of model {row['model']!r} on input {row['input']!r} with this prompt")
    seen.add(key)
    return Rating(
        source=os.path.join(root, row["input"]),
        instruction=prompt,
        output=os.path.join(root, row["gen"]),
        value=float(score),
        system=row["model"],
        group=group,
        id=f"{group}|{row['model']}",
        extra={"task": row["task"], **{k: v for k, v in row.items() if k not in _FIELDS}},
    )


def split_composite(record: Rating, image_dir) -> bool:
    """When ``record.output`` is a comparison panel (source left, output right), score its right half.

    A panel is recognised, whatever the task or system, when the image is twice as wide,
    relative to its height, as the source (within 3%) and its left half, compared with
    the source at 64x64, differs by at most 4 of 255 per channel on average. Its right
    half is written to ``image_dir`` and becomes ``record.output``; the panel's path goes
    to ``record.extra["composite"]``. Any other image is left as it is.

    Returns:
        Whether the output was a panel.
    """
    from PIL import Image

    try:
        with Image.open(record.source) as source, Image.open(record.output) as output:
            if not _twice_as_wide(source.size, output.size):
                return False
            width, height = output.size
            panel = output.convert("RGB")
            left = panel.crop((0, 0, width // 2, height))
            if _mean_difference(source.convert("RGB"), left) > _PANEL_MAX_MEAN_DIFFERENCE:
                return False  # a wide output that is not a panel of this source
            right = panel.crop((width - width // 2, 0, width, height))
    except OSError:
        return False  # unreadable: scoring reports it as the item's error
    with open(record.output, "rb") as raw:
        digest = hashlib.sha256(raw.read()).hexdigest()[:24]
    target = os.path.join(os.fspath(image_dir), "aurora-bench-panels", f"{digest}.png")
    if not os.path.isfile(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        partial = f"{target}.partial"
        right.save(partial, format="PNG")
        os.replace(partial, target)
    record.extra["composite"] = record.output
    record.output = os.path.abspath(target)
    return True


def _twice_as_wide(source_size: tuple[int, int], output_size: tuple[int, int]) -> bool:
    (sw, sh), (ow, oh) = source_size, output_size
    if min(sw, sh, ow, oh) < 1 or ow < 2:
        return False
    expected = 2 * sw / sh
    return abs(ow / oh - expected) <= _PANEL_ASPECT_TOLERANCE * expected


def _mean_difference(a, b) -> float:
    from PIL import Image

    side = (_PANEL_COMPARE_SIDE, _PANEL_COMPARE_SIDE)
    x = np.asarray(a.resize(side, Image.Resampling.BILINEAR), dtype=np.float32)
    y = np.asarray(b.resize(side, Image.Resampling.BILINEAR), dtype=np.float32)
    return float(np.abs(x - y).mean())
