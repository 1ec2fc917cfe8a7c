"""Fine-tuning pretrained HuggingFace transformers through the Learner.

    >>> dls = HFTextDataLoaders.from_df(df, "text", "label", valid_col="is_valid",
    ...                                 tokenizer=model_dir, max_len=256, bs=16)
    >>> learn = transformers_learner(dls, model_dir, metrics=accuracy)
    >>> learn.fit_one_cycle(2, 5e-5)
    >>> learn.predict("A wonderful film.")           # ('positive', tensor(1), probs)

The model is `AutoModelForSequenceClassification` wrapped in `HFClassifier`, whose forward
returns the logits; the loss is fastlearn's (cross entropy, or mean squared error for
regression), not the model's own. Parameters fall in three groups, embeddings / encoder
blocks / head, for discriminative learning rates and `freeze()` (head only).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...core.layers import sigmoid_range
from ...core.learner import Learner
from .data import HFTextDataLoaders
from .load import load_classifier, tokenizer_files

__all__ = [
    "HFClassifier",
    "TransformersLearner",
    "transformers_learner",
    "transformers_splitter",
    "check_compatible",
]

APPLICATION = "transformers"


class HFClassifier(nn.Module):
    """A transformers sequence-classification model whose forward returns the logits
    (B, num_labels), squashed into `y_range` (low, high) by a sigmoid when given."""

    def __init__(self, hf_model: nn.Module, y_range: Sequence[float] | None = None) -> None:
        super().__init__()
        self.hf_model = _own_aligned_storage(hf_model)
        self.y_range = None if y_range is None else (float(y_range[0]), float(y_range[1]))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (B, num_labels) of token ids (B, T) and their mask (B, T)."""
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        logits = self.hf_model(input_ids=input_ids, attention_mask=attention_mask, **extra).logits
        return logits if self.y_range is None else sigmoid_range(logits, *self.y_range)

    @property
    def num_labels(self) -> int:
        """Number of outputs."""
        return int(self.hf_model.config.num_labels)


def _own_aligned_storage(module: nn.Module) -> nn.Module:
    """Copy CPU tensors that are views into a checkpoint's buffer (transformers' loading
    leaves them at unaligned addresses) into their own storage. CPU matrix products round
    differently for unaligned operands, so without this a learner fresh from
    `from_pretrained` and the same weights loaded elsewhere (`load_learner`) would disagree
    in the last bit."""
    with torch.no_grad():
        for t in (*module.parameters(), *module.buffers()):
            if t.device.type == "cpu" and t.data_ptr() % 64:
                t.data = t.data.clone()
    return module


def _blocks(base: nn.Module) -> nn.ModuleList:
    """The encoder's repeated blocks: the largest ModuleList of the base model."""
    lists = [m for m in base.modules() if isinstance(m, nn.ModuleList) and len(m) > 1]
    if not lists:
        raise ValueError(
            f"Found no list of encoder blocks in {type(base).__name__}. Fix: pass "
            "splitter= (a function model -> list of parameter lists)."
        )
    return max(lists, key=lambda m: sum(p.numel() for p in m.parameters()))


def transformers_splitter(model: nn.Module, block_groups: int = 1) -> list[list[nn.Parameter]]:
    """Parameter groups [embeddings, encoder blocks (in `block_groups` consecutive groups),
    head]: what comes before the first block (or is named *embed*) is embeddings, what is
    outside the base model or after the last block (pooler, final norm, classifier) head."""
    hf = model.hf_model if isinstance(model, HFClassifier) else model
    base = getattr(hf, "base_model", hf)
    blocks = list(_blocks(base))
    block_groups = max(1, min(block_groups, len(blocks)))
    group_of = {
        id(p): 1 + i * block_groups // len(blocks)
        for i, block in enumerate(blocks)
        for p in block.parameters()
    }
    in_base = {id(p) for p in base.parameters()}
    groups: list[list[nn.Parameter]] = [[] for _ in range(block_groups + 2)]
    seen_block = False
    for name, p in hf.named_parameters():
        if id(p) in group_of:
            seen_block = True
            groups[group_of[id(p)]].append(p)
        elif id(p) in in_base and (not seen_block or "embed" in _module_name(name)):
            groups[0].append(p)
        else:
            groups[-1].append(p)
    return [g for g in groups if g]


def _module_name(param_name: str) -> str:
    """'deberta.encoder.rel_embeddings.weight' -> 'rel_embeddings' (the owner, lower case)."""
    parts = param_name.split(".")
    return parts[-2].lower() if len(parts) > 1 else ""


