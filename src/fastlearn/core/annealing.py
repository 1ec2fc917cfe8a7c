"""Annealing: schedules as pure functions of the training position `pos` in [0, 1], and their
combination (`ParamScheduler` in callbacks/schedule.py applies them during a fit)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

__all__ = [
    "Schedule",
    "sched_lin",
    "sched_cos",
    "sched_no",
    "sched_exp",
    "combine_scheds",
    "combined_cos",
    "one_cycle_lr",
    "one_cycle_mom",
    "flat_cos",
]

Schedule = Callable[[float], float]


def sched_lin(start: float, end: float) -> Schedule:
    """Linear from `start` to `end`."""
    return lambda pos: start + pos * (end - start)


def sched_cos(start: float, end: float) -> Schedule:
    """Half a cosine from `start` to `end` (flat at both ends)."""
    return lambda pos: start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2


def sched_no(start: float, end: float = 0.0) -> Schedule:
    """Constant `start`."""
    return lambda pos: start


def sched_exp(start: float, end: float) -> Schedule:
    """Exponential (geometric) from `start` to `end`: the lr finder's sweep."""
    return lambda pos: start * (end / start) ** pos


def combine_scheds(pcts: Sequence[float], scheds: Sequence[Schedule]) -> Schedule:
    """Run `scheds[i]` over the fraction `pcts[i]` of training, each on its own 0..1 scale."""
    if abs(sum(pcts) - 1.0) > 1e-6:
        raise ValueError(f"Expected schedule fractions summing to 1. Received: {list(pcts)}.")
    if any(p < 0 for p in pcts):
        raise ValueError(f"Expected non-negative schedule fractions. Received: {list(pcts)}.")
    bounds = [0.0]
    for p in pcts:
        bounds.append(bounds[-1] + p)

    def sched(pos: float) -> float:
        pos = min(max(pos, 0.0), 1.0)
        for i, sch in enumerate(scheds):
            lo, hi = bounds[i], bounds[i + 1]
            if pos < hi or i == len(scheds) - 1:
                width = hi - lo
                return sch((pos - lo) / width if width > 0 else 1.0)
        raise AssertionError("unreachable")

    return sched


def combined_cos(pct: float, start: float, middle: float, end: float) -> Schedule:
    """Cosine from `start` to `middle` over `pct` of training, then cosine to `end`."""
    return combine_scheds([pct, 1 - pct], [sched_cos(start, middle), sched_cos(middle, end)])


def one_cycle_lr(
    lr_max: float, *, div: float = 25.0, div_final: float = 1e5, pct_start: float = 0.25
) -> Schedule:
    """One-cycle learning rate: lr_max/div -> lr_max (cosine warm-up) -> lr_max/div_final."""
    return combined_cos(pct_start, lr_max / div, lr_max, lr_max / div_final)


def one_cycle_mom(
    moms: Sequence[float] = (0.95, 0.85, 0.95), *, pct_start: float = 0.25
) -> Schedule:
    """One-cycle momentum: moves opposite to the learning rate, 0.95 -> 0.85 -> 0.95."""
    return combined_cos(pct_start, *moms)


def flat_cos(lr: float, *, pct_start: float = 0.75, div_final: float = 1e5) -> Schedule:
    """Flat at `lr` for `pct_start` of training, then cosine annealing to lr/div_final."""
    return combine_scheds([pct_start, 1 - pct_start], [sched_no(lr), sched_cos(lr, lr / div_final)])
