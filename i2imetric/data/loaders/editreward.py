"""EditReward-Data pairs (``train.json`` layout) as ``Pairwise`` records."""

import re

from ...errors import I2IInputError
from ..records import Pairwise
from ..rows import LoadResult, collect, json_rows, require_keys, resolve_image

_EDITREWARD_FIELDS = ("prompt", "path_src", "path1", "path2")
_EDITREWARD_SYSTEMS = {"model1": "system_a", "model2": "system_b"}
_EDITREWARD_CONSUMED = (*_EDITREWARD_FIELDS, *_EDITREWARD_SYSTEMS, "tie_case", "id")
_EDITREWARD_SCORE = re.compile(r"^model([12])_(.+)_score$")
_EDITREWARD_SCORES = {"1": "scores_a", "2": "scores_b"}


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
