"""tabular_learner and TabularLearner: fast one-row predict, entity embeddings for other
models, permutation importance, and the plain-JSON description an export needs.

    >>> learn = tabular_learner(dls, metrics=accuracy)
    >>> learn.fit_one_cycle(3, 1e-2)
    >>> label, index, probs = learn.predict(df.iloc[0])     # no loader built: ~0.2 ms
    >>> features = learn.embed_features(df)                 # for a RandomForest
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..core.learner import Learner
from ..core.losses import activation_of, decodes_of
from ..core.metrics import as_metric
from .data import TabularDataLoaders, show_frame
from .export import check_outputs, input_fields
from .model import TabularModel, get_emb_sz

__all__ = ["TabularLearner", "tabular_learner"]


@contextlib.contextmanager
def _evaluating(model: nn.Module) -> Iterator[None]:
    """Eval mode and no gradients inside the block; the previous mode restored after."""
    was_training = model.training
    if was_training:
        model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        if was_training:
            model.train()


class TabularLearner(Learner):
    """A Learner over TabularDataLoaders and (usually) a TabularModel."""

    def __init__(self, dls: TabularDataLoaders, model: nn.Module, *args: Any, **kwargs: Any):
        if not isinstance(dls, TabularDataLoaders):
            raise TypeError(
                f"Expected TabularDataLoaders. Received: {type(dls).__name__}. "
                "Fix: build them with TabularDataLoaders.from_df(...)."
            )
        super().__init__(dls, model, *args, **kwargs)

    # ------------------------------------------------------------------ prediction
    def predict(
        self, row: Mapping[str, Any] | pd.Series, *, strict: bool = False
    ) -> tuple[Any, torch.Tensor, torch.Tensor]:
        """(label, class index, probabilities) for one row, a dict or a pandas row.

        The row goes through the training preprocessing in plain Python (no DataFrame, no
        loader): category text is stripped, a missing value becomes `#na#` and a NaN number is
        filled; a category unseen in training becomes `#na#` with an UnseenCategoryWarning
        naming it (an UnseenCategoryError with `strict=True`); a missing column, inf, or an
        output that is not finite is an error naming it. Other keys are ignored. For
        regression the first two are the predicted values (one per target).
        """
        processor = self.dls.processor
        codes, values = processor.encode_row(row, unseen="error" if strict else "warn")
        device = self.dls.device
        x_cat = torch.tensor([codes], dtype=torch.long, device=device)  # (1, n_cat)
        x_cont = torch.tensor([values], dtype=torch.float32, device=device)  # (1, n_cont)
        with _evaluating(self.model):
            out = self.model(x_cat, x_cont)
        check_outputs(out, x_cont, processor.cont_names)
        probs, decoded = self._decoded(out[0].cpu())
        if self.dls.vocab is not None and decoded.ndim == 0:
            return self.dls.vocab[int(decoded)], decoded, probs
        return decoded, decoded, probs

    def _decoded(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(probabilities, decoded predictions) of raw outputs, by the loss's activation."""
        act, decodes = activation_of(self.loss_func), decodes_of(self.loss_func)
        probs = act(out) if act is not None else out
        return probs, decodes(probs) if decodes is not None else probs

    def _outputs(self, cats: torch.Tensor, conts: torch.Tensor, bs: int = 4096) -> torch.Tensor:
        """Raw model outputs over whole tensors, in chunks of `bs` rows, on the CPU."""
        device, outs = self.dls.device, []
        with _evaluating(self.model):
            for i in range(0, len(cats), bs):
                xs = (cats[i : i + bs].to(device), conts[i : i + bs].to(device))
                outs.append(self.model(*xs).float().cpu())
        return torch.cat(outs)

    def _labelled(self, df: pd.DataFrame | None, ds_idx: int = 1) -> tuple[torch.Tensor, ...]:
        """(cats, conts, y) of `df`, or of the validation (1) / training (0) set."""
        if df is not None:
            return self.dls.test_dl(df, with_labels=True).dataset.tensors
        if ds_idx >= len(self.dls.loaders):
            raise ValueError("Expected a validation set. Received none. Fix: pass df=.")
        return self.dls[ds_idx].dataset.tensors

    # ------------------------------------------------------------------ other models, insight
    def embed_features(self, df: pd.DataFrame) -> pd.DataFrame:
        """`df` with each categorical column replaced by its learned embedding columns.

        Column `c` becomes `c_0 .. c_{k-1}` (its k-wide embedding of the row's category);
        FillMissing's `<col>_na` inputs are appended the same way; other columns are kept as
        they are. Ready for scikit-learn (e.g. a RandomForest on entity embeddings).
        """
        processor = self.dls.processor
        cats, _ = processor.transform(df)
        if not isinstance(self.model, TabularModel):
            raise TypeError(f"Expected a TabularModel. Received: {type(self.model).__name__}.")
        pieces: dict[str, pd.DataFrame] = {}
        for j, (name, emb) in enumerate(zip(processor.cat_names, self.model.embeds)):
            vectors = emb.weight.detach().float().cpu()[cats[:, j]].numpy()
            columns = [f"{name}_{k}" for k in range(vectors.shape[1])]
            pieces[name] = pd.DataFrame(vectors, index=df.index, columns=columns)
        kept = [pieces.pop(c) if c in pieces else df[[c]] for c in df.columns]
        return pd.concat(kept + list(pieces.values()), axis=1)

    def permutation_importance(
        self,
        df: pd.DataFrame | None = None,
        *,
        metric: Callable | None = None,
        greater_is_better: bool = True,
        n_repeats: int = 3,
        seed: int = 0,
    ) -> pd.DataFrame:
        """How much the score worsens when one input column's values are shuffled.

        On the validation set (or a labelled `df`), each model input (FillMissing's `<col>_na`
        too) is shuffled across rows `n_repeats` times; importance is the mean worsening of
        the loss, or of `metric(preds, targs)` (a function or a Metric; `greater_is_better`
        says its direction). Returns columns `importance` and `std`, most important first.

            >>> learn.permutation_importance(metric=accuracy).head()
        """
        cats, conts, y = self._labelled(df)

        def cost(c: torch.Tensor, x: torch.Tensor) -> float:  # lower is better
            preds = self._outputs(c, x)
            if metric is None:
                return float(self.loss_func(preds, y))
            value = _score(metric, preds, y)
            return -value if greater_is_better else value

        base, n_cat = cost(cats, conts), len(self.dls.cat_names)
        gen = torch.Generator().manual_seed(seed)
        names = self.dls.cat_names + self.dls.cont_names
        drops = np.zeros((len(names), n_repeats))
        for j in range(len(names)):
            for r in range(n_repeats):
                table, col = (cats, j) if j < n_cat else (conts, j - n_cat)
                shuffled = table.clone()
                shuffled[:, col] = table[torch.randperm(len(y), generator=gen), col]
                value = cost(shuffled, conts) if j < n_cat else cost(cats, shuffled)
                drops[j, r] = value - base
        out = pd.DataFrame({"importance": drops.mean(1), "std": drops.std(1)}, index=names)
        return out.sort_values("importance", ascending=False)

    def show_results(self, max_n: int = 10, *, ds_idx: int = 1) -> pd.DataFrame:
        """Show and return `max_n` decoded rows of the validation (1) or training (0) set with
        the predictions (columns `<target>_pred`)."""
        cats, conts, y = (t[:max_n] for t in self._labelled(None, ds_idx))
        _, decoded = self._decoded(self._outputs(cats, conts))
        frame = self.dls.decode_batch((cats, conts, y), max_n)
        predicted = self.dls.decode_targets(decoded)
        frame = pd.concat([frame, predicted.add_suffix("_pred")], axis=1)
        show_frame(frame)
        return frame

    # ------------------------------------------------------------------ export
    def export_config(self) -> dict[str, Any]:
        """Everything but the weights, as plain JSON: application, architecture and its
        arguments, preprocessing state, targets and classes (`load_learner` rebuilds from it).
        """
        if not isinstance(self.model, TabularModel):
            raise TypeError(
                f"export_config describes a TabularModel. Received: "
                f"{type(self.model).__name__}. Fix: register a builder (issue 8)."
            )
        vocab = self.dls.vocab
        return {
            "application": "tabular",
            "architecture": "TabularModel",
            "builder": "tabular.TabularModel",
            "builder_kwargs": dict(self.model.config),
            "inputs": {"kind": "tabular", "fields": input_fields(self.dls.processor)},
            "model_kwargs": dict(self.model.config),
            "preprocessing": self.dls.processor.to_state(),
            "y_names": list(self.dls.y_names),
            "regression": self.dls.regression,
            "vocab": None if vocab is None else _json_values(vocab),
            "loss_func": type(self.loss_func).__name__,
        }


