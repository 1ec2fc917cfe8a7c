"""Optimisers: parameter groups, discriminative learning rates, decoupled weight decay.

Any `torch.optim` class (or a function returning one) can be the learner's `opt_func`.
fastlearn wraps it in `OptimWrapper`, which applies weight decay *decoupled* from the
gradient (``p <- p * (1 - lr * wd)`` before the step, as in AdamW) and, by default, not to
normalisation-layer parameters nor biases. The decay is the optimiser's own default (its
`weight_decay`: 0 for SGD and RMSprop, 0.01 for Adam, as fastai) unless a `wd` is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "OptimWrapper",
    "lr_range",
    "trainable_params",
    "norm_and_bias_params",
    "NORM_TYPES",
]

NORM_TYPES = (
    nn.modules.batchnorm._BatchNorm,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.LocalResponseNorm,
)

ParamGroups = list[list[nn.Parameter]]


def SGD(params: Any, lr: float = 0.1, mom: float = 0.0, wd: float = 0.0) -> torch.optim.Optimizer:
    """Stochastic gradient descent, with momentum `mom` (0 = plain SGD); no weight decay by
    default, as fastai's `SGD`."""
    return torch.optim.SGD(params, lr=lr, momentum=mom, weight_decay=wd)


def Adam(
    params: Any,
    lr: float = 1e-3,
    mom: float = 0.9,
    sqr_mom: float = 0.99,
    eps: float = 1e-5,
    wd: float = 0.01,
) -> torch.optim.Optimizer:
    """Adam with the course's defaults and decoupled weight decay `wd` (0.01, as fastai): AdamW."""
    return torch.optim.AdamW(params, lr=lr, betas=(mom, sqr_mom), eps=eps, weight_decay=wd)


AdamW = Adam  # weight decay is always decoupled here, so Adam and AdamW coincide


def RMSprop(
    params: Any,
    lr: float = 1e-2,
    sqr_mom: float = 0.99,
    mom: float = 0.0,
    eps: float = 1e-8,
    wd: float = 0.0,
) -> torch.optim.Optimizer:
    """RMSprop (running average of squared gradients, optional momentum); no weight decay by
    default."""
    return torch.optim.RMSprop(params, lr=lr, alpha=sqr_mom, momentum=mom, eps=eps, weight_decay=wd)


def trainable_params(model: nn.Module) -> ParamGroups:
    """The default splitter: one group holding every parameter."""
    return [list(model.parameters())]


def norm_and_bias_params(model: nn.Module) -> set[int]:
    """ids of normalisation-layer parameters and of every bias (no weight decay for them)."""
    ids: set[int] = set()
    for module in model.modules():
        direct = list(module.named_parameters(recurse=False))
        if isinstance(module, NORM_TYPES):
            ids.update(id(p) for _, p in direct)
        else:
            ids.update(id(p) for name, p in direct if name == "bias")  # as fastai: a layer's bias
    return ids


def lr_range(lr: float | slice | Sequence[float], n_groups: int) -> list[float]:
    """One learning rate per group: a float for all, `slice(lo, hi)` geometric from lo to hi,
    `slice(hi)` hi for the last group and hi/10 for the earlier ones."""
    if isinstance(lr, slice):
        hi = lr.stop
        if hi is None:
            raise ValueError(f"Expected slice(hi) or slice(lo, hi). Received: {lr}.")
        if lr.start is None:
            return [hi / 10] * (n_groups - 1) + [hi]
        if n_groups == 1:
            return [hi]
        ratio = (hi / lr.start) ** (1 / (n_groups - 1))
        return [lr.start * ratio**i for i in range(n_groups)]
    if isinstance(lr, Sequence) and not isinstance(lr, str):
        if len(lr) != n_groups:
            raise ValueError(
                f"Expected {n_groups} learning rates (one per parameter group). "
                f"Received: {len(lr)}."
            )
        return [float(v) for v in lr]
    return [float(lr)] * n_groups


