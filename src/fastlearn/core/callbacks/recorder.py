"""Recorder: smoothed training loss, validation loss and metrics, the per-epoch table, plots.

It keeps plain numbers, never tensors with graphs, so memory does not grow with epochs.
Per-batch losses stay on the device until needed (no sync in the hot path).
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..callback import Callback
from ..distributed import all_reduce_sum, is_distributed, world_size
from ..io import save_figure

if TYPE_CHECKING:
    from ..learner import Learner
    from ..metrics import Metric

__all__ = ["Recorder", "ValidationTotals", "ValidateCallback"]


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
                raise _renamed(e, f"Metric {metric.name!r} failed on predictions of shape "
                                  f"{tuple(learn.pred.shape)} and targets of shape "
                                  f"{tuple(learn.yb[0].shape)}: {type(e).__name__}: {e}. Fix: "
                                  "check the metric suits this task (classification metrics "
                                  "need class-index targets).") from e

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
                raise _renamed(e, f"Metric {metric.name!r} failed to compute: "
                                  f"{type(e).__name__}: {e}") from e
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


class Recorder(Callback):
    """Records losses, learning rates and metrics; builds the results table."""

    order = 50
    beta = 0.98  # smoothing of the training loss (EWMA with bias correction)

    def __init__(self) -> None:
        self.history: list[dict[str, Any]] = []  # every epoch of every fit, as rows
        self.losses: list[float] = []  # smoothed training loss per batch (this fit)
        self.lrs: list[float] = []
        self.moms: list[float] = []
        self.values: list[list[float]] = []  # per epoch of this fit: train, valid, metrics
        self._avg, self._count = 0.0, 0
        self._pending: list[torch.Tensor] = []
        self._valid = ValidationTotals([])

    # ---- smoothed loss
    def _flush(self) -> None:
        if not self._pending:
            return
        values = torch.stack(self._pending).float().tolist()
        self._pending.clear()
        for v in values:
            if not math.isfinite(v):
                self._nonfinite = True
            self._count += 1
            self._avg = self.beta * self._avg + (1 - self.beta) * v
            self.losses.append(self._avg / (1 - self.beta**self._count))

    @property
    def smooth_loss(self) -> float:
        """The exponentially weighted moving average of the training loss, bias corrected."""
        self._flush()
        return self.losses[-1] if self.losses else math.nan

    # ---- events
    def before_fit(self, learn: Learner) -> None:
        self.losses, self.lrs, self.moms, self.values = [], [], [], []
        self._avg, self._count, self._pending = 0.0, 0, []
        self.metric_names = (["epoch", "train_loss"]
                             + (["valid_loss"] if learn.dls.valid is not None else [])
                             + [m.name for m in learn.metrics] + ["time"])

    def before_epoch(self, learn: Learner) -> None:
        self._start = time.perf_counter()
        self._nonfinite = False
        self._valid = ValidationTotals(learn.metrics)

    def after_batch(self, learn: Learner) -> None:
        if not learn.in_fit:
            return
        if learn.training:
            if learn.loss is None:
                return
            self._pending.append(learn.loss)
            group = learn.opt.param_groups[-1]
            self.lrs.append(group["lr"])
            self.moms.append(group["betas"][0] if "betas" in group else group.get("momentum", 0))
            return
        self._valid.update(learn)

    def before_validate(self, learn: Learner) -> None:
        if learn.in_fit:
            self._valid.reset(learn.dls.device)

    def after_epoch(self, learn: Learner) -> None:
        self._flush()
        train_loss = self.smooth_loss
        if is_distributed():  # one row for all processes: mean training loss, whole valid set
            train_loss = all_reduce_sum([train_loss / world_size()])[0]
        row: list[float] = [train_loss]
        if learn.dls.valid is not None:
            row += self._valid.values()
            self._nonfinite |= bool(self._valid.n) and not math.isfinite(row[1])
        self.values.append(row)
        elapsed = time.perf_counter() - self._start
        self.log = [learn.epoch] + row + [elapsed]
        self.history.append(dict(zip(self.metric_names, self.log)))
        if self._nonfinite:
            warnings.warn(f"Epoch {learn.epoch}: the loss is {row[0]} (train) / "
                          f"{row[-1] if len(row) > 1 else '-'} (valid). The learning rate may be "
                          "too high (see lr_find), or the inputs contain NaN. "
                          "TerminateOnNaNCallback stops at the first bad batch.", stacklevel=2)

    def state_dict(self) -> dict[str, Any]:
        """History and smoothing state, for exact resume."""
        self._flush()
        return {"history": self.history, "losses": self.losses, "lrs": self.lrs,
                "moms": self.moms, "values": self.values, "avg": self._avg,
                "count": self._count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict`."""
        self.history, self.losses, self.lrs = state["history"], state["losses"], state["lrs"]
        self.moms, self.values = state["moms"], state["values"]
        self._avg, self._count = state["avg"], state["count"]

    # ---- plots (matplotlib imported only here)
    def plot_loss(self, skip_start: int = 5, with_valid: bool = True,
                  path: str | Path | None = None) -> Any:
        """Smoothed training loss per batch and validation loss per epoch."""
        import matplotlib.pyplot as plt

        self._flush()
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(range(skip_start, len(self.losses)), self.losses[skip_start:], label="train")
        if with_valid and self.values and len(self.values[0]) > 1:
            n_iter = len(self.losses) // max(len(self.values), 1)
            xs = [(i + 1) * n_iter for i in range(len(self.values))]
            ax.plot(xs, [v[1] for v in self.values], "o-", label="valid")
        ax.set_xlabel("batches")
        ax.set_ylabel("loss")
        ax.legend()
        return _finish(fig, path)

    def plot_sched(self, path: str | Path | None = None) -> Any:
        """Learning rate and momentum per batch."""
        import matplotlib.pyplot as plt

        fig, axs = plt.subplots(1, 2, figsize=(10, 4))
        axs[0].plot(self.lrs)
        axs[0].set_title("learning rate (last group)")
        axs[1].plot(self.moms)
        axs[1].set_title("momentum")
        for ax in axs:
            ax.set_xlabel("batches")
        return _finish(fig, path)

    def plot_lr_find(self, finder: Any, suggestions: Any = None,
                     path: str | Path | None = None) -> Any:
        """Loss against learning rate (log scale) with the suggestions marked."""
        import matplotlib.pyplot as plt

        lrs, losses = finder.trimmed()
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(lrs, losses)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss (smoothed)")
        if suggestions is not None:
            for (name, lr), color in zip(suggestions._asdict().items(), ["C1", "C2", "C3"]):
                y = losses[min(range(len(lrs)), key=lambda i: abs(math.log(lrs[i] / lr)))]
                ax.plot([lr], [y], "o", color=color, label=f"{name}: {lr:.2e}")
            ax.legend()
        return _finish(fig, path)


def _renamed(error: Exception, message: str) -> Exception:
    """The same kind of exception with a clearer message (RuntimeError if it can't be built)."""
    try:
        return type(error)(message)
    except Exception:  # noqa: BLE001 (exception classes with unusual constructors)
        return RuntimeError(message)


def _finish(fig: Any, path: str | Path | None) -> Any:
    if path is not None:
        fig.tight_layout()
    return save_figure(fig, path)
