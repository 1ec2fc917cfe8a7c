"""The Learner's persistence: checkpoints (`save`, `load`, with the optimiser), the safe export
file and ONNX, as a mixin; a checkpoint that doesn't fit is a `CheckpointError`.

It expects the attributes a `Learner` sets (`dls`, `model`, `opt`, `epoch`, `path`,
`model_dir`) and its method `create_opt`.
"""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .distributed import barrier, is_main_process, unwrap_model
from .export import export_learner
from .io import atomic_save
from .onnx import to_onnx

if TYPE_CHECKING:
    from .learner import Learner

__all__ = ["CheckpointMixin", "CheckpointError", "read_checkpoint"]


class CheckpointError(ValueError):
    """A checkpoint that can't be loaded into this learner; the learner is left unchanged."""


class CheckpointMixin:
    """Checkpoints (`save`/`load`), the safe export file and ONNX."""

    def _model_path(self, file: str | Path) -> Path:
        file = Path(file)
        if file.suffix == "":
            file = file.with_suffix(".pth")
        return file if file.is_absolute() else self.path / self.model_dir / file

    def save(self, file: str | Path, with_opt: bool = True) -> Path:
        """Save a checkpoint (model, optimiser, epoch) atomically; returns its path.
        Distributed: rank 0 writes, the others wait for it (call it on every process)."""
        state: dict[str, Any] = {
            "model": unwrap_model(self.model).state_dict(),
            "epoch": self.epoch,
        }
        if with_opt and self.opt is not None:
            state["opt"] = self.opt.state_dict()
        path = self._model_path(file)
        if is_main_process():
            atomic_save(state, path)
        barrier()
        return path

    def load(self, file: str | Path, with_opt: bool = True, strict: bool = True) -> Learner:
        """Load a checkpoint written by `save` (read with weights_only: nothing unpickled).
        A file that is not one, is damaged or belongs to another model raises a
        CheckpointError naming it, with the learner unchanged."""
        path = self._model_path(file)
        if not path.exists():
            raise FileNotFoundError(
                f"No checkpoint at {path}. Fix: check the name passed to "
                f"save() (files there: {_ls(path.parent)})."
            )
        state = read_checkpoint(path, self.dls.device)
        model = unwrap_model(self.model)
        check_weights(path, model, state["model"], strict)
        if with_opt and "opt" in state:
            if self.opt is None:
                self.create_opt()
            try:  # torch checks the groups before changing anything
                self.opt.load_state_dict(state["opt"])
            except (ValueError, KeyError, TypeError) as e:
                raise CheckpointError(
                    f"{path}: its optimiser state doesn't fit this learner's "
                    f"parameter groups ({e}). Fix: learn.load(name, "
                    "with_opt=False) loads the weights alone."
                ) from e
        model.load_state_dict(state["model"], strict=strict)
        self.epoch = state.get("epoch", 0)
        return self

    def export_config(self) -> dict[str, Any]:
        """What `export` writes besides the weights; applications override this."""
        return {"application": "core"}

    def export(
        self,
        path: str | Path = "export.fl",
        *,
        builder: str | None = None,
        builder_kwargs: dict[str, Any] | None = None,
    ) -> Path:
        """Write the model and its preprocessing to one safe file (safetensors + JSON).

        Applications know their builder; a custom model names a registered one:
        `learn.export("m.fl", builder="my_mlp", builder_kwargs={...})`.
        """
        config = self.export_config()
        if builder is not None:
            config.update(builder=builder, builder_kwargs=builder_kwargs or {})
        path = Path(path)
        path = path if path.is_absolute() else self.path / path
        if is_main_process():  # distributed: one copy, written by rank 0; the others wait
            export_learner(self, path, config)
        barrier()
        return path

    def to_onnx(
        self, path: str | Path = "model.onnx", example_inputs: Any = None, **kwargs: Any
    ) -> Path:
        """Write the model as ONNX, checked against onnxruntime (see `core.onnx.to_onnx`)."""
        path = Path(path)
        return to_onnx(
            self, path if path.is_absolute() else self.path / path, example_inputs, **kwargs
        )


def read_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """The dict `Learner.save` wrote to `path`, read with weights_only (a pickle that would
    run code is refused, nothing run), or a CheckpointError naming the file and the fix."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols
            state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path} holds Python objects besides tensors (a pickle, which "
            "could run code when loaded): refused, nothing was run. Fix: load "
            "checkpoints written by learn.save(), or exported .fl files with "
            "load_learner()."
        ) from e
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated or damaged: "
            f"{first[:160]}). Fix: save it again with learn.save(), or use a "
            "copy written whole."
        ) from e
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        kind = sorted(map(str, state))[:6] if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"{path} is not a learn.save() checkpoint: expected a dict with "
            f"'model' (its weights). Received: {kind}. Fix: a bare state dict "
            "loads with learn.model.load_state_dict(torch.load(path, "
            "weights_only=True))."
        )
    return state


def check_weights(
    path: Path, model: torch.nn.Module, weights: dict[str, Any], strict: bool = True
) -> None:
    """Refuse `weights` that don't fit `model` (names and shapes), before any is copied."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights)) if strict else []
    unexpected = sorted(set(weights) - set(expected)) if strict else []
    wrong = [
        (k, tuple(getattr(v, "shape", ())), tuple(expected[k].shape))
        for k, v in weights.items()
        if k in expected and getattr(v, "shape", None) != expected[k].shape
    ]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"{path} holds the weights of another model: missing {missing[:4]}, unexpected "
            f"{unexpected[:4]}, wrong shapes (name, file, model) {wrong[:4]}. Fix: build the "
            "learner with the architecture and classes the checkpoint was saved from"
            + (", or load(..., strict=False) for the matching names." if not wrong else ".")
        )


def _ls(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))[:10] if folder.exists() else []
