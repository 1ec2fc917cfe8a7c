"""What a table's cells may hold, checked and normalised the same way in training and in
every prediction path (`predict`, `test_dl`, an exported predictor, the CLI, the web app):

- Columns: a missing one is an error naming it and the closest name (`check_columns`).
- Numbers must be finite: inf, -inf, or a number beyond float32 (the model's precision, where
  it would become inf) is refused with an error naming the column and rows, never turned into
  NaN probabilities or a NaN loss. To treat them as missing instead (FillMissing then fills and
  flags them, as NaN), say so: `df.replace([np.inf, -np.inf], np.nan)`.
- Category text is compared without its surrounding whitespace (`clean_category`), so a frame
  read with plain `pd.read_csv` (" Private") meets the categories `from_csv` learned.
- A category unseen in training is coded `#na#`; `report_unseen` says so in one warning per
  call, counting the values per column, or refuses them (strict).
"""

from __future__ import annotations

import difflib
import math
import sys
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "NA",
    "MissingColumnError",
    "UnseenCategoryError",
    "UnseenCategoryWarning",
    "report_unseen",
    "is_missing",
    "clean_category",
    "strip_text",
    "check_columns",
    "to_float",
    "check_finite",
    "index_label",
    "row_float",
    "sorted_values",
]

NA = "#na#"
UNSEEN_POLICIES = ("ignore", "warn", "error")
_FLOAT32_MAX = float(np.finfo(np.float32).max)


class MissingColumnError(KeyError):
    """A column the processor needs is absent from the frame."""

    def __str__(self) -> str:
        return str(self.args[0])


class UnseenCategoryWarning(UserWarning):
    """Categories never seen in training were coded `#na#` at prediction."""


class UnseenCategoryError(ValueError):
    """Categories never seen in training, refused because `strict=True` was asked."""


def report_unseen(unseen: Mapping[str, Counter], policy: str) -> None:
    """One warning (policy "warn") or error ("error") listing, per column, the values unseen
    in training and how many rows held each; nothing for "ignore" or when none was unseen."""
    if policy not in UNSEEN_POLICIES:
        raise ValueError(f"Expected unseen in {UNSEEN_POLICIES}. Received: {policy!r}.")
    unseen = {name: counts for name, counts in unseen.items() if counts}
    if not unseen or policy == "ignore":
        return
    parts = []
    for name, counts in unseen.items():
        shown = ", ".join(f"{v!r} ({n} row{'s' * (n > 1)})" for v, n in counts.most_common(5))
        more = f" and {len(counts) - 5} more values" if len(counts) > 5 else ""
        parts.append(f"column {name!r}: {shown}{more}")
    found = f"values never seen in training: {'; '.join(parts)}."
    if policy == "error":
        raise UnseenCategoryError(
            f"Expected categories seen in training (strict=True). Received {found} Fix: "
            "correct them (the training categories are in dls.classes[column]), or drop "
            f"strict=True to code them {NA}."
        )
    warnings.warn(
        f"Coded {NA}, {found} Fix: correct them (dls.classes[column] lists the "
        "training categories); strict=True refuses such rows.",
        UnseenCategoryWarning,
        stacklevel=_user_stacklevel(),
    )


def _user_stacklevel() -> int:
    """The stacklevel of the first caller outside fastlearn, so that a warning points at the
    user's line whichever path (predict, test_dl, a predictor) raised it."""
    package = str(Path(__file__).resolve().parents[1])
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def is_missing(value: Any) -> bool:
    """Whether one cell is a missing value (None, NaN, pd.NA, NaT): `#na#` by design."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and bool(np.isnan(value))


def clean_category(value: Any) -> Any:
    """The one normalisation of a category value: text loses its surrounding whitespace."""
    return value.strip() if isinstance(value, str) else value


def strip_text(values: pd.Series) -> pd.Series:
    """`clean_category` over a column: text values stripped, others (numbers, NaN) as they
    were; a Categorical keeps its categories' order. Only the distinct values are looked at."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = values.cat.categories.tolist()
        renamed = [clean_category(c) for c in cats]
        if renamed == cats:
            return values
        if len(set(renamed)) == len(renamed):
            return values.cat.rename_categories(renamed)
        values = values.astype(object)  # " a" and "a" both declared: they merge
    if not (values.dtype == object or isinstance(values.dtype, pd.StringDtype)):
        return values
    changed = {v: v.strip() for v in pd.unique(values) if isinstance(v, str) and v != v.strip()}
    return values.replace(changed) if changed else values


