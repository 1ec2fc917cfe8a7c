"""Loss functions that flatten predictions and targets, check their shapes, and know how to
turn outputs into probabilities (`activation`) and probabilities into labels (`decodes`).

`reduction` is a plain attribute ('mean', 'sum' or 'none') that `get_preds(with_loss=True)` may
set to 'none' to get one loss per item.

>>> loss_func = CrossEntropyLossFlat(axis=1)  # segmentation: preds (B, C, H, W), targs (B, H, W)
>>> loss = loss_func(model(xb), yb); probs = loss_func.activation(model(xb))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "Loss",
    "CrossEntropyLossFlat",
    "BCEWithLogitsLossFlat",
    "MSELossFlat",
    "L1LossFlat",
    "FocalLossFlat",
    "LabelSmoothingCrossEntropy",
    "class_weights",
    "activation_of",
    "decodes_of",
    "activation_config",
]

Reduction = Literal["mean", "sum", "none"]


def shape_mismatch(loss: str, expected: str, preds: Tensor, targs: Tensor, fix: str) -> ValueError:
    """A ValueError in the house format for a loss given mismatched shapes."""
    return ValueError(
        f"{loss} expected targets of shape {expected} for predictions {tuple(preds.shape)}. "
        f"Received: targets {tuple(targs.shape)}. Fix: {fix}"
    )


def reduce(loss: Tensor, reduction: Reduction) -> Tensor:
    """Apply 'mean', 'sum' or 'none' to per-element losses."""
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


class Loss(nn.Module):
    """Base of fastlearn's losses: a `reduction`, and what the outputs mean. `activation` turns
    outputs into probabilities (or values), `decodes` those into labels, and
    `activation_config` says the same for an exported file (see `Predictor.activate`)."""

    def __init__(self, *, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def activation(self, preds: Tensor) -> Tensor:
        """Identity: the outputs are the predictions."""
        return preds

    def decodes(self, probs: Tensor) -> Tensor:
        """Identity."""
        return probs

    def activation_config(self) -> dict[str, Any]:
        """The activation as plain JSON for the export header."""
        return {"activation": "none"}


class CrossEntropyLossFlat(Loss):
    """Cross entropy over the class `axis` (-1 for (N, C) or (B, T, V); 1 for (B, C, H, W)).

    Predictions are flattened to (N, C) and targets (class indices) to (N,).
    """

    def __init__(
        self,
        *,
        axis: int = -1,
        weight: Tensor | None = None,
        label_smoothing: float = 0.0,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
    ):
        super().__init__(reduction=reduction)
        self.axis, self.label_smoothing, self.ignore_index = axis, label_smoothing, ignore_index
        self.register_buffer("weight", weight, persistent=False)

    def flatten(self, preds: Tensor, targs: Tensor) -> tuple[Tensor, Tensor]:
        """preds (N, C) with the class axis last, targs (N,), after checking they match."""
        if (
            preds.ndim == 2
            and targs.ndim == 1
            and self.axis in (-1, 1)
            and targs.shape[0] == preds.shape[0]
            and targs.dtype == torch.long
        ):
            return preds, targs  # the common case, already flat: no reshapes in the hot path
        name = type(self).__name__
        n_classes = preds.shape[self.axis]
        rows = preds.numel() // max(n_classes, 1)
        if targs.numel() != rows:
            raise shape_mismatch(
                name,
                f"(N,) with N = {rows}",
                preds,
                targs,
                f"give one class index per prediction row (class axis = {self.axis}); "
                "for one-hot or multi-label targets use BCEWithLogitsLossFlat.",
            )
        if targs.is_floating_point():
            raise TypeError(
                f"{name} expected integer class indices (torch.long). Received: targets of "
                f"dtype {targs.dtype}. Fix: use class indices (targs.long()), or a regression "
                "loss such as MSELossFlat for continuous targets."
            )
        preds = preds.movedim(self.axis, -1).reshape(rows, n_classes)
        return preds, targs.reshape(rows).long()

    def forward(self, preds: Tensor, targs: Tensor) -> Tensor:
        """Cross entropy of the flattened predictions and targets."""
        preds, targs = self.flatten(preds, targs)
        return F.cross_entropy(
            preds,
            targs,
            weight=self.class_weight(preds),
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )

    def class_weight(self, preds: Tensor) -> Tensor | None:
        """`weight` on preds' device and dtype (None if unweighted)."""
        return None if self.weight is None else self.weight.to(preds.device, preds.dtype)

    def activation(self, preds: Tensor) -> Tensor:
        """Softmax over the class axis."""
        return F.softmax(preds, dim=self.axis)

    def decodes(self, probs: Tensor) -> Tensor:
        """The most probable class."""
        return probs.argmax(dim=self.axis)

    def activation_config(self) -> dict[str, Any]:
        """Softmax over `axis`."""
        return {"activation": "softmax", "axis": int(self.axis)}


