"""Grids of images with their labels or masks (matplotlib, imported only here).

    >>> dls.show_batch(max_n=9, path="batch.png")       # saved, no window needed
    >>> show_images(x, titles=["cat", "dog"], ncols=2)  # float (N, C, H, W) in [0, 1]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..core.io import save_figure

__all__ = ["show_images", "show_image_batch", "image_for_display"]


def image_for_display(x: Tensor) -> Any:
    """A (C, H, W) image (uint8, or float in [0, 1]) as an array matplotlib draws.

    One or two channels show the first in grey; four show the first three (alpha dropped).
    """
    x = x.detach().cpu()
    x = x.float() / 255 if not x.is_floating_point() else x.float()
    x = x.clamp(0, 1)
    return x[0].numpy() if x.shape[0] < 3 else x[:3].permute(1, 2, 0).numpy()


def show_images(
    images: Tensor | Sequence[Tensor],
    titles: Sequence[str] | None = None,
    masks: Tensor | Sequence[Tensor] | None = None,
    *,
    ncols: int = 3,
    path: str | Path | None = None,
    figsize: tuple[float, float] | None = None,
    n_codes: int | None = None,
    alpha: float = 0.5,
) -> Any:
    """Draw images in a grid, titled, with masks overlaid; saved as PNG at `path` if given.

    Without `path`, pyplot draws the figure (a notebook shows it); with `path`, a bare
    matplotlib Figure is saved and no window opens.
    """
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    figsize = figsize or (3 * ncols, 3 * nrows)
    fig = _figure(figsize, use_pyplot=path is None)
    axes = fig.subplots(nrows, ncols, squeeze=False).flatten()
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(image_for_display(images[i]), cmap="gray", vmin=0, vmax=1)
        if masks is not None:
            m = masks[i].detach().cpu().numpy()
            ax.imshow(m, cmap="tab20", alpha=alpha, interpolation="nearest", vmin=0,
                      vmax=max(n_codes or int(m.max()) + 1, 2) - 1)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=80)


def _figure(figsize: tuple[float, float], use_pyplot: bool) -> Any:
    if use_pyplot:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=figsize)
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def show_image_batch(
    dls: Any, batch: Sequence[Tensor], *, max_n: int = 9, ncols: int = 3,
    path: str | Path | None = None, figsize: tuple[float, float] | None = None,
) -> Any:
    """Draw a batch of `dls` (an ImageDataLoaders): images de-normalised, targets decoded."""
    x = batch[0][:max_n]
    if dls.normalize is not None and x.is_floating_point():
        x = dls.normalize.decode(x)
    if dls.task == "segmentation":
        n_codes = len(dls.vocab) if dls.vocab is not None else None
        return show_images(x, None, batch[1][:max_n], ncols=ncols, path=path, figsize=figsize,
                           n_codes=n_codes)
    titles = [decode_target(dls, y) for y in batch[1][:max_n]] if len(batch) > 1 else None
    return show_images(x, titles, ncols=ncols, path=path, figsize=figsize)


def decode_target(dls: Any, y: Tensor) -> str:
    """One target as text: its class, its classes joined by ';', or its numbers."""
    if dls.task == "classification":
        return str(dls.vocab[int(y)])
    if dls.task == "multi_label":
        return ";".join(str(dls.vocab[i]) for i in torch.nonzero(y).flatten().tolist())
    return ", ".join(f"{v:.3g}" for v in y.detach().cpu().reshape(-1).tolist())
