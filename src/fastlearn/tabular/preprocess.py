"""Tabular preprocessing: fit once on the training rows, apply to any frame, export as JSON.

    >>> proc = TabularProcessor(["shop"], ["price"], procs=[Categorify, FillMissing, Normalize])
    >>> cats, conts = proc.fit(train_df).transform(valid_df)  # (N, 2) int64, (N, 1) float32

Every step is vectorised over rows (pandas hash look-ups and numpy arithmetic); procs run in
a fixed order, FillMissing -> Categorify -> Normalize, so the `<col>_na` indicator columns
that FillMissing adds are categorified and the normalisation statistics see filled values.
"""

from __future__ import annotations

import difflib
import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

Columns = dict[str, Any]  # column name -> pd.Series (raw categories) or np.ndarray
Array = torch.Tensor | np.ndarray
NA = "#na#"


class MissingColumnError(KeyError):
    """A column the processor needs is absent from the frame."""

    def __str__(self) -> str:
        return str(self.args[0])


def _check_columns(df: pd.DataFrame, names: Sequence[str], role: str) -> None:
    available = [str(c) for c in df.columns]
    for name in names:
        if name not in df.columns:
            close = difflib.get_close_matches(str(name), available, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise MissingColumnError(
                f"Expected column {name!r} (listed in {role}) in the frame. Received columns: "
                f"{available}.{hint} Fix: rename the column or correct {role}."
            )
        if isinstance(df[name], pd.DataFrame):
            raise ValueError(f"Column {name!r} appears more than once; make the names unique.")


def _to_float(series: pd.Series, name: str) -> np.ndarray:
    """A continuous column as float64 (NaN for missing), or an error naming the bad value."""
    if series.dtype.kind in "mM" or isinstance(series.dtype, pd.DatetimeTZDtype):
        raise TypeError(
            f"Expected numbers in continuous column {name!r}. Received dtype {series.dtype}. "
            f"Fix: expand it with add_datepart(df, {name!r}) or list it in cat_names."
        )
    is_cat = isinstance(series.dtype, pd.CategoricalDtype)
    if pd.api.types.is_numeric_dtype(series.dtype) and not is_cat:
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    coerced = pd.to_numeric(series.astype(object), errors="coerce")
    bad = (coerced.isna() & series.notna()).to_numpy()
    if bad.any():
        i = int(bad.argmax())
        raise TypeError(
            f"Expected numbers in continuous column {name!r}. Received {series.iloc[i]!r} at row "
            f"index {series.index[i]!r} ({int(bad.sum())} such rows). Fix: clean the column, e.g. "
            f"pd.to_numeric(df[{name!r}], errors='coerce'), or list it in cat_names."
        )
    return coerced.to_numpy(dtype=np.float64, na_value=np.nan)


def _sorted_values(values: Sequence[Any]) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:  # mixed types (e.g. str and int): group by type, then by text
        return sorted(values, key=lambda v: (type(v).__name__, str(v)))


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
    """

    order = 1

    def __init__(self) -> None:
        self.categories: dict[str, pd.Index] = {}
        self.stringified: list[str] = []  # categories kept as text (not JSON types); match as text

    @property
    def classes(self) -> dict[str, list[Any]]:
        """The vocabulary of each column, index 0 being `#na#`."""
        return {n: [NA, *idx.tolist()] for n, idx in self.categories.items()}

    def setup(self, cols: Columns, cat_names: list[str], cont_names: list[str]) -> None:
        """Learn each column's categories from the training rows."""
        self.categories = {}
        for name in cat_names:
            s = pd.Series(cols[name])
            is_cat = isinstance(s.dtype, pd.CategoricalDtype)
            if is_cat and s.cat.ordered:
                seen = set(s.cat.codes[s.cat.codes >= 0].unique().tolist())
                values = [c for i, c in enumerate(s.cat.categories) if i in seen]
            else:
                values = _sorted_values(s.dropna().unique().tolist())
            dtype = s.cat.categories.dtype if is_cat else s.dtype
            self.categories[name] = pd.Index(values, dtype=dtype if values else object)

    def _encode(self, name: str, values: Any) -> np.ndarray:
        if name in self.stringified:
            values = pd.Series(values).astype(str).where(pd.Series(values).notna())
        codes = self.categories[name].get_indexer(values).astype(np.int64) + 1
        if codes.size and not codes.any() and _kinds_differ(self.categories[name], values):
            warnings.warn(
                f"No value of column {name!r} matches a training category (training: "
                f"{self.categories[name][:3].tolist()}, dtype {self.categories[name].dtype}; "
                f"received dtype {getattr(values, 'dtype', type(values))}); all coded {NA}.",
                stacklevel=3,
            )
        return codes

    def apply(self, cols: Columns) -> Columns:
        """Replace each categorical column with its int64 codes."""
        return {**cols, **{n: self._encode(n, cols[n]) for n in self.categories}}

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
        return {"classes": classes, "dtypes": dtypes, "stringified": text}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Categorify:
        """Rebuild a fitted Categorify; stringified categories match the values as text."""
        proc = cls()
        proc.stringified = list(state["stringified"])
        for name, values in state["classes"].items():
            dtype = "str" if name in proc.stringified else state["dtypes"][name]
            proc.categories[name] = _index_from_json(values[1:], dtype)
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
        _check_columns(df, self.input_cat_names, "cat_names")
        _check_columns(df, self.cont_names, "cont_names")
        cols: Columns = {n: df[n] for n in self.input_cat_names}
        return cols | {n: _to_float(df[n], n) for n in self.cont_names}

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


def _parse_mixed(field: pd.Series, name: str) -> pd.Series:
    try:
        return pd.to_datetime(field, format="mixed")
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"Expected dates in column {name!r}. Received values pd.to_datetime cannot parse "
            f"({str(e).splitlines()[0]}). Fix: convert it with pd.to_datetime(..., format=...)."
        ) from e


