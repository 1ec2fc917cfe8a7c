"""Transformers models in the safe export format: the builder and `TransformersPredictor`.

    >>> learn.export("sentiment.fl")                  # one file: safetensors + JSON header
    >>> predictor = load_learner("sentiment.fl")      # fastlearn.core.export.load_learner
    >>> predictor.predict("What a wonderful film!")   # ('pos', tensor(1), tensor([...]))

The header holds the transformers model config (the builder's arguments), the tokenizer's
files and the preprocessing (`max_len`, truncation, pairs), so the predictor tokenizes exactly
as `learn.predict` does, with no network and nothing unpickled. `load_learner` reaches this
module through the fixed application table of `fastlearn.core.export`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ...core import model_file as header
from ...core.export import ExportError, LoadLimits, Predictor
from .data import HFTextDataLoaders, HFTextDataset
from .learner import HFClassifier, check_compatible
from .load import classifier_from_config, tokenizer_from_files

__all__ = [
    "BUILDER",
    "TransformersPredictor",
    "hf_sequence_classifier",
    "predictor_from_config",
    "check_header",
]

BUILDER = "hf_sequence_classifier"


def hf_sequence_classifier(
    hf_config: dict[str, Any], y_range: Sequence[float] | None = None
) -> HFClassifier:
    """An `HFClassifier` around `AutoModelForSequenceClassification` built from its config
    (`model.config.to_dict()`), weights uninitialised until the file's are loaded."""
    return HFClassifier(classifier_from_config(hf_config), y_range)


BUILDERS = {BUILDER: hf_sequence_classifier}  # see core/export.py's _BUILDER_APPLICATIONS


def check_header(config: dict[str, Any], limits: LoadLimits) -> None:
    """The tokenizer's files, the preprocessing `for_inference` reads, the model's config."""
    files = header.section(config, "tokenizer_files", "tokenizer_files")
    for name, content in files.items():
        if not (
            isinstance(content, str)
            or isinstance(content, dict)
            and isinstance(content.get("base64"), str)
        ):
            raise header.refuse(
                f"tokenizer_files.{name}", content, 'the file\'s text, or {"base64": its bytes}'
            )
    pre = header.section(config, "preprocessing", "preprocessing")
    cols = header.string_list(pre, "text_cols", "preprocessing.text_cols")
    if not 1 <= len(cols) <= 2:
        raise header.refuse("preprocessing.text_cols", cols, "one or two column names")
    header.text(pre, "label_col", "preprocessing.label_col", None)
    header.integer(pre, "max_len", "preprocessing.max_len", low=4, high=2**20)
    header.flag(pre, "pair", "preprocessing.pair")
    header.choice(pre, "truncation", "preprocessing.truncation", ("head", "head_tail"), "head")
    header.flag(pre, "regression", "preprocessing.regression")
    vocab = pre.get("vocab")
    if vocab is not None and not (isinstance(vocab, list) and vocab):
        raise header.refuse("preprocessing.vocab", vocab, "null or a non-empty list of labels")
    header.integer(pre, "bs", "preprocessing.bs", 32, low=1)
    if config["builder"] == BUILDER:
        hf_config = header.section(
            config.get("builder_kwargs", {}), "hf_config", "builder_kwargs.hf_config"
        )
        header.text(hf_config, "model_type", "builder_kwargs.hf_config.model_type")


class TransformersPredictor(Predictor):
    """Texts (or (text_a, text_b) pairs) in; (label, class index, probabilities) out, or for
    regression (values, values, values), as `TransformersLearner.predict`."""

    def __init__(
        self, model: nn.Module, config: dict[str, Any], device: torch.device | str = "cpu"
    ) -> None:
        super().__init__(model, config, device)
        try:
            tokenizer = tokenizer_from_files(config["tokenizer_files"])
            self.dls = HFTextDataLoaders.for_inference(
                config["preprocessing"], tokenizer, device=self.device
            )
            check_compatible(model.hf_model, self.dls)
        except Exception as e:  # noqa: BLE001 (transformers and tokenizers raise bare Exception)
            raise ExportError(
                f"The model file's tokenizer_files and preprocessing can't be used with its "
                f"model: {type(e).__name__}: {e} Fix: export the model again."
            ) from e
        self.tokenize = self.dls.tokenize

    def example(self) -> str | tuple[str, str]:
        """A one-word text, or a pair of them."""
        return ("a", "b") if self.tokenize.pair else "a"

    def preprocess(self, items: Sequence[Any]) -> tuple[torch.Tensor, ...]:
        """Texts -> (input_ids, attention_mask[, token_type_ids]), padded to the longest."""
        ds = HFTextDataset.from_items(list(items), None, self.tokenize)
        return tuple(t.to(self.device) for t in ds.batch(torch.arange(len(ds))))


def predictor_from_config(
    config: dict[str, Any], model: nn.Module, device: torch.device
) -> TransformersPredictor:
    """The transformers application's predictor (called by `load_learner`)."""
    return TransformersPredictor(model, config, device)
