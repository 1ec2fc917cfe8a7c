"""The web app: an exported model behind a page and a JSON API (Starlette, served by uvicorn).

    >>> app = create_app("model.fl")                  # a path or a loaded Predictor
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)   # what `fastlearn serve model.fl` runs

Routes:
    GET  /         a page fitted to the model's input (image upload with preview and
                   drag-and-drop, a text box, one field per tabular column, user and item)
    POST /predict  multipart/form-data with a `file` (images), a raw image body, text/plain
                   (text models) or JSON (`{"text": ...}`, `{"row": {...}}`, `{"user": ...,
                   "item": ...}`, `{"image": "<base64>"}`, `{"tensor": [...]}`, or
                   `{"items": [...]}` for a batch); answers `{"label", "top": [{"label",
                   "probability"}], "time_ms"}` (`value` instead of `top` for regression;
                   `time_ms`: the model's time, queueing excluded)
    GET  /info     the model: what it is (`title`, e.g. "Image classifier · 3 classes", and
                   its `file` name), classes, input fields, metrics at export, limits
    GET  /health   `{"status": "ok"}`

Bad requests get a 4xx with `{"error": "<what was wrong and how to fix it>"}`; the body size,
image pixels, text length and batch size are bounded. Predictions run in a worker thread
(the event loop keeps answering) one at a time under a lock, since a predictor's
preprocessing need not be thread-safe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..answers import fault_message, format_result, jsonable
from ..core.export import Predictor, load_learner
from ..inputs import (
    InputError,
    Limits,
    check_image,
    example,
    input_spec,
    loads_finite,
    parse_json_item,
)

__all__ = ["create_app", "ModelService", "model_title", "parse_json_body"]

STATIC = Path(__file__).parent / "static"
logger = logging.getLogger("fastlearn.serve")
# Errors a predictor raises for an input it can't take (an unknown user, a corrupt image):
# the client's fault, answered with 422. Anything else is a server fault (500, logged).
_INPUT_FAULTS: tuple[type[Exception], ...] = (ValueError, TypeError, KeyError, IndexError, OSError)
_RAW_IMAGE_TYPES = ("image/", "application/octet-stream")
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
    "style-src 'self'; script-src 'self'; frame-ancestors 'none'",
}


def parse_json_body(obj: Any, spec: Mapping[str, Any], limits: Limits) -> tuple[list[Any], bool]:
    """(items, batched): `{"items": [...]}` is a batch, any other object one item."""
    if isinstance(obj, Mapping) and "items" in obj:
        batch = obj["items"]
        if not isinstance(batch, list) or not batch:
            raise InputError(
                f"Expected 'items' to be a non-empty list of objects such as "
                f"{example(spec)}. Received: {type(batch).__name__}"
                f"{' (empty)' if batch == [] else ''}."
            )
        if len(batch) > limits.max_batch:
            raise InputError(
                f"The batch has {len(batch)} items; this server accepts at most "
                f"{limits.max_batch} (max_batch). Fix: split it.",
                413,
            )
        return [parse_json_item(o, spec, limits) for o in batch], True
    return [parse_json_item(obj, spec, limits)], False


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


_NOUNS = {
    "image": "Image",
    "text": "Text",
    "text_pair": "Text pair",
    "tabular": "Tabular",
    "tensor": "Tensor",
}


def model_title(config: Mapping[str, Any], spec: Mapping[str, Any]) -> str:
    """What the model is, in words, from its task, input and classes: "Image classifier ·
    3 classes", "Tabular regression", "Recommender · predicts ratings"."""
    kind, task, vocab = spec["kind"], config.get("task"), config.get("vocab")
    if kind == "collab":
        return "Recommender · predicts ratings"
    if task == "language_model":
        return "Language model"
    noun = _NOUNS.get(kind, "Tensor")
    if task == "detection":  # the vocab starts with '#na#' (padding), not a class
        return f"Object detector · {len(vocab or [' ']) - 1} classes"
    if task == "segmentation":
        what = "Image segmentation"
    elif vocab is None or task == "regression":
        return f"{noun} regression"
    elif task == "multi_label" or config.get("activation") == "sigmoid":
        what = f"Multi-label {noun.lower()} classifier"
    else:
        what = f"{noun} classifier"
    if not vocab:
        return what
    return f"{what} · {len(vocab)} {'class' if len(vocab) == 1 else 'classes'}"


