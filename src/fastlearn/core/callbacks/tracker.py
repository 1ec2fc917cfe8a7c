"""Callbacks that watch a monitored value: early stopping, save best model, reduce lr on plateau."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..callback import Callback, CancelFitException

if TYPE_CHECKING:
    from ..learner import Learner

__all__ = ["TrackerCallback", "EarlyStoppingCallback", "SaveModelCallback", "ReduceLROnPlateau"]


class TrackerCallback(Callback):
    """Tracks `monitor` (a column of the results table) and notes when it improves."""

    order = 55  # after the Recorder has computed the epoch's values

    def __init__(
        self, monitor: str = "valid_loss", comp: Callable | None = None, min_delta: float = 0.0
    ) -> None:
        if comp is None:
            comp = operator.lt if "loss" in monitor or "error" in monitor else operator.gt
        if comp is operator.lt:
            min_delta = -min_delta
        self.monitor, self.comp, self.min_delta = monitor, comp, min_delta
        self.best: float | None = None

    def before_fit(self, learn: Learner) -> None:
        names = learn.recorder.metric_names
        if self.monitor not in names:
            raise ValueError(
                f"{type(self).__name__} monitors {self.monitor!r}, which is not a "
                f"column of the results. Expected one of: {names[1:-1]}."
            )
        self.best = np.inf if self.comp is operator.lt else -np.inf

    def after_epoch(self, learn: Learner) -> None:
        value = learn.recorder.history[-1][self.monitor]
        self.new_best = bool(self.comp(value - self.min_delta, self.best))
        if self.new_best:
            self.best, self.best_epoch = value, learn.epoch

    def state_dict(self) -> dict[str, Any]:
        """The best value so far."""
        return {"best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the best value."""
        self.best = state["best"]


class EarlyStoppingCallback(TrackerCallback):
    """Stops training when `monitor` has not improved for `patience` epochs.

    The stop takes effect before the next epoch, so the epoch that triggered it is complete
    everywhere: in the printed table, the CSV log and the checkpoints."""

    def __init__(
        self,
        monitor: str = "valid_loss",
        comp: Callable | None = None,
        min_delta: float = 0.0,
        patience: int = 1,
    ) -> None:
        super().__init__(monitor, comp, min_delta)
        self.patience = patience

    def before_fit(self, learn: Learner) -> None:
        super().before_fit(learn)
        self.wait = 0

    def after_epoch(self, learn: Learner) -> None:
        super().after_epoch(learn)
        self.wait = 0 if self.new_best else self.wait + 1

    def before_epoch(self, learn: Learner) -> None:
        if self.wait >= self.patience:  # the last epoch's callbacks have all run
            print(
                f"No improvement of {self.monitor} since epoch "
                f"{learn.epoch - 1 - self.wait}: early stopping."
            )
            raise CancelFitException()

    def state_dict(self) -> dict[str, Any]:
        """Best value and epochs waited."""
        return {"best": self.best, "wait": self.wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict`."""
        self.best, self.wait = state["best"], state["wait"]


class SaveModelCallback(TrackerCallback):
    """Saves the model whenever `monitor` improves (or every epoch); loads the best at the end."""

    def __init__(
        self,
        monitor: str = "valid_loss",
        comp: Callable | None = None,
        min_delta: float = 0.0,
        fname: str = "model",
        every_epoch: bool = False,
        with_opt: bool = False,
        at_end: bool = False,
    ) -> None:
        super().__init__(monitor, comp, min_delta)
        self.fname, self.every_epoch, self.with_opt, self.at_end = (
            fname,
            every_epoch,
            with_opt,
            at_end,
        )

    def after_epoch(self, learn: Learner) -> None:
        super().after_epoch(learn)
        if self.every_epoch:
            learn.save(f"{self.fname}_{learn.epoch}", with_opt=self.with_opt)
        elif self.new_best and not self.at_end:
            print(
                f"Better model found at epoch {learn.epoch} with {self.monitor} "
                f"value: {self.best:.6g}."
            )
            learn.save(self.fname, with_opt=self.with_opt)

    def after_fit(self, learn: Learner) -> None:
        if self.at_end:
            learn.save(self.fname, with_opt=self.with_opt)
        elif not self.every_epoch and learn._model_path(self.fname).exists():
            learn.load(self.fname, with_opt=False)


class ReduceLROnPlateau(TrackerCallback):
    """Divides the learning rate by `factor` when `monitor` stalls for `patience` epochs."""

    def __init__(
        self,
        monitor: str = "valid_loss",
        comp: Callable | None = None,
        min_delta: float = 0.0,
        patience: int = 1,
        factor: float = 10.0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__(monitor, comp, min_delta)
        self.patience, self.factor, self.min_lr = patience, factor, min_lr

    def before_fit(self, learn: Learner) -> None:
        super().before_fit(learn)
        self.wait = 0

    def after_epoch(self, learn: Learner) -> None:
        super().after_epoch(learn)
        self.wait = 0 if self.new_best else self.wait + 1
        if self.wait >= self.patience:
            old = learn.opt.get_hyper("lr")
            learn.opt.set_hyper("lr", [max(lr / self.factor, self.min_lr) for lr in old])
            self.wait = 0
            print(
                f"Epoch {learn.epoch}: reducing the learning rate to "
                f"{learn.opt.get_hyper('lr')[-1]:.3g}."
            )
