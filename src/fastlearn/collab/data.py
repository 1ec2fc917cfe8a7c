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
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from ..core.data import DataLoader, DataLoaders
from ..core.splitters import RandomSplitter, Splits

__all__ = ["IdMap", "CollabVocab", "CollabDataLoaders", "UnknownIdError"]

_JSON_SCALARS = (str, int, float, bool)


class UnknownIdError(KeyError):
    """A user or item id that is not in the vocabulary learned from the ratings table."""

    def __str__(self) -> str:
        return str(self.args[0])


def _sort_key(v: Any) -> tuple[str, Any]:
    return (type(v).__name__, v)


def _sorted_ids(ids: Iterable[Hashable]) -> list[Hashable]:
    ids = list(ids)
    try:
        return sorted(ids, key=_sort_key)
    except TypeError:  # values of one type that don't compare (e.g. tuples of mixed types)
        return sorted(ids, key=lambda v: (type(v).__name__, str(v)))


def _as_id_list(ids: Any) -> tuple[list[Any], bool]:
    """(list of ids, whether a single id was given). Tuples, lists, arrays, tensors and pandas
    objects are sequences of ids; anything else (a string, a number) is one id."""
    if isinstance(ids, torch.Tensor):
        return ids.reshape(-1).tolist(), ids.ndim == 0
    if isinstance(ids, np.ndarray):
        return ids.reshape(-1).tolist(), ids.ndim == 0
    if hasattr(ids, "tolist") and hasattr(ids, "dtype"):  # pandas Series / Index
        return list(ids.tolist()), False
    if isinstance(ids, (list, tuple, range)):
        return [v.item() if isinstance(v, np.generic) else v for v in ids], False
    return [ids.item() if isinstance(ids, np.generic) else ids], True


