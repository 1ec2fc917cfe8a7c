"""MixUp and CutMix: train on blends of pairs of items, with the loss blended alike.

    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), metrics=accuracy, cbs=MixUp())
    learn = vision_learner(dls, resnet18, cbs=CutMix(alpha=1.0))

Each training batch is paired with a shuffled copy of itself (`perm`). With a weight
lam ~ Beta(alpha, alpha), one per batch (as in Zhang et al.'s reference code):

- MixUp blends the inputs, x = lam * x + (1 - lam) * x[perm];
- CutMix pastes a random box of x[perm] into x, lam being the share of x left;

and the loss becomes lam * loss(pred, y) + (1 - lam) * loss(pred, y[perm]), so any loss
function works unchanged. Validation, `get_preds` and `predict` see the data untouched.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from ..callback import Callback

if TYPE_CHECKING:
    from ..learner import Learner

__all__ = ["MixHandler", "MixUp", "CutMix"]


class MixHandler(Callback):
    """Base of MixUp and CutMix: draws `lam` and `perm` for each training batch, lets `mix`
    change the inputs (float tensors), and blends the loss of the two targets."""

    run_valid = False  # validation and inference see the data as it is
    order = -15  # mix before other callbacks see the batch; blend the loss before anything
    # reads it (TerminateOnNaN at 0, the Recorder at 50)

    def __init__(self, alpha: float) -> None:
        if not alpha > 0:
            raise ValueError(
                f"Expected alpha > 0 (the Beta distribution's parameter). Received: {alpha!r}."
            )
        self.alpha = alpha
        self.distrib = torch.distributions.Beta(
            torch.tensor(float(alpha)), torch.tensor(float(alpha))
        )
        self.lam = 1.0
        self.perm: torch.Tensor | None = None
        self.yb_shuffled: tuple = ()

    def sample_lambda(self) -> float:
        """The batch's weight, drawn from Beta(alpha, alpha) (torch's global generator)."""
        return float(self.distrib.sample())  # a CPU draw: no device synchronisation

    def mix(self, xb: tuple, perm: torch.Tensor, lam: float) -> tuple[tuple, float]:
        """The mixed inputs and the weight of the original targets in the loss."""
        raise NotImplementedError

    def before_batch(self, learn: Learner) -> None:
        if not learn.yb:
            return
        _check_float_inputs(learn.xb, type(self).__name__)
        first = learn.xb[0]
        self.perm = torch.randperm(first.shape[0], device=first.device)
        learn.xb, self.lam = self.mix(learn.xb, self.perm, self.sample_lambda())
        self.yb_shuffled = tuple(y[self.perm] for y in learn.yb)

    def after_loss(self, learn: Learner) -> None:
        if not learn.yb:
            return
        other = learn.loss_func(learn.pred, *self.yb_shuffled)
        learn.loss_grad = self.lam * learn.loss_grad + (1 - self.lam) * other
        learn.loss = learn.loss_grad.detach()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alpha={self.alpha})"


def _check_float_inputs(xb: tuple, name: str) -> None:
    for x in xb:
        if not (isinstance(x, torch.Tensor) and x.is_floating_point()):
            got = f"{x.dtype} tensor" if isinstance(x, torch.Tensor) else type(x).__name__
            raise TypeError(
                f"{name} blends inputs, so it expects float tensors. Received: a "
                f"{got}. Fix: use it on images or other float inputs, not on "
                f"category codes or token ids."
            )


class MixUp(MixHandler):
    """Inputs blended with a shuffled copy of the batch: x = lam * x + (1 - lam) * x[perm],
    lam ~ Beta(alpha, alpha) (book chapter 7). Every input must be a float tensor."""

    def __init__(self, alpha: float = 0.4) -> None:
        super().__init__(alpha)

    def mix(self, xb: tuple, perm: torch.Tensor, lam: float) -> tuple[tuple, float]:
        """Blend every input with its shuffled copy."""
        return tuple(torch.lerp(x[perm], x, lam) for x in xb), lam


class CutMix(MixHandler):
    """A random box of the shuffled batch pasted into each image (Yun et al. 2019): the box
    covers 1 - lam of the image, lam ~ Beta(alpha, alpha), and lam is then set to the share of
    the image actually left (the box is clipped at the borders). Inputs (B, C, H, W)."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__(alpha)

    def mix(self, xb: tuple, perm: torch.Tensor, lam: float) -> tuple[tuple, float]:
        """Paste the box of x[perm] into x; the weight is the share of x that remains."""
        x = xb[0]
        if x.ndim != 4:
            raise ValueError(
                f"CutMix expects image batches (B, C, H, W). Received: shape "
                f"{tuple(x.shape)}. Fix: use MixUp for other inputs."
            )
        h, w = x.shape[-2:]
        y1, y2, x1, x2 = self.box(h, w, lam)
        x = x.clone()
        x[..., y1:y2, x1:x2] = x[perm][..., y1:y2, x1:x2]
        return (x, *xb[1:]), 1 - (y2 - y1) * (x2 - x1) / (h * w)

    def box(self, h: int, w: int, lam: float) -> tuple[int, int, int, int]:
        """(y1, y2, x1, x2) of a box of area about (1 - lam) * h * w at a random centre."""
        ratio = math.sqrt(1 - lam)
        cut_h, cut_w = int(h * ratio), int(w * ratio)
        cy, cx = int(torch.randint(0, h, ())), int(torch.randint(0, w, ()))
        y1, y2 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, h)
        x1, x2 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, w)
        return y1, y2, x1, x2
