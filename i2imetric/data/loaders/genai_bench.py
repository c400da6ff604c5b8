"""GenAI-Bench (GenAI-Arena) image-editing votes as ``Pairwise`` records."""

from ...errors import I2IInputError
from ..records import Pairwise
from ..rows import LoadResult, collect, json_rows, require_keys, resolve_image

_GENAI_BENCH_LABELS = {
    "leftvote": "a",
    "rightvote": "b",
    "tievote": "tie",
    "bothbad_vote": "both_bad",
}
_GENAI_BENCH_FIELDS = (
    "source_prompt",
    "target_prompt",
    "instruct_prompt",
    "source_image",
    "left_output_image",
    "right_output_image",
    "left_model",
    "right_model",
    "vote_type",
)


def load_genai_bench_votes(
    source, image_root=None, on_error: str = "raise", check_files: bool = False
) -> LoadResult:
    """GenAI-Bench (GenAI-Arena) image-editing votes as ``Pairwise`` records, a = left.

    Args:
        source: a ``.json`` array or ``.jsonl`` file of rows, or an iterable of dicts
            (e.g. the ``image_edition`` split of ``TIGER-Lab/GenAI-Bench``, with its
            image columns cast to ``datasets.Image(decode=False)``).
        image_root: folder that relative image paths start from; defaults to the
            file's folder (the working directory for in-memory rows).
        on_error: ``"raise"`` or ``"skip"`` a malformed row.
        check_files: treat a row whose images do not exist as malformed.

    Returns:
        ``LoadResult``; labels ``leftvote``/``rightvote``/``tievote``/``bothbad_vote``
        become ``"a"``/``"b"``/``"tie"``/``"both_bad"``, the instruction is
        ``instruct_prompt``, and extra holds ``source_caption`` and ``target_caption``
        (source/target prompts), ``system_a``/``system_b`` and any other fields.
    """
    rows = json_rows(source, image_root)

    def build(raw):
        return _genai_bench_pairwise(rows.decode(raw), rows.base_dir)

    return collect(rows.rows, build, rows.name, on_error, check_files)


def _genai_bench_pairwise(row: dict, base_dir: str) -> Pairwise:
    require_keys(row, _GENAI_BENCH_FIELDS, "GenAI-Bench image_edition")
    vote = row["vote_type"]
    if vote not in _GENAI_BENCH_LABELS:
        raise I2IInputError(f"vote_type {vote!r} is not one of {', '.join(_GENAI_BENCH_LABELS)}")
    named = {
        "source_caption": row["source_prompt"],
        "target_caption": row["target_prompt"],
        "system_a": row["left_model"],
        "system_b": row["right_model"],
    }
    others = {key: row[key] for key in row.keys() - {*_GENAI_BENCH_FIELDS, "id"}}
    return Pairwise(
        source=resolve_image(row["source_image"], base_dir),
        instruction=row["instruct_prompt"],
        output_a=resolve_image(row["left_output_image"], base_dir),
        output_b=resolve_image(row["right_output_image"], base_dir),
        label=_GENAI_BENCH_LABELS[vote],
        id=row.get("id"),
        extra={**named, **others},
    )
