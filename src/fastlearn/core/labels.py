"""Labelling items: a label function applied with a clear error, labels encoded by split."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from .items import Categorize
from .splitters import Splits

__all__ = ["apply_label", "encode_split"]


def apply_label(label_func: Callable[[Any], Any], item: Any) -> Any:
    """label_func(item), its failure named with the item and the fix."""
    try:
        return label_func(item)
    except Exception as e:
        name = getattr(label_func, "__name__", repr(label_func))
        raise ValueError(
            f"label_func {name} failed on item {item!r}: {type(e).__name__}: {e}. "
            "Fix: make it handle this item, or filter the items first."
        ) from e


def encode_split(cat: Categorize, labels: Sequence[Any], splits: Splits) -> torch.Tensor:
    """Encode labels; a validation label unseen in training is a clear error."""
    targets = torch.empty(len(labels), dtype=torch.long)
    train_idx = torch.tensor(splits[0], dtype=torch.long)
    targets[train_idx] = cat.encode([labels[i] for i in splits[0]])
    unseen = sorted({str(labels[i]) for i in splits[1] if labels[i] not in cat._index})
    if unseen:
        raise ValueError(
            f"Validation labels never seen in training: {unseen[:10]}. Fix: use a "
            "stratified split, or drop those items."
        )
    targets[torch.tensor(splits[1], dtype=torch.long)] = cat.encode([labels[i] for i in splits[1]])
    return targets
