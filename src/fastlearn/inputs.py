"""What a predictor accepts, read from JSON objects and command lines, and checked.

Shared by the web app (`fastlearn.serve`) and `fastlearn predict`; needs only torch (and
Pillow for images). A predictor describes its input in `info()["inputs"]` (see
docs/core_api_for_apps.md):

    {"kind": "image"}   {"kind": "text"}   {"kind": "text_pair"}   {"kind": "tensor", "shape": [4]}
    {"kind": "tabular", "fields": [{"name": "age", "type": "number"}, ...]}
    {"kind": "collab", "user": "userId", "item": "title"}

Every check raises `InputError` with an HTTP status and a message naming what was received
and what would fix it; nothing here lets a bad input reach the model. The answers are
formatted by `fastlearn.answers`.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "InputError",
    "Limits",
    "Row",
    "KINDS",
    "IMAGE_FORMATS",
    "input_spec",
    "check_image",
    "loads_finite",
    "parse_json_item",
    "parse_cli_item",
    "example",
]

KINDS = ("image", "text", "text_pair", "tabular", "collab", "tensor")
# Formats Pillow decodes that a browser or phone sends; others (TIFF, PSD, EPS...) are refused.
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")


class InputError(ValueError):
    """A request the model can't take; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _no_constant(name: str) -> Any:
    raise InputError(
        f"The JSON holds {name}, which is not a number a model can take. Fix: send "
        "finite numbers (or leave a missing value out, or null).",
        422,
    )


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InputError(
            f"The JSON holds {text[:40]}, which overflows to infinity. Fix: send finite numbers.",
            422,
        )
    return value


def _bounded_int(text: str) -> int | float:
    if len(text.lstrip("-")) > 18:  # beyond int64: no model input is that large
        return _finite_float(text)
    return int(text)


def loads_finite(text: str | bytes) -> Any:
    """`json.loads` that refuses NaN, Infinity and numbers that overflow (with a 422), so a
    non-finite value never reaches a model (or a JSON answer, which can't hold one)."""
    return json.loads(
        text, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_bounded_int
    )


@dataclass(frozen=True)
class Limits:
    """Bounds on one request: body bytes, image pixels, text characters, items per batch."""

    max_body: int = 10 * 2**20
    max_pixels: int = 50_000_000
    max_text: int = 100_000
    max_batch: int = 64


def input_spec(info: Mapping[str, Any]) -> dict[str, Any]:
    """`info()["inputs"]` as a dict with a known "kind" (a bare string such as "image" too).

    A tabular field with a `default` (its training mode or median, "stat") gets a `hint` the
    page shows beside it ("median 37", "most common: Private"); one without keeps none.
    """
    spec = info.get("inputs")
    if isinstance(spec, str):
        spec = {"kind": spec}
    if not isinstance(spec, Mapping) or spec.get("kind") not in KINDS:
        return {"kind": "tensor"}
    spec = dict(spec)
    if spec["kind"] == "tabular" and isinstance(spec.get("fields"), list):
        spec["fields"] = [_with_hint(f) if isinstance(f, Mapping) else f for f in spec["fields"]]
    return spec


def _with_hint(field: Mapping[str, Any]) -> dict[str, Any]:
    """The field with `hint` describing its default; a default that is not one JSON scalar
    is dropped (the page then leaves the field blank: a missing value)."""
    field, default = dict(field), field.get("default")
    if not isinstance(default, (str, int, float, bool)) or (
        isinstance(default, float) and not math.isfinite(default)
    ):
        field.pop("default", None)
        return field
    stat = field.get("stat") or "default"
    if field.get("type") == "number" and not isinstance(default, (str, bool)):
        shown = int(default) if float(default).is_integer() else float(f"{default:.6g}")
        field["hint"] = f"{stat} {shown}"
    else:
        field["hint"] = f"{'most common' if stat == 'mode' else stat}: {default}"
    return field


def _size(n: float) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{int(n)} bytes"


