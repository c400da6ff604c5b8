"""Set-level distances in learned spaces: how far apart are two sets of images or edits?

Two embedding spaces:

* ``"clip"``: the metric's pooled CLIP image embedding of each image, L2-normalised
  (CMMD-style; Jayasumana et al., 2024). Needs only images: a folder, or the outputs of
  a manifest or results file.
* ``"z"``: the metric's joint latent of each (source, instruction, output) triplet, which
  describes the edit rather than the picture. Needs triplets: a manifest or a results
  file whose rows carry ``source``, ``instruction`` and ``output``.

:func:`set_distance` compares two embedding sets with the Frechet distance and the
unbiased RBF MMD^2 of :mod:`i2imetric.stats`, with a bootstrap interval of the MMD^2.
Values are comparable only within one space, one metric and, for the MMD, one kernel
bandwidth sigma. Unless given, sigma is the median pairwise distance within ``x``, the
reference set, so every comparison against one reference shares it; pooling each pair
would give each comparison its own kernel. The unbiased MMD^2 is ~0 for two samples of
one distribution and can be negative: a folder against itself gives a small negative
number, which reads as "no difference", not as an error.

Example:
    >>> metric = i2imetric.create_metric("test-tiny")  # doctest: +SKIP
    >>> x = embed_folder(metric, "real/")  # doctest: +SKIP
    >>> y = embed_folder(metric, "generated/")  # doctest: +SKIP
    >>> set_distance(x, y)  # doctest: +SKIP
    {'fd': 0.41, 'mmd2_unbiased': 0.012, 'mmd2_low': 0.008, 'mmd2_high': 0.017, 'confidence': 0.95,
     'n_resamples': 200, 'sigma': 0.93, 'sigma_source': 'median pairwise distance within x (500 points)',
     'n_x': 500, 'n_y': 500}
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import torch

from ..data import Rating, Triplet, read_manifest
from ..errors import I2IInputError
from ..io.images import find_images, image_to_tensor
from ..models.batching import encode_once, image_key
from ..stats import frechet_distance, median_heuristic_sigma, mmd2_unbiased, mmd2_unbiased_ci
from .results import output_format, read_results

__all__ = ["SPACES", "embed_folder", "embed_set", "embed_triplets", "read_triplets", "reference_sigma", "set_distance"]

SPACES = ("clip", "z")


def set_distance(
    x, y, sigma: float | None = None, seed: int = 0, n_resamples: int = 200, confidence: float = 0.95
) -> dict:
    """Frechet distance and unbiased RBF MMD^2 (with a bootstrap CI) between two embedding sets.

    Args:
        x: ``[n, d]`` reference embeddings (numpy array or torch tensor), ``n >= 2``.
        y: ``[m, d]`` embeddings in the same space, ``m >= 2``.
        sigma: RBF bandwidth; None takes the median pairwise distance within ``x``
            (:func:`reference_sigma`), the same for every ``y`` compared with one ``x``.
            To compare several pairs that do not share a reference, pass one sigma.
        seed: seed of the median heuristic's subsample (above 1000 points) and of the bootstrap.
        n_resamples: bootstrap resamples of the MMD^2 interval
            (:func:`i2imetric.stats.mmd2_unbiased_ci`); 0 skips it.
        confidence: level of that interval.

    Returns:
        ``{"fd", "mmd2_unbiased", "mmd2_low", "mmd2_high", "confidence", "n_resamples",
        "sigma", "sigma_source", "n_x", "n_y"}``; ``mmd2_unbiased`` is ~0 (and may be
        negative) when both sets come from one distribution; ``mmd2_low`` and
        ``mmd2_high`` are None when ``n_resamples`` is 0 (or, for sets of a few
        points, when no resample has two distinct points in each set).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> result = set_distance(rng.normal(size=(50, 4)), rng.normal(size=(50, 4)) + 3.0)
        >>> round(result["fd"]), result["mmd2_low"] > 0.5  # shift 3 in 4 dims: fd ~ 36
        (34, True)
    """
    x, y = _as_numpy(x, "x"), _as_numpy(y, "y")
    if sigma is None:
        sigma, source = reference_sigma(x, seed=seed), f"median pairwise distance within x ({len(x)} points)"
    else:
        source = "given"
    if int(n_resamples) != n_resamples or n_resamples < 0:
        raise I2IInputError(f"n_resamples must be an integer >= 0, got {n_resamples}")
    if n_resamples:
        mmd2, low, high = mmd2_unbiased_ci(x, y, sigma, int(n_resamples), confidence, seed)
        if not (math.isfinite(low) and math.isfinite(high)):  # only for sets of a few points
            low = high = None
    else:
        mmd2, low, high = mmd2_unbiased(x, y, sigma), None, None
    return {
        "fd": frechet_distance(x, y),
        "mmd2_unbiased": mmd2,
        "mmd2_low": low,
        "mmd2_high": high,
        "confidence": confidence,
        "n_resamples": int(n_resamples),
        "sigma": float(sigma),
        "sigma_source": source,
        "n_x": len(x),
        "n_y": len(y),
    }


def reference_sigma(x, seed: int = 0) -> float:
    """The MMD bandwidth of a family of comparisons: the median pairwise distance within ``x``.

    Args:
        x: ``[n, d]`` embeddings of the reference set (numpy array or torch tensor).
        seed: seed of the subsample above 1000 points.

    Example:
        >>> reference_sigma(np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 4.0]]))
        4.0
    """
    return median_heuristic_sigma(_as_numpy(x, "x"), seed=seed)


def embed_folder(metric, folder, space: str = "clip", batch_size: int = 32) -> torch.Tensor:
    """CLIP image embeddings of every image under ``folder`` (recursively, sorted).

    Args:
        metric: an :class:`i2imetric.I2IMetric`.
        folder: a folder of images (hidden files are skipped).
        space: only ``"clip"``: the joint latent ``"z"`` needs triplets, see :func:`embed_triplets`.
        batch_size: images per forward pass.

    Returns:
        ``[N, D]`` float tensor on the CPU, rows L2-normalised.
    """
    if space != "clip":
        raise I2IInputError(
            f"space {space!r}: a folder holds only images; the joint latent z needs (source, instruction, "
            "output) triplets, so pass a manifest or results file to embed_triplets"
        )
    paths = find_images(folder)
    if not paths:
        raise I2IInputError(f"{folder}: no images found")
    return _clip_embeddings(metric, [str(path) for path in paths], batch_size)


def embed_triplets(metric, triplets, space: str = "z", batch_size: int = 32) -> torch.Tensor:
    """Embeddings of triplets: the joint latent z, or the CLIP embedding of each output.

    Args:
        metric: an :class:`i2imetric.I2IMetric`.
        triplets: records with ``source``, ``instruction`` and ``output`` (``Triplet`` or
            ``Rating``, e.g. from :func:`read_triplets`).
        space: ``"z"`` or ``"clip"``.
        batch_size: triplets per forward pass.

    Returns:
        ``[N, D]`` float tensor on the CPU.
    """
    _check_space(space)
    triplets = list(triplets)
    if not triplets:
        raise I2IInputError("no triplets to embed")
    if space == "clip":
        return _clip_embeddings(metric, [t.output for t in triplets], batch_size)
    missing = [i for i, t in enumerate(triplets) if t.source is None or t.instruction is None]
    if missing:
        raise I2IInputError(
            f"triplet {missing[0]} has no source or no instruction ({len(missing)} such); the joint latent z "
            "needs both, use space='clip' to compare outputs alone"
        )
    latent = metric.embed(
        [t.source for t in triplets], [t.instruction for t in triplets], [t.output for t in triplets], batch_size
    )
    return latent.float().cpu()


def read_triplets(path) -> list[Triplet]:
    """The triplets of a manifest (triplet and rating records) or a result file.

    A result file (any format ``i2imetric eval --out`` writes, read by
    :func:`i2imetric.evaluation.results.read_results`) qualifies when its rows carry ``source``,
    ``instruction`` and ``output``, as ``eval`` writes them (failed rows are skipped). A
    ``.jsonl`` file is a manifest when its first row has a ``"type"``.

    Returns:
        A ``Triplet`` per usable row, image paths absolute.
    """
    if _is_manifest(path):
        records = read_manifest(path).records
        usable = [r for r in records if isinstance(r, (Triplet, Rating))]
        if len(usable) < len(records):
            raise I2IInputError(
                f"{path}: holds pairwise records; set distances need one output per row (triplets or ratings)"
            )
        return [Triplet(r.source, r.instruction, r.output, id=r.id, system=r.system) for r in usable]
    rows = [row for row in read_results(path) if row.get("status", "ok") == "ok"]
    if any(not isinstance(row.get("output"), str) for row in rows):
        raise I2IInputError(
            f"{path}: a results row has no 'output' image path; score a manifest whose rows name their images, "
            "or pass that manifest instead"
        )
    return [
        Triplet(row.get("source"), row.get("instruction"), row["output"], id=row.get("id"), system=row.get("system"))
        for row in rows
    ]


def embed_set(metric, path, space: str = "clip", batch_size: int = 32) -> torch.Tensor:
    """Embed a folder of images, or the triplets of a manifest or results file.

    Args:
        metric: an :class:`i2imetric.I2IMetric`.
        path: a folder (space ``"clip"`` only), a ``.jsonl`` manifest, or a result file
            (``.jsonl``, ``.csv``, ``.parquet``).
        space: ``"clip"`` or ``"z"``.
        batch_size: images or triplets per forward pass.

    Returns:
        ``[N, D]`` float tensor on the CPU.
    """
    _check_space(space)
    if os.path.isdir(path):
        return embed_folder(metric, path, space, batch_size)
    if not os.path.isfile(path):
        raise I2IInputError(f"{path}: neither a folder of images nor a manifest / results file")
    return embed_triplets(metric, read_triplets(path), space, batch_size)


# --------------------------------------------------------------------------


def _check_space(space: str) -> None:
    if space not in SPACES:
        raise I2IInputError(f"space must be one of {SPACES}, got {space!r}")


@torch.inference_mode()
def _clip_embeddings(metric, images: list[str], batch_size: int) -> torch.Tensor:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise I2IInputError(f"batch_size must be a positive int, got {batch_size!r}")
    metric.eval()

    def encode(first: list[int]) -> list[torch.Tensor]:
        rows = []
        for start in range(0, len(first), batch_size):
            tensors = [image_to_tensor(images[i], name=str(images[i])) for i in first[start : start + batch_size]]
            rows.extend(metric.encode_images(tensors).pooled.float().cpu())  # already L2-normalised
        return rows

    # An image listed twice (one output in two result rows) is encoded once.
    return torch.stack(encode_once([image_key(image, str(image)) for image in images], encode))


def _as_numpy(embeddings, name: str) -> np.ndarray:
    if isinstance(embeddings, torch.Tensor):
        embeddings = embeddings.detach().cpu().double().numpy()
    array = np.asarray(embeddings, dtype=float)
    if array.ndim != 2:
        raise I2IInputError(f"{name} must be [n, d] embeddings, got shape {array.shape}")
    return array


def _is_manifest(path) -> bool:
    """True when the first non-blank row has a ``"type"`` (manifests do; result rows and headers do not)."""
    if output_format(Path(path)) != "jsonl":
        return False  # manifests are JSON Lines; CSV and Parquet are what eval writes
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.strip():
                try:
                    first = json.loads(line)
                except json.JSONDecodeError:
                    return False  # let the results reader report the bad line
                return isinstance(first, dict) and "type" in first
    raise I2IInputError(f"{path}: empty file")
