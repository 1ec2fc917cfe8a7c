"""Interpretation shared by the applications: confusion matrix, most confused, top losses."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .io import save_figure

if TYPE_CHECKING:
    from .learner import Learner

__all__ = ["confusion_matrix", "ClassificationInterpretation", "new_figure"]


def confusion_matrix(preds: torch.Tensor, targs: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Counts[i, j]: items of actual class i predicted as class j."""
    idx = targs.long().flatten() * n_classes + preds.long().flatten()
    return torch.bincount(idx, minlength=n_classes**2).reshape(n_classes, n_classes)


class ClassificationInterpretation:
    """Where a classifier goes wrong, on the validation set (or any loader)."""

    def __init__(
        self,
        learn: Learner,
        probs: torch.Tensor,
        targs: torch.Tensor,
        losses: torch.Tensor,
        dl: Any,
    ) -> None:
        self.learn, self.probs, self.targs, self.losses, self.dl = learn, probs, targs, losses, dl
        self.decoded = probs.argmax(dim=-1)
        self.vocab = (
            list(learn.dls.vocab)
            if learn.dls.vocab is not None
            else [str(i) for i in range(probs.shape[-1])]
        )

    @classmethod
    def from_learner(
        cls, learn: Learner, ds_idx: int = 1, dl: Any = None
    ) -> ClassificationInterpretation:
        """Predictions and per-item losses of `learn` over a loader."""
        dl = dl if dl is not None else learn.dls[ds_idx]
        probs, targs, losses = learn.get_preds(dl=dl, with_loss=True)
        return cls(learn, probs, targs, losses, dl)

    def confusion_matrix(self) -> torch.Tensor:
        """(n_classes, n_classes) counts: rows actual, columns predicted."""
        return confusion_matrix(self.decoded, self.targs, len(self.vocab))

    def most_confused(self, min_val: int = 1) -> list[tuple[str, str, int]]:
        """(actual, predicted, count) for off-diagonal cells, most frequent first."""
        cm = self.confusion_matrix()
        cells = [
            (self.vocab[i], self.vocab[j], int(cm[i, j]))
            for i in range(len(self.vocab))
            for j in range(len(self.vocab))
            if i != j and cm[i, j] >= min_val
        ]
        return sorted(cells, key=lambda c: -c[2])

    def top_losses(self, k: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The k largest per-item losses and their indices in the loader's dataset."""
        k = len(self.losses) if k is None else min(k, len(self.losses))
        return self.losses.topk(k)

    def print_confusion_matrix(self) -> str:
        """The matrix as a text table."""
        cm = self.confusion_matrix()
        width = max(6, max(len(v) for v in self.vocab) + 1)
        lines = [" " * width + "".join(f"{v:>{width}}" for v in self.vocab)]
        for i, v in enumerate(self.vocab):
            lines.append(f"{v:>{width}}" + "".join(f"{int(c):>{width}}" for c in cm[i]))
        return "\n".join(lines)

    def plot_confusion_matrix(
        self,
        normalize: bool = False,
        title: str = "Confusion matrix",
        cmap: str = "Blues",
        norm_dec: int = 2,
        plot_txt: bool = True,
        *,
        figsize: tuple[float, float] | None = None,
        dpi: int | None = None,
        path: str | Path | None = None,
    ) -> Any:
        """Draw the matrix (rows actual, columns predicted) with counts in the cells.

        `normalize` divides each row by its total (shown with `norm_dec` decimals);
        `plot_txt=False` leaves the cells empty. Saved to `path` if given; returns the figure.

            >>> interp.plot_confusion_matrix(figsize=(12, 12), dpi=60)
        """
        cm = self.confusion_matrix().float()
        if normalize:
            cm = cm / cm.sum(dim=1, keepdim=True).clamp(min=1)
        n = len(self.vocab)
        side = max(4, 0.6 * n + 2)
        fig = new_figure(figsize or (side, side), dpi=dpi, use_pyplot=path is None)
        ax = fig.subplots()
        ax.imshow(cm.numpy(), cmap=cmap, interpolation="nearest")
        ax.set_xticks(range(n), self.vocab, rotation=90)
        ax.set_yticks(range(n), self.vocab)
        ax.set_xlabel("Predicted")
        ax.set_ylabel("Actual")
        ax.set_title(title)
        if plot_txt:
            threshold = float(cm.max()) / 2
            for i in range(n):
                for j in range(n):
                    value = f"{cm[i, j]:.{norm_dec}f}" if normalize else f"{int(cm[i, j])}"
                    ax.text(
                        j,
                        i,
                        value,
                        ha="center",
                        va="center",
                        color="white" if cm[i, j] > threshold else "black",
                    )
        fig.tight_layout()
        return save_figure(fig, path, dpi=dpi or 100)


def new_figure(
    figsize: tuple[float, float], *, dpi: int | None = None, use_pyplot: bool = True
) -> Any:
    """A matplotlib figure: a pyplot one (a notebook shows it) or, when it is only saved to a
    file, a bare `Figure` (no window, nothing left in pyplot's list of open figures)."""
    if use_pyplot:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=figsize, dpi=dpi)
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=dpi)