class OptimWrapper:
    """A torch optimiser plus decoupled weight decay and named, per-group hyper-parameters."""

    def __init__(
        self,
        opt: torch.optim.Optimizer,
        *,
        wd: float | None = None,
        no_decay: set[int] | None = None,
    ) -> None:
        """`wd=None` keeps the decay the optimiser was built with (its `weight_decay`, per
        group); a number replaces it. Either way it is applied decoupled, by `step`."""
        self.opt = opt
        no_decay = no_decay or set()
        # Decay lists per group, computed once: the step's hot path only filters by grad.
        self._decay = [[p for p in g["params"] if id(p) not in no_decay] for g in opt.param_groups]
        own = [float(g.get("weight_decay", 0.0)) for g in opt.param_groups]
        self.wd = own if wd is None else [float(wd)] * len(opt.param_groups)
        for group in opt.param_groups:
            if "weight_decay" in group:
                group["weight_decay"] = 0.0  # the wrapper applies it, decoupled

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """The torch optimiser's parameter groups."""
        return self.opt.param_groups

    @property
    def has_momentum(self) -> bool:
        """Whether the optimiser has a momentum the schedules can move (Adam's beta1 counts)."""
        group = self.opt.param_groups[0]
        return "betas" in group or group.get("momentum", 0) > 0

    def set_hyper(self, name: str, values: float | Sequence[float]) -> None:
        """Set `lr`, `mom`, `sqr_mom` or `wd` for every group (a scalar, or one value a group)."""
        n = len(self.opt.param_groups)
        if isinstance(values, (int, float)):
            values = [float(values)] * n
        for i, (group, value) in enumerate(zip(self.opt.param_groups, values)):
            if name == "wd":
                self.wd[i] = value
            elif name == "mom" and "betas" in group:
                group["betas"] = (value, group["betas"][1])
            elif name == "mom" and "momentum" in group:
                group["momentum"] = value
            elif name == "sqr_mom" and "betas" in group:
                group["betas"] = (group["betas"][0], value)
            else:
                group[name] = value

    def get_hyper(self, name: str) -> list[float]:
        """The current value of a hyper-parameter, one per group."""
        if name == "wd":
            return list(self.wd)
        if name == "mom":
            return [
                g["betas"][0] if "betas" in g else g.get("momentum", 0.0)
                for g in self.opt.param_groups
            ]
        return [g[name] for g in self.opt.param_groups]

    @torch.no_grad()
    def step(self) -> None:
        """Decoupled weight decay on parameters that have a gradient, then the torch step."""
        for group, decay, wd in zip(self.opt.param_groups, self._decay, self.wd):
            if wd:
                params = [p for p in decay if p.grad is not None]
                if params:
                    torch._foreach_mul_(params, 1.0 - group["lr"] * wd)
        self.opt.step()

    def zero_grad(self) -> None:
        """Drop gradients (set to None, so frozen parameters are skipped entirely)."""
        self.opt.zero_grad(set_to_none=True)

    def state_dict(self) -> dict[str, Any]:
        """Torch optimiser state plus the weight decays."""
        return {"opt": self.opt.state_dict(), "wd": list(self.wd)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict`."""
        self.opt.load_state_dict(state["opt"])
        self.wd = list(state["wd"])


def make_optimizer(
    opt_func: Callable[..., Any],
    groups: Iterable[Iterable[nn.Parameter]],
    model: nn.Module,
    *,
    lr: float,
    wd: float | None = None,
    wd_bn_bias: bool = False,
) -> OptimWrapper:
    """Build `opt_func` over the splitter's groups and wrap it; `wd=None` keeps the
    optimiser's own weight decay default."""
    groups = [list(g) for g in groups]
    seen: set[int] = set()
    for g in groups:
        for p in g:
            if id(p) in seen:
                raise ValueError(
                    "The splitter put a parameter in two groups. Expected each "
                    "parameter in exactly one group."
                )
            seen.add(id(p))
    opt = opt_func([{"params": g} for g in groups], lr=lr)
    if isinstance(opt, OptimWrapper):
        return opt
    if not isinstance(opt, torch.optim.Optimizer):
        raise TypeError(
            f"Expected opt_func to return a torch.optim.Optimizer. Received: "
            f"{type(opt).__name__} from {opt_func!r}."
        )
    no_decay = set() if wd_bn_bias else norm_and_bias_params(model)
    return OptimWrapper(opt, wd=wd, no_decay=no_decay)
