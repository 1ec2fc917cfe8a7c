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


def ratings_frame(
    vocab: CollabVocab,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    preds: torch.Tensor | None = None,
) -> pd.DataFrame:
    """(user index, item index) pairs `x` (N, 2), and their ratings `y` and predictions, as a
    table of raw ids with the ratings table's column names (predictions: `<rating>_pred`)."""
    import pandas as pd

    x = x.detach().cpu()
    columns = {
        vocab.user_name: vocab.users.decode(x[:, 0]),
        vocab.item_name: vocab.items.decode(x[:, 1]),
    }
    if y is not None:
        columns[vocab.rating_name] = y.detach().cpu().float().reshape(-1).numpy()
    if preds is not None:
        columns[f"{vocab.rating_name}_pred"] = preds.detach().cpu().float().reshape(-1).numpy()
    return pd.DataFrame(columns)


def show_ratings(
    vocab: CollabVocab, dl: DataLoader, *, max_n: int = 10, model: torch.nn.Module | None = None
) -> pd.DataFrame:
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
    fontsize: float = 9,
) -> Any:
    """Scatter `coords` (N, 2) with each point's label beside it; save to `path`.

    Labels never overlap one another, cover another point or leave the axes: the most
    extreme items of each component are placed first, each at the first free spot among
    positions around its point at growing distances (a thin line links it when it moved
    away); a label with no free spot is left out, and a note under the plot says how many.
    """
    from ..core.interpret import new_figure

    coords = coords.detach().cpu().float()
    if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) != len(labels):
        raise ValueError(
            f"Expected coords (N, 2) and N labels. Received: coords "
            f"{tuple(coords.shape)}, {len(labels)} labels."
        )
    fig = new_figure(figsize, use_pyplot=path is None)
    ax = fig.subplots()
    ax.scatter(coords[:, 0].tolist(), coords[:, 1].tolist(), s=14, color="C0", zorder=2)
    ax.margins(0.06)
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    if title:
        ax.set_title(title)
    fig.tight_layout()  # the axes' final place: labels are fitted inside it
    left_out = _place_labels(ax, coords, [str(label) for label in labels], fontsize)
    if left_out:
        fig.text(
            0.99,
            0.005,
            f"{left_out} of {len(labels)} labels left out (no room without overlapping)",
            ha="right",
            va="bottom",
            fontsize=8,
            color="0.4",
        )
    return save_figure(fig, path)


def _extreme_first(coords: torch.Tensor) -> list[int]:
    """Indices, the items at the ends of either component first (round robin over the four
    ends: low and high on each axis), the middle of the cloud last."""
    ranks = [
        coords[:, axis].argsort(descending=descending, stable=True).argsort(stable=True)
        for axis in (0, 1)
        for descending in (False, True)
    ]
    best = torch.stack(ranks).min(0).values  # (N,): 0 for the most extreme of some end
    return torch.argsort(best * 4 + torch.stack(ranks).argmin(0), stable=True).tolist()


_DIRECTIONS = [(1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)]
_GAPS = (3, 8, 16, 26, 40)  # distances tried from a point to its label, in points


def _place_labels(ax: Any, coords: torch.Tensor, labels: list[str], fontsize: float) -> int:
    """Write each label at a free spot near its point (see plot_pca_labels); returns how
    many found none."""
    import numpy as np

    fig = ax.figure
    renderer, scale = _renderer(fig), fig.dpi / 72  # pixels per point
    points = ax.transData.transform(coords.numpy())  # (N, 2) in display pixels
    to_data = ax.transData.inverted().transform
    frame = ax.get_window_extent(renderer)
    bounds = (frame.x0 + 2, frame.y0 + 2, frame.x1 - 2, frame.y1 - 2)
    dot = 4 * scale  # half the side of the box kept clear around every point
    taken = np.concatenate([points - dot, points + dot], axis=1)  # (N + placed, 4)
    left_out = 0
    for i in _extreme_first(coords):
        text = ax.text(0, 0, labels[i], fontsize=fontsize, color="0.1", va="bottom", zorder=3)
        size = text.get_window_extent(renderer)
        spot = _free_spot(points[i], (size.width, size.height), taken, bounds, scale, i)
        if spot is None:
            text.remove()
            left_out += 1
            continue
        box, gap = spot
        taken = np.vstack([taken, box])
        text.set_position(to_data(box[:2]))
        if gap > _GAPS[1]:  # moved away: a thin line to the nearest point of its box
            near = np.clip(points[i], box[:2], box[2:])
            ax.plot(*to_data(np.stack([points[i], near])).T, color="0.6", lw=0.6, zorder=1)
    return left_out


def _free_spot(
    point: Any,
    size: tuple[float, float],
    taken: Any,
    bounds: tuple[float, float, float, float],
    scale: float,
    own: int,
) -> tuple[Any, float] | None:
    """The first box (x0, y0, x1, y1) of `size` pixels beside `point`, at growing distances in
    eight directions, inside `bounds` and clear of every box in `taken` but `taken[own]` (the
    point's own); with the distance in points. None when there is no such box."""
    import numpy as np

    (x, y), (width, height) = point, size
    others = np.ones(len(taken), dtype=bool)
    others[own] = False
    for gap in _GAPS:
        r = gap * scale
        for dx, dy in _DIRECTIONS:
            x0 = x + r if dx > 0 else x - r - width if dx < 0 else x - width / 2
            y0 = y + r if dy > 0 else y - r - height if dy < 0 else y - height / 2
            box = np.array([x0, y0, x0 + width, y0 + height])
            inside = (
                box[0] >= bounds[0]
                and box[1] >= bounds[1]
                and box[2] <= bounds[2]
                and box[3] <= bounds[3]
            )
            hits = (
                (taken[:, 0] < box[2])
                & (taken[:, 2] > box[0])
                & (taken[:, 1] < box[3])
                & (taken[:, 3] > box[1])
                & others
            )
            if inside and not hits.any():
                return box, gap
    return None


def _renderer(fig: Any) -> Any:
    """A renderer to measure text with: the figure's own canvas when it draws with Agg (pyplot's
    and notebooks' backends), else an Agg canvas attached to a bare Figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    return canvas.get_renderer()
