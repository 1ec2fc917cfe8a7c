"""Metrics: the Metric protocol (reset/update/compute), `as_metric`, and every metric.

Metrics accumulate over the whole validation set and are computed once per epoch. A plain
function `f(preds, targs)` is averaged weighted by batch size; the functions whose batch average
would be wrong (`rmse`, `exp_rmspe`, `foreground_acc`) become their exact Metric instead.

>>> learn = Learner(dls, model, metrics=[accuracy, F1Score(average="macro"), rmse])
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import Tensor

from .base import AvgMetric, Metric, function_name
from .classification import (
    BalancedAccuracy,
    F1Score,
    FBeta,
    MatthewsCorrCoef,
    Perplexity,
    Precision,
    Recall,
    RocAuc,
    RocAucBinary,
    accuracy,
    accuracy_multi,
    error_rate,
)
from .regression import (
    RMSE,
    ExpRMSPE,
    PearsonCorrCoef,
    R2Score,
    SpearmanCorrCoef,
    exp_rmspe,
    mae,
    mse,
    rmse,
)
from .segmentation import Dice, ForegroundAccuracy, Jaccard, foreground_acc

__all__ = [
    "Metric",
    "AvgMetric",
    "as_metric",
    "accuracy",
    "error_rate",
    "accuracy_multi",
    "mse",
    "mae",
    "rmse",
    "exp_rmspe",
    "RMSE",
    "ExpRMSPE",
    "R2Score",
    "PearsonCorrCoef",
    "SpearmanCorrCoef",
    "F1Score",
    "FBeta",
    "Precision",
    "Recall",
    "BalancedAccuracy",
    "MatthewsCorrCoef",
    "RocAuc",
    "RocAucBinary",
    "Perplexity",
    "Dice",
    "Jaccard",
    "ForegroundAccuracy",
    "foreground_acc",
]

# Functions that are not means over rows, and the Metric that computes them exactly.
# Keyword arguments of a functools.partial are passed on: partial(foreground_acc, bkg_idx=30).
EXACT_METRICS: dict[Callable, type[Metric]] = {
    rmse: RMSE,
    exp_rmspe: ExpRMSPE,
    foreground_acc: ForegroundAccuracy,
}


def as_metric(m: Metric | type[Metric] | Callable[[Tensor, Tensor], Tensor | float]) -> Metric:
    """A Metric from a Metric instance, a Metric subclass, or a function `f(preds, targs)`."""
    if isinstance(m, Metric):
        return m
    if isinstance(m, type) and issubclass(m, Metric):
        return m()
    func, keywords = (m.func, m.keywords) if isinstance(m, partial) and not m.args else (m, {})
    exact = next((cls for f, cls in EXACT_METRICS.items() if f is func), None)
    if exact is not None:
        return exact(**keywords)
    if callable(m):
        return AvgMetric(m, name=function_name(m))
    raise TypeError(
        f"as_metric expected a Metric, a Metric class or a function f(preds, targs). "
        f"Received: {type(m).__name__}. Fix: pass e.g. accuracy, F1Score or F1Score()."
    )
