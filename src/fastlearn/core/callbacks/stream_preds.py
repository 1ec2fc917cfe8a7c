"""Predictions over a large set without holding them all: reduced batch by batch, or written
to disk batch by batch (`Learner.get_preds(..., reduce=fn)` / `get_preds(..., save_to=folder)`).

    correct = learn.get_preds(reduce=lambda probs, targs: probs.argmax(1) == targs)
    files = learn.get_preds(save_to="preds/")        # preds/batch_000000.pt, ...
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..callback import Callback
from ..distributed import is_main_process
from ..io import atomic_save
from ..torch_utils import to_detach

if TYPE_CHECKING:
    from ..learner import Learner

__all__ = ["StreamPredsCallback"]


class StreamPredsCallback(Callback):
    """Passes each batch's predictions (after `act`) and targets to `reduce` and keeps only
    its result; with `save_to`, writes that result (or {'preds', 'targs'}) to one numbered file
    per batch instead. Memory then stays flat whatever the size of the set."""

    order = 70
    run_train = False

    def __init__(
        self,
        act: Callable | None = None,
        reduce: Callable | None = None,
        save_to: str | Path | None = None,
    ) -> None:
        self.act, self.reduce = act, reduce
        self.save_to = Path(save_to) if save_to is not None else None
        self.results: list[Any] = []
        self.files: list[Path] = []

    def after_batch(self, learn: Learner) -> None:
        preds = to_detach(learn.pred)
        preds = self.act(preds) if self.act is not None else preds
        targs = to_detach(learn.yb[0] if len(learn.yb) == 1 else learn.yb) if learn.yb else None
        out = (
            self.reduce(preds, targs)
            if self.reduce is not None
            else {"preds": preds, "targs": targs}
        )
        if self.save_to is None:
            self.results.append(out)
            return
        path = self.save_to / f"batch_{len(self.files):06d}.pt"
        if is_main_process():  # every process predicts the whole set: one copy of each file
            atomic_save(out, path)
        self.files.append(path)
