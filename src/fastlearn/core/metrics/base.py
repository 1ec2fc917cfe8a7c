"""The Metric protocol, the batch-averaged wrapper and helpers shared by every metric module."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import Tensor

from ..distributed import gather_objects, is_distributed

__all__ = ["Metric", "AvgMetric", "shape_error", "rankdata", "function_name", "merge_values"]


class Metric:
    """Accumulates over a whole validation set; computed once per epoch.

    `update` keeps running sums as tensors on the model's device (no `.item()`, no CPU copy),
    so the only host sync is the single `float(...)` in `compute`.

    >>> m = F1Score(average="macro"); m.reset()
    >>> for preds, targs in batches: m.update(preds, targs)
    >>> m.compute()
    """

    name: str = "metric"
    # The attributes `reset` assigns and `update` accumulates into: what `sync` gathers from
    # every process and `merge` adds up. Settings (`axis`, `average`...) are not listed.
    state_names: tuple[str, ...] = ()

    def reset(self) -> None:
        """Forget everything accumulated so far."""
        raise NotImplementedError

    def update(self, preds: Tensor, targs: Tensor) -> None:
        """Accumulate one batch of raw model outputs and targets."""
        raise NotImplementedError

    def compute(self) -> float:
        """The metric over everything seen since the last `reset`."""
        raise NotImplementedError

    # ---- several processes (distributed validation): each sees a shard, `sync` merges them
    def accumulated(self) -> dict[str, Any]:
        """The accumulated state: the attributes named in `state_names`."""
        if not self.state_names:
            raise TypeError(
                f"Metric {self.name!r} ({type(self).__name__}) declares no state, "
                "so its processes' shares can't be merged. Fix: list the attributes "
                "reset() assigns as a class attribute: state_names = ('total', "
                "'count')."
            )
        return {key: vars(self)[key] for key in self.state_names}

    def merge(self, other: Metric) -> None:
        """Add what `other` (the same metric, fed other batches) accumulated, so `compute`
        covers both. The default adds tensors and numbers and concatenates lists (see
        `merge_values`); a metric whose state does not add up (means, sizes) overrides this."""
        for key, value in other.accumulated().items():
            setattr(self, key, merge_values(vars(self)[key], value, f"{self.name}.{key}"))

    def sync(self) -> None:
        """Merge every process's state, in rank order, so that `compute` gives on every
        process the value of one process over the whole validation set (no-op in one process).
        One collective per call: the loop calls it once per epoch, before `compute`."""
        if not is_distributed():
            return
        states = gather_objects(_to_cpu(self.accumulated()))
        merged = self._with_state(states[0])
        for state in states[1:]:
            merged.merge(self._with_state(state))
        vars(self).update(vars(merged))

    def _with_state(self, state: dict[str, Any]) -> Metric:
        other = copy.copy(self)
        other.reset()
        vars(other).update(state)
        return other

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def merge_values(a: Any, b: Any, what: str = "metric state") -> Any:
    """`a` and `b` combined as two parts of one accumulation: tensors and numbers added,
    lists and tuples concatenated, an object with a `merge` method merged, None the other."""
    if a is None or b is None:
        return b if a is None else a
    if hasattr(a, "merge") and not isinstance(a, (Tensor, int, float, list, tuple)):
        a.merge(b)
        return a
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        if isinstance(a, Tensor) and isinstance(b, Tensor):
            return a + b.to(a.device)
        return a + b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return a + b
    if isinstance(a, (list, tuple)) and type(a) is type(b):
        return a + b
    if a == b:
        return a
    raise TypeError(
        f"Can't merge {what} across processes: expected tensors, numbers or lists. "
        f"Received: {type(a).__name__} and {type(b).__name__}. Fix: give the metric "
        "a merge(other) method (see Metric.merge)."
    )


def _to_cpu(obj: Any) -> Any:
    """`obj` with every tensor (also inside lists, dicts and plain objects) on the CPU."""
    if isinstance(obj, Tensor):
        return obj.detach().cpu()
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if hasattr(obj, "__dict__") and not callable(obj):
        obj = copy.copy(obj)
        vars(obj).update({k: _to_cpu(v) for k, v in vars(obj).items()})
    return obj


def function_name(func: Callable) -> str:
    """The name a metric function shows in the results table (unwrapping `functools.partial`)."""
    while isinstance(func, partial):
        func = func.func
    return getattr(func, "__name__", type(func).__name__)


def wide(t: Tensor) -> Tensor:
    """`t` as float64 for accumulation (float32 on Apple MPS, which has no float64)."""
    return t.float() if t.device.type == "mps" else t.double()


class AvgMetric(Metric):
    """Mean of `func(preds, targs)` over batches, weighted by batch size (`targs.shape[0]`).

    Exact for any function that is itself a mean over equally sized rows (accuracy, MAE, MSE);
    not for one such as a square root of a mean (use a dedicated Metric, e.g. `RMSE`).
    """

    state_names = ("total", "count")

    def __init__(self, func: Callable[[Tensor, Tensor], Tensor | float], name: str | None = None):
        self.func = func
        self.name = name or function_name(func)
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated so far."""
        self.total: Tensor | float = 0.0
        self.count = 0

    def update(self, preds: Tensor, targs: Tensor) -> None:
        """Add `func(preds, targs)` times the batch size to the running total."""
        bs = targs.shape[0] if targs.ndim > 0 else 1
        value = self.func(preds, targs)
        if isinstance(value, Tensor):
            value = wide(value.detach())
        self.total = self.total + value * bs
        self.count += bs

    def compute(self) -> float:
        """The batch-size-weighted mean (NaN before any update)."""
        return float(self.total / self.count) if self.count else float("nan")


def shape_error(metric: str, expected: str, preds: Tensor, targs: Tensor, fix: str) -> ValueError:
    """A ValueError in the house format: what was expected, what was received, the fix."""
    return ValueError(
        f"{metric} expected {expected}. Received: preds {tuple(preds.shape)}, "
        f"targs {tuple(targs.shape)}. Fix: {fix}"
    )


def rankdata(x: Tensor) -> Tensor:
    """Ranks 1..n of a 1-D tensor as float64, ties given their average rank (like scipy)."""
    sorted_x, order = torch.sort(x)
    starts = torch.ones_like(sorted_x, dtype=torch.bool)
    starts[1:] = sorted_x[1:] != sorted_x[:-1]
    group = torch.cumsum(starts, 0) - 1  # tie-group id of each sorted position
    sizes = torch.bincount(group)
    last = torch.cumsum(sizes, 0)  # 1-based rank of each group's last member
    average = last.double() - (sizes.double() - 1) / 2
    ranks = torch.empty(x.numel(), dtype=torch.float64, device=x.device)
    ranks[order] = average[group]
    return ranks


def safe_divide(num: Tensor, den: Tensor) -> Tensor:
    """`num / den`, 0 where `den` is 0 (sklearn's `zero_division=0`)."""
    return torch.where(den > 0, num / torch.where(den > 0, den, torch.ones_like(den)), 0.0)
