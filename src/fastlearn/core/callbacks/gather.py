"""Collects predictions, targets (and inputs) over a loader for `Learner.get_preds`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ..callback import Callback
from ..torch_utils import to_detach

if TYPE_CHECKING:
    from ..learner import Learner

__all__ = ["GatherPredsCallback"]


def _cat(chunks: list[Any]) -> Any:
    if not chunks:
        return None
    if isinstance(chunks[0], torch.Tensor):
        if all(c.shape[1:] == chunks[0].shape[1:] for c in chunks):
            return torch.cat(chunks)
        return [row for c in chunks for row in c]  # ragged (e.g. texts of varied lengths)
    if isinstance(chunks[0], (tuple, list)):
        return type(chunks[0])(_cat([c[i] for c in chunks]) for i in range(len(chunks[0])))
    return chunks


class GatherPredsCallback(Callback):
    """Keeps every batch's predictions and targets, detached, on the CPU."""

    order = 70
    run_train = False

    def __init__(self, with_input: bool = False) -> None:
        self.with_input = with_input
        self._preds: list[Any] = []
        self._targs: list[Any] = []
        self._inputs: list[Any] = []

    def after_batch(self, learn: Learner) -> None:
        self._preds.append(to_detach(learn.pred))
        if learn.yb:
            self._targs.append(to_detach(learn.yb[0] if len(learn.yb) == 1 else learn.yb))
        if self.with_input:
            self._inputs.append(to_detach(learn.xb[0] if len(learn.xb) == 1 else learn.xb))

    def preds(self) -> Any:
        """All predictions, concatenated."""
        return _cat(self._preds)

    def targets(self) -> Any:
        """All targets, concatenated (None when the loader has none)."""
        return _cat(self._targs)

    def inputs(self) -> Any:
        """All inputs, concatenated."""
        return _cat(self._inputs)
