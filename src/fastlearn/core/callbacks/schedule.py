"""Callbacks that move hyper-parameters during training: `ParamScheduler` and the lr finder."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from ..annealing import sched_exp
from ..callback import Callback, CancelFitException, CancelValidException

if TYPE_CHECKING:
    from ..learner import Learner

__all__ = [
    "ParamScheduler",
    "LRFinderCallback",
    "SuggestedLRs",
    "suggest",
    "valley",
    "slide",
    "steep",
    "minimum",
]


class ParamScheduler(Callback):
    """Sets each hyper-parameter (`lr`, `mom`, `wd`...) from its schedules before every
    training batch; `scheds` maps a name to one schedule per parameter group."""

    order = 60
    run_valid = False

    def __init__(self, scheds: dict[str, Sequence[Callable[[float], float]]]) -> None:
        self.scheds = {
            k: list(v) if isinstance(v, (list, tuple)) else [v] for k, v in scheds.items()
        }

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


class SuggestedLRs(tuple):
    """The lr finder's suggestions: a tuple of the requested rules' values, named after them
    as fastai's namedtuple is (`SuggestedLRs(valley=0.00145)`; `lr_min, lr_steep = ...`).

    Every built-in rule (`valley`, `slide`, `steep`, `minimum`) stays readable as an attribute
    even when it was not requested: `learn.lr_find().steep`.
    """

    def __new__(
        cls, chosen: Mapping[str, float], others: Mapping[str, float] | None = None
    ) -> SuggestedLRs:
        self = super().__new__(cls, [float(v) for v in chosen.values()])
        self._fields = tuple(chosen)
        self._values = {
            **dict(zip(self._fields, self)),
            **{k: float(v) for k, v in (others or {}).items() if k not in chosen},
        }
        return self

    def __getattr__(self, name: str) -> float:
        values = self.__dict__.get("_values", {})
        if name in values:
            return values[name]
        raise AttributeError(f"SuggestedLRs has no suggestion {name!r}. Known: {list(values)}.")

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *self._values]

    def __repr__(self) -> str:
        return "SuggestedLRs(" + ", ".join(f"{k}={v:.3g}" for k, v in self._asdict().items()) + ")"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._asdict(), self._values))

    def _asdict(self) -> dict[str, float]:
        """The requested suggestions, by name (as a namedtuple's `_asdict`)."""
        return dict(zip(self._fields, self))

    def all(self) -> dict[str, float]:
        """Every suggestion computed, requested or not."""
        return dict(self._values)


def _arrays(lrs: Sequence[float], losses: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    lrs_a, losses_a = np.asarray(lrs, dtype=float), np.asarray(losses, dtype=float)
    if lrs_a.shape != losses_a.shape or lrs_a.ndim != 1 or len(lrs_a) < 2:
        raise ValueError(
            f"Expected two equal-length sequences of at least 2 values. Received: "
            f"{len(lrs_a)} learning rates and {len(losses_a)} losses."
        )
    return lrs_a, losses_a


def valley(lrs: Sequence[float], losses: Sequence[float]) -> float:
    """The middle of the longest valley: the longest run over which the loss keeps going down
    (a longest decreasing subsequence), as fastai's `valley`."""
    lrs_a, losses_a = _arrays(lrs, losses)
    n = len(losses_a)
    run = [1] * n  # run[i]: length of the longest decreasing subsequence ending at i
    end = 0
    for i in range(1, n):
        for j in range(i):
            if losses_a[i] < losses_a[j] and run[j] + 1 > run[i]:
                run[i] = run[j] + 1
        if run[i] > run[end]:  # the first point that ends a longest run
            end = i
    start = end - run[end]
    third = run[end] / 3
    return float(lrs_a[max(start + int(third) + int(third / 2), 0)])


def slide(
    lrs: Sequence[float],
    losses: Sequence[float],
    lr_diff: int = 15,
    thresh: float = 0.005,
    adjust_value: float = 1.0,
) -> float:
    """An interval slide rule (fastai's `slide`): move a window `lr_diff` points wide left
    from the end of the curve until the loss's slope is about the same (within `thresh`) at
    both its ends; suggest the window's left end, times `adjust_value`."""
    lrs_a, losses_a = _arrays(lrs, losses)
    grads = np.gradient(losses_a)
    right = len(losses_a) - 1
    left = right - min(lr_diff, right)
    suggestion = lrs_a[left]
    while left >= 0 and abs(grads[right] - grads[left]) > thresh:
        suggestion = lrs_a[left]
        right, left = right - 1, left - 1
    return float(suggestion) * adjust_value


def steep(lrs: Sequence[float], losses: Sequence[float]) -> float:
    """Where the loss falls fastest against log(lr): the start of the steepest step."""
    lrs_a, losses_a = _arrays(lrs, losses)
    slopes = np.diff(losses_a) / np.diff(np.log(lrs_a))
    return float(lrs_a[int(np.argmin(slopes))])


def minimum(lrs: Sequence[float], losses: Sequence[float]) -> float:
    """One tenth of the learning rate at the lowest loss."""
    lrs_a, losses_a = _arrays(lrs, losses)
    return float(lrs_a[int(np.argmin(losses_a))]) / 10


SuggestFunc = Callable[[Sequence[float], Sequence[float]], float]
BUILT_IN_RULES: tuple[SuggestFunc, ...] = (valley, slide, steep, minimum)


def suggestion_name(func: SuggestFunc) -> str:
    """The name a rule gives its suggestion: the function's (a partial's underlying one)."""
    inner = func.func if isinstance(func, partial) else func
    return getattr(inner, "__name__", type(inner).__name__)


def suggest(
    lrs: Sequence[float],
    losses: Sequence[float],
    suggest_funcs: SuggestFunc | Sequence[SuggestFunc] = (valley,),
) -> SuggestedLRs:
    """Apply each rule `f(lrs, losses) -> lr` to a recorded curve; the built-in rules are
    computed too, readable as attributes of the result."""
    funcs = list(suggest_funcs) if isinstance(suggest_funcs, (list, tuple)) else [suggest_funcs]
    if not funcs:
        raise ValueError(
            "Expected at least one suggestion function. Received: none. Fix: "
            "suggest_funcs=(valley,) or (minimum, steep)."
        )
    chosen = {suggestion_name(f): float(f(lrs, losses)) for f in funcs}
    others = {
        suggestion_name(f): f(lrs, losses)
        for f in BUILT_IN_RULES
        if suggestion_name(f) not in chosen
    }
    return SuggestedLRs(chosen, others)


class LRFinderCallback(Callback):
    """Raises the learning rate exponentially each batch from `start_lr` to `end_lr`,
    recording the smoothed loss; stops when the loss explodes. Restores the weights after."""

    order = 60

    def __init__(
        self, start_lr: float = 1e-7, end_lr: float = 10, num_it: int = 100, stop_div: bool = True
    ) -> None:
        if not 0 < start_lr < end_lr:
            raise ValueError(f"Expected 0 < start_lr < end_lr. Received: {start_lr}, {end_lr}.")
        self.sched = sched_exp(start_lr, end_lr)
        self.num_it, self.stop_div = num_it, stop_div
        self.warmup = max(5, num_it // 10)  # batches recorded before divergence is judged
        self.lrs: list[float] = []
        self.losses: list[float] = []

    def before_fit(self, learn: Learner) -> None:
        self._saved = (
            copy.deepcopy(learn.model.state_dict()),
            copy.deepcopy(learn.opt.state_dict()),
        )
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

    def trimmed(self, skip_start: int = 0, skip_end: int = 5) -> tuple[list[float], list[float]]:
        """The recorded curve without its first `skip_start` points, its last, exploding
        `skip_end` points and anything from the first non-finite loss on (at least 2 points
        are kept when 2 were recorded)."""
        finite = next(
            (i for i, v in enumerate(self.losses) if not math.isfinite(v)), len(self.losses)
        )
        end = max(min(len(self.losses) - skip_end, finite), min(finite, 2))
        start = min(skip_start, max(end - 2, 0))
        return self.lrs[start:end], self.losses[start:end]

    def suggestions(
        self, suggest_funcs: SuggestFunc | Sequence[SuggestFunc] = (valley,)
    ) -> SuggestedLRs:
        """The rules' suggestions on the recorded curve, as fastai: the first num_it/10 points
        (noisy, the smoothed loss still warming up) and the last 5 are left out."""
        lrs, losses = self.trimmed(skip_start=self.num_it // 10)
        if len(lrs) < 2:
            raise RuntimeError(
                "The lr finder recorded fewer than 2 points. Fix: use more "
                "training data or a larger num_it."
            )
        return suggest(lrs, losses, suggest_funcs)
