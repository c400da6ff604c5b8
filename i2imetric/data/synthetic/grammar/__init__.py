"""An open-vocabulary edit grammar: specs, rendering with exact masks, phrasing, distractors, splits.

An edit is an :class:`EditSpec`: an operation (:data:`OPERATIONS`, 30 of them:
photometric, filters, geometric, drawing and erasing), a :class:`Region` (:data:`REGIONS`:
whole, halves, quadrants, centre, border, or an explicit mask such as a ShapesWorld
object) and a magnitude ("slightly", "default", "a_lot" or a number in the operation's
unit). :func:`render` carries it out and returns the exact mask of what it may change;
:func:`phrase` writes a request for it in many wordings and :func:`describe` a caption
of the result; :func:`make_distractors` builds wrong answers that each fail one
sub-score; :func:`visible_near_miss` gives an edit one respect away that looks
different (contrast words, sibling captions); :func:`sample_spec` and :data:`SPLITS` keep held-out phrasings, operation x
region pairs and whole operations out of training.
:data:`CANONICAL_SPECS` are the 16 canonical edits as specs.

Modules: :mod:`.operations` and :mod:`.regions` (the tables), :mod:`.spec`, :mod:`.render`,
:mod:`.phrasebook` (the words) and :mod:`.phrases`, :mod:`.captions` (descriptions of
results, for pretraining a base's vocabulary), :mod:`.canonical_specs`,
:mod:`.distractors`, :mod:`.near_misses`, :mod:`.splits`.
"""

from .canonical_specs import CANONICAL_SPECS
from .captions import describe
from .distractors import DISTRACTOR_KINDS, Distractor, make_distractor, make_distractors
from .near_misses import NEAR_MISS_CHANGES, near_miss_candidates, visible_near_miss
from .operations import COLORS, DEGREES, OPERATIONS
from .phrases import PHRASE_SPLITS, Phrase, phrase, phrase_parts
from .regions import REGIONS, Region
from .render import render
from .spec import EditSpec
from .splits import (
    HELDOUT_COMBOS,
    HELDOUT_OPERATIONS,
    SPLITS,
    TRAIN_OPERATIONS,
    heldout_sets,
    in_split,
    sample_example,
    sample_spec,
    split_of,
)

__all__ = [
    "CANONICAL_SPECS",
    "COLORS",
    "DEGREES",
    "DISTRACTOR_KINDS",
    "Distractor",
    "EditSpec",
    "HELDOUT_COMBOS",
    "HELDOUT_OPERATIONS",
    "NEAR_MISS_CHANGES",
    "OPERATIONS",
    "PHRASE_SPLITS",
    "Phrase",
    "REGIONS",
    "Region",
    "SPLITS",
    "TRAIN_OPERATIONS",
    "describe",
    "heldout_sets",
    "in_split",
    "make_distractor",
    "make_distractors",
    "near_miss_candidates",
    "phrase",
    "phrase_parts",
    "render",
    "sample_example",
    "sample_spec",
    "split_of",
    "visible_near_miss",
]
