"""SubwordTokenizer: BPE or unigram subwords (HuggingFace `tokenizers`) after WordTokenizer's
rules; the special tokens stay whole."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any

from ...items import Text
from .detokenize import detokenize
from .parallel import tokenize_texts
from .rules import SPECIAL_TOKENS, UNK
from .word import WordTokenizer


def _import_tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError as e:
        raise ImportError(
            "SubwordTokenizer needs HuggingFace tokenizers, which is not installed. "
            "Install it with `pip install tokenizers` (or `pip install fastlearn[text]`)."
        ) from e
    return tokenizers


_RE_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_surrogates(text: str) -> str:
    """Lone surrogates (undecodable bytes read with surrogateescape) as U+FFFD: `tokenizers`
    only takes valid Unicode."""
    return _RE_SURROGATE.sub("\ufffd", text)


class SubwordTokenizer:
    """BPE or unigram subword tokenizer (HuggingFace `tokenizers`) after WordTokenizer's rules.

    Texts first go through `rules` (a WordTokenizer: xxbos, xxmaj, xxrep...); the special
    tokens stay whole and every other word is split into pieces, "▁" marking a word start.

    `vocab_sz` and `setup` are the course's names for `vocab_size` and `train`.

    >>> sub = SubwordTokenizer(vocab_size=100, model="bpe").train(["a tiny corpus"] * 10)
    >>> sub("A tiny text")[:2]
    ['xxbos', 'xxmaj']
    """

    def __init__(
        self,
        vocab_size: int | None = None,
        model: str = "unigram",
        *,
        rules: WordTokenizer | None = None,
        vocab_sz: int | None = None,
    ) -> None:
        if vocab_sz is not None and vocab_size is not None and vocab_sz != vocab_size:
            raise ValueError(
                f"vocab_sz is the course's name for vocab_size: give one. Received: "
                f"vocab_size={vocab_size}, vocab_sz={vocab_sz}."
            )
        vocab_size = next((v for v in (vocab_size, vocab_sz) if v is not None), 8000)
        if model not in ("bpe", "unigram"):
            raise ValueError(f"Expected model 'bpe' or 'unigram'. Received: {model!r}.")
        if vocab_size <= len(SPECIAL_TOKENS):
            raise ValueError(
                f"Expected vocab_size > {len(SPECIAL_TOKENS)} (the special tokens). "
                f"Received: {vocab_size}."
            )
        self.vocab_size, self.model = vocab_size, model
        self.rules = WordTokenizer() if rules is None else rules
        self._hf: Any = None

    def train(self, texts: Iterable[Text], *, n_workers: int | None = None) -> SubwordTokenizer:
        """Learn the subword vocabulary from `texts`; returns self."""
        hf = _import_tokenizers()
        words = tokenize_texts(texts, tokenizer=self.rules, n_workers=n_workers)
        specials = [hf.AddedToken(t, single_word=True, special=True) for t in SPECIAL_TOKENS]
        if self.model == "bpe":
            tok = hf.Tokenizer(hf.models.BPE(unk_token=UNK))
            trainer = hf.trainers.BpeTrainer(
                vocab_size=self.vocab_size, special_tokens=specials, show_progress=False
            )
        else:
            tok = hf.Tokenizer(hf.models.Unigram())
            trainer = hf.trainers.UnigramTrainer(
                vocab_size=self.vocab_size,
                special_tokens=specials,
                unk_token=UNK,
                show_progress=False,
            )
        pre = hf.pre_tokenizers
        tok.pre_tokenizer = pre.Sequence([pre.WhitespaceSplit(), pre.Metaspace()])
        tok.decoder = hf.decoders.Metaspace()
        joined = (_no_surrogates(" ".join(w)) for w in words)
        tok.train_from_iterator(joined, trainer, length=len(words))
        self._hf = tok
        return self

    def setup(self, texts: Iterable[Text], *, n_workers: int | None = None) -> SubwordTokenizer:
        """The course's name for `train`: `sp = SubwordTokenizer(vocab_sz=1000); sp.setup(txts)`."""
        return self.train(texts, n_workers=n_workers)

    def __call__(self, text: Text | list[Text]) -> list[str] | list[list[str]]:
        """Subword tokens of one text; a list of texts gives a list of token lists."""
        if isinstance(text, list):
            return self.tokenize_batch(text)
        return self.tokenize_batch([text])[0]

    def tokenize_batch(self, texts: Sequence[Text]) -> list[list[str]]:
        """Subword tokens of many texts."""
        # Joined words (not is_pretokenized lists) cross into Rust faster; specials stay whole.
        joined = [_no_surrogates(" ".join(w)) for w in self.rules.tokenize_batch(texts)]
        return [e.tokens for e in self._trained().encode_batch(joined, add_special_tokens=False)]

    def detokenize(self, tokens: Sequence[str]) -> str:
        """Readable text from subword tokens."""
        special = set(SPECIAL_TOKENS)
        text = "".join(f" {t} " if t in special else t for t in tokens).replace("▁", " ")
        return detokenize(text.split())

    @property
    def itos(self) -> list[str]:
        """The subword vocabulary, by id."""
        vocab = self._trained().get_vocab()
        return sorted(vocab, key=vocab.__getitem__)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the trained tokenizer as `tokenizers`' own JSON (rules are not in it)."""
        self._trained().save(str(path))

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, rules: WordTokenizer | None = None
    ) -> SubwordTokenizer:
        """Read a tokenizer written by `save` (or any BPE/unigram `tokenizers` JSON)."""
        return cls._from_hf(_import_tokenizers().Tokenizer.from_file(str(path)), rules)

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable settings and the trained tokenizer."""
        return {
            "type": "subword",
            "model": self.model,
            "vocab_size": self.vocab_size,
            "rules": self.rules.to_state(),
            "tokenizer": json.loads(self._trained().to_str()),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SubwordTokenizer:
        """Rebuild from `to_state()`."""
        hf = _import_tokenizers().Tokenizer.from_str(json.dumps(state["tokenizer"]))
        return cls._from_hf(hf, WordTokenizer.from_state(state["rules"]))

    @classmethod
    def _from_hf(cls, hf_tok: Any, rules: WordTokenizer | None) -> SubwordTokenizer:
        model = json.loads(hf_tok.to_str())["model"]["type"].lower()
        if model not in ("bpe", "unigram"):
            raise ValueError(f"Expected a BPE or Unigram tokenizer. Received: {model!r}.")
        sub = cls(max(hf_tok.get_vocab_size(), len(SPECIAL_TOKENS) + 1), model, rules=rules)
        sub._hf = hf_tok
        return sub

    def _trained(self) -> Any:
        if self._hf is None:
            raise RuntimeError("This SubwordTokenizer is not trained. Call `.train(texts)` first.")
        return self._hf
