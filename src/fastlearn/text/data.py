"""TextDataLoaders: texts tokenized and numericalized once, then batched for a language model
(a stream of words) or for a classifier (length-bucketed batches padded at the start).

    >>> dls_lm = TextDataLoaders.from_df(df, "text", is_lm=True, valid_pct=0.1, seq_len=72)
    >>> x, y = dls_lm.one_batch()              # (64, ~72) each; y is x shifted by one word
    >>> dls = TextDataLoaders.from_df(df, "text", "label", valid_col="is_valid",
    ...                               text_vocab=dls_lm.text_vocab)
    >>> x, y = dls.one_batch()                 # (64, longest text) padded at the start, (64,)

Language model: every epoch the documents are shuffled and joined into one stream, cut into
`bs` rows read side by side in windows of about `seq_len` tokens (varied randomly around it
while training), so a row continues in the next batch where it stopped.
Classifier: training batches group texts of similar length (shuffled within buckets of 50
batches, the batches then shuffled); validation and test batches keep the data's order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..core.data import Categorize, DataLoader, DataLoaders
from ..core.splitters import ColSplitter, RandomSplitter
from .loaders import LMDataLoader, SortedTextDataLoader, TextDataset
from .tokenize import (
    PAD,
    SubwordTokenizer,
    Tokenizer,
    WordTokenizer,
    detokenize,
    tokenize_texts,
    tokenizer_from_state,
)
from .vocab import Vocab

__all__ = [
    "TextDataset",
    "LMDataLoader",
    "SortedTextDataLoader",
    "TextDataLoaders",
    "tokenizer_from_state",
]


def _text_values(df: Any, text_col: str | Sequence[str]) -> list[str | tuple[str, ...]]:
    """The text column(s) as strings (several columns: one tuple of fields per row)."""
    cols = [text_col] if isinstance(text_col, (str, int)) else list(text_col)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise KeyError(
            f"Expected text column(s) {missing} in the DataFrame. Received columns: "
            f"{list(df.columns)[:20]}."
        )
    for c in cols:
        bad = [(label, v) for label, v in zip(df.index, df[c]) if not isinstance(v, str)]
        if bad:
            label, v = bad[0]
            raise TypeError(
                f"Expected strings in text column {c!r}. Received: "
                f"{type(v).__name__} {v!r:.40} at row {label!r} ({len(bad)} such "
                f"rows). Fix: df[{c!r}] = df[{c!r}].fillna('').astype(str), or drop "
                "those rows."
            )
    if len(cols) == 1:
        return list(df[cols[0]])
    return list(zip(*(df[c] for c in cols)))


def _label_values(df: Any, label_col: str) -> list[Any]:
    """The labels, refusing missing ones."""
    import pandas as pd

    if label_col not in df.columns:
        raise KeyError(
            f"Expected a label column {label_col!r}. Received columns: "
            f"{list(df.columns)[:20]}. Fix: pass label_col=, or is_lm=True."
        )
    na = df[label_col].isna()
    if na.any():
        rows = list(df.index[na][:5])
        raise ValueError(
            f"Label column {label_col!r} has {int(na.sum())} missing values (NaN), "
            f"e.g. at rows {rows}. Fix: drop them (df.dropna(subset=[{label_col!r}])) "
            "or fill them."
        )
    return [
        v.item() if hasattr(v, "item") and not isinstance(v, str) else v
        for v in pd.Series(df[label_col]).tolist()
    ]


def _read_texts(files: Sequence[Path]) -> list[str]:
    return [f.read_text(encoding="utf-8", errors="replace") for f in files]


class TextDataLoaders(DataLoaders):
    """Train/valid loaders over texts, with the tokenizer and vocabulary that produced them.

    `text_vocab` is the token Vocab; `vocab` the class names (a classifier) or, for a language
    model, the token list (so `text_vocab=dls_lm.vocab` works as in the course).
    """

    def __init__(
        self,
        train: DataLoader,
        valid: DataLoader | None = None,
        *,
        text_vocab: Vocab,
        tokenizer: Tokenizer,
        is_lm: bool,
        classes: Sequence[Any] | None = None,
        path: str | Path = ".",
        seq_len: int = 72,
        device: torch.device | str | None = None,
    ) -> None:
        vocab = list(text_vocab.itos) if is_lm else (list(classes) if classes else None)
        super().__init__(train, valid, device=device, vocab=vocab, n_inp=1)
        self.text_vocab, self.tokenizer, self.is_lm = text_vocab, tokenizer, is_lm
        self.path, self.seq_len = Path(path), seq_len

    @property
    def pad_idx(self) -> int:
        """Id of the padding token."""
        return self.text_vocab.stoi.get(PAD, 1)

    def numericalize(self, texts: Sequence[Any]) -> list[Tensor]:
        """Token ids of `texts` with this tokenizer and vocabulary."""
        return self.text_vocab.numericalize_batch(tokenize_texts(texts, tokenizer=self.tokenizer))

    def decode(self, ids: Tensor | Sequence[int], *, skip_pad: bool = True) -> str:
        """Readable text from token ids."""
        tokens = self.text_vocab.decode(
            [i for i in list(map(int, ids)) if not (skip_pad and i == self.pad_idx)]
        )
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

    def show_batch(self, max_n: int = 6, *, max_chars: int = 300, ds_idx: int = 0) -> None:
        """Print `max_n` texts of a batch, detokenized (and their labels or next words)."""
        batch = self[ds_idx].one_batch()
        x = batch[0][:max_n].cpu()
        for i, row in enumerate(x):
            text = self.decode(row)
            text = text if len(text) <= max_chars else text[:max_chars] + "…"
            if self.is_lm:
                nxt = self.decode(batch[1][i, -3:].cpu())
                print(f"[{i}] {text}\n    -> ... {nxt}")
            else:
                label = self.vocab[int(batch[1][i])] if len(batch) > 1 and self.vocab else ""
                print(f"[{i}] {label}: {text}")

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
        seq_len: int = 72,
        bs: int = 64,
        val_bs: int | None = None,
        text_vocab: Vocab | Sequence[str] | None = None,
        tokenizer: Tokenizer | None = None,
        min_freq: int = 3,
        max_vocab: int = 60000,
        truncate: int | None = None,
        classes: Sequence[Any] | None = None,
        n_workers: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        path: str | Path = ".",
        device: torch.device | str | None = None,
    ) -> TextDataLoaders:
        """Loaders from a DataFrame: `text_col` (one or several columns), `label_col` for a
        classifier (`is_lm=True`: no labels needed), validation rows from the boolean
        `valid_col` or a random `valid_pct`. The vocabulary is built on the training texts
        (`min_freq`, `max_vocab`) unless `text_vocab` (a Vocab, or the token list of a language
        model's loaders) is given. An untrained SubwordTokenizer is trained on the training texts.

            >>> dls = TextDataLoaders.from_df(df, "text", "label", valid_col="is_valid")
        """
        if len(df) == 0:
            raise ValueError("Expected a DataFrame with texts. Received: 0 rows.")
        if not is_lm and label_col is None:
            raise ValueError(
                "Expected label_col= for a classifier. Received: None. Fix: pass "
                "the label column, or is_lm=True for a language model."
            )
        texts = _text_values(df, text_col)
        labels = None if is_lm else _label_values(df, label_col)
        splitter = (
            ColSplitter(valid_col) if valid_col is not None else RandomSplitter(valid_pct, seed)
        )
        train_idx, valid_idx = splitter(df.reset_index(drop=True))
        tok = WordTokenizer() if tokenizer is None else tokenizer
        if isinstance(tok, SubwordTokenizer) and not _is_trained(tok):
            tok.train([texts[i] for i in train_idx], n_workers=n_workers)
        tokens = tokenize_texts(texts, tokenizer=tok, n_workers=n_workers, cache_dir=cache_dir)
        vocab = _make_vocab(text_vocab, [tokens[i] for i in train_idx], min_freq, max_vocab)
        ids = vocab.numericalize_batch(tokens)
        targets, cat = None, None
        if labels is not None:
            cat = Categorize(classes).setup([labels[i] for i in train_idx])
            unseen = sorted({str(labels[i]) for i in valid_idx if labels[i] not in cat.vocab})
            if unseen:
                raise ValueError(
                    f"Validation labels never seen in training: {unseen[:10]}. "
                    "Fix: use a stratified split, or drop those rows."
                )
            targets = cat.encode(labels)
        dsets = [
            TextDataset([ids[i] for i in idx], None if targets is None else targets[idx])
            for idx in (train_idx, valid_idx)
        ]
        train, valid = _loaders(dsets, is_lm, bs, val_bs, seq_len, _pad_id(vocab), truncate)
        return cls(
            train,
            valid,
            text_vocab=vocab,
            tokenizer=tok,
            is_lm=is_lm,
            classes=None if cat is None else cat.vocab,
            path=path,
            seq_len=seq_len,
            device=device,
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
        **kwargs: Any,
    ) -> TextDataLoaders:
        """Texts in `.txt` files, IMDb layout: `train/<label>/*.txt`, `<valid>/<label>/*.txt`
        (`test` in IMDb) and unlabelled `unsup/*.txt`.

        A classifier takes its labels from the parent folder's name, training from `train`
        and validation from `valid` (or a random `valid_pct` of `train` when given). A language
        model reads every text of train, valid and unsup and holds out a random `valid_pct`
        (default 0.1).

            >>> dls_lm = TextDataLoaders.from_folder(path, is_lm=True, valid_pct=0.1)
            >>> dls = TextDataLoaders.from_folder(path, valid="test", text_vocab=dls_lm.vocab)
        """
        import pandas as pd

        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"No folder at {path}.")
        kwargs.setdefault("path", path)
        if is_lm:
            files = sorted(f for d in (train, valid, unsup) for f in (path / d).rglob("*.txt"))
            df = pd.DataFrame({"text": _read_texts(files)})
            return cls.from_df(
                df, "text", is_lm=True, valid_pct=valid_pct or 0.1, seed=seed, **kwargs
            )
        rows = []
        for folder, is_valid in ((train, False), (valid, True)):
            if is_valid and valid_pct is not None:
                break
            files = sorted(f for f in (path / folder).glob("*/*.txt") if f.parent.name != unsup)
            rows += [(f, f.parent.name, is_valid) for f in files]
        if not rows:
            raise ValueError(
                f"Found no {train}/<label>/*.txt files under {path}. Fix: check the "
                "path and the folder names (train=, valid=)."
            )
        df = pd.DataFrame(rows, columns=["file", "label", "is_valid"])
        df["text"] = _read_texts(list(df["file"]))
        if valid_pct is not None:
            return cls.from_df(df, "text", "label", valid_pct=valid_pct, seed=seed, **kwargs)
        if not df["is_valid"].any():
            raise ValueError(
                f"Found no {valid}/<label>/*.txt files under {path}. Fix: pass "
                "valid= the validation folder's name, or valid_pct=0.2."
            )
        return cls.from_df(df, "text", "label", valid_col="is_valid", **kwargs)


def _pad_id(vocab: Vocab) -> int:
    """Id of xxpad in `vocab` (a clear error when it has none)."""
    if PAD not in vocab.stoi:
        raise ValueError(f"Expected {PAD!r} in the text vocabulary. Received: {vocab}.")
    return vocab.stoi[PAD]


def _is_trained(tok: SubwordTokenizer) -> bool:
    try:
        return bool(tok.itos)
    except RuntimeError:
        return False


def _make_vocab(
    text_vocab: Vocab | Sequence[str] | None,
    train_tokens: list[list[str]],
    min_freq: int,
    max_vocab: int,
) -> Vocab:
    if isinstance(text_vocab, Vocab):
        return text_vocab
    if text_vocab is not None:
        return Vocab(list(text_vocab), min_freq=min_freq, max_vocab=max_vocab)
    return Vocab.from_tokens(train_tokens, min_freq=min_freq, max_vocab=max_vocab)


def _loaders(
    dsets: list[TextDataset],
    is_lm: bool,
    bs: int,
    val_bs: int | None,
    seq_len: int,
    pad_idx: int,
    truncate: int | None,
) -> tuple[DataLoader, DataLoader | None]:
    train_ds, valid_ds = dsets
    val_bs = val_bs or bs
    if is_lm:
        train = LMDataLoader(train_ds, bs, seq_len=seq_len, shuffle=True, augment=True)
        valid = None
        if len(valid_ds):  # a small validation corpus gets fewer rows, each one window at least
            n_tokens = int(valid_ds.lengths.sum())
            valid_rows = max(1, min(val_bs, (n_tokens - 1) // seq_len))
            valid = LMDataLoader(valid_ds, valid_rows, seq_len=seq_len) if n_tokens > 1 else None
        return train, valid
    train = SortedTextDataLoader(
        train_ds, bs, pad_idx=pad_idx, truncate=truncate, shuffle=True, augment=True
    )
    valid = (
        SortedTextDataLoader(valid_ds, val_bs, pad_idx=pad_idx, truncate=truncate)
        if len(valid_ds)
        else None
    )
    return train, valid
