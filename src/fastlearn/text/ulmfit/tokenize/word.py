"""WordTokenizer: a fast rule-based word tokenizer (no spaCy) with fastai's rules applied.

>>> WordTokenizer()("I don't like it!!!!")
['xxbos', 'xxmaj', 'i', 'do', "n't", 'like', 'it', 'xxrep', '4', '!']
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from ...items import Text, check_text
from .detokenize import detokenize
from .rules import BOS, EOS, FLD, add_case_markers, apply_rules

_TITLES = "Mr|Mrs|Ms|Dr|Prof|Jr|Sr|St|Mt|Co|Inc|Ltd|vs|etc"


@lru_cache(maxsize=1)
def _token_regexes() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Compile the token pattern (plain, and with URLs/e-mails) once, on first use."""
    # Combining marks (accents, Devanagari vowel signs, emoji variation selectors...) are not
    # `\w` in Python's `re`: they are listed so that they stay inside their word.
    ranges: list[list[int]] = []
    for i in range(0x300, 0x10000):
        if unicodedata.category(chr(i))[0] == "M":
            if ranges and ranges[-1][1] == i - 1:
                ranges[-1][1] = i
            else:
                ranges.append([i, i])
    marks = "".join(f"{chr(a)}-{chr(b)}" for a, b in ranges)
    marks += "\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f\U000e0100-\U000e01ef"  # emoji, tags
    word = rf"[\w{marks}\u200c\u200d]"
    pieces = [
        r"(?:[^\W\d_]\.){2,}",  # abbreviations: U.S., e.g.
        rf"(?:{_TITLES})\.(?!\w)|[A-Z]\.(?=\s+[A-Z])",  # Mr. Dr. and initials: J. K. Rowling
        r"\d+(?:[.,:]\d+)+",  # 1,000.5 and 10:30
        rf"{word}+(?:['’]{word}+)*",  # words, with inner apostrophes: o'clock, n't
        r"['’](?i:s|m|d|ll|re|ve)(?!\w)",  # 's 'm 'd 'll 're 've
        r"\.{2,}|-{2,}|''",  # ... -- and ''
        rf"\S[{marks}]*(?:\u200d\S[{marks}]*)*",  # any other character, emoji ZWJ sequences
    ]
    web = [
        r"(?:https?://|www\.)[^\s<>\"]*[^\s<>\".,;:!?)\]'’]",
        r"(?=[\w.+-]{1,64}@)[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
    ]
    return re.compile("|".join(pieces)), re.compile("|".join(web + pieces))


@dataclass(frozen=True)
class WordTokenizer:
    """Rule-based word tokenizer with fastai's rules (no spaCy); call it on a text (or on a
    list of texts: a list of token lists). Unlike spaCy's, which fastai wraps in `Tokenizer` to
    add the rules, its tokens come with the rules applied.

    Each flag switches one rule: `fix_html` (entities, `<br />`), `replace_rep` (`xxrep n c`
    for a character 4+ times), `replace_wrep` (`xxwrep n w` for a word 3+ times),
    `lowercase` (lower-case every token, `xxup` before an all-caps word of 2+ characters,
    `xxmaj` before a capitalised word or a single capital letter), `add_bos`, `add_eos`.
    A text with several fields (a tuple of str) gets `xxfld i` before field i (1-based).

    >>> WordTokenizer(add_eos=True)(("Title", "SO good"))
    ['xxbos', 'xxfld', '1', 'xxmaj', 'title', 'xxfld', '2', 'xxup', 'so', 'good', 'xxeos']
    """

    fix_html: bool = True
    replace_rep: bool = True
    replace_wrep: bool = True
    lowercase: bool = True
    add_bos: bool = True
    add_eos: bool = False

    def __call__(self, text: Text | list[Text]) -> list[str] | list[list[str]]:
        """Tokenize one text (a str, or a tuple of str fields); a list of texts gives a list of
        token lists, as the course calls it: `first(WordTokenizer()(["The U.S. dollar"]))`."""
        if isinstance(text, list):
            return self.tokenize_batch(text)
        check_text(text, 0)
        return self._tokenize(text)

    def tokenize_batch(self, texts: Sequence[Text]) -> list[list[str]]:
        """Tokenize many texts in this process."""
        for i, text in enumerate(texts):
            check_text(text, i)
        return [self._tokenize(t) for t in texts]

    def detokenize(self, tokens: Sequence[str]) -> str:
        """Readable text from tokens (see `detokenize`)."""
        return detokenize(tokens)

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable settings."""
        return {"type": "word", **asdict(self)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> WordTokenizer:
        """Rebuild from `to_state()`."""
        return cls(**{k: v for k, v in state.items() if k != "type"})

    def _tokenize(self, text: Text) -> list[str]:
        out = [BOS] if self.add_bos else []
        if isinstance(text, str):
            self._words(text, out)
        elif len(text) == 1:
            self._words(text[0], out)
        else:
            for i, field in enumerate(text, 1):
                out += [FLD, str(i)]
                self._words(field, out)
        if self.add_eos:
            out.append(EOS)
        return out

    def _words(self, text: str, out: list[str]) -> None:
        """Append the tokens of one string to `out`."""
        text = apply_rules(text, html=self.fix_html, rep=self.replace_rep, wrep=self.replace_wrep)
        plain, web = _token_regexes()
        web_like = "@" in text or "://" in text or "www." in text
        tokens = (web if web_like else plain).findall(text)
        if self.lowercase:
            add_case_markers(tokens, out)
        else:
            out += tokens
