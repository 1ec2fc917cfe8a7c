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
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from .cells import (
    MissingColumnError,
    check_columns,
    clean_category,
    is_missing,
    report_unseen,
    row_float,
    sorted_values,
    to_float,
)
from .procs import Categorify, Columns, FillMissing, Normalize, TabularProc

__all__ = ["TabularProcessor", "PROCS"]

Array = torch.Tensor | np.ndarray
_FLOAT32_MAX = float(np.finfo(np.float32).max)
PROCS: dict[str, type[TabularProc]] = {p.__name__: p for p in (FillMissing, Categorify, Normalize)}


def _proc(p: Any) -> TabularProc:
    """A proc instance from a proc or its class. A notebook that star-imports
    `fastlearn.vision.all` after `fastlearn.tabular.all` (the course's chapter 1) holds the
    vision `Normalize` batch transform under the name; in `procs` it can only mean the
    tabular proc of that name, as fastai's one `Normalize` class serves both."""
    if isinstance(p, type) and not issubclass(p, TabularProc) and p.__name__ == "Normalize":
        return Normalize()
    return p() if isinstance(p, type) else p


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
        procs = [_proc(p) for p in procs]
        self.procs: list[TabularProc] = sorted(procs, key=lambda p: p.order)  # stable sort
        # the training mode of each categorical input and median of each continuous one: the
        # defaults a form offers (None when a column had no value)
        self.defaults: dict[str, Any] = {}
        self.fitted = False

    @property
    def categorify(self) -> Categorify | None:
        """The Categorify step, which codes categories and so decides what is unseen."""
        return next((p for p in self.procs if isinstance(p, Categorify)), None)

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
        self.defaults = self._defaults(cols)
        for proc in self.procs:
            proc.setup(cols, self.cat_names, self.cont_names)
            self.cat_names += proc.added_cat_names
            cols = proc.apply(cols)
        self.fitted = True
        return self

    def _defaults(self, cols: Columns) -> dict[str, Any]:
        """{column: training mode (categories, as Categorify compares them) or median}."""
        strip = self.categorify is not None and self.categorify.strip
        out = {n: _mode(pd.Series(cols[n]), strip) for n in self.input_cat_names}
        for n in self.cont_names:
            present = cols[n][~np.isnan(cols[n])]
            out[n] = float(np.median(present)) if present.size else None
        return out

    def transform(
        self, df: pd.DataFrame, *, unseen: str = "ignore"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply the fitted procs: (cats LongTensor (N, n_cat), conts FloatTensor (N, n_cont)).

        Categories never seen in training are coded 0 (`#na#`); `unseen="warn"` says so in one
        warning counting them per column, `unseen="error"` refuses them (UnseenCategoryError).
        """
        if not self.fitted:
            raise RuntimeError("TabularProcessor is not fitted. Fix: call fit(train_df) first.")
        cols, n = self._columns(df), len(df)
        raw = {name: cols[name] for name in self.input_cat_names}
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
        _check_processed(conts, self.cont_names, df.index)
        if unseen != "ignore" and self.categorify is not None:
            report_unseen(
                {
                    name: _unseen_counts(raw[name], cats[:, j])
                    for j, name in enumerate(self.input_cat_names)
                },
                unseen,
            )
        return torch.from_numpy(cats), torch.from_numpy(conts)

    def encode_row(
        self, row: Mapping[str, Any] | pd.Series, *, unseen: str = "ignore"
    ) -> tuple[list[int], list[float]]:
        """`transform` for one row (a dict or a pandas row): (cat codes, cont values) as lists.

        Plain dict look-ups and float arithmetic, no pandas: microseconds, the same numbers as
        `transform`. Keys not needed are ignored; a missing one is an error naming it.
        `unseen` as in `transform`.
        """
        cats, conts = self.encode_rows([row], unseen=unseen)
        return cats[0], conts[0]

    def encode_rows(
        self, rows: Sequence[Mapping[str, Any] | pd.Series], *, unseen: str = "ignore"
    ) -> tuple[list[list[int]], list[list[float]]]:
        """`encode_row` for each row; unseen categories reported once for all the rows."""
        if not self.fitted:
            raise RuntimeError("TabularProcessor is not fitted. Fix: call fit(train_df) first.")
        counts: dict[str, Counter] = {n: Counter() for n in self.input_cat_names}
        cats, conts = [], []
        for row in rows:
            codes, values, raw = self._encode_one(row)
            cats.append(codes)
            conts.append(values)
            for j, name in enumerate(self.input_cat_names):
                if codes[j] == 0 and not is_missing(raw[name]):
                    counts[name][raw[name]] += 1
        if unseen != "ignore" and self.categorify is not None:
            report_unseen(counts, unseen)
        return cats, conts

    def _encode_one(
        self, row: Mapping[str, Any] | pd.Series
    ) -> tuple[list[int], list[float], dict[str, Any]]:
        """(cat codes, cont values, the raw categories) of one row."""
        if isinstance(row, pd.Series):
            row = row.to_dict()
        elif not isinstance(row, Mapping):
            raise TypeError(
                f"Expected a dict or a pandas row (Series). Received: {type(row).__name__}. "
                "Fix: pass df.iloc[i] or {column: value}; for several rows use transform(df)."
            )
        raw = {n: _row_value(row, n, "cat_names") for n in self.input_cat_names}
        values = raw | {n: row_float(_row_value(row, n, "cont_names"), n) for n in self.cont_names}
        if any(_lacks_row_path(p) for p in self.procs):  # a custom proc: the pandas path
            cats, conts = self.transform(pd.DataFrame([values]))
            return cats[0].tolist(), conts[0].tolist(), raw
        for proc in self.procs:
            values = proc.apply_row(values)
        conts = [float(values[n]) for n in self.cont_names]
        if any(abs(v) > _FLOAT32_MAX for v in conts):  # inf once normalised: refuse, naming it
            _check_processed(np.asarray([conts], dtype=np.float32), self.cont_names, ["the row"])
        return [int(values[n]) for n in self.cat_names], conts, raw

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
        return {
            "cat_names": self.input_cat_names,
            "cont_names": self.cont_names,
            "procs": procs,
            "defaults": dict(self.defaults),
        }

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
        processor.defaults = dict(state.get("defaults", {}))  # older files have none
        processor.fitted = True
        return processor


def _mode(values: pd.Series, strip: bool) -> Any:
    """The most frequent value (the smallest among ties; text stripped first with `strip`), as
    a JSON value; None if none."""
    counts = values.value_counts(dropna=True)
    if strip:  # " a" and "a" count as one: sum over the distinct values, not the rows
        counts = counts.groupby([clean_category(v) for v in counts.index], sort=False).sum()
    if counts.empty or counts.max() == 0:
        return None
    mode = sorted_values(counts.index[counts == counts.max()].tolist())[0]
    mode = mode.item() if isinstance(mode, np.generic) else mode
    return mode if isinstance(mode, (str, int, float, bool)) else str(mode)


def _unseen_counts(raw: Any, codes: np.ndarray) -> Counter:
    """{raw value: rows} of the values coded 0 although present (not missing)."""
    coded_na = codes == 0
    if not coded_na.any():
        return Counter()
    raw = (raw if isinstance(raw, pd.Series) else pd.Series(raw))[coded_na]
    counts = raw[raw.notna()].value_counts()  # only the #na# rows: missing or unseen
    return Counter(counts[counts > 0].to_dict())  # a Categorical lists its unused categories


def _check_processed(conts: np.ndarray, names: list[str], index: Sequence[Any]) -> None:
    """Refuse continuous inputs that became infinite in float32 after the procs (a number far
    beyond the training range divided by a small std): the model would answer NaN."""
    bad = np.isinf(conts)
    if bad.any():
        i, j = (int(k[0]) for k in np.nonzero(bad))
        where = index[i].item() if isinstance(index[i], np.generic) else index[i]
        raise ValueError(
            f"Expected numbers the model can take in column {names[j]!r}. Received a value "
            f"(row {where!r}) that overflows float32 once normalised ({int(bad.sum())} such): "
            "far outside the training range. Fix: correct it, or pass NaN/None (missing)."
        )


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
