"""Distances between two sets of embeddings: Frechet distance and unbiased RBF MMD^2.

An MMD^2 value depends on the kernel bandwidth sigma, so two values are comparable
only when they share one sigma. The median heuristic picks sigma from the data; fed
each pair of sets anew, it gives every comparison its own kernel, and "A is closer to
the reference than B" can flip with the bandwidth rather than the data. Fix sigma once
per family of comparisons: :func:`median_heuristic_sigma` of the reference set alone
(``y=None``), or a value passed in, and report it with the numbers.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg
from scipy.spatial.distance import pdist

from ..errors import I2IInputError
from ._checks import as_matrix

# Upper bound on kernel-matrix elements held at once by the MMD (4M float64 = 32 MiB),
# so 10k x 10k embeddings are summed in row blocks rather than as one 800 MB matrix.
_MAX_BATCH_ELEMENTS = 1 << 22


def _embedding_pair(x: ArrayLike, y: ArrayLike, min_rows: int) -> tuple[np.ndarray, np.ndarray]:
    x = as_matrix(x, "x", min_rows)
    y = as_matrix(y, "y", min_rows)
    if x.shape[1] != y.shape[1]:
        raise I2IInputError(f"y has dimension {y.shape[1]} but x has {x.shape[1]}")
    return x, y


def _sqrtm_product(cov_x: np.ndarray, cov_y: np.ndarray, eps: float) -> np.ndarray:
    """Matrix square root of ``cov_x @ cov_y``, regularised when it is singular.

    With fewer samples than dimensions, or collinear features, the covariances
    are rank deficient and so is their product; its square root is then
    ill-conditioned and the Schur method can return inf/NaN or a large
    imaginary part. Like pytorch-fid we then retry with ``eps`` added to both
    diagonals, which makes the product non-singular at a bias of order
    ``sqrt(eps)`` per null direction, far below typical FD values.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", linalg.LinAlgWarning)
        try:
            root = linalg.sqrtm(cov_x @ cov_y)
        except linalg.LinAlgWarning:  # scipy flags a singular product
            root = None
    if root is None or not np.all(np.isfinite(root)):
        offset = eps * np.eye(cov_x.shape[0])
        root = linalg.sqrtm((cov_x + offset) @ (cov_y + offset))
    if np.iscomplexobj(root):
        # The exact root of a product of PSD matrices has a real spectrum, so a
        # small imaginary part is round-off; a large one means garbage.
        if not np.allclose(np.diagonal(root).imag, 0, atol=1e-3):
            worst = np.max(np.abs(np.diagonal(root).imag))
            raise I2IInputError(f"sqrtm of the covariance product has imaginary part {worst:.3g}")
        root = root.real
    return root


def frechet_distance(x: ArrayLike, y: ArrayLike, eps: float = 1e-6) -> float:
    """Frechet distance between Gaussians fitted to two embedding sets (FID-style).

    ``||mu_x - mu_y||^2 + tr(S_x + S_y - 2 (S_x S_y)^(1/2))`` with sample
    covariances (``ddof=1``). Tiny negative results from round-off are clipped
    to 0, since the true value is a squared distance.

    Args:
        x: ``[n, d]`` embeddings, ``n >= 2``.
        y: ``[m, d]`` embeddings, ``m >= 2``.
        eps: Diagonal offset used only if the covariance product is singular.

    Returns:
        The Frechet distance (squared units of the embeddings).

    Example:
        >>> import numpy as np
        >>> x = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
        >>> round(frechet_distance(x, x + 1.0), 6)
        2.0
    """
    x, y = _embedding_pair(x, y, min_rows=2)
    if eps <= 0:
        raise I2IInputError(f"eps must be > 0, got {eps}")
    mean_diff = x.mean(axis=0) - y.mean(axis=0)
    # atleast_2d: np.cov returns a 0-d array for one-dimensional embeddings.
    cov_x = np.atleast_2d(np.cov(x, rowvar=False, ddof=1))
    cov_y = np.atleast_2d(np.cov(y, rowvar=False, ddof=1))
    trace_root = np.trace(_sqrtm_product(cov_x, cov_y, eps))
    distance = mean_diff @ mean_diff + np.trace(cov_x) + np.trace(cov_y) - 2.0 * trace_root
    return float(max(distance, 0.0))


