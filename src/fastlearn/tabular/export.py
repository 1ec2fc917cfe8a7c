"""Loading an exported tabular model: `TabularPredictor` takes dict rows or pandas rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..core.export import Predictor, register_builder
from .model import TabularModel
from .preprocess import TabularProcessor

__all__ = ["TabularPredictor", "predictor_from_config", "input_fields"]


@register_builder("tabular.TabularModel")
def build_tabular_model(**kwargs: Any) -> TabularModel:
    """A TabularModel from its recorded constructor arguments."""
    return TabularModel(**kwargs)


def input_fields(processor: TabularProcessor) -> list[dict[str, Any]]:
    """One entry per input column, for forms: categories with their choices, numbers."""
    classes = processor.classes
    fields: list[dict[str, Any]] = [
        {"name": n, "type": "category", "choices": [str(c) for c in classes.get(n, [])[1:]]}
        for n in processor.input_cat_names
    ]
    return fields + [{"name": n, "type": "number"} for n in processor.cont_names]


class TabularPredictor(Predictor):
    """Rows in (dicts or pandas rows), the training preprocessing applied, labels out."""

    def __init__(self, model: nn.Module, config: dict[str, Any],
                 device: torch.device | str = "cpu") -> None:
        super().__init__(model, config, device)
        self.processor = TabularProcessor.from_state(config["preprocessing"])
        self.regression = bool(config.get("regression"))

    def preprocess(self, items: Sequence[Mapping[str, Any]]) -> tuple[torch.Tensor, ...]:
        """Each row through `encode_row` (unseen categories -> #na#, NaN filled)."""
        rows = [self.processor.encode_row(row) for row in items]
        cats = torch.tensor([r[0] for r in rows], dtype=torch.long, device=self.device)
        conts = torch.tensor([r[1] for r in rows], dtype=torch.float32, device=self.device)
        return cats, conts


def predictor_from_config(config: dict[str, Any], model: nn.Module,
                          device: torch.device) -> TabularPredictor:
    """The tabular application's predictor."""
    return TabularPredictor(model, config, device)
