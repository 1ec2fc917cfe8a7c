"""Segmentation metrics: preds (B, C, H, W) logits, targs (B, H, W) class indices per pixel.

The class axis is `axis=1`; a single channel (B, 1, H, W) is a binary logit (foreground > 0).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from .base import Metric, shape_error

__all__ = ["Dice", "Jaccard", "ForegroundAccuracy", "foreground_acc"]

_PIXEL_FIX = (
    "targs hold one class index per pixel, (B, H, W) for preds (B, C, H, W); if the class "
    "axis of preds is not 1, pass axis=."
)


def pixel_predictions(
    preds: Tensor, targs: Tensor, *, axis: int, metric: str
) -> tuple[Tensor, Tensor, int]:
    """Flat predicted classes, flat long targets and the number of classes."""
    n_classes = preds.shape[axis] if preds.ndim > 0 else 0
    if n_classes == 1:
        pred, n_classes = (preds > 0).long().squeeze(axis), 2
    else:
        pred = preds.argmax(dim=axis)
    if pred.numel() != targs.numel():
        raise shape_error(
            metric, "preds (B, C, H, W) and targs (B, H, W)", preds, targs, _PIXEL_FIX
        )
    return pred.flatten(), targs.flatten().long(), n_classes


class Overlap(Metric):
    """Base for Dice and Jaccard: per-class intersections and sizes, accumulated on device.

    average='binary': foreground (class > 0) against background, as fastai's Dice.
    average='macro': mean over classes (background included) that occur in preds or targs.
    Pixels whose target is `ignore_index` (e.g. a void code) are left out.
    """

    state_names = ("counts",)

    def __init__(
        self,
        average: Literal["binary", "macro"] = "binary",
        *,
        axis: int = 1,
        ignore_index: int | None = None,
    ):
        if average not in ("binary", "macro"):
            raise ValueError(
                f"{type(self).__name__} expected average 'binary' or 'macro'. "
                f"Received: {average!r}. Fix: pass one of those."
            )
        self.average, self.axis, self.ignore_index = average, axis, ignore_index
        if average == "macro":
            self.name = f"{self.name}_multi"
        self.reset()

    def reset(self) -> None:
        """Forget the running counts."""
        self.counts: Tensor | None = None  # (3, K): intersections, pred sizes, target sizes

    def update(self, preds: Tensor, targs: Tensor) -> None:
        """Add the batch's intersections and sizes."""
        pred, targ, n = pixel_predictions(preds, targs, axis=self.axis, metric=self.name)
        keep = torch.ones_like(targ) if self.ignore_index is None else (targ != self.ignore_index)
        keep = keep.long()
        if self.average == "binary":  # bin 0 background, bin 1 foreground
            pred, targ, n = (pred > 0).long(), (targ > 0).long(), 2
        # bin n collects targets outside [0, n): no host sync here, an error in compute
        targ = torch.where((targ >= 0) & (targ < n), targ, n)
        counts = torch.zeros(3, n + 1, dtype=torch.long, device=pred.device)
        counts[0].index_add_(0, targ, (pred == targ).long() * keep)
        counts[1].index_add_(0, pred, keep)
        counts[2].index_add_(0, targ, keep)
        if self.counts is not None and self.counts.shape != counts.shape:
            raise shape_error(
                self.name,
                f"preds with {self.counts.shape[1] - 1} classes like earlier batches",
                preds,
                targs,
                "give every batch the same number of class channels.",
            )
        self.counts = counts if self.counts is None else self.counts + counts

    def compute(self) -> float:
        """The overlap score (macro: mean over classes present; NaN when nothing is present)."""
        if self.counts is None:
            return float("nan")
        counts = self.counts.cpu()
        if counts[2, -1] > 0:
            n = counts.shape[1] - 1
            raise ValueError(
                f"{self.name} expected pixel targets in [0, {n}). Received: {int(counts[2, -1])} "
                "pixels outside that range. Fix: pass ignore_index= for a void code, or check "
                "that the model has one output channel per class."
            )
        inter, size_sum = counts[0, :-1].double(), (counts[1, :-1] + counts[2, :-1]).double()
        if self.average == "binary":
            inter, size_sum = inter[1:], size_sum[1:]
        present = size_sum > 0
        if not present.any():
            return float("nan")
        return float(self.score(inter[present], size_sum[present]).mean())

    def score(self, inter: Tensor, size_sum: Tensor) -> Tensor:
        """The score from intersections and summed sizes |P| + |T|."""
        raise NotImplementedError


class Dice(Overlap):
    """Dice coefficient 2|P∩T| / (|P| + |T|)."""

    name = "dice"

    def score(self, inter: Tensor, size_sum: Tensor) -> Tensor:
        """2 * intersection / summed sizes."""
        return 2 * inter / size_sum


class Jaccard(Overlap):
    """Jaccard index (IoU) |P∩T| / |P∪T|."""

    name = "jaccard_coeff"

    def score(self, inter: Tensor, size_sum: Tensor) -> Tensor:
        """Intersection over union."""
        return inter / (size_sum - inter)


class ForegroundAccuracy(Metric):
    """Pixel accuracy over pixels whose target is not `bkg_idx` (e.g. a void code)."""

    state_names = ("correct", "count")

    name = "foreground_acc"

    def __init__(self, bkg_idx: int = 0, *, axis: int = 1):
        self.bkg_idx, self.axis = bkg_idx, axis
        self.reset()

    def reset(self) -> None:
        """Forget the running counts."""
        self.correct: Tensor | int = 0
        self.count: Tensor | int = 0

    def update(self, preds: Tensor, targs: Tensor) -> None:
        """Add the batch's correct and counted pixels."""
        pred = preds.argmax(dim=self.axis)
        if pred.numel() != targs.numel():
            raise shape_error(
                self.name, "preds (B, C, H, W) and targs (B, H, W)", preds, targs, _PIXEL_FIX
            )
        pred, targ = pred.flatten(), targs.flatten()
        keep = targ != self.bkg_idx
        self.correct = self.correct + ((pred == targ) & keep).sum()
        self.count = self.count + keep.sum()

    def compute(self) -> float:
        """correct / counted pixels (NaN when no pixel counted)."""
        count = int(self.count)
        return float(self.correct) / count if count else float("nan")


def foreground_acc(
    preds: Tensor | int, targs: Tensor | None = None, bkg_idx: int = 0, axis: int = 1
) -> Tensor | ForegroundAccuracy:
    """Accuracy ignoring pixels of target `bkg_idx`; `foreground_acc(void_code)` gives the Metric.

    Called with tensors it is fastai's function over one batch; `as_metric(foreground_acc)`
    and `foreground_acc(void_code)` give a `ForegroundAccuracy`, exact over the whole set.
    """
    if targs is None:
        if isinstance(preds, Tensor):
            raise TypeError(
                "foreground_acc expected (preds, targs) tensors or one int void code. "
                "Received: preds only. Fix: call foreground_acc(preds, targs) or "
                "foreground_acc(void_code)."
            )
        return ForegroundAccuracy(bkg_idx=preds, axis=axis)
    metric = ForegroundAccuracy(bkg_idx=bkg_idx, axis=axis)
    metric.update(preds, targs)
    return metric.correct / metric.count
