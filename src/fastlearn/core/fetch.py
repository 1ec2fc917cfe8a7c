"""Fetching one URL into a file: http(s) with retries and Range resume, file:// and paths.

`fetch_with_retries` writes the bytes; `verify` checks size and sha256. The cache, mirrors
and extraction are `fastlearn.core.download`'s.
"""

from __future__ import annotations

import hashlib
import http.client
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import BinaryIO

from .collections import Path
from .download_progress import Progress

__all__ = ["DownloadError", "ChecksumError", "fetch_with_retries", "local_path", "verify"]

_CHUNK = 1 << 20
_RETRY_STATUS = (408, 425, 429)  # plus every 5xx


class DownloadError(OSError):
    """A download that failed, or an archive that could not be read."""


class ChecksumError(DownloadError):
    """A downloaded file whose size or sha256 is not the expected one."""


class _Truncated(Exception):
    """The connection ended before Content-Length bytes arrived."""


def local_path(url: str) -> Path | None:
    """The local file a file:// URL or plain path names; None for http(s)."""
    parts = urllib.parse.urlparse(url)
    if parts.scheme == "file":
        return Path(urllib.request.url2pathname(parts.path))
    if parts.scheme in ("http", "https"):
        return None
    if len(parts.scheme) > 1:  # one letter is a Windows drive
        raise ValueError(
            f"Expected an http(s):// or file:// URL or a local path. Received: {url!r}. "
            "Fix: download it another way and pass its local path."
        )
    return Path(url).expanduser()


def fetch_with_retries(
    url: str,
    tmp: Path,
    dest: Path,
    size: int | None,
    progress: Progress,
    retries: int,
    timeout: float,
    backoff: float,
) -> None:
    """Fetch url into tmp, retrying network errors and cut-short bodies `retries` times
    (waiting backoff, 2*backoff, ...) and resuming after what tmp holds; DownloadError names
    `dest` as the place to put the file by hand."""
    reason = "no attempt made"
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            got, complete = _fetch(url, tmp, timeout, progress)
        except FileNotFoundError as e:
            raise DownloadError(
                f"Expected a file at {e.filename}. Received: no such file. "
                f"Fix: check the path, or put the file at {dest} and run again."
            ) from None
        except urllib.error.HTTPError as e:
            reason = f"HTTP {e.code} {e.reason}"
            if e.code < 500 and e.code not in _RETRY_STATUS:
                raise DownloadError(
                    f"Expected {url} to be downloadable. Received: {reason}. "
                    f"Fix: check the URL, or put the file at {dest} and run again."
                ) from None
        except (OSError, http.client.HTTPException, _Truncated) as e:  # refused, reset, timeout
            reason = str(e.reason) if isinstance(e, urllib.error.URLError) else str(e) or repr(e)
        else:
            # a body shorter than Content-Length raised _Truncated; without a length, size tells
            if complete or size is None or got >= size:
                return
            reason = f"received {got:,} of {size:,} bytes"
    raise DownloadError(
        f"Could not download {url} ({reason}; {retries + 1} attempts). "
        f"Offline? Put the file at {dest} (or set FASTLEARN_HOME) and run again."
    )


def _fetch(url: str, tmp: Path, timeout: float, progress: Progress) -> tuple[int, bool]:
    """Write url's bytes to tmp, resuming after what tmp holds when possible.

    Returns (bytes in tmp, whether the length was known); raises _Truncated when the body ends
    before its Content-Length.
    """
    stream, length, done = _open(url, tmp, timeout)
    total = None if length is None else done + length
    with stream, open(tmp, "ab" if done else "wb") as f:
        progress.start(total, done)
        while chunk := stream.read(_CHUNK):
            f.write(chunk)
            done += len(chunk)
            progress.update(done)
        progress.close(done)
    if total is not None and done != total:
        if done > total:
            tmp.write_bytes(b"")  # not a prefix of the file: start over next time
        raise _Truncated(f"received {done:,} of {total:,} bytes (Content-Length)")
    return done, total is not None


def _open(url: str, tmp: Path, timeout: float) -> tuple[BinaryIO, int | None, int]:
    """Open url after the bytes tmp already holds if possible: (stream, bytes to come, start)."""
    start, local = tmp.stat().st_size, local_path(url)
    if local is not None:
        f = open(local, "rb")
        f.seek(start)
        return f, max(local.stat().st_size - start, 0), start
    headers = {"User-Agent": "fastlearn"}
    if start:
        headers["Range"] = f"bytes={start}-"
    resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    length, got_range = resp.headers.get("Content-Length", ""), resp.headers.get("Content-Range")
    if resp.status == 206 and not (got_range or "").startswith(f"bytes {start}-"):
        resp.close()
        tmp.write_bytes(b"")  # start over on the next attempt
        raise _Truncated(f"asked for bytes {start}-, received the range {got_range}")
    return resp, int(length) if length.isdigit() else None, start if resp.status == 206 else 0


def verify(path: Path, source: str, size: int | None, sha256: str | None) -> None:
    """Raise ChecksumError unless the file at `path` has `size` bytes and this sha256."""
    got = path.stat().st_size
    if size is not None and got != size:
        raise ChecksumError(
            f"Expected {size:,} bytes from {source}. Received: {got:,} bytes. "
            "Fix: run again; if it persists the file changed upstream: check the URL or size."
        )
    if sha256 is None:
        return
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != sha256:
        raise ChecksumError(
            f"Expected sha256 {sha256} from {source}. Received: {digest.hexdigest()}. "
            "Fix: the file is corrupt or not the expected one: remove it and download again, "
            "or pass the received sha256 if you trust this file."
        )
