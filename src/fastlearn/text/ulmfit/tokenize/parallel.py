"""tokenize_texts: a whole corpus tokenized, in parallel processes when it is large, with an
optional disk cache (`cache.py`)."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from ...items import Text, check_text
from .cache import cache_file, read_cache, write_cache
from .word import WordTokenizer


class BatchTokenizer(Protocol):
    """What `tokenize_texts` needs: batch tokenization and settings naming the output."""

    def tokenize_batch(self, texts: Sequence[Text]) -> list[list[str]]: ...

    def to_state(self) -> dict[str, Any]: ...


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
        check_text(text, i)
    path = None
    if cache_dir is not None:
        path = cache_file(cache_dir, texts, tok.to_state())
        cached = read_cache(path, len(texts))
        if cached is not None:
            return cached
    result = _tokenize_parallel(texts, tok, n_workers, min_parallel_chars)
    if path is not None:
        try:
            write_cache(path, result)
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
