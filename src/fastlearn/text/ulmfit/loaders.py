"""The batches text models read: a language model's stream windows and a classifier's
padded, length-bucketed batches, over numericalized texts (`TextDataset`).

    >>> ds = TextDataset([torch.arange(2, 12), torch.arange(5, 9)], torch.tensor([0, 1]))
    >>> x, y = next(iter(SortedTextDataLoader(ds, 2, pad_idx=1)))   # x (2, 10), pads first
    >>> x, y = next(iter(LMDataLoader(TextDataset([torch.arange(100)]), 4, seq_len=8)))
    >>> bool((x[:, 1:] == y[:, :-1]).all())
    True
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ...core.data import DataLoader, lone_last_item

__all__ = ["TextDataset", "LMDataLoader", "SortedTextDataLoader", "pad_texts"]


class TextDataset(Dataset):
    """Numericalized texts (1-d LongTensors), with class indices or without labels."""

    def __init__(self, ids: Sequence[Tensor], labels: Tensor | None = None) -> None:
        self.ids, self.labels = list(ids), labels
        self.lengths = torch.tensor([len(t) for t in self.ids], dtype=torch.long)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[Tensor, ...]:
        return (self.ids[i],) if self.labels is None else (self.ids[i], self.labels[i])


def _id_tensors(texts: Any) -> list[Tensor]:
    """A sequence of numericalized texts as 1-d LongTensors; anything else is refused."""
    try:
        ids = [torch.as_tensor(t) for t in texts]
    except (TypeError, ValueError, RuntimeError) as e:
        raise TypeError(
            f"Expected a TextDataset or a sequence of numericalized texts (1-d "
            f"integer tensors). Received: {type(texts).__name__} ({e}). Fix: "
            "numericalize the tokens first (Numericalize())."
        ) from None
    for i, t in enumerate(ids):
        if t.ndim != 1 or t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise TypeError(
                f"Expected text {i} as a 1-d integer tensor of token ids. Received: "
                f"{t.dtype} of shape {tuple(t.shape)}. Fix: numericalize the tokens "
                "first (Numericalize())."
            )
    return [t.long() for t in ids]


def pad_texts(texts: Sequence[Tensor], pad_idx: int) -> Tensor:
    """Token-id texts as one (B, longest) batch, padded at the start with `pad_idx`."""
    longest = max(1, max(len(t) for t in texts))
    x = torch.full((len(texts), longest), pad_idx, dtype=torch.long)  # (B, L)
    for row, t in enumerate(texts):
        if len(t):
            x[row, longest - len(t) :] = t
    return x


class _LMBatches:
    """(x, y) windows over the epoch's stream cut into `bs` rows; y = x shifted by one."""

    def __init__(self, ids: list[Tensor], bs: int, seq_len: int, shuffle: bool, vary: bool):
        self.ids, self.bs, self.seq_len, self.shuffle, self.vary = ids, bs, seq_len, shuffle, vary
        n_tokens = sum(len(t) for t in ids)
        self.row_len = (n_tokens - 1) // bs  # tokens per row (inputs)
        if self.row_len < 1:
            raise ValueError(
                f"The language-model corpus has {n_tokens} tokens: too few for "
                f"bs={bs} rows. Fix: lower bs (at most {max(n_tokens - 1, 0)})."
            )

    def __len__(self) -> int:
        return -(-self.row_len // self.seq_len)

    def window_lengths(self) -> list[int]:
        """Lengths of this epoch's windows: seq_len (the last shorter), or, when varied, drawn
        around seq_len (half of it 5% of the time, std 5) and rescaled to fill the rows."""
        n, m = len(self), self.row_len
        if not self.vary or n == 1:
            return [self.seq_len] * (n - 1) + [m - self.seq_len * (n - 1)]
        base = torch.where(torch.rand(n) < 0.95, self.seq_len, self.seq_len / 2)
        draws = torch.normal(base.double(), 5.0).clamp(min=5)
        ends = (draws.cumsum(0) / draws.sum() * m).round().long().tolist()
        lengths, prev = [], 0
        for i, end in enumerate(ends):  # at least one token each, ending exactly at m
            end = m if i == n - 1 else min(max(end, prev + 1), m - (n - 1 - i))
            lengths.append(end - prev)
            prev = end
        return lengths

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        order = torch.randperm(len(self.ids)).tolist() if self.shuffle else range(len(self.ids))
        stream = torch.cat([self.ids[i] for i in order])
        m, bs = self.row_len, self.bs
        x, y = stream[: m * bs].view(bs, m), stream[1 : m * bs + 1].view(bs, m)
        pos = 0
        for sl in self.window_lengths():
            yield x[:, pos : pos + sl], y[:, pos : pos + sl]
            pos += sl


class LMDataLoader(DataLoader):
    """Language-model batches (x, y), each (bs, ~seq_len), from a TextDataset."""

    def __init__(
        self,
        dataset: TextDataset,
        bs: int = 64,
        *,
        seq_len: int = 72,
        shuffle: bool = False,
        vary_seq_len: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if seq_len < 1:
            raise ValueError(f"Expected seq_len >= 1. Received: {seq_len}.")
        if not isinstance(dataset, TextDataset):  # the course's list of numericalized texts
            dataset = TextDataset(_id_tensors(dataset))
        self.seq_len = seq_len
        self.vary_seq_len = shuffle if vary_seq_len is None else vary_seq_len
        super().__init__(dataset, bs, shuffle=shuffle, **kwargs)

    def _make_loader(self) -> _LMBatches:
        return _LMBatches(self.dataset.ids, self.bs, self.seq_len, self.shuffle, self.vary_seq_len)

    def new(self, **kwargs: Any) -> LMDataLoader:
        """A copy with some settings changed (seq_len and vary_seq_len too)."""
        kwargs.setdefault("seq_len", self.seq_len)
        kwargs.setdefault("vary_seq_len", self.vary_seq_len)
        return super().new(**kwargs)


class _PaddedBatches:
    """Classifier batches: texts padded at the start to the batch's longest (after truncation).
    Shuffled (training), a last batch of one text is dropped: BatchNorm can't train on it."""

    def __init__(
        self,
        ds: TextDataset,
        bs: int,
        shuffle: bool,
        pad_idx: int,
        truncate: int | None,
        bucket: int,
    ) -> None:
        self.ds, self.bs, self.shuffle, self.pad_idx = ds, bs, shuffle, pad_idx
        self.truncate, self.bucket = truncate, bucket

    def __len__(self) -> int:
        return -(-len(self.ds) // self.bs) - self._drops_lone_item()

    def _drops_lone_item(self) -> bool:
        return self.shuffle and lone_last_item(len(self.ds), self.bs)

    def batches(self) -> list[Tensor]:
        """Indices of each batch: in order, or bucketed by length and shuffled."""
        n, bs = len(self.ds), self.bs
        if not self.shuffle:
            return list(torch.arange(n).split(bs))
        perm, size = torch.randperm(n), bs * self.bucket
        chunks = [c[self.ds.lengths[c].argsort(descending=True)] for c in perm.split(size)]
        batches = list(torch.cat(chunks).split(bs))
        if self._drops_lone_item():  # the last split: the item shuffling left over
            batches.pop()
        longest = max(range(len(batches)), key=lambda i: int(self.ds.lengths[batches[i]].max()))
        rest = [b for i, b in enumerate(batches) if i != longest]
        order = torch.randperm(len(rest)).tolist()  # the longest first: memory errors show early
        return [batches[longest]] + [rest[i] for i in order]

    def collate(self, idx: Tensor) -> tuple[Tensor, ...]:
        x = pad_texts([self.ds.ids[i][: self.truncate] for i in idx.tolist()], self.pad_idx)
        return (x,) if self.ds.labels is None else (x, self.ds.labels[idx])

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        for idx in self.batches():
            yield self.collate(idx)


class SortedTextDataLoader(DataLoader):
    """Classifier batches (x, y): x (bs, longest) padded at the start with `pad_idx`.

    `truncate` keeps at most that many first tokens of each text. Shuffled loaders bucket
    texts by length (`bucket` batches at a time) so that little compute goes to padding.
    """

    def __init__(
        self,
        dataset: TextDataset,
        bs: int = 64,
        *,
        pad_idx: int = 1,
        truncate: int | None = None,
        shuffle: bool = False,
        bucket: int = 50,
        **kwargs: Any,
    ) -> None:
        if truncate is not None and truncate < 1:
            raise ValueError(f"Expected truncate >= 1 or None. Received: {truncate}.")
        self.pad_idx, self.truncate, self.bucket = pad_idx, truncate, bucket
        super().__init__(dataset, bs, shuffle=shuffle, **kwargs)

    def _make_loader(self) -> _PaddedBatches:
        return _PaddedBatches(
            self.dataset, self.bs, self.shuffle, self.pad_idx, self.truncate, self.bucket
        )

    def new(self, **kwargs: Any) -> SortedTextDataLoader:
        """A copy with some settings changed (pad_idx, truncate and bucket too)."""
        for name in ("pad_idx", "truncate", "bucket"):
            kwargs.setdefault(name, getattr(self, name))
        return super().new(**kwargs)
