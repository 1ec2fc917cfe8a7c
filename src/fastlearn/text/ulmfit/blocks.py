"""TextBlock: texts in a DataBlock, tokenized and numericalized all at once, then batched as a
language model's stream or as a classifier's padded, length-bucketed batches.

    >>> get_imdb = partial(get_text_files, folders=["train", "test", "unsup"])
    >>> dls_lm = DataBlock(blocks=TextBlock.from_folder(path, is_lm=True), get_items=get_imdb,
    ...                    splitter=RandomSplitter(0.1)).dataloaders(path, path=path, bs=128,
    ...                                                              seq_len=80)
    >>> dls_clas = DataBlock(blocks=(TextBlock.from_folder(path, vocab=dls_lm.vocab),
    ...                              CategoryBlock),
    ...                      get_y=parent_label,
    ...                      get_items=partial(get_text_files, folders=["train", "test"]),
    ...                      splitter=GrandparentSplitter(valid_name="test"),
    ...                      ).dataloaders(path, path=path, bs=128, seq_len=72)
    >>> imdb_clas = DataBlock(blocks=(TextBlock.from_df("text", seq_len=72), CategoryBlock),
    ...                       get_x=ColReader("text"), get_y=ColReader("label"),
    ...                       splitter=ColSplitter())

A text is a str, or a tuple of str (several text columns: `xxfld i` before field i). A
missing text (NaN, None) is refused, naming the getter and the item: fill it with '' or drop
the row. The block tokenizes every text at once (in parallel processes for a large corpus,
with an optional disk cache), builds the vocabulary on the training texts unless `vocab` is
given, and numericalizes; as the first block it builds `TextDataset`s and `TextDataLoaders`.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ...core.collections import L
from ...core.datablock import DataBlockError, Datasets, TransformBlock
from ...core.getters import ColReader, get_files
from ...core.splitters import Splits
from ..items import text_error
from .data import TextDataLoaders
from .loaders import LMDataLoader, SortedTextDataLoader, TextDataset, pad_texts
from .tokenize.detokenize import detokenize
from .tokenize.parallel import tokenize_texts
from .tokenize.rules import PAD
from .tokenize.subword import SubwordTokenizer
from .tokenize.word import WordTokenizer
from .vocab import Vocab

__all__ = ["TextBlock", "get_text_files"]


def get_text_files(
    path: str | os.PathLike, recurse: bool = True, folders: Sequence[str] | None = None
) -> L:
    """The `.txt` files under `path` (sorted; `folders`: only those sub-folders)."""
    return get_files(path, extensions=[".txt"], recurse=recurse, folders=folders)


class ReadText:
    """Getter: the text of a file (`path / item` when the item is relative)."""

    def __init__(self, path: str | os.PathLike = ".", encoding: str = "utf8") -> None:
        self.path, self.encoding = Path(path), encoding

    def __repr__(self) -> str:
        return f"ReadText({str(self.path)!r}, encoding={self.encoding!r})"

    def __call__(self, item: str | os.PathLike) -> str:
        file = Path(item)
        if not file.is_absolute() and not file.exists():
            file = self.path / file
        return file.read_text(encoding=self.encoding, errors="replace")


class TextBlock(TransformBlock):
    """Texts -> token ids (1-d LongTensors): tokenized with `tok` (default `WordTokenizer()`;
    an untrained `SubwordTokenizer` is trained on the training texts), numericalized with
    `vocab` (a Vocab, or a token list such as a language model's `dls_lm.vocab`) or with a
    vocabulary built on the training texts (`min_freq`, `max_vocab`). `backwards` reverses
    every text. As the first block it builds a language model's loaders (`is_lm`, no target
    block) or a classifier's (`seq_len` is then the classifier's BPTT chunk).

    Build it with `TextBlock.from_df(text_cols)` or `TextBlock.from_folder(path)`, which give
    the block the getter it uses when the DataBlock has no `get_x`."""

    def __init__(
        self,
        vocab: Vocab | Sequence[str] | None = None,
        is_lm: bool = False,
        seq_len: int = 72,
        backwards: bool = False,
        min_freq: int = 3,
        max_vocab: int = 60000,
        *,
        tok: Any = None,
        getter: Any = None,
        n_workers: int | None = None,
        cache_dir: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        if seq_len < 1:
            raise ValueError(f"Expected seq_len >= 1. Received: {seq_len}.")
        self.given_vocab = vocab
        self.is_lm, self.seq_len, self.backwards = is_lm, seq_len, backwards
        self.min_freq, self.max_vocab = min_freq, max_vocab
        self.tok = WordTokenizer() if tok is None else tok
        self.default_getter = getter
        self.n_workers, self.cache_dir = n_workers, cache_dir
        self.text_vocab: Vocab | None = None  # learned by `encode`

    def __repr__(self) -> str:
        return f"TextBlock(is_lm={self.is_lm}, tok={type(self.tok).__name__})"

    def __deepcopy__(self, memo: dict) -> TextBlock:
        # each Datasets learns its own vocabulary, but the tokenizer and a given vocabulary
        # are shared: an untrained SubwordTokenizer is trained once, the caller's object
        out = copy.copy(self)
        out.text_vocab = None
        return out

    @classmethod
    def from_df(
        cls,
        text_cols: str | int | Sequence[str | int],
        vocab: Vocab | Sequence[str] | None = None,
        is_lm: bool = False,
        seq_len: int = 72,
        backwards: bool = False,
        min_freq: int = 3,
        max_vocab: int = 60000,
        tok: Any = None,
        n_workers: int | None = None,
        cache_dir: str | os.PathLike | None = None,
    ) -> TextBlock:
        """Texts from the column(s) `text_cols` of a DataFrame's rows (several columns: one
        field each), read when the DataBlock has no `get_x`; the course's
        `get_x=ColReader('text')` reads the same single column (with several columns, leave
        get_x out: unlike fastai, no tokenized 'text' column is written into the DataFrame).

            >>> TextBlock.from_df("text", is_lm=True)
            TextBlock(is_lm=True, tok=WordTokenizer)
        """
        return cls(
            vocab,
            is_lm,
            seq_len,
            backwards,
            min_freq,
            max_vocab,
            tok=tok,
            getter=ColReader(text_cols),
            n_workers=n_workers,
            cache_dir=cache_dir,
        )

    @classmethod
    def from_folder(
        cls,
        path: str | os.PathLike,
        vocab: Vocab | Sequence[str] | None = None,
        is_lm: bool = False,
        seq_len: int = 72,
        backwards: bool = False,
        min_freq: int = 3,
        max_vocab: int = 60000,
        tok: Any = None,
        n_workers: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        encoding: str = "utf8",
    ) -> TextBlock:
        """Texts read from the files the DataBlock's `get_items` lists (e.g.
        `get_text_files`); undecodable bytes become U+FFFD."""
        return cls(
            vocab,
            is_lm,
            seq_len,
            backwards,
            min_freq,
            max_vocab,
            tok=tok,
            getter=ReadText(path, encoding),
            n_workers=n_workers,
            cache_dir=cache_dir,
        )

    # ---------------------------------------------------------------- per block
    def check(self, value: Any) -> str | None:
        return text_error(value)

    def setup(self, train_values: Sequence[Any]) -> None:
        if isinstance(self.tok, SubwordTokenizer) and not _is_trained(self.tok):
            self.tok.train(train_values, n_workers=self.n_workers)

    def encode(self, values: Sequence[Any], splits: Splits) -> list[Tensor]:
        """Token ids of every text; tokenized once (here, where the split is known)."""
        tokens = tokenize_texts(
            values, tokenizer=self.tok, n_workers=self.n_workers, cache_dir=self.cache_dir
        )
        self.text_vocab = _make_vocab(
            self.given_vocab, [tokens[i] for i in splits[0]], self.min_freq, self.max_vocab
        )
        ids = self.text_vocab.numericalize_batch(tokens)
        return [t.flip(0) for t in ids] if self.backwards else ids

    def decode(self, x: Tensor) -> str:
        ids = x.flip(0) if self.backwards else x
        tokens = self._vocab().decode(ids)
        detok = getattr(self.tok, "detokenize", None)  # a custom tokenizer may have none
        return detok(tokens) if detok is not None else detokenize(tokens)

    @property
    def vocab(self) -> L | None:
        """The tokens, by id (once encoded)."""
        return None if self.text_vocab is None else L(self.text_vocab.itos)

    def _vocab(self) -> Vocab:
        if self.text_vocab is None:
            raise RuntimeError(
                "This TextBlock has no vocabulary yet: it is learned when a "
                "DataBlock encodes the texts (dblock.datasets(source))."
            )
        return self.text_vocab

    # ---------------------------------------------------------------- as the input block
    def datasets(self, dsets: Datasets) -> list[TextDataset]:
        """A TextDataset per split: token ids, and the target block's encoded values."""
        if dsets.item_tfms:
            raise DataBlockError(
                f"TextBlock takes no item transforms (texts are encoded all at "
                f"once). Received: item_tfms={dsets.item_tfms}."
            )
        targets = self._targets(dsets)
        ids = dsets.encoded[0]
        out = []
        for idx in dsets.splits:
            labels = None if targets is None else targets[torch.as_tensor(idx, dtype=torch.long)]
            out.append(TextDataset([ids[i] for i in idx], labels))
        return out

    def _targets(self, dsets: Datasets) -> Tensor | None:
        if dsets.n_inp != 1 or len(dsets.blocks) > 2:
            raise DataBlockError(
                f"TextBlock reads one input and at most one target. Received: "
                f"blocks {dsets.blocks} with n_inp={dsets.n_inp}."
            )
        if len(dsets.blocks) == 1:
            return None
        if self.is_lm:
            raise DataBlockError(
                f"A language model (TextBlock is_lm=True) reads the texts "
                f"alone. Received: a target block {dsets.blocks[1]!r}. Fix: "
                "drop the target block, or is_lm=False for a classifier."
            )
        targets = dsets.encoded[1]
        if not isinstance(targets, Tensor):
            raise DataBlockError(
                f"TextBlock batches targets encoded as one tensor "
                f"(CategoryBlock, MultiCategoryBlock, RegressionBlock). "
                f"Received: {type(targets).__name__} from {dsets.blocks[1]!r}."
            )
        return targets

    def trace(self, dsets: Datasets, i: int, train: bool) -> Iterator[tuple[str, Any]]:
        """text -> tokens -> ids of item `i`."""
        text = dsets.raw[0][i]
        yield "text", text
        yield f"tokenize ({type(self.tok).__name__})", self.tok.tokenize_batch([text])[0]
        yield (
            (
                f"numericalize (vocab of {len(self._vocab())}"
                f"{', reversed' if self.backwards else ''})"
            ),
            dsets.encoded_value(0, i),
        )

    def collate(self, samples: list[tuple[Any, ...]]) -> tuple[Any, ...]:
        """Samples -> (texts padded at the start, targets stacked)."""
        x = pad_texts([s[0] for s in samples], _pad_id(self._vocab()))
        return (x, *(torch.stack([s[k] for s in samples]) for k in range(1, len(samples[0]))))

    def dataloaders(
        self,
        dsets: Datasets,
        *,
        bs: int = 64,
        val_bs: int | None = None,
        seq_len: int | None = None,
        path: str | os.PathLike = ".",
        shuffle: bool = True,
        truncate: int | None = None,
        device: torch.device | str | None = None,
        num_workers: int = 0,
    ) -> TextDataLoaders:
        """TextDataLoaders: language-model windows of about `seq_len` tokens (`is_lm`), else
        classifier batches padded at the start (`truncate`: keep that many first tokens).
        `num_workers` is accepted and unused: a batch is a slice of tensors in memory."""
        seq_len = self.seq_len if seq_len is None else seq_len
        vocab = self._vocab()
        train, valid = _loaders(
            dsets.train,
            dsets.valid,
            self.is_lm,
            bs=bs,
            val_bs=val_bs,
            seq_len=seq_len,
            pad_idx=_pad_id(vocab),
            truncate=truncate,
            shuffle=shuffle,
            batch_tfms=dsets.batch_tfms,
        )
        target = dsets.target_block
        return TextDataLoaders(
            train,
            valid,
            text_vocab=vocab,
            tokenizer=self.tok,
            is_lm=self.is_lm,
            classes=None if target is None else target.vocab,
            path=path,
            seq_len=seq_len,
            backwards=self.backwards,
            device=device,
        )


