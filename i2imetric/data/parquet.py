"""Rows of Hugging Face parquet files whose image columns hold the images' bytes.

A data set pushed with ``datasets`` stores an ``Image`` column as a struct
``{"bytes": ..., "path": ...}`` (a list of them for ``Sequence(Image)``), so its images
live inside the parquet file. The evaluation engine scores image *files*, so
:class:`ImageStore` writes each image once, named by the sha256 of its bytes: a rerun
finds the same files under the same names, which is what lets a result file resume
(its rows name their image paths), and an image shared by many rows is written once.

Reading streams record batches (``pyarrow.parquet.ParquetFile.iter_batches``): the
benchmarks' files are hundreds of MB each and need never be in memory whole.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterable, Iterator, Mapping

from ..errors import I2IInputError

__all__ = ["ImageStore", "find_parquet_files", "is_image_cell", "iter_parquet_rows"]

_BATCH_ROWS = 32
# Magic numbers of the formats these data sets use; anything else keeps its own suffix.
_MAGIC = ((b"\x89PNG\r\n\x1a\n", ".png"), (b"\xff\xd8\xff", ".jpg"), (b"GIF8", ".gif"), (b"BM", ".bmp"))


def _pyarrow_parquet():
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise I2IInputError(
            "reading this benchmark's parquet files needs pyarrow: pip install pyarrow "
            "(or pip install 'i2imetric[bench]')"
        ) from None
    return pq


def find_parquet_files(root: str, patterns: Iterable[str]) -> list[str]:
    """The parquet files under ``root`` matching any of ``patterns`` (globs, ``**`` allowed), sorted."""
    found = set()
    for pattern in patterns:
        found.update(glob.glob(os.path.join(glob.escape(root), pattern), recursive=True))
    return sorted(path for path in found if os.path.isfile(path))


def iter_parquet_rows(paths: Iterable[str]) -> Iterator[tuple[str, dict]]:
    """``(file[row], row dict)`` for every row of every file, in order, streamed by batch."""
    pq = _pyarrow_parquet()
    for path in paths:
        try:
            parquet = pq.ParquetFile(path)
        except Exception as problem:  # pyarrow raises its own ArrowInvalid / OSError kinds
            raise I2IInputError(f"{path}: not a readable parquet file ({problem}); download it again") from None
        index = 0
        for batch in parquet.iter_batches(batch_size=_BATCH_ROWS):
            for row in batch.to_pylist():
                yield f"{path}[{index}]", row
                index += 1


def is_image_cell(value) -> bool:
    """Whether a parquet cell is a ``datasets`` Image struct (``{"bytes", "path"}``)."""
    return isinstance(value, Mapping) and "bytes" in value and "path" in value


class ImageStore:
    """Writes image cells to ``folder`` as ``<sha256 of the bytes>.<ext>`` and returns their paths.

    Args:
        folder: where the images go; created on first use.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = os.path.abspath(os.fspath(folder))
        self.written = 0
        self.reused = 0

    def path_of(self, cell, field: str) -> str:
        """The file holding the image of ``cell``; raises ``I2IInputError`` naming ``field`` if it has none."""
        if not is_image_cell(cell):
            raise I2IInputError(f"{field} is not an image (got {type(cell).__name__}); is this the right data set?")
        data = cell["bytes"]
        if not data:
            # A cell with a path only points at a file outside the parquet, which we do not have.
            raise I2IInputError(f"{field} has no image bytes (path {cell.get('path')!r}); download the full data set")
        name = hashlib.sha256(data).hexdigest()[:32] + _suffix(data, cell.get("path"))
        path = os.path.join(self.folder, name)
        if os.path.isfile(path) and os.path.getsize(path) == len(data):
            self.reused += 1
            return path
        os.makedirs(self.folder, exist_ok=True)
        partial = f"{path}.{os.getpid()}.part"
        with open(partial, "wb") as out:
            out.write(data)
        os.replace(partial, path)  # a killed run never leaves a half-written image under the final name
        self.written += 1
        return path


def _suffix(data: bytes, path) -> str:
    for magic, suffix in _MAGIC:
        if data.startswith(magic):
            return suffix
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    given = os.path.splitext(path)[1].lower() if isinstance(path, str) else ""
    return given or ".img"
