"""Callbacks that move hyper-parameters during training: `ParamScheduler` and the lr finder."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..callback import Callback, CancelFitException, CancelValidException
from ..schedule import sched_exp

if TYPE_CHECKING:
    from ..learner import Learner

__all__ = ["ParamScheduler", "LRFinderCallback", "SuggestedLRs", "valley", "steep", "minimum"]


class ParamScheduler(Callback):
    """Sets each hyper-parameter (`lr`, `mom`, `wd`...) from its schedules before every
    training batch; `scheds` maps a name to one schedule per parameter group."""

    order = 60
    run_valid = False

    def __init__(self, scheds: dict[str, Sequence[Callable[[float], float]]]) -> None:
        self.scheds = {k: list(v) if isinstance(v, (list, tuple)) else [v]
                       for k, v in scheds.items()}

    def before_batch(self, learn: Learner) -> None:
        pos = learn.train_iter / max(learn.total_iters, 1)
        n = len(learn.opt.param_groups)
        for name, scheds in self.scheds.items():
            if len(scheds) == 1 and n > 1:
                scheds = scheds * n
            learn.opt.set_hyper(name, [s(pos) for s in scheds])

    def state_dict(self) -> dict[str, Any]:
        """Nothing to save: the position comes from the learner's iteration count."""
        return {}


class SuggestedLRs(NamedTuple):
    """Learning rates suggested by the lr finder."""

    valley: float
    steep: float
    minimum: float


def valley(lrs: Sequence[float], losses: Sequence[float]) -> float:
    """The middle of the longest stretch over which the loss keeps going down."""
    n = len(losses)
    # run[i]: length of the longest decreasing subsequence ending at i.
    run = [1] * n
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and run[j] + 1 > run[i]:
                run[i] = run[j] + 1
    end = max(range(n), key=lambda i: (run[i], -i))
    start = max(end - run[end] + 1, 0)
    return float(lrs[start + (end - start) // 2])


def steep(lrs: Sequence[float], losses: Sequence[float]) -> float:
    """Where the loss falls fastest against log(lr)."""
    slopes = np.gradient(np.asarray(losses, dtype=float), np.log(np.asarray(lrs, dtype=float)))
    return float(lrs[int(np.argmin(slopes))])


def minimum(lrs: Sequence[float], losses: Sequence[float]) -> float:
    """One tenth of the learning rate at the lowest loss."""
    return float(lrs[int(np.argmin(losses))]) / 10


class LRFinderCallback(Callback):
    """Raises the learning rate exponentially each batch from `start_lr` to `end_lr`,
    recording the smoothed loss; stops when the loss explodes. Restores the weights after."""

    order = 60

    def __init__(self, start_lr: float = 1e-7, end_lr: float = 10, num_it: int = 100,
                 stop_div: bool = True) -> None:
        if not 0 < start_lr < end_lr:
            raise ValueError(f"Expected 0 < start_lr < end_lr. Received: {start_lr}, {end_lr}.")
        self.sched = sched_exp(start_lr, end_lr)
        self.num_it, self.stop_div = num_it, stop_div
        self.warmup = max(5, num_it // 10)  # batches recorded before divergence is judged
        self.lrs: list[float] = []
        self.losses: list[float] = []

    def before_fit(self, learn: Learner) -> None:
        self._saved = (copy.deepcopy(learn.model.state_dict()),
                       copy.deepcopy(learn.opt.state_dict()))
        self.best = math.inf

    def before_batch(self, learn: Learner) -> None:
        if learn.training:
            learn.opt.set_hyper("lr", self.sched(learn.train_iter / self.num_it))

    def after_batch(self, learn: Learner) -> None:
        if not learn.training:
            return
        loss = learn.recorder.smooth_loss
        self.lrs.append(learn.opt.param_groups[-1]["lr"])
        self.losses.append(loss)
        if self.stop_div and not math.isfinite(loss):
            raise CancelFitException()
        # The first batches set no reference: on a trained model one lucky early batch would
        # make the ordinary loss look 4x worse and stop the search at its starting rate.
        if len(self.losses) > self.warmup:
            self.best = min(self.best, loss)
            if self.stop_div and loss > 4 * self.best:
                raise CancelFitException()
        if learn.train_iter + 1 >= self.num_it:
            raise CancelFitException()

    def before_validate(self, learn: Learner) -> None:
        raise CancelValidException()

    def after_fit(self, learn: Learner) -> None:
        model_state, opt_state = self._saved
        learn.model.load_state_dict(model_state)
        learn.opt.load_state_dict(opt_state)
        learn.opt.zero_grad()

    def trimmed(self, skip_end: int = 5) -> tuple[list[float], list[float]]:
        """The recorded curve without its last, exploding points."""
        n = max(len(self.lrs) - skip_end, min(len(self.lrs), 2))
        return self.lrs[:n], self.losses[:n]

    def suggestions(self) -> SuggestedLRs:
        """(valley, steep, minimum/10) on the recorded curve."""
        lrs, losses = self.trimmed()
        if len(lrs) < 2:
            raise RuntimeError("The lr finder recorded fewer than 2 points. Fix: use more "
                               "training data or a larger num_it.")
        return SuggestedLRs(valley(lrs, losses), steep(lrs, losses), minimum(lrs, losses))
