"""Near misses: edits one respect away from a spec (the opposite direction, another region, another operation).

Three users build them: the grammar's own distractors (wrong operation, wrong region, wrong
direction: the right answer's near misses, rendered); and, in the training code, the scorer's
instruction contrast, which scores the right output under words it does not carry out, and
the base's grouped pretraining, which captions sibling edits of one crop as hard negatives
for the text tower. All need a near miss that *looks* different from the image it stands
against: brightening a white sky in either half gives the same pixels, and two equal images
under different words teach a difference that is not there.

"Opposite" is the one name of the direction change here; the distractor that renders it is
``wrong_direction`` and the contrast that words it ``words_opposite``.
"""

from __future__ import annotations

import random
from collections.abc import Collection

from PIL import Image

from ....errors import I2IInputError
from ..pixels import visibly_different
from .operations import OPERATIONS
from .regions import NAMED_REGIONS
from .render import render
from .spec import EditSpec
from .splits import in_split

__all__ = ["NEAR_MISS_CHANGES", "near_miss_candidates", "visible_near_miss"]

NEAR_MISS_CHANGES = ("opposite", "region", "operation")


def near_miss_candidates(spec: EditSpec, change: str, split: str | None, rng: random.Random) -> list[EditSpec]:
    """The specs that differ from ``spec`` by ``change`` alone, shuffled with ``rng``.

    Args:
        spec: the edit to stand near.
        change: ``"opposite"``: the operation's opposite direction (darker for brighter),
            if it has one; ``"region"``: the same edit in each other named region;
            ``"operation"``: each other operation (not the opposite) in the same region.
            Magnitude and colour carry over where they fit (:meth:`EditSpec.variant`).
        split: keep only specs of this split (:func:`in_split`), so words built for
            training never name a held-out pair; ``None`` keeps all (wrong answers are
            images, not words).
        rng: orders the candidates.

    Example:
        >>> import random
        >>> brighten_left = EditSpec("brighten", "left")
        >>> [s.op for s in near_miss_candidates(brighten_left, "opposite", None, random.Random(0))]
        ['darken']
        >>> near_miss_candidates(brighten_left, "opposite", "train", random.Random(0))  # darken-left is held out
        []
    """
    if change == "opposite":
        opposite = spec.operation.opposite
        candidates = [] if opposite is None else [spec.variant(op=opposite)]
    elif change == "region":
        names = [name for name in NAMED_REGIONS if name != spec.region.name]
        rng.shuffle(names)
        candidates = [spec.variant(region=name) for name in names]
    elif change == "operation":
        ops = [op for op in OPERATIONS if op not in (spec.op, spec.operation.opposite)]
        rng.shuffle(ops)
        candidates = [spec.variant(op=op) for op in ops]
    else:
        raise I2IInputError(f"unknown near-miss change {change!r}; valid changes: {', '.join(NEAR_MISS_CHANGES)}")
    return [candidate for candidate in candidates if split is None or in_split(candidate, split)]


def visible_near_miss(spec: EditSpec, change: str, source: Image.Image, seed: int, split: str | None,
                      rng: random.Random, differ_from: list[Image.Image],
                      exclude: Collection[EditSpec] = ()) -> tuple[EditSpec, Image.Image] | None:
    """The first near miss by ``change`` that looks unlike every image in ``differ_from``.

    Args:
        spec, change, split, rng: as for :func:`near_miss_candidates`.
        source: the image to edit; each candidate is rendered on it with ``seed``.
        differ_from: images the near miss must visibly differ from
            (:func:`~i2imetric.data.synthetic.pixels.visibly_different`).
        exclude: specs not to return even when they look different (a noise edit
            rendered with another seed does: same edit, other pixels).

    Returns:
        ``(near miss, its render)``, or ``None`` when no candidate looks different (a flip
        of a symmetric crop, brightening a white image in any region).
    """
    for candidate in near_miss_candidates(spec, change, split, rng):
        if candidate in exclude:
            continue
        image, _ = render(candidate, source, seed)
        if all(visibly_different(image, other) for other in differ_from):
            return candidate, image
    return None
