"""Captions that describe an edited image, for pretraining a base's vocabulary (not requests).

A real CLIP base has read the web's many words for "brighter" or "the left side" long
before a metric is trained on it; a base pretrained here from scratch knows only the words
its captions used. :func:`describe` writes what a rendered spec *looks like* ("a photo
where the left portion is much gloomier", "film grain across the whole frame"), with a
vocabulary wider than the phrasebook's training entries, so that the scorer trained on top
can meet requests worded otherwise.

These are descriptions, not edit requests: no request template or form wrapper of
:mod:`.phrasebook` is used, held-out or not. Their words overlap the phrasebook's
held-out words on purpose (synonyms are synonyms), as a web-trained base's would; the
held-out phrasing split therefore asks whether a scorer reads words its base knows but
that no training request used. Which operations and regions are described is the
caller's choice: pretraining describes only specs of the ``train`` split.
"""

from __future__ import annotations

import random
import re

from .phrasebook import NUMBER_FORMATS
from .spec import EditSpec

__all__ = ["CAPTION_EFFECTS", "CAPTION_REGIONS", "describe"]

# Per operation: ``adj`` says what the region now is ("{obj} is <adj>"), ``noun`` what it
# now has ("<noun> in {obj}"). Drawing operations name the shape instead ({sz}, {color}).
CAPTION_EFFECTS: dict[str, dict[str, tuple[str, ...]]] = {
    "brighten": {"adj": ("brighter", "lighter", "brightened", "lightened", "more luminous", "sunnier", "overexposed", "glowing"),
                 "noun": ("more light", "raised brightness", "higher luminosity", "extra exposure", "a lift in luminosity")},
    "darken": {"adj": ("darker", "dimmer", "darkened", "dimmed", "gloomier", "shadowy", "murkier", "underexposed"),
               "noun": ("less light", "lowered brightness", "reduced luminosity", "less exposure", "deeper shadows")},
    "contrast_up": {"adj": ("more contrasty", "punchier", "higher in contrast", "more dramatic in tone", "popping"),
                    "noun": ("stronger contrast", "more contrast", "a wider tonal range", "boosted contrast")},
    "contrast_down": {"adj": ("flatter", "washed out", "lower in contrast", "faded", "dull", "hazy in tone"),
                      "noun": ("weaker contrast", "less contrast", "a narrower tonal range", "flattened contrast")},
    "saturate": {"adj": ("more vivid", "more colorful", "more colourful", "more saturated", "vibrant", "richer in colour"),
                 "noun": ("richer hues", "stronger colors", "boosted saturation", "intense colour", "vivid hues")},
    "desaturate": {"adj": ("more muted", "less colorful", "desaturated", "paler", "drab", "faded in colour"),
                   "noun": ("paler hues", "muted colors", "reduced saturation", "washed-out colour")},
    "hue_shift": {"adj": ("hue-shifted", "recoloured", "recolored", "off-colour", "shifted in hue"),
                  "noun": ("shifted hues", "a rotated hue", "a different hue", "a spin of the colour wheel", "changed colours")},
    "warmer": {"adj": ("warmer", "warm-toned", "golden", "toastier", "more amber", "more orange"),
               "noun": ("a warm tint", "a golden cast", "more warmth", "an amber glow")},
    "cooler": {"adj": ("cooler", "cold-toned", "bluer", "icier", "chillier"),
               "noun": ("a cool tint", "an icy cast", "a blue tint", "less warmth")},
    "gamma_up": {"adj": ("lighter in the midtones", "brighter in the midtones", "lifted in the midtones"),
                 "noun": ("lifted midtones", "brighter midtones", "raised middle greys", "opened-up shadows", "a lower gamma")},
    "gamma_down": {"adj": ("darker in the midtones", "deeper in the midtones", "heavier in the midtones"),
                   "noun": ("deepened midtones", "darker midtones", "crushed middle greys", "sunken middle greys", "a higher gamma")},
    "grayscale": {"adj": ("black and white", "grayscale", "greyscale", "monochrome", "colourless", "colorless", "grey", "gray"),
                  "noun": ("no colour", "a monochrome look", "grayscale tones", "only shades of grey")},
    "sepia": {"adj": ("sepia", "sepia-toned", "antique brown", "vintage", "old-fashioned", "aged"),
              "noun": ("a sepia tint", "a vintage print look", "an antique brown tone", "an old-photo look")},
    "invert": {"adj": ("inverted", "negative", "colour-reversed", "reversed in colour"),
               "noun": ("inverted colors", "a photographic negative look", "reversed shades", "a film-negative look")},
    "posterize": {"adj": ("posterized", "posterised", "banded", "quantized"),
                  "noun": ("fewer colours", "colour banding", "quantized tones", "flat bands of colour")},
    "blur": {"adj": ("blurred", "blurry", "soft", "out of focus", "defocused", "smeared", "fuzzy"),
             "noun": ("a blur", "lost detail", "a soft focus", "smeared detail")},
    "sharpen": {"adj": ("sharper", "crisper", "sharpened", "more defined", "in sharper focus", "more detailed"),
                "noun": ("sharper edges", "accentuated edges", "crisp detail", "extra sharpness", "enhanced detail")},
    "noise": {"adj": ("noisy", "grainy", "speckled", "noisier", "grainier", "full of static"),
              "noun": ("noise", "grain", "film grain", "static", "speckles", "sensor noise")},
    "pixelate": {"adj": ("pixelated", "blocky", "mosaicked", "chunky", "censored with squares"),
                 "noun": ("big pixels", "coarse tiles", "a mosaic", "blocky squares", "chunky pixels")},
    "flip_h": {"adj": ("mirrored", "flipped horizontally", "flipped left to right", "reversed left to right"),
               "noun": ("a horizontal flip", "a mirror image", "a left-right reflection", "a looking-glass reflection")},
    "flip_v": {"adj": ("upside down", "flipped vertically", "flipped top to bottom", "standing on its head"),
               "noun": ("a vertical flip", "an upside-down reflection", "a top-to-bottom reflection")},
    "rotate90": {"adj": ("rotated 90 degrees clockwise", "turned a quarter turn clockwise", "rotated to the right"),
                 "noun": ("a clockwise quarter turn", "a 90 degree clockwise rotation", "a quarter spin clockwise")},
    "rotate180": {"adj": ("rotated 180 degrees", "turned halfway round", "rotated by half a turn", "spun around"),
                  "noun": ("a half turn", "a 180 degree rotation", "a half revolution")},
    "rotate270": {"adj": ("rotated 90 degrees counterclockwise", "rotated 90 degrees anticlockwise", "rotated to the left"),
                  "noun": ("a counterclockwise quarter turn", "an anticlockwise quarter turn", "a quarter spin against the clock")},
    "zoom_in": {"adj": ("zoomed in", "magnified", "enlarged", "cropped closer", "framed tighter", "closer up"),
                "noun": ("a zoom", "a closer crop", "a tighter framing", "a magnified view", "a close-up")},
    "shift_left": {"adj": ("shifted left", "moved left", "slid leftwards", "nudged to the left", "moved westward"),
                   "noun": ("a shift to the left", "a leftward move", "a westward nudge")},
    "shift_right": {"adj": ("shifted right", "moved right", "slid rightwards", "nudged to the right", "moved eastward"),
                    "noun": ("a shift to the right", "a rightward move", "an eastward nudge")},
    "draw_circle": {"shape": ("a {sz}{color} circle", "a {sz}{color} dot", "a {sz}{color} disc", "a {sz}{color} round blob")},
    "draw_square": {"shape": ("a {sz}{color} square", "a {sz}{color} box", "a {sz}{color} block", "a {sz}{color} tile")},
    "erase": {"shape": ("a {sz}spot removed", "a {sz}patch painted over", "a {sz}blotch wiped out", "a {sz}spot filled in")},
}  # fmt: skip