# ---------------------------------------------------------------------------- images
def check_image(data: bytes, limits: Limits) -> bytes:
    """Refuse empty, unreadable, unusual or too large images before anything decodes pixels.

    Only the header is parsed here (Pillow reads the size without decoding), so a
    decompression bomb (a small file declaring a huge image) is refused cheaply.
    """
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise InputError(
            "The image is empty (0 bytes). Expected the bytes of a PNG, JPEG, "
            "GIF, BMP or WebP file."
        )
    try:
        with warnings.catch_warnings():  # over max_pixels but under 2x: refused just below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt, (w, h) = img.format, img.size
    except Image.DecompressionBombError as e:
        raise InputError(
            f"The image declares too many pixels to decode safely ({e}). This "
            f"server accepts at most {limits.max_pixels:,} (max_pixels).",
            413,
        ) from None
    except Exception as e:  # noqa: BLE001 (Pillow's header parsers raise many error types)
        why = "not a known image format" if isinstance(e, UnidentifiedImageError) else e
        raise InputError(
            f"Could not read the data as an image ({why}). Expected a PNG, JPEG, "
            f"GIF, BMP or WebP file. Received: {_size(len(data))} starting with "
            f"{data[:8]!r}."
        ) from None
    if fmt not in IMAGE_FORMATS:
        raise InputError(
            f"Expected an image in one of {', '.join(IMAGE_FORMATS)}. Received: "
            f"{fmt}. Fix: convert it to PNG or JPEG.",
            415,
        )
    if w * h > limits.max_pixels:
        raise InputError(
            f"The image is {w}x{h} = {w * h:,} pixels; this server accepts at most "
            f"{limits.max_pixels:,} (max_pixels). Fix: resize it first.",
            413,
        )
    return data


def _image_from_base64(value: Any, limits: Limits) -> bytes:
    if not isinstance(value, str):
        raise InputError(
            f"Expected 'image' to be a base64 string (or a data: URL). Received: "
            f"{type(value).__name__}."
        )
    if value.startswith("data:"):
        value = value.partition(",")[2]
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InputError(f"'image' is not valid base64: {e}.") from None
    return check_image(data, limits)


# ---------------------------------------------------------------------------- other kinds
def _text(value: Any, limits: Limits, name: str = "text") -> str:
    if not isinstance(value, str):
        raise InputError(f"Expected '{name}' to be a string. Received: {type(value).__name__}.")
    if len(value) > limits.max_text:
        raise InputError(
            f"The text has {len(value):,} characters; this server accepts at most "
            f"{limits.max_text:,} (max_text). Fix: send a shorter text.",
            413,
        )
    if not value.strip():
        raise InputError(f"'{name}' is empty. Expected some text to classify.")
    return value


class Row(dict):
    """A tabular row read from a request: the model's columns only. `ignored` names the other
    columns the request held, as `predict` ignores them; the answer lists them back."""

    def __init__(self, values: Mapping[str, Any], ignored: Sequence[str] = ()) -> None:
        super().__init__(values)
        self.ignored = list(ignored)


