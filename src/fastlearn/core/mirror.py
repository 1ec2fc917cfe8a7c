"""FASTLEARN_DATA_MIRROR: a folder or base URL holding dataset archives, tried before upstream.

A mirror may hold an archive under its own name or under one of `URLs.MIRROR_ALIASES`
(URLs.PETS finds ``oxford-iiit-pet-sample.tgz``).
"""

from __future__ import annotations

import os
import urllib.parse

from .fetch import local_path
from .urls import URLs

__all__ = ["mirror", "mirror_names", "mirror_sources"]


def mirror() -> str:
    """$FASTLEARN_DATA_MIRROR, stripped ('' when unset)."""
    return os.environ.get("FASTLEARN_DATA_MIRROR", "").strip()


def mirror_names(name: str) -> tuple[str, ...]:
    """The names to look for in a mirror: the archive's own, then its aliases."""
    return (name, *URLs.MIRROR_ALIASES.get(name, ()))


def mirror_sources(mirror: str, names: tuple[str, ...]) -> list[tuple[str, str]]:
    """(source, name) for each of `names` the mirror (a folder or base URL) may hold, in
    order; a folder lists only the files it has."""
    if not mirror:
        return []
    folder = local_path(mirror)
    if folder is not None:
        return [(str(folder / n), n) for n in names if (folder / n).is_file()]
    base = mirror if mirror.endswith("/") else mirror + "/"
    return [(base + urllib.parse.quote(n), n) for n in names]
