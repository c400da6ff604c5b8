"""EditReward-Bench by VectorSpaceLab (EditScore's benchmark) as ``Pairwise`` records.

Not to be confused with TIGER-AI-Lab's EditReward-Bench (:mod:`.editreward_bench_tiger`):
another data set under the same name, with another protocol; their numbers cannot be
compared. i2imetric calls this one ``editscore-bench``.

Upstream layout: the Hugging Face data set ``EditScore/EditReward-Bench``, split
``train``, as parquet files with the images inside. Each row, as EditScore's
``evaluation.py`` reads it: ``key`` (the ids of the two outputs), ``instruction``,
``input_image``, ``output_images`` (two images; the first is the one people preferred,
which is why ``calculate_statistics.py`` counts a row right when ``score[0] > score[1]``),
``task_type`` (one of 13 editing tasks) and ``dimension`` (``prompt_following``,
``consistency`` or ``overall``: which quality the preference is about). The same two
outputs appear once per dimension they were judged on.
"""

from __future__ import annotations

import os

from ...errors import I2IInputError
from ..parquet import ImageStore, find_parquet_files, is_image_cell, iter_parquet_rows
from ..records import Pairwise
from ..rows import LoadResult, collect, require_keys

EDITSCORE_BENCH_REPO = "EditScore/EditReward-Bench"
DIMENSIONS = ("prompt_following", "consistency", "overall")
_FIELDS = ("key", "instruction", "input_image", "output_images", "task_type", "dimension")


def load_editscore_bench(root, image_dir, on_error: str = "raise", check_files: bool = False) -> LoadResult:
    """EditScore's EditReward-Bench as ``Pairwise`` records: a = ``output_images[0]``, the preferred one.

    Args:
        root: a local copy of ``EditScore/EditReward-Bench`` (its ``train`` parquet files,
            found as ``**/train-*.parquet`` or ``**/train/*.parquet``).
        image_dir: where the images inside the parquet files are written.
        on_error: ``"raise"`` or ``"skip"`` a malformed row.
        check_files: treat a row whose images do not exist as malformed.

    Returns:
        ``LoadResult``; every label is ``"a"``; extra holds ``task_type``, ``dimension``,
        ``output_keys`` (the two outputs' ids) and any other non-image field; the id is
        ``<key 1>|<key 2>|<dimension>``.
    """
    root = os.fspath(root)
    files = find_parquet_files(root, ["**/train-*.parquet", "**/train/*.parquet"])
    if not files:
        raise I2IInputError(
            f"{root}: no train-*.parquet; this folder should be a copy of the Hugging Face data set "
            f"{EDITSCORE_BENCH_REPO} (huggingface-cli download --repo-type dataset {EDITSCORE_BENCH_REPO} "
            f"--local-dir {root})"
        )
    store = ImageStore(image_dir)
    return collect(iter_parquet_rows(files), lambda row: _pair(row, store), root, on_error, check_files)


def _pair(row: dict, store: ImageStore) -> Pairwise:
    require_keys(row, _FIELDS, "EditReward-Bench (EditScore)")
    keys, outputs = row["key"], row["output_images"]
    if not isinstance(keys, (list, tuple)) or len(keys) != 2:
        raise I2IInputError(f"key must hold the two outputs' ids, got {keys!r}")
    if not isinstance(outputs, (list, tuple)) or len(outputs) != 2:
        raise I2IInputError(f"output_images must hold two images, got {type(outputs).__name__} of {len(outputs or ())}")
    if row["dimension"] not in DIMENSIONS:
        raise I2IInputError(f"dimension {row['dimension']!r} is not one of {', '.join(DIMENSIONS)}")
    extra = {"task_type": row["task_type"], "dimension": row["dimension"], "output_keys": [str(k) for k in keys]}
    extra.update({k: v for k, v in row.items() if k not in _FIELDS and not is_image_cell(v)})
    return Pairwise(
        source=store.path_of(row["input_image"], "input_image"),
        instruction=row["instruction"],
        output_a=store.path_of(outputs[0], "output_images[0]"),
        output_b=store.path_of(outputs[1], "output_images[1]"),
        label="a",
        id=f"{keys[0]}|{keys[1]}|{row['dimension']}",
        extra=extra,
    )
