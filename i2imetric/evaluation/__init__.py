"""Evaluation: score a manifest with the metric and baselines, resumably, into result files.

- :mod:`.runner`: :func:`evaluate`, the batch loop, and its :class:`EvalSummary`;
- :mod:`.engine`: one decoded batch in, result rows out (the embedding cache lives here);
- :mod:`.items`: records to work items, and the decoding workers;
- :mod:`.results`: the one reader and writer of result files (JSONL, CSV, Parquet);
- :mod:`.baselines`: CLIP-T, CLIP-I, directional, patch preservation, L2, PSNR;
- :mod:`.setlevel`: Frechet distance and MMD between two sets.

Names are imported on first use, so reading result files (``.results``) stays torch-free.
"""

from .._lazy import lazy_exports

_LAZY = {
    "evaluate": "runner",
    "EvalSummary": "runner",
    "SystemSummary": "runner",
    "default_num_workers": "runner",
    "metric_identity": "runner",
    "process_state": "runner",
    "read_rows": "results",
    "set_distance": "setlevel",
}

__all__ = list(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
