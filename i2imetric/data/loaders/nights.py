"""NIGHTS 2AFC triplets (DreamSim) as ``Pairwise`` records."""

import os

from ...errors import I2IInputError
from ..records import Pairwise
from ..rows import Excluded, LoadResult, collect, csv_rows, resolve_image

_NIGHTS_COLUMNS = ("id", "left_vote", "right_vote", "votes", "ref_path", "left_path", "right_path")
_NIGHTS_CONSUMED = ("id", "left_vote", "right_vote", "ref_path", "left_path", "right_path")
_NIGHTS_MIN_VOTES = 6


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
