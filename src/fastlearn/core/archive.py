"""Safe extraction of .tgz/.tar/.zip archives: nothing may land outside the target folder.

Every member is checked before anything is written (no absolute paths, no `..` escaping,
no links pointing out, no writes through links, no device files); extraction goes to a
temporary folder that is renamed into place, so a crash never leaves half a dataset.
"""

from __future__ import annotations

import gzip
import os
import posixpath
import re
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import NoReturn

__all__ = ["UnsafeArchiveError", "CorruptArchiveError", "extract_archive"]

_DRIVE = re.compile(r"[A-Za-z]:")


class UnsafeArchiveError(ValueError):
    """An archive member would escape the extraction folder."""


class CorruptArchiveError(OSError):
    """An archive that is truncated or not an archive at all."""


def extract_archive(
    archive: Path, dest: Path, *, max_bytes: int | None = None, max_members: int = 5_000_000
) -> Path:
    """Extract into a temporary folder beside dest, check it, then rename it into place.

    The members' total size (as their headers state it, checked before anything is written)
    must stay under `max_bytes` and their number under `max_members`: an archive bomb is
    refused, not extracted."""
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".extracting"))
    limits = (max_bytes, max_members)
    try:
        try:
            if zipfile.is_zipfile(archive):
                _extract_zip(archive, tmp, limits)
            else:
                _extract_tar(archive, tmp, limits)
        except getattr(tarfile, "FilterError", ()) as e:
            _refuse(archive, str(e))
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, gzip.BadGzipFile) as e:
            raise CorruptArchiveError(
                f"Expected a complete .tgz/.tar/.zip archive at {archive}. Received: {e!r}. "
                "Fix: delete it (or pass force=True) and run again."
            ) from e
        entries = [p for p in tmp.iterdir() if p.name != "__MACOSX"]
        single = len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink()
        _move_into_place(entries[0] if single else tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _move_into_place(src: Path, dest: Path) -> None:
    if not dest.exists():
        try:
            os.rename(src, dest)
        except OSError:
            if not dest.is_dir():  # else another process extracted it first: keep theirs
                raise
        return
    old = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".old"))
    os.replace(dest, old / dest.name)  # force=True: swap, then drop the old copy
    os.rename(src, dest)
    shutil.rmtree(old, ignore_errors=True)


def _check_limits(archive: Path, sizes: list[int], limits: tuple[int | None, int]) -> None:
    max_bytes, max_members = limits
    if len(sizes) > max_members:
        _refuse(archive, f"{len(sizes):,} members, over the limit of {max_members:,}")
    total = sum(sizes)
    if max_bytes is not None and total > max_bytes:
        raise UnsafeArchiveError(
            f"Expected {archive} to extract to at most {max_bytes:,} bytes. Received: members "
            f"totalling {total:,} bytes ({total / max(archive.stat().st_size, 1):.0f}x the "
            "archive). Fix: nothing was extracted; if you trust it, raise the limit with "
            "FASTLEARN_MAX_EXTRACT_BYTES (bytes)."
        )


def _extract_tar(archive: Path, target: Path, limits: tuple[int | None, int]) -> None:
    with tarfile.open(archive, "r:*") as tar:
        members = []
        for m in tar:  # read header by header, so a huge member count stops early
            members.append(m)
            if len(members) > limits[1]:
                _check_limits(archive, [0] * len(members), limits)
        _check_limits(archive, [m.size for m in members if m.isfile()], limits)
        links: set[str] = set()
        for m in members:
            name = _inside(m.name, archive, f"member {m.name!r}")
            parents = name.split("/")
            if any("/".join(parents[:i]) in links for i in range(1, len(parents) + 1)):
                _refuse(archive, f"{m.name!r} goes through a link")
            if m.isdev():
                _refuse(archive, f"device file {m.name!r}")
            if m.issym() or m.islnk():
                # symlink targets are relative to the link's folder, hard links to the root;
                # join keeps an absolute target absolute
                where = posixpath.dirname(name) if m.issym() else ""
                link = posixpath.join(where, m.linkname)
                _inside(link, archive, f"link {m.name!r} -> {m.linkname!r}")
                links.add(name)
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 / 3.10.12
            # the 'data' filter re-checks each path against the real file system as it extracts
            tar.extractall(target, members=members, filter="data")
        else:
            tar.extractall(target, members=members)


def _extract_zip(archive: Path, target: Path, limits: tuple[int | None, int]) -> None:
    with zipfile.ZipFile(archive) as zf:
        _check_limits(archive, [i.file_size for i in zf.infolist()], limits)
        for info in zf.infolist():
            _inside(info.filename, archive, f"member {info.filename!r}")
        zf.extractall(target)


def _inside(name: str, archive: Path, what: str) -> str:
    """The normalised member path; raise if it is absolute or climbs out of the folder."""
    clean = name.replace("\\", "/")
    norm = posixpath.normpath(clean)
    if clean.startswith("/") or _DRIVE.match(clean) or norm == ".." or norm.startswith("../"):
        _refuse(archive, f"{what} points outside it")
    return norm


def _refuse(archive: Path, received: str) -> NoReturn:
    raise UnsafeArchiveError(
        f"Expected every member of {archive} to stay inside the extraction folder. "
        f"Received: {received}. Fix: nothing was extracted; use an archive from a trusted "
        "source, or inspect and extract it by hand."
    )