# Per region: ``obj`` names it, ``loc`` places a shape in it (leading space).
CAPTION_REGIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "whole": {"obj": ("the photo", "the image", "the picture", "the whole image", "the entire frame", "the whole scene", "everything"),
              "loc": (" in the middle", " at the centre", " in the center", " at the midpoint")},
    "left": {"obj": ("the left half", "the left side", "the left portion", "the left-hand side", "the left part"),
             "loc": (" on the left", " on the left-hand side", " in the left portion", " to the left")},
    "right": {"obj": ("the right half", "the right side", "the right portion", "the right-hand side", "the right part"),
              "loc": (" on the right", " on the right-hand side", " in the right portion", " to the right")},
    "top": {"obj": ("the top half", "the upper half", "the upper portion", "the top part", "the top side"),
            "loc": (" at the top", " in the upper portion", " near the top", " up top")},
    "bottom": {"obj": ("the bottom half", "the lower half", "the lower portion", "the bottom part", "the bottom side"),
               "loc": (" at the bottom", " in the lower portion", " near the bottom", " down below")},
    "top_left": {"obj": ("the top left corner", "the upper-left quarter", "the top-left quadrant", "the upper left"),
                 "loc": (" in the top left corner", " in the upper-left quarter", " at the upper left")},
    "top_right": {"obj": ("the top right corner", "the upper-right quarter", "the top-right quadrant", "the upper right"),
                  "loc": (" in the top right corner", " in the upper-right quarter", " at the upper right")},
    "bottom_left": {"obj": ("the bottom left corner", "the lower-left quarter", "the bottom-left quadrant", "the lower left"),
                    "loc": (" in the bottom left corner", " in the lower-left quarter", " at the lower left")},
    "bottom_right": {"obj": ("the bottom right corner", "the lower-right quarter", "the bottom-right quadrant", "the lower right"),
                     "loc": (" in the bottom right corner", " in the lower-right quarter", " at the lower right")},
    "center": {"obj": ("the center", "the centre", "the middle", "the central area", "the heart of the image", "the core"),
               "loc": (" in the middle", " in the centre", " at the heart of the image", " dead centre")},
    "border": {"obj": ("the border", "the edges", "the outer edge", "the frame", "the outer rim", "the margins"),
               "loc": (" on the border", " along the edge", " on the rim", " at the margin")},
}  # fmt: skip
_WHOLE_NOUNS = ("a photo", "an image", "a picture", "a snapshot", "a shot")
_MODIFIERS = {  # degree -> adverbs for an adjective
    "slightly": ("slightly ", "a bit ", "a little ", "marginally ", "somewhat ", "mildly ", "faintly "),
    "a_lot": ("much ", "heavily ", "strongly ", "dramatically ", "very ", "vastly ", "considerably "),
}
_SIZES = {"slightly": ("small ", "little ", "tiny "), "a_lot": ("big ", "large ", "huge "), "default": ("",)}
_TEMPLATES = {
    "adj_whole": ("{whole} that is {adj}", "{whole}, {adj}", "{whole} looking {adj}", "{adj}: {obj}", "{obj} is {adj}"),
    "adj_region": ("{whole} where {obj} is {adj}", "{whole} with {obj} {adj}", "{obj} {adj}", "{obj} looks {adj}",
                   "{whole} in which {obj} is {adj}", "{adj} in {obj}"),
    "noun_whole": ("{whole} with {noun}", "{noun} across {obj}", "{obj} with {noun}", "{noun} all over {obj}"),
    "noun_region": ("{whole} with {noun} in {obj}", "{noun} in {obj}", "{obj} with {noun}", "{noun} applied to {obj}"),
    "shape": ("{whole} with {shape}{loc}", "{shape}{loc}", "{shape} painted{loc}", "{shape} added{loc}"),
    "erased": ("{whole} with {shape}{loc}", "{shape}{loc}"),  # its entries already say what happened
}  # fmt: skip