def _score(metric: Callable, preds: torch.Tensor, targs: torch.Tensor) -> float:
    m = as_metric(metric)
    m.reset()
    m.update(preds, targs)
    return float(m.compute())


def _json_values(values: Sequence[Any]) -> list[Any]:
    """Numpy scalars as Python values (JSON-serialisable)."""
    return [v.item() if isinstance(v, np.generic) else v for v in values]


def tabular_learner(
    dls: TabularDataLoaders,
    layers: Sequence[int] = (200, 100),
    *,
    emb_szs: Mapping[str, int] | None = None,
    config: Mapping[str, Any] | None = None,
    n_out: int | None = None,
    y_range: Sequence[float] | None = None,
    loss_func: Callable | None = None,
    metrics: Any = None,
    **kwargs: Any,
) -> TabularLearner:
    """A TabularLearner with a TabularModel sized from `dls` (fastai's `tabular_learner`).

    Cross entropy for a class target, mean squared error for numbers (`loss_func=` to
    change). `emb_szs` overrides embedding widths by column, `config` (see `tabular_config`)
    passes dropout and BatchNorm options, `y_range=(low, high)` bounds regression outputs.
    Other keyword arguments go to Learner (`opt_func`, `wd`, `cbs`, `path`...).

        >>> learn = tabular_learner(dls, metrics=accuracy)
        >>> learn.fit_one_cycle(3, 1e-2)
    """
    if not isinstance(dls, TabularDataLoaders):
        raise TypeError(
            f"Expected TabularDataLoaders. Received: {type(dls).__name__}. "
            "Fix: build them with TabularDataLoaders.from_df(...)."
        )
    config = dict(config or {})
    if y_range is not None:
        config["y_range"] = y_range
    model = TabularModel(
        get_emb_sz(dls, emb_szs), len(dls.cont_names), n_out or dls.n_out, layers, **config
    )
    kwargs.setdefault("path", dls.path)
    return TabularLearner(
        dls, model, loss_func=loss_func or dls.loss_func, metrics=metrics, **kwargs
    )
