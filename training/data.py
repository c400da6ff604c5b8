"""Training data for the metric: groups of one right answer and several wrong ones.

A :class:`PairGroup` is one source image and instruction with a preferred output and one
or more rejected outputs, each rejection tagged with the aspect it fails (instruction
following, preservation or quality) so sub-scores can learn from it too. Groups are made
on the fly, so no dataset has to be written to disk:

* :class:`ShapesWorldGroups`: procedural scenes with exactly executed object edits;
* :class:`CanonicalEditGroups`: the 16 canonical edits on crops of real photos, from the
  bundled photos or any folder of the user's own images (minus the share of it that
  :func:`split_folder` holds out for validation);
* :class:`GrammarEditGroups`: edits sampled from the open-vocabulary edit grammar
  (:mod:`i2imetric.data.synthetic.grammar`, train split and train phrasings only) on the
  same crops, against the grammar's own distractors;
* :class:`ManifestGroups`: pairwise records from a JSONL manifest (human preferences, or
  ``i2imetric perturb`` output);
* :class:`RatingGroups`: rating records (e.g. ImagenHub), ranked within each (source,
  instruction), with per-aspect ratings (SC, PQ) feeding the matching sub-scores.

:class:`GroupMixture` draws from them with fixed weights. Everything a batch contains is a
pure function of ``(seed, step)``, so a resumed run sees exactly the data it would have seen.
"""

from __future__ import annotations

import hashlib
import random
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image

from i2imetric.data.synthetic import edits, grammar, photos, shapesworld
from i2imetric.data.synthetic.pixels import differing_pixels
from i2imetric.errors import I2IInputError
from i2imetric.io.images import find_images, image_to_tensor, load_image

from .losses import pairwise_targets

__all__ = [
    "PairGroup",
    "ShapesWorldGroups",
    "CanonicalEditGroups",
    "GrammarEditGroups",
    "GRAMMAR_VALIDATION_SPLITS",
    "grammar_validation_groups",
    "ManifestGroups",
    "RatingGroups",
    "GroupMixture",
    "DISTRACTOR_ASPECT",
    "changed_pixels",
    "FolderSplit",
    "split_folder",
    "folder_validation_groups",
]

# Which sub-score a distractor kind fails on. "instruction" covers doing the wrong thing,
# too little, or in the wrong place; "preservation" damage elsewhere; "quality" degradation.
DISTRACTOR_ASPECT = {
    "unchanged": "instruction",
    "wrong_edit": "instruction",
    "under_edit": "instruction",
    "wrong_region": "instruction",
    "collateral": "preservation",
    "over_edit": "quality",
    "wrong_object": "instruction",
    "wrong_value": "instruction",
    "no_edit": "instruction",
    "partial": "instruction",
    "extra_change": "preservation",
    "degraded": "quality",
}


@dataclass
class PairGroup:
    """One source and instruction, the preferred output, and rejected outputs with their kinds."""

    source: torch.Tensor
    instruction: str
    preferred: torch.Tensor
    rejected: list
    kinds: list
    family: str  # "shapes" | "photos" | "grammar" | "manifest" | "ratings"
    edit: str = ""
    labels: list = field(default_factory=list)  # p(preferred beats rejected[k]); 1.0 for synthetic data
    # The sub-score each rejection fails; by default read off its distractor kind.
    failed_aspects: Optional[list] = None
    # Per candidate (preferred first, then each rejected): ``(helped, hurt)`` pixel masks,
    # H x W bool on that candidate's own frame, saying where its per-patch map should be
    # positive (changed as asked) and negative (wrong: changed what should stay, or left
    # undone what was asked); anywhere else it should be zero. None (or a None entry): no
    # map supervision (for that candidate).
    map_masks: Optional[list] = None
    # Sub-score orderings beyond "preferred beats each rejection on the aspect it fails":
    # ``(candidate a, candidate b, aspect)`` with candidates numbered as in ``map_masks``.
    aspect_pairs: list = field(default_factory=list)
    # Per rejection, the instruction it is scored under; None (or a None entry): the
    # group's. An instruction-contrast rejection is the right output under another edit's
    # words, so the score must depend on what was asked, not only on what was done.
    rejected_instructions: Optional[list] = None

    def instruction_of(self, k: int) -> str:
        """The instruction rejection ``k`` is scored under."""
        if self.rejected_instructions is None or self.rejected_instructions[k] is None:
            return self.instruction
        return self.rejected_instructions[k]

    def scored_candidates(self) -> list[tuple[torch.Tensor, str]]:
        """``(output, instruction)`` of every candidate, preferred first, as each is scored."""
        texts = [self.instruction] + [self.instruction_of(k) for k in range(len(self.rejected))]
        return list(zip([self.preferred, *self.rejected], texts))

    @property
    def aspects(self) -> list:
        if self.failed_aspects is not None:
            return self.failed_aspects
        return [DISTRACTOR_ASPECT.get(kind) for kind in self.kinds]


