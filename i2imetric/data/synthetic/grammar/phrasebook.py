"""The words: templates and synonyms for every operation, region and magnitude (data only).

An entry starting with ``!`` is held out: ``phrase(..., split="heldout")`` draws only from
held-out entries, ``split="train"`` never does. Slots:

* ``{obj}`` the region as a noun phrase ("the left half"), ``{loc}`` as a place
  (" in the left half", leading space, may be empty), ``{t}`` terse (" left half");
* ``{dc}`` a comparative modifier ("slightly ", "much "), ``{da}`` an adverb or a number
  (" a little", " by 30%"), ``{sz}`` a size adjective ("small ", "big "); ``{color}``.

Form wrappers turn an operation's ``do`` (imperative verb phrase), ``be`` (descriptive
clause) or ``short`` (terse) entry into a request. A held-out ``{loc}``, ``{t}`` or ``{da}``
word gets its leading space back when the marker is stripped ("!marginally": " marginally"). Held-out words are chosen so that none
of them occurs in any training entry (the tests check it).
"""

from __future__ import annotations

FORMS: dict[str, tuple[str, tuple[str, ...]]] = {  # form: (which op list, wrappers)
    "imperative": ("do", ("{do}", "please {do}", "{do}, please", "{do} for me", "!go ahead and {do}", "!kindly {do}")),
    "descriptive": ("be", ("{be}", "I think {be}", "honestly, {be}", "!ideally {be}", "!in the final version, {be}")),
    "terse": ("short", ("{short}", "{short} please", "{short}!", "!edit: {short}", "!quick one: {short}")),
    "polite": ("do", ("could you {do}?", "can you {do}?", "would you {do}?", "could you please {do}?",
                      "!would you be so kind as to {do}?", "!I'd appreciate it if you could {do}",
                      "!do you think you could {do}?")),
}  # fmt: skip

DEGREE_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "dc": {
        "slightly": ("slightly ", "a bit ", "a little ", "!marginally "),
        "a_lot": ("much ", "a lot ", "far ", "!vastly "),
    },
    "da": {
        "slightly": (" slightly", " a little", " a bit", "!marginally"),
        "a_lot": (" a lot", " strongly", " heavily", "!dramatically"),
    },
    "sz": {
        "slightly": ("small ", "little ", "!tiny "),
        "a_lot": ("big ", "large ", "!huge "),
    },
}
NUMBER_FORMATS: dict[str, str] = {
    "percent": " by {n}%",
    "degrees": " by {n} degrees",
    "pixels": " with a radius of {n} pixels",
    "factor": " by a factor of {n}",
}

REGION_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "whole": {
        "obj": ("it", "the image", "the photo", "the picture", "the whole image", "!the entire frame"),
        "loc": (" in the middle of the image", " at the centre of the picture", "!smack in the midpoint"),
        "t": ("", " image", " overall", "!across the frame"),
    },
    "left": {
        "obj": ("the left half", "the left side", "the left part of the image", "!the left portion"),
        "loc": (" on the left half", " on the left side", " in the left half", "!in the left portion"),
        "t": (" left half", " left side", "!left portion"),
    },
    "right": {
        "obj": ("the right half", "the right side", "the right part of the image", "!the right portion"),
        "loc": (" on the right half", " on the right side", " in the right half", "!in the right portion"),
        "t": (" right half", " right side", "!right portion"),
    },
    "top": {
        "obj": ("the top half", "the upper half", "the top part of the image", "!the upper portion"),
        "loc": (" in the top half", " in the upper half", " along the top", "!in the upper portion"),
        "t": (" top half", " upper half", "!upper portion"),
    },
    "bottom": {
        "obj": ("the bottom half", "the lower half", "the bottom part of the image", "!the lower portion"),
        "loc": (" in the bottom half", " in the lower half", " along the bottom", "!in the lower portion"),
        "t": (" bottom half", " lower half", "!lower portion"),
    },
    "top_left": {
        "obj": ("the top left corner", "the top-left quadrant", "the upper left corner", "!the upper-left quarter"),
        "loc": (" in the top left corner", " at the top left", " in the upper left", "!in the upper-left quarter"),
        "t": (" top left", " top-left corner", "!upper-left quarter"),
    },
    "top_right": {
        "obj": ("the top right corner", "the top-right quadrant", "the upper right corner", "!the upper-right quarter"),
        "loc": (" in the top right corner", " at the top right", " in the upper right", "!in the upper-right quarter"),
        "t": (" top right", " top-right corner", "!upper-right quarter"),
    },
    "bottom_left": {
        "obj": ("the bottom left corner", "the bottom-left quadrant", "the lower left corner", "!the lower-left quarter"),
        "loc": (" in the bottom left corner", " at the bottom left", " in the lower left", "!in the lower-left quarter"),
        "t": (" bottom left", " bottom-left corner", "!lower-left quarter"),
    },
    "bottom_right": {
        "obj": ("the bottom right corner", "the bottom-right quadrant", "the lower right corner", "!the lower-right quarter"),
        "loc": (" in the bottom right corner", " at the bottom right", " in the lower right", "!in the lower-right quarter"),
        "t": (" bottom right", " bottom-right corner", "!lower-right quarter"),
    },
    "center": {
        "obj": ("the center", "the middle", "the centre of the image", "the central area", "!the heart of the image"),
        "loc": (" in the middle", " in the center", " at the centre", "!at the heart of the image"),
        "t": (" center", " middle", "!heart"),
    },
    "border": {
        "obj": ("the border", "the edges", "the outer edge", "the frame around the image", "!the outer rim"),
        "loc": (" along the border", " on the edges", " around the edges", "!along the rim"),
        "t": (" border", " edges", "!rim"),
    },
}  # fmt: skip
# An explicit-mask region (a ShapesWorld object) has one phrasing, from its label, in every split.

