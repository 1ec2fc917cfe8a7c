"""The Learner: data, model, loss, optimiser and callbacks; `fit -> epoch -> batch`.

    learn = Learner(dls, model, loss_func=nn.CrossEntropyLoss(), metrics=accuracy)
    learn.fit_one_cycle(3, 1e-2)

Each step of the loop is wrapped in events (see `callback.EVENTS`) that callbacks handle.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .annealing import flat_cos, one_cycle_lr, one_cycle_mom
from .callback import (
    EVENTS,
    INNER_EVENTS,
    Callback,
    CancelBackwardException,
    CancelBatchException,
    CancelEpochException,
    CancelFitException,
    CancelStepException,
    CancelTrainException,
    CancelValidException,
    annotate,
    handlers_for,
    sort_callbacks,
)
from .callbacks.distributed import DistributedCallback, runs_on_this_process
from .callbacks.precision import (
    ChannelsLastCallback,
    MixedPrecisionCallback,
    bf16_unavailable,
    compile_model,
    fp16_unavailable,
)
from .callbacks.progress import ProgressCallback, in_notebook
from .callbacks.recorder import Recorder
from .callbacks.resume import ResumeCallback
from .callbacks.schedule import (
    LRFinderCallback,
    ParamScheduler,
    SuggestedLRs,
    SuggestFunc,
    valley,
)
from .checkpoints import CheckpointMixin
from .data import DataLoader, DataLoaders
from .distributed import (
    gather_objects,
    init_distributed,
    launched_distributed,
    world_size,
)
from .inference import InferenceMixin
from .losses import BCEWithLogitsLossFlat, CrossEntropyLossFlat, MSELossFlat, checked_loss
from .metrics import Metric, as_metric
from .optim import NORM_TYPES, Adam, OptimWrapper, lr_range, make_optimizer, trainable_params
from .summary import ModelSummary, learner_summary, training_loop_text

__all__ = ["Learner"]

_CANCELS = (
    CancelBatchException,
    CancelBackwardException,
    CancelStepException,
    CancelTrainException,
    CancelValidException,
    CancelEpochException,
    CancelFitException,
)


def _listify(x: Any) -> list[Any]:
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def interactive_session() -> bool:
    """Whether a person is at the prompt: an IPython shell or kernel, `python -i`, the REPL."""
    ipython = sys.modules.get("IPython")
    if ipython is not None and ipython.get_ipython() is not None:
        return True
    return bool(sys.flags.interactive) or hasattr(sys, "ps1")


class Learner(InferenceMixin, CheckpointMixin):
    """Trains `model` on `dls` with `loss_func`, an optimiser from `opt_func`, and callbacks.

    `wd=None` uses the optimiser's own weight decay (0 for SGD and RMSprop, 0.01 for Adam);
    a number (here or in `fit`) replaces it. `metrics` may be set later too:
    `learn.metrics = partial(accuracy_multi, thresh=0.1)`.

    Ctrl-C during `fit` ends the fit cleanly (weights and history so far kept, callbacks'
    `after_fit` run). In an interactive session (a Jupyter kernel, IPython, `python -i`, the
    REPL) the learner is then ready for the next call; in a script the KeyboardInterrupt goes
    on, so the lines after `fit` (an export of a half-trained model) don't run.
    `reraise_interrupt` True or False decides instead.
    """

    reraise_interrupt: bool | None = None  # None: re-raise Ctrl-C outside interactive sessions

    def __init__(
        self,
        dls: DataLoaders | Sequence[Any],
        model: nn.Module,
        loss_func: Callable | None = None,
        opt_func: Callable = Adam,
        lr: float = 1e-3,
        splitter: Callable[[nn.Module], list] = trainable_params,
        cbs: Callback | Sequence[Callback] | None = None,
        metrics: Any = None,
        wd: float | None = None,
        *,
        wd_bn_bias: bool = False,
        train_bn: bool = True,
        moms: tuple[float, float, float] = (0.95, 0.85, 0.95),
        path: str | Path = ".",
        model_dir: str = "models",
        show_progress: bool = True,
    ) -> None:
        if not isinstance(dls, DataLoaders):
            if isinstance(dls, (tuple, list)) and 1 <= len(dls) <= 2:
                dls = DataLoaders(*dls)
            else:
                raise TypeError(
                    f"Expected DataLoaders or a (train, valid) pair of loaders. "
                    f"Received: {type(dls).__name__}."
                )
        if not isinstance(model, nn.Module):
            raise TypeError(f"Expected an nn.Module. Received: {type(model).__name__}.")
        if launched_distributed():  # under torchrun: join the process group, take this rank's GPU
            dls.to(init_distributed(dls.device))
        self.dls, self.model = dls, model.to(dls.device)
        self.loss_func = loss_func if loss_func is not None else _infer_loss_func(dls)
        self.opt_func, self.lr, self.splitter, self.moms = opt_func, lr, splitter, moms
        self.wd = wd  # None: the optimiser's own default
        self.wd_bn_bias, self.train_bn = wd_bn_bias, train_bn
        self.metrics = metrics
        self.path, self.model_dir = Path(path), model_dir
        self.opt: OptimWrapper | None = None
        self.cbs: list[Callback] = []
        self.recorder = Recorder()
        self.add_cbs([self.recorder] + ([ProgressCallback()] if show_progress else []))
        self.add_cbs(_listify(cbs))
        if launched_distributed() and self.get_cb(DistributedCallback) is None:
            self.add_cbs([DistributedCallback()])
        self.training = self.in_fit = self.interrupted = False
        self.epoch = self.iter = self.train_iter = 0
        self.n_epoch, self.n_iter, self.total_iters = 1, 0, 0
        self.start_epoch = 0  # first epoch of the next fit (a resume sets it; after_fit resets)
        self.xb: tuple = ()
        self.yb: tuple = ()
        self.pred: Any = None
        self.loss_grad: torch.Tensor | None = None  # this batch's loss, with its graph
        self.loss: torch.Tensor | None = None  # the same, detached (None before a batch)
        self.dl: DataLoader = dls.train  # the loader of the current phase
        self._loss_checked = False

    @property
    def metrics(self) -> list[Metric]:
        """The metrics computed on the validation set after each epoch."""
        return self._metrics

    @metrics.setter
    def metrics(self, metrics: Any) -> None:
        """A metric function, a partial, a Metric (instance or class), or a list of them, as
        the constructor takes; the next fit records them."""
        self._metrics = [as_metric(m) for m in _listify(metrics)]

    # ---------------------------------------------------------------- callbacks
    def add_cbs(self, cbs: Sequence[Callback]) -> Learner:
        """Add callbacks (an instance, or a Callback class to instantiate)."""
        for cb in cbs:
            cb = cb() if isinstance(cb, type) else cb
            if not isinstance(cb, Callback):
                raise TypeError(f"Expected a Callback. Received: {type(cb).__name__}.")
            self.cbs.append(cb)
        self._sort_handlers()
        return self

    def remove_cbs(self, cbs: Sequence[Callback]) -> Learner:
        """Remove callbacks."""
        for cb in cbs:
            if cb in self.cbs:
                self.cbs.remove(cb)
        self._sort_handlers()
        return self

    @contextlib.contextmanager
    def added_cbs(self, cbs: Sequence[Callback]) -> Iterator[Learner]:
        """Callbacks present only inside the `with` block."""
        cbs = [cb() if isinstance(cb, type) else cb for cb in cbs]
        self.add_cbs(cbs)
        try:
            yield self
        finally:
            self.remove_cbs(cbs)

    def get_cb(self, kind: type) -> Callback | None:
        """The first callback of type `kind`, or None."""
        return next((cb for cb in self.cbs if isinstance(cb, kind)), None)

    def _sort_handlers(self) -> None:
        ordered = sort_callbacks([cb for cb in self.cbs if runs_on_this_process(cb)])
        self._handlers = {e: handlers_for(ordered, e) for e in EVENTS}

    def __call__(self, event: str) -> None:
        """Fire `event`: run every callback that handles it, in order. Batch-level events
        skip callbacks whose `run_train`/`run_valid` excludes the current phase."""
        handlers = self._handlers[event]
        if not handlers:
            return
        inner = event in INNER_EVENTS
        for cb, method in handlers:
            if not inner or (cb.run_train if self.training else cb.run_valid):
                try:
                    method(self)
                except _CANCELS:
                    raise
                except Exception as e:
                    raise annotate(e, cb, event) from None  # same exception, with a note

    def _with_events(self, f: Callable[[], None], name: str, cancel: type) -> None:
        try:
            self("before_" + name)
            f()
        except cancel:
            self("after_cancel_" + name)
        self("after_" + name)

    # ---------------------------------------------------------------- the loop
    def fit(
        self,
        n_epoch: int,
        lr: float | slice | None = None,
        wd: float | None = None,
        cbs: Callback | Sequence[Callback] | None = None,
        reset_opt: bool = False,
        *,
        resume: str | Path | None = None,
    ) -> None:
        """Train for `n_epoch` epochs at a constant learning rate (or as callbacks schedule).
        `resume` continues from a CheckpointCallback file, if it exists (callbacks/resume.py)."""
        if n_epoch < 1:
            raise ValueError(f"Expected n_epoch >= 1. Received: {n_epoch}.")
        cbs = _listify(cbs) + ([ResumeCallback(resume)] if resume is not None else [])
        with self.added_cbs(cbs):
            if reset_opt or self.opt is None:
                self.create_opt()
            if wd is not None:
                self.opt.set_hyper("wd", wd)
            self.opt.set_hyper("lr", lr_range(self.lr if lr is None else lr, self.n_groups))
            self.n_epoch, self.train_iter = n_epoch, 0
            self.total_iters = n_epoch * len(self.dls.train)
            self.in_fit, self.interrupted = True, False
            try:
                self._with_events(self._do_fit, "fit", CancelFitException)
            except KeyboardInterrupt:
                if self._interrupt():
                    raise
            finally:
                self.in_fit, self.training = False, False

    def _do_fit(self) -> None:
        for epoch in range(self.start_epoch, self.n_epoch):
            self.epoch = epoch
            self._with_events(self._do_epoch, "epoch", CancelEpochException)

    def _do_epoch(self) -> None:
        self.dl = self.dls.train
        self.training = True
        self.model.train()
        self._with_events(self._all_batches, "train", CancelTrainException)
        self._do_validate()

    def _do_validate(self, dl: DataLoader | None = None) -> None:
        dl = dl if dl is not None else self.dls.valid
        if dl is None:
            return
        self.dl, self.training = dl, False
        self.model.eval()
        with torch.no_grad():
            self._with_events(self._all_batches, "validate", CancelValidException)

    def _all_batches(self) -> None:
        self.n_iter = len(self.dl)
        for i, batch in enumerate(self.dl, self.dl.first_batch):  # >0 on resume
            self.iter = i
            self._split(batch)
            self._with_events(self._do_one_batch, "batch", CancelBatchException)
            if self.training:
                self.train_iter += 1

    def _split(self, batch: Any) -> None:
        self.xb, self.yb = split_batch(batch, self.dl.n_inp)

    def _do_one_batch(self) -> None:
        self.pred = self.model(*self.xb)
        self("after_pred")
        if self.yb:
            self.loss_grad = (
                self.loss_func(self.pred, *self.yb)
                if self._loss_checked
                else checked_loss(self.loss_func, self.pred, self.yb)
            )
            self._loss_checked = True
            self.loss = self.loss_grad.detach()
        self("after_loss")
        if not self.training or not self.yb:
            return
        self._with_events(self._backward, "backward", CancelBackwardException)
        self._with_events(self.opt.step, "step", CancelStepException)
        self.opt.zero_grad()

    def _backward(self) -> None:
        self.loss_grad.backward()

    # ---------------------------------------------------------------- Ctrl-C
    def _interrupt(self) -> bool:
        """Ctrl-C: end the fit cleanly, keeping the weights and history so far; True when the
        interrupt must go on (a script: see `reraise_interrupt`)."""
        self.interrupted, self.training = True, False
        self.model.eval()
        if self.opt is not None:
            self.opt.zero_grad()
        self("after_cancel_fit")
        self("after_fit")
        reraise = (
            not interactive_session() if self.reraise_interrupt is None else self.reraise_interrupt
        )
        print(
            f"Interrupted at epoch {self.epoch}, batch {self.iter}: the learner keeps its "
            "weights and history"
            + (
                "; the script stops here (learn.reraise_interrupt = False goes on after fit)."
                if reraise
                else "."
            )
        )
        return reraise

    # ---------------------------------------------------------------- optimiser and freezing
    def create_opt(self) -> None:
        """Build the optimiser over the splitter's parameter groups and install it."""
        self.opt = self.make_opt()

    def make_opt(self) -> OptimWrapper:
        """A new optimiser over the splitter's parameter groups, not installed (`create_opt`
        installs one)."""
        groups = self.splitter(self.model)
        groups = [list(g.parameters()) if isinstance(g, nn.Module) else list(g) for g in groups]
        return make_optimizer(
            self.opt_func, groups, self.model, lr=self.lr, wd=self.wd, wd_bn_bias=self.wd_bn_bias
        )

    @property
    def n_groups(self) -> int:
        """Number of parameter groups: the optimiser's, or before one is built, the number a new
        one would have (nothing is installed)."""
        return len((self.opt or self.make_opt()).param_groups)

    def freeze_to(self, n: int) -> None:
        """Train only parameter groups n, n+1, ...; earlier groups frozen (BatchNorm kept)."""
        if self.opt is None:
            self.create_opt()
        groups = [g["params"] for g in self.opt.param_groups]
        n = n % len(groups) if n < 0 else min(n, len(groups) - 1 if n > 0 else 0)
        norm_ids = (
            {
                id(p)
                for m in self.model.modules()
                if isinstance(m, NORM_TYPES)
                for p in m.parameters(recurse=False)
            }
            if self.train_bn
            else set()
        )
        for i, group in enumerate(groups):
            for p in group:
                p.requires_grad_(i >= n or id(p) in norm_ids)

    def freeze(self) -> None:
        """Train only the last parameter group (the head), plus BatchNorm layers."""
        self.freeze_to(-1)

    def unfreeze(self) -> None:
        """Train every parameter."""
        self.freeze_to(0)

    # ---------------------------------------------------------------- schedules
    def fit_one_cycle(
        self,
        n_epoch: int,
        lr_max: float | slice | None = None,
        div: float = 25.0,
        div_final: float = 1e5,
        pct_start: float = 0.25,
        wd: float | None = None,
        moms: Sequence[float] | None = None,
        cbs: Any = None,
        reset_opt: bool = False,
        *,
        resume: str | Path | None = None,
    ) -> None:
        """Learning rate up (cosine) to lr_max then down; momentum the opposite way."""
        if self.opt is None or reset_opt:
            self.create_opt()
        lrs = lr_range(self.lr if lr_max is None else lr_max, self.n_groups)
        scheds: dict[str, list] = {
            "lr": [
                one_cycle_lr(lr, div=div, div_final=div_final, pct_start=pct_start) for lr in lrs
            ]
        }
        if self.opt.has_momentum:
            scheds["mom"] = [one_cycle_mom(moms or self.moms, pct_start=pct_start)] * len(lrs)
        self.fit(
            n_epoch, lr=lrs, wd=wd, cbs=[ParamScheduler(scheds)] + _listify(cbs), resume=resume
        )

    def fit_flat_cos(
        self,
        n_epoch: int,
        lr: float | slice | None = None,
        div_final: float = 1e5,
        pct_start: float = 0.75,
        wd: float | None = None,
        cbs: Any = None,
        reset_opt: bool = False,
        *,
        resume: str | Path | None = None,
    ) -> None:
        """Flat learning rate, then cosine annealing over the last 1 - pct_start."""
        if self.opt is None or reset_opt:
            self.create_opt()
        lrs = lr_range(self.lr if lr is None else lr, self.n_groups)
        scheds = {"lr": [flat_cos(v, pct_start=pct_start, div_final=div_final) for v in lrs]}
        self.fit(
            n_epoch, lr=lrs, wd=wd, cbs=[ParamScheduler(scheds)] + _listify(cbs), resume=resume
        )

    def fine_tune(
        self,
        epochs: int,
        base_lr: float = 2e-3,
        freeze_epochs: int = 1,
        lr_mult: float = 100,
        pct_start: float = 0.3,
        div: float = 5.0,
        **kwargs: Any,
    ) -> None:
        """Transfer learning: train the head (body frozen), then every layer with
        discriminative learning rates from base_lr/2/lr_mult to base_lr/2."""
        self.freeze()
        self.fit_one_cycle(freeze_epochs, slice(base_lr), pct_start=0.99, **kwargs)
        if self.interrupted:  # Ctrl-C in a notebook stops both phases
            return
        base_lr /= 2
        self.unfreeze()
        self.fit_one_cycle(
            epochs, slice(base_lr / lr_mult, base_lr), pct_start=pct_start, div=div, **kwargs
        )

    def lr_find(
        self,
        start_lr: float = 1e-7,
        end_lr: float = 10,
        num_it: int = 100,
        stop_div: bool = True,
        show_plot: bool = True,
        suggest_funcs: SuggestFunc | Sequence[SuggestFunc] = (valley,),
        *,
        plot_path: str | Path | None = None,
    ) -> SuggestedLRs:
        """Sweep the learning rate exponentially (weights restored after); return the
        suggestions of `suggest_funcs` named after them, as fastai:

            lr = learn.lr_find().valley
            lr_min, lr_steep = learn.lr_find(suggest_funcs=(minimum, steep))

        Every built-in rule (valley, slide, steep, minimum) is readable as an attribute."""
        # Distributed, each process sees 1/world_size of the batches: enough epochs for num_it.
        n_epoch = max(1, math.ceil(num_it * world_size() / len(self.dls.train)))
        finder = LRFinderCallback(start_lr, end_lr, num_it, stop_div)
        with self.no_progress():
            self.fit(n_epoch, cbs=[finder])
        # Distributed: every process takes rank 0's suggestions (its own curve may differ).
        suggestions = gather_objects(finder.suggestions(suggest_funcs))[0]
        if show_plot or plot_path is not None:
            self.recorder.plot_lr_find(finder, suggestions, path=plot_path)
        return suggestions

    # ---------------------------------------------------------------- introspection
    def summary(self) -> ModelSummary:
        """The model's layers with their output shapes and parameter counts for one training
        batch, the parameter groups (trainable / frozen), the optimiser, the loss function and
        the callbacks, as a string: printed (in a notebook, shown as the cell's value). The
        batch, modes and random state are put back: training is not affected."""
        text = ModelSummary(learner_summary(self))
        if not in_notebook():
            print(text)
        return text

    def show_training_loop(self) -> None:
        """Print the events of a fit, in order, with the callbacks that handle each."""
        print(training_loop_text(self))

    # ---------------------------------------------------------------- speed switches
    def to_bf16(self, force: bool = False) -> Learner:
        """Mixed precision: forward and loss under autocast to bfloat16 (CPU or CUDA). Where
        bfloat16 would be slow (a CPU without AVX-512/AMX) a message, unless `force`."""
        unavailable = None if force else bf16_unavailable(self.dls.device)
        return self._mixed_precision(torch.bfloat16, unavailable)

    def to_fp16(self) -> Learner:
        """Mixed precision on CUDA: autocast to float16 with a gradient scaler that skips
        steps whose gradients overflow. Elsewhere a message, and training stays in float32."""
        return self._mixed_precision(torch.float16, fp16_unavailable(self.dls.device))

    def _mixed_precision(self, dtype: torch.dtype, unavailable: str | None) -> Learner:
        if unavailable is not None:
            print(unavailable)
            return self
        return self.to_fp32().add_cbs([MixedPrecisionCallback(dtype)])

    def to_fp32(self) -> Learner:
        """Back to full precision (removes mixed precision)."""
        return self.remove_cbs([cb for cb in self.cbs if isinstance(cb, MixedPrecisionCallback)])

    def to_channels_last(self) -> Learner:
        """Channels-last (NHWC) weights and image batches: faster convolutions."""
        if self.get_cb(ChannelsLastCallback) is None:
            self.add_cbs([ChannelsLastCallback()])
        self.model.to(memory_format=torch.channels_last)
        return self

    def compile(
        self, *, backend: str = "inductor", mode: str | None = None, fallback: bool = True
    ) -> Learner:
        """Compile the model with torch.compile (in place: saving and export are unchanged);
        where it can't run, a message and eager mode (see callbacks.precision.compile_model)."""
        compile_model(self.model, self.dls.device, backend=backend, mode=mode, fallback=fallback)
        return self

    @contextlib.contextmanager
    def no_progress(self) -> Iterator[None]:
        """Silence progress bars and the results table inside the block."""
        cbs = [cb for cb in self.cbs if isinstance(cb, ProgressCallback)]
        self.remove_cbs(cbs)
        try:
            yield
        finally:
            self.add_cbs(cbs)

    def __repr__(self) -> str:
        n_params = sum(p.numel() for p in self.model.parameters())
        trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        frozen = f", {n_params - trainable:,} frozen" if trainable < n_params else ""
        return (
            f"{type(self).__name__}(model={type(self.model).__name__} ({n_params:,} "
            f"parameters{frozen}), data={self.dls!r}, loss_func={self.loss_func!r}, "
            f"metrics={[m.name for m in self.metrics]}, "
            f"epochs trained={len(self.recorder.history)}, "
            f"cbs={[type(cb).__name__ for cb in self.cbs]})"
        )


