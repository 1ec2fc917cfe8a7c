"""The data API in one import: loaders, their train/valid pair, items and labels.

    from fastlearn.core.data import DataLoader, DataLoaders

Each piece lives in a module of its own: `loader` (DataLoader, resume), `tensor_batches`
(the in-memory fast path), `sharding` (distributed shares), `dataloaders` (DataLoaders and
its factories), `labels` (label functions, split encoding) and `items` (datasets of items).
"""

from __future__ import annotations

from .dataloaders import DataLoaders
from .items import Categorize, ItemDataset, MultiCategorize
from .labels import encode_split
from .loader import DataLoader, lone_last_item

__all__ = [
    "DataLoader",
    "DataLoaders",
    "ItemDataset",
    "Categorize",
    "MultiCategorize",
    "lone_last_item",
    "encode_split",
]
