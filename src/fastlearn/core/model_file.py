"""What a model file may make us do: the header's size and shape, and what its builder may
allocate. A `.fl` file is untrusted input: it can only choose among registered builders, and
with these checks it can only make `load_learner` allocate what it stores, plus a bounded
overhead, and every header it can hold is either loaded or refused with an `ExportError`
naming the key and what was expected.

The bounds are `LoadLimits`; raise one to load a bigger model:

    >>> load_learner("big.fl", limits=LoadLimits(max_image_side=16384))
"""

from __future__ import annotations

import collections.abc
import inspect
import json
import math
import threading
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.modules import module as torch_module

__all__ = [
    "ExportError",
    "LoadLimits",
    "DEFAULT_LIMITS",
    "parse_json",
    "refuse",
    "section",
    "text",
    "integer",
    "number",
    "flag",
    "choice",
    "string_list",
    "image_size",
    "check_common",
    "check_kwargs",
    "build_within",
]

_FIX = "Fix: export the model again with learn.export(); this file was altered or damaged."


class ExportError(ValueError):
    """A model file that can't be written or loaded safely."""


@dataclass(frozen=True)
class LoadLimits:
    """Bounds on what a model file can make `load_learner` allocate, each with its reason.

    - `max_header_bytes`: the JSON header (preprocessing, vocabularies, tokenizer files).
    - `max_json_containers`: objects and lists in it (each costs ~100 bytes parsed).
    - `max_depth`: nesting of objects and lists (real headers nest 7 deep).
    - `max_image_side`, `max_image_pixels`: any image size the preprocessing resizes to, per
      side and in all (the model runs on it: at 2048 x 2048 a ResNet-50 needs ~1 GB).
    - `max_unstored_elements`: tensor elements the builder may create beyond those the file
      stores (buffers that are not saved, such as position ids).
    """

    max_header_bytes: int = 64 * 2**20
    max_json_containers: int = 2**20
    max_depth: int = 32
    max_image_side: int = 8192
    max_image_pixels: int = 2048 * 2048
    max_unstored_elements: int = 2**24


DEFAULT_LIMITS = LoadLimits()


def _show(value: Any) -> str:
    shown = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return (shown[:60] + "...") if len(shown) > 60 else shown


def refuse(path: str, value: Any, expected: str) -> ExportError:
    """The error for a header value that is not what `expected` says."""
    return ExportError(
        f"The model file's header has {path} = {_show(value)} "
        f"({type(value).__name__}). Expected {expected}. {_FIX}"
    )


