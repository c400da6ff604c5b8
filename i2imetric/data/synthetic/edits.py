"""Image operations with a known right answer, for building training and test pairs.

Three families, each in its own module over the shared pixel primitives
(:mod:`.pixels`), all importable from here:

* canonical edits (:data:`CANONICAL_EDITS`, :func:`apply_edit`; :mod:`.canonical`): an
  instruction and the one image that follows it exactly;
* distractors (:data:`DISTRACTORS`, :func:`make_distractor`; :mod:`.distractors`):
  plausible wrong answers to such an instruction, each failing in one named way;
* quality distortions (:data:`QUALITY_DISTORTIONS`, :func:`apply_distortion`;
  :mod:`.distortions`): instruction-free degradations with graded severities, for
  BAPPS-style 2AFC.

Every function accepts anything :func:`i2imetric.io.images.load_image` accepts (any PIL
mode, paths, arrays), works on images down to 1x1 pixel, and is deterministic for a seed.
"""

from .canonical import CANONICAL_EDITS, GLOBAL_EDITS, LOCAL_EDITS, apply_edit
from .distortions import MAX_SEVERITY, QUALITY_DISTORTIONS, apply_distortion
from .distractors import DISTRACTORS, make_distractor
from .pixels import visibly_different

__all__ = [
    "CANONICAL_EDITS",
    "DISTRACTORS",
    "GLOBAL_EDITS",
    "LOCAL_EDITS",
    "MAX_SEVERITY",
    "QUALITY_DISTORTIONS",
    "apply_distortion",
    "apply_edit",
    "make_distractor",
    "visibly_different",
]