def _rbf_kernel_sum(a: np.ndarray, b: np.ndarray, sigma: float, skip_diagonal: bool) -> float:
    """Sum of ``exp(-||a_i - b_j||^2 / (2 sigma^2))``, in row blocks to bound memory.

    ``skip_diagonal`` (for ``a is b``) leaves out the i == j terms.
    """
    b_sq = np.einsum("ij,ij->i", b, b)
    block = max(1, _MAX_BATCH_ELEMENTS // len(b))
    total = 0.0
    for start in range(0, len(a), block):
        a_blk = a[start:start + block]
        sq_dist = np.einsum("ij,ij->i", a_blk, a_blk)[:, None] + b_sq[None, :] - 2.0 * a_blk @ b.T
        np.maximum(sq_dist, 0.0, out=sq_dist)  # the expansion can dip below 0
        kernel = np.exp(-sq_dist / (2.0 * sigma**2))
        if skip_diagonal:
            rows = np.arange(len(a_blk))
            kernel[rows, start + rows] = 0.0
        total += kernel.sum()
    return float(total)


def mmd2_unbiased(x: ArrayLike, y: ArrayLike, sigma: float) -> float:
    """Unbiased estimate of squared MMD with an RBF kernel.

    The U-statistic of Gretton et al. (2012):
    ``sum_{i!=j} k(x_i,x_j)/(m(m-1)) + sum_{i!=j} k(y_i,y_j)/(n(n-1))
    - 2 sum_{i,j} k(x_i,y_j)/(mn)`` with ``k(a,b) = exp(-||a-b||^2 / (2 sigma^2))``.
    Its expectation is exactly MMD^2, so it is ~0 (and can be negative) when both
    samples come from one distribution; a set against itself gives a negative value,
    since the cross term keeps the ``k(x_i, x_i) = 1`` terms the within-set terms leave
    out. :func:`mmd2_unbiased_ci` adds a bootstrap interval. CMMD's public code reports the biased
    V-statistic, which includes the diagonal terms and is positive even then;
    values from the two are not comparable.

    Args:
        x: ``[m, d]`` embeddings, ``m >= 2``.
        y: ``[n, d]`` embeddings, ``n >= 2``.
        sigma: Kernel bandwidth, > 0 (see :func:`median_heuristic_sigma`).

    Returns:
        The MMD^2 estimate.

    Example:
        >>> import numpy as np
        >>> x = np.array([[0.0], [1.0]])
        >>> round(mmd2_unbiased(x, x + 10.0, sigma=1.0), 6)
        1.213061
    """
    x, y = _embedding_pair(x, y, min_rows=2)
    sigma = _check_sigma(sigma)
    m, n = len(x), len(y)
    k_xx = _rbf_kernel_sum(x, x, sigma, skip_diagonal=True) / (m * (m - 1))
    k_yy = _rbf_kernel_sum(y, y, sigma, skip_diagonal=True) / (n * (n - 1))
    k_xy = _rbf_kernel_sum(x, y, sigma, skip_diagonal=False) / (m * n)
    return k_xx + k_yy - 2.0 * k_xy


def mmd2_unbiased_ci(
    x: ArrayLike,
    y: ArrayLike,
    sigma: float,
    n_resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """:func:`mmd2_unbiased` with a two-sample percentile bootstrap interval.

    Each resample draws ``x`` and ``y`` with replacement, independently (they are two
    samples, not paired items). A point drawn twice must not be paired with its own
    copy: that pair has kernel value 1 and would bias every within-set mean upwards,
    so the interval would sit above the estimate. Each resample therefore averages
    the kernel over pairs of *different* original points, weighted by how often each
    was drawn: ``sum_{i != j} c_i c_j k_ij / (m^2 - sum_i c_i^2)``, the U-statistic
    of the resample. With every count 1 this is :func:`mmd2_unbiased` itself. The
    kernel is computed once, in row blocks, for all resamples together.

    Args:
        x: ``[m, d]`` embeddings, ``m >= 2``.
        y: ``[n, d]`` embeddings, ``n >= 2``.
        sigma: Kernel bandwidth, > 0; the same for every resample.
        n_resamples: Number of bootstrap resamples, >= 1.
        confidence: Two-sided confidence level in (0, 1).
        seed: Seed of the numpy Generator drawing the resamples.

    Returns:
        ``(estimate, low, high)``. Resamples whose within-set pairs are all copies of
        one point (possible only for tiny sets) are left out of the interval.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x, y = rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) + 2.0
        >>> est, low, high = mmd2_unbiased_ci(x, y, sigma=1.0, n_resamples=100)
        >>> bool(low < est < high), round(est, 3) == round(mmd2_unbiased(x, y, 1.0), 3)
        (True, True)
    """
    x, y = _embedding_pair(x, y, min_rows=2)
    sigma = _check_sigma(sigma)
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise I2IInputError(f"n_resamples must be a positive integer, got {n_resamples}")
    if not 0 < confidence < 1:
        raise I2IInputError(f"confidence must be in (0, 1), got {confidence}")
    m, n = len(x), len(y)
    rng = np.random.default_rng(seed)
    # Row 0: the data itself (every count 1), then the resamples' counts.
    count_x = np.vstack([np.ones(m), rng.multinomial(m, np.full(m, 1.0 / m), size=int(n_resamples))])
    count_y = np.vstack([np.ones(n), rng.multinomial(n, np.full(n, 1.0 / n), size=int(n_resamples))])
    pairs_x = float(m) ** 2 - np.sum(count_x**2, axis=1)
    pairs_y = float(n) ** 2 - np.sum(count_y**2, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        k_xx = _weighted_rbf_sums(x, x, sigma, count_x, count_x, skip_diagonal=True) / pairs_x
        k_yy = _weighted_rbf_sums(y, y, sigma, count_y, count_y, skip_diagonal=True) / pairs_y
    k_xy = _weighted_rbf_sums(x, y, sigma, count_x, count_y, skip_diagonal=False) / (m * n)
    values = k_xx + k_yy - 2.0 * k_xy
    resampled = values[1:][np.isfinite(values[1:])]
    alpha = 1.0 - confidence
    low, high = np.quantile(resampled, [alpha / 2, 1 - alpha / 2]) if resampled.size else (np.nan, np.nan)
    return float(values[0]), float(low), float(high)


def _weighted_rbf_sums(
    a: np.ndarray, b: np.ndarray, sigma: float, weights_a: np.ndarray, weights_b: np.ndarray, skip_diagonal: bool
) -> np.ndarray:
    """``weights_a[r] @ K(a, b) @ weights_b[r]`` for every row r, the kernel built block by block.

    ``skip_diagonal`` (for ``a is b``) leaves out the i == j terms.
    """
    b_sq = np.einsum("ij,ij->i", b, b)
    block = max(1, _MAX_BATCH_ELEMENTS // len(b))
    totals = np.zeros(len(weights_a))
    for start in range(0, len(a), block):
        a_blk = a[start:start + block]
        sq_dist = np.einsum("ij,ij->i", a_blk, a_blk)[:, None] + b_sq[None, :] - 2.0 * a_blk @ b.T
        np.maximum(sq_dist, 0.0, out=sq_dist)
        kernel = np.exp(-sq_dist / (2.0 * sigma**2))
        if skip_diagonal:
            rows = np.arange(len(a_blk))
            kernel[rows, start + rows] = 0.0
        totals += np.einsum("rj,rj->r", weights_a[:, start:start + block] @ kernel, weights_b)
    return totals


def _check_sigma(sigma: float) -> float:
    sigma = float(sigma)
    if not np.isfinite(sigma) or sigma <= 0:
        raise I2IInputError(f"sigma must be a finite number > 0, got {sigma}")
    return sigma


def median_heuristic_sigma(
    x: ArrayLike, y: ArrayLike | None = None, max_points: int = 1000, seed: int = 0
) -> float:
    """Median pairwise Euclidean distance, an RBF bandwidth: of ``x`` alone, or of ``x`` and ``y`` pooled.

    Pass the reference set alone (``y=None``) to get one sigma for a whole family of
    comparisons against it; pooling each pair gives every comparison its own kernel,
    and then their MMD values cannot be compared with each other.

    Args:
        x: ``[m, d]`` embeddings (the reference set).
        y: Optional ``[n, d]`` embeddings to pool with ``x``.
        max_points: Pool size cap; larger pools are subsampled without
            replacement, since the distance matrix grows quadratically.
        seed: Seed for that subsample.

    Returns:
        The median distance between distinct points.

    Example:
        >>> import numpy as np
        >>> median_heuristic_sigma(np.array([[0.0], [1.0]]), np.array([[3.0]]))
        2.0
        >>> median_heuristic_sigma(np.array([[0.0], [1.0], [3.0]]))
        2.0
    """
    if y is None:
        pooled = as_matrix(x, "x", min_rows=2)
    else:
        x, y = _embedding_pair(x, y, min_rows=1)
        pooled = np.vstack([x, y])
    if max_points < 2:
        raise I2IInputError(f"max_points must be >= 2, got {max_points}")
    if len(pooled) > max_points:
        keep = np.random.default_rng(seed).choice(len(pooled), size=max_points, replace=False)
        pooled = pooled[keep]
    sigma = float(np.median(pdist(pooled)))
    if sigma == 0:
        name = "x" if y is None else "x and y"
        raise I2IInputError(f"{name}: median pairwise distance is 0 (mostly duplicate points)")
    return sigma
