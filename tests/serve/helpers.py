"""Small exported models of every input kind, for the serving and CLI tests.

Each is a real `.fl` file loaded by `load_learner` through a test application registered with
`register_application`, so the tests need no application package. Weights are set by hand so
that answers are known: the image model names an image's dominant colour, the text model
counts good and bad words, the tabular model prefers high hours, the collab model rates by
user and item biases.
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fastlearn.core.export import (
    Predictor,
    register_application,
    register_builder,
    save_model_file,
)

APPS = ("serve_test_image", "serve_test_text", "serve_test_tabular", "serve_test_collab")
for _app in APPS:
    register_application(_app, __name__)

COLOURS = ["red", "green", "blue"]
WORKCLASSES = ["Private", "Self-emp", "Gov"]
USERS, ITEMS = ["u1", "u2", "u3"], ["i1", "i2"]
GOOD, BAD = {"good", "great", "love"}, {"bad", "awful", "hate"}


# ---------------------------------------------------------------------------- builders
@register_builder("serve_test_cnn")
def colour_cnn(n_out: int = 3) -> nn.Module:
    """1x1 conv -> ReLU -> average pool -> linear: a tiny CNN over (B, 3, 16, 16)."""
    return nn.Sequential(
        nn.Conv2d(3, 3, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, n_out)
    )


@register_builder("serve_test_linear")
def linear(n_in: int = 2, n_out: int = 2) -> nn.Module:
    return nn.Linear(n_in, n_out)


class TabularNet(nn.Module):
    """An embedding for the category and the continuous columns, then a linear layer."""

    def __init__(self, n_cat: int = 4, n_cont: int = 2, n_out: int = 2) -> None:
        super().__init__()
        self.emb = nn.Embedding(n_cat, 2)
        self.lin = nn.Linear(2 + n_cont, n_out)

    def forward(self, x_cat: torch.Tensor, x_cont: torch.Tensor) -> torch.Tensor:
        return self.lin(torch.cat([self.emb(x_cat[:, 0]), x_cont], dim=1))  # (B, n_out)


@register_builder("serve_test_tabular")
def tabular_net(n_cat: int = 4, n_cont: int = 2, n_out: int = 2) -> nn.Module:
    return TabularNet(n_cat, n_cont, n_out)


class DotBias(nn.Module):
    """rating = user . item + user bias + item bias."""

    def __init__(self, n_users: int = 3, n_items: int = 2, n_factors: int = 2) -> None:
        super().__init__()
        self.u, self.i = nn.Embedding(n_users, n_factors), nn.Embedding(n_items, n_factors)
        self.ub, self.ib = nn.Embedding(n_users, 1), nn.Embedding(n_items, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u, i = x[:, 0], x[:, 1]
        return (self.u(u) * self.i(i)).sum(1) + self.ub(u)[:, 0] + self.ib(i)[:, 0]  # (B,)


@register_builder("serve_test_dotbias")
def dot_bias(n_users: int = 3, n_items: int = 2) -> nn.Module:
    return DotBias(n_users, n_items)


# ---------------------------------------------------------------------------- predictors
class ImagePredictor(Predictor):
    """Paths, bytes or PIL images -> RGB 16x16 in [0, 1] -> the colour CNN."""

    def preprocess(self, items: Sequence[Any]) -> tuple[torch.Tensor, ...]:
        from PIL import Image

        xs = []
        for item in items:
            if isinstance(item, (bytes, bytearray)):
                img = Image.open(io.BytesIO(item))
            elif isinstance(item, (str, Path)):
                img = Image.open(item)
            elif isinstance(item, Image.Image):
                img = item
            else:
                raise TypeError(f"Expected an image. Received: {type(item).__name__}.")
            arr = np.asarray(img.convert("RGB").resize((16, 16)), dtype=np.float32) / 255
            xs.append(torch.from_numpy(arr).permute(2, 0, 1))  # (3, 16, 16)
        return (torch.stack(xs).to(self.device),)


class TextPredictor(Predictor):
    """Strings -> (good words, bad words) counts -> linear. `delay` makes it slow on purpose,
    and it records the most predictions it saw running at once (the server must allow one)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.active = self.max_active = 0
        self._count_lock = threading.Lock()

    def preprocess(self, items: Sequence[Any]) -> tuple[torch.Tensor, ...]:
        rows = []
        for item in items:
            if not isinstance(item, str):
                raise TypeError(f"Expected a string. Received: {type(item).__name__}.")
            words = item.lower().split()
            rows.append([sum(w in GOOD for w in words), sum(w in BAD for w in words)])
        return (torch.tensor(rows, dtype=torch.float32, device=self.device),)

    def predict_batch(self, items: Sequence[Any]) -> list[tuple[Any, Any, torch.Tensor]]:
        with self._count_lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            time.sleep(self.config.get("delay", 0.0))
            return super().predict_batch(items)
        finally:
            with self._count_lock:
                self.active -= 1


