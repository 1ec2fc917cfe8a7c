"""Looking at ratings and inside a collab model: tables of ratings (and predictions), PCA of
the factors and the course's picture of films.

>>> dls.show_batch()                # user, item, rating of a batch (printed; a DataFrame)
>>> learn.show_results()            # ... and rating_pred, the model's prediction
>>> coords = pca(learn.model.i_weight.weight, k=3)  # (n_items, 3)
>>> learn.plot_item_pca(n=50, path="films.png")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..core.io import save_figure

if TYPE_CHECKING:
    import pandas as pd

    from ..core.data import DataLoader
    from .vocab import CollabVocab

__all__ = ["pca", "plot_pca_labels", "ratings_frame", "show_ratings"]


def ratings_frame(vocab: CollabVocab, x: torch.Tensor, y: torch.Tensor | None = None,
                  preds: torch.Tensor | None = None) -> pd.DataFrame:
    """(user index, item index) pairs `x` (N, 2), and their ratings `y` and predictions, as a
    table of raw ids with the ratings table's column names (predictions: `<rating>_pred`)."""
    import pandas as pd

    x = x.detach().cpu()
    columns = {vocab.user_name: vocab.users.decode(x[:, 0]),
               vocab.item_name: vocab.items.decode(x[:, 1])}
    if y is not None:
        columns[vocab.rating_name] = y.detach().cpu().float().reshape(-1).numpy()
    if preds is not None:
        columns[f"{vocab.rating_name}_pred"] = preds.detach().cpu().float().reshape(-1).numpy()
    return pd.DataFrame(columns)


def show_ratings(vocab: CollabVocab, dl: DataLoader, *, max_n: int = 10,
                 model: torch.nn.Module | None = None) -> pd.DataFrame:
    """Print and return `max_n` rows of the first batch of `dl`: user, item, rating and, with
    `model`, its predicted rating (computed in eval mode, the mode restored after)."""
    import pandas as pd

    x, y = (t[:max_n] for t in dl.one_batch()[:2])
    preds = None
    if model is not None:
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                preds = model(x)
        finally:
            model.train(was_training)
    frame = ratings_frame(vocab, x, y, preds)
    with pd.option_context("display.max_columns", None, "display.width", 120):
        print(frame.to_string(float_format=lambda v: f"{v:.2f}"))
    return frame


def pca(x: torch.Tensor, k: int = 3) -> torch.Tensor:
    """The rows of `x` (N, D) projected on its first `k` principal components, (N, k).

    The components come from the SVD of the centred rows; each is signed so that its largest
    loading is positive (scikit-learn's convention), so results are repeatable.

        >>> pca(torch.randn(100, 8), k=2).shape
        torch.Size([100, 2])
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 2:
        raise ValueError(
            f"Expected a 2-D tensor (rows, features). Received: "
            f"{getattr(x, 'shape', type(x).__name__)}."
        )
    if not 1 <= k <= min(x.shape):
        raise ValueError(
            f"Expected 1 <= k <= min(rows, features) = {min(x.shape)}. Received: k={k}."
        )
    x = x.detach()
    x = x if x.is_floating_point() else x.float()
    centred = x - x.mean(0)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)  # vh: (min(N, D), D)
    components = vh[:k]  # (k, D)
    largest = components.abs().argmax(1, keepdim=True)
    components = components * torch.sign(components.gather(1, largest))
    return centred @ components.T


def plot_pca_labels(
    coords: torch.Tensor,
    labels: Sequence[Any],
    *,
    axis_names: tuple[str, str] = ("component 1", "component 2"),
    title: str = "",
    path: str | Path | None = None,
    figsize: tuple[float, float] = (12, 12),
) -> Any:
    """Scatter `coords` (N, 2) and write each point's label next to it; save to `path`."""
    import matplotlib.pyplot as plt

    coords = coords.detach().cpu().float()
    if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) != len(labels):
        raise ValueError(
            f"Expected coords (N, 2) and N labels. Received: coords "
            f"{tuple(coords.shape)}, {len(labels)} labels."
        )
    fig, ax = plt.subplots(figsize=figsize)
    xs, ys = coords[:, 0].tolist(), coords[:, 1].tolist()
    ax.scatter(xs, ys, s=12, color="C0")
    colors = plt.get_cmap("tab10")
    for k, (x, y, label) in enumerate(zip(xs, ys, labels)):
        ax.annotate(
            str(label),
            (x, y),
            xytext=(3, 3),
            textcoords="offset points",
            fontsize=9,
            color=colors(k % 10),
        )
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    if title:
        ax.set_title(title)
    if path is not None:
        fig.tight_layout()
    return save_figure(fig, path)