OPS: dict[str, dict[str, tuple[str, ...]]] = {
    "brighten": {
        "do": ("make {obj} {dc}brighter", "brighten {obj}{da}", "lighten {obj}{da}", "increase the brightness of {obj}{da}",
               "!turn up the luminosity of {obj}{da}", "!give {obj} a lift in luminosity{da}"),
        "be": ("{obj} should be {dc}brighter", "{obj} needs to be {dc}lighter", "!{obj} ought to glow {dc}more luminously"),
        "short": ("{dc}brighter{t}", "brighten{t}{da}", "!luminosity up{t}{da}"),
    },
    "darken": {
        "do": ("make {obj} {dc}darker", "darken {obj}{da}", "dim {obj}{da}", "reduce the brightness of {obj}{da}",
               "!turn down the luminosity of {obj}{da}", "!make {obj} {dc}gloomier"),
        "be": ("{obj} should be {dc}darker", "{obj} needs to be {dc}dimmer", "!{obj} ought to look {dc}gloomier"),
        "short": ("{dc}darker{t}", "darken{t}{da}", "!luminosity down{t}{da}"),
    },
    "contrast_up": {
        "do": ("increase the contrast of {obj}{da}", "boost the contrast in {obj}{da}", "make {obj} {dc}more contrasty",
               "!punch up the tonal range of {obj}{da}", "!stretch the tonal range of {obj}{da}"),
        "be": ("{obj} should have {dc}more contrast", "{obj} needs {dc}stronger contrast", "!{obj} ought to pop {dc}more"),
        "short": ("{dc}more contrast{t}", "contrast up{t}{da}", "!tonal range wider{t}{da}"),
    },
    "contrast_down": {
        "do": ("reduce the contrast of {obj}{da}", "lower the contrast in {obj}{da}", "make {obj} {dc}flatter",
               "!soften the tonal range of {obj}{da}", "!wash out {obj}{da}"),
        "be": ("{obj} should have {dc}less contrast", "{obj} needs {dc}weaker contrast", "!{obj} ought to look {dc}more washed out"),
        "short": ("{dc}less contrast{t}", "contrast down{t}{da}", "!tonal range narrower{t}{da}"),
    },
    "saturate": {
        "do": ("make the colors of {obj} {dc}more vivid", "saturate {obj}{da}", "boost the saturation of {obj}{da}",
               "increase the color saturation in {obj}{da}", "!make the hues in {obj} {dc}richer", "!juice up the colours of {obj}{da}"),
        "be": ("{obj} should be {dc}more colorful", "the colors in {obj} should be {dc}more saturated", "!{obj} ought to have {dc}richer hues"),
        "short": ("{dc}more saturated{t}", "saturation up{t}{da}", "!richer hues{t}{da}"),
    },
    "desaturate": {
        "do": ("make the colors of {obj} {dc}more muted", "desaturate {obj}{da}", "reduce the saturation of {obj}{da}",
               "tone down the colors in {obj}{da}", "!drain the hues from {obj}{da}", "!make the hues in {obj} {dc}paler"),
        "be": ("{obj} should be {dc}less colorful", "the colors in {obj} should be {dc}more muted", "!{obj} ought to have {dc}paler hues"),
        "short": ("{dc}less saturated{t}", "saturation down{t}{da}", "!paler hues{t}{da}"),
    },
    "hue_shift": {
        "do": ("shift the hue of {obj}{da}", "rotate the hue of {obj}{da}", "change the hue of {obj}{da}",
               "!spin the colour wheel for {obj}{da}", "!cycle the hues of {obj}{da}"),
        "be": ("{obj} should have its hue shifted{da}", "the hue of {obj} should be rotated{da}", "!{obj} ought to sit elsewhere on the colour wheel{da}"),
        "short": ("hue shift{t}{da}", "shifted hue{t}{da}", "!colour wheel spin{t}{da}"),
    },
    "warmer": {
        "do": ("make {obj} {dc}warmer", "warm up {obj}{da}", "give {obj} a warmer tone{da}", "add warmth to {obj}{da}",
               "!bathe {obj} in golden light{da}", "!make {obj} {dc}toastier"),
        "be": ("{obj} should look {dc}warmer", "{obj} should have a warmer tone{da}", "!{obj} ought to feel {dc}toastier"),
        "short": ("{dc}warmer{t}", "warm tone{t}{da}", "!golden cast{t}{da}"),
    },
    "cooler": {
        "do": ("make {obj} {dc}cooler", "cool down {obj}{da}", "give {obj} a cooler tone{da}", "make {obj} {dc}bluer in tone",
               "!bathe {obj} in icy light{da}", "!make {obj} {dc}chillier"),
        "be": ("{obj} should look {dc}cooler", "{obj} should have a colder tone{da}", "!{obj} ought to feel {dc}chillier"),
        "short": ("{dc}cooler{t}", "cool tone{t}{da}", "!icy cast{t}{da}"),
    },
    "gamma_up": {
        "do": ("brighten the midtones of {obj}{da}", "lift the midtones in {obj}{da}", "lower the gamma of {obj}{da}",
               "!open up the shadows in {obj}{da}", "!raise the middle greys of {obj}{da}"),
        "be": ("the midtones of {obj} should be {dc}lighter", "{obj} should have {dc}brighter midtones", "!the middle greys of {obj} ought to rise{da}"),
        "short": ("{dc}lighter midtones{t}", "midtones lifted{t}{da}", "!middle greys up{t}{da}"),
    },
    "gamma_down": {
        "do": ("darken the midtones of {obj}{da}", "deepen the midtones in {obj}{da}", "raise the gamma of {obj}{da}",
               "!crush the middle greys of {obj}{da}", "!sink the middle greys in {obj}{da}"),
        "be": ("the midtones of {obj} should be {dc}darker", "{obj} should have {dc}deeper midtones", "!the middle greys of {obj} ought to sink{da}"),
        "short": ("{dc}darker midtones{t}", "midtones deepened{t}{da}", "!middle greys down{t}{da}"),
    },
    "grayscale": {
        "do": ("make {obj} black and white{da}", "convert {obj} to grayscale{da}", "turn {obj} gray{da}", "remove the color from {obj}{da}",
               "!render {obj} in monochrome{da}", "!strip every hue out of {obj}{da}"),
        "be": ("{obj} should be black and white{da}", "{obj} should be in grayscale{da}", "!{obj} ought to be monochrome{da}"),
        "short": ("black and white{t}{da}", "grayscale{t}{da}", "!monochrome{t}{da}"),
    },
    "sepia": {
        "do": ("give {obj} a sepia tone{da}", "apply a sepia filter to {obj}{da}", "make {obj} look like an old photo{da}",
               "!age {obj} like a vintage print{da}", "!tint {obj} antique brown{da}"),
        "be": ("{obj} should have a sepia tone{da}", "{obj} should look old-fashioned{da}", "!{obj} ought to resemble a vintage print{da}"),
        "short": ("sepia{t}{da}", "sepia tone{t}{da}", "!vintage print look{t}{da}"),
    },
    "invert": {
        "do": ("invert the colors of {obj}", "make {obj} a negative", "invert {obj}", "!turn {obj} into a photographic negative",
               "!swap every shade in {obj} for its opposite"),
        "be": ("{obj} should be inverted", "the colors of {obj} should be reversed", "!{obj} ought to look like a film negative"),
        "short": ("inverted{t}", "negative{t}", "!film negative{t}"),
    },
    "posterize": {
        "do": ("posterize {obj}{da}", "reduce the number of colors in {obj}{da}", "make {obj} look like a poster{da}",
               "!quantize the tones of {obj}{da}", "!band the shades of {obj}{da}"),
        "be": ("{obj} should be posterized{da}", "{obj} should have fewer colors{da}", "!{obj} ought to show colour banding{da}"),
        "short": ("posterized{t}{da}", "fewer colors{t}{da}", "!quantized tones{t}{da}"),
    },
    "blur": {
        "do": ("blur {obj}{da}", "make {obj} {dc}blurrier", "soften {obj}{da}", "apply a blur to {obj}{da}",
               "!defocus {obj}{da}", "!smear out the detail in {obj}{da}"),
        "be": ("{obj} should be blurred{da}", "{obj} should be {dc}less sharp", "!{obj} ought to look out of focus{da}"),
        "short": ("blur{t}{da}", "{dc}blurrier{t}", "!defocused{t}{da}"),
    },
    "sharpen": {
        "do": ("sharpen {obj}{da}", "make {obj} {dc}sharper", "enhance the detail in {obj}{da}", "make {obj} {dc}crisper",
               "!bring {obj} into sharper focus{da}", "!accentuate the fine edges of {obj}{da}"),
        "be": ("{obj} should be {dc}sharper", "{obj} should be {dc}crisper", "!{obj} ought to have {dc}more defined edges"),
        "short": ("sharpen{t}{da}", "{dc}sharper{t}", "!edge accent{t}{da}"),
    },
    "noise": {
        "do": ("add noise to {obj}{da}", "add grain to {obj}{da}", "make {obj} {dc}grainier", "sprinkle noise over {obj}{da}",
               "!speckle {obj} with static{da}", "!give {obj} a film-grain texture{da}"),
        "be": ("{obj} should be {dc}noisier", "{obj} should look {dc}grainier", "!{obj} ought to be speckled with static{da}"),
        "short": ("add noise{t}{da}", "{dc}grainier{t}", "!static speckles{t}{da}"),
    },
    "pixelate": {
        "do": ("pixelate {obj}{da}", "make {obj} blocky{da}", "turn {obj} into big pixels{da}", "mosaic {obj}{da}",
               "!censor {obj} with chunky squares{da}", "!reduce {obj} to coarse tiles{da}"),
        "be": ("{obj} should be pixelated{da}", "{obj} should look blocky{da}", "!{obj} ought to be made of coarse tiles{da}"),
        "short": ("pixelate{t}{da}", "pixelated{t}{da}", "!coarse tiles{t}{da}"),
    },
    "flip_h": {
        "do": ("flip {obj} horizontally", "mirror {obj}", "flip {obj} left to right", "mirror {obj} horizontally",
               "!reflect {obj} across the vertical axis", "!swap the sides of {obj} as in a looking glass"),
        "be": ("{obj} should be flipped horizontally", "{obj} should be mirrored", "!{obj} ought to be reflected across the vertical axis"),
        "short": ("horizontal flip{t}", "mirrored{t}", "!looking-glass reflection{t}"),
    },
    "flip_v": {
        "do": ("flip {obj} upside down", "flip {obj} vertically", "turn {obj} upside down", "mirror {obj} top to bottom",
               "!reflect {obj} across the horizontal axis", "!stand {obj} on its head"),
        "be": ("{obj} should be upside down", "{obj} should be flipped vertically", "!{obj} ought to be reflected across the horizontal axis"),
        "short": ("vertical flip{t}", "upside down{t}", "!head-over-heels reflection{t}"),
    },
    "rotate90": {
        "do": ("rotate {obj} 90 degrees clockwise", "turn {obj} a quarter turn clockwise", "rotate {obj} to the right by 90 degrees",
               "!give {obj} a clockwise quarter spin", "!swivel {obj} ninety degrees in the direction a clock runs"),
        "be": ("{obj} should be rotated 90 degrees clockwise", "{obj} should be turned a quarter turn clockwise", "!{obj} ought to be swivelled ninety degrees the clock's way"),
        "short": ("rotate 90 cw{t}", "90 degrees clockwise{t}", "!clockwise quarter spin{t}"),
    },
    "rotate180": {
        "do": ("rotate {obj} 180 degrees", "turn {obj} around by 180 degrees", "rotate {obj} by half a turn",
               "!spin {obj} a full half revolution", "!swivel {obj} one hundred eighty degrees"),
        "be": ("{obj} should be rotated 180 degrees", "{obj} should be turned half way around", "!{obj} ought to be swivelled one hundred eighty degrees"),
        "short": ("rotate 180{t}", "180 degree turn{t}", "!half revolution{t}"),
    },
    "rotate270": {
        "do": ("rotate {obj} 90 degrees counterclockwise", "turn {obj} a quarter turn to the left", "rotate {obj} 90 degrees anticlockwise",
               "!give {obj} a counter-clock quarter spin", "!swivel {obj} ninety degrees against the clock"),
        "be": ("{obj} should be rotated 90 degrees counterclockwise", "{obj} should be turned a quarter turn to the left", "!{obj} ought to be swivelled ninety degrees against the clock"),
        "short": ("rotate 90 ccw{t}", "90 degrees counterclockwise{t}", "!counter-clock quarter spin{t}"),
    },
    "zoom_in": {
        "do": ("zoom in on {obj}{da}", "crop in closer on {obj}{da}", "magnify {obj}{da}", "enlarge the middle of {obj}{da}",
               "!push in tighter on {obj}{da}", "!punch in on {obj}{da}"),
        "be": ("{obj} should be zoomed in{da}", "{obj} should be magnified{da}", "!{obj} ought to be framed tighter{da}"),
        "short": ("zoom in{t}{da}", "magnified{t}{da}", "!tighter framing{t}{da}"),
    },
    "shift_left": {
        "do": ("shift {obj} to the left{da}", "move the content of {obj} left{da}", "slide {obj} leftwards{da}",
               "!nudge {obj} westward{da}", "!scoot {obj} over to the left{da}"),
        "be": ("{obj} should be shifted to the left{da}", "the content of {obj} should move left{da}", "!{obj} ought to sit further west{da}"),
        "short": ("shift left{t}{da}", "move left{t}{da}", "!westward nudge{t}{da}"),
    },
    "shift_right": {
        "do": ("shift {obj} to the right{da}", "move the content of {obj} right{da}", "slide {obj} rightwards{da}",
               "!nudge {obj} eastward{da}", "!scoot {obj} over to the right{da}"),
        "be": ("{obj} should be shifted to the right{da}", "the content of {obj} should move right{da}", "!{obj} ought to sit further east{da}"),
        "short": ("shift right{t}{da}", "move right{t}{da}", "!eastward nudge{t}{da}"),
    },
    "draw_circle": {
        "do": ("draw a {sz}{color} circle{loc}", "add a {sz}{color} dot{loc}", "put a {sz}{color} circle{loc}", "paint a {sz}{color} disc{loc}",
               "!stamp a {sz}{color} round blob{loc}", "!place a {sz}{color} ring-shaped fill{loc}"),
        "be": ("there should be a {sz}{color} circle{loc}", "I want a {sz}{color} dot{loc}", "!a {sz}{color} round blob ought to appear{loc}"),
        "short": ("{sz}{color} circle{loc}", "{sz}{color} dot{loc}", "!{sz}{color} round blob{loc}"),
    },
    "draw_square": {
        "do": ("draw a {sz}{color} square{loc}", "add a {sz}{color} square{loc}", "put a {sz}{color} box{loc}", "paint a {sz}{color} square{loc}",
               "!stamp a {sz}{color} boxy tile{loc}", "!place a {sz}{color} four-sided patch{loc}"),
        "be": ("there should be a {sz}{color} square{loc}", "I want a {sz}{color} box{loc}", "!a {sz}{color} boxy tile ought to appear{loc}"),
        "short": ("{sz}{color} square{loc}", "{sz}{color} box{loc}", "!{sz}{color} boxy tile{loc}"),
    },
    "erase": {
        "do": ("erase the {sz}spot{loc}", "remove the {sz}patch{loc}", "paint over the {sz}area{loc}", "get rid of the {sz}spot{loc}",
               "!wipe out the {sz}blotch{loc}", "!inpaint the {sz}blotch{loc}"),
        "be": ("the {sz}spot{loc} should be gone", "the {sz}patch{loc} should be erased", "!nothing ought to remain of the {sz}blotch{loc}"),
        "short": ("remove {sz}spot{loc}", "erase {sz}patch{loc}", "!{sz}blotch gone{loc}"),
    },
}  # fmt: skip
