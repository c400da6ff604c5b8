"""``i2imetric perturb``: turn any folder of images into pairwise training records.

For every image, ``n`` records each pair the exact result of a random canonical edit
(``output_a``, preferred) with one of its distractors (``output_b``), so a metric can
learn from photos that no editing system ever touched. The output folder holds::

    manifest.jsonl             i2imetric manifest (header line, then pairwise records
                               with label "a", plus "edit" and "distractor" fields)
    images/                    PNGs: <key>_source.png, <key>_<k>_a.png, <key>_<k>_b.png
    unreadable_images.txt      images that could not be read: "path<TAB>reason" lines
    perturb_settings.json      the seed and size the folder was made with

Edits are applied at the source's own resolution and the results downscaled afterwards
(``size``), because real editing outputs arrive that way. Records are planned from the
image's relative path and the seed alone, so a rerun with the same settings reuses every
record whose files exist and only makes the missing ones.

The CLI imports every command module just to build its parser, so this module imports
the pixel work (``i2imetric.data.synthetic.edits`` and ``i2imetric.io.images``, which bring in torch)
inside the functions that run it, keeping ``i2imetric --help`` quick.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass
from itertools import product
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from ...errors import I2IInputError
from ..manifest import write_manifest
from ..records import Pairwise

__all__ = ["PerturbSummary", "perturb_folder"]

MANIFEST_NAME = "manifest.jsonl"
UNREADABLE_REPORT_NAME = "unreadable_images.txt"
SETTINGS_NAME = "perturb_settings.json"
IMAGES_DIR_NAME = "images"

# ---------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class _PlannedRecord:
    """One pairwise record, fully determined before any pixel is read."""

    image_key: str  # a hash of the image's relative path: stable and flat
    index: int
    edit: str
    instruction: str
    distractor: str
    seed: int

    @property
    def id(self) -> str:
        return f"{self.image_key}_{self.index}"

    def source_file(self, out_dir: Path) -> Path:
        return out_dir / IMAGES_DIR_NAME / f"{self.image_key}_source.png"

    def output_files(self, out_dir: Path) -> tuple[Path, Path]:
        """The preferred (right edit) and rejected (distractor) outputs."""
        images = out_dir / IMAGES_DIR_NAME
        return images / f"{self.id}_a.png", images / f"{self.id}_b.png"

    def is_done(self, out_dir: Path) -> bool:
        return all(path.exists() for path in (self.source_file(out_dir), *self.output_files(out_dir)))

    def as_pairwise(self, out_dir: Path) -> Pairwise:
        output_a, output_b = self.output_files(out_dir)
        return Pairwise(
            source=str(self.source_file(out_dir)),
            instruction=self.instruction,
            output_a=str(output_a),
            output_b=str(output_b),
            label="a",
            id=self.id,
            extra={"edit": self.edit, "distractor": self.distractor},
        )


def _plan_records(relative_path: str, n: int, seed: int) -> list[_PlannedRecord]:
    """Plan the ``n`` records of one image.

    The (edit, distractor) pairs are a seeded shuffle of all combinations, so one image
    repeats a pair only once ``n`` exceeds their number (96). Record ``k`` depends on ``k`` but not on ``n``:
    rerunning with a larger ``n`` extends the earlier records instead of replacing them.
    """
    from .edits import CANONICAL_EDITS, DISTRACTORS

    rng = random.Random(f"{seed}/{relative_path}")  # str seeds hash deterministically
    pairs = list(product(CANONICAL_EDITS, DISTRACTORS))
    rng.shuffle(pairs)
    image_key = hashlib.sha1(relative_path.encode("utf-8")).hexdigest()[:16]
    plans = []
    for k in range(n):
        edit, distractor = pairs[k % len(pairs)]
        plans.append(_PlannedRecord(image_key, k, edit, CANONICAL_EDITS[edit], distractor, rng.randrange(2**31)))
    return plans


# ----------------------------------------------------------------------- images


def _save_png(image: Image.Image, path: Path) -> None:
    # Write then rename, so an interrupted run never leaves a truncated PNG that a
    # resumed run would take for finished work.
    partial = path.with_name(path.name + ".partial")
    image.save(partial, format="PNG")
    os.replace(partial, path)


# -------------------------------------------------------------------------- run


@dataclass
class PerturbSummary:
    """What one :func:`perturb_folder` call did."""

    images_found: int
    unreadable: list[tuple[str, str]]  # (relative path, reason)
    records_written: int
    records_reused: int
    records_dropped: int  # the distractor looked the same as the right edit
    manifest: Path
    unreadable_report: Path

    @property
    def records_total(self) -> int:
        return self.records_written + self.records_reused

    def describe(self) -> str:
        lines = [f"read {self.images_found - len(self.unreadable)} of {self.images_found} images"]
        if self.unreadable:
            lines.append(f"skipped {len(self.unreadable)} unreadable images, listed in {self.unreadable_report}")
        lines.append(f"records: {self.records_written} written, {self.records_reused} reused")
        if self.records_dropped:
            lines.append(f"dropped {self.records_dropped} records whose distractor looked the same as the edit")
        lines.append(f"manifest: {self.manifest} ({self.records_total} records)")
        return "\n".join(lines)


def perturb_folder(
    images_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    n: int = 4,
    seed: int = 0,
    size: int | None = None,
    progress: bool = True,
) -> PerturbSummary:
    """Make ``n`` edit-vs-distractor pairwise records per image found under ``images_dir``.

    Args:
        images_dir: folder searched recursively for images (hidden files skipped).
        out_dir: where images and ``manifest.jsonl`` go; created if needed. Rerunning into
            the same folder resumes: finished records are reused, not duplicated.
        n: records per image.
        seed: fixes every random choice; a folder keeps the seed it was made with.
        size: if set, every written image is downscaled (after editing) so that its
            longer side is at most ``size`` pixels; smaller images are kept as they are.
        progress: show a tqdm progress bar.

    Returns:
        A :class:`PerturbSummary`. Unreadable images are skipped and listed in
        ``unreadable_images.txt``, not raised.

    Raises:
        I2IInputError: ``images_dir`` is missing or holds no image files, an argument is
            out of range, or ``out_dir`` was made with another seed or size.
    """
    from ...io.images import find_images

    images_dir, out_dir = Path(images_dir), Path(out_dir)
    _check_arguments(images_dir, n, size)
    image_paths = find_images(images_dir, exclude=out_dir)
    if not image_paths:
        raise I2IInputError(f"{images_dir}: no image files found (searched recursively); point --images at a folder of images")
    (out_dir / IMAGES_DIR_NAME).mkdir(parents=True, exist_ok=True)
    _claim_out_dir(out_dir, seed, size)

    records: list[_PlannedRecord] = []
    unreadable: list[tuple[str, str]] = []
    written = dropped = 0
    for path in tqdm(image_paths, desc="perturb", unit="image", disable=not progress):
        relative_path = path.relative_to(images_dir).as_posix()
        plans = _plan_records(relative_path, n, seed)
        missing = [plan for plan in plans if not plan.is_done(out_dir)]
        if missing:
            try:
                made = _make_records(path, missing, out_dir, size)
            except I2IInputError as error:  # load_image's verdict: missing, corrupt, unsupported
                unreadable.append((relative_path, str(error)))
            else:
                written += made
                dropped += len(missing) - made
        records += [plan for plan in plans if plan.is_done(out_dir)]

    manifest = out_dir / MANIFEST_NAME
    # Rebuilt from the plan on every run: resuming can never duplicate a line.
    write_manifest(manifest, [plan.as_pairwise(out_dir) for plan in records])
    report = out_dir / UNREADABLE_REPORT_NAME
    report.write_text("".join(f"{path}\t{reason}\n" for path, reason in unreadable), encoding="utf-8")
    return PerturbSummary(
        images_found=len(image_paths),
        unreadable=unreadable,
        records_written=written,
        records_reused=len(records) - written,
        records_dropped=dropped,
        manifest=manifest,
        unreadable_report=report,
    )


def _check_arguments(images_dir: Path, n: int, size: int | None) -> None:
    if not images_dir.is_dir():
        raise I2IInputError(f"{images_dir}: not a folder; --images takes a folder of images")
    if n < 1:
        raise I2IInputError(f"n must be at least 1, got {n}")
    if size is not None and size < 1:
        raise I2IInputError(f"size must be a positive number of pixels, got {size}")


def _claim_out_dir(out_dir: Path, seed: int, size: int | None) -> None:
    """Record the settings on first use, and refuse to resume with different ones:
    the reused records would silently mix two seeds or two sizes."""
    settings_path = out_dir / SETTINGS_NAME
    settings = {"seed": seed, "size": size}
    if not settings_path.exists():
        settings_path.write_text(json.dumps(settings) + "\n", encoding="utf-8")
        return
    previous = json.loads(settings_path.read_text(encoding="utf-8"))
    if previous != settings:
        raise I2IInputError(
            f"{out_dir} was made with seed={previous.get('seed')} and size={previous.get('size')}; "
            "rerun with those to resume, or choose a new --out"
        )


def _make_records(image_path: Path, plans: list[_PlannedRecord], out_dir: Path, size: int | None) -> int:
    """Write the images of the planned records of one image; return how many were made.

    A record is left out when its distractor cannot be told apart from the right edit
    (e.g. "unchanged" for a flip of a symmetric image): such a pair would teach the
    metric nothing but noise.
    """
    from ...io.images import load_image
    from .edits import apply_edit, make_distractor, visibly_different
    from .pixels import shrink_to

    source = load_image(image_path)
    made = 0
    for plan in plans:
        right = apply_edit(source, plan.edit)
        wrong = make_distractor(source, plan.edit, plan.distractor, seed=plan.seed)
        if not visibly_different(right, wrong):
            continue
        source_file = plan.source_file(out_dir)
        if not source_file.exists():
            _save_png(shrink_to(source, size), source_file)
        for image, path in zip((right, wrong), plan.output_files(out_dir)):
            _save_png(shrink_to(image, size), path)
        made += 1
    return made
