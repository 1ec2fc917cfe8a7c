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

import pandas as pd
import torch
from torch import nn

from ..core.data import DataLoader, DataLoaders
from ..core.datablock import CategoryBlock, RegressionBlock
from ..core.losses import CrossEntropyLossFlat, MSELossFlat
from ..core.splitters import IndexSplitter, RandomSplitter, Splits
from ..core.utils import CategoryMap
from .cells import check_columns
from .preprocess import TabularProcessor
from .procs import Categorify, FillMissing, Normalize
from .table import (
    Procs,
    TabularPandas,
    check_frame,
    check_splits,
    decode_targets,
    encode_targets,
    show_frame,
)

# CategoryBlock and RegressionBlock are the DataBlock API's, re-exported: as `y_block` (class
# or instance) they only choose the task.
__all__ = ["TabularDataLoaders", "CategoryBlock", "RegressionBlock"]


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
        check_frame(df, list(cat_names or []), list(cont_names or []), y_names)
        splits = _choose_splits(df, splits, valid_idx, splitter, valid_pct, seed)
        table = TabularPandas(
            df, procs, cat_names, cont_names, y_names, y_block, splits, regression=regression
        )
        return table.dataloaders(
            bs, val_bs=val_bs, shuffle=shuffle, drop_last=drop_last, device=device, path=path
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
        """`from_df` on `pd.read_csv(csv, skipinitialspace=True)` (leading spaces stripped;
        category text is stripped in any case, at training and at prediction)."""
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
    def classes(self) -> dict[str, CategoryMap]:
        """Vocabulary of each categorical column (index 0 = `#na#`), with `.o2i`."""
        return {n: CategoryMap(v) for n, v in self.processor.classes.items()}

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
        self,
        df: pd.DataFrame,
        *,
        bs: int | None = None,
        with_labels: bool = False,
        strict: bool = False,
    ) -> DataLoader:
        """A loader over a new frame with the training preprocessing (labels if asked).

        Category text is stripped as in training. Categories never seen in training become
        `#na#` with one UnseenCategoryWarning counting them per column, or, with `strict=True`,
        are refused (UnseenCategoryError). inf in a number column is refused, as in training.

        >>> preds, _ = learn.get_preds(dl=dls.test_dl(new_df))
        """
        if isinstance(df, pd.DataFrame) and len(df) == 0:
            raise ValueError("Expected a DataFrame with at least one row. Received: 0 rows.")
        cats, conts = self.processor.transform(df, unseen="error" if strict else "warn")
        tensors = (cats, conts)
        if with_labels:
            check_columns(df, self.y_names, "y_names")
            tensors += (encode_targets(df, self.y_names, self.vocab),)
        return super().test_dl(tensors, bs=bs)

    def decode_targets(self, y: torch.Tensor) -> pd.DataFrame:
        """Targets (class indices or values) as a frame of labels or numbers, a column each."""
        return decode_targets(y, self.y_names, None if self.regression else self.vocab)

    def decode_batch(self, batch: Sequence[torch.Tensor], max_n: int = 10) -> pd.DataFrame:
        """A batch `(cats, conts[, y])` as rows of category names and de-normalised numbers."""
        cats, conts = (t[:max_n].detach().cpu() for t in batch[:2])
        frame = self.processor.decode(cats, conts)
        if len(batch) > 2:
            frame = pd.concat([frame, self.decode_targets(batch[2][:max_n])], axis=1)
        return frame

    def show_batch(
        self, max_n: int = 10, *, ds_idx: int = 0, dl: DataLoader | None = None
    ) -> pd.DataFrame:
        """Show and return `max_n` decoded rows of a batch of `dl` (default `self[ds_idx]`:
        the training (0) or validation (1) loader)."""
        frame = self.decode_batch((dl if dl is not None else self[ds_idx]).one_batch(), max_n)
        show_frame(frame)
        return frame


# ---------------------------------------------------------------------- helpers of from_df
def _choose_splits(
    df: pd.DataFrame,
    splits: Splits | None,
    valid_idx: Sequence[int] | None,
    splitter: Callable[[pd.DataFrame], Splits] | None,
    valid_pct: float,
    seed: int | None,
) -> Splits:
    """The (train, valid) positions from whichever one way of choosing them was given."""
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
    return check_splits(df, splits)
