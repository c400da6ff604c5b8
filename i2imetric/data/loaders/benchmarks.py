"""Pairwise human judgements from public data sets, each read in its own upstream layout.

Every loader returns ``LoadResult(records, report)``, keeps the row's unused fields
in ``extra``, and names systems ``system_a`` / ``system_b`` and captions
``source_caption`` / ``target_caption`` there, whatever the upstream names are.
"""

import glob
import os
import re

import numpy as np

from ...errors import I2IInputError
from ..records import Pairwise
from ..rows import Excluded, LoadResult, collect, csv_rows, json_rows, require_keys, resolve_image

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
_BAPPS_IMAGE_FOLDERS = ("ref", "p0", "p1")
_BAPPS_LAYOUT = "pass a BAPPS 2AFC folder holding ref/, p0/, p1/ and judge/"
_NIGHTS_COLUMNS = ("id", "left_vote", "right_vote", "votes", "ref_path", "left_path", "right_path")
_NIGHTS_CONSUMED = ("id", "left_vote", "right_vote", "ref_path", "left_path", "right_path")
_NIGHTS_MIN_VOTES = 6
_EDITREWARD_FIELDS = ("prompt", "path_src", "path1", "path2")
_EDITREWARD_SYSTEMS = {"model1": "system_a", "model2": "system_b"}
_EDITREWARD_CONSUMED = (*_EDITREWARD_FIELDS, *_EDITREWARD_SYSTEMS, "tie_case", "id")
_EDITREWARD_SCORE = re.compile(r"^model([12])_(.+)_score$")
_EDITREWARD_SCORES = {"1": "scores_a", "2": "scores_b"}


def load_genai_bench_votes(
    source, image_root=None, on_error: str = "raise", check_files: bool = False
) -> LoadResult:
    """GenAI-Bench (GenAI-Arena) image-editing votes as ``Pairwise`` records, a = left.

    Args:
        source: a ``.json`` array or ``.jsonl`` file of rows, or an iterable of dicts
            (e.g. the ``image_edition`` split of ``TIGER-Lab/GenAI-Bench``, with its
            image columns cast to ``datasets.Image(decode=False)``).
        image_root: folder that relative image paths start from; defaults to the
            file's folder (the working directory for in-memory rows).
        on_error: ``"raise"`` or ``"skip"`` a malformed row.
        check_files: treat a row whose images do not exist as malformed.

    Returns:
        ``LoadResult``; labels ``leftvote``/``rightvote``/``tievote``/``bothbad_vote``
        become ``"a"``/``"b"``/``"tie"``/``"both_bad"``, the instruction is
        ``instruct_prompt``, and extra holds ``source_caption`` and ``target_caption``
        (source/target prompts), ``system_a``/``system_b`` and any other fields.
    """
    rows = json_rows(source, image_root)

    def build(raw):
        return _genai_bench_pairwise(rows.decode(raw), rows.base_dir)

    return collect(rows.rows, build, rows.name, on_error, check_files)


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


def load_nights(
    path,
    split: str | None = None,
    min_votes: int = _NIGHTS_MIN_VOTES,
    on_error: str = "raise",
    check_files: bool = False,
) -> LoadResult:
    """NIGHTS 2AFC triplets (DreamSim) as ``Pairwise`` records, a = left.

    Args:
        path: the NIGHTS folder or its ``data.csv`` (columns ``id, left_vote,
            right_vote, votes, ref_path, left_path, right_path, prompt, split,
            is_imagenet``); image paths are relative to the CSV's folder.
        split: keep only this ``split`` (``"train"``, ``"val"``, ``"test"``); None keeps all.
        min_votes: keep triplets with at least this many votes. DreamSim trains and
            tests on ``votes >= 6`` (its unanimous subset), hence the default.
        on_error: ``"raise"`` or ``"skip"`` a malformed row.
        check_files: treat a row whose images do not exist as malformed.

    Returns:
        ``LoadResult``; label = left_vote / (left_vote + right_vote), the share of
        votes for left; the report lists every triplet left out by split or votes.
    """
    path = os.fspath(path)
    csv_path = os.path.join(path, "data.csv") if os.path.isdir(path) else path
    root = os.path.dirname(os.path.abspath(csv_path))
    required = (*_NIGHTS_COLUMNS, "split") if split is not None else _NIGHTS_COLUMNS
    rows = csv_rows(csv_path, required)
    def build(row):
        return _nights_pairwise(row, root, split, min_votes)

    return collect(rows, build, csv_path, on_error, check_files)


