"""TabularPandas: a table preprocessed once, its processed values as DataFrames (for
scikit-learn) and as loaders (for a neural net), as in the book's chapter 9.

    >>> to = TabularPandas(df, [Categorify, FillMissing], cat_names, cont_names,
    ...                    y_names="SalePrice", splits=(train_idx, valid_idx))
    >>> m = DecisionTreeRegressor(max_leaf_nodes=4).fit(to.train.xs, to.train.y)
    >>> m.predict(to.valid.xs)
    >>> dls = to.dataloaders(bs=1024)      # what TabularDataLoaders.from_df builds

The procs are fitted on the training rows only. `xs` hold the categorical columns as their
integer codes (0 = `#na#`, FillMissing's `<col>_na` columns included) and the continuous ones
as processed (filled; normalised with Normalize); `y` holds class indices or the numbers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import TensorDataset

from ..core.data import DataLoader
from ..core.torch_utils import default_device
from ..core.utils import CategoryMap
from .cells import check_columns, index_label, sorted_values, strip_text, to_float
from .preprocess import TabularProcessor
from .procs import TabularProc

if TYPE_CHECKING:
    from .data import TabularDataLoaders

__all__ = ["TabularPandas", "decode_targets", "show_frame"]

Procs = Sequence[TabularProc | type[TabularProc]]
Splits = tuple[Sequence[int], Sequence[int]]


class TabularPandas:
    """A preprocessed table: `items` (the processed frame), `xs`, `y`, `train` and `valid`
    (the same for the rows of each split), `classes`, `show`, and `dataloaders`.

    `procs` run as TabularProcessor runs them (FillMissing, Categorify, Normalize); with no
    Categorify the categorical columns cannot be coded, an error. `splits` are (train, valid)
    row positions (None: every row is training). The task is regression when every target is
    numeric (bool excepted), or as `y_block` (CategoryBlock / RegressionBlock) says.
    """

    def __init__(
        self,
        df: pd.DataFrame,
        procs: Procs | None = None,
        cat_names: Sequence[str] | None = None,
        cont_names: Sequence[str] | None = None,
        y_names: str | Sequence[str] | None = None,
        y_block: Any = None,
        splits: Sequence[Sequence[int]] | None = None,
        *,
        regression: bool | None = None,
    ) -> None:
        cat_names, cont_names = list(cat_names or []), list(cont_names or [])
        y_names = check_frame(df, cat_names, cont_names, y_names)
        train_idx, valid_idx = check_splits(df, splits)
        is_regression = is_regression_task(df[y_names], y_block, regression)
        vocab = None
        if not is_regression:  # labels normalised as categories are (text stripped)
            labels = strip_text(df[y_names[0]].iloc[train_idx].dropna())
            vocab = sorted_values(pd.unique(labels).tolist())
        y = encode_targets(df, y_names, vocab, valid_idx)
        processor = TabularProcessor(cat_names, cont_names, procs or ()).fit(df.iloc[train_idx])
        cats, conts = processor.transform(df)
        self.processor, self.y_names, self.regression, self.vocab = (
            processor,
            y_names,
            is_regression,
            vocab,
        )
        self.df, self.cats, self.conts, self.y_tensor = df, cats, conts, y
        self.splits = (train_idx, valid_idx)
        self._items: pd.DataFrame | None = None

    # ------------------------------------------------------------------ the processed table
    @property
    def cat_names(self) -> list[str]:
        """Categorical columns, FillMissing's `<col>_na` columns included."""
        return self.processor.cat_names

    @property
    def cont_names(self) -> list[str]:
        """Continuous columns."""
        return self.processor.cont_names

    @property
    def x_names(self) -> list[str]:
        """The model's input columns: categorical then continuous."""
        return self.cat_names + self.cont_names

    @property
    def items(self) -> pd.DataFrame:
        """The frame with its input and target columns replaced by their processed values
        (other columns as they were, `<col>_na` columns added at the end)."""
        if self._items is None:
            self._items = processed_frame(
                self.df,
                self.cat_names,
                self.cats,
                self.cont_names,
                self.conts,
                self.y_names,
                self.y_tensor,
            )
        return self._items

    @property
    def xs(self) -> pd.DataFrame:
        """The processed inputs: category codes (int64) and continuous values (float32)."""
        return self.items[self.x_names]

    @property
    def y(self) -> pd.Series | pd.DataFrame:
        """The targets: class indices (int64) or numbers (float32); a frame for several."""
        return self.items[self.y_names[0]] if len(self.y_names) == 1 else self.items[self.y_names]

    @property
    def classes(self) -> dict[str, CategoryMap]:
        """The vocabulary of each categorical column (index 0 = `#na#`), with `.o2i`."""
        return {n: CategoryMap(v) for n, v in self.processor.classes.items()}

    def __len__(self) -> int:
        return len(self.df)

    def __repr__(self) -> str:
        return (
            f"TabularPandas({len(self)} rows, {len(self.splits[0])} train / "
            f"{len(self.splits[1])} valid, cat_names={self.cat_names}, "
            f"cont_names={self.cont_names}, y_names={self.y_names})"
        )

    # ------------------------------------------------------------------ splits
    @property
    def train(self) -> TabularPandas:
        """The training rows, as a table of their own (every row training)."""
        return self.subset(self.splits[0])

    @property
    def valid(self) -> TabularPandas:
        """The validation rows, as a table of their own (every row training)."""
        return self.subset(self.splits[1])

    def subset(self, rows: Sequence[int]) -> TabularPandas:
        """The rows at positions `rows`, sharing this table's fitted procs and vocabulary."""
        idx = np.asarray(rows, dtype=np.int64).reshape(-1)
        sub = object.__new__(TabularPandas)  # no re-fitting: the slices of what is computed
        rows_t = torch.from_numpy(idx)
        sub.processor, sub.y_names, sub.regression, sub.vocab = (
            self.processor,
            self.y_names,
            self.regression,
            self.vocab,
        )
        sub.df, sub.cats, sub.conts, sub.y_tensor = (
            self.df.iloc[idx],
            self.cats[rows_t],
            self.conts[rows_t],
            self.y_tensor[rows_t],
        )
        sub.splits, sub._items = (list(range(len(idx))), []), None
        return sub

    # ------------------------------------------------------------------ showing, loading
    def decode(self, max_n: int | None = None) -> pd.DataFrame:
        """The first `max_n` rows with category names and de-normalised numbers, and targets."""
        n = len(self) if max_n is None else min(max_n, len(self))
        frame = self.processor.decode(self.cats[:n], self.conts[:n])
        targets = decode_targets(self.y_tensor[:n], self.y_names, self.vocab)
        return pd.concat([frame, targets], axis=1)

    def show(self, max_n: int = 10) -> None:
        """Display the first `max_n` rows, decoded."""
        show_frame(self.decode(max_n))

    def dataloaders(
        self,
        bs: int = 64,
        *,
        val_bs: int | None = None,
        shuffle: bool = True,
        drop_last: bool = True,
        device: torch.device | str | None = None,
        path: str | os.PathLike[str] = ".",
    ) -> TabularDataLoaders:
        """TabularDataLoaders over the two splits (the training one shuffled, dropping its last
        incomplete batch: BatchNorm cannot train on a batch of one)."""
        from .data import TabularDataLoaders  # data.py imports this module: import at call time

        device = torch.device(device) if device is not None else default_device()
        rows = [torch.as_tensor(np.asarray(s, dtype=np.int64)) for s in self.splits]
        dsets = [TensorDataset(self.cats[r], self.conts[r], self.y_tensor[r]) for r in rows]
        train = DataLoader(
            dsets[0], bs, shuffle=shuffle, drop_last=drop_last, augment=True, device=device, n_inp=2
        )
        valid = DataLoader(dsets[1], val_bs or bs, device=device, n_inp=2) if len(rows[1]) else None
        return TabularDataLoaders(
            train,
            valid,
            processor=self.processor,
            y_names=self.y_names,
            regression=self.regression,
            vocab=self.vocab,
            device=device,
            path=path,
        )


