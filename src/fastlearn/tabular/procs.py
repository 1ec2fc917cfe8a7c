"""The preprocessing steps: FillMissing, Categorify, Normalize.

Each learns its statistics from the training columns (`setup`), then applies them to any
columns (`apply`, vectorised over rows) or to one row of scalars (`apply_row`, the path of
`predict(row)`: plain dict look-ups and float arithmetic, no pandas). Both paths give the
same numbers. `to_state`/`from_state` carry the statistics as plain JSON. What a cell may hold
(finite numbers, categories compared without surrounding whitespace) is cells.py's rule.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .cells import NA, clean_category, sorted_values, strip_text

__all__ = ["NA", "TabularProc", "FillMissing", "Categorify", "Normalize"]

Columns = dict[str, Any]  # column name -> pd.Series (raw categories) or np.ndarray
Row = dict[str, Any]  # column name -> one scalar value


def _kinds_differ(categories: pd.Index, values: Any) -> bool:
    """Whether values look like another type than the categories (e.g. int codes vs text)."""
    present = pd.Series(values).dropna()
    if present.empty or categories.empty:
        return False
    numeric = {"integer", "floating", "mixed-integer-float", "decimal", "boolean"}
    kinds = [pd.Index(x).inferred_type for x in (categories, present.iloc[:100])]
    return len({"number" if k in numeric else k for k in kinds}) > 1


def _index_to_json(index: pd.Index) -> tuple[list[Any], str, bool]:
    """Categories as JSON values, their dtype, and whether they had to be stringified."""
    dtype = str(index.dtype)
    if index.dtype.kind in "mM" or isinstance(index.dtype, (pd.DatetimeTZDtype, pd.PeriodDtype)):
        return index.astype(str).tolist(), dtype, False  # restored exactly from the dtype
    values = index.tolist()  # numpy scalars -> Python scalars
    if all(isinstance(v, (str, int, float, bool)) for v in values):
        return values, dtype, False
    return [str(v) for v in values], dtype, True


def _index_from_json(values: list[Any], dtype: str) -> pd.Index:
    if dtype.startswith(("datetime64", "timedelta64", "period")):
        return pd.Index(values, dtype=object).astype(dtype)
    return pd.Index(values, dtype=object) if dtype == "object" else pd.Index(values)


class TabularProc:
    """Base of the preprocessing steps: `setup` on training columns, `apply` to any columns."""

    order: int = 0

    @property
    def added_cat_names(self) -> list[str]:
        """Categorical columns this proc adds (FillMissing's `<col>_na`)."""
        return []

    def setup(self, cols: Columns, cat_names: list[str], cont_names: list[str]) -> None:
        """Learn the statistics from the training columns."""

    def apply(self, cols: Columns) -> Columns:
        """Return the columns transformed with the learned statistics."""
        return cols

    def apply_row(self, row: Row) -> Row:
        """`apply` for one row of scalars (the fast path of `predict`); override with `apply`."""
        return row

    def decode(self, cols: Columns) -> Columns:
        """Invert `apply` where possible (for show_batch)."""
        return cols

    def to_state(self) -> dict[str, Any]:
        """The learned statistics as a JSON-serialisable dict."""
        return {}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TabularProc:
        """Rebuild a fitted proc from `to_state()`."""
        return cls()


class FillMissing(TabularProc):
    """Fill NaN in continuous columns with a training statistic; flag them in `<col>_na`.

    A fill value is learned for every continuous column, so a NaN at inference in a column
    that had none in training is still filled; the `<col>_na` indicator (a new categorical
    column) is added only for columns with NaN in the training rows, as fastai does, plus any
    column in `na_names`. A column all NaN in training is filled with `fill_value`.
    """

    order = 0

    def __init__(
        self,
        fill_strategy: str = "median",
        fill_value: float = 0,
        add_col: bool = True,
        *,
        na_names: Sequence[str] = (),
    ) -> None:
        if fill_strategy not in ("median", "mode", "constant"):
            raise ValueError(f"Expected fill_strategy median/mode/constant. Got {fill_strategy!r}")
        self.fill_strategy, self.fill_value, self.add_col = fill_strategy, fill_value, add_col
        self.na_names = list(na_names)
        self.fill_values: dict[str, float] = {}
        self.na_cols: list[str] = []

    @property
    def added_cat_names(self) -> list[str]:
        """The `<col>_na` indicator columns."""
        return [f"{c}_na" for c in self.na_cols]

    def _fill_for(self, x: np.ndarray) -> float:
        present = x[~np.isnan(x)]
        if self.fill_strategy == "constant" or present.size == 0:
            return float(self.fill_value)
        if self.fill_strategy == "median":
            return float(np.median(present))
        values, counts = np.unique(present, return_counts=True)
        return float(values[counts.argmax()])  # the smallest of the most frequent, as pandas

    def setup(self, cols: Columns, cat_names: list[str], cont_names: list[str]) -> None:
        """Learn a fill value per continuous column and which columns get an indicator."""
        unknown = [n for n in self.na_names if n not in cont_names]
        if unknown:
            raise ValueError(f"Expected na_names among cont_names {cont_names}. Got {unknown}")
        self.fill_values = {n: self._fill_for(cols[n]) for n in cont_names}
        missing = [n for n in cont_names if n in self.na_names or np.isnan(cols[n]).any()]
        self.na_cols = missing if self.add_col else []
        clash = [n for n in self.added_cat_names if n in cat_names or n in cont_names]
        if clash:
            raise ValueError(f"FillMissing would add {clash}, which already exist; rename them.")

    def apply(self, cols: Columns) -> Columns:
        """Fill NaN with the training values and add the boolean `<col>_na` columns."""
        out = dict(cols)
        for name, value in self.fill_values.items():
            isna = np.isnan(cols[name])
            out[name] = np.where(isna, value, cols[name])
            if name in self.na_cols:
                out[f"{name}_na"] = isna
        return out

    def apply_row(self, row: Row) -> Row:
        """`apply` for one row: fill a NaN and set the row's `<col>_na` flags."""
        out = dict(row)
        for name, value in self.fill_values.items():
            isna = math.isnan(row[name])
            out[name] = value if isna else row[name]
            if name in self.na_cols:
                out[f"{name}_na"] = isna
        return out

    def to_state(self) -> dict[str, Any]:
        """The strategy, the fill values and the indicator columns."""
        keys = ("fill_strategy", "fill_value", "add_col", "na_names", "fill_values", "na_cols")
        return {k: getattr(self, k) for k in keys}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FillMissing:
        """Rebuild a fitted FillMissing."""
        proc = cls(state["fill_strategy"], state["fill_value"], state["add_col"])
        proc.na_names, proc.na_cols = list(state["na_names"]), list(state["na_cols"])
        proc.fill_values = {k: float(v) for k, v in state["fill_values"].items()}
        return proc


class Categorify(TabularProc):
    """Encode categorical columns as int codes; 0 (`#na#`) is missing or unseen in training.

    Categories are those present in the training rows, sorted by value as fastai does (mixed
    types: by type name, then text); an ordered pandas Categorical keeps its declared order
    (its categories absent from the training rows are left out).
    Codes come from one hash look-up per column (`Index.get_indexer`, -1 when absent, + 1):
    `pd.Categorical(values, categories=...)` does the same but pandas deprecates it for
    values outside the categories, which is exactly the unseen case here.
    With `strip` (the default), text values are compared without surrounding whitespace, in
    training and at prediction (`clean_category`).
    """

    order = 1

    def __init__(self, *, strip: bool = True) -> None:
        self.strip = strip
        self.categories: dict[str, pd.Index] = {}
        self.stringified: list[str] = []  # categories kept as text (not JSON types); match as text
        self._lookups: dict[str, tuple[dict[Any, int], tuple[type, ...]]] = {}

    @property
    def classes(self) -> dict[str, list[Any]]:
        """The vocabulary of each column, index 0 being `#na#`."""
        return {n: [NA, *idx.tolist()] for n, idx in self.categories.items()}

    def setup(self, cols: Columns, cat_names: list[str], cont_names: list[str]) -> None:
        """Learn each column's categories from the training rows."""
        self.categories, self._lookups = {}, {}
        for name in cat_names:
            s = pd.Series(cols[name])
            if isinstance(s.dtype, pd.CategoricalDtype):  # categories stripped, order kept
                s = self.clean(s)  # (object when two merge: " a" and "a")
            is_cat = isinstance(s.dtype, pd.CategoricalDtype)
            if is_cat and s.cat.ordered:
                seen = set(s.cat.codes[s.cat.codes >= 0].unique().tolist())
                values = [c for i, c in enumerate(s.cat.categories) if i in seen]
            else:
                distinct = s.dropna().unique().tolist()
                if self.strip:  # one pass over the rows; stripping looks at distinct values
                    distinct = list(dict.fromkeys(clean_category(v) for v in distinct))
                values = sorted_values(distinct)
            dtype = s.cat.categories.dtype if is_cat else s.dtype
            self.categories[name] = pd.Index(values, dtype=dtype if values else object)

    def clean(self, values: pd.Series) -> pd.Series:
        """The column as this proc compares it with its categories (text stripped)."""
        return strip_text(values) if self.strip else values

    def _encode(self, name: str, values: Any) -> np.ndarray:
        values = values if isinstance(values, pd.Series) else pd.Series(values)
        categories = self.categories[name]
        if name in self.stringified:
            values = self.clean(values)
            values = values.astype(str).where(values.notna())
        found = categories.get_indexer(values).astype(np.int64)
        missed = found < 0
        if self.strip and missed.any():  # categories are clean: only a miss can need stripping
            found[missed] = categories.get_indexer(self.clean(values[missed]))
        codes = found + 1
        if codes.size and not codes.any() and _kinds_differ(categories, values):
            warnings.warn(
                f"No value of column {name!r} matches a training category (training: "
                f"{self.categories[name][:3].tolist()}, dtype {self.categories[name].dtype}; "
                f"received dtype {values.dtype}); all coded {NA}.",
                stacklevel=3,
            )
        return codes

    def apply(self, cols: Columns) -> Columns:
        """Replace each categorical column with its int64 codes."""
        return {**cols, **{n: self._encode(n, cols[n]) for n in self.categories}}

    def _row_lookup(self, name: str) -> tuple[dict[Any, int], tuple[type, ...]]:
        """{category: code} and the value types for which a dict look-up equals `_encode`."""
        if name not in self._lookups:
            idx, text, flags = self.categories[name], (str, np.str_), (bool, np.bool_)
            numbers = (int, np.int64, float, np.float64)
            # pandas never matches bools against numbers in a typed index (1 == True in a dict)
            types = {
                "b": text + flags,
                "i": text + numbers,
                "u": text + numbers,
                "f": text + numbers,
            }.get(idx.dtype.kind, text + numbers + flags)
            is_plain = idx.dtype.kind in "biuf" or pd.api.types.is_string_dtype(idx.dtype)
            if name in self.stringified or not is_plain:  # dates, periods...: ask pandas
                types = ()
            self._lookups[name] = ({v: i + 1 for i, v in enumerate(idx.tolist())}, types)
        return self._lookups[name]

    def apply_row(self, row: Row) -> Row:
        """`apply` for one row: one dict look-up per column (0 for missing or unseen)."""
        out = dict(row)
        for name in self.categories:
            value = clean_category(row[name]) if self.strip else row[name]
            lookup, types = self._row_lookup(name)
            if type(value) in types:
                out[name] = lookup.get(value, 0)  # NaN misses too: code 0
            elif value is None:
                out[name] = 0
            else:
                out[name] = int(self._encode(name, pd.Series([value]))[0])
        return out

    def decode(self, cols: Columns) -> Columns:
        """Replace codes with category values (`#na#` for 0)."""
        out = dict(cols)
        for name, idx in self.categories.items():
            out[name] = np.asarray([NA, *idx.tolist()], dtype=object)[np.asarray(cols[name])]
        return out

    def to_state(self) -> dict[str, Any]:
        """Classes per column (with `#na#`) and their dtypes, as JSON values."""
        classes, dtypes, text = {}, {}, list(self.stringified)
        for name, idx in self.categories.items():
            values, dtypes[name], stringified = _index_to_json(idx)
            classes[name] = [NA, *values]
            text += [name] if stringified and name not in text else []
        return {"classes": classes, "dtypes": dtypes, "stringified": text, "strip": self.strip}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Categorify:
        """Rebuild a fitted Categorify; stringified categories match the values as text.

        A file written before `strip` existed strips text when none of its categories has
        surrounding whitespace (they then match stripped values), else compares text as is."""
        proc = cls()
        proc.stringified = list(state["stringified"])
        for name, values in state["classes"].items():
            dtype = "str" if name in proc.stringified else state["dtypes"][name]
            proc.categories[name] = _index_from_json(values[1:], dtype)
        clean = all(clean_category(v) == v for vs in state["classes"].values() for v in vs)
        proc.strip = bool(state.get("strip", clean))
        return proc


class Normalize(TabularProc):
    """Standardise continuous columns with the training mean and std (ddof=0, as sklearn).

    A column with std 0 (constant in training) uses std 1, so it becomes x - mean.
    """

    order = 2

    def __init__(self) -> None:
        self.means: dict[str, float] = {}
        self.stds: dict[str, float] = {}

    def setup(self, cols: Columns, cat_names: list[str], cont_names: list[str]) -> None:
        """Learn mean and std per continuous column (NaN ignored if not filled)."""
        self.means = {n: float(np.nanmean(cols[n])) for n in cont_names}
        stds = {n: float(np.nanstd(cols[n])) for n in cont_names}
        self.stds = {n: s if s > 0 else 1.0 for n, s in stds.items()}

    def apply(self, cols: Columns) -> Columns:
        """Return (x - mean) / std for each continuous column."""
        return {**cols, **{n: (cols[n] - m) / self.stds[n] for n, m in self.means.items()}}

    def apply_row(self, row: Row) -> Row:
        """`apply` for one row."""
        return {**row, **{n: (row[n] - m) / self.stds[n] for n, m in self.means.items()}}

    def decode(self, cols: Columns) -> Columns:
        """Return x * std + mean for each continuous column."""
        return {**cols, **{n: cols[n] * self.stds[n] + m for n, m in self.means.items()}}

    def to_state(self) -> dict[str, Any]:
        """Means and stds per column."""
        return {"means": dict(self.means), "stds": dict(self.stds)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Normalize:
        """Rebuild a fitted Normalize."""
        proc = cls()
        proc.means = {k: float(v) for k, v in state["means"].items()}
        proc.stds = {k: float(v) for k, v in state["stds"].items()}
        return proc
