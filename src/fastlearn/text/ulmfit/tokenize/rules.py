"""fastai's special tokens and the rules that insert them: the pre-rules on the raw string
(HTML, control characters, repeated characters and words, contractions) and the case
markers on the tokens. `detokenize` undoes them; `WordTokenizer` applies them.

    >>> apply_rules("I LOVED it!!!!")
    'I LOVED it xxrep 4 ! '
"""

from __future__ import annotations

import re
from html import unescape

UNK, PAD, BOS, EOS, FLD, REP, WREP, UP, MAJ = (
    "xxunk", "xxpad", "xxbos", "xxeos", "xxfld", "xxrep", "xxwrep", "xxup", "xxmaj"
)  # fmt: skip
SPECIAL_TOKENS: tuple[str, ...] = (UNK, PAD, BOS, EOS, FLD, REP, WREP, UP, MAJ)

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


# The rules in the order WordTokenizer applies them, each switched by its flag of the same
# name (the course prints fastai's list as `defaults.text_proc_rules`).
TEXT_PROC_RULES: tuple[str, ...] = (
    "fix_html", "replace_rep", "replace_wrep", "lowercase"
)  # fmt: skip


def fix_html(text: str) -> str:
    """Unescape HTML entities, turn `<br />` into newlines and undo WikiText's escapes."""
    if ";" in text:
        text = _RE_BARE_ENTITY.sub(lambda m: _BARE_ENTITIES[m.group(1)], text)
        text = unescape(text)
    if "<" in text:
        text = _RE_BR.sub("\n", text).replace("<unk>", UNK)
    if " @" in text:
        text = text.replace(" @-@ ", "-").replace(" @.@ ", ".").replace(" @,@ ", ",")
    if "\\" in text:
        text = text.replace("\\n", "\n").replace('\\"', '"')
    return text


def apply_rules(text: str, *, html: bool = True, rep: bool = True, wrep: bool = True) -> str:
    """The pre-rules on one string, in fastai's order: `fix_html` (`html`), control
    characters, `xxrep n c` for a character 4+ times (`rep`), `xxwrep n w` for a word 3+
    times (`wrep`), contractions split ("do n't") and "cannot" as "can not"."""
    if html:
        text = fix_html(text)
    text = _RE_CONTROL.sub(lambda m: _CONTROL_MAP.get(m.group(), " "), text)
    if rep:
        text = _RE_REP.sub(_sub_rep, text)
    if wrep:
        text = _RE_WREP.sub(_sub_wrep, text)
    if "'" in text or "’" in text:
        text = _split_contractions(text)
    if "annot" in text or "ANNOT" in text:
        text = _RE_CANNOT.sub(r"\1 \2", text)
    return text


def add_case_markers(tokens: list[str], out: list[str]) -> None:
    """Append `tokens` to `out` lower-cased, `xxup` before an all-caps word of 2+ characters
    and `xxmaj` before a capitalised word or a single capital letter."""
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


def _sub_rep(m: re.Match[str]) -> str:
    return f" {REP} {len(m.group(0))} {m.group(1)} "


def _sub_wrep(m: re.Match[str]) -> str:
    return f" {WREP} {len(m.group(0).split())} {m.group(1)} "


def _split_contractions(text: str) -> str:
    def sub(m: re.Match[str]) -> str:
        before = text[m.start() - 1] if m.start() else " "
        return " " + m.group(0) if before.isalnum() or before == "_" else m.group(0)

    return _RE_CONTRACTION.sub(sub, text)
