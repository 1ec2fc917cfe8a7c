"""A Learner described as text: `learner_summary` (layers, output shapes, parameters, the
optimiser, the loss, the callbacks) and `training_loop_text` (the events of a fit and the
callbacks that handle each). `Learner.summary` and `Learner.show_training_loop` print them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .callback import EVENTS, INNER_EVENTS, Callback, handlers_for, sort_callbacks
from .distributed import unwrap_model
from .torch_utils import get_rng_states, set_rng_states

if TYPE_CHECKING:
    from .data import DataLoader
    from .learner import Learner

__all__ = ["ModelSummary", "learner_summary", "training_loop_text"]


class ModelSummary(str):
    """A summary's text; shown as itself (not as a quoted string) where it is displayed."""

    def __repr__(self) -> str:
        return str(self)


@dataclass
class _Row:
    """One line of the layer table: a module's call (or a module never called)."""

    name: str
    shape: str
    n_params: int | None  # None: a repeated call, parameters counted at the first
    trainable: str  # True, False, mixed, or "" (no parameters, or a repeated call)


def learner_summary(learn: Learner) -> str:
    """The text of `Learner.summary` (see there)."""
    model = unwrap_model(learn.model)
    xb = _inputs(learn.dls.train)
    rows = _trace(model, xb)
    table = _table(rows)
    params = list(model.parameters())  # a shared (tied) tensor once
    n_total = sum(p.numel() for p in params)
    n_train = sum(p.numel() for p in params if p.requires_grad)
    opt = learn.opt if learn.opt is not None else learn.make_opt()  # built, not installed
    shapes = ", ".join(_shape(x) for x in xb)
    lines = [
        f"{type(model).__name__} (Input shape: {shapes})",
        table,
        "",
        f"Total params: {n_total:,}",
        f"Total trainable params: {n_train:,}",
        f"Total non-trainable params: {n_total - n_train:,}",
        "",
        f"Parameter groups ({len(opt.param_groups)}):",
        *_groups(opt),
        "",
        f"Optimizer used: {_opt_name(learn, opt)}",
        f"Loss function: {learn.loss_func!r}",
        "",
        "Callbacks:",
        *(f"  - {type(cb).__name__} (order {cb.order})" for cb in sort_callbacks(learn.cbs)),
    ]
    return "\n".join(lines)


def _inputs(dl: DataLoader) -> tuple:
    """The model inputs of the first training batch, leaving every RNG as it was (drawing a
    batch shuffles and augments: training must not depend on whether a summary was made)."""
    from .learner import split_batch  # the learner imports this module

    states, epoch_state = get_rng_states(), dl.epoch_rng_state
    try:
        return split_batch(dl.one_batch(), dl.n_inp)[0]
    finally:
        set_rng_states(states)
        dl.epoch_rng_state = epoch_state


def _shown_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Leaf modules, and any module holding parameters of its own."""
    return [
        (name or type(m).__name__, m)
        for name, m in model.named_modules()
        if not any(True for _ in m.children()) or any(True for _ in m.parameters(recurse=False))
    ]


def _trace(model: nn.Module, xb: tuple) -> list[_Row]:
    """Run `xb` through `model` (eval mode, no grad) and record each shown module's output."""
    shown = _shown_modules(model)
    rows: list[_Row] = []
    called: set[int] = set()

    def hook(name: str, module: nn.Module, output: Any) -> None:
        first = id(module) not in called
        called.add(id(module))
        rows.append(
            _Row(
                f"{name} ({type(module).__name__})",
                _shape(output),
                _own_count(module) if first else None,
                _trainable(module) if first else "",
            )
        )

    handles = [
        m.register_forward_hook(lambda mod, _inp, out, name=name: hook(name, mod, out))
        for name, m in shown
    ]
    try:
        with _eval_mode(model), torch.no_grad():
            model(*xb)
    finally:
        for handle in handles:
            handle.remove()
    rows += [
        _Row(f"{name} ({type(m).__name__})", "(not called)", _own_count(m), _trainable(m))
        for name, m in shown
        if id(m) not in called and _own_count(m)
    ]
    return rows


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode inside the block; every module's own mode restored after."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode


def _own_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters(recurse=False))


def _trainable(module: nn.Module) -> str:
    flags = {p.requires_grad for p in module.parameters(recurse=False)}
    return "" if not flags else "mixed" if len(flags) == 2 else str(flags.pop())


