"""Small synthetic text data shared by the text tests and the export-equality tests."""

from __future__ import annotations

import pandas as pd
import torch

from fastlearn.text import TextDataLoaders

WORDS = "good bad movie film plot actor story great awful fun dull scene".split()
TINY = {"emb_sz": 8, "n_hid": 16, "n_layers": 2}  # an AWD-LSTM config that trains in seconds


def corpus(n: int = 40, seed: int = 0, words: list[str] = WORDS) -> pd.DataFrame:
    """Random sentences of `words`, 'pos' when the first word is at least as frequent as the
    second; every fifth row is validation."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(n):
        k = int(torch.randint(4, 20, (1,), generator=g))
        picked = [words[int(j)] for j in torch.randint(0, len(words), (k,), generator=g)]
        label = "pos" if picked.count(words[0]) >= picked.count(words[1]) else "neg"
        rows.append((" ".join(picked).capitalize() + ".", label, i % 5 == 0))
    return pd.DataFrame(rows, columns=["text", "label", "is_valid"])


def lm_dls(df: pd.DataFrame | None = None, *, min_freq: int = 1) -> TextDataLoaders:
    """Language-model loaders over `df` (default `corpus()`): batches of 4 x 8 tokens."""
    return TextDataLoaders.from_df(
        corpus() if df is None else df,
        "text",
        is_lm=True,
        valid_pct=0.2,
        seed=0,
        bs=4,
        seq_len=8,
        min_freq=min_freq,
        device="cpu",
    )


def clas_dls(dls_lm: TextDataLoaders, df: pd.DataFrame | None = None) -> TextDataLoaders:
    """Classifier loaders over `df` (default `corpus()`) with the language model's vocabulary."""
    return TextDataLoaders.from_df(
        corpus() if df is None else df,
        "text",
        "label",
        "is_valid",
        text_vocab=dls_lm.vocab,
        bs=8,
        seq_len=8,
        device="cpu",
    )
