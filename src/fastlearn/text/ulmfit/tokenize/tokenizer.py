"""The course's `Tokenizer` wrapper, and `tokenizer_from_state`, which rebuilds a
WordTokenizer or a SubwordTokenizer from its JSON settings (e.g. an export's header)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ....core.collections import L
from ...items import Text
from .subword import SubwordTokenizer
from .word import WordTokenizer

_TOKENIZER_TYPES: dict[str, type] = {"word": WordTokenizer, "subword": SubwordTokenizer}


def tokenizer_from_state(state: dict[str, Any]) -> WordTokenizer | SubwordTokenizer:
    """Rebuild the tokenizer that wrote `state` (its `to_state()`, e.g. from an export's JSON
    header): a WordTokenizer or a SubwordTokenizer, chosen by `state["type"]`; plain JSON
    only, nothing unpickled.

    >>> tokenizer_from_state(WordTokenizer(add_eos=True).to_state())
    WordTokenizer(fix_html=True, replace_rep=True, replace_wrep=True, lowercase=True, \
add_bos=True, add_eos=True)
    """
    kind = state.get("type") if isinstance(state, dict) else None
    cls = _TOKENIZER_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        received = f"type {kind!r}" if isinstance(state, dict) else type(state).__name__
        raise ValueError(
            f"Expected a tokenizer state (from to_state()) of type {sorted(_TOKENIZER_TYPES)}. "
            f"Received: {received}."
        )
    return cls.from_state(state)


class Tokenizer:
    """The course's tokenizer object: `tkn = Tokenizer(WordTokenizer()); tkn(txt)` gives the
    tokens of one text as an `L` (a list of texts: an `L` of them).

    fastlearn's tokenizers apply fastai's rules (xxbos, xxmaj, xxrep...) themselves, so the
    wrapper adds none: `tkn(txt) == tok(txt)`. It adds the course's API around them: `setup`
    (trains a SubwordTokenizer), and passes as `tokenizer=` wherever a tokenizer is taken.

        >>> tkn = Tokenizer(WordTokenizer())
        >>> tkn("The U.S. dollar $1 is $1.00.")
        (#12) ['xxbos', 'xxmaj', 'the', 'xxup', 'u.s.', 'dollar', '$', '1', 'is', '$', ...]
    """

    def __init__(self, tok: WordTokenizer | SubwordTokenizer | None = None) -> None:
        if tok is not None and not isinstance(tok, (WordTokenizer, SubwordTokenizer)):
            raise TypeError(
                f"Expected a WordTokenizer or a SubwordTokenizer. Received: {type(tok).__name__}."
            )
        self.tok = WordTokenizer() if tok is None else tok

    def setup(self, texts: Iterable[Text]) -> Tokenizer:
        """Train the subword tokenizer on `texts` (a WordTokenizer needs no set-up)."""
        if isinstance(self.tok, SubwordTokenizer):
            self.tok.setup(texts)
        return self

    def __call__(self, text: Text | list[Text]) -> L:
        """The tokens of one text; for a list of texts, the tokens of each."""
        if isinstance(text, list):
            return L(L(t) for t in self.tok.tokenize_batch(text))
        return L(self.tok(text))

    def tokenize_batch(self, texts: Sequence[Text]) -> list[list[str]]:
        """Tokens of many texts (as `tokenize_texts` and the loaders call it)."""
        return self.tok.tokenize_batch(texts)

    def detokenize(self, tokens: Sequence[str]) -> str:
        """Readable text from tokens."""
        return self.tok.detokenize(tokens)

    def to_state(self) -> dict[str, Any]:
        """The wrapped tokenizer's state (`tokenizer_from_state` rebuilds that tokenizer)."""
        return self.tok.to_state()

    def __repr__(self) -> str:
        return f"Tokenizer({self.tok!r})"
