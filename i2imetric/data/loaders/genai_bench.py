"""GenAI-Bench (GenAI-Arena) image-editing votes as ``Pairwise`` records.

Upstream layout: the Hugging Face data set ``TIGER-Lab/GenAI-Bench``, config
``image_edition``, stored as ``image_edition/<split>-00000-of-00001.parquet`` with the
images inside the file (``datasets`` Image columns). GenAI-Bench's own evaluation
(``inference.py`` in TIGER-AI-Lab/GenAI-Bench) uses the ``test_v1`` split, 919 votes,
and names each vote by its position in that split (``idx`` in its result files).
"""

import itertools
import os

from ...errors import I2IInputError
from ..parquet import ImageStore, find_parquet_files, is_image_cell, iter_parquet_rows
from ..records import Pairwise
from ..rows import LoadResult, collect, json_rows, require_keys, resolve_image

GENAI_BENCH_REPO = "TIGER-Lab/GenAI-Bench"
GENAI_BENCH_SPLIT = "test_v1"
_IMAGE_FIELDS = ("source_image", "left_output_image", "right_output_image")

_GENAI_BENCH_LABELS = {
    "leftvote": "a",
    "rightvote": "b",
    "tievote": "tie",
    "bothbad_vote": "both_bad",
}
_GENAI_BENCH_FIELDS = (
    "source_prompt",
    "target_prompt",
    "instruct_prompt",
    "source_image",
    "left_output_image",
    "right_output_image",
    "left_model",
    "right_model",
    "vote_type",
)


def load_genai_bench_votes(
    source,
    image_root=None,
    on_error: str = "raise",
    check_files: bool = False,
    image_dir=None,
    split: str = GENAI_BENCH_SPLIT,
) -> LoadResult:
    """GenAI-Bench (GenAI-Arena) image-editing votes as ``Pairwise`` records, a = left.

    Args:
        source: a local copy of the Hugging Face data set (the folder holding
            ``image_edition/``), one of its parquet files, a ``.json`` array or
            ``.jsonl`` file of rows, or an iterable of dicts (e.g. the ``image_edition``
            split, with its image columns cast to ``datasets.Image(decode=False)``).
        image_root: folder that relative image paths start from; defaults to the
            file's folder (the working directory for in-memory rows).
        on_error: ``"raise"`` or ``"skip"`` a malformed row.
        check_files: treat a row whose images do not exist as malformed.
        image_dir: for parquet input, where the images inside it are written (once,
            named by content); required then.
        split: for a data set folder, which split's parquet files to read.

    Returns:
        ``LoadResult``; labels ``leftvote``/``rightvote``/``tievote``/``bothbad_vote``
        become ``"a"``/``"b"``/``"tie"``/``"both_bad"``, the instruction is
        ``instruct_prompt``, and extra holds ``source_caption`` and ``target_caption``
        (source/target prompts), ``system_a``/``system_b`` and any other fields.
    """
    parquet = _parquet_files(source, split)
    if parquet is not None:
        return _load_parquet(parquet, image_dir, on_error, check_files)
    rows = json_rows(source, image_root)

    def build(raw):
        return _genai_bench_pairwise(rows.decode(raw), rows.base_dir)

    return collect(rows.rows, build, rows.name, on_error, check_files)


def _parquet_files(source, split: str) -> list[str] | None:
    """The parquet files ``source`` names (a data set folder or one file), or None for JSON input."""
    if not isinstance(source, (str, os.PathLike)):
        return None
    path = os.fspath(source)
    if os.path.isdir(path):
        files = find_parquet_files(path, [f"image_edition/{split}-*.parquet", f"image_edition/{split}/*.parquet"])
        if not files:
            raise I2IInputError(
                f"{path}: no image_edition/{split}-*.parquet; this folder should be a copy of the Hugging Face "
                f"data set {GENAI_BENCH_REPO} (huggingface-cli download --repo-type dataset {GENAI_BENCH_REPO} "
                f"--include 'image_edition/{split}-*' --local-dir {path})"
            )
        return files
    return [path] if path.endswith(".parquet") else None


def _load_parquet(files: list[str], image_dir, on_error: str, check_files: bool) -> LoadResult:
    if image_dir is None:
        raise I2IInputError("GenAI-Bench parquet files hold their images: pass image_dir, where to write them")
    store = ImageStore(image_dir)
    positions = itertools.count()

    def build(row):
        # Upstream names a vote by its position in the split (inference.py's idx).
        position = next(positions)
        for field in _IMAGE_FIELDS:
            if field in row:
                row[field] = store.path_of(row[field], field)
        # Other image columns (none in the published schema) are images, not metadata.
        row = {key: value for key, value in row.items() if not is_image_cell(value)}
        row.setdefault("id", str(position))
        return _genai_bench_pairwise(row, os.sep)

    return collect(iter_parquet_rows(files), build, ", ".join(files), on_error, check_files)


def _genai_bench_pairwise(row: dict, base_dir: str) -> Pairwise:
    require_keys(row, _GENAI_BENCH_FIELDS, "GenAI-Bench image_edition")
    vote = row["vote_type"]
    if vote not in _GENAI_BENCH_LABELS:
        raise I2IInputError(f"vote_type {vote!r} is not one of {', '.join(_GENAI_BENCH_LABELS)}")
    named = {
        "source_caption": row["source_prompt"],
        "target_caption": row["target_prompt"],
        "system_a": row["left_model"],
        "system_b": row["right_model"],
    }
    others = {key: row[key] for key in row.keys() - {*_GENAI_BENCH_FIELDS, "id"}}
    return Pairwise(
        source=resolve_image(row["source_image"], base_dir),
        instruction=row["instruct_prompt"],
        output_a=resolve_image(row["left_output_image"], base_dir),
        output_b=resolve_image(row["right_output_image"], base_dir),
        label=_GENAI_BENCH_LABELS[vote],
        id=row.get("id"),
        extra={**named, **others},
    )
