"""Distances between two sets of embeddings: Frechet distance and unbiased RBF MMD^2."""

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
    samples come from one distribution. CMMD's public code reports the biased
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
    sigma = float(sigma)
    if not np.isfinite(sigma) or sigma <= 0:
        raise I2IInputError(f"sigma must be a finite number > 0, got {sigma}")
    m, n = len(x), len(y)
    k_xx = _rbf_kernel_sum(x, x, sigma, skip_diagonal=True) / (m * (m - 1))
    k_yy = _rbf_kernel_sum(y, y, sigma, skip_diagonal=True) / (n * (n - 1))
    k_xy = _rbf_kernel_sum(x, y, sigma, skip_diagonal=False) / (m * n)
    return k_xx + k_yy - 2.0 * k_xy


def median_heuristic_sigma(
    x: ArrayLike, y: ArrayLike, max_points: int = 1000, seed: int = 0
) -> float:
    """Median pairwise Euclidean distance of the pooled samples, an RBF bandwidth.

    Args:
        x: ``[m, d]`` embeddings.
        y: ``[n, d]`` embeddings.
        max_points: Pool size cap; larger pools are subsampled without
            replacement, since the distance matrix grows quadratically.
        seed: Seed for that subsample.

    Returns:
        The median distance between distinct pooled points.

    Example:
        >>> import numpy as np
        >>> median_heuristic_sigma(np.array([[0.0], [1.0]]), np.array([[3.0]]))
        2.0
    """
    x, y = _embedding_pair(x, y, min_rows=1)
    if max_points < 2:
        raise I2IInputError(f"max_points must be >= 2, got {max_points}")
    pooled = np.vstack([x, y])
    if len(pooled) > max_points:
        keep = np.random.default_rng(seed).choice(len(pooled), size=max_points, replace=False)
        pooled = pooled[keep]
    sigma = float(np.median(pdist(pooled)))
    if sigma == 0:
        raise I2IInputError("x and y: median pairwise distance is 0 (mostly duplicate points)")
    return sigma
