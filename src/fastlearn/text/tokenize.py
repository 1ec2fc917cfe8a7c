"""Text preprocessing: a fast rule-based word tokenizer, fastai's special-token rules,
parallel cached tokenization of a corpus and a subword tokenizer on HuggingFace `tokenizers`.

    >>> WordTokenizer()("I don't like it!!!!")
    ['xxbos', 'xxmaj', 'i', 'do', "n't", 'like', 'it', 'xxrep', '4', '!']
"""

from __future__ import annotations

import hashlib
import html
import json
import multiprocessing as mp
import os
import re
import sys
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from ..core.collections import L

UNK, PAD, BOS, EOS, FLD, REP, WREP, UP, MAJ = (
    "xxunk", "xxpad", "xxbos", "xxeos", "xxfld", "xxrep", "xxwrep", "xxup", "xxmaj"
)  # fmt: skip
SPECIAL_TOKENS: tuple[str, ...] = (UNK, PAD, BOS, EOS, FLD, REP, WREP, UP, MAJ)

Text = str | Sequence[str]  # one text, or several fields of one text

# Pre-rules, applied to the raw string in this order (as fastai does).
_RE_BARE_ENTITY = re.compile(r"(?<!&)(#39|#146|#36|amp|nbsp|quot);")
_BARE_ENTITIES = {"#39": "'", "#146": "'", "#36": "$", "amp": "&", "nbsp": " ", "quot": "'"}
_RE_BR = re.compile(r"<\s*br\s*/?\s*>", re.IGNORECASE)
# Control and invisible characters become spaces, except U+0080-U+009F: in real text these are
# Windows-1252 read as Latin-1 (IMDb's "\x96", "\x85"), so they become "–", "…", "’"...
_RE_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x9f\u200b\u2060\ufeff]")
_CONTROL_MAP = {chr(i): bytes([i]).decode("cp1252", "replace") for i in range(0x80, 0xA0)}
_CONTROL_MAP = {k: " " if v == "\ufffd" else v for k, v in _CONTROL_MAP.items()}
_RE_REP = re.compile(r"(\S)\1{3,}")  # a character 4+ times
_RE_WREP = re.compile(r"(?<!\w)(\w++)(?:\s++\1(?!\w)){2,}")  # a word 3+ times in a row
# Contractions split as spaCy does: "don't" -> "do n't", "it's" -> "it 's" (after a word only).
_RE_CONTRACTION = re.compile(r"(?i:n['’]t|['’](?:s|m|d|ll|re|ve))(?!\w)")
_RE_CANNOT = re.compile(r"(?i)\b(can)(not)\b")
_TITLES = "Mr|Mrs|Ms|Dr|Prof|Jr|Sr|St|Mt|Co|Inc|Ltd|vs|etc"


def fix_html(text: str) -> str:
    """Unescape HTML entities, turn `<br />` into newlines and undo WikiText's escapes."""
    if ";" in text:
        text = _RE_BARE_ENTITY.sub(lambda m: _BARE_ENTITIES[m.group(1)], text)
        text = html.unescape(text)
    if "<" in text:
        text = _RE_BR.sub("\n", text).replace("<unk>", UNK)
    if " @" in text:
        text = text.replace(" @-@ ", "-").replace(" @.@ ", ".").replace(" @,@ ", ",")
    if "\\" in text:
        text = text.replace("\\n", "\n").replace('\\"', '"')
    return text


def _sub_rep(m: re.Match[str]) -> str:
    return f" {REP} {len(m.group(0))} {m.group(1)} "


def _sub_wrep(m: re.Match[str]) -> str:
    return f" {WREP} {len(m.group(0).split())} {m.group(1)} "


def _split_contractions(text: str) -> str:
    def sub(m: re.Match[str]) -> str:
        before = text[m.start() - 1] if m.start() else " "
        return " " + m.group(0) if before.isalnum() or before == "_" else m.group(0)

    return _RE_CONTRACTION.sub(sub, text)


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


def _check_text(text: Any, index: int) -> None:
    if isinstance(text, str):
        return
    if isinstance(text, (tuple, list)) and all(isinstance(f, str) for f in text):
        return
    raise TypeError(
        f"Expected text {index} to be a str (or a tuple/list of str fields). "
        f"Received: {type(text).__name__} {text!r:.60}. "
        "Fill or drop missing values first, e.g. `df[col].fillna('')`."
    )


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
        _check_text(text, 0)
        return self._tokenize(text)

    def tokenize_batch(self, texts: Sequence[Text]) -> list[list[str]]:
        """Tokenize many texts in this process."""
        for i, text in enumerate(texts):
            _check_text(text, i)
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
        if self.fix_html:
            text = fix_html(text)
        text = _RE_CONTROL.sub(lambda m: _CONTROL_MAP.get(m.group(), " "), text)
        if self.replace_rep:
            text = _RE_REP.sub(_sub_rep, text)
        if self.replace_wrep:
            text = _RE_WREP.sub(_sub_wrep, text)
        if "'" in text or "’" in text:
            text = _split_contractions(text)
        if "annot" in text or "ANNOT" in text:
            text = _RE_CANNOT.sub(r"\1 \2", text)
        plain, web = _token_regexes()
        web_like = "@" in text or "://" in text or "www." in text
        tokens = (web if web_like else plain).findall(text)
        if not self.lowercase:
            out += tokens
            return
        append = out.append
        for t in tokens:
            if t.islower():
                append(t)
            elif t.isupper():
                append(UP if len(t) > 1 else MAJ)
                append(t.lower())
            elif t[0].isupper() and t[1:].islower():
                append(MAJ)
                append(t.lower())
            else:
                append(t.lower())