def _tensor(image: Image.Image, working_size: int) -> torch.Tensor:
    """Downscale (never upscale) so the longer side is ``working_size``, then to a tensor.

    Edits were applied at the image's own resolution before this, as real outputs arrive.
    """
    # BICUBIC, not the helper's LANCZOS: the shipped demo scorer was trained and validated on these.
    return image_to_tensor(photos.shrink_to(image, working_size, resample=Image.Resampling.BICUBIC))


class ShapesWorldGroups:
    """ShapesWorld edit examples: one right edit against all six kinds of wrong answer.

    Args:
        size: render size in pixels.
        split: ``"train"`` never contains a held-out colour x shape combination.
        seed_offset: training seeds are ``offset + k``; validation uses ``shapesworld.HELDOUT_SEED_START``.
        map_masks: also give each candidate its map target (:func:`shapes_map_masks`).
    """

    family = "shapes"

    def __init__(self, size: int = 64, split: str = "train", seed_offset: int = 0,
                 seed_range: int = shapesworld.HELDOUT_SEED_START, map_masks: bool = False):
        self.size, self.split, self.seed_offset, self.seed_range = size, split, seed_offset, seed_range
        self.map_masks = map_masks

    def sample(self, rng: random.Random) -> PairGroup:
        return self.group(self.seed_offset + rng.randrange(self.seed_range))

    def group(self, seed: int) -> PairGroup:
        example = shapesworld.make_edit_example(seed, size=self.size, split=self.split)
        kinds = list(example.distractors)
        return PairGroup(
            source=image_to_tensor(example.source),
            instruction=example.instruction,
            preferred=image_to_tensor(example.target),
            rejected=[image_to_tensor(example.distractors[k]) for k in kinds],
            kinds=kinds,
            family=self.family,
            edit=example.edit_kind,
            labels=[1.0] * len(kinds),
            map_masks=shapes_map_masks(example, kinds) if self.map_masks else None,
        )


def shapes_map_masks(example: shapesworld.EditExample, kinds: list) -> list:
    """``(helped, hurt)`` per candidate of a ShapesWorld example: the right answer, then ``kinds``.

    ShapesWorld renders are exact, so the masks are pixel differences. The right answer
    helped where it differs from the source (the edited object) and hurt nowhere. A
    distractor hurt where it differs from the right answer: the object it should have
    edited and the one it edited instead (``wrong_object``), the extra change, the half it
    reverted (``partial``), all of the edit (``no_edit``), every pixel a blur or noise
    reached (``degraded``); it helped where it made the right change (the rest of
    ``helped``). The grammar's masks follow the same convention (``GrammarEditGroups.group``).
    """
    everywhere = np.ones((example.target.height, example.target.width), dtype=bool)
    helped = changed_pixels(example.source, example.target, everywhere)
    masks = [(helped, np.zeros_like(helped))]
    for kind in kinds:
        hurt = changed_pixels(example.target, example.distractors[kind], everywhere)
        masks.append((helped & ~hurt, hurt))
    return masks


@dataclass(frozen=True)
class FolderSplit:
    """A folder's images, split into the ones training may use and the ones validation keeps."""

    folder: Path
    train: list  # paths, sorted
    heldout: list  # paths, sorted


def split_folder(folder: str | Path, holdout_fraction: float) -> FolderSplit:
    """Hold out a fixed share of a folder's images for validation, chosen by their content.

    Files are grouped by the sha256 of their bytes and the groups ordered by that hash; the
    first ``max(1, round(holdout_fraction * groups))`` (and never all of them) are held out.
    So the split is a function of what the images are, not of their names or the order a
    file system lists them in: renaming or moving files changes nothing, a resumed run sees
    the same split, and copies of one image never end up on both sides. Adding images can
    move the boundary; the held-out images are then still never trained on in that run.

    Args:
        folder: a folder of images (searched recursively, as :func:`i2imetric.io.images.find_images`).
        holdout_fraction: the share to hold out, in (0, 1).

    Returns:
        The :class:`FolderSplit`.

    Raises:
        I2IInputError: no images, or fewer than two distinct ones (one to validate on, one to train on).
    """
    folder = Path(folder)
    paths = find_images(folder)
    if not paths:
        raise I2IInputError(f"{folder}: no images found (files PIL can open; hidden ones are skipped)")
    by_content: dict[str, list] = {}
    for path in paths:
        by_content.setdefault(_content_hash(path), []).append(path)
    if len(by_content) < 2:
        raise I2IInputError(
            f"{folder}: {len(paths)} image file(s), {len(by_content)} distinct; training on a folder holds out "
            f"validation.holdout_fraction ({holdout_fraction}) of its images for validation (at least one) and "
            "trains on the rest, so it needs at least 2 distinct images: add images to the folder"
        )
    hashes = sorted(by_content)
    held = min(len(hashes) - 1, max(1, round(holdout_fraction * len(hashes))))
    heldout = sorted(p for h in hashes[:held] for p in by_content[h])
    train = sorted(p for h in hashes[held:] for p in by_content[h])
    return FolderSplit(folder, train, heldout)


