"""Getters and labellers: functions from an item (a file, a row) to what a block needs.

    >>> files = get_files(path, extensions=[".txt"], folders=["train", "valid"])
    >>> parent_label(Path("train/cat/1.jpg"))
    'cat'
    >>> using_attr(RegexLabeller(r"^(.+)_\\d+\\.jpg$"), "name")(Path("pets/Abyssinian_1.jpg"))
    'Abyssinian'
    >>> ColReader("fname", pref="images/", suff=".jpg")(row)      # 'images/<fname>.jpg'
    >>> ColReader("labels", label_delim=" ")(row)                  # ['dog', 'person']

`get_files` returns a sorted `L` of `Path`s (with `.ls()`); hidden files and folders are
skipped and the extension test ignores case.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .collections import L, Path

__all__ = ["get_files", "parent_label", "using_attr", "RegexLabeller", "ColReader"]


def get_files(
    path: str | os.PathLike,
    extensions: Iterable[str] | None = None,
    recurse: bool = True,
    folders: Sequence[str] | None = None,
    followlinks: bool = True,
) -> L:
    """Files under `path` (sorted) whose suffix is in `extensions` (all files when None);
    `folders` keeps only those sub-folders of `path`.

    A missing `path` or folder is an error that lists what is there; a folder with no match
    gives an empty L.
    """
    path = Path(path)
    if not path.is_dir():
        what = "is a file" if path.exists() else "does not exist"
        raise FileNotFoundError(f"Expected a folder. Received: {str(path)!r}, which {what}.")
    exts = (
        None
        if extensions is None
        else {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    )
    roots = [path]
    if folders is not None:
        roots = [path / f for f in ([folders] if isinstance(folders, str) else folders)]
        missing = [str(r) for r in roots if not r.is_dir()]
        if missing:
            present = sorted(p.name for p in path.iterdir() if p.is_dir())
            raise FileNotFoundError(
                f"Folders not found: {missing}. Folders in {str(path)!r}: "
                f"{present}. Fix: pass folders= names that exist."
            )
    files: list[Path] = []
    for root in roots:
        files += _files_under(root, exts, recurse, followlinks)
    return L(files)


def _files_under(root: Path, exts: set[str] | None, recurse: bool, followlinks: bool) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=followlinks):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if recurse else []
        out += [
            Path(dirpath, f)
            for f in sorted(filenames)
            if not f.startswith(".") and (exts is None or os.path.splitext(f)[1].lower() in exts)
        ]
    return out


def parent_label(o: str | os.PathLike) -> str:
    """The name of the folder holding `o` (`train/cat/1.jpg` -> 'cat')."""
    return Path(o).parent.name


class using_attr:  # noqa: N801 (the course's name)
    """`f` applied to attribute `attr` of the item: `using_attr(labeller, 'name')`."""

    def __init__(self, f: Callable[[Any], Any], attr: str) -> None:
        self.f, self.attr = f, attr

    def __repr__(self) -> str:
        return f"using_attr({_name(self.f)}, {self.attr!r})"

    def __call__(self, o: Any) -> Any:
        try:
            value = getattr(o, self.attr)
        except AttributeError:
            raise AttributeError(
                f"using_attr expected items with an attribute {self.attr!r}. "
                f"Received: {type(o).__name__} {o!r:.80}."
            ) from None
        return self.f(value)


class RegexLabeller:
    """The first group of `pat` searched in a string, or in a path's name (`match='name'`,
    the default) or its full path (`match='path'`, with '/')."""

    def __init__(self, pat: str, match: str | bool = "name") -> None:
        self.pat = re.compile(pat)
        # fastai's `match=True` means re.match (anchored at the start) on the full path
        self.match, self.anchored = ("path", True) if match is True else (match or "name", False)
        if self.match not in ("name", "path"):
            raise ValueError(f"Expected match='name' or 'path'. Received: {match!r}.")
        if self.pat.groups < 1:
            raise ValueError(
                f"Expected a pattern with a group (...) around the label. Received: {pat!r}."
            )

    def __repr__(self) -> str:
        return f"RegexLabeller({self.pat.pattern!r}, match={self.match!r})"

    def __call__(self, o: str | os.PathLike) -> str:
        if isinstance(o, os.PathLike):
            o = Path(o)
            text = o.name if self.match == "name" else o.as_posix()
        else:
            text = str(o)
        found = (self.pat.match if self.anchored else self.pat.search)(text)
        if found is None:
            raise ValueError(
                f"Pattern {self.pat.pattern!r} does not match {text!r}. Fix: check "
                "the pattern (and whether it should see the name or the path)."
            )
        return found.group(1)


class ColReader:
    """Column(s) `cols` of a row (a pandas Series, a dict, a tuple): with `pref`/`suff` added
    around the value (a path when `pref` is a Path), and `label_delim` splitting it into a list.
    Several columns give a list of values."""

    def __init__(
        self,
        cols: int | str | Sequence[int | str],
        pref: str | os.PathLike = "",
        suff: str = "",
        label_delim: str | None = None,
    ) -> None:
        self.cols = list(cols) if isinstance(cols, (list, tuple)) else [cols]
        self.pref = str(pref) + os.sep if isinstance(pref, os.PathLike) else pref
        self.suff, self.label_delim = suff, label_delim

    def __repr__(self) -> str:
        cols = self.cols[0] if len(self.cols) == 1 else self.cols
        extra = "".join(
            f", {k}={v!r}"
            for k, v in (
                ("pref", self.pref),
                ("suff", self.suff),
                ("label_delim", self.label_delim),
            )
            if v
        )
        return f"ColReader({cols!r}{extra})"

    def _value(self, row: Any, col: int | str) -> Any:
        try:
            if isinstance(col, int) and hasattr(row, "iloc"):
                return row.iloc[col]
            return row[col]
        except (KeyError, IndexError):
            keys = list(row.keys()) if hasattr(row, "keys") else f"{len(row)} fields"
            raise KeyError(
                f"ColReader expected a column {col!r}. Received a row with: {keys}."
            ) from None

    def _apply(self, value: Any) -> Any:
        if self.pref or self.suff:
            value = f"{self.pref}{value}{self.suff}"
        if self.label_delim is not None:
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return []
            return [s for s in str(value).split(self.label_delim) if s]
        if isinstance(self.pref, str) and self.pref.endswith(os.sep):
            return Path(value)
        return value

    def __call__(self, row: Any) -> Any:
        values = [self._apply(self._value(row, c)) for c in self.cols]
        return values[0] if len(values) == 1 else values

    def column(self, df: Any) -> list[Any]:
        """This reader on every row of a DataFrame, read column-wise (fast)."""
        for c in self.cols:
            if (c not in df.columns) and not (isinstance(c, int) and c < df.shape[1]):
                raise KeyError(
                    f"ColReader expected a column {c!r}. Received columns: {list(df.columns)[:20]}."
                )
        cols = [
            df.iloc[:, c] if isinstance(c, int) and c not in df.columns else df[c]
            for c in self.cols
        ]
        values = [[self._apply(_plain(v)) for v in col.tolist()] for col in cols]
        return values[0] if len(values) == 1 else [list(v) for v in zip(*values)]


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") and not isinstance(v, str) else v


def _name(f: Any) -> str:
    return getattr(f, "__name__", None) or repr(f)
