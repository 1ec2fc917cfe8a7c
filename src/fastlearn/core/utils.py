"""The course's small helpers: `tensor`, `to_np`, `to_cpu`, `one_hot`, `coll_repr`,
`CategoryMap` (a vocabulary with its `o2i` index), `defaults` (read-only machine facts) and
`save_pickle` / `load_pickle`.

    >>> tensor([1, 2]), tensor(1, 2, 3), tensor(np.zeros((2, 3)))   # the last as float32
    >>> to_np(learn.model(xb))                                      # any nested structure
    >>> one_hot([1, 3], 5)
    tensor([0, 1, 0, 1, 0], dtype=torch.uint8)
    >>> dls.classes["title"].o2i["Star Wars (1977)"]                # a CategoryMap
    >>> defaults.cpus, defaults.device

Only torch and numpy are imported: pandas frames and PIL images are read through numpy.
"""

from __future__ import annotations

import inspect
import itertools
import os
import pickle
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .collections import L
from .torch_utils import default_device, num_cpus, to_device

__all__ = [
    "tensor",
    "to_np",
    "to_cpu",
    "one_hot",
    "coll_repr",
    "CategoryMap",
    "defaults",
    "save_pickle",
    "load_pickle",
    "delegates",
]


def tensor(x: Any, *rest: Any, **kwargs: Any) -> torch.Tensor:
    """`x` as a tensor, as fastai's `tensor`: a number or list (several arguments are one list),
    a list of tensors (stacked), a numpy array (memory shared), or anything numpy can read
    (a PIL image gives (H, W[, C]) uint8, a pandas frame its values). float64 becomes float32.

        >>> tensor([1, 2]).dtype, tensor(1, 2, 3).shape, tensor(np.ones(2)).dtype
        (torch.int64, torch.Size([3]), torch.float32)
    """
    if rest:
        x = (x, *rest)
    if isinstance(x, torch.Tensor):
        out = x if not kwargs else x.to(**kwargs)
    elif isinstance(x, (list, tuple)) and x and all(isinstance(o, torch.Tensor) for o in x):
        out = torch.stack(list(x))
        out = out.to(**kwargs) if kwargs else out
    elif isinstance(x, (list, tuple, int, float, bool, complex)):
        out = torch.tensor(x, **kwargs)
    else:
        out = _array_to_tensor(x, **kwargs)
    return out.float() if out.dtype == torch.float64 and "dtype" not in kwargs else out


def _array_to_tensor(x: Any, **kwargs: Any) -> torch.Tensor:
    """A numpy array (or what numpy can read) as a tensor sharing its memory where it can."""
    arr = x if isinstance(x, np.ndarray) else np.array(x)  # an image's buffer: copied
    if arr.dtype == np.uint16:  # torch has no arithmetic for uint16 (16-bit images)
        arr = arr.astype(np.float32)
    if arr.dtype == object:
        raise TypeError(
            f"Expected numbers (a list, an array, an image). Received: "
            f"{type(x).__name__} holding Python objects. Fix: convert the values "
            f"to numbers first (e.g. df[col].astype('float32'))."
        )
    arr = np.ascontiguousarray(arr)  # torch can't take negative strides (flipped arrays)
    if not arr.flags.writeable:  # torch tensors are writable: don't share a read-only buffer
        arr = arr.copy()
    return torch.as_tensor(arr, **kwargs)


