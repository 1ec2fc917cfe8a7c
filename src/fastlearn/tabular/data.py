"""TabularDataLoaders: a table preprocessed once, then held as tensors; a batch is an index slice.

    >>> dls = TabularDataLoaders.from_csv(path / "adult.csv", y_names="salary",
    ...     cat_names=["workclass", "education"], cont_names=["age", "fnlwgt"],
    ...     procs=[Categorify, FillMissing, Normalize], valid_pct=0.2, seed=42, bs=64)
    >>> cats, conts, y = dls.one_batch()  # (64, n_cat) int64, (64, n_cont) float32, (64,) int64

The procs are fitted on the training rows only, every row is transformed in one vectorised
pass, and the loaders hold `TensorDataset(cats, conts, y)`: the core's fast path moves it to
the device once and cuts each batch with one index (no pandas, no per-row calls). The model
receives `(cats, conts)` (`n_inp = 2`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import TensorDataset

from ..core.data import DataLoader, DataLoaders
from ..core.losses import CrossEntropyLossFlat, MSELossFlat
from ..core.splitters import IndexSplitter, RandomSplitter, Splits
from ..core.torch_utils import default_device
from .preprocess import TabularProcessor
from .procs import (
    Categorify,
    FillMissing,
    Normalize,
    TabularProc,
    check_columns,
    index_label,
    sorted_values,
    to_float,
)

__all__ = ["TabularDataLoaders", "CategoryBlock", "RegressionBlock"]

Procs = Sequence[TabularProc | type[TabularProc]]


class CategoryBlock:
    """`y_block=CategoryBlock`: the target is a class label (classification, cross entropy)."""


class RegressionBlock:
    """`y_block=RegressionBlock`: the targets are numbers (regression, mean squared error)."""


class TabularDataLoaders(DataLoaders):
    """Training and validation loaders over a preprocessed table, plus what decodes it.

    Build it with `from_df` or `from_csv`. `processor` is the fitted `TabularProcessor`,
    `vocab` the classes of the target in training order (None for regression).
    """

    def __init__(
        self,
        train: DataLoader,
        valid: DataLoader | None = None,
        *,
        processor: TabularProcessor,
        y_names: Sequence[str],
        regression: bool,
        vocab: Sequence[Any] | None = None,
        device: torch.device | str | None = None,
        path: str | Path = ".",
    ) -> None:
        super().__init__(train, valid, device=device, vocab=vocab, n_inp=2)
        self.processor, self.y_names, self.regression = processor, list(y_names), regression
        self.path = Path(path)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_df(
        cls,
        df: pd.DataFrame,
        path: str | Path = ".",
        *,
        procs: Procs = (Categorify, FillMissing, Normalize),
        cat_names: Sequence[str] | None = None,
        cont_names: Sequence[str] | None = None,
        y_names: str | Sequence[str] | None = None,
        y_block: Any = None,
        regression: bool | None = None,
        valid_idx: Sequence[int] | None = None,
        splits: Splits | None = None,
        splitter: Callable[[pd.DataFrame], Splits] | None = None,
        valid_pct: float = 0.2,
        seed: int | None = None,
        bs: int = 64,
        val_bs: int | None = None,
        shuffle: bool = True,
        drop_last: bool = True,
        device: torch.device | str | None = None,
    ) -> TabularDataLoaders:
        """Loaders over `df`: targets `y_names`, inputs `cat_names` and `cont_names`.

        Validation rows, by priority: `splits` (train, valid) positions, `valid_idx`
        positions, `splitter(df)` (e.g. `TimeSplitter("date")`), else a random `valid_pct`
        with `seed`. The task is regression when every target column is numeric (bool
        excepted), classification otherwise; `y_block=CategoryBlock | RegressionBlock` (or
        "category" / "regression") or `regression=` decides instead. Several targets at once
        are regression. The training loader drops its last incomplete batch (`drop_last`), as
        BatchNorm cannot train on a batch of one.

            >>> dls = TabularDataLoaders.from_df(df, cat_names=["shop"], cont_names=["price"],
            ...                                  y_names="sold", valid_pct=0.2, seed=42)
        """
        cat_names, cont_names = list(cat_names or []), list(cont_names or [])
        y_names = _check_frame(df, cat_names, cont_names, y_names)
        train_idx, valid_idx = _split(df, splits, valid_idx, splitter, valid_pct, seed)
        is_regression = _is_regression(df[y_names], y_block, regression)
        y, vocab = _targets(df, y_names, is_regression, train_idx, valid_idx)
        processor = TabularProcessor(cat_names, cont_names, procs).fit(df.iloc[train_idx])
        cats, conts = processor.transform(df)
        device = torch.device(device) if device is not None else default_device()
        rows = [torch.from_numpy(np.asarray(idx, dtype=np.int64)) for idx in (train_idx, valid_idx)]
        dsets = [TensorDataset(cats[idx], conts[idx], y[idx]) for idx in rows]
        train = DataLoader(
            dsets[0], bs, shuffle=shuffle, drop_last=drop_last, augment=True, device=device, n_inp=2
        )
        valid = DataLoader(dsets[1], val_bs or bs, device=device, n_inp=2) if valid_idx else None
        return cls(
            train,
            valid,
            processor=processor,
            y_names=y_names,
            regression=is_regression,
            vocab=vocab,
            device=device,
            path=path,
        )

    @classmethod
    def from_csv(
        cls,
        csv: str | Path,
        path: str | Path = ".",
        *,
        skipinitialspace: bool = True,
        **kwargs: Any,
    ) -> TabularDataLoaders:
        """`from_df` on `pd.read_csv(csv, skipinitialspace=True)` (leading spaces stripped)."""
        return cls.from_df(pd.read_csv(csv, skipinitialspace=skipinitialspace), path, **kwargs)

    # ------------------------------------------------------------------ what the table holds
    @property
    def cat_names(self) -> list[str]:
        """Categorical model inputs, FillMissing's `<col>_na` columns included."""
        return self.processor.cat_names

    @property
    def cont_names(self) -> list[str]:
        """Continuous model inputs."""
        return self.processor.cont_names

    @property
    def classes(self) -> dict[str, list[Any]]:
        """Vocabulary of each categorical column (index 0 = `#na#`)."""
        return self.processor.classes

    @property
    def n_out(self) -> int:
        """Model outputs: one per class, or one per regression target."""
        return len(self.y_names) if self.regression else len(self.vocab)

    @property
    def loss_func(self) -> nn.Module:
        """The loss the task calls for (the Learner's default)."""
        return MSELossFlat() if self.regression else CrossEntropyLossFlat()

    # ------------------------------------------------------------------ new data, decoding
    def test_dl(
        self, df: pd.DataFrame, *, bs: int | None = None, with_labels: bool = False
    ) -> DataLoader:
        """A loader over a new frame with the training preprocessing (labels if asked).

        >>> preds, _ = learn.get_preds(dl=dls.test_dl(new_df))
        """
        if isinstance(df, pd.DataFrame) and len(df) == 0:
            raise ValueError("Expected a DataFrame with at least one row. Received: 0 rows.")
        cats, conts = self.processor.transform(df)
        tensors = (cats, conts)
        if with_labels:
            check_columns(df, self.y_names, "y_names")
            tensors += (_encode_targets(df, self.y_names, self.vocab),)
        return super().test_dl(tensors, bs=bs)

    def decode_targets(self, y: torch.Tensor) -> pd.DataFrame:
        """Targets (class indices or values) as a frame of labels or numbers, a column each."""
        y = y.detach().cpu()
        if self.regression:
            return pd.DataFrame(y.reshape(len(y), -1).double().numpy(), columns=self.y_names)
        labels = np.asarray(self.vocab, dtype=object)[y.long().numpy()]
        return pd.DataFrame({self.y_names[0]: labels})

    def decode_batch(self, batch: Sequence[torch.Tensor], max_n: int = 10) -> pd.DataFrame:
        """A batch `(cats, conts[, y])` as rows of category names and de-normalised numbers."""
        cats, conts = (t[:max_n].detach().cpu() for t in batch[:2])
        frame = self.processor.decode(cats, conts)
        if len(batch) > 2:
            frame = pd.concat([frame, self.decode_targets(batch[2][:max_n])], axis=1)
        return frame

    def show_batch(self, max_n: int = 10, *, ds_idx: int = 0) -> None:
        """Show `max_n` decoded rows of a batch of the training (0) or validation (1) loader."""
        show_frame(self.decode_batch(self[ds_idx].one_batch(), max_n))