class LabelSmoothingCrossEntropy(CrossEntropyLossFlat):
    """Cross entropy against targets smoothed by `eps` spread over all classes."""

    def __init__(
        self,
        eps: float = 0.1,
        *,
        axis: int = -1,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
    ):
        super().__init__(
            axis=axis,
            weight=weight,
            label_smoothing=eps,
            ignore_index=ignore_index,
            reduction=reduction,
        )
        self.eps = eps


class FocalLossFlat(CrossEntropyLossFlat):
    """Focal loss: cross entropy scaled by (1 - p_target) ** gamma to focus on hard examples.

    With gamma=0 it equals CrossEntropyLossFlat (same weighting and ignore_index).
    """

    def __init__(
        self,
        gamma: float = 2.0,
        *,
        axis: int = -1,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
    ):
        super().__init__(axis=axis, weight=weight, ignore_index=ignore_index, reduction=reduction)
        self.gamma = gamma

    def forward(self, preds: Tensor, targs: Tensor) -> Tensor:
        """Focal loss of the flattened predictions and targets."""
        preds, targs = self.flatten(preds, targs)
        keep = targs != self.ignore_index
        safe_targs = torch.where(keep, targs, 0)
        log_p = F.log_softmax(preds.float(), dim=-1).gather(1, safe_targs[:, None])[:, 0]
        weight = self.class_weight(log_p)
        w = keep.float() if weight is None else weight[safe_targs] * keep
        loss = -w * (1 - log_p.exp()) ** self.gamma * log_p
        if self.reduction == "mean":
            return loss.sum() / w.sum()
        return reduce(loss, self.reduction)


class BCEWithLogitsLossFlat(Loss):
    """Binary cross entropy on logits, for binary and multi-label targets (cast to float)."""

    def __init__(
        self,
        *,
        thresh: float = 0.5,
        weight: Tensor | None = None,
        pos_weight: Tensor | None = None,
        reduction: Reduction = "mean",
    ):
        super().__init__(reduction=reduction)
        self.thresh = thresh
        self.register_buffer("weight", weight, persistent=False)
        self.register_buffer("pos_weight", pos_weight, persistent=False)

    def forward(self, preds: Tensor, targs: Tensor) -> Tensor:
        """BCE of logits `preds` against targets of the same number of elements."""
        if targs.numel() != preds.numel():
            raise shape_mismatch(
                type(self).__name__,
                str(tuple(preds.shape)),
                preds,
                targs,
                "give one 0/1 target per output (multi-hot (N, L) for multi-label); "
                "for class indices use CrossEntropyLossFlat.",
            )
        targs = targs.reshape(preds.shape).to(preds.dtype)
        weight, pos_weight = (
            None if w is None else w.to(preds.device, preds.dtype)
            for w in (self.weight, self.pos_weight)
        )
        return F.binary_cross_entropy_with_logits(
            preds, targs, weight=weight, pos_weight=pos_weight, reduction=self.reduction
        )

    def activation(self, preds: Tensor) -> Tensor:
        """Sigmoid."""
        return torch.sigmoid(preds)

    def decodes(self, probs: Tensor) -> Tensor:
        """True where the probability exceeds `thresh`."""
        return probs > self.thresh

    def activation_config(self) -> dict[str, Any]:
        """Sigmoid, then `thresh`."""
        return {"activation": "sigmoid", "thresh": float(self.thresh)}


class RegressionLossFlat(Loss):
    """Base for MSELossFlat and L1LossFlat: flatten both, check sizes, cast targets to float;
    the outputs are the predictions (`activation` and `decodes` are the identity)."""

    def flatten(self, preds: Tensor, targs: Tensor) -> tuple[Tensor, Tensor]:
        """Flat preds and targets in a common float dtype (integer targets cast silently)."""
        if targs.numel() != preds.numel():
            raise shape_mismatch(
                type(self).__name__,
                f"{tuple(preds.shape)} (or any shape of {preds.numel()} elements)",
                preds,
                targs,
                "give the model one output per target value (check the last layer's size).",
            )
        dtype = torch.promote_types(preds.dtype, targs.dtype)
        return preds.reshape(-1).to(dtype), targs.reshape(-1).to(dtype)


class MSELossFlat(RegressionLossFlat):
    """Mean squared error over flattened predictions and targets."""

    def forward(self, preds: Tensor, targs: Tensor) -> Tensor:
        """Squared error, reduced."""
        return F.mse_loss(*self.flatten(preds, targs), reduction=self.reduction)


