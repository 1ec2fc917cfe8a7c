"""Collaborative-filtering data: a ratings table as (user, item) index pairs and ratings.

    dls = CollabDataLoaders.from_df(ratings, item_name="title", bs=64)
    x, y = dls.one_batch()  # x (64, 2) int64 (user index, item index), y (64,) float32

User and item ids may be of any hashable type (ints, strings, film titles). Each is mapped to
a contiguous index by an `IdMap` (ids sorted, so the mapping does not depend on row order);
the two maps and the column names form the `CollabVocab`, which the model keeps so that
interpretation takes raw ids (`learn.model.bias(["Star Wars (1977)"])`).

The whole table lives in two tensors, so the core's TensorDataset fast path makes each batch
one index slice. The vocabularies cover every row (training and validation): an id seen only
in validation keeps its small initial embedding, decayed towards zero by weight decay.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from ..core.data import DataLoader, DataLoaders, lone_last_item
from ..core.splitters import RandomSplitter, Splits
from ..core.utils import CategoryMap
from .vocab import CollabVocab, IdMap, unzip_pairs

__all__ = ["CollabDataLoaders"]


def _column_names(df: Any, names: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
    """user, item and rating column names: given, or the first three columns."""
    columns = list(df.columns)
    if len(columns) < 3 and any(n is None for n in names):
        raise ValueError(
            f"Expected a ratings table with at least three columns (user, item, "
            f"rating). Received columns: {columns}. Fix: pass user_name=, "
            f"item_name= and rating_name=."
        )
    chosen = tuple(columns[i] if n is None else n for i, n in enumerate(names))
    for role, name in zip(("user_name", "item_name", "rating_name"), chosen):
        if name not in df.columns:
            close = difflib.get_close_matches(str(name), [str(c) for c in columns], n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise KeyError(
                f"Expected column {name!r} ({role}) in the ratings table. Received "
                f"columns: {columns}.{hint}"
            )
    if len(set(chosen)) < 3:
        raise ValueError(
            f"Expected three different columns for user, item and rating. "
            f"Received: {chosen}. Fix: pass user_name=, item_name=, rating_name=."
        )
    return chosen


def _rows(mask: np.ndarray, df: Any) -> list[Any]:
    return df.index[mask][:5].tolist()


def _ratings(df: Any, name: Any) -> torch.Tensor:
    """The rating column as float32, or an error naming text, missing or infinite values."""
    import pandas as pd

    col = df[name]
    if col.dtype.kind in "biuf":
        values = col.to_numpy(dtype=np.float64, na_value=np.nan)
    elif col.dtype.kind in "OSU" or isinstance(col.dtype, pd.StringDtype):
        values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        text = np.isnan(values) & col.notna().to_numpy()
        if text.any():
            examples = col[text].unique()[:3].tolist()
            raise TypeError(
                f"Expected numbers in rating column {name!r}. Received text such as "
                f"{examples} (rows {_rows(text, df)}). Fix: map the text to numbers, "
                f"e.g. df[{name!r}] = df[{name!r}].map({{'good': 5, 'bad': 1}})."
            )
    else:
        raise TypeError(
            f"Expected numbers in rating column {name!r}. Received dtype "
            f"{col.dtype}. Fix: convert the column to numbers."
        )
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} ratings in column {name!r} are missing or infinite "
            f"(rows {_rows(bad, df)}...). Fix: drop them, e.g. "
            f"df.dropna(subset=[{name!r}]), or fill them before from_df."
        )
    return torch.from_numpy(values.astype(np.float32))


def _encode_ids(df: Any, name: Any, role: str) -> tuple[torch.Tensor, IdMap]:
    """Indices of one id column (vectorised) and its map; missing ids are an error."""
    import pandas as pd

    col = df[name]
    missing = col.isna().to_numpy()
    if missing.any():
        raise ValueError(
            f"{int(missing.sum())} rows have no {role} id (NaN in column {name!r}, "
            f"rows {_rows(missing, df)}...). Fix: drop those rows, e.g. "
            f"df.dropna(subset=[{name!r}])."
        )
    codes, uniques = pd.factorize(col)  # codes in order of appearance, uniques once each
    uniques = pd.Index(uniques).tolist()  # plain Python values (numpy ints become int)
    id_map = IdMap.from_values(uniques, role)
    rank = id_map.encode(uniques)  # the sorted index of each unique id
    return rank[torch.from_numpy(codes)], id_map


class CollabDataLoaders(DataLoaders):
    """Training and validation loaders over (user, item) index pairs and their ratings.

    Build them with `from_df` or `from_csv`. Besides the core's attributes they carry
    `collab_vocab` (the id maps and column names), `classes` ({user column: user ids,
    item column: item ids}, as in fastai) and `cat_names` (those two columns).
    """

    def __init__(
        self,
        train: DataLoader,
        valid: DataLoader | None = None,
        *,
        collab_vocab: CollabVocab,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__(train, valid, device=device, n_inp=1)
        self.collab_vocab = collab_vocab

    @classmethod
    def from_df(
        cls,
        ratings: Any,
        user_name: Any = None,
        item_name: Any = None,
        rating_name: Any = None,
        *,
        valid_pct: float = 0.2,
        seed: int | None = None,
        bs: int = 64,
        val_bs: int | None = None,
        splitter: Any = None,
        device: torch.device | str | None = None,
    ) -> CollabDataLoaders:
        """Loaders from a ratings DataFrame: user, item and rating columns (the first three
        unless named), a random `valid_pct` for validation (or any core `splitter`).

        Ids may be of any type. Ratings must be numbers (text holding numbers is converted);
        NaN ratings or ids, text ratings and an empty table are errors naming the rows.
        Duplicate (user, item) pairs are kept: each row is one training example, so the model
        fits their mean, and copies may fall on both sides of the split. When the training
        rows would leave a last batch of one (k * bs + 1 rows), that row is left out of each
        epoch (a different one each time, as the order is shuffled): BatchNorm, in the
        neural model, cannot train on a batch of one.

            >>> dls = CollabDataLoaders.from_df(ratings, item_name="title", bs=64, seed=42)
        """
        if not hasattr(ratings, "columns"):
            raise TypeError(
                f"Expected a pandas DataFrame of ratings. Received: "
                f"{type(ratings).__name__}. Fix: pd.DataFrame(...) or from_csv."
            )
        if len(ratings) == 0:
            raise ValueError(
                f"Expected a ratings table with at least one row. Received an "
                f"empty table (columns {list(ratings.columns)})."
            )
        user_name, item_name, rating_name = _column_names(
            ratings, (user_name, item_name, rating_name)
        )
        y = _ratings(ratings, rating_name)
        users, user_map = _encode_ids(ratings, user_name, "user")
        items, item_map = _encode_ids(ratings, item_name, "item")
        x = torch.stack([users, items], 1)  # (N, 2): user index, item index
        train_idx, valid_idx = _split(ratings, splitter or RandomSplitter(valid_pct, seed))
        train = DataLoader(
            TensorDataset(x[train_idx], y[train_idx]),
            bs,
            shuffle=True,
            drop_last=lone_last_item(len(train_idx), bs),
        )
        valid = (
            DataLoader(TensorDataset(x[valid_idx], y[valid_idx]), val_bs or bs)
            if len(valid_idx)
            else None
        )
        vocab = CollabVocab(user_map, item_map, user_name, item_name, rating_name)
        return cls(train, valid, collab_vocab=vocab, device=device)

    @classmethod
    def from_csv(
        cls,
        csv: str | Path,
        *,
        sep: str = ",",
        header: Any = "infer",
        names: Sequence[str] | None = None,
        encoding: str | None = None,
        **kwargs: Any,
    ) -> CollabDataLoaders:
        """`from_df` on a CSV file (`sep="\\t", header=None` reads MovieLens' u.data)."""
        import pandas as pd

        df = pd.read_csv(csv, sep=sep, header=header, names=names, encoding=encoding)
        return cls.from_df(df, **kwargs)

    def new(self, **kwargs: Any) -> CollabDataLoaders:
        """Both loaders rebuilt with some settings changed (`dls.new(bs=32)`); a new `bs`
        drops the training loader's last batch exactly when it would hold one row."""
        if "bs" in kwargs and "drop_last" not in kwargs:
            kwargs["drop_last"] = lone_last_item(len(self.train.dataset), kwargs["bs"])
        return super().new(**kwargs)

    # ---------------------------------------------------------------- the table
    @functools.cached_property  # built once: the vocabulary does not change
    def classes(self) -> dict[Any, CategoryMap]:
        """{user column: user ids, item column: item ids}, ids in index order, each with
        `.o2i` ({id: index}): `dls.classes["title"].o2i["Star Wars (1977)"]`."""
        v = self.collab_vocab
        return {v.user_name: CategoryMap(v.users.ids), v.item_name: CategoryMap(v.items.ids)}

    @property
    def cat_names(self) -> list[Any]:
        """The user and item columns, the model's two categorical inputs (for `get_emb_sz`)."""
        return [self.collab_vocab.user_name, self.collab_vocab.item_name]

    @property
    def n_users(self) -> int:
        """Number of distinct users."""
        return len(self.collab_vocab.users)

    @property
    def n_items(self) -> int:
        """Number of distinct items."""
        return len(self.collab_vocab.items)

    def _tables(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [tuple(dl.dataset.tensors) for dl in self.loaders]

    def pairs(self) -> torch.Tensor:
        """Every (user index, item index) pair of the table, training then validation, (N, 2)."""
        return torch.cat([x for x, _ in self._tables()])

    def ratings(self) -> torch.Tensor:
        """Every rating, in the order of `pairs()`, (N,)."""
        return torch.cat([y for _, y in self._tables()])

    def item_counts(self) -> torch.Tensor:
        """Number of ratings of each item (by index), over the whole table."""
        return torch.bincount(self.pairs()[:, 1], minlength=self.n_items)

    def show_batch(self, max_n: int = 10, *, ds_idx: int = 0, dl: DataLoader | None = None) -> Any:
        """Print and return (a DataFrame) `max_n` ratings of a batch of `dl` (default
        `self[ds_idx]`) as raw user and item ids."""
        from .interpret import show_ratings

        dl = dl if dl is not None else self[ds_idx]
        return show_ratings(self.collab_vocab, dl, max_n=max_n)

    def test_dl(
        self, items: Any, *, bs: int | None = None, with_labels: bool = False
    ) -> DataLoader:
        """A loader over new (user, item) pairs: a DataFrame with the user and item columns
        (and the rating column when `with_labels`), or a list of (user, item) tuples."""
        v = self.collab_vocab
        if hasattr(items, "columns"):
            users, its = items[v.user_name], items[v.item_name]
        else:
            users, its = unzip_pairs(items)
        x, _, _ = v.encode_pairs(users, its)
        tensors = (x, _ratings(items, v.rating_name)) if with_labels else (x,)
        ref = self.valid or self.train
        return DataLoader(TensorDataset(*tensors), bs or ref.bs, device=self.device)


def _split(df: Any, splitter: Any) -> tuple[torch.Tensor, torch.Tensor]:
    splits: Splits = splitter(df)
    return tuple(torch.as_tensor(list(s), dtype=torch.long) for s in splits)
