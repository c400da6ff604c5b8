"""The 16 canonical edits as specs: ``CANONICAL_SPECS[name]`` renders as ``apply_edit(image, name)``."""

from __future__ import annotations

from .spec import EditSpec

__all__ = ["CANONICAL_SPECS"]

CANONICAL_SPECS: dict[str, EditSpec] = {
    "grayscale": EditSpec("grayscale"),
    "invert": EditSpec("invert"),
    "brighten": EditSpec("brighten"),
    "darken": EditSpec("darken"),
    "contrast": EditSpec("contrast_up"),
    "blur": EditSpec("blur"),
    "sharpen": EditSpec("sharpen"),
    "flip_h": EditSpec("flip_h"),
    "flip_v": EditSpec("flip_v"),
    "rotate90": EditSpec("rotate90"),
    "sepia": EditSpec("sepia"),
    "saturate": EditSpec("saturate"),
    "blur_left_half": EditSpec("blur", "left"),
    "grayscale_top_half": EditSpec("grayscale", "top"),
    "pixelate_center": EditSpec("pixelate", "center"),
    "red_square_center": EditSpec("draw_square", "center", color="red"),
}
