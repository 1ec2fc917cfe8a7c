"""Raw user and item ids <-> embedding rows: `IdMap` (one column) and `CollabVocab` (both).

>>> items = IdMap.from_values(["Titanic (1997)", "Fargo (1996)"], "item")
>>> items.encode("Titanic (1997)")  # tensor(1): ids are sorted (type name, then value)
>>> items.encode("Titanic")         # UnknownIdError: ... did you mean 'Titanic (1997)'?

Ids may be any hashable (ints, strings, titles); they keep their type, so 1 and "1" differ.
The state is plain JSON (`to_state`/`from_state`) for export.
"""

from __future__ import annotations

import difflib
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["IdMap", "CollabVocab", "UnknownIdError", "unzip_pairs"]

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


def _hashable(v: Any) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


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
        try:
            found = [self._index.get(v, -1) for v in values]
        except TypeError:  # an unhashable id (a list, a dict...)
            bad = next(v for v in values if not _hashable(v))
            raise TypeError(
                f"Expected each {self.name} id as one value (a string or a number, as in the "
                f"ratings table). Received: {bad!r} of type {type(bad).__name__}. Fix: pass "
                f"(user, item) pairs of single ids, e.g. ({self.ids[0]!r}, ...)."
                if self.ids
                else f"Received an unhashable {self.name} id: {bad!r}."
            ) from None
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


def unzip_pairs(pairs: Any) -> tuple[list[Any], list[Any]]:
    """Users and items of a list of (user, item) pairs."""
    pairs = list(pairs)
    if not all(isinstance(p, (tuple, list)) and len(p) == 2 for p in pairs):
        bad = next(p for p in pairs if not (isinstance(p, (tuple, list)) and len(p) == 2))
        raise ValueError(
            f"Expected (user, item) pairs. Received: {bad!r}. Fix: pass a list of "
            f"(user, item) tuples or a DataFrame with the user and item columns."
        )
    return [p[0] for p in pairs], [p[1] for p in pairs]
