"""Tabular preprocessing: fit once on the training rows, apply to any frame, export as JSON.

    >>> proc = TabularProcessor(["shop"], ["price"], procs=[Categorify, FillMissing, Normalize])
    >>> cats, conts = proc.fit(train_df).transform(valid_df)  # (N, 2) int64, (N, 1) float32
    >>> codes, values = proc.encode_row({"shop": "paris", "price": 3.5})  # one row, no pandas

Every step is vectorised over rows (pandas hash look-ups and numpy arithmetic); procs run in
a fixed order, FillMissing -> Categorify -> Normalize, so the `<col>_na` indicator columns
that FillMissing adds are categorified and the normalisation statistics see filled values.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from .procs import (
    Categorify,
    Columns,
    FillMissing,
    MissingColumnError,
    Normalize,
    TabularProc,
    check_columns,
    row_float,
    to_float,
)

__all__ = ["TabularProcessor", "PROCS"]

Array = torch.Tensor | np.ndarray
PROCS: dict[str, type[TabularProc]] = {p.__name__: p for p in (FillMissing, Categorify, Normalize)}


class TabularProcessor:
    """Fit procs on training rows; turn any frame into (cats int64 (N, n_cat), conts float32).

    `cat_names` after `fit` includes the `<col>_na` columns FillMissing adds.
    """

    def __init__(
        self,
        cat_names: Sequence[str],
        cont_names: Sequence[str],
        procs: Sequence[TabularProc | type[TabularProc]] = (Categorify, FillMissing, Normalize),
    ) -> None:
        overlap = set(cat_names) & set(cont_names)
        if overlap:
            raise ValueError(f"Columns {sorted(overlap)} are in both cat_names and cont_names.")
        self.input_cat_names, self.cont_names = list(cat_names), list(cont_names)
        self.cat_names = list(cat_names)
        procs = [p() if isinstance(p, type) else p for p in procs]
        self.procs: list[TabularProc] = sorted(procs, key=lambda p: p.order)  # stable sort
        self.fitted = False

    @property
    def classes(self) -> dict[str, list[Any]]:
        """Vocabulary per categorical column (index 0 = `#na#`)."""
        return next((p.classes for p in self.procs if isinstance(p, Categorify)), {})

    @property
    def cardinalities(self) -> list[int]:
        """Number of codes per categorical column (for embedding sizes)."""
        return [len(self.classes[n]) for n in self.cat_names]

    def _columns(self, df: pd.DataFrame) -> Columns:
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"Expected a pandas DataFrame. Received: {type(df).__name__}.")
        check_columns(df, self.input_cat_names, "cat_names")
        check_columns(df, self.cont_names, "cont_names")
        cols: Columns = {n: df[n] for n in self.input_cat_names}
        return cols | {n: to_float(df[n], n) for n in self.cont_names}

    def fit(self, df: pd.DataFrame) -> TabularProcessor:
        """Learn every proc's statistics from the training frame `df`."""
        cols = self._columns(df)
        if len(df) == 0:
            raise ValueError(
                "Expected a non-empty training DataFrame. Received: 0 rows. "
                "Fix: check the split or the filter that produced it."
            )
        self.cat_names = list(self.input_cat_names)
        for proc in self.procs:
            proc.setup(cols, self.cat_names, self.cont_names)
            self.cat_names += proc.added_cat_names
            cols = proc.apply(cols)
        self.fitted = True
        return self

    def transform(self, df: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply the fitted procs: (cats LongTensor (N, n_cat), conts FloatTensor (N, n_cont))."""
        if not self.fitted:
            raise RuntimeError("TabularProcessor is not fitted. Fix: call fit(train_df) first.")
        cols, n = self._columns(df), len(df)
        for proc in self.procs:
            cols = proc.apply(cols)
        cats = np.empty((n, len(self.cat_names)), dtype=np.int64)
        for j, name in enumerate(self.cat_names):
            if isinstance(cols[name], pd.Series) and not pd.api.types.is_integer_dtype(cols[name]):
                raise TypeError(f"Column {name!r} is not integer-coded; add Categorify to procs.")
            cats[:, j] = cols[name]
        conts = np.empty((n, len(self.cont_names)), dtype=np.float32)
        for j, name in enumerate(self.cont_names):
            conts[:, j] = cols[name]
        return torch.from_numpy(cats), torch.from_numpy(conts)

    def encode_row(self, row: Mapping[str, Any] | pd.Series) -> tuple[list[int], list[float]]:
        """`transform` for one row (a dict or a pandas row): (cat codes, cont values) as lists.

        Plain dict look-ups and float arithmetic, no pandas: microseconds, the same numbers as
        `transform`. Keys not needed are ignored; a missing one is an error naming it.
        """
        if not self.fitted:
            raise RuntimeError("TabularProcessor is not fitted. Fix: call fit(train_df) first.")
        if isinstance(row, pd.Series):
            row = row.to_dict()
        elif not isinstance(row, Mapping):
            raise TypeError(
                f"Expected a dict or a pandas row (Series). Received: {type(row).__name__}. "
                "Fix: pass df.iloc[i] or {column: value}; for several rows use transform(df)."
            )
        values = {n: _row_value(row, n, "cat_names") for n in self.input_cat_names}
        values |= {n: row_float(_row_value(row, n, "cont_names"), n) for n in self.cont_names}
        if any(_lacks_row_path(p) for p in self.procs):  # a custom proc: the pandas path
            cats, conts = self.transform(pd.DataFrame([values]))
            return cats[0].tolist(), conts[0].tolist()
        for proc in self.procs:
            values = proc.apply_row(values)
        cats = [int(values[n]) for n in self.cat_names]
        return cats, [float(values[n]) for n in self.cont_names]

    def fit_transform(self, df: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        """`fit(df)` then `transform(df)`."""
        return self.fit(df).transform(df)

    def decode(self, cats: Array, conts: Array) -> pd.DataFrame:
        """Turn (cats, conts) back into a frame of category values and de-normalised numbers."""
        cats, conts = np.asarray(cats), np.asarray(conts, dtype=np.float64)
        cols: Columns = {n: cats[:, j] for j, n in enumerate(self.cat_names)}
        cols |= {n: conts[:, j] for j, n in enumerate(self.cont_names)}
        for proc in reversed(self.procs):
            cols = proc.decode(cols)
        # float32, the precision the values were held in: 206.0, not 206.000001
        cols |= {n: np.asarray(cols[n], dtype=np.float32) for n in self.cont_names}
        return pd.DataFrame({n: cols[n] for n in self.cat_names + self.cont_names})

    def decode_row(self, cats: Array, conts: Array) -> dict[str, Any]:
        """Decode one row given as 1-D (n_cat,) and (n_cont,) into {column: value}."""
        frame = self.decode(np.asarray(cats)[None], np.asarray(conts)[None])
        return frame.iloc[0].to_dict()

    def to_state(self) -> dict[str, Any]:
        """Everything needed to rebuild the fitted processor, JSON-serialisable (no pickle)."""
        procs = [{"name": type(p).__name__, "state": p.to_state()} for p in self.procs]
        return {"cat_names": self.input_cat_names, "cont_names": self.cont_names, "procs": procs}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TabularProcessor:
        """Rebuild a fitted processor from `to_state()` (after a JSON round trip too)."""
        unknown = [p["name"] for p in state["procs"] if p["name"] not in PROCS]
        if unknown:
            raise ValueError(f"Expected procs among {sorted(PROCS)}. Received: {unknown}")
        procs = [PROCS[p["name"]].from_state(p["state"]) for p in state["procs"]]
        processor = cls(state["cat_names"], state["cont_names"], procs)
        for proc in processor.procs:
            processor.cat_names += proc.added_cat_names
        processor.fitted = True
        return processor


def _row_value(row: Mapping[str, Any], name: str, role: str) -> Any:
    if name not in row:
        keys = [str(k) for k in row]
        close = difflib.get_close_matches(str(name), keys, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise MissingColumnError(
            f"Expected a value for column {name!r} (listed in {role}) in the row. Received "
            f"keys: {keys}.{hint} Fix: add it (None or NaN when unknown: it is filled)."
        )
    return row[name]


def _lacks_row_path(proc: TabularProc) -> bool:
    """Whether `proc` overrides `apply` but not `apply_row` (so only `transform` is right)."""
    cls = type(proc)
    return cls.apply is not TabularProc.apply and cls.apply_row is TabularProc.apply_row
