"""Building blocks shared by the applications: embeddings, sigmoid_range, LinBnDrop."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["sigmoid_range", "SigmoidRange", "Embedding", "LinBnDrop", "emb_sz_rule"]


def sigmoid_range(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """A sigmoid scaled to (low, high): predictions that can't leave the target's range."""
    return torch.sigmoid(x) * (high - low) + low


class SigmoidRange(nn.Module):
    """`sigmoid_range` as a layer."""

    def __init__(self, low: float, high: float) -> None:
        super().__init__()
        self.low, self.high = low, high

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sigmoid_range(x, self.low, self.high)

    def extra_repr(self) -> str:
        return f"low={self.low}, high={self.high}"


class Embedding(nn.Embedding):
    """An embedding initialised from a truncated normal with a small std (0.01)."""

    def __init__(self, n_items: int, n_factors: int, std: float = 0.01) -> None:
        super().__init__(n_items, n_factors)
        with torch.no_grad():
            nn.init.trunc_normal_(self.weight, std=std, a=-2 * std, b=2 * std)


def emb_sz_rule(n_categories: int) -> int:
    """The rule of thumb for an embedding's width: min(600, round(1.6 * n ** 0.56))."""
    return min(600, round(1.6 * n_categories**0.56))


class LinBnDrop(nn.Sequential):
    """BatchNorm1d (optional), Dropout (optional), Linear, then an activation (optional)."""

    def __init__(self, n_in: int, n_out: int, *, bn: bool = True, p: float = 0.0,
                 act: nn.Module | None = None, lin_first: bool = False) -> None:
        norm = [nn.BatchNorm1d(n_out if lin_first else n_in)] if bn else []
        drop = [nn.Dropout(p)] if p > 0 else []
        lin = [nn.Linear(n_in, n_out, bias=not bn)]
        if act is not None:
            lin.append(act)
        super().__init__(*(lin + norm + drop if lin_first else norm + drop + lin))
