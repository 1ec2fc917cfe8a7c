"""Vocabulary: tokens <-> ids, built by frequency with the special tokens first.

>>> vocab = Vocab.from_tokens([["xxbos", "a", "b", "a"]], min_freq=1)
>>> vocab.numericalize(["a", "zebra"]).tolist()
[9, 0]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, repeat
from typing import Any

import numpy as np
import torch

from .tokenize.rules import SPECIAL_TOKENS, UNK

FAKE = "xxfake"  # dummy tokens that pad the vocabulary to a multiple of `pad_to`


class Vocab:
    """Token <-> id mapping; unknown tokens map to the id of `xxunk`.

    `itos` must hold unique tokens, `xxunk` among them. Build one from a corpus with
    `Vocab.from_tokens`, or from an exported state with `Vocab.from_state`.
    """

    def __init__(self, itos: Sequence[str], *, min_freq: int = 3, max_vocab: int = 60000) -> None:
        itos = list(itos)
        if len(set(itos)) != len(itos):
            dups = [t for t, c in Counter(itos).items() if c > 1][:5]
            raise ValueError(f"Expected unique tokens in itos. Received duplicates: {dups}.")
        if UNK not in itos:
            raise ValueError(f"Expected {UNK!r} in itos. Received: {itos[:10]}...")
        self.itos, self.min_freq, self.max_vocab = itos, min_freq, max_vocab
        self.stoi = {t: i for i, t in enumerate(itos)}
        self.unk_id = self.stoi[UNK]

    @classmethod
    def from_tokens(
        cls,
        token_lists: Iterable[Sequence[str]],
        *,
        min_freq: int = 3,
        max_vocab: int = 60000,
        special_tokens: Sequence[str] = SPECIAL_TOKENS,
        pad_to: int = 8,
    ) -> Vocab:
        """Build from tokenized texts: special tokens, then tokens seen at least `min_freq`
        times by decreasing frequency (ties: first seen first), at most `max_vocab` in all,
        then dummy `xxfake` tokens up to a multiple of `pad_to` (fast embedding matmuls), so
        `len(vocab)` may pass `max_vocab` by less than `pad_to`.
        """
        if isinstance(token_lists, (str, bytes)):
            raise TypeError("Expected a list of token lists. Received: a single string.")
        counts = Counter(chain.from_iterable(token_lists))
        specials = list(dict.fromkeys(special_tokens))
        if UNK not in specials:
            specials.insert(0, UNK)
        taken = set(specials)
        # Counter keeps first-seen order and most_common() sorts stably: ties stay in that order.
        frequent = [t for t, c in counts.most_common() if c >= min_freq and t not in taken]
        itos = specials + frequent[: max(0, max_vocab - len(specials))]
        return cls(_pad(itos, pad_to), min_freq=min_freq, max_vocab=max_vocab)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __getitem__(self, index: int | slice) -> str | list[str]:
        """The token of an id (an int or a 0-d tensor), as the course reads `num.vocab[o]`."""
        return self.itos[index]

    def __iter__(self) -> Iterator[str]:
        """The tokens by id."""
        return iter(self.itos)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens: {self.itos[:12]}...)"

    def numericalize(self, tokens: Sequence[str]) -> torch.Tensor:
        """Ids of `tokens` as a 1-d LongTensor (unknown -> id of xxunk)."""
        if isinstance(tokens, str):
            raise TypeError(f"Expected a list of tokens. Received: a str ({tokens[:30]!r}).")
        # map() + np.fromiter loop in C: about 30 ns a token, no Python-level loop.
        ids = np.fromiter(map(self.stoi.get, tokens, repeat(self.unk_id)), np.int64, len(tokens))
        return torch.from_numpy(ids)

    def numericalize_batch(self, token_lists: Sequence[Sequence[str]]) -> list[torch.Tensor]:
        """Ids of many token lists, looked up in one pass."""
        flat = self.numericalize(list(chain.from_iterable(token_lists)))
        return list(flat.split([len(t) for t in token_lists]))

    def decode(self, ids: torch.Tensor | np.ndarray | Sequence[int]) -> list[str]:
        """Tokens of `ids` (any integer sequence or 1-d tensor)."""
        if isinstance(ids, (torch.Tensor, np.ndarray)):
            ids = ids.tolist()
        itos = self.itos
        if ids and (min(ids) < 0 or max(ids) >= len(itos)):
            bad = [i for i in ids if not 0 <= i < len(itos)][:5]
            raise IndexError(f"Expected ids in [0, {len(itos)}). Received: {bad}.")
        return [itos[i] for i in ids]

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable state: the tokens by id and the settings."""
        return {"itos": list(self.itos), "min_freq": self.min_freq, "max_vocab": self.max_vocab}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Vocab:
        """Rebuild from `to_state()`."""
        if not isinstance(state, dict) or not isinstance(state.get("itos"), list):
            raise ValueError("Expected a dict with an 'itos' list (from Vocab.to_state()).")
        return cls(state["itos"], min_freq=state["min_freq"], max_vocab=state["max_vocab"])


