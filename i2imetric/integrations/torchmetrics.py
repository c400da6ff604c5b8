"""The metric as a torchmetrics ``Metric``, for training loops that already log torchmetrics.

Needs the ``[torchmetrics]`` extra. State is three running sums (sum, sum of squares,
count), so memory stays constant however many batches are seen, and they are summed
across processes by torchmetrics' own synchronisation.

The scorer is held, not registered as a submodule: its parameters are not the model's,
so they stay out of ``parameters()`` (and a LightningModule's optimizer, summary and
checkpoints), and the model's ``train()`` does not reach it (which would unmerge its LoRA
adapters and slow every score). Moving the tracker (``.to(device)``, directly or through
a parent module) moves the scorer to that device too, so it scores where the model runs;
dtype changes never reach it (its precision is its own: :meth:`I2IMetric.set_precision`).

    >>> from i2imetric.integrations.torchmetrics import I2IMetricScore  # doctest: +SKIP
    >>> tracker = I2IMetricScore(i2imetric.load_metric("demo"))  # doctest: +SKIP
    >>> tracker.update(sources, instructions, outputs)  # doctest: +SKIP
    >>> tracker.compute()["mean"]  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torchmetrics import Metric

from ..models.metric import I2IMetric

__all__ = ["I2IMetricScore"]


class I2IMetricScore(Metric):
    """Mean and spread of i2imetric scores over every triplet passed to :meth:`update`.

    Args:
        metric: the :class:`~i2imetric.models.metric.I2IMetric` to score with. It is put in
            eval mode here and is not a submodule (see the module docstring): it has no
            parameters here, and ``train()``/``eval()`` leave it in eval mode, its adapters as
            they are (merged, as :func:`~i2imetric.load_metric` returns them); ``.to(device)``
            moves it with the tracker's state.
        batch_size: triplets per forward pass inside each :meth:`update`.
        **kwargs: passed to ``torchmetrics.Metric`` (e.g. ``sync_on_compute``).
    """

    higher_is_better = True
    is_differentiable = False
    full_state_update = False

    def __init__(self, metric: I2IMetric, batch_size: int = 32, **kwargs: Any):
        super().__init__(**kwargs)
        self.metric = metric.eval()  # stored outside the module registry: see __setattr__
        self.batch_size = batch_size
        # float64: a sum of squares over millions of scores loses digits in float32.
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total_squares", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "metric":
            # nn.Module.__setattr__ would register the scorer as a submodule (its parameters in
            # the optimizer, train() unmerging it); a plain attribute keeps it out of reach.
            self.__dict__[name] = value
            return
        super().__setattr__(name, value)

    def _apply(self, fn: Callable, *args: Any, **kwargs: Any):
        this = super()._apply(fn, *args, **kwargs)
        # `.to`, `.cuda`, `.cpu` and a parent module's moves all come through here, and so do
        # dtype casts. Where `fn` sends a tensor of the scorer's says which: follow the device
        # only, and only when `fn` moves tensors (a `.half()` must leave a CUDA scorer there).
        scorer = self.__dict__.get("metric")  # absent only while torchmetrics' __init__ runs
        if scorer is not None:
            moved_to = fn(torch.zeros(1, device=scorer.device)).device
            if moved_to != scorer.device:
                scorer.to(moved_to)
        return this

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