def load_editreward(
    source, image_root=None, on_error: str = "raise", check_files: bool = False
) -> LoadResult:
    """EditReward-Data pairs (``train.json`` layout) as ``Pairwise`` records.

    Upstream ``path1`` is always the preferred output, so a = path1 and the label is
    ``"a"``, or ``"tie"`` where ``tie_case`` is true.

    Args:
        source: a ``.json`` array or ``.jsonl`` file, or an iterable of dicts.
        image_root: folder that ``path_src``/``path1``/``path2`` start from; defaults
            to the file's folder (the working directory for in-memory rows).
        on_error: ``"raise"`` or ``"skip"`` a malformed row.
        check_files: treat a row whose images do not exist as malformed.

    Returns:
        ``LoadResult``; instruction = ``prompt``, extra holds ``system_a``/``system_b``
        (``model1``/``model2``), ``scores_a``/``scores_b`` (``model1_dim1_score`` ->
        ``scores_a["dim1"]``, ``model1_overall_score`` -> ``scores_a["overall"]``) and
        any other fields.
    """
    rows = json_rows(source, image_root)

    def build(raw):
        return _editreward_pairwise(rows.decode(raw), rows.base_dir)

    return collect(rows.rows, build, rows.name, on_error, check_files)


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


def _nights_pairwise(row: dict, root: str, split: str | None, min_votes: int) -> Pairwise:
    if split is not None and row["split"] != split:
        raise Excluded(f"not in split {split!r}")
    if _csv_number(row, "votes") < min_votes:
        raise Excluded(f"fewer than {min_votes} votes")
    left, right = _csv_number(row, "left_vote"), _csv_number(row, "right_vote")
    if left < 0 or right < 0 or left + right == 0:
        raise I2IInputError(
            f"left_vote={left} and right_vote={right} give no share of votes; fix the row"
        )
    return Pairwise(
        source=resolve_image(row["ref_path"], root),
        instruction=None,
        output_a=resolve_image(row["left_path"], root),
        output_b=resolve_image(row["right_path"], root),
        label=left / (left + right),
        id=row["id"],
        extra={key: value for key, value in row.items() if key not in _NIGHTS_CONSUMED},
    )


def _csv_number(row: dict, column: str) -> float:
    try:
        return float(row[column])
    except ValueError:
        raise I2IInputError(f"column {column!r} must be a number, got {row[column]!r}") from None


def _editreward_pairwise(row: dict, base_dir: str) -> Pairwise:
    require_keys(row, _EDITREWARD_FIELDS, "EditReward")
    tie = row.get("tie_case", False)
    if not isinstance(tie, bool):
        raise I2IInputError(f"tie_case must be true or false, got {tie!r}")
    systems = {ours: row[theirs] for theirs, ours in _EDITREWARD_SYSTEMS.items() if theirs in row}
    scores = {"scores_a": {}, "scores_b": {}}
    others = {}
    for key, value in row.items():
        score = _EDITREWARD_SCORE.match(key)
        if score:
            model, dimension = score.groups()
            scores[_EDITREWARD_SCORES[model]][dimension] = value
        elif key not in _EDITREWARD_CONSUMED:
            others[key] = value
    return Pairwise(
        source=resolve_image(row["path_src"], base_dir),
        instruction=row["prompt"],
        output_a=resolve_image(row["path1"], base_dir),
        output_b=resolve_image(row["path2"], base_dir),
        label="tie" if tie else "a",
        id=row.get("id"),
        extra={**systems, **scores, **others},
    )
