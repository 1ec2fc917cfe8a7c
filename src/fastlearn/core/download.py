"""Dataset downloads: a cache under FASTLEARN_HOME, checksums, retries, safe extraction.

    path = untar_data(URLs.MNIST_SAMPLE)  # ~/.fastlearn/data/mnist_sample

Offline, point FASTLEARN_DATA_MIRROR at a folder or base URL that holds the archives
(``/work/shared/datasets``, ``file:///data/mirror/``, ``http://127.0.0.1:8000/``): untar_data
looks there first, under the archive's own name and then under the names of the course's
sample archives (``URLs.MIRROR_ALIASES``: URLs.PETS finds ``oxford-iiit-pet-sample.tgz``).

This module keeps the cache and the order of things; the pieces live beside it: `urls` (the
URL table and checksums), `mirror` (FASTLEARN_DATA_MIRROR), `fetch` (HTTP retries, resume,
verification), `download_progress` (the progress line) and `archive` (safe extraction).
"""

from __future__ import annotations

import os
import posixpath
import re
import sys
import tempfile
import urllib.parse

from .archive import CorruptArchiveError, UnsafeArchiveError, extract_archive
from .collections import Path
from .download_progress import Progress
from .fetch import ChecksumError, DownloadError, fetch_with_retries, local_path, verify
from .io import default_file_mode
from .mirror import mirror, mirror_names, mirror_sources
from .urls import URLs

__all__ = [
    "URLs",
    "ChecksumError",
    "DownloadError",
    "UnsafeArchiveError",
    "download_url",
    "fastlearn_home",
    "untar_data",
    "max_extract_bytes",
]

_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_DRIVE = re.compile(r"[A-Za-z]:")


def fastlearn_home() -> Path:
    """Return the cache root, $FASTLEARN_HOME or ~/.fastlearn (archive/, data/, models/)."""
    return Path(os.environ.get("FASTLEARN_HOME") or "~/.fastlearn").expanduser()


def download_url(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    show_progress: bool | None = None,
    retries: int = 3,
    timeout: float = 30.0,
    backoff: float = 1.0,
) -> Path:
    """Download an http(s)://, file:// URL or local path to dest, atomically; return dest.

    The bytes go to a temporary file beside dest, renamed into place only once complete and
    matching `size`/`sha256`: dest never holds a half file. Network errors and downloads cut
    short are retried `retries` times (waiting backoff, 2*backoff, ...), resuming with an
    HTTP Range request where the server allows it. `show_progress`: None shows a progress line
    on stderr when it is a terminal, True always, False never.

        download_url("https://example.com/data.csv", Path("data.csv"), size=1024)
    """
    sha256 = _check_sha256(sha256)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    enabled = sys.stderr.isatty() if show_progress is None else show_progress
    try:
        fetch_with_retries(
            url, tmp, dest, size, Progress(dest.name, enabled), retries, timeout, backoff
        )
        verify(tmp, url, size, sha256)
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def untar_data(
    url: str,
    *,
    base: Path | None = None,
    force: bool = False,
    sha256: str | None = None,
    size: int | None = None,
) -> Path:
    """Download and extract a dataset archive once; return its folder under data/.

    The archive goes to <base>/archive and is extracted to <base>/data/<archive name without
    suffix> (base: fastlearn_home()); an archive holding a single top folder has that folder's
    contents there. A second call returns at once without network; force=True downloads and
    extracts again. With FASTLEARN_DATA_MIRROR set, the mirror (and URLs.MIRROR_ALIASES) is
    tried before `url`, and the course's sample archives are checked against URLs.CHECKSUMS.
    Extraction refuses members escaping the folder, links out and device files.

        path = untar_data(URLs.MNIST_TINY)  # .../data/mnist_tiny
    """
    sha256 = _check_sha256(sha256)
    root = Path(base) if base is not None else fastlearn_home()
    name = _file_name(url)
    archive, dest = root / "archive" / name, root / "data" / _archive_stem(name)
    if dest.is_dir() and not force:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    if force or not archive.is_file():
        _fetch_archive(url, archive, sha256, size)
    else:  # placed by hand, or a run that stopped before extracting
        _verify_cached(archive, size, sha256)
    try:
        return extract_archive(archive, dest, max_bytes=max_extract_bytes(archive))
    except CorruptArchiveError as e:
        raise DownloadError(str(e)) from e