def to_np(x: Any) -> Any:
    """Every tensor in `x` (a tensor or a nested list/tuple/dict) as a numpy array (on the CPU,
    detached)."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, Mapping):
        return {k: to_np(v) for k, v in x.items()}
    if isinstance(x, tuple) and hasattr(x, "_fields"):  # a namedtuple
        return type(x)(*(to_np(o) for o in x))
    if isinstance(x, (list, tuple)):
        return type(x)(to_np(o) for o in x)
    return x


def to_cpu(x: Any) -> Any:
    """Every tensor in `x` (a tensor or a nested list/tuple/dict) moved to the CPU."""
    return to_device(x, torch.device("cpu"))


def one_hot(x: int | Sequence[int] | torch.Tensor, c: int) -> torch.Tensor:
    """A (c,) uint8 vector with ones at the indices `x` (one index or several), as fastai's
    `one_hot` (the multi-label encoding of one item).

        >>> one_hot([1, 3], 5).tolist()
        [0, 1, 0, 1, 0]
    """
    idx = torch.as_tensor(x, dtype=torch.long).reshape(-1)
    if idx.numel() and not bool(((idx >= -c) & (idx < c)).all()):
        raise IndexError(f"Expected indices in [0, {c}). Received: {idx.tolist()[:10]}.")
    out = torch.zeros(c, dtype=torch.uint8)
    out[idx] = 1
    return out


def coll_repr(c: Sequence[Any], max_n: int = 10) -> str:
    """The length and the first `max_n` items of a collection, as an `L` shows itself.

    >>> coll_repr(range(1000), 5)
    '(#1000) [0, 1, 2, 3, 4, ...]'
    """
    head = ", ".join(repr(o) for o in itertools.islice(c, max_n))
    return f"(#{len(c)}) [{head}{', ...' if len(c) > max_n else ''}]"


class CategoryMap(L):
    """A vocabulary: the categories in index order (an `L`) with `o2i`, {category: index}.

    `o2i` is built once, from the categories given: the map is not meant to be appended to.

        >>> vocab = CategoryMap(["#na#", "high", "low"])
        >>> vocab[2], vocab.o2i["high"]
        ('low', 1)
    """

    def __init__(self, items: Iterable[Any] = ()) -> None:
        super().__init__(list(items))
        self.o2i: dict[Any, int] = {v: i for i, v in enumerate(self)}
        if len(self.o2i) != len(self):
            repeated = [v for v in self.o2i if list.count(self, v) > 1][:5]
            raise ValueError(f"Expected unique categories. Received repeats: {repeated}.")


def delegates(to: Callable[..., Any] | type | None = None, keep: bool = False) -> Callable:
    """Show `to`'s keyword arguments in the decorated function's (or class's `__init__`)
    signature in place of its `**kwargs`, as the course's `@delegates(TabularModel)` does.
    Only the signature (`inspect.signature`, help, completion) changes, not the call."""

    def decorate(f: Any) -> Any:
        target = f.__init__ if isinstance(f, type) else f
        source = to if to is not None else (f.__base__.__init__ if isinstance(f, type) else None)
        if source is None:
            raise TypeError(
                "delegates() on a function needs to=: the function whose keyword "
                "arguments it passes on."
            )
        source = source.__init__ if isinstance(source, type) else source
        sig = inspect.signature(target)
        params = dict(sig.parameters)
        var_kw = params.pop("kwargs", None) if not keep else params.get("kwargs")
        if keep and var_kw is not None:
            params.pop("kwargs")
        added = {
            name: p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for name, p in inspect.signature(source).parameters.items()
            if p.default is not inspect.Parameter.empty and name not in params
        }
        params.update(added)
        if keep and var_kw is not None:
            params["kwargs"] = var_kw
        target.__signature__ = sig.replace(
            parameters=sorted(
                params.values(), key=lambda p: (p.kind, p.default is not inspect.Parameter.empty)
            )
        )
        return f

    return decorate


def save_pickle(path: str | os.PathLike[str], obj: Any) -> None:
    """Write `obj` to `path` with pickle (the course saves a TabularPandas so). For models use
    `learn.export`, which writes no pickle."""
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def load_pickle(path: str | os.PathLike[str]) -> Any:
    """Read back what `save_pickle` wrote. Only for files you trust: unpickling runs code."""
    with open(path, "rb") as f:
        return pickle.load(f)  # noqa: S301 (the caller's own file, see the docstring)


class _Defaults:
    """Read-only facts about this machine, under the names the course reads from fastai's
    `defaults`: `cpus` (CPUs this process may use), `device` (the device a Learner picks),
    `use_cuda` (whether CUDA is available).

    fastlearn keeps its defaults in signatures, not in global state: to change one, pass the
    argument (`DataLoader(..., num_workers=4)`, `DataLoaders(..., device="cpu")`).
    """

    __slots__ = ()

    @property
    def cpus(self) -> int:
        """CPUs this process may use."""
        return num_cpus()

    @property
    def device(self) -> torch.device:
        """The device fastlearn trains on unless told otherwise (CUDA, then MPS, then CPU)."""
        return default_device()

    @property
    def use_cuda(self) -> bool:
        """Whether a CUDA GPU is available."""
        return torch.cuda.is_available()

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            f"defaults is read-only: fastlearn keeps its defaults in signatures. Received: "
            f"defaults.{name} = {value!r}. Fix: pass the value where it is used, e.g. "
            f"DataLoader(..., num_workers=...) or DataLoaders(..., device=...)."
        )

    def __repr__(self) -> str:
        return f"defaults(cpus={self.cpus}, device={self.device}, use_cuda={self.use_cuda})"


defaults = _Defaults()