# ---------------------------------------------------------------------- building blocks
def processed_frame(
    df: pd.DataFrame,
    cat_names: list[str],
    cats: torch.Tensor,
    cont_names: list[str],
    conts: torch.Tensor,
    y_names: list[str],
    y: torch.Tensor,
) -> pd.DataFrame:
    """`df` with the processed columns in place of the raw ones, new columns at the end."""
    ys = y.reshape(len(y), -1).numpy()
    processed = {n: cats[:, j].numpy() for j, n in enumerate(cat_names)}
    processed |= {n: conts[:, j].numpy() for j, n in enumerate(cont_names)}
    processed |= {n: ys[:, j] for j, n in enumerate(y_names)}
    new = pd.DataFrame(processed, index=df.index)
    kept = df[[c for c in df.columns if c not in processed]]
    order = [c for c in df.columns] + [c for c in new.columns if c not in df.columns]
    return pd.concat([kept, new], axis=1)[order]


def check_frame(
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


def check_splits(
    df: pd.DataFrame, splits: Sequence[Sequence[int]] | None
) -> tuple[list[int], list[int]]:
    """(train, valid) row positions, checked; no splits: every row is training."""
    if splits is None:
        return list(range(len(df))), []
    if len(splits) not in (1, 2):
        raise ValueError(
            f"Expected splits as (train positions, valid positions). Received: {len(splits)} lists."
        )
    train_idx, valid_idx = (np.asarray(s, dtype=np.int64).reshape(-1) for s in (*splits, [])[:2])
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


def is_regression_task(ys: pd.DataFrame, y_block: Any, regression: bool | None) -> bool:
    """Regression or classification, from `y_block` (a class, an instance or a name),
    `regression`, or else fastai's rule: numeric (non-bool) targets are regression."""
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
    if regression is None:
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


def encode_targets(
    df: pd.DataFrame,
    y_names: list[str],
    vocab: list[Any] | None,
    check_idx: Sequence[int] | None = None,
) -> torch.Tensor:
    """Class indices (N,) when there is a vocabulary, else float targets (N, n_targets).
    Labels outside the vocabulary are an error in the rows `check_idx` (all when None)."""
    ys = df[y_names]
    _check_no_nan(ys)
    if vocab is None:
        columns = [to_float(ys[n], n) for n in y_names]
        return torch.from_numpy(np.stack(columns, axis=1).astype(np.float32))
    labels = strip_text(ys[y_names[0]]).astype(object)
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


def _check_no_nan(ys: pd.DataFrame) -> None:
    for name in ys.columns:
        missing = ys[name].isna().to_numpy()
        if missing.any():
            raise ValueError(
                f"Expected a value in every row of target {name!r}. Received {int(missing.sum())} "
                f"missing, first at row index {index_label(ys[name], int(missing.argmax()))!r}. "
                f"Fix: df.dropna(subset=[{name!r}]) or fill them."
            )


def decode_targets(y: torch.Tensor, y_names: list[str], vocab: list[Any] | None) -> pd.DataFrame:
    """Targets (class indices, or values) as a frame of labels or numbers, a column each."""
    y = y.detach().cpu()
    if vocab is None:
        return pd.DataFrame(y.reshape(len(y), -1).double().numpy(), columns=y_names)
    labels = np.asarray(vocab, dtype=object)[y.long().numpy()]
    return pd.DataFrame({y_names[0]: labels})


def show_frame(frame: pd.DataFrame) -> None:
    """Display a frame: rich in a notebook, as text elsewhere."""
    from ..core.callbacks.progress import in_notebook

    if in_notebook():
        from IPython.display import display

        display(frame)
    else:
        with pd.option_context("display.max_columns", None, "display.width", 120):
            print(frame.to_string())
