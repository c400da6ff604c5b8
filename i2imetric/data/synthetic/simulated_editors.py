"""Simulated editing systems of known quality, and simulated raters who see that quality through noise.

A human study of real editors cannot be run here, so this is its controlled version: every
output's true quality is known by construction, and so is every system's.

* An *item* (:class:`EditItem`) is a crop of a held-out photo, a spec of a held-out split of
  the edit grammar and an instruction for it (:func:`sample_items`).
* An *outcome* (:data:`OUTCOMES`) is what an editor did with it: the right edit
  (``"correct"``) or one of the grammar's wrong answers (:func:`~.grammar.make_distractor`),
  rendered by :func:`render_outcome`. Each outcome has a true utility (:data:`UTILITY`).
* A *system* (:class:`SimulatedEditor`) draws one outcome per item from its own rates
  (:meth:`SimulatedEditor.draw`); its true quality is the mean utility of what it output.
  :data:`SIMULATED_EDITORS` are eight such systems whose qualities span a range, two of
  them close in quality with different failure modes (one global, one local).
* Raters (:func:`simulated_ratings`) see each output's utility plus Gaussian noise and
  answer on a 1-5 Likert scale, so several raters give a human-human ceiling.

Example:
    >>> items = sample_items(2, seed=0)
    >>> editor = SIMULATED_EDITORS["faithful"]
    >>> outcome = editor.draw(OUTCOMES, random.Random(0))
    >>> outcome in OUTCOMES, 0.9 < editor.expected_quality <= 1.0
    (True, True)
    >>> image = render_outcome(items[0], "correct")
    >>> image.size == items[0].source.size
    True
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ...errors import I2IInputError
from .grammar import SPLITS, EditSpec, make_distractor, phrase, render, sample_spec
from .photos import HELDOUT_PHOTOS, load_photo, random_crop
from .pixels import visibly_different

__all__ = [
    "DEFAULT_SPLITS",
    "OUTCOMES",
    "UTILITY",
    "EditItem",
    "SIMULATED_EDITORS",
    "SimulatedEditor",
    "expected_qualities",
    "render_outcome",
    "sample_items",
    "simulated_ratings",
]

# The true utility of each outcome, in [0, 1]. The instructed edit done right is worth 1;
# an output that does the instructed edit but badly keeps part of its worth; one that does
# not do the instructed edit at all (ignores it, does another one, the opposite one) is
# worth nothing, whatever it looks like. Wrong region keeps a little: the right operation
# is there, in the wrong place, and the place asked for is untouched.
UTILITY: dict[str, float] = {
    "correct": 1.0,
    "collateral": 0.6,  # the right edit, plus damage where nothing was asked
    "under": 0.5,  # the right edit at 0.3 of its magnitude
    "partial": 0.5,  # the right edit on half of its footprint
    "over": 0.4,  # the right edit at 2.5 times its magnitude (overshoot reads as worse than timidity)
    "degraded": 0.4,  # the right edit, then a heavy blur, heavy noise or JPEG at quality 8
    "wrong_region": 0.1,
    "wrong_direction": 0.0,  # the opposite operation (darken for brighten)
    "wrong_operation": 0.0,
    "no_op": 0.0,  # the source returned unchanged: the instruction ignored
}
OUTCOMES: tuple[str, ...] = tuple(UTILITY)
# Which split each item comes from, alternating: the two spec splits the metric never trained on.
DEFAULT_SPLITS: tuple[str, ...] = ("heldout_combo", "heldout_operation")


@dataclass(frozen=True)
class SimulatedEditor:
    """An editing system as a distribution over outcomes.

    Args:
        name: how tables name it.
        rates: outcome -> probability (keys from :data:`OUTCOMES`, summing to 1).
        style: a few words on its failure mode, for the tables ("global: degrades the image").
    """

    name: str
    rates: Mapping[str, float]
    style: str = ""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.rates) - set(OUTCOMES))
        if unknown:
            raise I2IInputError(f"editor {self.name!r}: unknown outcome(s) {unknown}; valid: {', '.join(OUTCOMES)}")
        negative = [k for k, v in self.rates.items() if not (v >= 0 and math.isfinite(v))]
        if negative:
            raise I2IInputError(f"editor {self.name!r}: rates must be finite and >= 0, got {negative}")
        total = sum(self.rates.values())
        if abs(total - 1.0) > 1e-6:
            raise I2IInputError(f"editor {self.name!r}: rates sum to {total:.6f}; scale them to sum to 1")
        object.__setattr__(self, "rates", {k: float(self.rates[k]) for k in OUTCOMES if self.rates.get(k, 0) > 0})

    @property
    def expected_quality(self) -> float:
        """Its quality if every outcome applied to every item: sum of rate x utility."""
        return float(sum(rate * UTILITY[outcome] for outcome, rate in self.rates.items()))

    def draw(self, available: Iterable[str], rng: random.Random) -> str:
        """One outcome for an item on which the outcomes ``available`` can be rendered.

        An outcome the item does not allow (under-doing a flip, collateral damage where the
        edit covers the whole frame) is left out and the other rates are renormalised, as an
        editor that cannot fail one way on an item either succeeds or fails another way.
        An editor none of whose outcomes is available ignores the instruction (``no_op``).
        """
        allowed = set(available)
        choices = [(outcome, rate) for outcome, rate in self.rates.items() if outcome in allowed]
        if not choices:
            return "no_op"
        outcomes, weights = zip(*choices)
        return rng.choices(outcomes, weights=weights, k=1)[0]


def _editor(name: str, style: str, **rates: float) -> SimulatedEditor:
    return SimulatedEditor(name, rates, style)


# Expected qualities (every outcome available): 0.95, 0.78, 0.73, 0.565, 0.56, 0.43, 0.25, 0.13.
# "blurry" and "sloppy" are the close pair: one fails globally (the whole frame degraded),
# one locally (wrong place, damage next to the edit). "lazy" mostly returns the source:
# its outputs keep the photos' statistics, which is what a set-level distance rewards.
SIMULATED_EDITORS: dict[str, SimulatedEditor] = {
    e.name: e
    for e in (
        _editor("faithful", "nearly always right", correct=0.90, under=0.04, over=0.03, collateral=0.03),
        _editor("timid", "under-does the edit", correct=0.55, under=0.35, partial=0.10),
        _editor("heavy", "over-does the edit, spills over", correct=0.50, over=0.35, collateral=0.15),
        _editor("sloppy", "local: wrong region, collateral damage", correct=0.30, wrong_region=0.30,
                collateral=0.35, partial=0.05),
        _editor("blurry", "global: degrades the whole image", correct=0.30, degraded=0.65, no_op=0.05),
        _editor("confused", "does another or the opposite edit", correct=0.35, wrong_operation=0.35,
                wrong_direction=0.15, under=0.15),
        _editor("lazy", "ignores the instruction, keeps the photo", correct=0.25, no_op=0.75),
        _editor("chaotic", "wrong edits, degraded", wrong_operation=0.60, degraded=0.30, wrong_region=0.10),
    )
}  # fmt: skip


def expected_qualities(editors: Iterable[SimulatedEditor]) -> dict[str, float]:
    """Each editor's :attr:`~SimulatedEditor.expected_quality`, by name."""
    return {e.name: e.expected_quality for e in editors}