def _row(value: Any, spec: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InputError(
            f"Expected 'row' to be an object of column -> value. Received: {type(value).__name__}."
        )
    fields = {f["name"]: f for f in spec.get("fields", [])}
    if not fields:
        return dict(value)
    missing = [n for n in fields if n not in value]
    if missing:
        raise InputError(
            f"The row lacks some of the model's columns. Missing: {missing} (send "
            f"null when a value is unknown). Expected: {list(fields)}.",
            422,
        )
    return Row(
        {n: _cell(value[n], fields[n]) for n in fields},
        ignored=[str(n) for n in value if n not in fields],
    )


def _cell(value: Any, field: Mapping[str, Any]) -> Any:
    """A number column takes a finite number, a numeric string or null (a missing value);
    a category column one value (the model strips its text, as in training)."""
    if field.get("type") != "number" or value is None:
        if not (value is None or isinstance(value, (str, int, float, bool))):
            raise InputError(
                f"Column {field['name']!r} takes a single value. Received: {type(value).__name__}.",
                422,
            )
        return value
    if isinstance(value, str) and value.strip() == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(
            f"Column {field['name']!r} takes a number. Received: {value!r}.", 422
        ) from None
    if not math.isfinite(number):
        raise InputError(
            f"Column {field['name']!r} takes a finite number (null when missing). "
            f"Received: {value!r}.",
            422,
        )
    return int(number) if isinstance(value, int) and not isinstance(value, bool) else number


def _collab(obj: Mapping[str, Any], spec: Mapping[str, Any]) -> tuple[Any, Any]:
    names = {"user": spec.get("user", "user"), "item": spec.get("item", "item")}
    pair = []
    for role, name in names.items():
        value = obj.get(role, obj.get(name))
        if not isinstance(value, (str, int)) or isinstance(value, bool) or value == "":
            raise InputError(
                f"Expected '{role}' (the model's {name!r}) as a string or an "
                f"integer. Received: {value!r}."
            )
        pair.append(value)
    return pair[0], pair[1]


def _tensor(value: Any, spec: Mapping[str, Any]) -> torch.Tensor:
    dtype = getattr(torch, str(spec.get("dtype", "float32")), None)
    dtype = dtype if isinstance(dtype, torch.dtype) else torch.float32
    try:
        x = torch.tensor(value, dtype=dtype)
    except (TypeError, ValueError, RuntimeError) as e:
        raise InputError(
            f"Expected 'tensor' as nested lists of numbers. Received something else: {e}."
        ) from None
    shape = spec.get("shape")
    if shape is not None and (
        x.ndim != len(shape) or any(s not in (None, -1) and s != n for s, n in zip(shape, x.shape))
    ):
        raise InputError(
            f"Expected a tensor of shape {list(shape)} (one item, no batch "
            f"dimension). Received: {list(x.shape)}.",
            422,
        )
    return x


def parse_json_item(obj: Any, spec: Mapping[str, Any], limits: Limits) -> Any:
    """One item, from its JSON object, in the form the predictor takes."""
    kind = spec["kind"]
    if not isinstance(obj, Mapping):
        raise InputError(
            f"Expected a JSON object such as {example(spec)}. Received: {type(obj).__name__}."
        )
    key = {
        "image": "image",
        "text": "text",
        "text_pair": "text",
        "tabular": "row",
        "tensor": "tensor",
    }.get(kind)
    if key is not None and key not in obj:
        raise InputError(
            f"Expected an object with {key!r}, such as {example(spec)}. "
            f"Received keys: {sorted(obj)[:10]}."
        )
    if kind == "image":
        return _image_from_base64(obj["image"], limits)
    if kind == "text":
        return _text(obj["text"], limits)
    if kind == "text_pair":
        return _text(obj["text"], limits), _text(obj.get("text_pair"), limits, "text_pair")
    if kind == "tabular":
        return _row(obj["row"], spec)
    if kind == "collab":
        return _collab(obj, spec)
    return _tensor(obj["tensor"], spec)


def example(spec: Mapping[str, Any]) -> str:
    """A JSON request body for one item of this kind (for error messages and the docs)."""
    kind = spec["kind"]
    if kind == "tabular":
        names = [f["name"] for f in spec.get("fields", [])][:3]
        return '{"row": {' + ", ".join(f'"{n}": ...' for n in names) + "}}"
    return {
        "image": '{"image": "<base64 PNG or JPEG>"}',
        "text": '{"text": "..."}',
        "text_pair": '{"text": "...", "text_pair": "..."}',
        "collab": '{"user": ..., "item": ...}',
        "tensor": '{"tensor": [[...]]}',
    }[kind]


def parse_cli_item(arg: str, spec: Mapping[str, Any], limits: Limits) -> Any:
    """One command-line INPUT: an image path, a text, or JSON (a row, a pair, a tensor)."""

    kind = spec["kind"]
    if kind == "image":
        path = Path(arg)
        if not path.is_file():
            raise FileNotFoundError(f"No image file at {arg!r}. Expected paths to images.")
        check_image(path.read_bytes(), limits)
        return path
    if kind == "text":
        return _text(arg, limits)
    try:
        value = loads_finite(arg)
    except InputError:
        raise
    except ValueError:
        raise InputError(
            f"Expected JSON for this {kind} model, such as "
            f"{_cli_example(spec)}. Received: {arg[:80]!r}."
        ) from None
    if kind == "tabular":
        return _row(value.get("row", value) if isinstance(value, dict) else value, spec)
    if kind == "collab" and isinstance(value, list) and len(value) == 2:
        value = {"user": value[0], "item": value[1]}
    if kind == "text_pair" and isinstance(value, list) and len(value) == 2:
        value = {"text": value[0], "text_pair": value[1]}
    if kind == "tensor" and not isinstance(value, dict):
        value = {"tensor": value}
    return parse_json_item(value, spec, limits)


def _cli_example(spec: Mapping[str, Any]) -> str:
    kind = spec["kind"]
    if kind == "tabular":
        return example(spec)[len('{"row": ') : -1]
    return {
        "collab": '\'["user_1", "item_9"]\'',
        "text_pair": '\'["first", "second"]\'',
        "tensor": "'[0.1, 0.2]'",
    }.get(kind, example(spec))