def _depth_ok(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend(
                (child, depth + 1) for child in children if isinstance(child, (dict, list))
            )
    return True


def parse_json(raw: bytes | str, where: str, limits: LoadLimits) -> Any:
    """JSON text within the header bounds (bytes, containers, depth) or an ExportError."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > limits.max_header_bytes:
        raise ExportError(
            f"{where} has a header of {size} bytes; the limit is "
            f"{limits.max_header_bytes}. Fix: if you trust the file, load it "
            "with load_learner(path, limits=LoadLimits(max_header_bytes=...))."
        )
    # An upper bound (brackets inside strings count too), found at memchr speed: parsed JSON
    # takes ~25 times its size in objects, so the count, not the bytes, bounds the memory.
    containers = raw.count("[" if isinstance(raw, str) else b"[") + raw.count(
        "{" if isinstance(raw, str) else b"{"
    )
    if containers > limits.max_json_containers:
        raise ExportError(
            f"{where} has a header of {containers} objects and lists; the limit "
            f"is {limits.max_json_containers}. Fix: if you trust the file, raise "
            "LoadLimits(max_json_containers=...)."
        )
    try:
        value, deep = json.loads(raw), False
    except RecursionError:
        value, deep = None, True
    except ValueError as e:
        raise ExportError(f"{where} has a damaged or foreign header (not JSON: {e}). {_FIX}") from e
    if deep or not _depth_ok(value, limits.max_depth):
        raise ExportError(
            f"{where} has a header nested deeper than {limits.max_depth} levels. {_FIX}"
        )
    return value


# ---------------------------------------------------------------------------- header fields
_REQUIRED: Any = object()


def _get(obj: Any, key: str, path: str, default: Any) -> Any:
    if not isinstance(obj, dict):
        raise refuse(path.rsplit(".", 1)[0] if "." in path else "the header", obj, "an object")
    if key not in obj:
        if default is _REQUIRED:
            raise ExportError(f"The model file's header has no {path}. {_FIX}")
        return default
    return obj[key]


def _field(check: Callable[[Any], bool], expected: str) -> Callable[..., Any]:
    def read(obj: Any, key: str, path: str, default: Any = _REQUIRED) -> Any:
        value = _get(obj, key, path, default)
        if value is default and default is not _REQUIRED:
            return value
        if not check(value):
            raise refuse(path, value, expected)
        return value

    read.__doc__ = f"`obj[key]`, which must be {expected} (`path` names it in errors)."
    return read


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


section = _field(lambda v: isinstance(v, dict), "an object")
text = _field(lambda v: isinstance(v, str), "a string")
flag = _field(lambda v: isinstance(v, bool), "true or false")
number = _field(
    lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
    "a finite number",
)
string_list = _field(
    lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v), "a list of strings"
)


def integer(
    obj: Any, key: str, path: str, default: Any = _REQUIRED, *, low: int = 0, high: int = 2**31
) -> Any:
    """`obj[key]`, an int in [low, high] (None passes when it is the default)."""
    value = _get(obj, key, path, default)
    if value is default and default is not _REQUIRED:
        return value
    if not _is_int(value) or not low <= value <= high:
        raise refuse(path, value, f"an integer from {low} to {high}")
    return value


def choice(
    obj: Any, key: str, path: str, options: tuple[Any, ...], default: Any = _REQUIRED
) -> Any:
    """`obj[key]`, one of `options`."""
    value = _get(obj, key, path, default)
    if not any(value == o and type(value) is type(o) for o in options):
        raise refuse(path, value, f"one of {list(options)}")
    return value


def image_size(obj: Any, key: str, path: str, limits: LoadLimits, default: Any = _REQUIRED) -> Any:
    """`obj[key]`: [height, width] (or one side), each from 1 to `limits.max_image_side`."""
    value = _get(obj, key, path, default)
    if value is default and default is not _REQUIRED:
        return value
    sides = value if isinstance(value, list) and len(value) == 2 else [value, value]
    if not all(_is_int(s) and s >= 1 for s in sides):
        raise refuse(path, value, "an image size: [height, width] in pixels")
    if max(sides) > limits.max_image_side or sides[0] * sides[1] > limits.max_image_pixels:
        raise ExportError(
            f"The model file's header asks for images of {value} pixels at "
            f"{path}; the limit is {limits.max_image_side} per side and "
            f"{limits.max_image_pixels:,} in all (the model runs on images that "
            "size). Fix: if you trust the file, load it with load_learner(path, "
            "limits=LoadLimits(max_image_side=..., max_image_pixels=...))."
        )
    return value


def _is_scalar(v: Any) -> bool:
    return (
        v is None or isinstance(v, (str, bool, int)) or (isinstance(v, float) and math.isfinite(v))
    )


def check_common(config: Any, applications: Mapping[str, str]) -> None:
    """The keys every application's header shares, checked before anything is built."""
    if not isinstance(config, dict):
        raise refuse("the header", config, "an object")
    version = config.get("format_version")
    if not _is_int(version):
        raise refuse("format_version", version, "an integer")
    choice(config, "application", "application", tuple(applications))
    text(config, "builder", "builder")
    section(config, "builder_kwargs", "builder_kwargs", {})
    vocab = _get(config, "vocab", "vocab", None)
    if vocab is not None and not (
        isinstance(vocab, list) and vocab and all(_is_scalar(v) for v in vocab)
    ):
        raise refuse("vocab", vocab, "null or a non-empty list of labels (strings or numbers)")
    n_out = config.get("builder_kwargs", {}).get("n_out")
    if vocab is not None and _is_int(n_out) and n_out != len(vocab):
        raise ExportError(
            f"The model file's vocab has {len(vocab)} classes but "
            f"builder_kwargs.n_out is {n_out}: a label for each output is "
            f"needed. {_FIX}"
        )
    kind = choice(config, "activation", "activation", ("softmax", "sigmoid", "none"), "none")
    if kind == "softmax":
        integer(config, "axis", "axis", -1, low=-8, high=8)
    if kind == "sigmoid":
        number(config, "thresh", "thresh", 0.5)
    for key in ("inputs", "metrics", "preprocessing"):
        section(config, key, key, {})
    text(config, "task", "task", "classification")


# ---------------------------------------------------------------------------- the build
class _Budget:
    """Counts the tensors and modules a builder registers in this thread; past the budget it
    raises from inside the registration, so a skeleton of 10^12 parameters stops at once."""

    def __init__(self, tensors: Mapping[str, torch.Tensor], limits: LoadLimits) -> None:
        self.max_tensors = len(tensors) + 64
        self.max_elements = sum(t.numel() for t in tensors.values()) + limits.max_unstored_elements
        self.max_modules = 16 * (len(tensors) + 16)

    def __enter__(self) -> _Budget:
        self.thread, self.seen, self.elements, self.modules = threading.get_ident(), {}, 0, 0
        self.handles = [
            torch_module.register_module_parameter_registration_hook(self._tensor),
            torch_module.register_module_buffer_registration_hook(self._tensor),
            torch_module.register_module_module_registration_hook(self._module),
        ]
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self.handles:
            handle.remove()
        self.seen = {}

    def _tensor(self, module: nn.Module, name: str, tensor: torch.Tensor | None) -> None:
        if tensor is None or threading.get_ident() != self.thread or id(tensor) in self.seen:
            return
        self.seen[id(tensor)] = tensor  # held, so that ids stay unique (a tied weight: once)
        self.elements += tensor.numel()
        if len(self.seen) > self.max_tensors or self.elements > self.max_elements:
            raise ExportError(
                f"The file's builder_kwargs ask for more than the file stores: at least "
                f"{len(self.seen)} tensors of {self.elements} elements, for "
                f"{self.max_tensors - 64} stored tensors of "
                f"{self.max_elements} elements at most (with the unstored allowance). {_FIX}"
            )

    def _module(self, module: nn.Module, name: str, child: nn.Module | None) -> None:
        if child is None or threading.get_ident() != self.thread:
            return
        self.modules += 1
        if self.modules > self.max_modules:
            raise ExportError(
                f"The file's builder_kwargs ask for more than {self.max_modules} "
                f"layers for {self.max_tensors - 64} stored tensors. {_FIX}"
            )


def _fits(value: Any, hint: Any) -> bool:
    """Whether the JSON `value` can be a `hint` (types this can't judge pass)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    if hint is None or hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return _is_int(value)
    if hint is float:
        return (
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        )
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple, collections.abc.Sequence) or hint in (list, tuple):
        if not isinstance(value, list):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(map(_fits, value, args))
        return not args or all(_fits(v, args[0]) for v in value)
    if origin in (dict, collections.abc.Mapping) or hint is dict:
        return isinstance(value, dict)
    return True


def check_kwargs(name: str, builder: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    """Each of the file's `builder_kwargs` against the builder's type hints (an int where an
    int is expected...), so that a wrong type is named before anything is built."""
    target = builder.__init__ if isinstance(builder, type) else builder
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # noqa: BLE001 (hints naming what only type checkers import: unchecked)
        return
    for key, value in kwargs.items():
        if key in hints and not _fits(value, hints[key]):
            raise refuse(
                f"builder_kwargs.{key}",
                value,
                f"{_hint_name(hints[key])} (the argument of the builder {name!r})",
            )


def _hint_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _check_fit(name: str, model: nn.Module, tensors: Mapping[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = [
        (k, tuple(tensors[k].shape), tuple(v.shape))
        for k, v in expected.items()
        if k in tensors and tensors[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        raise ExportError(
            f"The file's tensors don't fit the architecture {name!r}: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}, wrong shapes (name, file, model) {wrong[:5]}. The "
            "file was altered or its builder arguments don't match the weights."
        )


def _call(
    name: str, builder: Callable[..., nn.Module], kwargs: dict[str, Any], budget: _Budget
) -> nn.Module:
    try:
        with budget:
            model = builder(**kwargs)
    except ExportError:
        raise
    except Exception as e:  # noqa: BLE001 (a builder is any constructor given file values)
        cause = str(e).rstrip(".")
        raise ExportError(
            f"The model builder {name!r} could not build the model from the "
            f"file's builder_kwargs: {type(e).__name__}: {cause}. {_FIX}"
        ) from e
    if not isinstance(model, nn.Module):
        raise ExportError(
            f"The model builder {name!r} returned a {type(model).__name__}, not a torch.nn.Module."
        )
    return model


def build_within(
    name: str,
    builder: Callable[..., nn.Module],
    kwargs: dict[str, Any],
    tensors: Mapping[str, torch.Tensor],
    limits: LoadLimits,
) -> nn.Module:
    """`builder(**kwargs)` with the file's `tensors` loaded, allocating only what they hold.

    The model is built first on the `meta` device (shapes only, no memory) and compared with
    the stored tensors, then built for real; both builds run under a budget that stops a
    builder registering more tensors or elements than the file stores. A builder that can't
    run on `meta` is built for real at once, under the same budget.
    """
    check_kwargs(name, builder, kwargs)
    budget = _Budget(tensors, limits)
    try:
        with torch.device("meta"):
            skeleton = _call(name, builder, kwargs, budget)
    except ExportError as e:
        if not isinstance(e.__cause__, (NotImplementedError, RuntimeError)):
            raise
    else:
        _check_fit(name, skeleton, tensors)
    model = _call(name, builder, kwargs, budget)
    _check_fit(name, model, tensors)
    model.load_state_dict(dict(tensors))
    return model.eval()
