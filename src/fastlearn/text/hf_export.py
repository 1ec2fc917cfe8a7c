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

from ..core.export import Predictor, register_builder
from .hf_data import HFTextDataLoaders, HFTextDataset
from .hf_load import require_transformers, tokenizer_from_files
from .transformers import HFClassifier

__all__ = ["BUILDER", "TransformersPredictor", "hf_sequence_classifier", "predictor_from_config"]

BUILDER = "hf_sequence_classifier"


@register_builder(BUILDER)
def hf_sequence_classifier(
    hf_config: dict[str, Any], y_range: Sequence[float] | None = None
) -> HFClassifier:
    """An `HFClassifier` around `AutoModelForSequenceClassification` built from its config
    (`model.config.to_dict()`), weights uninitialised until the file's are loaded."""
    transformers = require_transformers()
    kwargs = dict(hf_config)
    config = transformers.AutoConfig.for_model(kwargs.pop("model_type"), **kwargs)
    hf_model = transformers.AutoModelForSequenceClassification.from_config(config)
    return HFClassifier(hf_model, y_range)


class TransformersPredictor(Predictor):
    """Texts (or (text_a, text_b) pairs) in; (label, class index, probabilities) out, or for
    regression (values, values, values), as `TransformersLearner.predict`."""

    def __init__(
        self, model: nn.Module, config: dict[str, Any], device: torch.device | str = "cpu"
    ) -> None:
        super().__init__(model, config, device)
        tokenizer = tokenizer_from_files(config["tokenizer_files"])
        self.dls = HFTextDataLoaders.for_inference(
            config["preprocessing"], tokenizer, device=self.device
        )
        self.tokenize = self.dls.tokenize

    def preprocess(self, items: Sequence[Any]) -> tuple[torch.Tensor, ...]:
        """Texts -> (input_ids, attention_mask[, token_type_ids]), padded to the longest."""
        ds = HFTextDataset.from_items(list(items), None, self.tokenize)
        return tuple(t.to(self.device) for t in ds.batch(torch.arange(len(ds))))


def predictor_from_config(
    config: dict[str, Any], model: nn.Module, device: torch.device
) -> TransformersPredictor:
    """The transformers application's predictor (called by `load_learner`)."""
    return TransformersPredictor(model, config, device)