def check_columns(df: pd.DataFrame, names: Sequence[str], role: str) -> None:
    """Refuse a frame lacking one of `names` (naming it and the closest column) or with it twice."""
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


def to_float(series: pd.Series, name: str, *, finite: bool = True) -> np.ndarray:
    """A continuous column as float64 (NaN for missing), or an error naming the bad value
    (text; with `finite`, inf and numbers beyond float32 too)."""
    if series.dtype.kind in "mM" or isinstance(series.dtype, pd.DatetimeTZDtype):
        raise TypeError(
            f"Expected numbers in continuous column {name!r}. Received dtype {series.dtype}. "
            f"Fix: expand it with add_datepart(df, {name!r}) or list it in cat_names."
        )
    is_cat = isinstance(series.dtype, pd.CategoricalDtype)
    if pd.api.types.is_numeric_dtype(series.dtype) and not is_cat:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return check_finite(values, series, name) if finite else values
    coerced = pd.to_numeric(series.astype(object), errors="coerce")
    bad = (coerced.isna() & series.notna()).to_numpy()
    if bad.any():
        i = int(bad.argmax())
        raise TypeError(
            f"Expected numbers in continuous column {name!r}. Received {series.iloc[i]!r} at row "
            f"index {index_label(series, i)!r} ({int(bad.sum())} such rows). Fix: clean it, e.g. "
            f"pd.to_numeric(df[{name!r}], errors='coerce'), or list it in cat_names."
        )
    values = coerced.to_numpy(dtype=np.float64, na_value=np.nan)
    return check_finite(values, series, name) if finite else values


def check_finite(values: np.ndarray, series: pd.Series, name: str) -> np.ndarray:
    """`values` (float64, NaN for missing), or an error naming the rows holding inf, -inf or a
    number beyond float32 (which the model would see as inf): the policy for such values."""
    bad = np.isinf(values) | (np.abs(values) > _FLOAT32_MAX)
    if bad.any():
        i = int(bad.argmax())
        rows, n_bad = [index_label(series, int(j)) for j in np.flatnonzero(bad)[:5]], int(bad.sum())
        raise ValueError(
            f"Expected finite numbers in column {name!r}. Received {float(values[i])!r} at row "
            f"index {rows[0]!r} ({n_bad} such rows, at {rows}{'...' if n_bad > 5 else ''}); "
            "inf, -inf and numbers beyond float32 (3.4e38) are refused. Fix: correct them, or "
            f"treat them as missing: df[{name!r}] = df[{name!r}].replace([np.inf, -np.inf], "
            "np.nan) (FillMissing then fills and flags them)."
        )
    return values


def index_label(series: pd.Series, i: int) -> Any:
    """The index label of position `i`, as a Python value (np.int64(3) -> 3) for messages."""
    label = series.index[i]
    return label.item() if isinstance(label, np.generic) else label


def row_float(value: Any, name: str) -> float:
    """One continuous value as a float (NaN for missing), as `to_float` converts a column."""
    if value is None or value is pd.NA or value is pd.NaT:
        return math.nan
    if isinstance(value, (float, int, np.integer, np.floating)):  # bool too, as an int
        number = float(value) if not isinstance(value, int) or abs(value) < 2**1000 else math.inf
    else:  # text, Decimal, ...
        number = float(to_float(pd.Series([value], dtype=object), name, finite=False)[0])
    if math.isinf(number) or abs(number) > _FLOAT32_MAX:
        raise ValueError(
            f"Expected a finite number in column {name!r}. Received {value!r} in the row; "
            "inf, -inf and numbers beyond float32 (3.4e38) are refused. Fix: correct it, or "
            "pass None (a missing value: FillMissing fills it)."
        )
    return number


def sorted_values(values: Sequence[Any]) -> list[Any]:
    """Values sorted as fastai sorts categories; mixed types by type name, then text."""
    try:
        return sorted(values)
    except TypeError:  # mixed types (e.g. str and int): group by type, then by text
        return sorted(values, key=lambda v: (type(v).__name__, str(v)))
