"""Recorder: the smoothed training loss, learning rates, and one row per epoch (losses, metrics,
time); the plots.

It keeps plain numbers, never tensors with graphs, so memory does not grow with epochs. The
pieces: `SmoothedLoss` (smoothing.py), `ValidationTotals` (validation.py, the validation loss
and metrics of an epoch), the plots (plots.py). `history` is the one store of epochs; `values`
and `log` are views of it.
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..callback import Callback
from ..distributed import all_reduce_sum, is_distributed, world_size
from . import plots
from .smoothing import SmoothedLoss
from .validation import ValidateCallback, ValidationTotals

if TYPE_CHECKING:
    from ..learner import Learner

__all__ = ["Recorder", "ValidationTotals", "ValidateCallback"]


class Recorder(Callback):
    """Records losses, learning rates and metrics; builds the results table.

    `history`: every epoch of every fit, as dicts keyed by `metric_names` (epoch, train_loss,
    valid_loss, each metric, time). Views of it: `values`, this fit's rows as lists
    [train_loss, valid_loss, *metrics]; `log`, the last row as a list in `metric_names` order.
    Per batch (this fit): `losses` (smoothed), `lrs` and `moms` of the last parameter group.
    """

    order = 50
    beta = 0.98  # smoothing of the training loss (EWMA with bias correction)

    def __init__(self) -> None:
        self.history: list[dict[str, Any]] = []
        self.metric_names: list[str] = []  # the columns of this fit's rows
        self.lrs: list[float] = []
        self.moms: list[float] = []
        self.smoother = SmoothedLoss(self.beta)
        self._fit_start = 0  # index in `history` of this fit's first epoch
        self._valid = ValidationTotals([])
        self._start = 0.0

    # ---- views
    @property
    def losses(self) -> list[float]:
        """Smoothed training loss per batch (this fit)."""
        return self.smoother.losses

    @property
    def smooth_loss(self) -> float:
        """The exponentially weighted moving average of the training loss, bias corrected."""
        return self.smoother.value

    @property
    def values(self) -> list[list[float]]:
        """Per epoch of this fit: [train_loss, valid_loss (if any), *metrics]."""
        return [[row[k] for k in list(row)[1:-1]] for row in self.history[self._fit_start :]]

    @property
    def log(self) -> list[Any]:
        """The last epoch's row: [epoch, train_loss, valid_loss, *metrics, time]."""
        return list(self.history[-1].values()) if self.history else []

    # ---- events
    def before_fit(self, learn: Learner) -> None:
        self.lrs, self.moms = [], []
        self.smoother = SmoothedLoss(self.beta)
        self._fit_start = len(self.history)
        self.metric_names = _unique(
            ["epoch", "train_loss"]
            + (["valid_loss"] if learn.dls.valid is not None else [])
            + [m.name for m in learn.metrics]
            + ["time"]
        )

    def before_epoch(self, learn: Learner) -> None:
        self._start = time.perf_counter()
        self.smoother.nonfinite = False
        self._valid = ValidationTotals(learn.metrics)

    def after_batch(self, learn: Learner) -> None:
        if not learn.in_fit:
            return
        if not learn.training:
            self._valid.update(learn)
            return
        if learn.loss is None:
            return
        self.smoother.add(learn.loss)
        group = learn.opt.param_groups[-1]
        self.lrs.append(group["lr"])
        self.moms.append(group["betas"][0] if "betas" in group else group.get("momentum", 0))

    def before_validate(self, learn: Learner) -> None:
        if learn.in_fit:
            self._valid.reset(learn.dls.device)

    def after_epoch(self, learn: Learner) -> None:
        train_loss = self.smooth_loss
        if is_distributed():  # one row for all processes: mean training loss, whole valid set
            train_loss = all_reduce_sum([train_loss / world_size()])[0]
        row: list[float] = [train_loss]
        nonfinite = self.smoother.nonfinite
        if learn.dls.valid is not None:
            row += self._valid.values()
            nonfinite |= bool(self._valid.n) and not math.isfinite(row[1])
        elapsed = time.perf_counter() - self._start
        self.history.append(dict(zip(self.metric_names, [learn.epoch, *row, elapsed])))
        if nonfinite:
            warnings.warn(
                f"Epoch {learn.epoch}: the loss is {row[0]} (train) / "
                f"{row[-1] if len(row) > 1 else '-'} (valid). The learning rate may be "
                "too high (see lr_find), or the inputs contain NaN. "
                "TerminateOnNaNCallback stops at the first bad batch.",
                stacklevel=2,
            )

    def state_dict(self) -> dict[str, Any]:
        """History and smoothing state, for exact resume."""
        smoothed = self.smoother.state_dict()
        return {
            "history": self.history,
            "losses": smoothed["losses"],
            "lrs": self.lrs,
            "moms": self.moms,
            "values": self.values,
            "avg": smoothed["avg"],
            "count": smoothed["count"],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict`."""
        self.history, self.lrs, self.moms = state["history"], state["lrs"], state["moms"]
        self._fit_start = len(self.history) - len(state["values"])
        self.smoother.load_state_dict(state)

    # ---- plots
    def plot_loss(
        self, skip_start: int = 5, with_valid: bool = True, path: str | Path | None = None
    ) -> Any:
        """Smoothed training loss per batch and validation loss per epoch."""
        return plots.plot_loss(self.losses, self.values, skip_start, with_valid, path)

    def plot_sched(self, path: str | Path | None = None) -> Any:
        """Learning rate and momentum per batch."""
        return plots.plot_sched(self.lrs, self.moms, path)

    def plot_lr_find(
        self, finder: Any, suggestions: Any = None, path: str | Path | None = None
    ) -> Any:
        """Loss against learning rate (log scale) with the suggestions marked."""
        return plots.plot_lr_find(finder, suggestions, path)


def _unique(names: list[str]) -> list[str]:
    """`names` with repeats numbered (accuracy, accuracy_1), so each is a column of `history`."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        out.append(f"{name}_{seen[name]}" if name in seen else name)
        seen[name] = seen.get(name, 0) + 1
    return out