class IdMap:
    """Raw ids (any hashable: ints, strings, titles) <-> indices 0..n-1, in sorted id order."""

    def __init__(self, ids: Sequence[Hashable], name: str = "id") -> None:
        self.ids, self.name = list(ids), name
        self._index = {v: i for i, v in enumerate(self.ids)}
        if len(self._index) != len(self.ids):
            raise ValueError(
                f"Expected unique ids for {name!r}. Received {len(self.ids)} ids "
                f"with {len(self.ids) - len(self._index)} repeated."
            )

    @classmethod
    def from_values(cls, values: Iterable[Hashable], name: str = "id") -> IdMap:
        """The map of the distinct values, sorted (by type name, then value)."""
        return cls(_sorted_ids(set(values)), name)

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, id_: Hashable) -> bool:
        return id_ in self._index

    def __getitem__(self, index: int) -> Hashable:
        return self.ids[index]

    def __repr__(self) -> str:
        return f"IdMap({self.name!r}, {len(self)} ids: {self.ids[:3]}...)"

    def encode(self, ids: Any) -> torch.Tensor:
        """Indices of `ids` (one id or a sequence); an unknown id raises `UnknownIdError`."""
        values, single = _as_id_list(ids)
        index, known = self.encode_known(values)
        if not bool(known.all()):
            missing = [v for v, k in zip(values, known.tolist()) if not k]
            raise UnknownIdError(self._unknown_message(missing))
        return index[0] if single else index

    def encode_known(self, ids: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(indices, known mask) for a sequence of ids; unknown ids get index 0, known False."""
        values, _ = _as_id_list(ids)
        found = [self._index.get(v, -1) for v in values]
        index = torch.tensor(found, dtype=torch.long).reshape(-1)
        known = index >= 0
        return index.clamp_(min=0), known

    def decode(self, indices: Any) -> list[Hashable]:
        """The ids at `indices`."""
        values, _ = _as_id_list(indices)
        return [self.ids[int(i)] for i in values]

    def _unknown_message(self, missing: list[Any]) -> str:
        shown = ", ".join(f"{v!r}{self._suggestion(v)}" for v in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        return (
            f"Unknown {self.name} {shown}{more}: not among the {len(self)} {self.name} ids "
            f"of the ratings table (ids keep their type: 1 and '1' differ). Fix: use an id "
            f"from the table, or ask for the bias-only estimate (unknown='bias')."
        )

    def _suggestion(self, v: Any) -> str:
        same_text = [i for i in self.ids[:100_000] if str(i) == str(v)]
        if same_text:
            return f" (did you mean {same_text[0]!r}, of type {type(same_text[0]).__name__}?)"
        if isinstance(v, str) and len(self) <= 50_000:
            close = difflib.get_close_matches(v, [i for i in self.ids if isinstance(i, str)], n=1)
            if close:
                return f" (did you mean {close[0]!r}?)"
        return ""

    def to_state(self) -> dict[str, Any]:
        """Plain JSON: the name and the ids in index order."""
        bad = next((v for v in self.ids if not isinstance(v, _JSON_SCALARS)), None)
        if bad is not None:
            raise TypeError(
                f"Ids of the {self.name} column must be str, int, float or bool to be "
                f"exported as JSON. Received: {bad!r} of type {type(bad).__name__}. "
                f"Fix: convert the column to str before building the DataLoaders."
            )
        return {"name": self.name, "ids": list(self.ids)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> IdMap:
        """Rebuild from `to_state`."""
        return cls(state["ids"], state["name"])


@dataclass
class CollabVocab:
    """The id maps of users and items and the table's column names: all a model needs to turn
    raw ids into embedding rows, exportable as JSON."""

    users: IdMap
    items: IdMap
    user_name: str = "user"
    item_name: str = "item"
    rating_name: str = "rating"

    def encode_pairs(
        self, users: Any, items: Any, *, unknown: str = "error"
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x (N, 2) indices, user known (N,), item known (N,)); unknown='error' raises on an
        unknown id, unknown='bias' flags it in the masks instead."""
        if unknown not in ("error", "bias"):
            raise ValueError(f"Expected unknown='error' or 'bias'. Received: {unknown!r}.")
        if unknown == "error":
            u, i = self.users.encode(users), self.items.encode(items)
            ones = torch.ones(len(u), dtype=torch.bool)
            return torch.stack([u, i], 1), ones, ones
        (u, u_known), (i, i_known) = self.users.encode_known(users), self.items.encode_known(items)
        return torch.stack([u, i], 1), u_known, i_known

    def to_state(self) -> dict[str, Any]:
        """Plain JSON (column names and both id lists)."""
        return {
            "user_name": self.user_name,
            "item_name": self.item_name,
            "rating_name": self.rating_name,
            "users": self.users.to_state()["ids"],
            "items": self.items.to_state()["ids"],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CollabVocab:
        """Rebuild from `to_state`."""
        return cls(
            IdMap(state["users"], "user"),
            IdMap(state["items"], "item"),
            state["user_name"],
            state["item_name"],
            state["rating_name"],
        )


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
    codes, uniques = pd.factorize(col)  # codes in order of appearance
    uniques = pd.Index(uniques).tolist()
    order = sorted(range(len(uniques)), key=lambda k: _sort_key(uniques[k]))
    rank = np.empty(len(uniques), dtype=np.int64)
    rank[order] = np.arange(len(uniques))
    id_map = IdMap([uniques[k] for k in order], role)
    return torch.from_numpy(rank[codes]), id_map


class CollabDataLoaders(DataLoaders):
    """Training and validation loaders over (user, item) index pairs and their ratings.

    Build them with `from_df` or `from_csv`. Besides the core's attributes they carry
    `collab_vocab` (the id maps and column names) and `classes` ({user column: user ids,
    item column: item ids}, as in fastai).
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
        fits their mean, and copies may fall on both sides of the split.

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
        train = DataLoader(TensorDataset(x[train_idx], y[train_idx]), bs, shuffle=True)
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

    # ---------------------------------------------------------------- the table
    @property
    def classes(self) -> dict[Any, list[Any]]:
        """{user column: user ids, item column: item ids}, ids in index order."""
        v = self.collab_vocab
        return {v.user_name: v.users.ids, v.item_name: v.items.ids}

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

    def test_dl(
        self, items: Any, *, bs: int | None = None, with_labels: bool = False
    ) -> DataLoader:
        """A loader over new (user, item) pairs: a DataFrame with the user and item columns
        (and the rating column when `with_labels`), or a list of (user, item) tuples."""
        v = self.collab_vocab
        if hasattr(items, "columns"):
            users, its = items[v.user_name], items[v.item_name]
        else:
            users, its = _unzip_pairs(items)
        x, _, _ = v.encode_pairs(users, its)
        tensors = (x, _ratings(items, v.rating_name)) if with_labels else (x,)
        ref = self.valid or self.train
        return DataLoader(TensorDataset(*tensors), bs or ref.bs, device=self.device)


def _unzip_pairs(pairs: Any) -> tuple[list[Any], list[Any]]:
    """Users and items of a list of (user, item) pairs."""
    pairs = list(pairs)
    if not all(isinstance(p, (tuple, list)) and len(p) == 2 for p in pairs):
        bad = next(p for p in pairs if not (isinstance(p, (tuple, list)) and len(p) == 2))
        raise ValueError(
            f"Expected (user, item) pairs. Received: {bad!r}. Fix: pass a list of "
            f"(user, item) tuples or a DataFrame with the user and item columns."
        )
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _split(df: Any, splitter: Any) -> tuple[torch.Tensor, torch.Tensor]:
    splits: Splits = splitter(df)
    return tuple(torch.as_tensor(list(s), dtype=torch.long) for s in splits)
