"""Regression metrics. Predictions and targets are flattened, so (N,), (N, 1) and (N, K) all work.

`rmse` and `exp_rmspe` are square roots of means, which a batch average gets wrong; `as_metric`
turns them into `RMSE` and `ExpRMSPE`, which accumulate the squared terms instead.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import Metric, rankdata, shape_error, wide

__all__ = [
    "mse",
    "mae",
    "rmse",
    "exp_rmspe",
    "RMSE",
    "ExpRMSPE",
    "R2Score",
    "PearsonCorrCoef",
    "SpearmanCorrCoef",
]


def flat_pair(preds: Tensor, targs: Tensor, metric: str) -> tuple[Tensor, Tensor]:
    """Flattened float copies of preds and targs, after checking they have equal sizes."""
    if preds.numel() != targs.numel():
        raise shape_error(
            metric,
            "preds and targs with the same number of elements, e.g. (N,) or (N, 1)",
            preds,
            targs,
            "give the model one output per target value (check the last layer).",
        )
    preds, targs = preds.detach().flatten(), targs.detach().flatten()
    if not preds.is_floating_point():
        preds = preds.float()
    return preds, targs if targs.is_floating_point() else targs.to(preds.dtype)


def mse(preds: Tensor, targs: Tensor) -> Tensor:
    """Mean squared error."""
    p, t = flat_pair(preds, targs, "mse")
    return ((p - t) ** 2).mean()


def mae(preds: Tensor, targs: Tensor) -> Tensor:
    """Mean absolute error."""
    p, t = flat_pair(preds, targs, "mae")
    return (p - t).abs().mean()


def rmse(preds: Tensor, targs: Tensor) -> Tensor:
    """Root mean squared error (over one batch; as a metric, `RMSE` over the whole set)."""
    return torch.sqrt(mse(preds, targs))


def exp_rmspe(preds: Tensor, targs: Tensor) -> Tensor:
    """Root mean squared percentage error of exp(preds) against exp(targs) (log-scale targets)."""
    p, t = flat_pair(preds, targs, "exp_rmspe")
    p, t = torch.exp(p), torch.exp(t)
    return torch.sqrt((((t - p) / t) ** 2).mean())


class MeanSquareRoot(Metric):
    """Base: square root of the mean of a per-element term, accumulated exactly."""

    state_names = ("total", "count")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the running sum and count."""
        self.total: Tensor | float = 0.0
        self.count = 0

    def term(self, preds: Tensor, targs: Tensor) -> Tensor:
        """The per-element quantity whose mean is rooted."""
        raise NotImplementedError

    def update(self, preds: Tensor, targs: Tensor) -> None:
        """Add the batch's summed terms."""
        p, t = flat_pair(preds, targs, self.name)
        self.total = self.total + self.term(wide(p), wide(t)).sum()
        self.count += p.numel()

    def compute(self) -> float:
        """sqrt(sum / count) (NaN before any update)."""
        return float(self.total / self.count) ** 0.5 if self.count else float("nan")


class RMSE(MeanSquareRoot):
    """Root mean squared error over the whole set."""

    name = "rmse"

    def term(self, preds: Tensor, targs: Tensor) -> Tensor:
        """Squared error."""
        return (preds - targs) ** 2


class ExpRMSPE(MeanSquareRoot):
    """`exp_rmspe` over the whole set."""

    name = "exp_rmspe"

    def term(self, preds: Tensor, targs: Tensor) -> Tensor:
        """Squared relative error of the exponentiated values."""
        p, t = torch.exp(preds), torch.exp(targs)
        return ((t - p) / t) ** 2


