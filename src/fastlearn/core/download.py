"""Dataset downloads: a cache under FASTLEARN_HOME, checksums, retries, safe extraction.

    path = untar_data(URLs.MNIST_SAMPLE)  # ~/.fastlearn/data/mnist_sample

Offline, point FASTLEARN_DATA_MIRROR at a folder or base URL that holds the archives
(``/work/shared/datasets``, ``file:///data/mirror/``, ``http://127.0.0.1:8000/``): untar_data
looks there first, under the archive's own name and then under the names of the course's
sample archives (``URLs.MIRROR_ALIASES``: URLs.PETS finds ``oxford-iiit-pet-sample.tgz``).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import posixpath
import re
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import BinaryIO

from .archive import CorruptArchiveError, UnsafeArchiveError, extract_archive
from .collections import Path
from .io import default_file_mode

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

_CHUNK = 1 << 20
_RETRY_STATUS = (408, 425, 429)  # plus every 5xx
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_DRIVE = re.compile(r"[A-Za-z]:")

_SAMPLES = """\
adult_sample.tgz 434565 e593cc6007a6cb3e3c0d34719ed6ecec410bff2ac813d5d8c5a7719b52e7141c
ml-100k.zip 895340 6f2f2ca6638444afec59a1461d41f3474d0d8469f11981f4ed9c073a0ee9da64
imdb_sample.tgz 571813 eecbbefaaf9d0ad5baa86a397c0d4d8a35827cfd134841fc2b8de0fb03446899
wikitext-2.tgz 4070191 afb8b129830e35d2113dd55ac107d321da4415cec0212398fd8cb3deeddc08aa
mnist_sample.tgz 3199166 29d192ce6bd933afaed4abf05772dcffd36bc170d7be527885f60e0de33998a9
mnist_tiny.tgz 319545 fb6efb9d759d2486c5d8e7288820499e4e894dd4f3c72d6b5ee0bc118a43c9a9
oxford-iiit-pet-sample.tgz 58609813 fccc8518d77c99fbb58716e5077f354fa959f900bce6ca9d33c728942ebdd4de
camvid_tiny.tgz 2313718 d2c3ab5f9df65a7e2bdb9cf58eee1bd388f87f3626c6dbb7958792ffd276ed84
coco_tiny.tgz 800451 7516fc8f68586c6207223237ccf731e890d8301191f8e2f8596a0765e0224fd1
bike_sharing.tgz 285994 67bde4624d5cefa121c11c21004ceeaf18b8229d1301648b38b61c7e5cf5a308"""


class DownloadError(OSError):
    """A download that failed, or an archive that could not be read."""


class ChecksumError(DownloadError):
    """A downloaded file whose size or sha256 is not the expected one."""


class _Truncated(Exception):
    """The connection ended before Content-Length bytes arrived."""


class URLs:
    """The course's dataset URLs (fast.ai S3 names), mirror aliases and known checksums."""

    S3 = "https://s3.amazonaws.com/fast-ai-"
    SAMPLE = f"{S3}sample/"
    S3_IMAGE = f"{S3}imageclas/"
    S3_IMAGELOC = f"{S3}imagelocal/"
    S3_NLP = f"{S3}nlp/"
    S3_COCO = f"{S3}coco/"
    S3_MODEL = f"{S3}modelzoo/"

    # samples used throughout the course
    ADULT_SAMPLE = f"{SAMPLE}adult_sample.tgz"
    CAMVID_TINY = f"{SAMPLE}camvid_tiny.tgz"
    CIFAR = f"{SAMPLE}cifar10.tgz"
    COCO_TINY = f"{S3_COCO}coco_tiny.tgz"
    HUMAN_NUMBERS = f"{SAMPLE}human_numbers.tgz"
    IMDB_SAMPLE = f"{SAMPLE}imdb_sample.tgz"
    ML_SAMPLE = f"{SAMPLE}movie_lens_sample.tgz"
    MNIST_SAMPLE = f"{SAMPLE}mnist_sample.tgz"
    MNIST_TINY = f"{SAMPLE}mnist_tiny.tgz"
    PLANET_SAMPLE = f"{SAMPLE}planet_sample.tgz"

    # full datasets
    IMAGENETTE = f"{S3_IMAGE}imagenette2.tgz"
    IMAGENETTE_160 = f"{S3_IMAGE}imagenette2-160.tgz"
    IMAGENETTE_320 = f"{S3_IMAGE}imagenette2-320.tgz"
    IMAGEWOOF = f"{S3_IMAGE}imagewoof2.tgz"
    MNIST = f"{S3_IMAGE}mnist_png.tgz"
    PETS = f"{S3_IMAGE}oxford-iiit-pet.tgz"
    BIWI_HEAD_POSE = f"{S3_IMAGELOC}biwi_head_pose.tgz"
    CAMVID = f"{S3_IMAGELOC}camvid.tgz"
    PASCAL_2007 = f"{S3_IMAGELOC}pascal_2007.tgz"
    IMDB = f"{S3_NLP}imdb.tgz"
    WIKITEXT = f"{S3_NLP}wikitext-103.tgz"
    WIKITEXT_TINY = f"{S3_NLP}wikitext-2.tgz"
    ML_100k = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
    BIKE = (
        "https://archive.ics.uci.edu/ml/machine-learning-databases/00275/Bike-Sharing-Dataset.zip"
    )

    # pretrained weights
    WT103_FWD = f"{S3_MODEL}wt103-fwd.tgz"
    WT103_BWD = f"{S3_MODEL}wt103-bwd.tgz"

    # Upstream file name -> other names to look for in FASTLEARN_DATA_MIRROR, in order.
    MIRROR_ALIASES: dict[str, tuple[str, ...]] = {
        "oxford-iiit-pet.tgz": ("oxford-iiit-pet-sample.tgz",),
        "Bike-Sharing-Dataset.zip": ("bike_sharing.tgz",),
    }
    # Mirror file name -> (size, sha256) of the course's sample archives: a file fetched from
    # FASTLEARN_DATA_MIRROR under one of these names is verified against it.
    CHECKSUMS: dict[str, tuple[int, str]] = {
        name: (int(size), sha) for name, size, sha in (row.split() for row in _SAMPLES.split("\n"))
    }


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
        _fetch_with_retries(
            url, tmp, dest, size, _Progress(dest.name, enabled), retries, timeout, backoff
        )
        _verify(tmp, url, size, sha256)
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
            raise ValueError(f"Expected FASTLEARN_MAX_EXTRACT_BYTES as a number of bytes. "
                             f"Received: {env!r}.")
        return int(env)
    return max(100 * archive.stat().st_size, 256 * 2**20)


