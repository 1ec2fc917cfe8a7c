"""Safe export: one `.fl` file = safetensors tensors + a JSON header. Never pickle.

The header (stored in the safetensors `__metadata__` under the key "fastlearn") names the
application, the model builder and its arguments, the preprocessing state, the class
vocabulary in training order and the library version. Loading parses JSON and raw tensor
bytes only: a file cannot run code. Models are rebuilt by *builders* found by name: the
applications' in the fixed table `_BUILDER_APPLICATIONS` (each application module lists its
own in a `BUILDERS` dict), a custom architecture's registered with `register_builder`:

    @register_builder("my_mlp")
    def my_mlp(n_in: int, n_out: int) -> nn.Module: ...

    learn.export("model.fl", builder="my_mlp", builder_kwargs={"n_in": 10, "n_out": 2})
    predictor = load_learner("model.fl")
    predictor.predict(x)
"""

from __future__ import annotations

import importlib
import json
import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load, save
from torch import nn

from .._version import __version__
from .distributed import unwrap_model
from .io import atomic_write
from .losses import activation_config
from .model_file import (
    DEFAULT_LIMITS,
    ExportError,
    LoadLimits,
    build_within,
    check_common,
    parse_json,
)

if TYPE_CHECKING:
    from .learner import Learner

__all__ = [
    "FORMAT_VERSION",
    "ExportError",
    "register_builder",
    "get_builder",
    "save_model_file",
    "read_model_file",
    "load_learner",
    "Predictor",
    "PredictorData",
    "activation_config",
    "register_application",
    "LoadLimits",
]

FORMAT_VERSION = 1

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}  # custom architectures (register_builder)
# Application name -> module that defines `check_header(config, limits)` (every key it reads,
# before anything is built) and `predictor_from_config(config, model, device)`. A fixed
# table: a file can only choose among these, never name a module to import.
_APPLICATIONS: dict[str, str] = {
    "core": "fastlearn.core.export",
    "vision": "fastlearn.vision.export",
    "detection": "fastlearn.vision.detection.export",
    "tabular": "fastlearn.tabular.export",
    "collab": "fastlearn.collab.export",
    "text": "fastlearn.text.ulmfit.export",
    "transformers": "fastlearn.text.hf.export",
}


# Builder name -> the application whose module's `BUILDERS` dict holds it. Also fixed: the
# applications register nothing when imported; a file's builder name picks from this table.
_BUILDER_APPLICATIONS: dict[str, str] = {
    "vision_classifier": "vision",
    "vision_unet": "vision",
    "simple_cnn": "vision",
    "detection_fcos": "detection",
    "tabular.TabularModel": "tabular",
    "collab_dot_bias": "collab",
    "collab_nn": "collab",
    "awd_lstm_lm": "text",
    "awd_lstm_classifier": "text",
    "hf_sequence_classifier": "transformers",
}


