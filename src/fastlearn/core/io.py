"""Atomic file writes: a crash never leaves a half-written file at the destination."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import torch

__all__ = ["atomic_write", "atomic_save", "save_figure"]


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Write to a temporary file beside `path`, fsync, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_save(obj: Any, path: str | Path) -> Path:
    """`torch.save` through `atomic_write`."""
    with atomic_write(path) as f:
        torch.save(obj, f)
    return Path(path)


def save_figure(fig: Any, path: str | Path | None, dpi: int = 100) -> Any:
    """Save a matplotlib figure atomically (its folder created; the format from the suffix,
    PNG by default), on the main process only in a distributed run; returns `fig`.
    `path=None` saves nothing."""
    from .distributed import is_main_process

    if path is None or not is_main_process():
        return fig
    path = Path(path)
    fmt = path.suffix[1:].lower() or "png"
    with atomic_write(path) as f:
        fig.savefig(f, format=fmt, dpi=dpi)
    return fig
