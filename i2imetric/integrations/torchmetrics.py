"""The metric as a torchmetrics ``Metric``, for training loops that already log torchmetrics.

Needs the ``[torchmetrics]`` extra. State is three running sums (sum, sum of squares,
count), so memory stays constant however many batches are seen, and they are summed
across processes by torchmetrics' own synchronisation.

    >>> from i2imetric.integrations.torchmetrics import I2IMetricScore  # doctest: +SKIP
    >>> tracker = I2IMetricScore(i2imetric.load_metric("demo"))  # doctest: +SKIP
    >>> tracker.update(sources, instructions, outputs)  # doctest: +SKIP
    >>> tracker.compute()["mean"]  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import Metric

from ..models.metric import I2IMetric

__all__ = ["I2IMetricScore"]


class I2IMetricScore(Metric):
    """Mean and spread of i2imetric scores over every triplet passed to :meth:`update`.

    Args:
        metric: the :class:`~i2imetric.models.metric.I2IMetric` to score with (moved with this module).
        batch_size: triplets per forward pass inside each :meth:`update`.
        **kwargs: passed to ``torchmetrics.Metric`` (e.g. ``sync_on_compute``).
    """

    higher_is_better = True
    is_differentiable = False
    full_state_update = False

    def __init__(self, metric: I2IMetric, batch_size: int = 32, **kwargs: Any):
        super().__init__(**kwargs)
        self.metric = metric
        self.batch_size = batch_size
        # float64: a sum of squares over millions of scores loses digits in float32.
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total_squares", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, sources: Any, instructions: Any, outputs: Any) -> None:
        """Score a batch of triplets (any input form :meth:`I2IMetric.score` takes) and add them to the sums."""
        scores = self.metric.score(sources, instructions, outputs, batch_size=self.batch_size)
        scores = torch.as_tensor(scores, dtype=torch.float64, device=self.total.device).reshape(-1)
        self.total += scores.sum()
        self.total_squares += (scores**2).sum()
        self.count += scores.numel()

    def compute(self) -> dict[str, torch.Tensor]:
        """``{"mean", "std", "count"}`` over everything seen; ``std`` is the sample standard deviation."""
        count = self.count.to(torch.float64)
        mean = self.total / count
        variance = (self.total_squares - count * mean**2) / (count - 1)
        return {"mean": mean, "std": variance.clamp(min=0.0).sqrt(), "count": self.count}
