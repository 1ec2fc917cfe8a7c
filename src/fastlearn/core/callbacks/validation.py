"""The loss and metrics of one pass over a validation loader: `ValidationTotals` (used by the
Recorder during a fit) and `ValidateCallback` (`learn.validate`, outside a fit)."""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING

import torch

from ..callback import Callback
from ..distributed import all_reduce_sum, is_distributed

if TYPE_CHECKING:
    from ..learner import Learner
    from ..metrics import Metric

__all__ = ["ValidationTotals", "ValidateCallback"]


def _batch_size(yb: tuple) -> int:
    for y in yb:
        if isinstance(y, torch.Tensor) and y.ndim > 0:
            return y.shape[0]
    return 1


class ValidationTotals:
    """The batch-size-weighted mean loss and the metrics over one pass of a loader. The loss
    sum stays a device tensor until `values` (no sync per batch)."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics
        self.loss_sum: torch.Tensor | float = 0.0
        self.n = 0

    def reset(self, device: torch.device) -> None:
        """Start a new pass."""
        self.loss_sum, self.n = torch.zeros((), device=device), 0
        for metric in self.metrics:
            metric.reset()

    def update(self, learn: Learner) -> None:
        """Add one validation batch: `learn.loss`, `learn.pred` against `learn.yb`."""
        bs = _batch_size(learn.yb)
        self.loss_sum = self.loss_sum + learn.loss.float() * bs
        self.n += bs
        for metric in self.metrics:
            try:
                metric.update(learn.pred, *learn.yb)
            except Exception as e:
                raise _renamed(
                    e,
                    f"Metric {metric.name!r} failed on predictions of shape "
                    f"{tuple(learn.pred.shape)} and targets of shape "
                    f"{tuple(learn.yb[0].shape)}: {type(e).__name__}: {e}. Fix: "
                    "check the metric suits this task (classification metrics "
                    "need class-index targets).",
                ) from e

    def values(self) -> list[float]:
        """[mean loss, *metric values] as floats; distributed, over every process's share."""
        loss_sum, n = float(self.loss_sum), self.n
        if is_distributed():
            loss_sum, n = all_reduce_sum([loss_sum, n])
            for metric in self.metrics:
                metric.sync()
        out = [loss_sum / n if n else math.nan]
        for metric in self.metrics:
            try:
                out.append(float(metric.compute()))
            except Exception as e:
                raise _renamed(
                    e, f"Metric {metric.name!r} failed to compute: {type(e).__name__}: {e}"
                ) from e
        return out


class ValidateCallback(Callback):
    """Collects the loss and metrics of one validation pass outside a fit (`learn.validate`),
    with its own copies of the metrics: the recorder's history is left alone."""

    order = 50
    run_train = False

    def __init__(self, metrics: list[Metric]) -> None:
        self.totals = ValidationTotals([copy.deepcopy(m) for m in metrics])

    def before_validate(self, learn: Learner) -> None:
        self.totals.reset(learn.dls.device)

    def after_batch(self, learn: Learner) -> None:
        if not learn.training and learn.yb:
            self.totals.update(learn)


def _renamed(error: Exception, message: str) -> Exception:
    """The same kind of exception with a clearer message (RuntimeError if it can't be built)."""
    try:
        return type(error)(message)
    except Exception:  # noqa: BLE001 (exception classes with unusual constructors)
        return RuntimeError(message)
