"""ImagenHub's human ratings (``eval/human_ratings/<Task>/<Task>_rater<k>.tsv``) as records.

Each TSV has a ``uid`` column (``sample_<img_id>_<turn>.jpg``) and one column per
system. A cell is ``[SC, PQ]`` (semantic consistency, perceptual quality), each in
{0, 0.5, 1}, with varying spaces inside the brackets. ImagenHub's overall score of
one rating is sqrt(SC * PQ).

Image layout, from ImagenHub's ``benchmark/text_guided_ie.py`` and ImagenMuseum:
outputs are ``<root>/<system>/<uid>``, sources ``<root>/input/<uid>``, and
``<root>/dataset_lookup.json`` maps each uid to its ``instruction``,
``source_global_caption`` and ``target_global_caption``.
"""

import glob
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from statistics import fmean
from typing import NamedTuple

from ...errors import I2IInputError
from ...io.json_files import read_json_file
from ..records import Rating
from ..rows import LoadResult, collect, csv_rows, log

_LEVELS = (0.0, 0.5, 1.0)
_CELL = re.compile(r"^\[\s*([^,\s]+)\s*,\s*([^\]\s]+)\s*\]$")
_LOOKUP_FILE = "dataset_lookup.json"
_AGGREGATES = ("none", "mean")
# Our caption names in extra, and ImagenHub's in dataset_lookup.json.
_CAPTION_KEYS = (
    ("source_caption", "source_global_caption"),
    ("target_caption", "target_global_caption"),
)


class _Cell(NamedTuple):
    uid: str
    system: str
    rater: str
    text: str


class _Edit(NamedTuple):
    """What ImagenHub's lookup file says about one uid."""

    instruction: str | None
    captions: dict


def load_imagenhub_ratings(
    tsv_paths,
    image_root=None,
    instructions=None,
    aggregate: str = "none",
    on_error: str = "raise",
    check_files: bool = False,
) -> LoadResult:
    """Read ImagenHub rater TSVs: one ``Rating`` per (uid, system, rater).

    Args:
        tsv_paths: one TSV path or several (``Text-Guided_IE_rater1.tsv`` ...). The
            rater is taken from the file name (``rater1``), else the file's stem.
        image_root: ImagenHub's results folder for the task (``<system>/<uid>``,
            ``input/<uid>``). Defaults to the first TSV's folder, where the images
            are usually absent: fine for statistics, use ``check_files`` for training.
        instructions: uid -> instruction, or uid -> ``dataset_lookup.json`` entry, or
            the path of such a JSON file. Defaults to ``<image_root>/dataset_lookup.json``
            when it exists; otherwise instructions are None.
        aggregate: ``"none"`` for one record per rater, ``"mean"`` for one record per
            (uid, system) averaging value and aspects over raters (``extra["n_raters"]``).
        on_error: ``"raise"`` or ``"skip"`` a malformed cell.
        check_files: treat a cell whose images do not exist as malformed.

    Returns:
        ``LoadResult``; each rating has value sqrt(SC * PQ), aspects ``{"SC", "PQ"}``,
        system, rater, group = uid, and the captions (``source_caption``,
        ``target_caption``) in extra when the lookup has them. The report counts cells.

    Example:
        >>> records, report = load_imagenhub_ratings(
        ...     ["Text-Guided_IE_rater1.tsv", "Text-Guided_IE_rater2.tsv"], aggregate="mean"
        ... )  # doctest: +SKIP
    """
    if aggregate not in _AGGREGATES:
        raise I2IInputError(f"aggregate must be one of {_AGGREGATES}, got {aggregate!r}")
    if isinstance(tsv_paths, (str, os.PathLike)):
        tsv_paths = [tsv_paths]
    paths = [os.fspath(path) for path in tsv_paths]
    if not paths:
        raise I2IInputError("tsv_paths is empty; pass at least one ImagenHub rater TSV")
    root = os.path.abspath(image_root or os.path.dirname(paths[0]) or ".")
    lookup = _lookup(instructions, root)
    cells = (cell for path in paths for cell in _cells(path))
    result = collect(
        cells, lambda cell: _rating(cell, root, lookup), ", ".join(paths), on_error, check_files
    )
    if aggregate == "mean":
        return LoadResult(_mean_over_raters(result.records), result.report)
    return result


def split_aspects(ratings: Iterable[Rating]) -> list[Rating]:
    """One ``Rating`` per aspect score: each rating's ``aspects`` become separate records.

    The new records have ``aspect`` set, ``value`` = that aspect's score, and ``id``
    suffixed with ``/<aspect>``; everything else is copied.
    """
    per_aspect = []
    for rating in ratings:
        if not rating.aspects:
            raise I2IInputError(
                f"rating {rating.id!r} has no aspects to split; pass ratings that have aspects"
            )
        for name, score in rating.aspects.items():
            new_id = None if rating.id is None else f"{rating.id}/{name}"
            per_aspect.append(replace(rating, value=score, aspect=name, aspects=None, id=new_id))
    return per_aspect


def _cells(path: str) -> Iterator[tuple[str, _Cell]]:
    rater = _rater_name(path)
    for where, row in csv_rows(path, required=["uid"], delimiter="\t"):
        uid = row["uid"].strip()
        for system, text in row.items():
            if system != "uid":
                yield f"{where} {system}", _Cell(uid, system.strip(), rater, text)