def _verify_cached(archive: Path, size: int | None, sha256: str | None) -> None:
    """A cached archive is checked like a download: against the size and sha256 given, or
    else the known checksum of its name (the course's samples)."""
    if size is None and sha256 is None and archive.name in URLs.CHECKSUMS:
        size, sha256 = URLs.CHECKSUMS[archive.name]
    try:
        _verify(archive, str(archive), size, sha256)
    except ChecksumError as e:
        raise ChecksumError(f"{e} The cached copy was not used: delete it to download again, "
                            "or pass sha256= its digest to accept it.") from None


def _check_sha256(sha256: str | None) -> str | None:
    if sha256 is None or _SHA256.fullmatch(sha256.lower()):
        return None if sha256 is None else sha256.lower()
    raise ValueError(
        f"Expected sha256 as 64 hexadecimal characters. Received: {sha256!r}. "
        "Fix: pass the hex digest (as printed by `sha256sum`), or None to skip the check."
    )


def _file_name(url: str) -> str:
    local = _local_path(url)
    name = local.name if local is not None else posixpath.basename(urllib.parse.urlparse(url).path)
    if not name:
        raise ValueError(
            f"Expected a URL or path ending in a file name. Received: {url!r}. "
            "Fix: give the archive's full URL, e.g. URLs.MNIST_TINY."
        )
    return _safe_name(urllib.parse.unquote(name), url)


def _safe_name(name: str, url: str) -> str:
    """An archive name that stays a plain file name in the cache (no folders, no '..')."""
    if (name in (".", "..") or "/" in name or "\\" in name or "\x00" in name
            or name.startswith(".") or _DRIVE.match(name)):
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


def _local_path(url: str) -> Path | None:
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


def _fetch_archive(url: str, archive: Path, sha256: str | None, size: int | None) -> None:
    """Fetch the archive from FASTLEARN_DATA_MIRROR when it has it, else from url."""
    mirror = os.environ.get("FASTLEARN_DATA_MIRROR", "").strip()
    name = archive.name
    names = (name, *URLs.MIRROR_ALIASES.get(name, ()))
    for source, mirror_name in _mirror_sources(mirror, names):
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
        hint = f" FASTLEARN_DATA_MIRROR={mirror!r} has none of {list(names)}." if mirror else ""
        raise DownloadError(
            f"{e}{hint} Or set FASTLEARN_DATA_MIRROR to a folder or URL holding {name}."
        ) from e


def _mirror_sources(mirror: str, names: tuple[str, ...]) -> list[tuple[str, str]]:
    if not mirror:
        return []
    folder = _local_path(mirror)
    if folder is not None:
        return [(str(folder / n), n) for n in names if (folder / n).is_file()]
    base = mirror if mirror.endswith("/") else mirror + "/"
    return [(base + urllib.parse.quote(n), n) for n in names]


def _fetch_with_retries(
    url: str,
    tmp: Path,
    dest: Path,
    size: int | None,
    progress: _Progress,
    retries: int,
    timeout: float,
    backoff: float,
) -> None:
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


def _fetch(url: str, tmp: Path, timeout: float, progress: _Progress) -> tuple[int, bool]:
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
    start, local = tmp.stat().st_size, _local_path(url)
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


def _verify(path: Path, source: str, size: int | None, sha256: str | None) -> None:
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


class _Progress:
    """One line on stderr, rewritten in place: bar, bytes, percent, speed."""

    def __init__(self, name: str, enabled: bool) -> None:
        self.name, self.enabled = name, enabled
        self.total: int | None = None
        self.first, self.t0, self.shown = 0, 0.0, 0.0

    def start(self, total: int | None, done: int) -> None:
        self.total, self.first, self.t0, self.shown = total, done, time.monotonic(), 0.0

    def update(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.shown < 0.1 and not final):
            return
        self.shown = now
        speed = (done - self.first) / max(now - self.t0, 1e-6)
        line = f"{self.name}: {_human(done)}"
        if self.total:
            frac = min(done / self.total, 1.0)
            bar = "#" * int(20 * frac)
            line = f"{self.name}: [{bar:<20}] {_human(done)}/{_human(self.total)} {frac:4.0%}"
        sys.stderr.write(f"\r{line} {_human(speed)}/s ")
        sys.stderr.flush()

    def close(self, done: int) -> None:
        if self.enabled:
            self.update(done, final=True)
            sys.stderr.write("\n")


def _human(n: float) -> str:
    unit = 0
    while n >= 1000 and unit < 3:
        n, unit = n / 1000, unit + 1
    return f"{n:.0f} B" if unit == 0 else f"{n:.1f} {('KB', 'MB', 'GB')[unit - 1]}"