_CLOSE = set(".,!?;:%)]}…") | {"...", "n't", "'s", "'m", "'d", "'ll", "'re", "'ve"}
_OPEN = set("([{$#¿¡")
_JOIN = {"-", "/"}
_QUOTES = {'"', "'", "`", "''", "``"}
_SPECIAL = frozenset(SPECIAL_TOKENS)


def _is_special(token: str) -> bool:
    """A special token, or one of the vocabulary's `xxfake` padding tokens."""
    return token in _SPECIAL or token.startswith("xxfake")


def _restore_case(tokens: Sequence[str]) -> list[str]:
    """Apply xxmaj/xxup to the next word; a case marker before a special token (generated
    text: `xxmaj xxunk`, `xxup xxbos`...) is dropped and the special token kept as it is."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t in (MAJ, UP) and i + 1 < len(tokens) and not _is_special(tokens[i + 1]):
            nxt = tokens[i + 1]
            out.append(nxt.upper() if t == UP else nxt[:1].upper() + nxt[1:])
            i += 2
            continue
        if t not in (BOS, EOS, PAD, MAJ, UP):
            out.append(t)
        i += 1
    return out


def _expand_repeats(tokens: list[str], max_repeat: int) -> list[tuple[str, bool]]:
    """Undo xxrep/xxwrep/xxfld; each word comes with 'glue to the previous word'."""
    out: list[tuple[str, bool]] = []
    i = 0
    while i < len(tokens):
        t, n = tokens[i], tokens[i + 1] if i + 1 < len(tokens) else ""
        if (
            t in (REP, WREP, FLD)
            and n.isascii()
            and n.isdigit()
            and (t == FLD or i + 2 < len(tokens))
        ):
            if t == FLD:
                out += [("\n", True)] if out else []
                i += 2
                continue
            count, w = min(int(n), max_repeat), tokens[i + 2]
            if t == WREP or _is_special(w):  # a special token repeated stays whole
                out += [(w, False)] * count
            else:
                glue = w in _CLOSE or (w.isalnum() and bool(out) and out[-1][0][-1:].isalnum())
                out.append((w * count, glue))
            i += 3
            continue
        out.append((t, False))
        i += 1
    return out


def detokenize(tokens: Sequence[str], *, max_repeat: int = 10_000) -> str:
    """Readable text from tokens: undo xxmaj/xxup/xxrep/xxwrep, drop xxbos/xxeos/xxpad,
    put fields on new lines and join punctuation sensibly (for display, not lossless).

    `xxrep`/`xxwrep` counts above `max_repeat` are clipped (generated text may ask for a lot).

    >>> detokenize(['xxbos', 'xxmaj', 'i', 'do', "n't", 'know', 'xxrep', '4', '!'])
    "I don't know!!!!"
    """
    words = _expand_repeats(_restore_case(tokens), max_repeat)
    parts: list[str] = []
    attach, quote_open = True, False  # attach: no space before the next word
    for w, glue in words:
        if w in _QUOTES:  # an opening quote sticks to the next word, a closing one to the last
            parts.append(w if attach or quote_open else " " + w)
            attach, quote_open = not quote_open, not quote_open
            continue
        low = w.lower().replace("’", "'")
        no_space = attach or glue or w == "\n" or low in _CLOSE or w in _JOIN
        parts.append(w if no_space else " " + w)
        attach = w == "\n" or w in _OPEN or w in _JOIN
    return "".join(parts)


class BatchTokenizer(Protocol):
    """What `tokenize_texts` needs: batch tokenization and settings naming the output."""

    def tokenize_batch(self, texts: Sequence[Text]) -> list[list[str]]: ...

    def to_state(self) -> dict[str, Any]: ...


_CACHE_FORMAT = "fastlearn-tokens-v1"  # bump when the rules change what a text gives


def tokenize_texts(
    texts: Iterable[Text],
    *,
    tokenizer: BatchTokenizer | None = None,
    n_workers: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    min_parallel_chars: int = 1_000_000,
) -> list[list[str]]:
    """Tokenize a corpus, in parallel processes when it is large, with an optional disk cache.

    The output never depends on `n_workers`. Corpora under `min_parallel_chars` characters,
    `n_workers=1`, and processes that cannot start children fall back to this process.
    With `cache_dir`, results are stored as plain UTF-8 text (one text per line, tokens
    separated by spaces; tokens never hold whitespace) under a hash of the texts and the
    tokenizer's settings, so a second call reads them back instead of tokenizing.

    >>> tokenize_texts(["Hello world", "BIG news"])
    [['xxbos', 'xxmaj', 'hello', 'world'], ['xxbos', 'xxup', 'big', 'news']]
    """
    tok: BatchTokenizer = WordTokenizer() if tokenizer is None else tokenizer
    texts = list(texts)
    for i, text in enumerate(texts):
        _check_text(text, i)
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"tokens-{_cache_key(texts, tok)}.txt"
        cached = _read_cache(path, len(texts))
        if cached is not None:
            return cached
    result = _tokenize_parallel(texts, tok, n_workers, min_parallel_chars)
    if path is not None:
        try:
            _write_cache(path, result)
        except OSError as e:  # a read-only or full disk costs the cache, not the result
            warnings.warn(f"Could not write the token cache {path}: {e}.", stacklevel=2)
    return result


def _default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _tokenize_chunk(args: tuple[BatchTokenizer, list[Text]]) -> str:
    """Worker: one string per chunk (tokens joined by spaces, texts by newlines): cheap to send."""
    tok, chunk = args
    return "\n".join(" ".join(tokens) for tokens in tok.tokenize_batch(chunk))


def _tokenize_parallel(
    texts: list[Text], tok: BatchTokenizer, n_workers: int | None, min_chars: int
) -> list[list[str]]:
    sizes = [len(t) if isinstance(t, str) else sum(map(len, t)) for t in texts]
    total = sum(sizes)
    n = _default_workers() if n_workers is None else n_workers
    # No more workers than texts or than halves of min_chars; 61: the most Windows can wait on.
    n = max(1, min(n, len(texts), 61, total // max(min_chars // 2, 1)))
    if n == 1 or total < min_chars or mp.current_process().daemon:
        return tok.tokenize_batch(texts)
    # Contiguous chunks of about equal characters, 4 per worker to even out the load.
    bounds, target, acc = [0], total / (4 * n), 0
    for i, size in enumerate(sizes):
        acc += size
        if acc >= target * len(bounds) and i + 1 < len(texts):
            bounds.append(i + 1)
    bounds.append(len(texts))
    jobs = [(tok, texts[a:b]) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    # Linux: fork, which does not re-run the caller's script; elsewhere the platform's default
    # (spawn: the script needs an `if __name__ == "__main__":` guard, as for DataLoader workers).
    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else None)
    try:
        with ctx.Pool(n) as pool:
            parts = pool.map(_tokenize_chunk, jobs, chunksize=1)
    except (OSError, ImportError) as e:  # no semaphores or no fork in this sandbox
        warnings.warn(f"Tokenizing in this process: worker processes failed ({e}).", stacklevel=3)
        return tok.tokenize_batch(texts)
    return [line.split(" ") if line else [] for part in parts for line in part.split("\n")]


def _cache_key(texts: list[Text], tok: BatchTokenizer) -> str:
    h = hashlib.sha256(_CACHE_FORMAT.encode())
    h.update(json.dumps(tok.to_state(), sort_keys=True).encode())
    for text in texts:
        fields = (text,) if isinstance(text, str) else ("\x00fields", str(len(text)), *text)
        for f in fields:
            data = f.encode("utf-8", "surrogatepass")
            h.update(len(data).to_bytes(8, "little"))
            h.update(data)
    return h.hexdigest()[:32]


def _read_cache(path: Path, n_texts: int) -> list[list[str]] | None:
    if not path.is_file():
        return None
    lines = path.read_bytes().decode("utf-8", "surrogatepass").split("\n")
    header = json.dumps({"format": _CACHE_FORMAT, "n_texts": n_texts})
    if lines[0] != header or len(lines) != n_texts + 1:
        warnings.warn(f"Ignoring unreadable token cache {path}.", stacklevel=3)
        return None
    return [line.split(" ") if line else [] for line in lines[1:]]


def _write_cache(path: Path, tokens: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = json.dumps({"format": _CACHE_FORMAT, "n_texts": len(tokens)})
    body = "\n".join([header] + [" ".join(t) for t in tokens])
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(body.encode("utf-8", "surrogatepass"))
    os.replace(tmp, path)  # never leaves a half-written cache under the final name


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
            raise ValueError(f"vocab_sz is the course's name for vocab_size: give one. Received: "
                             f"vocab_size={vocab_size}, vocab_sz={vocab_sz}.")
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
            raise TypeError(f"Expected a WordTokenizer or a SubwordTokenizer. Received: "
                            f"{type(tok).__name__}.")
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