def _shape(x: Any) -> str:
    """`64 x 3 x 28 x 28` for a tensor; a list of those for tuples; keys for dicts."""
    if isinstance(x, torch.Tensor):
        return " x ".join(str(d) for d in x.shape) if x.ndim else "scalar"
    if isinstance(x, (tuple, list)):
        return "[" + ", ".join(_shape(v) for v in x) + "]"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k}: {_shape(v)}" for k, v in x.items()) + "}"
    return type(x).__name__


def _table(rows: list[_Row]) -> str:
    heads = ("Layer (type)", "Output Shape", "Param #", "Trainable")
    cells = [
        (r.name, r.shape, "" if r.n_params is None else f"{r.n_params:,}", r.trainable)
        for r in rows
    ]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(heads)]
    rule = "=" * (sum(widths) + 3 * (len(widths) - 1))

    def line(values: tuple[str, ...]) -> str:
        return "   ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()

    return "\n".join([rule, line(heads), rule, *(line(c) for c in cells), rule])


def _groups(opt: Any) -> list[str]:
    """One line per parameter group: scalars trainable and frozen, learning rate, decay."""
    lines = []
    wds = opt.get_hyper("wd")
    for i, (group, wd) in enumerate(zip(opt.param_groups, wds)):
        train = sum(p.numel() for p in group["params"] if p.requires_grad)
        frozen = sum(p.numel() for p in group["params"] if not p.requires_grad)
        lines.append(
            f"  group {i}: {train:,} trainable, {frozen:,} frozen "
            f"(lr {group['lr']:.3g}, wd {wd:.3g})"
        )
    return lines


def _opt_name(learn: Learner, opt: Any) -> str:
    func = getattr(learn.opt_func, "__name__", type(learn.opt_func).__name__)
    inner = type(opt.opt).__name__
    return inner if func == inner else f"{func} ({inner})"


# ---------------------------------------------------------------------------- the loop
def _batch_events(training: bool) -> list[str]:
    events = ["before_batch", "after_pred", "after_loss"]
    if training:
        events += [
            "before_backward",
            "after_cancel_backward",
            "after_backward",
            "before_step",
            "after_cancel_step",
            "after_step",
        ]
    return events + ["after_cancel_batch", "after_batch"]


def _loop_layout() -> list[tuple[int, str, bool | None]]:
    """(depth, heading or event, phase) in the order `Learner.fit` runs them; the phase
    (True: training, False: validation) decides which batch callbacks run."""

    def batches(training: bool, depth: int) -> list[tuple[int, str, bool | None]]:
        return (
            [(depth, "Start Batch Loop", None)]
            + [(depth + 1, e, training) for e in _batch_events(training)]
            + [(depth, "End Batch Loop", None)]
        )

    return [
        (0, "Start Fit", None),
        (1, "before_fit", None),
        (1, "Start Epoch Loop", None),
        (2, "before_epoch", None),
        (2, "Start Train", None),
        (3, "before_train", None),
        *batches(True, 3),
        (3, "after_cancel_train", None),
        (3, "after_train", None),
        (2, "End Train", None),
        (2, "Start Valid", None),
        (3, "before_validate", None),
        *batches(False, 3),
        (3, "after_cancel_validate", None),
        (3, "after_validate", None),
        (2, "End Valid", None),
        (2, "after_cancel_epoch", None),
        (2, "after_epoch", None),
        (1, "End Epoch Loop", None),
        (1, "after_cancel_fit", None),
        (1, "after_fit", None),
        (0, "End Fit", None),
    ]


def training_loop_text(learn: Learner) -> str:
    """The text of `Learner.show_training_loop`: every event of a fit in firing order (cancel
    events where a Cancel exception would fire them) with its callbacks, by `order`."""
    callbacks = sort_callbacks(learn.cbs)
    width = max(len(e) for e in EVENTS)
    lines = []
    for depth, item, training in _loop_layout():
        if item not in EVENTS:
            lines.append("  " * depth + item)
            continue
        names = [
            type(cb).__name__
            for cb, _ in handlers_for(callbacks, item)
            if item not in INNER_EVENTS or _runs(cb, training)
        ]
        lines.append("  " * depth + f"- {item:<{width}}: [{', '.join(names)}]")
    return "\n".join(lines)


def _runs(cb: Callback, training: bool | None) -> bool:
    return cb.run_train if training else cb.run_valid
