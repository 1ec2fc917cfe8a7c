"""Callbacks that change the step: gradient clipping, gradient accumulation, stop on NaN,
BatchNorm statistics kept fixed."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..callback import Callback, CancelBatchException, CancelFitException

if TYPE_CHECKING:
    from ..learner import Learner

__all__ = [
    "BnFreeze",
    "GradientClipCallback",
    "GradientAccumulationCallback",
    "TerminateOnNaNCallback",
]


class GradientClipCallback(Callback):
    """Clips the gradients' global norm to `max_norm` before each step."""

    def __init__(self, max_norm: float = 1.0) -> None:
        self.max_norm = max_norm

    def before_step(self, learn: Learner) -> None:
        nn.utils.clip_grad_norm_(learn.model.parameters(), self.max_norm)


class GradientAccumulationCallback(Callback):
    """Steps every `steps` batches, the gradients summed between: bs 16 accumulated 4 times
    trains like bs 64 (each batch's loss is divided by `steps`)."""

    order = -10  # scale the loss before anything else sees the backward pass

    def __init__(self, steps: int = 4) -> None:
        if steps < 1:
            raise ValueError(f"Expected steps >= 1. Received: {steps}.")
        self.steps = steps

    def before_fit(self, learn: Learner) -> None:
        self.count = 0

    def before_backward(self, learn: Learner) -> None:
        learn.loss_grad = learn.loss_grad / self.steps

    def before_step(self, learn: Learner) -> None:
        self.count += 1
        if self.count % self.steps != 0 and learn.iter + 1 < learn.n_iter:
            raise CancelBatchException()  # skips the step and the zero_grad
        self.count = 0

    def state_dict(self) -> dict[str, Any]:
        """Batches accumulated so far."""
        return {"count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the count."""
        self.count = state["count"]


class TerminateOnNaNCallback(Callback):
    """Stops at the first NaN or infinite training loss and restores the last good weights
    (those at the end of the previous epoch, or at the start of the fit)."""

    run_valid = False

    def before_fit(self, learn: Learner) -> None:
        self._good = copy.deepcopy(learn.model.state_dict())

    def after_loss(self, learn: Learner) -> None:
        if not bool(torch.isfinite(learn.loss).all()):
            learn.model.load_state_dict(self._good)
            learn.opt.zero_grad()
            print(
                f"Loss is {learn.loss.item()} at epoch {learn.epoch}, batch {learn.iter}: "
                "stopping and restoring the weights of the last good epoch."
            )
            self.stopped = True
            raise CancelFitException()

    def after_epoch(self, learn: Learner) -> None:
        # an epoch's last step can leave NaN weights behind a finite loss: keep only weights
        # that are all finite as the ones to restore
        state = learn.model.state_dict()
        if all(bool(torch.isfinite(t).all()) for t in state.values() if t.is_floating_point()):
            self._good = copy.deepcopy(state)
        else:
            learn.model.load_state_dict(self._good)
            print(
                f"Weights hold NaN or infinite values after epoch {learn.epoch}: stopping and "
                "restoring the weights of the last good epoch."
            )
            self.stopped = True
            raise CancelFitException()


class BnFreeze(Callback):
    """Keeps BatchNorm layers in eval mode while training: they normalise with their running
    statistics and leave them as they are; their weight and bias still train if unfrozen.

    `module=None` (as fastai's BnFreeze): the BatchNorm layers whose parameters are frozen.
    `module=m`: every BatchNorm layer inside `m`, frozen or not. That is the recipe (Keras's
    too) for fine-tuning a pretrained body on small batches: their statistics are noisy
    estimates that would replace the pretrained ones. `vision_learner` adds it for bodies that
    need it (EfficientNet-Lite0: see ArchMeta.freeze_bn_stats).
    """

    def __init__(self, module: nn.Module | None = None) -> None:
        self.module = module

    def before_train(self, learn: Learner) -> None:  # after the learner's model.train()
        root = self.module if self.module is not None else learn.model
        for m in root.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and (
                self.module is not None
                or not any(p.requires_grad for p in m.parameters(recurse=False))
            ):
                m.eval()

    def __repr__(self) -> str:
        which = "frozen layers" if self.module is None else type(self.module).__name__
        return f"BnFreeze({which})"
