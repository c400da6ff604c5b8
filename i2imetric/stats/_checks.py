"""Input validation shared by the statistics modules.

Every check raises :class:`i2imetric.errors.I2IInputError` (a ``ValueError``) naming the
argument at fault, so a caller learns which of its inputs to fix. The module is private
to :mod:`i2imetric.stats`; its names carry no underscore because sibling modules import them.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..errors import I2IInputError


def as_float_array(values: ArrayLike, name: str) -> np.ndarray:
    """Return ``values`` as a float array of any shape; non-numeric input raises."""
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise I2IInputError(f"{name} must be numeric: {exc}") from None


def as_vector(values: ArrayLike, name: str) -> np.ndarray:
    """Return ``values`` as a non-empty, finite, 1-D float array."""
    arr = as_float_array(values, name)
    if arr.ndim != 1:
        raise I2IInputError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise I2IInputError(f"{name} must not be empty")
    if not np.all(np.isfinite(arr)):
        raise I2IInputError(f"{name} contains NaN or infinite values")
    return arr


def as_matrix(values: ArrayLike, name: str, min_rows: int) -> np.ndarray:
    """Return ``values`` as a finite 2-D float array with at least ``min_rows`` rows."""
    arr = as_float_array(values, name)
    if arr.ndim != 2:
        raise I2IInputError(f"{name} must be 2-D [n, d], got shape {arr.shape}")
    if arr.shape[0] < min_rows:
        raise I2IInputError(f"{name} needs at least {min_rows} rows, got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        raise I2IInputError(f"{name} contains NaN or infinite values")
    return arr


def check_same_length(**arrays: np.ndarray) -> None:
    """Raise if the named arrays differ in length, naming the first mismatch."""
    (first_name, first), *rest = arrays.items()
    for name, arr in rest:
        if len(arr) != len(first):
            raise I2IInputError(
                f"{name} has {len(arr)} items but {first_name} has {len(first)}"
            )


def label_codes(labels: ArrayLike, allowed: tuple[str, ...]) -> np.ndarray:
    """Map each label to its index in ``allowed``; unknown labels raise."""
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise I2IInputError(f"labels must be 1-D, got shape {arr.shape}")
    uniques, inverse = np.unique(arr.astype(str), return_inverse=True)
    unknown = [str(u) for u in uniques if u not in allowed]
    if unknown:
        raise I2IInputError(
            f"labels has unknown values {unknown[:5]}; expected one of {list(allowed)}"
        )
    return np.array([allowed.index(u) for u in uniques], dtype=int)[inverse]


def group_index(groups: ArrayLike, name: str, n_items: int) -> np.ndarray:
    """Dense 0..G-1 ids for a 1-D array of group labels of length ``n_items``."""
    arr = np.asarray(groups)
    if arr.ndim != 1:
        raise I2IInputError(f"{name} must be 1-D, got shape {arr.shape}")
    if len(arr) != n_items:
        raise I2IInputError(f"{name} has {len(arr)} items but the data has {n_items}")
    return np.unique(arr, return_inverse=True)[1].reshape(-1)


def check_threshold(value: float, name: str) -> float:
    """Return a tie threshold as a float; it must be finite and ``>= 0``."""
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise I2IInputError(f"{name} must be a finite number >= 0, got {value}")
    return value


def check_tau(tau: float) -> float:
    """Return the four-way good/bad threshold as a float; anything but NaN."""
    # +-inf are legitimate ("every tie is bad" / "every tie is good"); NaN is not.
    tau = float(tau)
    if np.isnan(tau):
        raise I2IInputError("tau must not be NaN")
    return tau