def max_extract_bytes(archive: Path) -> int:
    """How many bytes an archive may extract to: $FASTLEARN_MAX_EXTRACT_BYTES, else 100x its
    own size and at least 256 MiB (real datasets compress far less; a bomb far more)."""
    env = os.environ.get("FASTLEARN_MAX_EXTRACT_BYTES", "").strip()
    if env:
        if not env.isdigit():
            raise ValueError(
                f"Expected FASTLEARN_MAX_EXTRACT_BYTES as a number of bytes. Received: {env!r}."
            )
        return int(env)
    return max(100 * archive.stat().st_size, 256 * 2**20)


def _verify_cached(archive: Path, size: int | None, sha256: str | None) -> None:
    """A cached archive is checked like a download: against the size and sha256 given, or
    else the known checksum of its name (the course's samples)."""
    if size is None and sha256 is None and archive.name in URLs.CHECKSUMS:
        size, sha256 = URLs.CHECKSUMS[archive.name]
    try:
        verify(archive, str(archive), size, sha256)
    except ChecksumError as e:
        raise ChecksumError(
            f"{e} The cached copy was not used: delete it to download again, "
            "or pass sha256= its digest to accept it."
        ) from None


def _check_sha256(sha256: str | None) -> str | None:
    if sha256 is None or _SHA256.fullmatch(sha256.lower()):
        return None if sha256 is None else sha256.lower()
    raise ValueError(
        f"Expected sha256 as 64 hexadecimal characters. Received: {sha256!r}. "
        "Fix: pass the hex digest (as printed by `sha256sum`), or None to skip the check."
    )


def _file_name(url: str) -> str:
    local = local_path(url)
    name = local.name if local is not None else posixpath.basename(urllib.parse.urlparse(url).path)
    if not name:
        raise ValueError(
            f"Expected a URL or path ending in a file name. Received: {url!r}. "
            "Fix: give the archive's full URL, e.g. URLs.MNIST_TINY."
        )
    return _safe_name(urllib.parse.unquote(name), url)


def _safe_name(name: str, url: str) -> str:
    """An archive name that stays a plain file name in the cache (no folders, no '..')."""
    if (
        name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or name.startswith(".")
        or _DRIVE.match(name)
    ):
        raise ValueError(
            f"Expected the URL to end in a plain archive file name. Received: {url!r}, whose "
            f"decoded name {name!r} holds a folder separator, '..' or a leading dot. Fix: use "
            "the archive's real URL; names are never allowed to point outside the cache."
        )
    return name


def _archive_stem(name: str) -> str:
    for suffix in _ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    raise ValueError(
        f"Expected an archive ending in {', '.join(_ARCHIVE_SUFFIXES)}. Received: {name!r}. "
        "Fix: use download_url for single files."
    )


def _fetch_archive(url: str, archive: Path, sha256: str | None, size: int | None) -> None:
    """Fetch the archive from FASTLEARN_DATA_MIRROR when it has it, else from url."""
    where, name = mirror(), archive.name
    names = mirror_names(name)
    for source, mirror_name in mirror_sources(where, names):
        known = (size, sha256) if mirror_name == name and (size or sha256) else None
        want_size, want_sha = known or URLs.CHECKSUMS.get(mirror_name, (None, None))
        try:
            download_url(source, archive, sha256=want_sha, size=want_size)
            return
        except ChecksumError:
            raise
        except DownloadError:
            continue  # not in this mirror (or mirror down): try the next name, then upstream
    try:
        download_url(url, archive, sha256=sha256, size=size)
    except ChecksumError:
        raise
    except DownloadError as e:
        hint = f" FASTLEARN_DATA_MIRROR={where!r} has none of {list(names)}." if where else ""
        raise DownloadError(
            f"{e}{hint} Or set FASTLEARN_DATA_MIRROR to a folder or URL holding {name}."
        ) from e