class Moments:
    """Running count, means, squared deviations and co-deviation of (x, y), merged per batch.

    Chan et al.'s parallel update: stable where sums of squares would cancel.
    """

    def __init__(self) -> None:
        self.n = 0
        self.mean_x: Tensor | float = 0.0
        self.mean_y: Tensor | float = 0.0
        self.m2_x: Tensor | float = 0.0
        self.m2_y: Tensor | float = 0.0
        self.c_xy: Tensor | float = 0.0

    def update(self, x: Tensor, y: Tensor) -> None:
        """Merge the statistics of one batch."""
        nb, na = x.numel(), self.n
        if nb == 0:
            return
        n = na + nb
        mx, my = x.mean(), y.mean()
        dx, dy = mx - self.mean_x, my - self.mean_y
        self.mean_x = self.mean_x + dx * nb / n
        self.mean_y = self.mean_y + dy * nb / n
        self.m2_x = self.m2_x + ((x - mx) ** 2).sum() + dx * dx * na * nb / n
        self.m2_y = self.m2_y + ((y - my) ** 2).sum() + dy * dy * na * nb / n
        self.c_xy = self.c_xy + ((x - mx) * (y - my)).sum() + dx * dy * na * nb / n
        self.n = n

    def merge(self, other: Moments) -> None:
        """Fold in the moments of another part of the data (the same parallel formula)."""
        nb, na = other.n, self.n
        if nb == 0:
            return
        n = na + nb
        dx, dy = other.mean_x - self.mean_x, other.mean_y - self.mean_y
        self.mean_x = self.mean_x + dx * nb / n
        self.mean_y = self.mean_y + dy * nb / n
        self.m2_x = self.m2_x + other.m2_x + dx * dx * na * nb / n
        self.m2_y = self.m2_y + other.m2_y + dy * dy * na * nb / n
        self.c_xy = self.c_xy + other.c_xy + dx * dy * na * nb / n
        self.n = n

    def correlation(self) -> float:
        """Pearson correlation of x and y (NaN when either is constant or nothing was seen)."""
        if self.n == 0:
            return float("nan")
        c_xy, m2_x, m2_y = float(self.c_xy), float(self.m2_x), float(self.m2_y)
        return c_xy / (m2_x * m2_y) ** 0.5 if m2_x > 0 and m2_y > 0 else float("nan")


class R2Score(Metric):
    """Coefficient of determination, 1 - SS_res / SS_tot (as sklearn's r2_score)."""

    state_names = ("moments", "sse")

    name = "r2_score"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the running sums."""
        self.moments = Moments()
        self.sse: Tensor | float = 0.0

    def update(self, preds: Tensor, targs: Tensor) -> None:
        """Add the batch's squared residuals and target moments."""
        p, t = flat_pair(preds, targs, self.name)
        p, t = wide(p), wide(t)
        self.sse = self.sse + ((t - p) ** 2).sum()
        self.moments.update(t, t)

    def compute(self) -> float:
        """1 - SS_res / SS_tot; with constant targets 1.0 if perfect else 0.0 (as sklearn)."""
        if self.moments.n == 0:
            return float("nan")
        sse, sst = float(self.sse), float(self.moments.m2_y)
        if sst == 0:
            return 1.0 if sse == 0 else 0.0
        return 1 - sse / sst


class PearsonCorrCoef(Metric):
    """Pearson correlation of predictions and targets (NaN when either is constant)."""

    state_names = ("moments",)

    name = "pearsonr"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the running moments."""
        self.moments = Moments()

    def update(self, preds: Tensor, targs: Tensor) -> None:
        """Merge the batch's moments."""
        p, t = flat_pair(preds, targs, self.name)
        self.moments.update(wide(p), wide(t))

    def compute(self) -> float:
        """Co-deviation over the product of deviations."""
        return self.moments.correlation()


class SpearmanCorrCoef(Metric):
    """Spearman rank correlation; ties get average ranks (as scipy.stats.spearmanr)."""

    state_names = ("preds", "targs")

    name = "spearmanr"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the stored values."""
        self.preds: list[Tensor] = []
        self.targs: list[Tensor] = []

    def update(self, preds: Tensor, targs: Tensor) -> None:
        """Store the batch (detached, on device); ranks need every value."""
        p, t = flat_pair(preds, targs, self.name)
        self.preds.append(p)
        self.targs.append(t)

    def compute(self) -> float:
        """Pearson correlation of the ranks."""
        if not self.preds:
            return float("nan")
        moments = Moments()
        moments.update(rankdata(torch.cat(self.preds).cpu()), rankdata(torch.cat(self.targs).cpu()))
        return moments.correlation()
