"""Human-judged editing data: record types, the manifest format, and loaders for public sets.

Records
-------
``Triplet(source, instruction, output, ...)``, ``Pairwise(source, instruction,
output_a, output_b, label, ...)`` and ``Rating(source, instruction, output, value,
...)``. Image fields are file paths (absolute after reading); ``source`` is None for
text-to-image data. A ``Pairwise`` label is ``"a"``, ``"b"``, ``"tie"``, ``"both_bad"``
or a float: the share of judges preferring ``output_a``. Fields a record has no slot
for are kept in its ``extra`` dict; loaders use these names there:
``source_caption`` / ``target_caption`` (captions of the source and the wanted
output), ``system_a`` / ``system_b`` (the systems behind ``output_a`` / ``output_b``).

Loading
-------
Every reader returns ``LoadResult(records, report)``. The ``LoadReport`` accounts for
every row: ``read == kept + len(skipped)``, and ``skipped`` lists ``(where, reason)``
with ``where`` as ``file:line`` (or ``file[index]``, ``row <index>``). With
``on_error="raise"`` (the default) a malformed row raises ``I2IInputError`` naming
``where`` and the fix; with ``"skip"`` it is left out and listed. Rows that a
loader's documented rule leaves out (NIGHTS' vote filter) are always listed, never
raised. ``check_files=True`` also treats a row whose image files are missing as
malformed. Each reader logs its report's summary to the ``i2imetric.data`` logger.

Manifests are read and written by :mod:`i2imetric.data.manifest` (which also reads a
Hugging Face ``datasets`` split, :func:`from_hf_dataset`); public benchmarks by
:mod:`i2imetric.data.loaders`, one module per benchmark.

Manifest format (schema ``i2imetric-manifest``, version 1)
----------------------------------------------------------
UTF-8 JSON Lines, one object per line. ``write_manifest`` starts the file with::

    {"type": "header", "schema": "i2imetric-manifest", "version": 1}

Readers accept files without it (other tools write manifests too); a header must be
the first non-blank line, and one naming another schema or a newer version is refused.
Every other line is one record, with ``"type"``:

- ``{"type": "triplet", "id", "source", "instruction", "output", "system"?}``
- ``{"type": "pairwise", "id", "source", "instruction", "output_a", "output_b", "label"}``
- ``{"type": "rating", "id", "source", "instruction", "output", "value",
  "aspect"?, "aspects"?, "rater"?, "system"?, "group"?}``

Keys marked ``?`` and ``id`` may be missing or null; ``source`` and ``instruction``
must be present but may be null. Image paths are relative to the manifest's folder
(absolute paths are allowed). Any other key is kept in the record's ``extra`` and
written back as it was. Blank lines are ignored.

Example:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "train.jsonl")
    >>> write_manifest(path, [Triplet(None, "a red cube", os.path.join(folder, "cube.png"))])
    1
    >>> records, report = read_manifest(path)
    >>> records[0].output == os.path.join(folder, "cube.png"), report.kept
    (True, 1)
"""

from .loaders import (
    load_bapps_2afc,
    load_editreward,
    load_genai_bench_votes,
    load_imagenhub_ratings,
    load_nights,
    split_aspects,
)
from .manifest import SCHEMA_VERSION, from_hf_dataset, iter_manifest, read_manifest, write_manifest
from .records import Pairwise, Rating, Record, Triplet
from .rows import LoadReport, LoadResult

__all__ = [
    "SCHEMA_VERSION",
    "LoadReport",
    "LoadResult",
    "Pairwise",
    "Rating",
    "Record",
    "Triplet",
    "from_hf_dataset",
    "iter_manifest",
    "load_bapps_2afc",
    "load_editreward",
    "load_genai_bench_votes",
    "load_imagenhub_ratings",
    "load_nights",
    "read_manifest",
    "split_aspects",
    "write_manifest",
]
