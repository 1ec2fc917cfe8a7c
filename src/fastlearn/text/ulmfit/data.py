"""TextDataLoaders: texts tokenized and numericalized once, then batched for a language model
(a stream of words) or for a classifier (length-bucketed batches padded at the start).

    >>> dls_lm = TextDataLoaders.from_df(df, "text", is_lm=True, valid_pct=0.1, seq_len=72)
    >>> x, y = dls_lm.one_batch()              # (64, ~72) each; y is x shifted by one word
    >>> dls = TextDataLoaders.from_df(df, "text", "label", valid_col="is_valid",
    ...                               text_vocab=dls_lm.text_vocab)
    >>> x, y = dls.one_batch()                 # (64, longest text) padded at the start, (64,)

The constructors are thin wrappers over the one ingestion path, a `DataBlock` with a
`TextBlock` (and a `CategoryBlock` for a classifier's labels): see `fastlearn.text.ulmfit.blocks`.

Language model: every epoch the documents are shuffled and joined into one stream, cut into
`bs` rows read side by side in windows of about `seq_len` tokens (varied randomly around it
while training), so a row continues in the next batch where it stopped.
Classifier: training batches group texts of similar length (shuffled within buckets of 50
batches, the batches then shuffled); validation and test batches keep the data's order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ...core.data import DataLoader, DataLoaders
from ...core.datablock import CategoryBlock, DataBlock
from ...core.getters import ColReader, parent_label
from ...core.splitters import ColSplitter, IndexSplitter, RandomSplitter
from .loaders import LMDataLoader, SortedTextDataLoader, TextDataset
from .tokenize.detokenize import detokenize
from .tokenize.parallel import BatchTokenizer, tokenize_texts
from .tokenize.rules import PAD
from .tokenize.tokenizer import tokenizer_from_state
from .vocab import Vocab

__all__ = [
    "TextDataset",
    "LMDataLoader",
    "SortedTextDataLoader",
    "TextDataLoaders",
    "tokenizer_from_state",
]


class TextDataLoaders(DataLoaders):
    """Train/valid loaders over texts, with the tokenizer and vocabulary that produced them.

    `text_vocab` is the token Vocab; `vocab` the class names (a classifier) or, for a language
    model, the token list (so `text_vocab=dls_lm.vocab` works as in the course). `backwards`:
    the texts' ids are reversed (a backwards language model or classifier).
    """

    def __init__(
        self,
        train: DataLoader,
        valid: DataLoader | None = None,
        *,
        text_vocab: Vocab,
        tokenizer: BatchTokenizer,
        is_lm: bool,
        classes: Sequence[Any] | None = None,
        path: str | Path = ".",
        seq_len: int = 72,
        backwards: bool = False,
        device: torch.device | str | None = None,
    ) -> None:
        vocab = list(text_vocab.itos) if is_lm else (list(classes) if classes else None)
        super().__init__(train, valid, device=device, vocab=vocab, n_inp=1)
        self.text_vocab, self.tokenizer, self.is_lm = text_vocab, tokenizer, is_lm
        self.path, self.seq_len, self.backwards = Path(path), seq_len, backwards

    @property
    def pad_idx(self) -> int:
        """Id of the padding token."""
        return self.text_vocab.stoi.get(PAD, 1)

    def numericalize(self, texts: Sequence[Any]) -> list[Tensor]:
        """Token ids of `texts` with this tokenizer and vocabulary (reversed if backwards)."""
        ids = self.text_vocab.numericalize_batch(tokenize_texts(texts, tokenizer=self.tokenizer))
        return [t.flip(0) for t in ids] if self.backwards else ids

    def decode(self, ids: Tensor | Sequence[int], *, skip_pad: bool = True) -> str:
        """Readable text from token ids (as batched: reversed back if backwards)."""
        ids = [i for i in list(map(int, ids)) if not (skip_pad and i == self.pad_idx)]
        tokens = self.text_vocab.decode(ids[::-1] if self.backwards else ids)
        detok = getattr(self.tokenizer, "detokenize", None)
        return detok(tokens) if detok is not None else detokenize(tokens)

    def test_dl(
        self, items: Any, *, bs: int | None = None, with_labels: bool = False
    ) -> SortedTextDataLoader:
        """A loader over new texts (a list of str), padded at the start, in order."""
        if isinstance(items, str):
            raise TypeError("Expected a list of texts. Received: a single str. Fix: [text].")
        ds = TextDataset(self.numericalize(list(items)))
        truncate = getattr(self.valid or self.train, "truncate", None)
        return SortedTextDataLoader(
            ds,
            bs or (self.valid or self.train).bs or 64,
            pad_idx=self.pad_idx,
            truncate=truncate,
            device=self.device,
        )

    def show_batch(
        self, max_n: int = 6, *, max_chars: int = 300, ds_idx: int = 0, dl: DataLoader | None = None
    ) -> Any:
        """Print `max_n` texts of a batch of `dl` (default `self[ds_idx]`), detokenized, with
        their labels (or next words); returns them as a DataFrame (see `text.show`)."""
        from .show import show_text_batch

        dl = dl if dl is not None else self[ds_idx]
        return show_text_batch(self, dl, max_n=max_n, max_chars=max_chars)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_df(
        cls,
        df: Any,
        text_col: str | Sequence[str] = "text",
        label_col: str | None = None,
        valid_col: str | None = None,
        *,
        valid_pct: float = 0.2,
        seed: int | None = None,
        is_lm: bool = False,
        **kwargs: Any,
    ) -> TextDataLoaders:
        """Loaders from a DataFrame: `text_col` (one or several columns), `label_col` for a
        classifier (`is_lm=True`: no labels needed), validation rows from the boolean
        `valid_col` or a random `valid_pct`. The vocabulary is built on the training texts
        (`min_freq`, `max_vocab`) unless `text_vocab` (a Vocab, or the token list of a language
        model's loaders) is given. An untrained SubwordTokenizer is trained on the training
        texts. Other arguments: `seq_len`, `bs`, `val_bs`, `tokenizer`, `truncate`, `classes`,
        `n_workers`, `cache_dir`, `path`, `device` (see `_from_source`).

            >>> dls = TextDataLoaders.from_df(df, "text", "label", valid_col="is_valid")
        """
        from .blocks import TextBlock

        if not is_lm and label_col is None:
            raise ValueError(
                "Expected label_col= for a classifier. Received: None. Fix: pass "
                "the label column, or is_lm=True for a language model."
            )
        splitter = (
            ColSplitter(valid_col) if valid_col is not None else RandomSplitter(valid_pct, seed)
        )
        return cls._from_source(
            df,
            partial(TextBlock.from_df, text_col),
            get_y=None if is_lm else ColReader(label_col),
            splitter=splitter,
            is_lm=is_lm,
            **kwargs,
        )

    @classmethod
    def from_csv(
        cls,
        csv: str | Path,
        text_col: str | Sequence[str] = "text",
        label_col: str | None = None,
        valid_col: str | None = None,
        *,
        delimiter: str | None = None,
        **kwargs: Any,
    ) -> TextDataLoaders:
        """`from_df` over a CSV file (path defaults to its folder).

        >>> dls = TextDataLoaders.from_csv(path / "texts.csv", "text", "label", "is_valid")
        """
        import pandas as pd

        csv = Path(csv)
        if not csv.is_file():
            raise FileNotFoundError(f"No CSV file at {csv}.")
        kwargs.setdefault("path", csv.parent)
        df = pd.read_csv(csv) if delimiter is None else pd.read_csv(csv, delimiter=delimiter)
        return cls.from_df(df, text_col, label_col, valid_col, **kwargs)

    @classmethod
    def from_folder(
        cls,
        path: str | Path,
        *,
        train: str = "train",
        valid: str = "test",
        unsup: str = "unsup",
        is_lm: bool = False,
        valid_pct: float | None = None,
        seed: int | None = None,
        encoding: str = "utf8",
        **kwargs: Any,
    ) -> TextDataLoaders:
        """Texts in `.txt` files, IMDb layout: `train/<label>/*.txt`, `<valid>/<label>/*.txt`
        (`test` in IMDb) and unlabelled `unsup/*.txt`.

        A classifier takes its labels from the parent folder's name, training from `train`
        and validation from `valid` (or a random `valid_pct` of `train` when given). A language
        model reads every text of train, valid and unsup and holds out a random `valid_pct`
        (default 0.1). Other arguments as `from_df`.

            >>> dls_lm = TextDataLoaders.from_folder(path, is_lm=True, valid_pct=0.1)
            >>> dls = TextDataLoaders.from_folder(path, valid="test", text_vocab=dls_lm.vocab)
        """
        from .blocks import TextBlock

        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"No folder at {path}.")
        kwargs.setdefault("path", path)
        block = partial(TextBlock.from_folder, path, encoding=encoding)
        if is_lm:
            files = sorted(f for d in (train, valid, unsup) for f in (path / d).rglob("*.txt"))
            if not files:
                raise ValueError(
                    f"Found no .txt files under {path} in {train}, {valid} or "
                    f"{unsup}. Fix: check the path and the folder names."
                )
            return cls._from_source(
                files,
                block,
                get_y=None,
                is_lm=True,
                splitter=RandomSplitter(valid_pct or 0.1, seed),
                **kwargs,
            )
        files = _labelled_files(path, train, unsup)
        if not files:
            raise ValueError(
                f"Found no {train}/<label>/*.txt files under {path}. Fix: check the "
                "path and the folder names (train=, valid=)."
            )
        if valid_pct is not None:
            splitter = RandomSplitter(valid_pct, seed)
        else:
            valid_files = _labelled_files(path, valid, unsup)
            if not valid_files:
                raise ValueError(
                    f"Found no {valid}/<label>/*.txt files under {path}. Fix: pass "
                    "valid= the validation folder's name, or valid_pct=0.2."
                )
            splitter = IndexSplitter(range(len(files), len(files) + len(valid_files)))
            files = files + valid_files
        return cls._from_source(
            files, block, get_y=parent_label, splitter=splitter, is_lm=False, **kwargs
        )

    @classmethod
    def _from_source(
        cls,
        source: Any,
        text_block: Callable[..., Any],
        *,
        get_y: Callable[[Any], Any] | None,
        splitter: Callable[[Any], Any],
        is_lm: bool,
        seq_len: int = 72,
        bs: int = 64,
        val_bs: int | None = None,
        text_vocab: Vocab | Sequence[str] | None = None,
        tokenizer: BatchTokenizer | None = None,
        min_freq: int = 3,
        max_vocab: int = 60000,
        truncate: int | None = None,
        classes: Sequence[Any] | None = None,
        n_workers: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        path: str | Path = ".",
        device: torch.device | str | None = None,
    ) -> TextDataLoaders:
        """The DataBlock behind every constructor: `text_block(...)` (TextBlock.from_df or
        from_folder) and, for a classifier, a CategoryBlock (`classes`: the classes in order)."""
        text = text_block(
            vocab=text_vocab,
            is_lm=is_lm,
            seq_len=seq_len,
            min_freq=min_freq,
            max_vocab=max_vocab,
            tok=tokenizer,
            n_workers=n_workers,
            cache_dir=cache_dir,
        )
        blocks = [text] if is_lm else [text, CategoryBlock(vocab=classes)]
        dblock = DataBlock(blocks, get_y=get_y, splitter=splitter)
        return dblock.dataloaders(
            source, bs=bs, val_bs=val_bs, truncate=truncate, path=path, device=device
        )


def _labelled_files(path: Path, folder: str, unsup: str) -> list[Path]:
    """`path/folder/<label>/*.txt`, sorted (the unsup folder is no label)."""
    return sorted(f for f in (path / folder).glob("*/*.txt") if f.parent.name != unsup)