class ModelService:
    """One predictor, its input description and limits; the endpoints as methods."""

    def __init__(
        self, predictor: Predictor, limits: Limits, top_k: int = 5, *, name: str | None = None
    ) -> None:
        self.predictor, self.limits, self.top_k, self.name = predictor, limits, top_k, name
        self.spec = input_spec(predictor.info())
        self._lock = threading.Lock()

    # ------------------------------------------------------------ prediction (worker thread)
    def run(self, items: list[Any]) -> tuple[list[dict[str, Any]], float]:
        """(answers, milliseconds the model took) for parsed items; blocking, off the loop."""
        with self._lock:  # the time waiting here is queueing, not counted
            start = time.perf_counter()
            results = self.predictor.predict_batch(items)
            ms = round((time.perf_counter() - start) * 1000, 3)
        config, vocab = self.predictor.config, self.predictor.vocab
        return [
            format_result(r, config, vocab, self.top_k, item=item)
            for r, item in zip(results, items)
        ], ms

    def _parse(self, content_type: str, body: bytes) -> tuple[list[Any], bool]:
        kind = self.spec["kind"]
        if content_type.startswith(_RAW_IMAGE_TYPES) and kind == "image":
            return [check_image(body, self.limits)], False
        if content_type == "text/plain" and kind == "text":
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(f"The text is not valid UTF-8: {e}.") from None
            return parse_json_body({"text": text}, self.spec, self.limits)
        if content_type != "application/json":
            raise InputError(
                f"This {kind} model takes {self._accepted()}. Received: "
                f"Content-Type {content_type or 'missing'!r}.",
                415,
            )
        try:
            obj = loads_finite(body)
        except InputError:
            raise
        except (ValueError, RecursionError) as e:  # RecursionError: absurdly nested arrays
            raise InputError(
                f"The body is not valid JSON ({type(e).__name__}: "
                f"{str(e)[:200]}). Expected e.g. {example(self.spec)}."
            ) from None
        return parse_json_body(obj, self.spec, self.limits)

    def _accepted(self) -> str:
        json_form = f"application/json like {example(self.spec)}"
        if self.spec["kind"] == "image":
            return f"multipart/form-data with a 'file' field, a raw image/* body, or {json_form}"
        if self.spec["kind"] == "text":
            return f"text/plain or {json_form}"
        return json_form

    # ------------------------------------------------------------ endpoints
    async def predict(self, request: Request) -> Response:
        """POST /predict: parse and check the body, predict in a worker thread, answer JSON."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        body = await _read_body(request, self.limits.max_body)
        if not body:
            raise InputError(f"The request body is empty. This model takes {self._accepted()}.")
        if content_type == "multipart/form-data":
            items, batched = [await self._upload(request, body)], False
        else:
            items, batched = await run_in_threadpool(self._parse, content_type, body)
        try:
            answers, ms = await run_in_threadpool(self.run, items)
        except _INPUT_FAULTS as e:
            raise InputError(
                f"The model could not take this input: {fault_message(e)}", 422
            ) from None
        except Exception:  # noqa: BLE001 (a model bug: log it, answer without a traceback)
            logger.exception("Prediction failed")
            return _error(500, "The model failed on this input; the server log has details.")
        return JSONResponse(
            {"predictions": answers, "time_ms": ms} if batched else {**answers[0], "time_ms": ms}
        )

    async def _upload(self, request: Request, body: bytes) -> bytes:
        if self.spec["kind"] != "image":
            raise InputError(
                f"This {self.spec['kind']} model takes {self._accepted()}. "
                "Received: a multipart upload.",
                415,
            )

        async def replay() -> Message:  # the body, already read within the limit
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            form = await Request(request.scope, replay).form(max_files=1, max_fields=16)
        except (HTTPException, ValueError) as e:
            detail = str(getattr(e, "detail", None) or e).rstrip(".")
            raise InputError(
                f"Could not parse the multipart upload: {detail}. Expected one "
                "image in a field named 'file'."
            ) from None
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InputError(
                    f"Expected an image in a form field named 'file'. Received "
                    f"fields: {sorted(form.keys())}."
                )
            declared = (upload.content_type or "").lower()
            if declared and not declared.startswith(_RAW_IMAGE_TYPES):
                raise InputError(
                    f"Expected an image upload. Received a file of type {declared!r}.", 415
                )
            return check_image(await upload.read(), self.limits)
        finally:
            await form.close()

    async def info(self, request: Request) -> Response:
        """GET /info: what the model is and what it takes."""
        config = self.predictor.config
        arch = config.get("builder_kwargs", {}).get("arch")
        return JSONResponse(
            {
                **jsonable(self.predictor.info()),
                "title": model_title(config, self.spec),
                "file": self.name,
                "architecture": arch if isinstance(arch, str) else None,
                "inputs": self.spec,
                "example": example(self.spec),
                "limits": asdict(self.limits),
                "top_k": self.top_k,
            }
        )

    async def health(self, request: Request) -> Response:
        """GET /health: the server is up and the model is loaded."""
        return JSONResponse({"status": "ok"})

    async def index(self, request: Request) -> Response:
        """GET /: the page; its script reads /info and builds the form for the input kind."""
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def _read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused (413) as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    too_big = (
        f"The request body is over {limit:,} bytes (max_body), the most this server "
        "accepts. Fix: send a smaller file or text."
    )
    if declared is not None:
        if not declared.isdigit():
            raise InputError(f"Content-Length must be a number of bytes. Received: {declared!r}.")
        if int(declared) > limit:
            raise InputError(too_big, 413)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise InputError(too_big, 413)
            chunks.append(chunk)
    except ClientDisconnect:
        raise InputError("The client disconnected before sending the whole body.") from None
    return b"".join(chunks)


class _SecurityHeaders:
    """Adds no-sniff, no-referrer and a same-origin content security policy to answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in _HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers if scope["type"] == "http" else send)


