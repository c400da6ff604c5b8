"""Human judgements from public data sets, one module per benchmark, each read in its
own upstream layout.

Every loader returns ``LoadResult(records, report)``, keeps the row's unused fields
in ``extra``, and names systems ``system_a`` / ``system_b`` and captions
``source_caption`` / ``target_caption`` there, whatever the upstream names are.

- :mod:`.genai_bench`: GenAI-Bench (GenAI-Arena) image-editing votes;
- :mod:`.bapps`: BAPPS 2AFC folders (LPIPS);
- :mod:`.nights`: NIGHTS 2AFC triplets (DreamSim);
- :mod:`.editreward`: EditReward-Data pairs;
- :mod:`.imagenhub`: ImagenHub's human ratings.
"""

from .bapps import load_bapps_2afc
from .editreward import load_editreward
from .genai_bench import load_genai_bench_votes
from .imagenhub import load_imagenhub_ratings, split_aspects
from .nights import load_nights

__all__ = [
    "load_bapps_2afc",
    "load_editreward",
    "load_genai_bench_votes",
    "load_imagenhub_ratings",
    "load_nights",
    "split_aspects",
]
