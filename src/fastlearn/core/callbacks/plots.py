"""The Recorder's plots (matplotlib imported only when one is drawn)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..io import save_figure

__all__ = ["plot_loss", "plot_sched", "plot_lr_find"]


def plot_loss(
    losses: Sequence[float],
    values: Sequence[Sequence[float]],
    skip_start: int = 5,
    with_valid: bool = True,
    path: str | Path | None = None,
) -> Any:
    """Smoothed training loss per batch and, from `values` rows, validation loss per epoch."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(range(skip_start, len(losses)), losses[skip_start:], label="train")
    if with_valid and values and len(values[0]) > 1:
        n_iter = len(losses) // max(len(values), 1)
        xs = [(i + 1) * n_iter for i in range(len(values))]
        ax.plot(xs, [v[1] for v in values], "o-", label="valid")
    ax.set_xlabel("batches")
    ax.set_ylabel("loss")
    ax.legend()
    return _finish(fig, path)


def plot_sched(lrs: Sequence[float], moms: Sequence[float], path: str | Path | None = None) -> Any:
    """Learning rate and momentum per batch."""
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 2, figsize=(10, 4))
    axs[0].plot(lrs)
    axs[0].set_title("learning rate (last group)")
    axs[1].plot(moms)
    axs[1].set_title("momentum")
    for ax in axs:
        ax.set_xlabel("batches")
    return _finish(fig, path)


def plot_lr_find(finder: Any, suggestions: Any = None, path: str | Path | None = None) -> Any:
    """Loss against learning rate (log scale) with the suggestions marked."""
    import matplotlib.pyplot as plt

    lrs, losses = finder.trimmed()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(lrs, losses)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss (smoothed)")
    if suggestions is not None:
        for (name, lr), color in zip(suggestions._asdict().items(), ["C1", "C2", "C3"]):
            y = losses[min(range(len(lrs)), key=lambda i: abs(math.log(lrs[i] / lr)))]
            ax.plot([lr], [y], "o", color=color, label=f"{name}: {lr:.2e}")
        ax.legend()
    return _finish(fig, path)


def _finish(fig: Any, path: str | Path | None) -> Any:
    if path is not None:
        fig.tight_layout()
    return save_figure(fig, path)