class L1LossFlat(RegressionLossFlat):
    """Mean absolute error over flattened predictions and targets."""

    def forward(self, preds: Tensor, targs: Tensor) -> Tensor:
        """Absolute error, reduced."""
        return F.l1_loss(*self.flatten(preds, targs), reduction=self.reduction)


def class_weights(targets: Tensor, n_classes: int) -> Tensor:
    """Inverse-frequency class weights, n / (n_classes * count), as sklearn's 'balanced'.

    Their mean over samples is 1. Pass them as `CrossEntropyLossFlat(weight=...)`.
    """
    targets = torch.as_tensor(targets).reshape(-1).long()
    counts = torch.bincount(targets, minlength=n_classes).double()
    if counts.numel() > n_classes or (counts == 0).any():
        missing = (counts[:n_classes] == 0).nonzero().flatten().tolist()
        raise ValueError(
            f"class_weights expected every class 0..{n_classes - 1} at least once and no other. "
            f"Received: missing classes {missing}, {counts.numel()} classes seen. "
            "Fix: pass the right n_classes, or weights computed on a set with every class."
        )
    weights = targets.numel() / (n_classes * counts)
    return weights.float()


# Plain torch losses don't say what their outputs mean: the export reads it from this table.
_TORCH_ACTIVATIONS: tuple[tuple[tuple[type, ...], dict[str, Any]], ...] = (
    ((nn.BCEWithLogitsLoss, nn.BCELoss), {"activation": "sigmoid", "thresh": 0.5}),
    ((nn.CrossEntropyLoss, nn.NLLLoss), {"activation": "softmax", "axis": -1}),
)


def activation_config(loss_func: Any) -> dict[str, Any]:
    """How an exported model's outputs become probabilities and labels: a fastlearn `Loss`
    says so itself; for torch's BCE, cross-entropy and NLL losses, the table above; any other
    loss (or None): outputs kept as they are."""
    if isinstance(loss_func, Loss):
        return loss_func.activation_config()
    return next(
        (dict(config) for types, config in _TORCH_ACTIVATIONS if isinstance(loss_func, types)),
        {"activation": "none"},
    )


def activation_of(loss_func: Any) -> Callable[[Tensor], Tensor] | None:
    """The loss's `activation` (outputs -> probabilities), None for a loss that has none (a
    plain torch loss or function: `get_preds` returns its outputs as they are). A custom
    loss object with an `activation` method, as fastai's, is used too."""
    if isinstance(loss_func, Loss):
        return loss_func.activation
    return getattr(loss_func, "activation", None)  # a foreign loss: fastai's convention


def decodes_of(loss_func: Any) -> Callable[[Tensor], Tensor] | None:
    """The loss's `decodes` (probabilities -> labels), None for a loss that has none."""
    if isinstance(loss_func, Loss):
        return loss_func.decodes
    return getattr(loss_func, "decodes", None)  # a foreign loss: fastai's convention


def checked_loss(loss_func: Callable[..., Tensor], pred: Any, yb: tuple) -> Tensor:
    """`loss_func(pred, *yb)` for the first batch of a fit, with a clear error when outputs and
    targets don't fit (shapes a loss would silently broadcast, a failing or non-scalar loss)."""
    targ = yb[0]
    name = getattr(loss_func, "__name__", type(loss_func).__name__)  # a function or a module
    shapes = f"model output {_describe(pred)} and targets {', '.join(_describe(y) for y in yb)}"
    elementwise = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.BCEWithLogitsLoss, nn.BCELoss)
    if (
        isinstance(loss_func, elementwise)
        and isinstance(pred, torch.Tensor)
        and isinstance(targ, torch.Tensor)
        and pred.shape != targ.shape
    ):
        raise ValueError(
            f"{name} compares element by element, but got {shapes}: torch "
            "would broadcast them into a wrong loss. Fix: make the model output "
            "the targets' shape, or use MSELossFlat/BCEWithLogitsLossFlat."
        )
    try:
        loss = loss_func(pred, *yb)
    except (RuntimeError, ValueError, IndexError, TypeError) as e:
        raise ValueError(
            f"loss_func {name} failed on {shapes}: {e}. Fix: check that the "
            "model's last layer has one output per class (or per target) and "
            "that the targets have the dtype the loss expects (class indices "
            "as int64 for cross entropy, floats for regression)."
        ) from e
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        raise ValueError(
            f"loss_func {name} must return a scalar tensor. Received: {_describe(loss)}."
        )
    return loss


def _describe(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        return f"{tuple(x.shape)} {str(x.dtype).replace('torch.', '')}"
    return type(x).__name__
