"""Building blocks shared by the applications: `Module`, embeddings and their sizes,
sigmoid_range, LinBnDrop."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import torch
from torch import nn

__all__ = [
    "Module",
    "sigmoid_range",
    "SigmoidRange",
    "Embedding",
    "LinBnDrop",
    "emb_sz_rule",
    "get_emb_sz",
]


class Module(nn.Module):
    """An `nn.Module` whose subclasses need not call `super().__init__()`, as the course writes
    them (fastai's `Module`).

        >>> class DotProduct(Module):
        ...     def __init__(self, n_users, n_items, n_factors):
        ...         self.user_factors = Embedding(n_users, n_factors)   # no super().__init__()

    `__new__` runs `nn.Module.__init__` before the subclass's `__init__`, so attributes can be
    assigned at once; a `super().__init__()` call, if present, does nothing.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Module:
        obj = super().__new__(cls)
        nn.Module.__init__(obj)
        return obj

    def __init__(self) -> None:  # nn.Module.__init__ already ran in __new__
        pass


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

    def __init__(
        self,
        n_in: int,
        n_out: int,
        *,
        bn: bool = True,
        p: float = 0.0,
        act: nn.Module | None = None,
        lin_first: bool = False,
    ) -> None:
        norm = [nn.BatchNorm1d(n_out if lin_first else n_in)] if bn else []
        drop = [nn.Dropout(p)] if p > 0 else []
        lin = [nn.Linear(n_in, n_out, bias=not bn)]
        if act is not None:
            lin.append(act)
        super().__init__(*(lin + norm + drop if lin_first else norm + drop + lin))


class HasCategories(Protocol):
    """What `get_emb_sz` reads: the categorical columns and the vocabulary of each."""

    @property
    def cat_names(self) -> Sequence[Any]: ...

    @property
    def classes(self) -> Mapping[Any, Sequence[Any]]: ...


def get_emb_sz(
    source: HasCategories, sz_dict: Mapping[Any, int] | None = None
) -> list[tuple[int, int]]:
    """(n_categories, width) per categorical column of `source` (TabularDataLoaders,
    TabularPandas, a fitted TabularProcessor, CollabDataLoaders: users then items).

    The width is `emb_sz_rule(n)` = min(600, round(1.6 * n ** 0.56)) unless `sz_dict` names the
    column; n counts every entry of the column's vocabulary (tabular's `#na#` included).

        >>> get_emb_sz(collab_dls)   # [(n_users, width), (n_items, width)]
    """
    names = list(source.cat_names)
    sz_dict = dict(sz_dict or {})
    unknown = [k for k in sz_dict if k not in names]
    if unknown:
        raise ValueError(f"Expected sz_dict keys among cat_names {names}. Received: {unknown}.")
    sizes = [len(source.classes[name]) for name in names]
    return [(n, sz_dict.get(name, emb_sz_rule(n))) for name, n in zip(names, sizes)]