def _rater_name(path: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    match = re.search(r"rater\d+", stem)
    return match.group(0) if match else stem


def _rating(cell: _Cell, root: str, lookup: dict[str, _Edit] | None) -> Rating:
    sc, pq = _parse_cell(cell.text)
    edit = _edit_of(cell.uid, lookup)
    return Rating(
        source=os.path.join(root, "input", cell.uid),
        instruction=edit.instruction,
        output=os.path.join(root, cell.system, cell.uid),
        value=math.sqrt(sc * pq),
        aspects={"SC": sc, "PQ": pq},
        rater=cell.rater,
        system=cell.system,
        group=cell.uid,
        id=f"{cell.uid}/{cell.system}/{cell.rater}",
        extra=dict(edit.captions),
    )


def _parse_cell(text: str) -> tuple[float, float]:
    match = _CELL.match(text.strip())
    scores = [_level(part) for part in match.groups()] if match else None
    if scores is None or None in scores:
        raise I2IInputError(
            f"cell {text!r} is not [SC, PQ] with SC and PQ in {{0, 0.5, 1}}; write it like [0.5, 1]"
        )
    return scores[0], scores[1]


def _level(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value in _LEVELS else None


def _lookup(instructions, root: str) -> dict[str, _Edit] | None:
    if instructions is None:
        default = os.path.join(root, _LOOKUP_FILE)
        if not os.path.isfile(default):
            return None
        log.info("instructions for ImagenHub ratings from %s", default)
        instructions = default
    if isinstance(instructions, (str, os.PathLike)):
        instructions = _read_lookup_file(os.fspath(instructions))
    if not isinstance(instructions, Mapping):
        raise I2IInputError(
            "instructions must be a mapping uid -> instruction or a path to a JSON file, "
            f"got {type(instructions).__name__}"
        )
    return {uid: _edit_from_entry(uid, entry) for uid, entry in instructions.items()}


def _read_lookup_file(path: str) -> Mapping:
    return read_json_file(path, fix="fix or regenerate the lookup file", expect=dict,
                          expected="a JSON object mapping uid -> instruction")  # fmt: skip


def _edit_from_entry(uid: str, entry) -> _Edit:
    if isinstance(entry, str):
        return _Edit(entry, {})
    if isinstance(entry, Mapping) and isinstance(entry.get("instruction"), str):
        captions = {ours: entry[theirs] for ours, theirs in _CAPTION_KEYS if theirs in entry}
        return _Edit(entry["instruction"], captions)
    raise I2IInputError(
        f"instructions[{uid!r}] must be the instruction text or a dict with an 'instruction' "
        f"string, got {entry!r}"
    )


def _edit_of(uid: str, lookup: dict[str, _Edit] | None) -> _Edit:
    if lookup is None:
        return _Edit(None, {})
    if uid not in lookup:
        raise I2IInputError(
            f"no instruction for {uid!r} in the instructions; add it, or pass instructions=None"
        )
    return lookup[uid]


def _mean_over_raters(ratings: list[Rating]) -> list[Rating]:
    by_edit: dict[tuple, list[Rating]] = {}
    for rating in ratings:
        by_edit.setdefault((rating.group, rating.system), []).append(rating)
    return [_mean_rating(raters) for raters in by_edit.values()]


def _mean_rating(raters: list[Rating]) -> Rating:
    first = raters[0]
    return replace(
        first,
        value=fmean(r.value for r in raters),
        aspects={name: fmean(r.aspects[name] for r in raters) for name in first.aspects},
        rater=None,
        id=f"{first.group}/{first.system}",
        extra={**first.extra, "n_raters": len(raters)},
    )


# ---------------------------------------------------------------- a whole copy

IMAGENHUB_EDITING_TASKS = ("Text-Guided_IE", "Mask-Guided_IE", "Subject-Driven_IE")


class ImagenHubTask(NamedTuple):
    """One ImagenHub task in a local copy: its rater TSVs and its results folder."""

    name: str
    tsv_paths: list[str]
    image_root: str


def find_imagenhub_tasks(root, tasks=IMAGENHUB_EDITING_TASKS) -> list[ImagenHubTask]:
    """The editing tasks of a local ImagenHub copy that have ratings, each with its images.

    Layout (ImagenHub's repository, plus ImagenMuseum's images):
    ``<root>/eval/human_ratings/<Task>/<Task>_rater<k>.tsv`` and
    ``<root>/ImagenHub_<Task>/`` (``<system>/<uid>``, ``input/<uid>``,
    ``dataset_lookup.json``), as at ``https://chromaica.github.io/Museum/ImagenHub_<Task>/``;
    ``<root>/Museum/ImagenHub_<Task>/`` is accepted too.

    Args:
        root: the local copy.
        tasks: task names to look for; the default are the editing tasks (those with a
            source image): text-guided, mask-guided and subject-driven editing.

    Returns:
        The tasks found, in the order given.

    Raises:
        I2IInputError: no task has ratings, or a task with ratings has no images folder.
    """
    root = os.path.abspath(os.fspath(root))
    found = []
    for task in tasks:
        tsvs = sorted(glob.glob(os.path.join(glob.escape(root), "eval", "human_ratings", task, f"{task}_rater*.tsv")))
        if not tsvs:
            continue
        images = [os.path.join(root, prefix, f"ImagenHub_{task}") for prefix in ("", "Museum")]
        image_root = next((path for path in images if os.path.isdir(path)), None)
        if image_root is None:
            raise I2IInputError(
                f"{root}: ratings for {task} but no {images[0]}; put ImagenMuseum's images of the task there "
                f"(https://chromaica.github.io/Museum/ImagenHub_{task}/: <system>/<uid>, input/<uid>, "
                "dataset_lookup.json)"
            )
        found.append(ImagenHubTask(task, tsvs, image_root))
    if not found:
        raise I2IInputError(
            f"{root}: no eval/human_ratings/<Task>/<Task>_rater*.tsv for {', '.join(tasks)}; clone "
            "https://github.com/TIGER-AI-Lab/ImagenHub there and add ImagenMuseum's images"
        )
    return found
