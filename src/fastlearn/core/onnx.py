"""ONNX export of a trained model, checked against onnxruntime on the same inputs.

    >>> learn.to_onnx("pets.onnx")                       # example inputs: a validation batch
    >>> to_onnx(predictor, "pets.onnx", (x,))             # a loaded Predictor needs them given

The graph takes the model's input batch as the model sees it in training (images resized
and normalised to float tensors; tables as category codes and continuous values; texts as
token ids padded at the start, of any length), with a dynamic batch dimension, and returns
the model's raw outputs (logits: apply the `activation` recorded in the metadata). The
inputs are named `input_0`, `input_1`, ..., the output `output`; the model's JSON config
(activation, vocab, preprocessing) is stored in the ONNX metadata under the key "fastlearn".

By default the TorchScript-based exporter writes one self-contained file with no extra
package; `dynamo=True` uses torch's newer exporter (needs `onnxscript`).

A model whose forward has Python control flow on tensor values (the ULMFiT classifier reads
texts in chunks) is exported through an equivalent pure tensor module that its application
provides (`_TRACEABLE`); the check below still compares against the model itself.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .export import ExportError, Predictor, activation_config

__all__ = ["to_onnx"]

Axes = dict[str, dict[int, str]]  # input or output name -> {dimension: its name}
# Application -> module defining `traceable_model(model, config) -> (module, Axes)`: what to
# export for models a trace can't record as they are. A fixed table, as export's applications.
_TRACEABLE: dict[str, str] = {"text": "fastlearn.text.ulmfit.traceable"}


def _model_and_config(source: Any) -> tuple[nn.Module, dict[str, Any]]:
    """The model and the JSON config to store with it, from a Learner or a Predictor."""
    if isinstance(source, Predictor):
        return source.model, dict(source.config)
    model = getattr(source, "model", None)
    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected a Learner or a Predictor. Received: {type(source).__name__}.")
    config = activation_config(getattr(source, "loss_func", None))
    vocab = getattr(source.dls, "vocab", None)
    config["vocab"] = list(vocab) if vocab is not None else None
    try:
        config.update(source.export_config())
    except ExportError as e:  # a preprocessing export can't describe: the weights still go
        warnings.warn(f"The ONNX metadata has no preprocessing state: {e}", stacklevel=3)
    return getattr(model, "module", model), config  # unwrap DistributedDataParallel


def _learner_inputs(learn: Any) -> tuple[torch.Tensor, ...]:
    """The inputs of one validation batch (no augmentation), at most 8 rows."""
    dl = learn.dls.valid if learn.dls.valid is not None else learn.dls.train
    batch = dl.one_batch()
    if not isinstance(batch, (tuple, list)):
        raise ExportError(
            f"ONNX export needs tensor inputs. Received a batch of type "
            f"{type(batch).__name__}. Fix: pass example_inputs=(tensor, ...)."
        )
    return tuple(batch[: dl.n_inp])


def _as_inputs(example_inputs: Any) -> tuple[torch.Tensor, ...]:
    inputs = (
        (example_inputs,) if isinstance(example_inputs, torch.Tensor) else tuple(example_inputs)
    )
    if not inputs or not all(isinstance(x, torch.Tensor) and x.ndim >= 1 for x in inputs):
        raise ExportError(
            f"Expected example_inputs as a tensor or a tuple of tensors, each "
            f"with a batch dimension first. Received: "
            f"{[type(x).__name__ for x in inputs]}."
        )
    return tuple(x.detach().cpu()[:8] for x in inputs)


def _traceable(model: nn.Module, config: dict[str, Any], n_inputs: int) -> tuple[nn.Module, Axes]:
    """The module to export and its dynamic axes (by default: the batch, first everywhere)."""
    module = _TRACEABLE.get(config.get("application", ""))
    if module is not None:
        return importlib.import_module(module).traceable_model(model, config)
    return model, {name: {0: "batch"} for name in [*_input_names(n_inputs), "output"]}


def _input_names(n: int) -> list[str]:
    return [f"input_{i}" for i in range(n)]


def _export(
    model: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    path: Path,
    opset: int,
    dynamo: bool,
    axes: Axes,
) -> None:
    names = _input_names(len(inputs))
    if dynamo:
        dims = {d: torch.export.Dim(d) for a in axes.values() for d in a.values()}
        shapes = tuple({i: dims[d] for i, d in axes.get(name, {}).items()} for name in names)
        torch.onnx.export(
            model,
            inputs,
            str(path),
            input_names=names,
            output_names=["output"],
            dynamic_shapes=shapes,
            dynamo=True,
            external_data=False,
            opset_version=opset,
        )
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the exporter's own notices
        # Cautions that _check answers for the graph at hand (other batch sizes are run):
        warnings.filterwarnings("ignore", "Exporting a model to ONNX with a batch_size")
        warnings.filterwarnings("ignore", "Exporting aten::index operator")
        warnings.filterwarnings(
            "ignore", category=torch.jit.TracerWarning, module="torch.nn.functional"
        )  # embedding's argument checks
        torch.onnx.export(
            model,
            inputs,
            str(path),
            input_names=names,
            output_names=["output"],
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )


def _add_metadata(path: Path, config: dict[str, Any]) -> None:
    try:
        import onnx
    except ImportError as e:
        raise ImportError(
            f"ONNX export needs the onnx package ({e}). Fix: pip install onnx onnxruntime."
        ) from e

    proto = onnx.load(str(path))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "fastlearn", json.dumps(config)
    onnx.save(proto, str(path))


def _check_batches(inputs: tuple[torch.Tensor, ...], axes: Axes) -> list[tuple[torch.Tensor, ...]]:
    """The example batch, its first row and, where another axis than the batch is dynamic
    (a text's length), the batch cut to the last half along it."""
    batches = [inputs, tuple(x[:1] for x in inputs)]
    other = [{d for d in axes.get(name, {}) if d > 0} for name in _input_names(len(inputs))]
    if any(other):
        batches.append(tuple(_last_half(x, dims) for x, dims in zip(inputs, other)))
    return batches


def _last_half(x: torch.Tensor, dims: set[int]) -> torch.Tensor:
    for d in dims:
        x = x.narrow(d, x.shape[d] // 2, x.shape[d] - x.shape[d] // 2)
    return x


def _check(
    model: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    path: Path,
    atol: float,
    rtol: float,
    axes: Axes,
) -> None:
    """onnxruntime's outputs equal PyTorch's on the example batch, its first row and, for
    inputs of varying length, a shorter batch."""
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise ImportError(
            f"Checking the ONNX file needs onnxruntime ({e}). Fix: pip install "
            "onnxruntime, or pass check=False."
        ) from e
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 (onnxruntime's own error types, by C++ status)
        raise ExportError(
            f"onnxruntime can't load the exported graph ({type(e).__name__}: "
            f"{str(e)[:300]}). The model's forward() likely has control flow on "
            "tensor values that export can't record. Fix: make forward() a pure "
            "function of its tensor inputs."
        ) from None
    for batch in _check_batches(inputs, axes):
        with torch.no_grad():
            expected = model(*batch)
        feed = {f"input_{i}": x.numpy() for i, x in enumerate(batch)}
        got = torch.from_numpy(session.run(["output"], feed)[0])
        if got.shape != expected.shape or not torch.allclose(got, expected, atol=atol, rtol=rtol):
            diff = (
                (got - expected).abs().max().item()
                if got.shape == expected.shape
                else f"shapes {tuple(got.shape)} vs {tuple(expected.shape)}"
            )
            raise ExportError(
                f"The ONNX model's outputs differ from PyTorch's on a batch of {len(batch[0])}: "
                f"max difference {diff} (atol {atol}, rtol {rtol}). The model may depend on "
                "Python state or data-dependent control flow that export can't record. "
                "Fix: make forward() a pure function of its tensor inputs."
            )


def to_onnx(
    learn_or_predictor: Any,
    path: str | Path,
    example_inputs: torch.Tensor | Sequence[torch.Tensor] | None = None,
    *,
    opset: int = 17,
    check: bool = True,
    atol: float = 1e-4,
    rtol: float = 1e-3,
    dynamo: bool = False,
) -> Path:
    """Write the model as ONNX (dynamic batch) and check it against onnxruntime.

    `example_inputs`: a batch of the model's inputs (a tensor or a tuple); a Learner
    defaults to a validation batch. The file is written atomically; returns its path.

        >>> path = to_onnx(learn, "model.onnx")
    """
    model, config = _model_and_config(learn_or_predictor)
    if example_inputs is None and isinstance(learn_or_predictor, Predictor):
        raise ExportError(
            "A Predictor has no data to take example inputs from. Fix: pass "
            "example_inputs=predictor.preprocess([item])."
        )
    inputs = _as_inputs(
        example_inputs if example_inputs is not None else _learner_inputs(learn_or_predictor)
    )
    model = copy.deepcopy(model).cpu().eval()  # the learner's own model keeps device and mode
    graph, axes = _traceable(model, config, len(inputs))  # refuses what it can't export
    graph.eval()  # a wrapper is built in training mode, and export restores that mode after
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        _export(graph, inputs, tmp, opset, dynamo, axes)
        _add_metadata(tmp, config)
        if check:
            _check(model, inputs, tmp, atol, rtol, axes)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
