"""Which images the detector gets most wrong: the loss per image, and those images drawn.

>>> interp = DetectionInterpretation.from_learner(learn)
>>> interp.top_losses(5)                 # (losses, indices into the validation set)
>>> interp.plot_top_losses(6, path="worst.png")   # targets dashed, detections solid
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ..show import loader_images
from .loss import FCOSLoss
from .postprocess import split_targets, valid_targets
from .show import show_boxes

if TYPE_CHECKING:
    from ...core.data import DataLoader
    from .learner import DetectionLearner

__all__ = ["DetectionInterpretation"]


class DetectionInterpretation:
    """The FCOS loss of each image of a loader (each normalised by its own boxes), in the
    loader's order; `plot_top_losses` draws the worst with their targets and detections."""

    def __init__(
        self, learn: DetectionLearner, dl: DataLoader, losses: Tensor, n_boxes: Tensor
    ) -> None:
        self.learn, self.dl, self.losses, self.n_boxes = learn, dl, losses, n_boxes

    @classmethod
    def from_learner(
        cls, learn: DetectionLearner, ds_idx: int = 1, dl: DataLoader | None = None
    ) -> DetectionInterpretation:
        """Run the model over `dl` (default the validation loader), one loss per image."""
        dl = dl if dl is not None else learn.dls[ds_idx]
        loss_func = FCOSLoss(reduction="none")
        losses, counts = [], []
        learn.model.eval()
        with torch.no_grad():
            for x, boxes, labels in dl:
                losses.append(loss_func(learn.model(x), boxes, labels).cpu())
                counts.append(valid_targets(boxes, labels).sum(1).cpu())
        return cls(learn, dl, torch.cat(losses), torch.cat(counts))

    def top_losses(self, k: int | None = None) -> tuple[Tensor, Tensor]:
        """(losses, indices) of the `k` worst images (all, sorted, when k is None)."""
        return self.losses.topk(len(self.losses) if k is None else min(k, len(self.losses)))

    def _rows(self, indices: list[int]) -> tuple[list[Tensor], ...]:
        """The images (as loaded, normalised), boxes and labels at `indices`."""
        wanted, start = {i: None for i in indices}, 0
        for x, boxes, labels in self.dl:
            for j in range(len(x)):
                if start + j in wanted:
                    wanted[start + j] = (x[j], boxes[j], labels[j])
            start += len(x)
            if all(v is not None for v in wanted.values()):
                break
        return tuple(list(col) for col in zip(*(wanted[i] for i in indices)))

    def plot_top_losses(
        self,
        k: int = 6,
        *,
        min_score: float = 0.3,
        nrows: int | None = None,
        ncols: int | None = None,
        figsize: tuple[float, float] | None = None,
        dpi: int | None = None,
        path: str | Path | None = None,
    ) -> Any:
        """Draw the `k` worst images: targets dashed, detections (score >= `min_score`)
        solid, titled with the loss and the number of target boxes; returns the figure."""
        losses, idx = self.top_losses(k)
        x, boxes, labels = self._rows(idx.tolist())
        x = torch.stack(x)
        dets = self.learn.detect_batch(x)
        kept = [(b[s >= min_score], c[s >= min_score] + 1, s[s >= min_score]) for b, s, c in dets]
        targets = [split_targets(b[None], c[None])[0] for b, c in zip(boxes, labels)]
        targets = [(b, c + 1) for b, c in targets]
        counts = [int(self.n_boxes[i]) for i in idx]
        titles = [
            f"loss {float(v):.2f}, {n} box{'' if n == 1 else 'es'}" for v, n in zip(losses, counts)
        ]
        return show_boxes(
            loader_images(self.dl, x),
            [d[0] for d in kept],
            [d[1] for d in kept],
            scores=[d[2] for d in kept],
            vocab=list(self.learn.dls.vocab),
            targets=targets,
            titles=titles,
            nrows=nrows,
            ncols=ncols,
            figsize=figsize,
            dpi=dpi,
            path=path,
        )