@dataclass(frozen=True, eq=False)
class EditItem:
    """One (source, instruction) to edit, from a held-out split on a held-out photo.

    Attributes:
        index: its position in :func:`sample_items`' list.
        photo: the bundled photo it was cropped from.
        split: the spec split of ``spec`` (a key of :data:`~.grammar.SPLITS`).
        spec: the edit asked for.
        instruction: the request in words (phrased as ``split`` requires).
        seed: the seed of random operations and distractors.
        source: the source crop, at the photo's working resolution.
    """

    index: int
    photo: str
    split: str
    spec: EditSpec
    instruction: str
    seed: int
    source: Image.Image = field(repr=False)


def sample_items(
    count: int,
    seed: int | str = 0,
    splits: Sequence[str] = DEFAULT_SPLITS,
    photos: Sequence[str] = HELDOUT_PHOTOS,
    photo_side: int = 256,
) -> list[EditItem]:
    """``count`` items, the same for the same arguments; item ``i`` is a crop of ``photos[i % len(photos)]``
    with a spec of ``splits[i % len(splits)]``.

    Photos and splits take turns rather than being drawn: any two lists of items of about
    the same length then hold the same mix of photos, so a set-level distance between them
    (FD, MMD) measures the edits, not which photos happened to be drawn more often.

    A spec whose right answer is invisible on its crop (brightening white sky) is drawn
    again: on such an item ignoring the instruction is the right answer, and the utility
    table would call it wrong.

    Args:
        count: how many items (>= 1).
        seed: seeds the crops, specs and phrasings (an int or a str).
        splits: spec splits, keys of :data:`~.grammar.SPLITS`; the default is the held-out
            operation x region pairs and the held-out operations.
        photos: bundled photo names (:func:`~.photos.load_photo`); default the held-out ones.
        photo_side: the photos' longer side before cropping (the trainer's validation uses 256).
    """
    if not isinstance(count, int) or count < 1:
        raise I2IInputError(f"count must be a positive int, got {count!r}")
    unknown = [s for s in splits if s not in SPLITS]
    if not splits or unknown:
        raise I2IInputError(f"splits {list(splits)!r}: choose from {', '.join(SPLITS)}")
    images = {name: load_photo(name, max_side=photo_side) for name in photos}
    names = list(images)
    rng = random.Random(f"simulated-editors/{seed}")
    items = []
    for index in range(count):
        split = splits[index % len(splits)]
        for _ in range(32):
            photo = names[index % len(names)]
            source = random_crop(images[photo], rng)
            spec = sample_spec(rng, split)
            instruction = phrase(spec, rng, SPLITS[split])
            item_seed = rng.randrange(2**31)
            if visibly_different(render(spec, source, item_seed)[0], source):
                break
        items.append(EditItem(index, photo, split, spec, instruction, item_seed, source))
    return items