def register_builder(name: str, fn: Callable[..., nn.Module] | None = None) -> Any:
    """Register a custom architecture's `fn(**kwargs) -> nn.Module` under `name` (usable as a
    decorator); the applications' builders are in `_BUILDER_APPLICATIONS` instead."""

    def decorate(f: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _BUILDERS[name] = f
        return f

    return decorate(fn) if fn is not None else decorate


def register_application(name: str, module: str) -> None:
    """Add an application (for extensions). Its module defines `check_header(config, limits)`,
    which raises ExportError for any header key it reads and can't use (the readers of
    fastlearn.core.model_file do that), and `predictor_from_config(config, model, device)`."""
    _APPLICATIONS[name] = module


def get_builder(name: str) -> Callable[..., nn.Module]:
    """The builder named `name` (an application's, or one registered), or a clear error saying
    how to register it."""
    if name in _BUILDER_APPLICATIONS and name not in _BUILDERS:
        module = importlib.import_module(_APPLICATIONS[_BUILDER_APPLICATIONS[name]])
        return module.BUILDERS[name]
    if name not in _BUILDERS:
        raise ExportError(
            f"The file needs the model builder {name!r}, which is not registered. Known: "
            f"{sorted({*_BUILDER_APPLICATIONS, *_BUILDERS})}. Fix: import the module that "
            "defines it, or register it before loading: "
            f"fastlearn.core.export.register_builder({name!r}, fn) where "
            "fn(**builder_kwargs) returns the model."
        )
    return _BUILDERS[name]


def _check_json(value: Any, where: str = "config") -> None:
    try:
        json.dumps(value, allow_nan=True)
    except TypeError as e:
        raise ExportError(
            f"Export needs plain JSON values; {where} holds something else: "
            f"{e}. Fix: convert it to lists, numbers and strings."
        ) from e


def save_model_file(path: str | Path, model: nn.Module, config: dict[str, Any]) -> Path:
    """Write the model's tensors and `config` as one safetensors file, atomically."""
    header = {"format_version": FORMAT_VERSION, "library_version": __version__, **config}
    _check_json(header)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    data = save(tensors, metadata={"fastlearn": json.dumps(header)})
    path = Path(path)
    with atomic_write(path) as f:
        f.write(data)
    return path


def read_model_file(
    path: str | Path, limits: LoadLimits = DEFAULT_LIMITS
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(config, tensors) from a `.fl` file, refusing anything that is not one, or a header
    beyond `limits` (its size and depth)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {path}.")
    raw = path.read_bytes()
    if raw[8:9] != b"{" and (raw[:1] == b"\x80" or raw[:4] == b"PK\x03\x04"):
        raise ExportError(
            f"{path} is a pickle (or torch.save) file. fastlearn never unpickles, "
            "since unpickling can run any code. Fix: export with "
            "learn.export(), which writes safetensors + JSON."
        )
    if len(raw) < 8:
        raise ExportError(f"{path} is truncated ({len(raw)} bytes): not a fastlearn file.")
    n = int.from_bytes(raw[:8], "little")
    if 8 + n > len(raw):
        raise ExportError(
            f"{path} has a header of {n} bytes in a file of {len(raw)}: the file "
            "is truncated or not a fastlearn model file."
        )
    header = parse_json(raw[8 : 8 + n], str(path), limits)
    try:
        config = parse_json(header["__metadata__"]["fastlearn"], str(path), limits)
    except (KeyError, TypeError) as e:
        raise ExportError(
            f"{path} has a damaged or foreign header ({type(e).__name__}: {e}). "
            "Fix: export the model again with learn.export()."
        ) from e
    if not isinstance(config, dict):
        raise ExportError(
            f"{path} has a damaged or foreign header (a JSON "
            f"{type(config).__name__}, not an object). Fix: export the model "
            "again with learn.export()."
        )
    version = config.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ExportError(
            f"{path} has format_version = {version!r}; expected an integer. Fix: "
            "export the model again with learn.export()."
        )
    if version > FORMAT_VERSION:
        raise ExportError(
            f"{path} uses format version {version!r}; this fastlearn reads up to "
            f"{FORMAT_VERSION}. Fix: upgrade fastlearn."
        )
    try:
        tensors = load(raw)
    except Exception as e:  # noqa: BLE001 (safetensors raises its own error types)
        raise ExportError(f"{path} has damaged tensor data: {e}") from e
    return config, tensors


def load_learner(
    path: str | Path, device: str | torch.device = "cpu", *, limits: LoadLimits = DEFAULT_LIMITS
) -> Predictor:
    """Rebuild an exported model and its preprocessing, for inference. Nothing is unpickled,
    and the file can only make us allocate what it stores plus the bounds of `limits`
    (header size and depth, image sides, unstored buffers); a header that doesn't fit is an
    ExportError naming the key.

    The course's `load_learner(path/'export.pkl')` finds the `.fl` file `learn.export()`
    wrote beside it (same stem, or export.fl in that folder), with a warning.
    """
    path = _model_file(Path(path))
    config, tensors = read_model_file(path, limits)
    check_common(config, _APPLICATIONS)
    app = config["application"]
    try:
        module = importlib.import_module(_APPLICATIONS[app])
    except ImportError as e:
        raise ImportError(
            f"Loading a {app} model needs fastlearn's {app} extras: {e}. Fix: "
            f"pip install 'fastlearn[{app}]'."
        ) from e
    return _predictor(path, module, config, tensors, torch.device(device), limits)


def _predictor(
    path: Path,
    module: Any,
    config: dict[str, Any],
    tensors: dict[str, torch.Tensor],
    device: torch.device,
    limits: LoadLimits,
) -> Predictor:
    """Check the header (the application's keys), build within the file's tensors, make the
    predictor and predict an example: every failure an ExportError naming `path`."""
    try:
        module.check_header(config, limits)
        name = config["builder"]
        model = build_within(
            name, get_builder(name), config.get("builder_kwargs", {}), tensors, limits
        ).to(device)
        predictor = module.predictor_from_config(config, model, device)
    except ExportError:
        raise
    except (KeyError, TypeError, AttributeError, IndexError, ValueError, RecursionError) as e:
        # A backstop: every application checks the keys it reads; this names what slipped.
        raise ExportError(
            f"{path}: the {config['application']} header doesn't fit this "
            f"fastlearn (unchecked {type(e).__name__}: {e}). Fix: export the "
            "model again with learn.export()."
        ) from e
    try:
        predictor.check_example()
    except ExportError:
        raise
    except Exception as e:  # noqa: BLE001 (any error from the model or its preprocessing)
        raise ExportError(
            f"{path}: the header doesn't fit its model: an example input fails "
            f"with {type(e).__name__}: {e}. Fix: export the model again with "
            "learn.export()."
        ) from e
    return predictor


def _model_file(path: Path) -> Path:
    """`path`, or for a missing non-.fl file (fastai's export.pkl) the .fl file beside it."""
    if path.exists() or path.suffix == ".fl":
        return path
    for candidate in (path.with_suffix(".fl"), path.parent / "export.fl"):
        if candidate.is_file():
            warnings.warn(
                f"No {path.name} in {path.parent}: loading {candidate.name}, the safe "
                ".fl file learn.export() wrote.",
                UserWarning,
                stacklevel=3,
            )
            return candidate
    raise FileNotFoundError(
        f"No model file at {path}. fastlearn writes safe .fl files "
        "(learn.export() wrote export.fl); load that: "
        f"load_learner({str(path.parent / 'export.fl')!r})."
    )


def export_learner(learn: Learner, path: str | Path, config: dict[str, Any]) -> Path:
    """Write `learn`'s model with `config` (application, builder, preprocessing)."""
    config = {**activation_config(learn.loss_func), **config}
    if "builder" not in config:
        raise ExportError(
            "Export needs the name of a registered model builder. Fix: "
            "learn.export(path, builder='name', builder_kwargs={...}) after "
            "register_builder('name', fn)."
        )
    get_builder(config["builder"])  # fails now, not at load, for an unknown name
    vocab = config.get("vocab", learn.dls.vocab)
    config["vocab"] = list(vocab) if vocab is not None else None
    config.setdefault("metrics", learn.recorder.history[-1] if learn.recorder.history else {})
    return save_model_file(path, unwrap_model(learn.model), config)


class PredictorData:
    """What course code reads from `learn.dls` on a loaded model, read-only: `vocab` (the
    classes in training order, None for regression) and `c` (how many outputs)."""

    def __init__(self, vocab: Sequence[Any] | None, c: int | None) -> None:
        self._vocab = None if vocab is None else tuple(vocab)
        self._c = c

    @property
    def vocab(self) -> list[Any] | None:
        """The classes, in the order of the model's outputs (a copy)."""
        return None if self._vocab is None else list(self._vocab)

    @property
    def c(self) -> int | None:
        """The number of classes (or of regression outputs; None when the file doesn't say)."""
        return self._c

    def __repr__(self) -> str:
        return f"PredictorData(vocab={self.vocab!r}, c={self.c!r})"


class Predictor:
    """An exported model ready for inference: `predict(item)`, `predict_batch(items)`;
    `dls.vocab` and `dls.c` as on the learner.

    The core predictor takes tensors (one item = one tensor without the batch dimension, or
    a tuple of tensors for several inputs); applications subclass it to accept paths,
    images, texts or rows and apply their training preprocessing.
    """

    def __init__(
        self, model: nn.Module, config: dict[str, Any], device: torch.device | str = "cpu"
    ) -> None:
        self.model, self.config, self.device = model.eval(), config, torch.device(device)
        self.vocab = config.get("vocab")
        n_out = config.get("builder_kwargs", {}).get("n_out")
        self.dls: Any = PredictorData(
            self.vocab,
            len(self.vocab)
            if self.vocab is not None
            else n_out
            if isinstance(n_out, int)
            else None,
        )

    def __repr__(self) -> str:
        vocab = list(self.vocab) if self.vocab is not None else None
        shown = (
            ""
            if vocab is None
            else ", vocab ({}): [{}{}]".format(
                len(vocab), ", ".join(repr(v) for v in vocab[:8]), ", ..." if len(vocab) > 8 else ""
            )
        )
        n_params = sum(p.numel() for p in self.model.parameters())
        return (
            f"{type(self).__name__}({self.config.get('application', 'core')}: "
            f"{self.config.get('builder', type(self.model).__name__)} ({n_params:,} "
            f"parameters){shown}, device {self.device})"
        )

    def preprocess(self, items: Sequence[Any]) -> tuple[torch.Tensor, ...]:
        """Items -> the model's input batch."""
        first = items[0]
        if isinstance(first, tuple):
            return tuple(
                torch.stack([it[i] for it in items]).to(self.device) for i in range(len(first))
            )
        return (torch.stack([torch.as_tensor(it) for it in items]).to(self.device),)

    def activate(self, out: torch.Tensor) -> torch.Tensor:
        """Model outputs -> probabilities (or values), as the training loss defines them."""
        kind = self.config.get("activation", "none")
        if kind == "softmax":
            axis = self.config.get("axis", -1)
            if not -out.dim() <= axis < out.dim():
                raise ExportError(
                    f"The file's header has axis={axis} for model outputs of "
                    f"shape {tuple(out.shape)}. Fix: export the model again."
                )
            return torch.softmax(out, dim=axis)
        if kind == "sigmoid":
            return torch.sigmoid(out)
        return out

    def label(self, index: int) -> Any:
        """The class at `index` of the vocab, or an ExportError when the vocab is shorter
        than the model's outputs (a header that doesn't belong to these weights)."""
        if not 0 <= index < len(self.vocab):
            raise ExportError(
                f"The model answered class {index}, but the file's vocab has "
                f"{len(self.vocab)} classes. Fix: export the model again."
            )
        return self.vocab[index]

    def decode(self, probs: torch.Tensor) -> tuple[Any, Any]:
        """(label, raw decoded value) of one item's probabilities."""
        kind = self.config.get("activation", "none")
        if kind == "softmax":
            idx = probs.argmax(dim=self.config.get("axis", -1))
            label = self.label(int(idx)) if self.vocab is not None and idx.ndim == 0 else idx
            return label, idx
        if kind == "sigmoid":
            hot = probs > self.config.get("thresh", 0.5)
            labels = (
                [self.label(i) for i in torch.nonzero(hot).flatten().tolist()]
                if self.vocab is not None
                else hot
            )
            return labels, hot
        return probs, probs

    @torch.no_grad()
    def predict_batch(self, items: Sequence[Any]) -> list[tuple[Any, Any, torch.Tensor]]:
        """(decoded label, index or raw value, probabilities) for each item."""
        items = list(items)
        if not items:
            return []
        probs = self.activate(self.model(*self.preprocess(items))).cpu()
        return [(*self.decode(p), p) for p in probs]

    def predict(self, item: Any) -> tuple[Any, Any, torch.Tensor]:
        """(decoded label, index or raw value, probabilities) for one item."""
        return self.predict_batch([item])[0]

    def example(self) -> Any:
        """An input this predictor takes, for `check_example` (None: none known). The core
        predictor makes zeros of the recorded tensor shape."""
        inputs = self.config.get("inputs", {})
        shape = inputs.get("shape") if inputs.get("kind") == "tensor" else None
        if (
            isinstance(shape, list)
            and all(type(n) is int and 0 < n <= 4096 for n in shape)
            and math.prod(shape) <= 2**20
        ):
            return torch.zeros(shape)
        return None

    def check_example(self) -> None:
        """Predict `example()` once, so that a header that doesn't fit its model (settings
        no type check can judge) fails at load, not at the first request."""
        item = self.example()
        if item is None:
            return
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.predict_batch([item])

    def info(self) -> dict[str, Any]:
        """What the model is (for `GET /info` and the CLI)."""
        keys = ("application", "builder", "vocab", "metrics", "library_version", "inputs")
        return {k: self.config.get(k) for k in keys if k in self.config}


def check_header(config: dict[str, Any], limits: LoadLimits) -> None:
    """The core application reads only the keys `check_common` checked."""


def predictor_from_config(
    config: dict[str, Any], model: nn.Module, device: torch.device
) -> Predictor:
    """The core application: tensors in, decoded predictions out."""
    return Predictor(model, config, device)
