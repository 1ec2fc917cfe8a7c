"""Grids of images with their labels or masks (matplotlib, imported only here).

    >>> dls.show_batch(nrows=1, ncols=3)                 # returns the matplotlib figure
    >>> dls.train.show_batch(max_n=8, nrows=2, unique=True)   # one image, augmented 8 times
    >>> dls.show_batch(max_n=9, path="batch.png")        # saved, no window needed
    >>> show_images(x, titles=["cat", "dog"], ncols=2)   # float (N, C, H, W) in [0, 1]
    >>> show_image(x[0], title="cat")                    # one image; returns its axes

The grid follows fastai: `min(max_n, nrows * ncols)` images; with only `nrows` (or `ncols`)
the other is what `max_n` needs; with neither, a near-square grid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Subset

from ..core.interpret import new_figure
from ..core.io import save_figure

if TYPE_CHECKING:
    from ..core.data import DataLoader, DataLoaders

__all__ = [
    "show_images",
    "show_image",
    "show_image_batch",
    "show_image_loader",
    "image_for_display",
    "decode_target",
    "grid_shape",
    "loader_images",
    "task_of",
]

Figsize = tuple[float, float]


def grid_shape(n: int, nrows: int | None = None, ncols: int | None = None) -> tuple[int, int]:
    """(rows, columns) of a grid for `n` images, as fastai's `get_grid` chooses them."""
    for name, value in (("nrows", nrows), ("ncols", ncols)):
        if value is not None and value < 1:
            raise ValueError(f"Expected {name} >= 1 or None. Received: {name}={value}.")
    if nrows is not None:
        return nrows, ncols or math.ceil(n / nrows)
    if ncols is not None:
        return math.ceil(n / ncols), ncols
    rows = max(1, int(math.sqrt(n)))
    return rows, math.ceil(n / rows)


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
    max_n: int | None = None,
    nrows: int | None = None,
    ncols: int | None = None,
    figsize: Figsize | None = None,
    dpi: int | None = None,
    path: str | Path | None = None,
    title_colors: Sequence[str] | None = None,
    n_codes: int | None = None,
    alpha: float = 0.5,
) -> Any:
    """Draw (C, H, W) images in a grid, titled, masks overlaid; returns the figure.

    Shows `min(len(images), max_n, nrows * ncols)` images, one axes each (`fig.axes`).
    `title_colors` colours each title (e.g. green right, red wrong). Saved as PNG at `path`
    if given: then a bare matplotlib Figure is used and no window opens; without `path`,
    pyplot draws it (a notebook shows it).
    """
    n = len(images) if max_n is None else min(len(images), max_n)
    if n < 1:
        raise ValueError(
            "Expected at least one image to show. Received none (an empty batch, or max_n=0)."
        )
    nrows, ncols = grid_shape(n, nrows, ncols)
    n = min(n, nrows * ncols)
    fig = new_figure(figsize or (3 * ncols, 3 * nrows), dpi=dpi, use_pyplot=path is None)
    axes = fig.subplots(nrows, ncols, squeeze=False).flatten()
    for i, ax in enumerate(axes):
        if i >= n:
            ax.remove()  # fig.axes then holds exactly the images shown
            continue
        ax.axis("off")
        ax.imshow(image_for_display(images[i]), cmap="gray", vmin=0, vmax=1)
        if masks is not None:
            m = masks[i].detach().cpu().numpy()
            ax.imshow(
                m,
                cmap="tab20",
                alpha=alpha,
                interpolation="nearest",
                vmin=0,
                vmax=max(n_codes or int(m.max()) + 1, 2) - 1,
            )
        if titles is not None:
            color = title_colors[i] if title_colors is not None else "black"
            ax.set_title(str(titles[i]), fontsize=10, color=color)
    fig.tight_layout()
    return save_figure(fig, path, dpi=dpi or 80)


def show_image(
    im: Any,
    ax: Any = None,
    figsize: Figsize | None = None,
    title: str | None = None,
    cmap: str | None = None,
    *,
    ctx: Any = None,
    **kwargs: Any,
) -> Any:
    """Draw one image on `ax` (or `ctx`, or a new figure) and return the axes (fastai's).

    `im`: a tensor (C, H, W) or (H, W), a numpy array (H, W) or (H, W, C), or a Pillow image.
    Float tensors with 3 or 4 channels are clipped to [0, 1]; one-channel images use `cmap`
    ('Greys' by default, as fastai draws MNIST digits). Other keywords go to `imshow`.

        >>> ax = show_image(torch.rand(3, 28, 28), title="noise")
    """
    arr = _as_display_array(im)
    if arr.ndim == 2:
        kwargs.setdefault("cmap", cmap or "Greys")
    elif cmap is not None:
        kwargs["cmap"] = cmap
    ax = ax if ax is not None else ctx
    if ax is None:
        import matplotlib.pyplot as plt

        h, w = arr.shape[:2]
        size = figsize or (_fig_bound(w), _fig_bound(h))
        ax = plt.figure(figsize=size).subplots()
    ax.imshow(arr, **kwargs)
    if title is not None:
        ax.set_title(str(title))
    ax.axis("off")
    return ax