async def _on_input_error(request: Request, exc: Exception) -> Response:
    status = exc.status if isinstance(exc, InputError) else 400
    return _error(status, str(exc))


async def _on_http_error(request: Request, exc: Exception) -> Response:
    return _error(getattr(exc, "status_code", 400), str(getattr(exc, "detail", exc)))


async def _on_server_error(request: Request, exc: Exception) -> Response:
    return _error(500, "Internal server error; the server log has details.")


def _guard_pillow(max_pixels: int) -> None:
    """Make Pillow itself refuse images over the limit, wherever they are decoded."""
    try:
        from PIL import Image
    except ImportError:  # text, tabular and collab servers don't need Pillow
        return
    if Image.MAX_IMAGE_PIXELS is None or Image.MAX_IMAGE_PIXELS > max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels


def create_app(
    predictor_or_path: Predictor | str | Path,
    *,
    max_body: int = 10 * 2**20,
    max_pixels: int = 50_000_000,
    max_text: int = 100_000,
    max_batch: int = 64,
    top_k: int = 5,
    device: str = "cpu",
) -> Starlette:
    """The ASGI app serving one exported model (a `.fl` path or a loaded `Predictor`).

    Limits: `max_body` bytes per request, `max_pixels` per image (Pillow's
    `MAX_IMAGE_PIXELS` is lowered to it for the process), `max_text` characters,
    `max_batch` items per JSON batch; `top_k` classes in each answer.

        >>> import uvicorn
        >>> uvicorn.run(create_app("pets.fl"), host="127.0.0.1", port=8000)
    """
    for name, value in dict(
        max_body=max_body,
        max_pixels=max_pixels,
        max_text=max_text,
        max_batch=max_batch,
        top_k=top_k,
    ).items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"Expected {name} to be a positive integer. Received: {value!r}.")
    predictor = (
        predictor_or_path
        if isinstance(predictor_or_path, Predictor)
        else load_learner(predictor_or_path, device=device)
    )
    limits = Limits(
        max_body=max_body, max_pixels=max_pixels, max_text=max_text, max_batch=max_batch
    )
    _guard_pillow(max_pixels)
    name = None if isinstance(predictor_or_path, Predictor) else Path(predictor_or_path).name
    service = ModelService(predictor, limits, top_k, name=name)
    routes = [
        Route("/", service.index, methods=["GET"]),
        Route("/predict", service.predict, methods=["POST"]),
        Route("/info", service.info, methods=["GET"]),
        Route("/health", service.health, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    handlers = {
        InputError: _on_input_error,
        HTTPException: _on_http_error,
        Exception: _on_server_error,
    }
    app = Starlette(
        routes=routes, exception_handlers=handlers, middleware=[Middleware(_SecurityHeaders)]
    )
    app.state.service = service
    return app
