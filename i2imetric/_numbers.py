"""How a number found in a result row, a CSV cell or a JSON field becomes a float, and how
a count a user gives is checked.

Result files are read back from JSON, CSV and Parquet, each with its own idea of a
missing value (null, an empty cell, NaN). These two rules are the only ones used. Counts
(batch sizes, worker numbers, how many rows to show) are checked by :func:`check_int`,
wherever they are given: an option, an argument or a setting.
"""

from __future__ import annotations

import math
import numbers
from typing import Optional

__all__ = ["check_int", "real_or_nan", "none_if_missing"]


def real_or_nan(value) -> float:
    """``value`` as a float when it is a finite real number (bools are not), else NaN.

    Statistics and plots take NaN for "no value here".

    Example:
        >>> real_or_nan(2), real_or_nan(None), real_or_nan(True), real_or_nan(float("inf"))
        (2.0, nan, nan, nan)
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return math.nan
    number = float(value)
    return number if math.isfinite(number) else math.nan


def none_if_missing(value) -> Optional[float]:
    """``value`` (a number or numeric text) as a float, or None for null, "" and NaN.

    JSON has no NaN, so rows carry None where a value does not apply.

    Example:
        >>> none_if_missing("0.5"), none_if_missing(""), none_if_missing(float("nan"))
        (0.5, None, None)
    """
    if value is None or value == "":
        return None
    number = float(value)
    return None if math.isnan(number) else number


def check_int(name: str, value, minimum: int, maximum: Optional[int] = None) -> int:
    """``value`` when it is an int (not a bool) in ``[minimum, maximum]``; else an error naming ``name``.

    A negative count would silently mean "all but the last few" to a slice, or fail deep
    inside with a traceback; a float or a bool would pass where an int is meant.

    Example:
        >>> check_int("--top", 3, 1)
        3
        >>> check_int("--top", -3, 1)
        Traceback (most recent call last):
        ...
        i2imetric.errors.I2IInputError: --top -3: expected an integer at least 1
    """
    from .errors import I2IInputError

    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (
            maximum is not None and value > maximum):  # fmt: skip
        allowed = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise I2IInputError(f"{name} {value!r}: expected an integer {allowed}")
    return value
