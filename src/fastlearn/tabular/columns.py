"""Column helpers: expand a date into its parts, split columns into continuous/categorical.

>>> df = add_datepart(df, "saledate")            # saleYear, saleMonth, ... saleElapsed
>>> cont_names, cat_names = cont_cat_split(df, max_card=20, dep_var="price")
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

from .cells import check_columns

__all__ = ["add_datepart", "cont_cat_split"]


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
    *,
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
    check_columns(df, [field_name], "field_name")
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