class TabularPredictor(Predictor):
    """Dict rows with every column -> (category codes, continuous values)."""

    def preprocess(self, items: Sequence[Any]) -> tuple[torch.Tensor, ...]:
        codes, conts = [], []
        for row in items:
            if not isinstance(row, dict):
                raise TypeError(f"Expected a dict row. Received: {type(row).__name__}.")
            work = row["workclass"]
            codes.append([WORKCLASSES.index(work) + 1 if work in WORKCLASSES else 0])  # 0: #na#
            conts.append(
                [40.0 if row[c] is None else float(row[c]) / 100 for c in ("age", "hours")]
            )
        return (
            torch.tensor(codes, device=self.device),
            torch.tensor(conts, dtype=torch.float32, device=self.device),
        )


class CollabPredictor(Predictor):
    """(user, item) pairs -> indices; an unknown user or item is a KeyError naming it."""

    def preprocess(self, items: Sequence[Any]) -> tuple[torch.Tensor, ...]:
        pairs = []
        for user, item in items:
            if user not in USERS:
                raise KeyError(f"Unknown user {user!r}: the model knows {len(USERS)} users.")
            if item not in ITEMS:
                raise KeyError(f"Unknown item {item!r}: the model knows {len(ITEMS)} items.")
            pairs.append([USERS.index(user), ITEMS.index(item)])
        return (torch.tensor(pairs, device=self.device),)


_PREDICTORS = {
    "serve_test_image": ImagePredictor,
    "serve_test_text": TextPredictor,
    "serve_test_tabular": TabularPredictor,
    "serve_test_collab": CollabPredictor,
}


def check_header(config: dict[str, Any], limits: Any) -> None:
    """These test predictors read only the keys every header has (checked by the core)."""


def predictor_from_config(
    config: dict[str, Any], model: nn.Module, device: torch.device
) -> Predictor:
    return _PREDICTORS[config["application"]](model, config, device)


# ---------------------------------------------------------------------------- model files
def _image_model() -> tuple[nn.Module, dict[str, Any]]:
    model = colour_cnn()
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(3)[:, :, None, None])
        model[0].bias.zero_()
        model[4].weight.copy_(8 * torch.eye(3))
        model[4].bias.copy_(torch.tensor([0.0, 0.0, -0.5]))
    return model, {
        "application": "serve_test_image",
        "builder": "serve_test_cnn",
        "builder_kwargs": {"n_out": 3},
        "vocab": COLOURS,
        "inputs": {"kind": "image"},
    }


def _text_model() -> tuple[nn.Module, dict[str, Any]]:
    model = linear(2, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[-1.0, 1.0], [1.0, -1.0]]))
        model.bias.zero_()
    return model, {
        "application": "serve_test_text",
        "builder": "serve_test_linear",
        "builder_kwargs": {"n_in": 2, "n_out": 2},
        "vocab": ["negative", "positive"],
        "inputs": {"kind": "text"},
    }


def _tabular_model() -> tuple[nn.Module, dict[str, Any]]:
    torch.manual_seed(0)
    model = tabular_net()
    fields = [
        {"name": "age", "type": "number"},
        {"name": "workclass", "type": "category", "choices": WORKCLASSES},
        {"name": "hours", "type": "number"},
    ]
    return model, {
        "application": "serve_test_tabular",
        "builder": "serve_test_tabular",
        "builder_kwargs": {},
        "vocab": ["<50k", ">=50k"],
        "inputs": {"kind": "tabular", "fields": fields},
    }


def _collab_model() -> tuple[nn.Module, dict[str, Any]]:
    torch.manual_seed(0)
    return dot_bias(), {
        "application": "serve_test_collab",
        "builder": "serve_test_dotbias",
        "builder_kwargs": {},
        "activation": "none",
        "vocab": None,
        "inputs": {"kind": "collab", "user": "userId", "item": "title"},
    }


def _tensor_model() -> tuple[nn.Module, dict[str, Any]]:
    torch.manual_seed(0)
    return linear(4, 2), {
        "application": "core",
        "builder": "serve_test_linear",
        "builder_kwargs": {"n_in": 4, "n_out": 2},
        "vocab": ["no", "yes"],
        "inputs": {"kind": "tensor", "shape": [4]},
        "metrics": {"epoch": 3, "valid_loss": 0.25, "accuracy": 0.9},
    }


MAKERS = {
    "image": _image_model,
    "text": _text_model,
    "tabular": _tabular_model,
    "collab": _collab_model,
    "tensor": _tensor_model,
}


def write_model(kind: str, path: Path, **extra: Any) -> Path:
    """Export the `kind` test model to `path` (extra config keys, e.g. delay=0.2)."""
    model, config = MAKERS[kind]()
    config = {"activation": "softmax", "axis": -1, **config, **extra}
    return save_model_file(path, model, config)


def solid_png(colour: tuple[int, int, int], size: tuple[int, int] = (32, 24)) -> bytes:
    """A real PNG file of one colour."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


@contextlib.contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Run `app` under uvicorn on a free port of 127.0.0.1 in a thread; yields its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start within 20 s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
