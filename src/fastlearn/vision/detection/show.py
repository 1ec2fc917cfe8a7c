"""Images with their boxes drawn (matplotlib, imported only here).

    >>> show_boxes(x, [boxes], [labels], vocab=dls.vocab)          # boxes in [-1, 1]
    >>> show_detection_batch(dls, dls.train.one_batch(), path="batch.png")

Each class has its colour (tab10); a box's label is written at its top left corner, with its
score when given. Targets are drawn dashed and predictions solid where both are shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

from ...core.interpret import new_figure
from ...core.io import save_figure
from ..show import grid_shape, image_for_display, loader_images
from .postprocess import valid_targets

__all__ = ["show_boxes", "draw_boxes", "show_detection_batch"]

Figsize = tuple[float, float]


def draw_boxes(
    ax: Any,
    boxes: Tensor,
    labels: Sequence[str],
    hw: Sequence[int],
    *,
    classes: Sequence[int] | None = None,
    scores: Tensor | None = None,
    dashed: bool = False,
) -> None:
    """Draw boxes in [-1, 1] of an image of size `hw` on matplotlib axes `ax`."""
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    h, w = hw
    cmap = colormaps["tab10"]
    for j, box in enumerate(boxes.detach().cpu().float().tolist()):
        x0, y0, x1, y1 = (
            (box[0] + 1) * w / 2,
            (box[1] + 1) * h / 2,
            (box[2] + 1) * w / 2,
            (box[3] + 1) * h / 2,
        )
        color = cmap((classes[j] if classes is not None else 0) % 10)
        ax.add_patch(
            Rectangle(
                (x0, y0),
                x1 - x0,
                y1 - y0,
                fill=False,
                edgecolor=color,
                linewidth=1.5,
                linestyle="--" if dashed else "-",
            )
        )
        text = labels[j] if scores is None else f"{labels[j]} {float(scores[j]):.2f}"
        ax.text(
            x0,
            y0,
            text,
            color="white",
            fontsize=7,
            va="bottom",
            bbox={"facecolor": color, "alpha": 0.8, "pad": 1, "linewidth": 0},
        )


def show_boxes(
    images: Tensor | Sequence[Tensor],
    boxes: Sequence[Tensor],
    classes: Sequence[Tensor],
    *,
    vocab: Sequence[Any],
    scores: Sequence[Tensor] | None = None,
    targets: Sequence[tuple[Tensor, Tensor]] | None = None,
    titles: Sequence[str] | None = None,
    max_n: int | None = None,
    nrows: int | None = None,
    ncols: int | None = None,
    figsize: Figsize | None = None,
    dpi: int | None = None,
    path: str | Path | None = None,
) -> Any:
    """A grid of (C, H, W) images, each with its boxes (in [-1, 1]) labelled by class index
    into `vocab` (1.. for targets, as batches hold them; predictions as `classes + 1`), with
    `scores` and dashed `targets` (boxes, classes) when given. Returns the figure; saved as
    PNG at `path` (then no window opens)."""
    n = len(images) if max_n is None else min(len(images), max_n)
    if n < 1:
        raise ValueError("Expected at least one image to show. Received none.")
    nrows, ncols = grid_shape(n, nrows, ncols)
    n = min(n, nrows * ncols)
    fig = new_figure(figsize or (3 * ncols, 3 * nrows), dpi=dpi, use_pyplot=path is None)
    axes = fig.subplots(nrows, ncols, squeeze=False).flatten()
    for i, ax in enumerate(axes):
        if i >= n:
            ax.remove()
            continue
        ax.axis("off")
        ax.imshow(image_for_display(images[i]), cmap="gray", vmin=0, vmax=1)
        hw = tuple(images[i].shape[-2:])
        if targets is not None:
            t_boxes, t_cls = targets[i]
            draw_boxes(
                ax,
                t_boxes,
                [str(vocab[int(k)]) for k in t_cls],
                hw,
                classes=[int(k) for k in t_cls],
                dashed=True,
            )
        cls = [int(k) for k in classes[i]]
        draw_boxes(
            ax,
            boxes[i],
            [str(vocab[k]) for k in cls],
            hw,
            classes=cls,
            scores=None if scores is None else scores[i],
        )
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=dpi or 80)


def show_detection_batch(
    dls: Any, batch: Sequence[Tensor], *, dl: Any = None, max_n: int = 9, **kwargs: Any
) -> Any:
    """Draw a batch (images, boxes, labels) of `dl` (default `dls.train`) with its boxes and
    class names; padding and boxes cropped away are not drawn."""
    x, boxes, labels = batch[0][:max_n], batch[1][:max_n], batch[2][:max_n]
    images = loader_images(dl if dl is not None else dls.train, x)
    ok = valid_targets(boxes, labels)
    return show_boxes(
        images,
        [b[m] for b, m in zip(boxes, ok)],
        [lab[m] for lab, m in zip(labels, ok)],
        vocab=list(dls.vocab),
        max_n=max_n,
        **kwargs,
    )
