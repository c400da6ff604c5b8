"""AURORA's DiscEdit, the discriminative edit test, as pairs of ``Triplet`` records.

DiscEdit asks whether a model can tell the instruction that produced an edit from a
minimally different one. For a metric: given the source and the real output, does the
true instruction score higher than the contrast instruction?

Upstream layout: a clone of McGill-NLP/AURORA (MIT): ``disc_edit_data/<task>/valid.json``,
image paths in it relative to the clone's root (``data/<task>/images/...``). As AURORA's
``edit_dataset.EditITMDataset`` reads an entry: items whose ``pos`` is empty are left
out; the true instruction is ``pos`` (else ``prompt``), the contrast one ``neg`` (else
``prompt``). Only tasks whose entries have an ``output`` image can score a metric:
``ag``, ``kubric`` and ``something``; ``clevr`` and ``whatsup`` give only the source
(AURORA scores them with a generative model) and are not read. The ``something``
entries name ``data/something/frames_validation_2K/<id>/``, which the repository ships
as ``data/something/images/<id>/``; when the named file is missing that folder is used.
"""

from __future__ import annotations

import os

from ...errors import I2IInputError
from ...io.json_files import read_json_file
from ..records import Triplet
from ..rows import Excluded, LoadResult, collect

DISCEDIT_TASKS = ("ag", "kubric", "something")
_SHIPPED_AS = {"something": ("/frames_validation_2K/", "/images/")}


def load_discedit(root, tasks=DISCEDIT_TASKS, on_error: str = "raise", check_files: bool = False) -> LoadResult:
    """DiscEdit items as two ``Triplet`` s each: (source, true instruction, output), (source, contrast, output).

    Args:
        root: a clone of McGill-NLP/AURORA (holding ``disc_edit_data/`` and ``data/``).
        tasks: which of ``ag``, ``kubric``, ``something`` to read.
        on_error: ``"raise"`` or ``"skip"`` a malformed entry.
        check_files: treat an entry whose images do not exist as malformed.

    Returns:
        ``LoadResult`` whose records come in pairs, ids ``<task>/<n>/true`` and
        ``<task>/<n>/contrast``, with extra ``discedit_task``, ``discedit_item``
        (``<task>/<n>``) and ``role`` (``"true"`` or ``"contrast"``). The report counts
        entries (an entry without ``pos`` is listed as left out, as upstream drops it).
    """
    root = os.path.abspath(os.fspath(root))
    unknown = sorted(set(tasks) - set(DISCEDIT_TASKS))
    if unknown:
        raise I2IInputError(f"DiscEdit tasks {unknown} have no output images to score; choose from {DISCEDIT_TASKS}")
    entries = [(where, (task, index, entry)) for task in tasks for where, index, entry in _entries(root, task)]
    result = collect(entries, lambda raw: _item(root, *raw), root, on_error, check_files=False)
    records = [record for pair in result.records for record in pair]
    if check_files:
        _require_images(records)
    return LoadResult(records, result.report)


def _entries(root: str, task: str):
    path = os.path.join(root, "disc_edit_data", task, "valid.json")
    if not os.path.isfile(path):
        raise I2IInputError(
            f"{path} is missing; --data-root's discedit folder must be a clone of "
            "https://github.com/McGill-NLP/AURORA (git clone https://github.com/McGill-NLP/AURORA)"
        )
    entries = read_json_file(path, fix="restore it from the AURORA repository", expect=list,
                             expected="a JSON array of entries")  # fmt: skip
    for index, entry in enumerate(entries):
        yield f"{path}[{index}]", index, entry


def _item(root: str, task: str, index: int, entry) -> tuple[Triplet, Triplet]:
    """The two triplets of one entry (``collect`` counts the entry as one row)."""
    if not isinstance(entry, dict):
        raise I2IInputError(f"expected an object, got {type(entry).__name__}")
    if not entry.get("pos"):
        raise Excluded("no 'pos' instruction (AURORA's EditITMDataset drops such entries)")
    missing = [key for key in ("input", "output", "prompt") if not isinstance(entry.get(key), str)]
    if missing:
        raise I2IInputError(f"entry lacks {missing}; a DiscEdit entry has input, output, prompt and pos")
    true, contrast = entry["pos"], entry.get("neg") or entry["prompt"]
    if true.strip() == contrast.strip():
        raise Excluded("the true and contrast instructions are the same text")
    item = f"{task}/{index}"
    source, output = _image(root, task, entry["input"]), _image(root, task, entry["output"])
    shared = {"discedit_task": task, "discedit_item": item}
    return (
        Triplet(source, true, output, id=f"{item}/true", extra={**shared, "role": "true"}),
        Triplet(source, contrast, output, id=f"{item}/contrast", extra={**shared, "role": "contrast"}),
    )


def _image(root: str, task: str, relative: str) -> str:
    path = os.path.join(root, relative)
    if task in _SHIPPED_AS and not os.path.exists(path):
        named, shipped = _SHIPPED_AS[task]
        path = os.path.join(root, relative.replace(named, shipped))
    return path


def _require_images(records: list[Triplet]) -> None:
    missing = sorted({path for r in records for path in (r.source, r.output) if not os.path.isfile(path)})
    if missing:
        raise I2IInputError(
            f"{len(missing)} DiscEdit image(s) missing, e.g. {missing[0]}; the AURORA clone is incomplete "
            "(git lfs pull, or clone it again)"
        )