# ---------------------------------------------------------------------- helpers of from_df
def _check_frame(
    df: pd.DataFrame, cat_names: list[str], cont_names: list[str], y_names: Any
) -> list[str]:
    """Refuse what cannot become a table; return y_names as a list."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"Expected a pandas DataFrame. Received: {type(df).__name__}.")
    if len(df) == 0:
        raise ValueError(
            "Expected a DataFrame with at least one row. Received: 0 rows. "
            "Fix: check the file or the filter that produced it."
        )
    if not cat_names and not cont_names:
        raise ValueError(
            "Expected at least one input column in cat_names or cont_names. "
            "Received: none. Fix: list them (cont_cat_split(df) can propose both)."
        )
    y_names = [y_names] if isinstance(y_names, str) else list(y_names or [])
    if not y_names:
        raise ValueError(
            "Expected y_names, the target column(s). Received: none. "
            "Fix: pass y_names='salary' (or a list of numeric columns)."
        )
    check_columns(df, y_names, "y_names")
    clash = sorted(set(y_names) & set(cat_names + cont_names))
    if clash:
        raise ValueError(
            f"Expected targets apart from the inputs. Received {clash} in y_names "
            "and in cat_names/cont_names. Fix: remove them from the inputs."
        )
    return y_names


def _split(
    df: pd.DataFrame,
    splits: Splits | None,
    valid_idx: Sequence[int] | None,
    splitter: Callable[[pd.DataFrame], Splits] | None,
    valid_pct: float,
    seed: int | None,
) -> Splits:
    given = [
        name
        for name, v in [("splits", splits), ("valid_idx", valid_idx), ("splitter", splitter)]
        if v is not None
    ]
    if len(given) > 1:
        raise ValueError(f"Expected one way to choose validation rows. Received: {given}.")
    if splits is None:
        splitter = IndexSplitter(valid_idx) if valid_idx is not None else splitter
        splits = (splitter or RandomSplitter(valid_pct, seed))(df)
    train_idx, valid_idx = (np.asarray(s, dtype=np.int64).reshape(-1) for s in splits)
    positions = np.concatenate([train_idx, valid_idx])
    bad = positions[(positions < 0) | (positions >= len(df))][:5].tolist()
    if bad or not len(train_idx):
        raise ValueError(
            f"Expected splits as row positions 0..{len(df) - 1} with some "
            f"training rows. Received: {len(train_idx)} training rows, "
            f"positions out of range {bad}."
        )
    return train_idx.tolist(), valid_idx.tolist()


_BLOCKS = {"category": False, "CategoryBlock": False, "regression": True, "RegressionBlock": True}


def _is_regression(ys: pd.DataFrame, y_block: Any, regression: bool | None) -> bool:
    if y_block is not None:
        name = (
            y_block
            if isinstance(y_block, str)
            else getattr(y_block, "__name__", type(y_block).__name__)
        )
        if name not in _BLOCKS:
            raise ValueError(
                f"Expected y_block CategoryBlock, RegressionBlock, 'category' or "
                f"'regression'. Received: {y_block!r}."
            )
        if regression is not None and regression != _BLOCKS[name]:
            raise ValueError(f"y_block={name} contradicts regression={regression}.")
        regression = _BLOCKS[name]
    if regression is None:  # fastai's rule: numbers are regression, anything else classes
        regression = all(
            pd.api.types.is_numeric_dtype(ys[c]) and not pd.api.types.is_bool_dtype(ys[c])
            for c in ys.columns
        )
    if not regression and ys.shape[1] > 1:
        raise ValueError(
            f"Expected one target column for classification. Received: "
            f"{list(ys.columns)}. Fix: one column, or y_block=RegressionBlock "
            "for several numeric targets."
        )
    return bool(regression)


def _check_no_nan(ys: pd.DataFrame) -> None:
    for name in ys.columns:
        missing = ys[name].isna().to_numpy()
        if missing.any():
            raise ValueError(
                f"Expected a value in every row of target {name!r}. Received {int(missing.sum())} "
                f"missing, first at row index {index_label(ys[name], int(missing.argmax()))!r}. "
                f"Fix: df.dropna(subset=[{name!r}]) or fill them."
            )


def _targets(
    df: pd.DataFrame,
    y_names: list[str],
    regression: bool,
    train_idx: list[int],
    valid_idx: list[int],
) -> tuple[torch.Tensor, list[Any] | None]:
    """All rows' targets as a tensor, and the class vocabulary (training rows, sorted)."""
    vocab = None
    if not regression:
        vocab = sorted_values(pd.unique(df[y_names[0]].iloc[train_idx].dropna()).tolist())
    return _encode_targets(df, y_names, vocab, valid_idx), vocab


