"""Classification metrics: accuracy functions, confusion-matrix scores, ROC-AUC, perplexity.

Every metric takes raw logits. Class predictions are the argmax over the class axis; a
single logit per target (preds shaped like targs, or (N, 1)) is a binary logit, class 1 when > 0.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import Metric, rankdata, safe_divide, shape_error, wide

__all__ = [
    "accuracy",
    "error_rate",
    "accuracy_multi",
    "Precision",
    "Recall",
    "FBeta",
    "F1Score",
    "BalancedAccuracy",
    "MatthewsCorrCoef",
    "RocAuc",
    "RocAucBinary",
    "Perplexity",
]

Average = Literal["binary", "macro", "micro", "weighted"]
_CLASS_FIX = (
    "targs must hold one class index per row of preds (shape (N,) for preds (N, C)); "
    "for segmentation logits (B, C, H, W) pass axis=1; for multi-label targets use accuracy_multi."
)


def accuracy(preds: Tensor, targs: Tensor, axis: int = -1) -> Tensor:
    """Fraction of rows whose argmax over `axis` equals the target class."""
    pred = preds.argmax(dim=axis)
    if pred.numel() != targs.numel():
        raise shape_error("accuracy", "preds (N, C) and targs (N,)", preds, targs, _CLASS_FIX)
    return (pred.flatten() == targs.flatten()).float().mean()


def error_rate(preds: Tensor, targs: Tensor, axis: int = -1) -> Tensor:
    """1 - accuracy."""
    return 1 - accuracy(preds, targs, axis=axis)


def accuracy_multi(
    preds: Tensor, targs: Tensor, thresh: float = 0.5, sigmoid: bool = True
) -> Tensor:
    """Multi-label accuracy: fraction of (row, label) pairs where `preds > thresh` matches."""
    if preds.numel() != targs.numel():
        raise shape_error(
            "accuracy_multi",
            "preds (N, L) and targs (N, L) of the same shape",
            preds,
            targs,
            "targs must be multi-hot, one column per label; for one class per row use accuracy.",
        )
    probs = preds.sigmoid() if sigmoid else preds
    return ((probs > thresh).flatten() == targs.flatten().bool()).float().mean()


def class_predictions(
    preds: Tensor, targs: Tensor, *, axis: int, metric: str
) -> tuple[Tensor, Tensor, int]:
    """Flat predicted classes, flat long targets and the number of classes."""
    if preds.numel() == targs.numel():  # one logit per target: binary
        pred, n_classes = (preds > 0).long(), 2
    else:
        pred, n_classes = preds.argmax(dim=axis), preds.shape[axis]
    if pred.numel() != targs.numel():
        raise shape_error(metric, "preds (N, C) and targs (N,)", preds, targs, _CLASS_FIX)
    return pred.flatten(), targs.flatten().long(), n_classes


class ConfusionMetric(Metric):
    """Base for metrics computed from the confusion matrix accumulated on device."""

    state_names = ("counts", "n_classes")

    def __init__(self, *, axis: int = -1):
        self.axis = axis
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated so far."""
        self.counts: Tensor | None = None  # (C*C + 1,): row-major cm[targ, pred], then invalid
        self.n_classes = 0

    def update(self, preds: Tensor, targs: Tensor) -> None:
        """Add one batch to the confusion matrix (targets outside [0, C) fail in `compute`)."""
        pred, targ, n = class_predictions(preds, targs, axis=self.axis, metric=self.name)
        self.check_classes(preds, targs, n)
        if self.counts is None:
            self.counts = torch.zeros(n * n + 1, dtype=torch.long, device=pred.device)
            self.n_classes = n
        elif n != self.n_classes:
            raise shape_error(
                self.name,
                f"preds with {self.n_classes} classes like earlier batches",
                preds,
                targs,
                "give every batch the same number of class columns.",
            )
        valid = (targ >= 0) & (targ < n)
        index = torch.where(valid, targ * n + pred, n * n)  # no sync: bad targets go last
        self.counts.index_add_(0, index, torch.ones_like(index))

    def merge(self, other: ConfusionMetric) -> None:
        """Add another process's confusion matrix (see `Metric.merge`); the class count stays."""
        if other.counts is None:
            return
        if self.counts is None:
            self.counts, self.n_classes = other.counts.clone(), other.n_classes
        elif other.n_classes != self.n_classes:
            raise ValueError(
                f"{self.name} can't merge {other.n_classes} classes into "
                f"{self.n_classes}. Fix: give every process the same model head."
            )
        else:
            self.counts = self.counts + other.counts.to(self.counts.device)

    def check_classes(self, preds: Tensor, targs: Tensor, n_classes: int) -> None:
        """Hook for subclasses that only accept some numbers of classes."""

    def confusion_matrix(self) -> Tensor | None:
        """The (C, C) float64 CPU matrix cm[target, prediction], or None before any update."""
        if self.counts is None:
            return None
        counts = self.counts.cpu()
        if counts[-1] > 0:
            raise ValueError(
                f"{self.name} expected targets in [0, {self.n_classes}). Received: "
                f"{int(counts[-1])} targets outside that range. Fix: encode targets as class "
                f"indices 0..{self.n_classes - 1} matching the model's output columns."
            )
        n = self.n_classes
        return counts[:-1].view(n, n).double()

    def compute(self) -> float:
        """The score from the accumulated confusion matrix (NaN before any update)."""
        cm = self.confusion_matrix()
        return float("nan") if cm is None else float(self.score(cm))

    def score(self, cm: Tensor) -> Tensor:
        """The metric from a (C, C) confusion matrix."""
        raise NotImplementedError