def _pad(itos: list[str], pad_to: int) -> list[str]:
    """Append unique dummy tokens until len(itos) is a multiple of pad_to."""
    taken, i = set(itos), 0
    while pad_to > 1 and len(itos) % pad_to:
        name = FAKE if i == 0 else f"{FAKE}{i}"
        if name not in taken:
            itos.append(name)
        i += 1
    return itos


class Numericalize:
    """Transform: tokens -> LongTensor of ids with `decode` back (wraps a `Vocab`).

    Without a vocabulary, `setup` builds one from tokenized texts, as the course does:

        >>> num = Numericalize()
        >>> num.setup(toks200)                  # min_freq=3, max_vocab=60000 by default
        >>> nums = num(toks)[:20]
        >>> " ".join(num.vocab[o] for o in nums)
    """

    def __init__(
        self,
        vocab: Vocab | Sequence[str] | None = None,
        *,
        min_freq: int = 3,
        max_vocab: int = 60000,
        special_toks: Sequence[str] | None = None,
    ) -> None:
        if vocab is not None and not isinstance(vocab, Vocab):
            vocab = Vocab(vocab, min_freq=min_freq, max_vocab=max_vocab)
        self.vocab: Vocab | None = vocab
        self.min_freq, self.max_vocab = min_freq, max_vocab
        self.special_toks = SPECIAL_TOKENS if special_toks is None else tuple(special_toks)

    @classmethod
    def from_tokens(cls, token_lists: Iterable[Sequence[str]], **kwargs: Any) -> Numericalize:
        """Build the vocabulary from tokenized texts (`Vocab.from_tokens` arguments)."""
        return cls(Vocab.from_tokens(token_lists, **kwargs))

    def setup(self, token_lists: Iterable[Sequence[str]]) -> Numericalize:
        """Build the vocabulary from tokenized texts, unless one was given."""
        if self.vocab is None:
            self.vocab = Vocab.from_tokens(
                token_lists,
                min_freq=self.min_freq,
                max_vocab=self.max_vocab,
                special_tokens=self.special_toks,
            )
        return self

    def __call__(self, tokens: Sequence[str]) -> torch.Tensor:
        """The ids of `tokens`, (len(tokens),) int64; unknown tokens get xxunk's."""
        return self._vocab().numericalize(tokens)

    def decode(self, ids: torch.Tensor | Sequence[int]) -> list[str]:
        """Tokens of ids."""
        return self._vocab().decode(ids)

    def _vocab(self) -> Vocab:
        if self.vocab is None:
            raise RuntimeError(
                "Numericalize has no vocabulary yet. Fix: num.setup(token_lists) "
                "first, or pass Numericalize(vocab)."
            )
        return self.vocab

    def __repr__(self) -> str:
        return f"Numericalize({self.vocab!r})"
