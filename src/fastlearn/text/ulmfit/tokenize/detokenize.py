"""detokenize: readable text from tokens, undoing the rules (case markers, repeats, fields)
and joining punctuation sensibly; for display, not lossless.

    >>> detokenize(['xxbos', 'xxmaj', 'i', 'do', "n't", 'know', 'xxrep', '4', '!'])
    "I don't know!!!!"
"""

from __future__ import annotations

from collections.abc import Sequence

from .rules import BOS, EOS, FLD, MAJ, PAD, REP, SPECIAL_TOKENS, UP, WREP

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