def _encode_targets(
    df: pd.DataFrame,
    y_names: list[str],
    vocab: list[Any] | None,
    check_idx: Sequence[int] | None = None,
) -> torch.Tensor:
    """Class indices (N,) when there is a vocabulary, else float targets (N, n_targets)."""
    ys = df[y_names]
    _check_no_nan(ys)
    if vocab is None:
        columns = [to_float(ys[n], n) for n in y_names]
        return torch.from_numpy(np.stack(columns, axis=1).astype(np.float32))
    labels = ys[y_names[0]].astype(object)
    codes = pd.Index(vocab, dtype=object).get_indexer(labels)
    bad = codes < 0
    if check_idx is not None:  # rows in no split may hold anything
        bad &= np.isin(np.arange(len(codes)), check_idx)
    if bad.any():
        unseen = sorted({str(v) for v in labels[bad]})
        raise ValueError(
            f"Expected labels of {y_names[0]!r} among the training classes "
            f"{vocab[:10]}. Received labels never seen in training: {unseen[:10]}. "
            "Fix: a stratified split, or drop those rows."
        )
    return torch.from_numpy(codes.astype(np.int64))


def show_frame(frame: pd.DataFrame) -> None:
    """Display a frame: rich in a notebook, as text elsewhere."""
    from ..core.callbacks.progress import in_notebook

    if in_notebook():
        from IPython.display import display

        display(frame)
    else:
        with pd.option_context("display.max_columns", None, "display.width", 120):
            print(frame.to_string())