# ---------------------------------------------------------------------------------- helpers
def _is_trained(tok: SubwordTokenizer) -> bool:
    try:
        return bool(tok.itos)
    except RuntimeError:
        return False


def _make_vocab(
    vocab: Vocab | Sequence[str] | None,
    train_tokens: list[list[str]],
    min_freq: int,
    max_vocab: int,
) -> Vocab:
    if isinstance(vocab, Vocab):
        return vocab
    if vocab is not None:
        return Vocab(list(vocab), min_freq=min_freq, max_vocab=max_vocab)
    return Vocab.from_tokens(train_tokens, min_freq=min_freq, max_vocab=max_vocab)


def _pad_id(vocab: Vocab) -> int:
    """Id of xxpad in `vocab` (a clear error when it has none)."""
    if PAD not in vocab.stoi:
        raise ValueError(f"Expected {PAD!r} in the text vocabulary. Received: {vocab}.")
    return vocab.stoi[PAD]


def _loaders(
    train_ds: TextDataset,
    valid_ds: TextDataset,
    is_lm: bool,
    *,
    bs: int,
    val_bs: int | None,
    seq_len: int,
    pad_idx: int,
    truncate: int | None,
    shuffle: bool,
    batch_tfms: Sequence[Any],
) -> tuple[Any, Any]:
    val_bs = val_bs or bs
    if is_lm:
        train = LMDataLoader(
            train_ds, bs, seq_len=seq_len, shuffle=shuffle, augment=True, batch_tfms=batch_tfms
        )
        valid = None
        if len(valid_ds):  # a small validation corpus gets fewer rows, each one window at least
            n_tokens = int(valid_ds.lengths.sum())
            rows = max(1, min(val_bs, (n_tokens - 1) // seq_len))
            valid = (
                LMDataLoader(valid_ds, rows, seq_len=seq_len, batch_tfms=batch_tfms)
                if n_tokens > 1
                else None
            )
        return train, valid
    train = SortedTextDataLoader(
        train_ds,
        bs,
        pad_idx=pad_idx,
        truncate=truncate,
        shuffle=shuffle,
        augment=True,
        batch_tfms=batch_tfms,
    )
    valid = (
        SortedTextDataLoader(
            valid_ds, val_bs, pad_idx=pad_idx, truncate=truncate, batch_tfms=batch_tfms
        )
        if len(valid_ds)
        else None
    )
    return train, valid
