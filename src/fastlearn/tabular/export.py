"""Loading an exported tabular model: `TabularPredictor` takes dict rows or pandas rows."""

from __future__ import annotations

import math
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


def _json_value(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) else str(value)


def input_fields(processor: TabularProcessor) -> list[dict[str, Any]]:
    """One entry per input column, for forms: categories with their choices (JSON values, so
    an int category stays an int), numbers; each with its training mode or median as
    `default` and `stat` saying which, when the processor knows them (not in older files)."""
    classes, defaults = processor.classes, processor.defaults
    fields: list[dict[str, Any]] = [
        {"name": n, "type": "category", "choices": [_json_value(c) for c in
                                                    classes.get(n, [])[1:]]}
        for n in processor.input_cat_names
    ]
    fields += [{"name": n, "type": "number"} for n in processor.cont_names]
    for field in fields:
        if defaults.get(field["name"]) is not None:
            field["default"] = _json_value(defaults[field["name"]])
            field["stat"] = "mode" if field["type"] == "category" else "median"
    return fields


def check_outputs(out: torch.Tensor, conts: torch.Tensor, cont_names: Sequence[str]) -> None:
    """Refuse model outputs that are not finite (B, n_out), naming the continuous input
    farthest from the training data, rather than answer a label from NaN probabilities."""
    if math.isfinite(float(out.sum())):  # one reduction: NaN and inf propagate
        return
    bad = (~torch.isfinite(out.reshape(len(out), -1)).all(dim=1)).nonzero()
    if not len(bad):  # finite outputs whose sum overflows
        return
    row = int(bad[0, 0])
    hint = ""
    if conts.shape[1]:
        j = int(conts[row].abs().argmax())
        hint = (f"; its largest number as the model saw it (after the procs): "
                f"{cont_names[j]!r} = {float(conts[row, j]):.3g}")
    raise ValueError(f"The model's output for row {row} is not finite (NaN or inf){hint}. The "
                     "row is far outside the training data. Fix: check its numbers.")


class TabularPredictor(Predictor):
    """Rows in (dicts or pandas rows), the training preprocessing applied, labels out.

    Category text is stripped, as in training; a category unseen in training becomes `#na#`
    with one UnseenCategoryWarning per batch, or is refused with `strict` (the attribute, or
    `predict(row, strict=True)`); inf is refused. Keys that are not input columns are ignored.
    """

    def __init__(self, model: nn.Module, config: dict[str, Any],
                 device: torch.device | str = "cpu", *, strict: bool = False) -> None:
        super().__init__(model, config, device)
        self.processor = TabularProcessor.from_state(config["preprocessing"])
        self.regression = bool(config.get("regression"))
        self.strict = strict

    def preprocess(self, items: Sequence[Mapping[str, Any]], *,
                   strict: bool | None = None) -> tuple[torch.Tensor, ...]:
        """The rows through `encode_rows` (NaN filled; unseen categories as `strict` says)."""
        strict = self.strict if strict is None else strict
        cats, conts = self.processor.encode_rows(items, unseen="error" if strict else "warn")
        return (torch.tensor(cats, dtype=torch.long, device=self.device),
                torch.tensor(conts, dtype=torch.float32, device=self.device))

    @torch.no_grad()
    def predict_batch(self, items: Sequence[Any], *,
                      strict: bool | None = None) -> list[tuple[Any, Any, torch.Tensor]]:
        """(label, index or values, probabilities) for each row; `strict` as on the class."""
        items = list(items)
        if not items:
            return []
        cats, conts = self.preprocess(items, strict=strict)
        out = self.model(cats, conts)
        check_outputs(out, conts, self.processor.cont_names)
        return [(*self.decode(p), p) for p in self.activate(out).cpu()]

    def predict(self, item: Any, *, strict: bool | None = None) -> tuple[Any, Any, torch.Tensor]:
        """(label, index or values, probabilities) for one row."""
        return self.predict_batch([item], strict=strict)[0]

    def info(self) -> dict[str, Any]:
        """The model, its input fields read from the preprocessing (with their defaults)."""
        fields = input_fields(self.processor)
        return {**super().info(), "inputs": {"kind": "tabular", "fields": fields}}


def predictor_from_config(config: dict[str, Any], model: nn.Module,
                          device: torch.device) -> TabularPredictor:
    """The tabular application's predictor."""
    return TabularPredictor(model, config, device)
