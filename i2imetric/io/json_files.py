"""Reading a whole JSON file, with an error that names the file and says how to fix it."""

from __future__ import annotations

import json
import os
from typing import Any, Optional

from ..errors import I2IError, I2IInputError

__all__ = ["read_json_file"]

_KIND = {list: "a JSON array", dict: "a JSON object"}


def read_json_file(path: str | os.PathLike, *, fix: str, expect: Optional[type] = None, expected: str = "",
                   error: type[I2IError] = I2IInputError) -> Any:  # fmt: skip
    """What the JSON file at ``path`` holds.

    Args:
        fix: how to repair a file that is not JSON, ending the message
            (e.g. "download the ratings file again").
        expect: ``list`` or ``dict`` when the file must hold one.
        expected: what the file should hold, in words, for the message when it holds
            something else (default: "a JSON array" or "a JSON object").
        error: the exception class to raise (a checkpoint raises ``CheckpointError``).

    Raises:
        ``error``: the file is not UTF-8 JSON, or holds the wrong kind of value.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "rows.json"
        >>> _ = path.write_text("[1, 2")
        >>> read_json_file(path, fix="write it again")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        i2imetric.errors.I2IInputError: .../rows.json: not valid JSON (Expecting ',' delimiter: ...); write it again
    """
    try:
        with open(path, encoding="utf-8") as text:
            value = json.load(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as problem:
        raise error(f"{os.fspath(path)}: not valid JSON ({problem}); {fix}") from None
    if expect is not None and not isinstance(value, expect):
        raise error(f"{os.fspath(path)}: expected {expected or _KIND[expect]}, got {type(value).__name__}")
    return value