def add_datepart(
    df: pd.DataFrame,
    field_name: str,
    prefix: str | None = None,
    drop: bool = True,
    time: bool = False,
) -> pd.DataFrame:
    """Return a copy of `df` with the date column `field_name` expanded into date parts.

    Adds `<prefix>Year, Month, Week (ISO), Day, Dayofweek (Monday 0), Dayofyear, Is_month_end,
    Is_month_start, Is_quarter_end, Is_quarter_start, Is_year_end, Is_year_start` (and
    `Hour, Minute, Second` with `time=True`) and `Elapsed`, whole seconds since 1970-01-01 UTC
    (int64; nullable Int64 when some dates are missing). `prefix` defaults to the name minus a
    trailing 'date'/'Date' ('saledate' -> 'sale'). Unlike fastai, `df` itself is not modified.

        >>> add_datepart(pd.DataFrame({"saledate": ["2012-02-29"]}), "saledate").saleDayofyear[0]
        60
    """
    _check_columns(df, [field_name], "field_name")
    field = df[field_name]
    if not (field.dtype.kind == "M" or isinstance(field.dtype, pd.DatetimeTZDtype)):
        try:  # one inferred format (fast); else element by element, as older pandas did
            field = pd.to_datetime(field)
        except ValueError:
            field = _parse_mixed(field, field_name)
    prefix = re.sub("[Dd]ate$", "", field_name) if prefix is None else prefix
    attrs = ["Year", "Month", "Week", "Day", "Dayofweek", "Dayofyear", "Is_month_end"]
    attrs += ["Is_month_start", "Is_quarter_end", "Is_quarter_start", "Is_year_end"]
    attrs += ["Is_year_start"] + (["Hour", "Minute", "Second"] if time else [])
    renamed = {"Dayofweek": "day_of_week", "Dayofyear": "day_of_year"}  # pandas 3 names
    parts = {prefix + a: getattr(field.dt, renamed.get(a, a.lower())) for a in attrs if a != "Week"}
    week = field.dt.isocalendar().week.astype(field.dt.day.dtype)  # ISO week, as fastai
    parts = {prefix + a: week if a == "Week" else parts[prefix + a] for a in attrs}
    epoch = pd.Timestamp(0, tz="UTC" if field.dt.tz is not None else None)
    elapsed = (field - epoch) // pd.Timedelta(1, "s")  # float64 with NaN when NaT present
    parts[prefix + "Elapsed"] = elapsed.astype("Int64" if field.isna().any() else "int64")
    out = df.drop(columns=field_name) if drop else df.copy()
    return out.assign(**parts)


def cont_cat_split(
    df: pd.DataFrame, max_card: int = 20, dep_var: str | Sequence[str] | None = None
) -> tuple[list[str], list[str]]:
    """Split columns into (cont_names, cat_names) as fastai does.

    Float columns and integer columns with more than `max_card` distinct values are
    continuous; everything else (object, string, category, bool, dates, low-cardinality
    integers) is categorical. `dep_var` (a name or a list) is left out of both.
    """
    skip = {dep_var} if isinstance(dep_var, str) else set(dep_var or ())
    cont_names, cat_names = [], []
    for name in df.columns:
        if name in skip:
            continue
        col = df[name]
        high_card = pd.api.types.is_integer_dtype(col) and col.nunique(dropna=False) > max_card
        (cont_names if high_card or pd.api.types.is_float_dtype(col) else cat_names).append(name)
    return cont_names, cat_names
