"""A fine-tuned transformers learner saved as a folder of parts and loaded back: the model
and tokenizer as transformers writes them, and fastlearn.json for the rest; and
`learner_from_config`, which rebuilds one from `export_config()` and a state dict.

    >>> save_pretrained_parts(learn, "sentiment")    # safetensors + JSON + tokenizer files
    >>> learn = load_from_parts("sentiment")         # no network, nothing unpickled
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...core.losses import CrossEntropyLossFlat, MSELossFlat
from .data import HFTextDataLoaders
from .learner import APPLICATION, HFClassifier, TransformersLearner, transformers_splitter
from .load import (
    classifier_from_config,
    load_tokenizer,
    require_transformers,
    tokenizer_from_files,
)

__all__ = ["save_pretrained_parts", "load_from_parts", "learner_from_config"]

HEADER = "fastlearn.json"


def save_pretrained_parts(learn: TransformersLearner, folder: str | Path) -> Path:
    """Write `folder`: the model as transformers writes it (config.json, model.safetensors),
    the tokenizer's files, and fastlearn.json (`export_config()` without those two).

    The folder is written beside its destination and renamed into place, so a crash never
    leaves half of it; an existing folder is replaced only if it holds a fastlearn.json.
    The folder also loads in plain transformers (`AutoModelForSequenceClassification`).
    """
    if not isinstance(learn, TransformersLearner):
        raise TypeError(f"Expected a TransformersLearner. Received: {type(learn).__name__}.")
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()) and not (folder / HEADER).is_file():
        raise FileExistsError(
            f"{folder} exists and was not written by save_pretrained_parts "
            f"(no {HEADER}). Fix: choose a new or empty folder."
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    header = learn.export_config(with_tokenizer=False)
    for key in ("hf_config", "tokenizer_files", "builder", "builder_kwargs"):
        del header[key]  # saved as config.json and the tokenizer's files
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        learn.model.hf_model.save_pretrained(tmp)
        learn.dls.tokenize.tokenizer.save_pretrained(tmp)
        (tmp / HEADER).write_text(json.dumps(header, indent=1), encoding="utf-8")
        _replace_folder(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _replace_folder(new: Path, folder: Path) -> None:
    if not folder.exists():
        os.replace(new, folder)
        return
    old = folder.with_name(f".{folder.name}.old-{uuid.uuid4().hex[:8]}")
    os.replace(folder, old)
    os.replace(new, folder)
    shutil.rmtree(old, ignore_errors=True)


def load_from_parts(
    folder: str | Path, *, device: torch.device | str | None = None, **kwargs: Any
) -> TransformersLearner:
    """The learner saved by `save_pretrained_parts`, ready to predict: read from local files
    only (no network), weights from safetensors (nothing unpickled).

        >>> learn = load_from_parts("sentiment")
        >>> learn.predict("What a waste of two hours.")
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"No folder at {folder}. Fix: pass the folder written by save_pretrained_parts."
        )
    if not (folder / HEADER).is_file():
        hint = (
            "it holds a transformers model but no fastlearn.json: fine-tune it with "
            "transformers_learner(dls, folder)"
            if (folder / "config.json").is_file()
            else f"it holds {sorted(p.name for p in folder.iterdir())[:10]}"
        )
        raise ValueError(f"{folder} was not written by save_pretrained_parts: {hint}.")
    header = json.loads((folder / HEADER).read_text(encoding="utf-8"))
    if header.get("application") != APPLICATION:
        raise ValueError(
            f"Expected a saved {APPLICATION!r} learner. Received: "
            f"{header.get('application')!r} in {folder / HEADER}."
        )
    transformers = require_transformers()
    hf_model = transformers.AutoModelForSequenceClassification.from_pretrained(
        folder, local_files_only=True, use_safetensors=True
    )
    return _rebuild(header, hf_model, load_tokenizer(folder), device, **kwargs)


def learner_from_config(
    config: dict[str, Any],
    state_dict: dict[str, torch.Tensor] | None = None,
    *,
    device: torch.device | str | None = None,
    **kwargs: Any,
) -> TransformersLearner:
    """Rebuild a learner from `export_config()` and the HFClassifier's `state_dict` (the
    builder the generic export uses): the model built from its config, no network."""
    hf_model = classifier_from_config(config["hf_config"])
    learn = _rebuild(
        config, hf_model, tokenizer_from_files(config["tokenizer_files"]), device, **kwargs
    )
    if state_dict is not None:
        learn.model.load_state_dict(state_dict)
    return learn


def _rebuild(
    header: dict[str, Any],
    hf_model: nn.Module,
    tokenizer: Any,
    device: torch.device | str | None,
    **kwargs: Any,
) -> TransformersLearner:
    dls = HFTextDataLoaders.for_inference(header["preprocessing"], tokenizer, device=device)
    model_kwargs = header["model_kwargs"]
    loss_func = MSELossFlat() if dls.regression else CrossEntropyLossFlat()
    kwargs.setdefault("train_bn", False)
    kwargs.setdefault("splitter", transformers_splitter)
    return TransformersLearner(
        dls,
        HFClassifier(hf_model.eval(), model_kwargs["y_range"]),
        loss_func=loss_func,
        model_name_or_path=model_kwargs["model_name_or_path"],
        **kwargs,
    )
