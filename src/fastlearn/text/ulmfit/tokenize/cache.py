"""A token cache on disk: the tokens of a corpus as plain UTF-8 text (one text per line,
tokens separated by spaces; tokens never hold whitespace) under a hash of the texts and of
the tokenizer's settings, so that a second `tokenize_texts` reads them back."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

from ...items import Text

_CACHE_FORMAT = "fastlearn-tokens-v1"  # bump when the rules change what a text gives


def cache_file(
    cache_dir: str | os.PathLike[str], texts: list[Text], settings: dict[str, Any]
) -> Path:
    """Where the tokens of `texts` under the tokenizer `settings` (its `to_state()`) live."""
    h = hashlib.sha256(_CACHE_FORMAT.encode())
    h.update(json.dumps(settings, sort_keys=True).encode())
    for text in texts:
        fields = (text,) if isinstance(text, str) else ("\x00fields", str(len(text)), *text)
        for f in fields:
            data = f.encode("utf-8", "surrogatepass")
            h.update(len(data).to_bytes(8, "little"))
            h.update(data)
    return Path(cache_dir) / f"tokens-{h.hexdigest()[:32]}.txt"


def read_cache(path: Path, n_texts: int) -> list[list[str]] | None:
    """The cached tokens of `n_texts` texts, or None (no file, or one that does not fit)."""
    if not path.is_file():
        return None
    lines = path.read_bytes().decode("utf-8", "surrogatepass").split("\n")
    header = json.dumps({"format": _CACHE_FORMAT, "n_texts": n_texts})
    if lines[0] != header or len(lines) != n_texts + 1:
        warnings.warn(f"Ignoring unreadable token cache {path}.", stacklevel=3)
        return None
    return [line.split(" ") if line else [] for line in lines[1:]]


def write_cache(path: Path, tokens: list[list[str]]) -> None:
    """Write `tokens` to `path` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = json.dumps({"format": _CACHE_FORMAT, "n_texts": len(tokens)})
    body = "\n".join([header] + [" ".join(t) for t in tokens])
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(body.encode("utf-8", "surrogatepass"))
    os.replace(tmp, path)  # never leaves a half-written cache under the final name
