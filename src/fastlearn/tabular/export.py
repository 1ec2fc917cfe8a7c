"""Loading an exported tabular model: `TabularPredictor` takes dict rows or pandas rows."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..core import model_file as header
from ..core.export import ExportError, LoadLimits, Predictor
from .model import TabularModel
from .preprocess import PROCS, TabularProcessor

__all__ = ["TabularPredictor", "predictor_from_config", "input_fields", "check_header"]


# The model class, called with its recorded arguments (see core/export.py).
BUILDERS = {"tabular.TabularModel": TabularModel}


def _json_value(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) else str(value)


def input_fields(processor: TabularProcessor) -> list[dict[str, Any]]:
    """One entry per input column, for forms: categories with their choices (JSON values, so
    an int category stays an int), numbers; each with its training mode or median as
    `default` and `stat` saying which, when the processor knows them (not in older files)."""
    classes, defaults = processor.classes, processor.defaults
    fields: list[dict[str, Any]] = [
        {"name": n, "type": "category", "choices": [_json_value(c) for c in classes.get(n, [])[1:]]}
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
        hint = (
            f"; its largest number as the model saw it (after the procs): "
            f"{cont_names[j]!r} = {float(conts[row, j]):.3g}"
        )
    raise ValueError(
        f"The model's output for row {row} is not finite (NaN or inf){hint}. The "
        "row is far outside the training data. Fix: check its numbers."
    )


def _numbers(state: Any, key: str, path: str, names: Sequence[str]) -> dict[str, Any]:
    """`state[key]`: {column: number that float32 holds with room}, each among `names`."""
    values = header.section(state, key, path)
    for name in values:
        if name not in names:
            raise header.refuse(f"{path}.{name}", values[name], f"a column of {list(names)}")
        if not abs(header.number(values, name, f"{path}.{name}")) < 1e30:
            raise header.refuse(f"{path}.{name}", values[name], "a number below 1e30")
    return values


def _check_fill(state: Any, path: str, cats: list[str], conts: list[str]) -> list[str]:
    header.choice(state, "fill_strategy", f"{path}.fill_strategy", ("median", "mode", "constant"))
    header.number(state, "fill_value", f"{path}.fill_value")
    header.flag(state, "add_col", f"{path}.add_col")
    header.string_list(state, "na_names", f"{path}.na_names")
    _numbers(state, "fill_values", f"{path}.fill_values", conts)
    na_cols = header.string_list(state, "na_cols", f"{path}.na_cols")
    if not set(na_cols) <= set(conts):
        raise header.refuse(f"{path}.na_cols", na_cols, f"columns among {conts}")
    return [f"{c}_na" for c in na_cols]


def _check_categorify(state: Any, path: str, cats: list[str], conts: list[str]) -> list[str]:
    classes = header.section(state, "classes", f"{path}.classes")
    dtypes = header.section(state, "dtypes", f"{path}.dtypes")
    stringified = header.string_list(state, "stringified", f"{path}.stringified")
    header.flag(state, "strip", f"{path}.strip", None)
    for name, values in classes.items():
        if not (
            isinstance(values, list)
            and values
            and all(v is None or isinstance(v, (str, int, float)) for v in values)
        ):
            raise header.refuse(
                f"{path}.classes.{name}", values, "a list: '#na#' then the categories"
            )
        if name not in stringified:
            header.text(dtypes, name, f"{path}.dtypes.{name}")
    return []


def _check_normalize(state: Any, path: str, cats: list[str], conts: list[str]) -> list[str]:
    means = _numbers(state, "means", f"{path}.means", conts)
    stds = _numbers(state, "stds", f"{path}.stds", conts)
    if set(stds) != set(means) or any(not 1e-30 < abs(v) for v in stds.values()):
        raise header.refuse(
            f"{path}.stds",
            stds,
            f"a standard deviation other than 0 for each column of the means {sorted(means)}",
        )
    return []


_PROC_CHECKS = {
    "FillMissing": _check_fill,
    "Categorify": _check_categorify,
    "Normalize": _check_normalize,
}


def check_header(config: dict[str, Any], limits: LoadLimits) -> None:
    """Every key the tabular predictor reads, and a TabularModel with an embedding row for
    every category and an input for every continuous column."""
    pre = header.section(config, "preprocessing", "preprocessing")
    cats = header.string_list(pre, "cat_names", "preprocessing.cat_names")
    conts = header.string_list(pre, "cont_names", "preprocessing.cont_names")
    procs = pre.get("procs")
    if not isinstance(procs, list):
        raise header.refuse("preprocessing.procs", procs, "a list of steps")
    classes: dict[str, Any] = {}
    for i, proc in enumerate(procs):
        path = f"preprocessing.procs[{i}]"
        name = header.choice(proc, "name", f"{path}.name", tuple(PROCS))
        state = header.section(proc, "state", f"{path}.state")
        cats = cats + _PROC_CHECKS[name](state, f"{path}.state", cats, conts)
        classes = state["classes"] if name == "Categorify" else classes
    header.section(pre, "defaults", "preprocessing.defaults", {})
    header.flag(config, "regression", "regression", False)
    if config["builder"] == "tabular.TabularModel":
        _check_model_fits(config.get("builder_kwargs", {}), cats, classes, conts)


def _check_model_fits(
    kwargs: dict[str, Any], cats: list[str], classes: dict[str, Any], conts: list[str]
) -> None:
    rows = [len(classes.get(c, [])) for c in cats]
    emb = kwargs.get("emb_szs")
    if not (
        isinstance(emb, list) and [e[0] if isinstance(e, list) and e else None for e in emb] == rows
    ):
        raise header.refuse(
            "builder_kwargs.emb_szs",
            emb,
            f"one [rows, width] per category column {cats} with rows {rows} (the classes of each)",
        )
    if kwargs.get("n_cont") != len(conts):
        raise header.refuse(
            "builder_kwargs.n_cont",
            kwargs.get("n_cont"),
            f"{len(conts)}, the continuous columns {conts}",
        )


class TabularPredictor(Predictor):
    """Rows in (dicts or pandas rows), the training preprocessing applied, labels out.

    Category text is stripped, as in training; a category unseen in training becomes `#na#`
    with one UnseenCategoryWarning per batch, or is refused with `strict` (the attribute, or
    `predict(row, strict=True)`); inf is refused. Keys that are not input columns are ignored.
    """

    def __init__(
        self,
        model: nn.Module,
        config: dict[str, Any],
        device: torch.device | str = "cpu",
        *,
        strict: bool = False,
    ) -> None:
        super().__init__(model, config, device)
        try:
            self.processor = TabularProcessor.from_state(config["preprocessing"])
        except (ValueError, TypeError) as e:  # a category dtype pandas can't read
            raise ExportError(
                f"The model file's preprocessing can't be rebuilt: {e} Fix: export the model again."
            ) from e
        self.regression = bool(config.get("regression"))
        self.strict = strict

    def preprocess(
        self, items: Sequence[Mapping[str, Any]], *, strict: bool | None = None
    ) -> tuple[torch.Tensor, ...]:
        """The rows through `encode_rows` (NaN filled; unseen categories as `strict` says)."""
        strict = self.strict if strict is None else strict
        cats, conts = self.processor.encode_rows(items, unseen="error" if strict else "warn")
        return (
            torch.tensor(cats, dtype=torch.long, device=self.device),
            torch.tensor(conts, dtype=torch.float32, device=self.device),
        )

    @torch.no_grad()
    def predict_batch(
        self, items: Sequence[Any], *, strict: bool | None = None
    ) -> list[tuple[Any, Any, torch.Tensor]]:
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

    def example(self) -> dict[str, Any]:
        """A row with every column missing."""
        return dict.fromkeys(self.processor.input_cat_names + self.processor.cont_names)

    def info(self) -> dict[str, Any]:
        """The model, its input fields read from the preprocessing (with their defaults)."""
        fields = input_fields(self.processor)
        return {**super().info(), "inputs": {"kind": "tabular", "fields": fields}}


def predictor_from_config(
    config: dict[str, Any], model: nn.Module, device: torch.device
) -> TabularPredictor:
    """The tabular application's predictor."""
    return TabularPredictor(model, config, device)