class FBeta(ConfusionMetric):
    """F-beta score; averages as sklearn ('macro' over classes present in targets or preds)."""

    name = "fbeta_score"

    def __init__(
        self, beta: float, average: Average = "binary", pos_label: int = 1, *, axis: int = -1
    ):
        if average not in ("binary", "macro", "micro", "weighted"):
            raise ValueError(
                f"{type(self).__name__} expected average in 'binary', 'macro', 'micro', "
                f"'weighted'. Received: {average!r}. Fix: pass one of those."
            )
        self.beta, self.average, self.pos_label = beta, average, pos_label
        super().__init__(axis=axis)

    def check_classes(self, preds: Tensor, targs: Tensor, n_classes: int) -> None:
        """average='binary' needs exactly two classes."""
        if self.average == "binary" and n_classes != 2:
            raise shape_error(
                f"{self.name} (average='binary')",
                "binary logits (N,), (N, 1) or (N, 2)",
                preds,
                targs,
                "pass average='macro', 'micro' or 'weighted' for multi-class.",
            )

    def per_class(self, tp: Tensor, fp: Tensor, fn: Tensor) -> Tensor:
        """The score of each class from its true positives, false positives, false negatives."""
        b2 = self.beta**2
        return safe_divide((1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp)

    def score(self, cm: Tensor) -> Tensor:
        """Per-class scores, averaged as `self.average` asks."""
        tp, support, predicted = cm.diag(), cm.sum(1), cm.sum(0)
        fp, fn = predicted - tp, support - tp
        if self.average == "micro":
            return self.per_class(tp.sum(), fp.sum(), fn.sum())
        scores = self.per_class(tp, fp, fn)
        if self.average == "binary":
            return scores[self.pos_label]
        if self.average == "weighted":
            return safe_divide((scores * support).sum(), support.sum())
        return scores[(support + predicted) > 0].mean()


class F1Score(FBeta):
    """F1 score (harmonic mean of precision and recall)."""

    name = "f1_score"

    def __init__(self, average: Average = "binary", pos_label: int = 1, *, axis: int = -1):
        super().__init__(1.0, average, pos_label, axis=axis)


class Precision(FBeta):
    """Precision: true positives over predicted positives."""

    name = "precision_score"

    def __init__(self, average: Average = "binary", pos_label: int = 1, *, axis: int = -1):
        super().__init__(0.0, average, pos_label, axis=axis)

    def per_class(self, tp: Tensor, fp: Tensor, fn: Tensor) -> Tensor:
        """tp / (tp + fp)."""
        return safe_divide(tp, tp + fp)


class Recall(FBeta):
    """Recall: true positives over actual positives."""

    name = "recall_score"

    def __init__(self, average: Average = "binary", pos_label: int = 1, *, axis: int = -1):
        super().__init__(1.0, average, pos_label, axis=axis)

    def per_class(self, tp: Tensor, fp: Tensor, fn: Tensor) -> Tensor:
        """tp / (tp + fn)."""
        return safe_divide(tp, tp + fn)


class BalancedAccuracy(ConfusionMetric):
    """Mean recall over the classes present in the targets."""

    name = "balanced_accuracy_score"

    def score(self, cm: Tensor) -> Tensor:
        """Mean of diag / row sums over rows with support."""
        support = cm.sum(1)
        return (cm.diag()[support > 0] / support[support > 0]).mean()


class MatthewsCorrCoef(ConfusionMetric):
    """Matthews correlation coefficient (multi-class form, as sklearn)."""

    name = "matthews_corrcoef"

    def score(self, cm: Tensor) -> Tensor:
        """Covariance of one-hot targets and predictions over the product of their spreads."""
        t_sum, p_sum, n = cm.sum(1), cm.sum(0), cm.sum()
        cov_tp = cm.trace() * n - t_sum @ p_sum
        cov_pp, cov_tt = n * n - p_sum @ p_sum, n * n - t_sum @ t_sum
        if cov_pp * cov_tt == 0:
            return torch.tensor(0.0)
        return cov_tp / torch.sqrt(cov_tt * cov_pp)


def binary_auc(scores: Tensor, positive: Tensor) -> float:
    """ROC-AUC as the Mann-Whitney statistic (ties count half); NaN without both classes."""
    n_pos = int(positive.sum())
    n_neg = positive.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    rank_sum = float(rankdata(scores)[positive].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


class RocAuc(Metric):
    """Multi-class ROC-AUC, one-vs-rest, macro mean over classes on softmax probabilities.

    Classes without both positives and negatives in the targets are left out of the mean.
    """

    state_names = ("scores", "targs")

    name = "roc_auc_score"

    def __init__(self, *, axis: int = -1):
        self.axis = axis
        self.reset()

    def reset(self) -> None:
        """Forget every stored score."""
        self.scores: list[Tensor] = []
        self.targs: list[Tensor] = []

    def update(self, preds: Tensor, targs: Tensor) -> None:
        """Store the batch's softmax probabilities and targets (detached, on device)."""
        if preds.ndim != 2 or preds.shape[0] != targs.numel():
            raise shape_error(self.name, "preds (N, C) and targs (N,)", preds, targs, _CLASS_FIX)
        self.scores.append(preds.detach().float().softmax(dim=self.axis))
        self.targs.append(targs.detach().flatten())

    def compute(self) -> float:
        """Mean one-vs-rest AUC over classes (NaN before any update)."""
        if not self.scores:
            return float("nan")
        probs, targs = torch.cat(self.scores).cpu(), torch.cat(self.targs).cpu()
        aucs = torch.tensor([binary_auc(probs[:, c], targs == c) for c in range(probs.shape[1])])
        aucs = aucs[~aucs.isnan()]
        return float(aucs.mean()) if aucs.numel() else float("nan")


class RocAucBinary(RocAuc):
    """Binary ROC-AUC on softmax[:, 1] of (N, 2) logits, or sigmoid of (N,) / (N, 1) logits."""

    def update(self, preds: Tensor, targs: Tensor) -> None:
        """Store the batch's positive-class probabilities and targets."""
        if preds.ndim == 2 and preds.shape[1] == 2 and preds.shape[0] == targs.numel():
            scores = preds.detach().float().softmax(dim=-1)[:, 1]
        elif preds.numel() == targs.numel():
            scores = preds.detach().float().sigmoid().flatten()
        else:
            raise shape_error(
                self.name,
                "preds (N, 2), (N, 1) or (N,) and targs (N,)",
                preds,
                targs,
                "binary targets are 0/1 per row; for more classes use RocAuc.",
            )
        self.scores.append(scores)
        self.targs.append(targs.detach().flatten())

    def compute(self) -> float:
        """AUC of the positive class (NaN without both classes)."""
        if not self.scores:
            return float("nan")
        scores, targs = torch.cat(self.scores).cpu(), torch.cat(self.targs).cpu()
        return binary_auc(scores, targs == 1)


class Perplexity(Metric):
    """exp of the mean cross-entropy over all tokens; preds (B, T, V) logits, targs (B, T)."""

    state_names = ("total", "count")

    name = "perplexity"

    def __init__(self, *, ignore_index: int = -100):
        self.ignore_index = ignore_index
        self.reset()

    def reset(self) -> None:
        """Forget the running loss and token count."""
        self.total: Tensor | float = 0.0
        self.count: Tensor | float = 0

    def update(self, preds: Tensor, targs: Tensor) -> None:
        """Add the batch's summed token cross-entropy and its number of counted tokens."""
        vocab = preds.shape[-1]
        if preds.numel() != targs.numel() * vocab:
            raise shape_error(
                self.name,
                "preds (B, T, V) and targs (B, T)",
                preds,
                targs,
                "targs hold one token index per position of preds without the vocab axis.",
            )
        logits, targ = preds.detach().reshape(-1, vocab).float(), targs.reshape(-1).long()
        loss = F.cross_entropy(logits, targ, ignore_index=self.ignore_index, reduction="sum")
        self.total = self.total + wide(loss)
        self.count = self.count + (targ != self.ignore_index).sum()

    def compute(self) -> float:
        """exp(total loss / tokens) (NaN before any token)."""
        count = int(self.count)
        return float(torch.exp(self.total / count)) if count else float("nan")