def render_outcome(item: EditItem, outcome: str) -> Image.Image | None:
    """The output of ``outcome`` on ``item`` at the source's resolution; None where it does not apply.

    ``"correct"`` is :func:`~.grammar.render`; every other outcome is the grammar's
    distractor of that kind (:func:`~.grammar.make_distractor`), which is None when the kind
    does not apply or would not be visibly different from the right answer.
    """
    if outcome not in OUTCOMES:
        raise I2IInputError(f"unknown outcome {outcome!r}; valid outcomes: {', '.join(OUTCOMES)}")
    if outcome == "correct":
        return render(item.spec, item.source, item.seed)[0]
    distractor = make_distractor(item.spec, item.source, outcome, item.seed)
    return None if distractor is None else distractor.image


def simulated_ratings(
    truth,
    n_raters: int = 3,
    noise: float = 0.15,
    bias: float = 0.05,
    levels: int = 5,
    seed: int = 0,
) -> np.ndarray:
    """Likert ratings of outputs whose true utility is ``truth``, from raters who see it through noise.

    Rater ``r`` answers ``round(1 + (levels - 1) * (truth + b_r + e))``, clipped to
    ``1..levels``, with a per-rater bias ``b_r ~ N(0, bias)`` (a lenient or a strict rater)
    and per-rating noise ``e ~ N(0, noise)``, independent across raters and outputs.

    Args:
        truth: true utilities in [0, 1], any shape.
        n_raters: how many raters (>= 1).
        noise: standard deviation of each rating's noise, in utility units (>= 0).
        bias: standard deviation of each rater's bias (>= 0).
        levels: points on the Likert scale (>= 2).
        seed: seed of the noise.

    Returns:
        Integer ratings, shape ``(n_raters, *truth.shape)``.

    Example:
        >>> simulated_ratings([0.0, 1.0], n_raters=2, noise=0.0, bias=0.0).tolist()
        [[1, 5], [1, 5]]
    """
    truth = np.asarray(truth, dtype=float)
    if not np.all(np.isfinite(truth)) or truth.min(initial=0) < 0 or truth.max(initial=0) > 1:
        raise I2IInputError("truth must hold utilities in [0, 1]")
    if not isinstance(n_raters, int) or n_raters < 1:
        raise I2IInputError(f"n_raters must be a positive int, got {n_raters!r}")
    if not (noise >= 0 and bias >= 0):
        raise I2IInputError(f"noise and bias are standard deviations: >= 0, got {noise} and {bias}")
    if not isinstance(levels, int) or levels < 2:
        raise I2IInputError(f"levels must be an int >= 2, got {levels!r}")
    rng = np.random.default_rng(seed)
    rater_bias = rng.normal(0.0, bias, size=(n_raters,) + (1,) * truth.ndim)
    seen = truth[None] + rater_bias + rng.normal(0.0, noise, size=(n_raters, *truth.shape))
    return np.clip(np.rint(1 + (levels - 1) * seen), 1, levels).astype(int)
