"""Atomic file writes: a crash never leaves a half-written file at the destination."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "atomic_save", "save_figure", "default_file_mode", "make_parent"]


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Write to a temporary file beside `path`, fsync, then rename it over `path`."""
    path = Path(path)
    make_parent(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, default_file_mode())  # mkstemp's 0600 would hide it from other users
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def default_file_mode() -> int:
    """The mode a new file gets from `open()` under the current umask (e.g. 0644)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def make_parent(path: Path) -> None:
    """Create `path`'s folder, with a clear error when a file stands where a folder must."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in [path.parent, *path.parent.parents] if p.is_file()), None)
        raise NotADirectoryError(
            f"Can't write {str(path)!r}: {str(blocker or path.parent)!r} is a file, not a "
            "folder. Fix: choose another path, or move that file away."
        ) from None


def atomic_save(obj: Any, path: str | Path) -> Path:
    """`torch.save` through `atomic_write`."""
    import torch  # here, not at the top: the CLI's downloads use this module without torch

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
