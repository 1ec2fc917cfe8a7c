"""Splitters: functions of the items returning (train indices, valid indices).

Items can be a list, an array, or a pandas DataFrame (for column-based splitters).
"""

from __future__ import annotations

import math
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
    "FileSplitter",
    "MaskSplitter",
    "TrainTestSplitter",
    "RandomSubsetSplitter",
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


class MaskSplitter:
    """Items whose entry in the boolean `mask` is true go to validation."""

    def __init__(self, mask: Sequence[bool]) -> None:
        self.mask = np.asarray(mask).astype(bool)

    def __call__(self, items: Sequence[Any]) -> Splits:
        if len(self.mask) != len(items):
            raise ValueError(
                f"MaskSplitter expected one flag per item. Received: "
                f"{len(self.mask)} flags for {len(items)} items."
            )
        return _check_nonempty(
            (np.flatnonzero(~self.mask).tolist(), np.flatnonzero(self.mask).tolist()),
            "MaskSplitter",
        )


class FileSplitter:
    """Items whose file name is listed (one per line) in the text file `fname` go to
    validation."""

    def __init__(self, fname: str | Path) -> None:
        self.fname = Path(fname)

    def __call__(self, items: Sequence[Any]) -> Splits:
        if not self.fname.is_file():
            raise FileNotFoundError(
                f"FileSplitter expected a text file listing the validation "
                f"file names. Received: {str(self.fname)!r} (not a file)."
            )
        names = {line.strip() for line in self.fname.read_text().splitlines() if line.strip()}
        flags = [Path(o).name in names for o in items]
        if not any(flags):
            raise ValueError(
                f"FileSplitter: none of the {len(items)} items is named in "
                f"{str(self.fname)!r}. Fix: list file names (not paths), one a line."
            )
        return _check_nonempty(
            ([i for i, f in enumerate(flags) if not f], [i for i, f in enumerate(flags) if f]),
            "FileSplitter",
        )


class TrainTestSplitter:
    """A random split of `test_size` (a fraction or a count) to validation, stratified by the
    labels `stratify` (a sequence, one per item) when given, so every class keeps its share."""

    def __init__(
        self,
        test_size: float = 0.2,
        random_state: int | None = None,
        stratify: Sequence[Any] | None = None,
        train_size: float | None = None,
        shuffle: bool = True,
    ) -> None:
        self.test_size, self.random_state, self.stratify = test_size, random_state, stratify
        self.train_size, self.shuffle = train_size, shuffle

    def _n_valid(self, n: int) -> int:
        size = self.test_size
        if isinstance(size, float):
            check_valid_pct(size)
            return int(math.ceil(size * n))
        if not 0 < int(size) < n:
            raise ValueError(f"Expected 0 < test_size < {n} items. Received: {size}.")
        return int(size)

    def __call__(self, items: Sequence[Any]) -> Splits:
        n = len(items)
        rng = np.random.default_rng(self.random_state)
        n_valid = self._n_valid(n)
        if self.stratify is None:
            order = rng.permutation(n) if self.shuffle else np.arange(n)
            valid = (
                sorted(order[n - n_valid :].tolist())
                if not self.shuffle
                else sorted(order[:n_valid].tolist())
            )
        else:
            labels = list(self.stratify)
            if len(labels) != n:
                raise ValueError(
                    f"TrainTestSplitter expected one stratify label per item. "
                    f"Received: {len(labels)} labels for {n} items."
                )
            valid = _stratified(labels, n_valid, rng)
        valid_set = set(valid)
        train = [i for i in range(n) if i not in valid_set]
        if self.train_size is not None:
            n_train = (
                int(self.train_size * n)
                if isinstance(self.train_size, float)
                else int(self.train_size)
            )
            train = sorted(rng.permutation(train)[:n_train].tolist())
        return _check_nonempty((train, sorted(valid)), "TrainTestSplitter")


def _stratified(labels: list[Any], n_valid: int, rng: np.random.Generator) -> list[int]:
    """`n_valid` indices with each class's share (largest remainders), drawn at random."""
    by_class: dict[Any, list[int]] = {}
    for i, y in enumerate(labels):
        by_class.setdefault(y, []).append(i)
    n = len(labels)
    exact = {c: len(idx) * n_valid / n for c, idx in by_class.items()}
    take = {c: int(math.floor(v)) for c, v in exact.items()}
    for c in sorted(exact, key=lambda c: exact[c] - take[c], reverse=True)[
        : n_valid - sum(take.values())
    ]:
        take[c] += 1
    valid: list[int] = []
    for c, idx in by_class.items():
        valid += rng.permutation(idx)[: take[c]].tolist()
    return valid


class RandomSubsetSplitter:
    """`train_sz` and `valid_sz` (fractions of the items) drawn at random, the rest unused."""

    def __init__(self, train_sz: float, valid_sz: float, seed: int | None = None) -> None:
        if not (0 < train_sz < 1 and 0 < valid_sz < 1 and train_sz + valid_sz <= 1):
            raise ValueError(
                f"Expected fractions with 0 < train_sz, valid_sz and a sum <= 1. "
                f"Received: train_sz={train_sz}, valid_sz={valid_sz}."
            )
        self.train_sz, self.valid_sz, self.seed = train_sz, valid_sz, seed

    def __call__(self, items: Sequence[Any]) -> Splits:
        n = len(items)
        gen = torch.Generator().manual_seed(self.seed) if self.seed is not None else None
        perm = torch.randperm(n, generator=gen).tolist()
        n_train, n_valid = int(self.train_sz * n), int(self.valid_sz * n)
        return _check_nonempty(
            (perm[:n_train], perm[n_train : n_train + n_valid]), "RandomSubsetSplitter"
        )