def _fig_bound(x: int) -> float:
    """fastai's figure side for an image side of `x` pixels: 1 to 5 inches."""
    return min(5.0, max(1.0, x / 70))


def _as_display_array(im: Any) -> np.ndarray:
    """(H, W) or (H, W, C) array of an image given as a tensor, an array or a Pillow image."""
    if isinstance(im, Tensor):
        x = im.detach().cpu()
        if x.ndim == 3 and x.shape[0] <= 4:  # (C, H, W)
            x = x.permute(1, 2, 0)
        if x.is_floating_point() and x.ndim == 3:
            x = x.float().clamp(0, 1)
        arr = x.numpy()
    else:
        arr = np.asarray(im)  # Pillow images and array-likes
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (2, 3, 4)):
        raise ValueError(
            f"Expected an image: (C, H, W) or (H, W) tensor, (H, W[, C]) array "
            f"or Pillow image. Received: {type(im).__name__} of shape "
            f"{tuple(arr.shape)}."
        )
    if arr.ndim == 3 and arr.shape[-1] == 2:  # grey + alpha: the grey
        arr = arr[..., 0]
    return arr


def task_of(dls: Any) -> str:
    """The task of image loaders: ImageDataLoaders (and DataBlock loaders) carry `task`; the
    core DataLoaders over tensors that the vision helpers also accept are classification."""
    return getattr(dls, "task", None) or "classification"


def decode_target(dls: Any, y: Tensor) -> str:
    """One target as text: its class, its classes joined by ';', or its numbers."""
    task = task_of(dls)
    if task == "classification" and dls.vocab is not None and not y.is_floating_point():
        return str(dls.vocab[int(y)])
    if task == "multi_label":
        return ";".join(str(dls.vocab[i]) for i in torch.nonzero(y).flatten().tolist())
    return ", ".join(f"{v:.3g}" for v in y.detach().cpu().reshape(-1).tolist())


def loader_images(dl: DataLoader, x: Tensor) -> Tensor:
    """Model inputs of `dl` back to images for drawing: its `Normalize` undone, on the CPU."""
    from .augment import Normalize

    norm = next((t for t in dl.batch_tfms if isinstance(t, Normalize)), None)
    if norm is not None and x.is_floating_point():
        x = norm.decode(x.detach().float()).clamp(0, 1)
    return x.detach().cpu()


def show_image_batch(
    dls: Any,
    batch: Sequence[Tensor],
    *,
    dl: DataLoader | None = None,
    max_n: int = 9,
    nrows: int | None = None,
    ncols: int | None = None,
    figsize: Figsize | None = None,
    dpi: int | None = None,
    path: str | Path | None = None,
) -> Any:
    """Draw a batch of `dl` (default `dls.train`): images de-normalised, targets decoded.

    `dls` gives the classes and the task (an ImageDataLoaders, or core DataLoaders).
    """
    grid = dict(nrows=nrows, ncols=ncols, figsize=figsize, dpi=dpi, path=path)
    if task_of(dls) == "detection":  # boxes drawn over the images, with their class names
        from .detection.show import show_detection_batch

        return show_detection_batch(dls, batch, dl=dl, max_n=max_n, **grid)
    x = loader_images(dl if dl is not None else dls.train, batch[0][:max_n])
    if task_of(dls) == "segmentation":
        n_codes = len(dls.vocab) if dls.vocab is not None else None
        return show_images(x, None, batch[1][:max_n], n_codes=n_codes, **grid)
    titles = [decode_target(dls, y) for y in batch[1][:max_n]] if len(batch) > 1 else None
    return show_images(x, titles, **grid)


def show_image_loader(
    dls: DataLoaders,
    dl: DataLoader,
    *,
    max_n: int = 9,
    nrows: int | None = None,
    ncols: int | None = None,
    figsize: Figsize | None = None,
    dpi: int | None = None,
    unique: bool = False,
    path: str | Path | None = None,
) -> Any:
    """Draw a batch of the loader `dl` of `dls`; returns the figure.

    `unique=True` shows the loader's first image `max_n` times, each drawn through the
    loader's transforms on its own (on the training loader: as many different augmentations).
    """
    batch = _unique_batch(dl, max_n) if unique else dl.one_batch()
    return show_image_batch(
        dls,
        batch,
        dl=dl,
        max_n=max_n,
        nrows=nrows,
        ncols=ncols,
        figsize=figsize,
        dpi=dpi,
        path=path,
    )


def _unique_batch(dl: DataLoader, n: int) -> Any:
    """A batch of `n` copies of the loader's first item, each transformed separately."""
    if dl.dataset is None or len(dl.dataset) == 0:
        raise ValueError(
            "show_batch(unique=True) repeats the loader's first item. Received a "
            "loader without a dataset (a wrapped torch loader) or an empty one. "
            "Fix: build the loaders from a dataset, or drop unique=True."
        )
    same = dl.new(
        dataset=Subset(dl.dataset, [0] * n),
        bs=n,
        shuffle=False,
        sampler=None,
        drop_last=False,
        num_workers=0,
    )
    return same.one_batch()