# sha256 by (path, size, mtime): the mixture, the validation sets and the run's summary line
# each split the same folder, and a large folder should be read once, not three times.
_HASHES: dict[tuple, str] = {}


def _content_hash(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def _load_images(paths, max_side: int) -> list:
    return [photos.shrink_to(load_image(path), max_side) for path in paths]


class _PhotoSource:
    """Where a photo-crop source gets its images: the bundled training photos or a folder."""

    @classmethod
    def from_bundled_photos(cls, max_side: int = 256, **kwargs):
        return cls(photos.training_photos(max_side), **kwargs)

    @classmethod
    def from_folder(cls, folder: str | Path, max_side: int = 256, holdout_fraction: Optional[float] = None, **kwargs):
        """Every image of ``folder``, or with ``holdout_fraction`` only the training side of
        :func:`split_folder` (the trainer always passes it, so validation images never train)."""
        if holdout_fraction is not None:
            paths = split_folder(folder, holdout_fraction).train
        else:
            paths = find_images(folder)
            if not paths:
                raise I2IInputError(f"{folder}: no images found (files PIL can open; hidden ones are skipped)")
        return cls(_load_images(paths, max_side), **kwargs)


class CanonicalEditGroups(_PhotoSource):
    """Canonical edits on random crops of real images, against every distractor kind.

    Args:
        images: PIL images to crop from (bundled photos or a user's folder).
        working_size: longest side of the tensors handed to the model.
        distractors_per_group: how many distractor kinds to draw per group (all six by default).
    """

    family = "photos"

    def __init__(self, images: list, working_size: int = 96, distractors_per_group: int = len(edits.DISTRACTORS),
                 crop: bool = True):
        if not images:
            raise I2IInputError("CanonicalEditGroups needs at least one image")
        self.images, self.working_size = images, working_size
        self.distractors_per_group, self.crop = distractors_per_group, crop

    def sample(self, rng: random.Random) -> PairGroup:
        image = self.images[rng.randrange(len(self.images))]
        source = photos.random_crop(image, rng) if self.crop else image
        edit = rng.choice(sorted(edits.CANONICAL_EDITS))
        kinds = rng.sample(edits.DISTRACTORS, self.distractors_per_group)
        return self.group(source, edit, kinds, seed=rng.randrange(2**31))

    def group(self, source: Image.Image, edit: str, kinds: list, seed: int = 0) -> PairGroup:
        target = edits.apply_edit(source, edit)
        rejected, kept = [], []
        for kind in kinds:
            wrong = edits.make_distractor(source, edit, kind, seed=seed)
            if edits.visibly_different(wrong, target):  # e.g. a flip of a symmetric crop is no distractor
                rejected.append(_tensor(wrong, self.working_size))
                kept.append(kind)
        return PairGroup(
            source=_tensor(source, self.working_size),
            instruction=edits.CANONICAL_EDITS[edit],
            preferred=_tensor(target, self.working_size),
            rejected=rejected,
            kinds=kept,
            family=self.family,
            edit=edit,
            labels=[1.0] * len(kept),
        )


class GrammarEditGroups(_PhotoSource):
    """Grammar edits (:func:`grammar.sample_spec`) on random crops of real images.

    Each group is one spec of ``split`` phrased as that split requires (the ``train`` split
    never draws a held-out operation, operation x region pair or phrasing), the right answer
    from :func:`grammar.render` and every distractor :func:`grammar.make_distractors` builds
    for it, each tagged with the sub-score it fails (``Distractor.fails``), as the canonical
    distractors are tagged through :data:`DISTRACTOR_ASPECT`.

    Args:
        images: PIL images to crop from (bundled photos or a user's folder).
        working_size: longest side of the tensors handed to the model.
        split: a key of :data:`grammar.SPLITS`; training uses ``"train"``, validation the others.
        distractors_per_group: keep at most this many distractors (None: all that apply).
        crop: take a random crop of the image (else the whole image).
        instruction_contrast: add up to three more wrong answers (:meth:`contrast_specs`): the
            right output scored under words that ask for something else, failing
            "instruction". Without them every candidate of a group shares one instruction,
            and a scorer can rank them well without reading the words.
        contrast_map_masks: give those wrong answers a map target too, read against what
            their words ask for: hurt where the right output differs from the render of the
            other request, helped where it changed pixels as that request would. The same
            pixels then need one sign under the right words and the other under wrong ones,
            so the map has to read the instruction, not only see where the output changed.
            Without it they have none.
    """

    family = "grammar"

    def __init__(self, images: list, working_size: int = 96, split: str = "train",
                 distractors_per_group: Optional[int] = None, crop: bool = True,
                 instruction_contrast: bool = False, contrast_map_masks: bool = False):
        if not images:
            raise I2IInputError("GrammarEditGroups needs at least one image")
        if split not in grammar.SPLITS:
            raise I2IInputError(f"unknown grammar split {split!r}; valid splits: {', '.join(grammar.SPLITS)}")
        self.images, self.working_size, self.split = images, working_size, split
        self.distractors_per_group, self.crop = distractors_per_group, crop
        self.instruction_contrast, self.contrast_map_masks = instruction_contrast, contrast_map_masks
        if contrast_map_masks and not instruction_contrast:
            raise I2IInputError("contrast_map_masks gives the instruction-contrast wrong answers a map target; "
                                "it needs instruction_contrast=True")

    def draw(self, rng: random.Random):
        """What :meth:`sample` builds its group from: ``(source crop, spec, Phrase, seed)``."""
        image = self.images[rng.randrange(len(self.images))]
        source = photos.random_crop(image, rng) if self.crop else image
        spec = grammar.sample_spec(rng, self.split)
        words = grammar.phrase_parts(spec, rng, grammar.SPLITS[self.split])
        return source, spec, words, rng.randrange(2**31)

    def sample(self, rng: random.Random) -> PairGroup:
        """A group on a random crop; a spec is drawn again where it does not show on the crop.

        A right answer no viewer could tell from the source ("slightly" brightening a white
        sky) is no edit to reward, and its map target would call invisible pixels "helped";
        a spec with no visible distractor has nothing to rank. After 8 draws a group with
        no distractor is kept; 8 invisible right answers in a row mean the images are blank.
        """
        group = None
        for _ in range(8):
            source, spec, words, seed = self.draw(rng)
            group = self.visible_group(source, spec, words.text, seed) or group
            if group is not None and group.rejected:
                return group
        if group is None:
            raise I2IInputError(
                f"grammar edits ({self.split} split): 8 edits in a row changed nothing visible on these "
                f"images; they look blank or flat (a single colour): use images with content to edit")
        return group

    def visible_group(self, source: Image.Image, spec, instruction: str, seed: int = 0) -> Optional[PairGroup]:
        """:meth:`group`, or None where the right answer does not visibly differ from ``source``."""
        right = grammar.render(spec, source, seed)
        if not edits.visibly_different(right[0], source):
            return None
        return self.group(source, spec, instruction, seed, right=right)

    def group(self, source: Image.Image, spec, instruction: str, seed: int = 0,
              right: Optional[tuple] = None) -> PairGroup:
        """The group of ``spec`` on ``source``; ``right`` is ``grammar.render(spec, source, seed)`` if already made."""
        target, footprint = right if right is not None else grammar.render(spec, source, seed)
        wrong = grammar.make_distractors(spec, source, seed)
        if self.distractors_per_group is not None and len(wrong) > self.distractors_per_group:
            wrong = random.Random(seed).sample(wrong, self.distractors_per_group)
        helped = changed_pixels(source, target, footprint)
        map_masks = [(helped, np.zeros_like(helped))]
        for distractor in wrong:
            # distractor.mask: where it differs from the right answer, in the right answer's frame
            map_masks.append(_still_helped(helped, distractor.mask, distractor.image, target))
        group = PairGroup(
            source=_tensor(source, self.working_size),
            instruction=instruction,
            preferred=_tensor(target, self.working_size),
            rejected=[_tensor(d.image, self.working_size) for d in wrong],
            kinds=[d.kind for d in wrong],
            family=self.family,
            edit=spec.op,
            labels=[1.0] * len(wrong),
            failed_aspects=[d.fails for d in wrong],
            map_masks=map_masks,
            aspect_pairs=_subscore_orderings([d.kind for d in wrong]),
        )
        if self.instruction_contrast:
            self._add_instruction_contrast(group, spec, source, target, seed)
        return group

    def _add_instruction_contrast(self, group: PairGroup, spec, source: Image.Image, target: Image.Image,
                                  seed: int) -> None:
        """Append the right output once per contrast instruction of :meth:`contrast_specs`."""
        rng = random.Random(f"instruction-contrast/{seed}")
        rejected_instructions = [None] * len(group.rejected)
        helped = group.map_masks[0][0]
        for kind, other, asked in self.contrast_specs(spec, source, target, rng, seed):
            rejected_instructions.append(grammar.phrase(other, rng, grammar.SPLITS[self.split]))
            group.rejected.append(group.preferred)
            group.kinds.append(kind)
            group.labels.append(1.0)
            group.failed_aspects.append("instruction")
            # The distractors' convention with the roles turned: there a candidate is read
            # against the right answer, here the right output against what the other words ask.
            mask = _still_helped(helped, differing_pixels(asked, target), asked, target) if self.contrast_map_masks else None
            group.map_masks.append(mask)
        group.rejected_instructions = rejected_instructions

    def contrast_specs(self, spec, source: Image.Image, target: Image.Image, rng: random.Random, seed: int) -> list:
        """``(kind, spec, render)`` for up to three requests that the right output does *not* carry out.

        In the order drawn:

        * ``words_other_operation``: another operation (the easy case, but checked too:
          sharpening a flat crop renders like blurring it);
        * ``words_opposite``: the opposite direction ("darker" for "brighter");
        * ``words_other_region``: the same operation in another region, so "the right half"
          must be read, not guessed from what changed.

        Each stays inside this source's split (:func:`grammar.in_split`), so held-out pairs
        never reach training through the words, and each is kept only where rendering it
        gives an image visibly different from the right output (brightening a white sky in
        either half looks the same).
        """
        found = []
        for _ in range(16):  # a spec of the split, so its words come from the split's phrasings
            other = grammar.sample_spec(rng, self.split)
            if other.op in (spec.op, spec.operation.opposite):
                continue
            asked, _ = grammar.render(other, source, seed)
            if edits.visibly_different(asked, target):
                found.append(("words_other_operation", other, asked))
                break
        for kind, change in (("words_opposite", "opposite"), ("words_other_region", "region")):
            near_miss = grammar.visible_near_miss(spec, change, source, seed, self.split, rng, differ_from=[target])
            if near_miss is not None:
                found.append((kind, *near_miss))
        return found


def _still_helped(helped: np.ndarray, hurt: np.ndarray, image: Image.Image, target: Image.Image) -> tuple:
    """``(helped, hurt)`` map masks of a wrong answer: the right answer's helped pixels it did not get wrong.

    Nothing is helped where ``image`` and the right answer ``target`` have different frames.
    """
    kept = helped & ~hurt if image.size == target.size else np.zeros_like(hurt)
    return kept, hurt


def changed_pixels(source: Image.Image, output: Image.Image, footprint: np.ndarray) -> np.ndarray:
    """The pixels of ``output`` an edit visibly changed within its footprint (all of them when the frame changed).

    A footprint pixel the operation maps to itself (brightening white sky) did not change,
    so the map is not asked to call it "helped".
    """
    if source.size != output.size:
        return np.ones((output.height, output.width), dtype=bool)
    difference = np.abs(np.asarray(output, dtype=np.int16) - np.asarray(source, dtype=np.int16)).max(axis=2)
    return footprint & (difference > CHANGED_LEVEL)


CHANGED_LEVEL = 2  # of 255: below this a pixel counts as unchanged (JPEG-free renders are exact)


# Distractors built from the right edit's own operation (or none): whatever they got wrong,
# they are clean images, so a degraded output (the right edit, then heavy blur, noise or JPEG)
# is worse on quality. Without these pairs quality can mean "how little changed".
_CLEAN_KINDS = ("wrong_region", "wrong_direction", "under", "partial", "no_op")
# Distractors that leave everything outside the requested region alone: they preserve
# better than collateral damage (the right edit plus damage elsewhere).
_CONTAINED_KINDS = ("wrong_operation", "wrong_direction", "under", "partial", "no_op")


def _subscore_orderings(kinds: list) -> list:
    """Sub-score orderings between candidates beyond "the right answer wins on what each rejection fails".

    Candidates are numbered as in ``PairGroup.map_masks`` (0 the right answer, ``1 + k``
    rejection ``k``). An unchanged output keeps everything, so it preserves at least as
    well as the right edit; clean outputs beat a degraded one on quality; contained
    outputs beat collateral damage on preservation. Together they keep preservation and
    quality from both collapsing into "how little changed".
    """
    position = {kind: 1 + k for k, kind in enumerate(kinds)}
    pairs = [(position["no_op"], 0, "preservation")] if "no_op" in position else []
    if "degraded" in position:
        pairs += [(position[kind], position["degraded"], "quality") for kind in _CLEAN_KINDS if kind in position]
    if "collateral" in position:
        pairs += [(position[kind], position["collateral"], "preservation") for kind in _CONTAINED_KINDS
                  if kind in position]  # fmt: skip
    return pairs


class ManifestGroups:
    """Pairwise records of a JSONL manifest (human preferences, or ``i2imetric perturb`` output).

    Labels become p(a preferred): "a" 1, "b" 0, "tie" 0.5, floats as given. A "both_bad"
    pair whose record names a ``reference`` output (a path in its extra fields, relative to
    the manifest like every image) becomes a group in which the reference beats both
    outputs, so both are pushed down relative to it; without a reference it is a tie.
    """

    family = "manifest"

    def __init__(self, path: str | Path, working_size: int = 96):
        from i2imetric.data import Pairwise

        self.folder = Path(path).parent
        records = _read_manifest(path)
        self.records = [r for r in records if isinstance(r, Pairwise) and r.source is not None and r.instruction]
        unusable = len(records) - len(self.records)
        if unusable:
            # Text-to-image pairs (no source) and other record types cannot train an edit metric.
            warnings.warn(f"{path}: {unusable} of {len(records)} records are not pairwise records with a source "
                          "and an instruction; training uses the other ones", stacklevel=2)
        if not self.records:
            raise I2IInputError(f"{path}: no pairwise records with a source and an instruction")
        for number, record in enumerate(self.records, 1):
            _check_extra_fields(record, path, number)
        self.working_size = working_size

    def sample(self, rng: random.Random) -> PairGroup:
        record = self.records[rng.randrange(len(self.records))]
        reference = record.extra.get("reference") if record.label == "both_bad" else None
        if reference is not None:
            preferred, rejected = self.folder / reference, [record.output_a, record.output_b]
            labels, kinds = [1.0, 1.0], ["both_bad", "both_bad"]
        else:
            preferred, rejected = record.output_a, [record.output_b]
            labels = pairwise_targets([record.label]).tolist()
            kinds = [record.extra.get("distractor", "human")]
        return PairGroup(
            source=self._load(record.source),
            instruction=record.instruction,
            preferred=self._load(preferred),
            rejected=[self._load(path) for path in rejected],
            kinds=kinds,
            family=self.family,
            edit=record.extra.get("edit", ""),
            labels=labels,
        )

    def _load(self, path) -> torch.Tensor:
        return _tensor(load_image(path), self.working_size)


class RatingGroups:
    """Rating records ranked within each (source, instruction): a ranking loss for ratings.

    Absolute ratings drift between raters and prompts; their order among the outputs for
    the same source and instruction does not. Each group is one top-rated output against the
    lower-rated ones (Bradley-Terry on the score differences). When records carry per-aspect
    ratings (ImagenHub's ``{"SC": ..., "PQ": ...}``), each rejection also trains the
    sub-score of the aspect it loses most on, via ``aspect_to_subscore``.

    Args:
        path: a manifest of rating records (several raters of one output are averaged).
        aspect_to_subscore: rating aspect name -> sub-score name.
    """

    family = "ratings"

    def __init__(self, path: str | Path, working_size: int = 96,
                 aspect_to_subscore: Optional[dict] = None, max_rejected: int = 6):
        from i2imetric.data import Rating

        self.working_size, self.max_rejected = working_size, max_rejected
        self.aspect_to_subscore = aspect_to_subscore or {"SC": "instruction", "PQ": "quality"}
        records = _read_manifest(path)
        ratings = [r for r in records if isinstance(r, Rating) and r.source is not None and r.instruction]
        if len(ratings) < len(records):
            warnings.warn(f"{path}: {len(records) - len(ratings)} of {len(records)} records are not rating records "
                          "with a source and an instruction; training uses the other ones", stacklevel=2)
        self.groups = [g for g in _average_by_output(ratings) if len({value for _, value, _ in g[2]}) > 1]
        if not self.groups:
            raise I2IInputError(f"{path}: no (source, instruction) has two outputs with different ratings to rank")

    def sample(self, rng: random.Random) -> PairGroup:
        source, instruction, outputs = self.groups[rng.randrange(len(self.groups))]
        ranked = sorted(outputs, key=lambda item: -item[1])
        best_value = ranked[0][1]
        winner = rng.choice([o for o in ranked if o[1] == best_value])
        losers = [o for o in ranked if o[1] < best_value][: self.max_rejected]
        return PairGroup(
            source=self._load(source),
            instruction=instruction,
            preferred=self._load(winner[0]),
            rejected=[self._load(path) for path, _, _ in losers],
            kinds=["rating"] * len(losers),
            family=self.family,
            labels=[1.0] * len(losers),
            failed_aspects=[self._worst_aspect(winner[2], aspects) for _, _, aspects in losers],
        )

    def _worst_aspect(self, winner_aspects: dict, loser_aspects: dict) -> Optional[str]:
        gaps = {name: winner_aspects[name] - value for name, value in loser_aspects.items()
                if name in winner_aspects and name in self.aspect_to_subscore}
        if not gaps or max(gaps.values()) <= 0:
            return None
        return self.aspect_to_subscore[max(gaps, key=gaps.get)]

    def _load(self, path) -> torch.Tensor:
        return _tensor(load_image(path), self.working_size)


def _read_manifest(path) -> list:
    """The records of a manifest; unreadable lines already raise with file:line.

    Raises:
        I2IInputError: the path is not a file, or not UTF-8 text (a binary file passed by mistake).
    """
    from i2imetric.data import read_manifest

    if not Path(path).is_file():
        what = "a folder, not a manifest file" if Path(path).is_dir() else "no such manifest file"
        raise I2IInputError(f"{path}: {what} (JSONL, one record a line); check the path")
    try:
        records, _ = read_manifest(path)
    except UnicodeDecodeError as exc:
        raise I2IInputError(f"{path}: not a UTF-8 text manifest (undecodable byte at offset {exc.start}); "
                            "write one JSON record a line") from exc
    return records


def _check_extra_fields(record, path, number: int) -> None:
    """The extra fields training reads must be strings: a reference path, an edit and a distractor name.

    Checked up front, so a bad record fails before the run rather than when a step first draws it.
    """
    for key in ("reference", "edit", "distractor"):
        value = record.extra.get(key)
        if value is not None and not isinstance(value, str):
            raise I2IInputError(f"{path}: pairwise record {record.id or number}: extra field {key!r} must be a "
                                f"string{' (an image path)' if key == 'reference' else ''}, got "
                                f"{type(value).__name__} {value!r}")


def _average_by_output(ratings: list) -> list:
    """``[(source, instruction, [(output, mean value, mean aspects), ...]), ...]``."""
    by_prompt: dict = {}
    for rating in ratings:
        outputs = by_prompt.setdefault((rating.source, rating.instruction), {})
        outputs.setdefault(rating.output, []).append(rating)
    groups = []
    for (source, instruction), outputs in by_prompt.items():
        averaged = []
        for output, items in outputs.items():
            value = sum(r.value for r in items) / len(items)
            names = set.intersection(*(set(r.aspects or {}) for r in items))
            aspects = {n: sum(r.aspects[n] for r in items) / len(items) for n in names}
            averaged.append((output, value, aspects))
        groups.append((source, instruction, averaged))
    return groups


class GroupMixture:
    """Draw groups from several sources with fixed weights, reproducibly per step.

    Args:
        sources: objects with ``sample(rng) -> PairGroup``.
        weights: relative sampling weights, one per source.
        seed: the run's data seed.
    """

    def __init__(self, sources: list, weights: list, seed: int = 0):
        if len(sources) != len(weights) or not sources:
            raise ValueError("GroupMixture needs one weight per source, and at least one source")
        self.sources, self.weights, self.seed = sources, weights, seed

    def batch(self, step: int, size: int) -> list[PairGroup]:
        """The groups of training step ``step``: the same on every run and after a resume."""
        # Seeded apart from the pretraining's per-step draws (training.pretrain), so a scorer
        # trained with the seed of its base does not see its base's crops in the same order.
        rng = random.Random(f"mixture/{self.seed}/{step}")
        chosen = rng.choices(range(len(self.sources)), weights=self.weights, k=size)
        return [self.sources[i].sample(rng) for i in chosen]


def validation_groups(image_size: int, photo_names=photos.HELDOUT_PHOTOS, shapes_count: int = 100,
                      photo_crops: int = 1, working_size: int = 96) -> dict[str, list[PairGroup]]:
    """The held-out sets the card reports: unseen ShapesWorld seeds, unseen colour x shape
    combinations, and every canonical edit x distractor on photos never used in training
    (the whole photo plus ``photo_crops - 1`` crops of each; 0 leaves the photo set out)."""
    start = shapesworld.HELDOUT_SEED_START
    held_seeds = ShapesWorldGroups(image_size, split="train")
    held_combos = ShapesWorldGroups(image_size, split="heldout_combos")
    sets = {
        "shapes_heldout_seeds": [held_seeds.group(start + i) for i in range(shapes_count)],
        "shapes_heldout_combos": [held_combos.group(start + i) for i in range(shapes_count)],
    }
    if photo_crops > 0:
        images = [photos.load_photo(n, max_side=256) for n in photo_names]
        sets["photos_heldout"] = _photo_validation_groups(images, photo_crops, working_size)
    return sets


def _photo_validation_groups(images: list, photo_crops: int, working_size: int) -> list[PairGroup]:
    maker = CanonicalEditGroups(images, working_size=working_size, crop=False)
    rng = random.Random(0)
    groups = []
    for image in maker.images:
        views = [image] + [photos.random_crop(image, rng, min_share=0.6) for _ in range(photo_crops - 1)]
        for view in views:
            for edit in sorted(edits.CANONICAL_EDITS):
                groups.append(maker.group(view, edit, list(edits.DISTRACTORS), seed=rng.randrange(2**31)))
    return groups


# Validation set name -> grammar split; the first is the trained split on unseen photos.
GRAMMAR_VALIDATION_SPLITS = {
    "grammar_train": "train",
    "grammar_heldout_phrasing": "heldout_phrasing",
    "grammar_heldout_combo": "heldout_combo",
    "grammar_heldout_operation": "heldout_operation",
}


def grammar_validation_groups(count: int, photo_names=photos.HELDOUT_PHOTOS,
                              working_size: int = 96, images: Optional[list] = None) -> dict[str, list[PairGroup]]:
    """``count`` grammar groups per split (:data:`GRAMMAR_VALIDATION_SPLITS`) on crops of
    photos never used in training (the bundled held-out photos, or ``images`` when given),
    the same on every call, so each split is reported apart."""
    if count <= 0:
        return {}
    if images is None:
        images = [photos.load_photo(n, max_side=256) for n in photo_names]
    sets = {}
    for name, split in GRAMMAR_VALIDATION_SPLITS.items():
        maker = GrammarEditGroups(images, working_size=working_size, split=split)
        rng = random.Random(f"grammar-validation/{split}")
        sets[name] = [maker.sample(rng) for _ in range(count)]
    return sets


def benchmark_validation_groups(entry, working_size: int, work_dir: str | Path) -> list[PairGroup]:
    """The validation share of a human-voted benchmark (``validation.benchmarks``) as pair groups.

    Read through the same adapter as ``i2imetric bench`` (a local ``data_root``, or the Hub
    when online; offline and missing, it fails at once with the download command). Only
    units the share picks (:func:`~i2imetric.meta_eval.benchmarks.validation_share`) with a
    decided vote are kept: the voted-for output is the right answer, the other the wrong
    one. A unit whose images cannot be read is skipped with a warning that counts them.
    """
    from i2imetric.meta_eval.benchmarks import find_data, resolve_names, validation_share

    benchmark = resolve_names(None, entry.bench)[0]
    loaded = benchmark.load(find_data(benchmark, entry.data_root), str(work_dir))
    share = validation_share(benchmark.name, loaded.unit_ids, entry.fraction)
    groups, unreadable = [], []
    for unit, unit_id, info in zip(loaded.units, loaded.unit_ids, loaded.info):
        if unit_id not in share or info.get("label") not in ("a", "b"):
            continue
        first, second = unit
        voted, other = (first, second) if info["label"] == "a" else (second, first)
        try:
            images = [_tensor(load_image(path), working_size) for path in (first.source, voted.output, other.output)]
        except I2IInputError as exc:
            unreadable.append(f"{unit_id}: {exc}")
            continue
        groups.append(PairGroup(source=images[0], instruction=first.instruction, preferred=images[1],
                                rejected=[images[2]], kinds=["human_vote"], family="benchmark",
                                edit=benchmark.name, labels=[1.0]))  # fmt: skip
    if unreadable:
        warnings.warn(f"validation.benchmarks ({benchmark.name}): {len(unreadable)} unit(s) of its share skipped, "
                      f"their images unreadable; first: {unreadable[0]}", stacklevel=2)  # fmt: skip
    if not groups:
        raise I2IInputError(f"validation.benchmarks ({benchmark.name}): no decided vote in its {entry.fraction:.0%} "
                            f"share of {len(loaded.units)} units; raise fraction")  # fmt: skip
    return groups


def folder_validation_groups(split: FolderSplit, kind: str, label: str, *, photo_crops: int = 1,
                             grammar_count: int = 48, working_size: int = 96) -> dict[str, list[PairGroup]]:
    """The validation sets of a folder source, on its held-out images only.

    Named as the bundled sets with ``@label`` added (``photos_heldout@my_photos``,
    ``grammar_train@my_photos``, ``grammar_heldout_phrasing@my_photos``, ...), so the summary
    lists the user's domain next to the bundled photos. A ``canonical_edits`` source gets the
    canonical-edit set (as ``photos_heldout``), a ``grammar`` source one set per grammar split.
    """
    images = _load_images(split.heldout, 256)
    if kind == "canonical_edits":
        sets = {"photos_heldout": _photo_validation_groups(images, photo_crops, working_size)} if photo_crops > 0 else {}
    else:
        sets = grammar_validation_groups(grammar_count, working_size=working_size, images=images)
    return {f"{name}@{label}": groups for name, groups in sets.items()}