def describe(spec: EditSpec, rng: random.Random | int) -> str:
    """One caption of what ``spec``'s rendered output looks like; deterministic for a seeded ``rng``."""
    if not isinstance(rng, random.Random):
        rng = random.Random(rng)
    effects = CAPTION_EFFECTS[spec.op]
    values = {"whole": rng.choice(_WHOLE_NOUNS), "obj": _region_word(spec, "obj", rng), "loc": _region_word(spec, "loc", rng)}
    if "shape" in effects:
        size = rng.choice(_SIZES.get(spec.degree, ("",)))
        values["shape"] = rng.choice(effects["shape"]).format(sz=size, color=f"{spec.color} " if spec.color else "")
        template = rng.choice(_TEMPLATES["shape" if spec.operation.fill == "color" else "erased"])
    else:
        # A magnitude in words or a number reads naturally with an adjective only.
        kind = "adj" if spec.degree != "default" or spec.amount is not None or rng.random() < 0.5 else "noun"
        word = rng.choice(effects[kind])
        if spec.amount is not None:
            word += NUMBER_FORMATS[spec.operation.unit].format(n=f"{spec.amount:g}")
        elif spec.degree in _MODIFIERS:
            word = rng.choice(_MODIFIERS[spec.degree]) + word
        values[kind] = word
        where = "whole" if spec.region.name == "whole" else "region"
        template = rng.choice(_TEMPLATES[f"{kind}_{where}"])
    text = re.sub(r"\s+", " ", template.format(**values)).strip()
    return text[0].upper() + text[1:] if rng.random() < 0.25 else text


def _region_word(spec: EditSpec, slot: str, rng: random.Random) -> str:
    region = spec.region
    if region.is_mask:  # a ShapesWorld object is described by its label
        label = region.label or "the object"
        return label if slot == "obj" else " on " + label
    return rng.choice(CAPTION_REGIONS[region.name][slot])
