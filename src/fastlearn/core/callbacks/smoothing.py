"""The smoothed training loss: an exponentially weighted moving average, bias corrected.

Per-batch losses stay device tensors until read (no host sync in the hot path); reading
`losses` or `value` moves them to the CPU in one go.
"""

from __future__ import annotations

import math
from typing import Any

import torch

__all__ = ["SmoothedLoss"]


class SmoothedLoss:
    """EWMA of the training loss with bias correction; `losses` holds one float per batch."""

    def __init__(self, beta: float = 0.98) -> None:
        self.beta = beta
        self.reset()

    def reset(self) -> None:
        """Start a new fit."""
        self._losses: list[float] = []
        self._avg, self._count = 0.0, 0
        self.pending: list[torch.Tensor] = []  # this epoch's losses not yet read, on device
        self.nonfinite = False  # a NaN or inf seen since the flag was last cleared

    def add(self, loss: torch.Tensor) -> None:
        """Add one batch's (detached) loss; no sync."""
        self.pending.append(loss)

    def flush(self) -> None:
        """Move the pending losses to the CPU (one sync) and smooth them."""
        if not self.pending:
            return
        values = torch.stack(self.pending).float().tolist()
        self.pending.clear()
        for v in values:
            if not math.isfinite(v):
                self.nonfinite = True
            self._count += 1
            self._avg = self.beta * self._avg + (1 - self.beta) * v
            self._losses.append(self._avg / (1 - self.beta**self._count))

    @property
    def losses(self) -> list[float]:
        """The smoothed loss after each batch so far."""
        self.flush()
        return self._losses

    @property
    def value(self) -> float:
        """The latest smoothed loss (NaN before any batch)."""
        return self.losses[-1] if self.losses else math.nan

    def state_dict(self) -> dict[str, Any]:
        """The smoothed losses and the running average, for exact resume."""
        return {"losses": self.losses, "avg": self._avg, "count": self._count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict`."""
        self._losses, self._avg, self._count = state["losses"], state["avg"], state["count"]
        self.pending = []