class TransformersLearner(Learner):
    """A Learner over HFTextDataLoaders and an HFClassifier."""

    def __init__(
        self,
        dls: HFTextDataLoaders,
        model: HFClassifier,
        *args: Any,
        model_name_or_path: str = "",
        **kwargs: Any,
    ) -> None:
        if not isinstance(dls, HFTextDataLoaders):
            raise TypeError(
                f"Expected HFTextDataLoaders. Received: {type(dls).__name__}. "
                "Fix: build them with HFTextDataLoaders.from_df(...)."
            )
        if not isinstance(model, HFClassifier):
            raise TypeError(f"Expected an HFClassifier. Received: {type(model).__name__}.")
        super().__init__(dls, model, *args, **kwargs)
        self.model_name_or_path = str(model_name_or_path)

    def fit(self, n_epoch: int, *args: Any, **kwargs: Any) -> None:
        """Train (see Learner.fit); a learner loaded for inference has nothing to train on."""
        if self.dls.inference:
            raise RuntimeError(
                "This learner was loaded for predictions and has no training "
                "data. Fix: learn.dls = HFTextDataLoaders.from_df(..., "
                "tokenizer=learn.dls.tokenize.tokenizer), then fit."
            )
        super().fit(n_epoch, *args, **kwargs)

    def predict(self, item: str | tuple[str, str]) -> tuple[Any, torch.Tensor, torch.Tensor]:
        """(label, class index, probabilities) for one text, or one (text_a, text_b) pair;
        for regression (value, value, value). Another kind of item is a TypeError."""
        return super().predict(item)

    def export_config(self, *, with_tokenizer: bool = True) -> dict[str, Any]:
        """Everything but the weights, as plain JSON: the application, the transformers model
        config, the preprocessing, the tokenizer's files (text, or base64 for binary ones) and
        the classes. `learner_from_config(config, model.state_dict())` rebuilds the learner."""
        from ... import __version__

        hf_model = self.model.hf_model
        y_range = None if self.model.y_range is None else list(self.model.y_range)
        hf_config = hf_model.config.to_dict()
        return {
            "application": APPLICATION,
            "architecture": "AutoModelForSequenceClassification",
            "model_kwargs": {
                "model_name_or_path": self.model_name_or_path,
                "num_labels": self.model.num_labels,
                "y_range": y_range,
            },
            "hf_config": hf_config,
            # learn.export(path): the builder of fastlearn.text.hf.export rebuilds the model
            "builder": "hf_sequence_classifier",
            "builder_kwargs": {"hf_config": hf_config, "y_range": y_range},
            "inputs": {"kind": "text_pair" if self.dls.tokenize.pair else "text"},
            "preprocessing": self.dls.to_state(),
            "tokenizer_files": tokenizer_files(self.dls.tokenize.tokenizer)
            if with_tokenizer
            else None,
            "vocab": self.dls.vocab,
            "loss_func": type(self.loss_func).__name__,
            "fastlearn_version": __version__,
        }


def transformers_learner(
    dls: HFTextDataLoaders,
    model_name_or_path: str | Path,
    *,
    num_labels: int | None = None,
    metrics: Any = None,
    y_range: Sequence[float] | None = None,
    loss_func: Callable | None = None,
    block_groups: int = 1,
    **kwargs: Any,
) -> TransformersLearner:
    """A TransformersLearner fine-tuning `model_name_or_path` (a folder or hub name).

    The head has `num_labels` outputs (default: the number of classes, or 1 for regression)
    and is new unless the checkpoint has one of that size. `y_range=(low, high)` bounds
    regression outputs. Parameter groups: embeddings, `block_groups` groups of encoder
    blocks, head; `freeze()` trains the head only (LayerNorms too are frozen:
    `train_bn=False`). Other keyword arguments go to Learner (`wd`, `cbs`, `opt_func`...).

        >>> learn = transformers_learner(dls, "path/to/minilm", metrics=accuracy)
        >>> learn.fine_tune(2, 1e-4)
    """
    if not isinstance(dls, HFTextDataLoaders):
        raise TypeError(
            f"Expected HFTextDataLoaders. Received: {type(dls).__name__}. "
            "Fix: build them with HFTextDataLoaders.from_df(...)."
        )
    expected = dls.n_out
    if num_labels is not None and num_labels != expected and not dls.regression:
        raise ValueError(
            f"Expected num_labels={expected} (the classes {dls.vocab[:10]}). "
            f"Received: {num_labels}."
        )
    num_labels = num_labels or expected
    id2label = None if dls.regression else {i: str(v) for i, v in enumerate(dls.vocab)}
    hf_model = load_classifier(model_name_or_path, num_labels, id2label=id2label)
    check_compatible(hf_model, dls)
    kwargs.setdefault("path", dls.path)
    kwargs.setdefault("train_bn", False)
    kwargs.setdefault("splitter", lambda m: transformers_splitter(m, block_groups))
    return TransformersLearner(
        dls,
        HFClassifier(hf_model, y_range),
        loss_func=loss_func or dls.loss_func,
        metrics=metrics,
        model_name_or_path=str(model_name_or_path),
        **kwargs,
    )


def check_compatible(hf_model: nn.Module, dls: HFTextDataLoaders) -> None:
    """The tokenizer's ids and max_len must fit the model's embeddings."""
    config, tokenize = hf_model.config, dls.tokenize
    n_emb = hf_model.get_input_embeddings().num_embeddings
    if len(tokenize.tokenizer) > n_emb:
        raise ValueError(
            f"The tokenizer has {len(tokenize.tokenizer)} tokens but the model "
            f"embeds only {n_emb}. Fix: use the model's own tokenizer."
        )
    n_pos = getattr(config, "max_position_embeddings", None)
    if n_pos is not None and tokenize.max_len > n_pos:
        raise ValueError(
            f"Expected max_len <= {n_pos} (the model's max_position_embeddings). "
            f"Received: max_len={tokenize.max_len}."
        )
    if getattr(config, "pad_token_id", None) is None:
        config.pad_token_id = tokenize.pad_id  # models that pool the last token need it
