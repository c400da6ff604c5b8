"""Human judgements from public data sets, one module per benchmark, each read in its
own upstream layout.

Every loader returns ``LoadResult(records, report)``, keeps the row's unused fields
in ``extra``, and names systems ``system_a`` / ``system_b`` and captions
``source_caption`` / ``target_caption`` there, whatever the upstream names are.

- :mod:`.genai_bench`: GenAI-Bench (GenAI-Arena) image-editing votes;
- :mod:`.bapps`: BAPPS 2AFC folders (LPIPS);
- :mod:`.nights`: NIGHTS 2AFC triplets (DreamSim);
- :mod:`.editreward`: EditReward-Data pairs (training data);
- :mod:`.editreward_bench_tiger`: TIGER-AI-Lab's EditReward-Bench (``editreward-bench-tiger``);
- :mod:`.editscore_bench`: EditScore's EditReward-Bench (``editscore-bench``), another
  benchmark under the same name;
- :mod:`.imagenhub`: ImagenHub's human ratings;
- :mod:`.discedit`: AURORA's DiscEdit (true against contrast instruction);
- :mod:`.aurora_bench`: AURORA-Bench's human ratings (5 systems x 400 items).

Loaders of Hugging Face parquet copies write the images inside them to an
``image_dir`` (:mod:`i2imetric.data.parquet`).
"""

from .aurora_bench import find_aurora_bench_ratings, load_aurora_bench_ratings
from .bapps import load_bapps_2afc
from .discedit import load_discedit
from .editreward import load_editreward
from .editreward_bench_tiger import load_editreward_bench_tiger
from .editscore_bench import load_editscore_bench
from .genai_bench import load_genai_bench_votes
from .imagenhub import find_imagenhub_tasks, load_imagenhub_ratings, split_aspects
from .nights import load_nights

__all__ = [
    "find_aurora_bench_ratings",
    "find_imagenhub_tasks",
    "load_aurora_bench_ratings",
    "load_bapps_2afc",
    "load_discedit",
    "load_editreward",
    "load_editreward_bench_tiger",
    "load_editscore_bench",
    "load_genai_bench_votes",
    "load_imagenhub_ratings",
    "load_nights",
    "split_aspects",
]
