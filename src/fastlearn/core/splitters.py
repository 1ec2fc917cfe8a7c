"""Splitters: functions of the items returning (train indices, valid indices).

Items can be a list, an array, or a pandas DataFrame (for column-based splitters).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "Splits",
    "RandomSplitter",
    "IndexSplitter",
    "ColSplitter",
    "GrandparentSplitter",
    "FuncSplitter",
    "TimeSplitter",
    "check_valid_pct",
]

Splits = tuple[list[int], list[int]]


def check_valid_pct(valid_pct: float) -> None:
    """Refuse a validation fraction outside (0, 1)."""
    if not isinstance(valid_pct, (int, float)) or not 0 < valid_pct < 1:
        raise ValueError(
            f"Expected valid_pct strictly between 0 and 1 (e.g. 0.2 for 20%). "
            f"Received: {valid_pct!r}."
        )


def _check_nonempty(splits: Splits, what: str) -> Splits:
    train, valid = splits
    if not train:
        raise ValueError(
            f"{what} left the training set empty. Fix: lower valid_pct or give more items."
        )
    return train, valid


class RandomSplitter:
    """A random `valid_pct` of the items go to validation; `seed` makes the split repeatable."""

    def __init__(self, valid_pct: float = 0.2, seed: int | None = None) -> None:
        check_valid_pct(valid_pct)
        self.valid_pct, self.seed = valid_pct, seed

    def __call__(self, items: Sequence[Any]) -> Splits:
        n = len(items)
        gen = torch.Generator().manual_seed(self.seed) if self.seed is not None else None
        perm = torch.randperm(n, generator=gen).tolist()
        cut = int(round(self.valid_pct * n))
        return _check_nonempty((perm[cut:], perm[:cut]), "RandomSplitter")


class IndexSplitter:
    """The items at `valid_idx` go to validation, the rest to training."""

    def __init__(self, valid_idx: Sequence[int]) -> None:
        self.valid_idx = [int(i) for i in valid_idx]

    def __call__(self, items: Sequence[Any]) -> Splits:
        n = len(items)
        bad = [i for i in self.valid_idx if not -n <= i < n]
        if bad:
            raise IndexError(f"IndexSplitter got indices outside 0..{n - 1}: {bad[:5]}.")
        valid = sorted({i % n for i in self.valid_idx})
        valid_set = set(valid)
        return _check_nonempty(
            ([i for i in range(n) if i not in valid_set], valid), "IndexSplitter"
        )


class ColSplitter:
    """Rows of a DataFrame whose boolean column `col` is true go to validation."""

    def __init__(self, col: str = "is_valid") -> None:
        self.col = col

    def __call__(self, df: Any) -> Splits:
        if not hasattr(df, "columns") or self.col not in df.columns:
            cols = list(getattr(df, "columns", []))
            raise KeyError(
                f"ColSplitter expected a DataFrame with a column {self.col!r}. "
                f"Received columns: {cols}."
            )
        mask = np.asarray(df[self.col]).astype(bool)
        return _check_nonempty(
            (np.flatnonzero(~mask).tolist(), np.flatnonzero(mask).tolist()), "ColSplitter"
        )


class GrandparentSplitter:
    """Split paths by the name of their grandparent folder (``train/cat/x.jpg``)."""

    def __init__(self, train_name: str = "train", valid_name: str = "valid") -> None:
        self.train_name, self.valid_name = train_name, valid_name

    def __call__(self, items: Sequence[Any]) -> Splits:
        train, valid = [], []
        for i, item in enumerate(items):
            parts = Path(item).parts
            if self.valid_name in parts[:-1]:
                valid.append(i)
            elif self.train_name in parts[:-1]:
                train.append(i)
        if not valid:
            raise ValueError(
                f"GrandparentSplitter found no item under a folder named "
                f"{self.valid_name!r}. Fix: pass valid_name= the folder's name."
            )
        return _check_nonempty((train, valid), "GrandparentSplitter")


class FuncSplitter:
    """Items for which `func(item)` is true go to validation."""

    def __init__(self, func: Callable[[Any], bool]) -> None:
        self.func = func

    def __call__(self, items: Sequence[Any]) -> Splits:
        flags = [bool(self.func(item)) for item in items]
        return _check_nonempty(
            ([i for i, f in enumerate(flags) if not f], [i for i, f in enumerate(flags) if f]),
            "FuncSplitter",
        )


class TimeSplitter:
    """The last `valid_pct` of rows by the date column `col` go to validation (no peeking ahead)."""

    def __init__(self, col: str, valid_pct: float = 0.2) -> None:
        check_valid_pct(valid_pct)
        self.col, self.valid_pct = col, valid_pct

    def __call__(self, df: Any) -> Splits:
        import pandas as pd

        if not hasattr(df, "columns") or self.col not in df.columns:
            cols = list(getattr(df, "columns", []))
            raise KeyError(
                f"TimeSplitter expected a DataFrame with a date column {self.col!r}. "
                f"Received columns: {cols}."
            )
        dates = pd.to_datetime(df[self.col])
        order = np.argsort(dates.to_numpy(), kind="stable")
        cut = len(order) - int(round(self.valid_pct * len(order)))
        return _check_nonempty(
            (sorted(order[:cut].tolist()), sorted(order[cut:].tolist())), "TimeSplitter"
        )