def split_batch(batch: Any, n_inp: int) -> tuple[tuple, tuple]:
    """(inputs, targets) of a batch: its first `n_inp` elements, then the rest."""
    if isinstance(batch, (tuple, list)):
        return tuple(batch[:n_inp]), tuple(batch[n_inp:])
    return (batch,), ()  # a dict of model inputs (e.g. transformers), targets inside


def _infer_loss_func(dls: DataLoaders) -> nn.Module:
    """Cross entropy for integer targets, BCE for multi-hot floats, MSE for other floats."""
    if dls.loss_func is not None:  # the application's loaders know their targets
        return dls.loss_func
    batch = dls.one_batch()
    if not isinstance(batch, (tuple, list)) or len(batch) <= dls.n_inp:
        raise ValueError(
            "Could not infer a loss function: batches carry no targets. Fix: pass "
            "loss_func= to the Learner."
        )
    targ = batch[dls.n_inp]
    if not isinstance(targ, torch.Tensor):
        raise ValueError(
            f"Could not infer a loss function from targets of type "
            f"{type(targ).__name__}. Fix: pass loss_func=."
        )
    if not targ.is_floating_point():
        return CrossEntropyLossFlat()
    multi_hot = targ.ndim == 2 and bool(((targ == 0) | (targ == 1)).all()) and targ.shape[1] > 1
    return BCEWithLogitsLossFlat() if multi_hot and dls.vocab is not None else MSELossFlat()
