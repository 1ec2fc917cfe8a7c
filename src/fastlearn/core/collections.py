"""Two small conveniences the course's code leans on: `L`, a list with `map`/`filter`/`attrgot`
and index lists, and `Path`, a `pathlib.Path` with `.ls()`.

    >>> L(range(5)).map(lambda x: x * 2).filter(lambda x: x > 2)
    (#3) [4, 6, 8]
    >>> L(["a", "b", "c"])[[0, 2]]
    (#2) ['a', 'c']
    >>> Path("/tmp").ls()        # the folder's entries, sorted, as an L of Paths

Both are plain subclasses (of `list` and of the platform's `Path` class): nothing is patched.
"""

from __future__ import annotations

import operator
import pathlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = ["L", "Path", "first"]


class L(list):
    """A list that also takes lists of indices, boolean masks and tensors as indices, and has
    the course's helpers `map`, `filter`, `attrgot`, `itemgot`, `unique`, `sorted`.

    Its repr leads with the length, `(#3) [1, 2, 3]`, and shows the first 10 items.
    """

    def __init__(self, items: Iterable[Any] | None = None, *rest: Any) -> None:
        if rest:
            items = [items, *rest]
        elif items is None:
            items = []
        elif isinstance(items, (str, bytes, dict)) or not isinstance(items, Iterable):
            items = [items]
        super().__init__(items)

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, (int, slice)) or (hasattr(idx, "__index__") and _is_scalar(idx)):
            got = super().__getitem__(idx if isinstance(idx, slice) else int(idx))
            return L(got) if isinstance(idx, slice) else got
        idx = list(idx.tolist() if hasattr(idx, "tolist") else idx)
        if idx and all(isinstance(i, bool) for i in idx):
            if len(idx) != len(self):
                raise IndexError(
                    f"Expected a boolean mask of length {len(self)}. Received: length {len(idx)}."
                )
            return L(o for o, keep in zip(self, idx) if keep)
        return L(super(L, self).__getitem__(int(i)) for i in idx)

    def __repr__(self) -> str:
        head = list(list.__getitem__(self, slice(0, 10)))
        body = ", ".join(repr(o) for o in head) + (", ..." if len(self) > 10 else "")
        return f"(#{len(self)}) [{body}]"

    def __add__(self, other: Iterable[Any]) -> L:
        return L(list(self) + list(other))

    def map(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> L:
        """`f(o, *args, **kwargs)` for every item."""
        return L(f(o, *args, **kwargs) for o in self)

    def filter(self, f: Callable[[Any], bool] | None = None, negate: bool = False) -> L:
        """The items for which `f` is true (false with `negate`); no `f`: the truthy items."""
        f = f or bool
        return L(o for o in self if bool(f(o)) != negate)

    def attrgot(self, name: str, default: Any = None) -> L:
        """Attribute `name` of every item (a dict's key `name`), `default` where missing."""
        return L(
            o.get(name, default) if isinstance(o, dict) else getattr(o, name, default) for o in self
        )

    def itemgot(self, *idxs: Any) -> L:
        """`o[i]` of every item (several indices: `o[i][j]`...)."""
        out = self
        for i in idxs:
            out = L(operator.getitem(o, i) for o in out)
        return out

    def unique(self) -> L:
        """The items without repeats, in first-seen order."""
        return L(list(dict.fromkeys(self)))

    def sorted(self, key: Callable[[Any], Any] | str | None = None, reverse: bool = False) -> L:
        """A sorted copy; `key` may be an attribute name."""
        if isinstance(key, str):
            name = key
            key = operator.attrgetter(name)
        return L(sorted(self, key=key, reverse=reverse))

    def sum(self) -> Any:
        return sum(self)

    def concat(self) -> L:
        """The items (each a sequence) joined into one L."""
        return L(o for seq in self for o in seq)

    def enumerate(self) -> L:
        return L(enumerate(self))

    def zip(self) -> L:
        return L(zip(*self))

    def shuffle(self) -> L:
        import random

        out = L(self)
        random.shuffle(out)
        return out


def _is_scalar(idx: Any) -> bool:
    return getattr(idx, "ndim", 0) == 0


def first(items: Iterable[Any], f: Callable[[Any], bool] | None = None) -> Any:
    """The first item (for which `f` is true), or None."""
    return next((o for o in items if f is None or f(o)), None)


class Path(type(pathlib.Path())):  # PosixPath or WindowsPath: pathlib.Path can't be subclassed
    """`pathlib.Path` with the course's `ls()`.

    Paths built from it (`/`, `.parent`, `iterdir`, `glob`) are of this class too.
    """

    def ls(
        self,
        n_max: int | None = None,
        file_type: str | None = None,
        file_exts: Sequence[str] | str | None = None,
    ) -> L:
        """The folder's entries, sorted by name; `file_exts=['.jpg']` keeps those suffixes,
        `file_type='image'` those whose MIME type starts so, `n_max` at most that many."""
        if not self.is_dir():
            kind = "a file" if self.exists() else "nothing"
            raise NotADirectoryError(
                f"ls() lists a folder's entries. Received: {str(self)!r}, which is {kind}."
            )
        entries = sorted(self.iterdir())
        if file_exts is not None:
            exts = {file_exts} if isinstance(file_exts, str) else set(file_exts)
            entries = [p for p in entries if p.suffix.lower() in {e.lower() for e in exts}]
        if file_type is not None:
            import mimetypes

            entries = [
                p for p in entries if (mimetypes.guess_type(p.name)[0] or "").startswith(file_type)
            ]
        return L(entries[:n_max] if n_max is not None else entries)


def as_path(p: str | pathlib.PurePath) -> Path:
    """`p` as a fastlearn `Path` (with `ls()`)."""
    return p if isinstance(p, Path) else Path(p)
