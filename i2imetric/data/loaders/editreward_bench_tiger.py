"""EditReward-Bench by TIGER-AI-Lab (the EditReward paper's benchmark) as ``Pairwise`` records.

Not to be confused with EditScore's benchmark of the same name
(:mod:`.editscore_bench`): the two are different data with different protocols, and
their numbers cannot be compared. i2imetric calls this one ``editreward-bench-tiger``.

Upstream layout: the Hugging Face data set ``TIGER-Lab/EditReward-Bench``, one folder
per subset, ``2pair/``, ``3pair/`` and ``4pair/``, each ``train-*.parquet``, images
inside the files. Each row is one comparison, read as EditReward's evaluation scripts
(``EditReward/evaluate/inference_{2,3,4}pair_hf.py``) read it:

- ``instruction``, ``source_image``, and the two compared candidates ``candidate_1``
  and ``candidate_2``;
- ``comparison_type``: which candidates of the group those are, e.g. ``"AvsC"``
  (``candidate_1`` is A, ``candidate_2`` is C); absent in ``2pair`` rows, where it is AvsB;
- ``ranking``: the human verdict in those letters, ``"A>C"``, ``"C>A"``, or a tie
  ``"A=C"`` (2pair also writes ``"A=B=Good"`` / ``"A=B=Bad"`` in EditReward's code);
- ``dataset``: ``"2pair"``, ``"3pair"`` or ``"4pair"``; ``id``: the comparison's id,
  whose part before the first ``_`` names its group (EditReward's rule, taken as is:
  ``id.split('_')[0]``, or the first 10 characters of an id without ``_``);
- ``model_1``/``model_2``, ``score_1``/``score_2``: the systems and their human scores.
"""

from __future__ import annotations

import os
import re

from ...errors import I2IInputError
from ..parquet import ImageStore, find_parquet_files, is_image_cell, iter_parquet_rows
from ..records import Pairwise
from ..rows import LoadResult, collect, require_keys

EDITREWARD_BENCH_TIGER_REPO = "TIGER-Lab/EditReward-Bench"
SUBSETS = ("2pair", "3pair", "4pair")
_FIELDS = ("id", "instruction", "source_image", "candidate_1", "candidate_2", "ranking")
_COMPARISON = re.compile(r"^([A-D])vs([A-D])$")
_VERDICT = re.compile(r"^([A-D])\s*([<>=])\s*([A-D])(?:=(?:Good|Bad))?$")
_CONSUMED = (*_FIELDS, "comparison_type", "dataset", "model_1", "model_2", "score_1", "score_2")


def load_editreward_bench_tiger(
    root, image_dir, subsets=SUBSETS, on_error: str = "raise", check_files: bool = False
) -> LoadResult:
    """TIGER-AI-Lab's EditReward-Bench as ``Pairwise`` records, a = ``candidate_1``.

    Args:
        root: a local copy of ``TIGER-Lab/EditReward-Bench`` (holding ``2pair/`` ...).
        image_dir: where the images inside the parquet files are written.
        subsets: which of ``2pair``, ``3pair``, ``4pair`` to read.
        on_error: ``"raise"`` or ``"skip"`` a malformed row.
        check_files: treat a row whose images do not exist as malformed.

    Returns:
        ``LoadResult``; label ``"a"``, ``"b"`` or ``"tie"`` from ``ranking``; extra holds
        ``subset``, ``group`` (EditReward's id-prefix group), ``comparison_type``,
        ``system_a``/``system_b`` (``model_1``/``model_2``), ``human_score_a``/``_b``,
        and any other non-image field.
    """
    root = os.fspath(root)
    unknown = sorted(set(subsets) - set(SUBSETS))
    if unknown:
        raise I2IInputError(f"subsets {unknown} are not EditReward-Bench subsets; choose from {SUBSETS}")
    files = []
    for subset in subsets:
        found = find_parquet_files(root, [f"{subset}/*.parquet", f"{subset}/**/*.parquet"])
        if not found:
            raise I2IInputError(
                f"{root}: no {subset}/*.parquet; this folder should be a copy of the Hugging Face data set "
                f"{EDITREWARD_BENCH_TIGER_REPO} (huggingface-cli download --repo-type dataset "
                f"{EDITREWARD_BENCH_TIGER_REPO} --local-dir {root})"
            )
        files += [(subset, path) for path in found]
    store = ImageStore(image_dir)

    def rows():
        for subset, path in files:
            for where, row in iter_parquet_rows([path]):
                yield where, (subset, row)

    def build(raw):
        subset, row = raw
        return _comparison(row, subset, store)

    return collect(rows(), build, root, on_error, check_files)


def editreward_group(comparison_id: str) -> str:
    """EditReward's group of a comparison id: the part before the first ``_`` (else its first 10 characters)."""
    return comparison_id.split("_")[0] if "_" in comparison_id else comparison_id[:10]


def _comparison(row: dict, subset: str, store: ImageStore) -> Pairwise:
    require_keys(row, _FIELDS, "EditReward-Bench (TIGER)")
    stated = row.get("dataset")
    if stated is not None and stated != subset:
        raise I2IInputError(f"dataset is {stated!r} but the row is in the {subset}/ folder; is the copy mixed up?")
    left, right = _letters(row.get("comparison_type"), subset)
    label = _label(row["ranking"], left, right)
    comparison_id = str(row["id"])
    extra = {
        "subset": subset,
        "group": f"{subset}/{editreward_group(comparison_id)}",
        "comparison_type": f"{left}vs{right}",
        "system_a": row.get("model_1"),
        "system_b": row.get("model_2"),
        "human_score_a": row.get("score_1"),
        "human_score_b": row.get("score_2"),
    }
    # Image columns other than the two compared (candidate_3, candidate_4 where a
    # version of the data carries them) are not metadata: they are left out.
    extra.update({k: v for k, v in row.items() if k not in _CONSUMED and not is_image_cell(v)})
    return Pairwise(
        source=store.path_of(row["source_image"], "source_image"),
        instruction=row["instruction"],
        output_a=store.path_of(row["candidate_1"], "candidate_1"),
        output_b=store.path_of(row["candidate_2"], "candidate_2"),
        label=label,
        id=f"{subset}/{comparison_id}",
        extra=extra,
    )


def _letters(comparison_type, subset: str) -> tuple[str, str]:
    if comparison_type is None:
        if subset != "2pair":
            raise I2IInputError(f"a {subset} row needs comparison_type (e.g. 'AvsC') to say which candidates it compares")
        return "A", "B"
    match = _COMPARISON.match(str(comparison_type))
    if match is None or match.group(1) == match.group(2):
        raise I2IInputError(f"comparison_type {comparison_type!r} is not like 'AvsC'")
    return match.group(1), match.group(2)


def _label(ranking, left: str, right: str) -> str:
    match = _VERDICT.match(str(ranking).strip())
    if match is None or {match.group(1), match.group(3)} != {left, right}:
        raise I2IInputError(
            f"ranking {ranking!r} does not compare {left} and {right}; expected e.g. '{left}>{right}', "
            f"'{right}>{left}' or '{left}={right}'"
        )
    first, relation, _ = match.groups()
    if relation == "=":
        return "tie"
    better = first if relation == ">" else ({left, right} - {first}).pop()
    return "a" if better == left else "b"
