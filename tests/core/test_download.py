"""Downloads and extraction against a real loopback HTTP server and file:// URLs."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fastlearn.core import fetch
from fastlearn.core.download import (
    ChecksumError,
    DownloadError,
    UnsafeArchiveError,
    URLs,
    download_url,
    fastlearn_home,
    untar_data,
)

FILES = {"a.txt": b"alpha\n", "sub/b.txt": b"bravo " * 1000}


def make_tgz(path: Path, files: dict[str, bytes], top: str | None = "sample") -> Path:
    """A gzipped tar of `files`, under a single folder `top` when given."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}" if top else name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def make_zip(path: Path, files: dict[str, bytes], top: str | None = "sample") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(f"{top}/{name}" if top else name, data)
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Server:
    """A loopback HTTP server over an in-memory file table that records every request."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.cut_short: dict[str, int] = {}  # name -> responses still to cut in half
        self.ranges: bool | str = False  # honour Range requests ("wrong": badly)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.handle(self)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def url(self, name: str = "") -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        name, rng = h.path.lstrip("/"), h.headers.get("Range")
        self.requests.append((name, rng))
        if name not in self.files:
            h.send_error(404)
            return
        body, start = self.files[name], 0
        if rng and self.ranges:
            start = int(rng.removeprefix("bytes=").rstrip("-"))
        h.send_response(206 if start else 200)
        if start:
            first = 0 if self.ranges == "wrong" else start  # a buggy server: another range
            h.send_header("Content-Range", f"bytes {first}-{len(body) - 1}/{len(body)}")
        h.send_header("Content-Length", str(len(body) - start))
        h.end_headers()
        part = body[start:]
        if self.cut_short.get(name, 0) > 0:  # promise the whole body, send half, hang up
            self.cut_short[name] -= 1
            part = part[: len(part) // 2]
        h.wfile.write(part)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FASTLEARN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FASTLEARN_DATA_MIRROR", raising=False)
    monkeypatch.setattr(fetch.time, "sleep", lambda s: None)  # no real backoff waits
    return tmp_path / "home"


def closed_port_url(name: str) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_home_from_env(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert fastlearn_home() == home
    monkeypatch.delenv("FASTLEARN_HOME")
    assert fastlearn_home() == Path("~/.fastlearn").expanduser()


def test_tgz_over_http_is_extracted(server: Server, home: Path, tmp_path: Path) -> None:
    server.files["sample.tgz"] = make_tgz(tmp_path / "s.tgz", FILES).read_bytes()
    path = untar_data(server.url("sample.tgz"))
    assert path == home / "data" / "sample"
    assert (path / "a.txt").read_bytes() == FILES["a.txt"]
    assert (path / "sub" / "b.txt").read_bytes() == FILES["sub/b.txt"]
    assert leftovers(home / "archive") == ["sample.tgz"]
    assert leftovers(home / "data") == ["sample"]  # no temporary folder left behind


def test_zip_over_file_url_is_extracted(home: Path, tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "things.zip", FILES, top="things")
    path = untar_data(archive.as_uri())
    assert path == home / "data" / "things"
    assert (path / "sub" / "b.txt").read_bytes() == FILES["sub/b.txt"]


def test_archive_without_top_folder_goes_to_its_stem(home: Path, tmp_path: Path) -> None:
    archive = make_tgz(tmp_path / "flat.tar.gz", FILES, top=None)
    path = untar_data(str(archive), base=tmp_path / "base")
    assert path == tmp_path / "base" / "data" / "flat"
    assert sorted(p.name for p in path.iterdir()) == ["a.txt", "sub"]
    assert not (home / "data").exists()


def test_second_call_uses_cache(server: Server, tmp_path: Path) -> None:
    server.files["sample.tgz"] = make_tgz(tmp_path / "s.tgz", FILES).read_bytes()
    first = untar_data(server.url("sample.tgz"))
    (first / "mine.txt").write_text("kept")  # a re-extraction would drop this file
    second = untar_data(server.url("sample.tgz"))
    assert first == second
    assert len(server.requests) == 1
    assert (second / "mine.txt").read_text() == "kept"


def test_force_downloads_again(server: Server, tmp_path: Path) -> None:
    server.files["sample.tgz"] = make_tgz(tmp_path / "s.tgz", FILES).read_bytes()
    path = untar_data(server.url("sample.tgz"))
    server.files["sample.tgz"] = make_tgz(tmp_path / "s2.tgz", {"a.txt": b"new"}).read_bytes()
    assert untar_data(server.url("sample.tgz")) == path
    assert (path / "a.txt").read_bytes() == FILES["a.txt"]
    assert untar_data(server.url("sample.tgz"), force=True) == path
    assert (path / "a.txt").read_bytes() == b"new"
    assert not (path / "sub").exists()  # the old copy was replaced, not merged
    assert len(server.requests) == 2
    assert leftovers(path.parent) == ["sample"]


def test_archive_placed_by_hand_is_used_offline(home: Path, tmp_path: Path) -> None:
    (home / "archive").mkdir(parents=True)
    make_tgz(home / "archive" / "sample.tgz", FILES)
    path = untar_data(closed_port_url("sample.tgz"))
    assert (path / "a.txt").read_bytes() == FILES["a.txt"]


def test_corrupt_archive_in_cache_is_reported(home: Path) -> None:
    (home / "archive").mkdir(parents=True)
    good = make_tgz(home / "archive" / "full.tgz", FILES).read_bytes()
    (home / "archive" / "sample.tgz").write_bytes(good[: len(good) // 2])
    with pytest.raises(DownloadError, match="complete .* archive.*force=True"):
        untar_data(closed_port_url("sample.tgz"))
    assert leftovers(home / "data") == []


@pytest.mark.parametrize("how", ["http", "file"])
def test_wrong_sha256_is_refused(how: str, server: Server, tmp_path: Path) -> None:
    data = b"x" * 5000
    server.files["f.bin"] = data
    (tmp_path / "f.bin").write_bytes(data)
    url = server.url("f.bin") if how == "http" else (tmp_path / "f.bin").as_uri()
    dest = tmp_path / "out" / "f.bin"
    with pytest.raises(ChecksumError) as err:
        download_url(url, dest, sha256="0" * 64)
    msg = str(err.value)
    assert "0" * 64 in msg and sha(data) in msg and url in msg and "Fix:" in msg
    assert leftovers(dest.parent) == []  # no file at dest, no temporary file
    assert download_url(url, dest, sha256=sha(data).upper()) == dest
    assert dest.read_bytes() == data


def test_wrong_size_is_refused(server: Server, tmp_path: Path) -> None:
    server.files["f.bin"] = b"x" * 100
    dest = tmp_path / "f.bin"
    with pytest.raises(ChecksumError, match="Expected 99 bytes .* Received: 100 bytes"):
        download_url(server.url("f.bin"), dest, size=99, retries=0)
    assert not dest.exists()


def test_untar_wrong_sha256_leaves_nothing(server: Server, home: Path, tmp_path: Path) -> None:
    server.files["sample.tgz"] = make_tgz(tmp_path / "s.tgz", FILES).read_bytes()
    with pytest.raises(ChecksumError):
        untar_data(server.url("sample.tgz"), sha256="f" * 64)
    assert leftovers(home / "archive") == [] and leftovers(home / "data") == []


def test_bad_sha256_argument() -> None:
    with pytest.raises(ValueError, match="64 hexadecimal"):
        untar_data("http://127.0.0.1:9/x.tgz", sha256="abc")


def test_truncated_download_is_retried(server: Server, tmp_path: Path) -> None:
    data = os.urandom(200_000)
    server.files["f.bin"], server.cut_short["f.bin"] = data, 1
    dest = tmp_path / "f.bin"
    download_url(server.url("f.bin"), dest, retries=1)
    assert dest.read_bytes() == data
    assert [r for _, r in server.requests] == [None, "bytes=100000-"]  # asked to resume
    assert leftovers(tmp_path) == ["f.bin"]


def test_truncated_download_resumes_with_range(server: Server, tmp_path: Path) -> None:
    data = os.urandom(200_000)
    server.files["f.bin"], server.cut_short["f.bin"], server.ranges = data, 1, True
    dest = download_url(server.url("f.bin"), tmp_path / "f.bin", sha256=sha(data), retries=1)
    assert dest.read_bytes() == data
    assert server.requests == [("f.bin", None), ("f.bin", "bytes=100000-")]


def test_wrong_range_starts_over(server: Server, tmp_path: Path) -> None:
    data = os.urandom(200_000)
    server.files["f.bin"], server.cut_short["f.bin"], server.ranges = data, 1, "wrong"
    dest = download_url(server.url("f.bin"), tmp_path / "f.bin", retries=2)
    assert dest.read_bytes() == data
    assert [r for _, r in server.requests] == [None, "bytes=100000-", None]


def test_truncated_download_is_never_kept(server: Server, tmp_path: Path) -> None:
    server.files["f.bin"], server.cut_short["f.bin"] = b"y" * 10_000, 10
    dest = tmp_path / "out" / "f.bin"
    with pytest.raises(DownloadError, match="received 5,000 of 10,000 bytes.*3 attempts"):
        download_url(server.url("f.bin"), dest, retries=2)
    assert len(server.requests) == 3
    assert leftovers(dest.parent) == []


def test_offline_message_says_where_to_put_the_file(home: Path, monkeypatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(fetch.time, "sleep", waits.append)
    url = closed_port_url("sample.tgz")
    with pytest.raises(DownloadError) as err:
        untar_data(url)
    msg = str(err.value)
    assert f"Could not download {url}" in msg and "Offline?" in msg
    assert f"Put the file at {home / 'archive' / 'sample.tgz'}" in msg
    assert "FASTLEARN_HOME" in msg and "FASTLEARN_DATA_MIRROR" in msg
    assert waits == [1.0, 2.0, 4.0]  # three retries, exponential backoff
    assert leftovers(home / "archive") == []


def test_http_404_is_not_retried(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_url(server.url("missing.bin"), tmp_path / "m.bin")
    assert len(server.requests) == 1


def test_missing_local_file(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="no such file"):
        download_url(str(tmp_path / "nope.bin"), tmp_path / "out.bin")


def evil_tar(path: Path, kind: str, outside: Path) -> Path:
    """A tgz holding one good file, then one member of the given unsafe kind."""
    with tarfile.open(path, "w:gz") as tar:
        good = tarfile.TarInfo("pkg/good.txt")
        good.size = 2
        tar.addfile(good, io.BytesIO(b"ok"))
        info = tarfile.TarInfo("pkg/bad")
        if kind == "dotdot":
            info.name = "pkg/../../evil.txt"
        elif kind == "absolute":
            info.name = str(outside / "evil.txt")
        elif kind in ("symlink_abs", "symlink_rel", "hardlink"):
            info.type = tarfile.LNKTYPE if kind == "hardlink" else tarfile.SYMTYPE
            info.linkname = {"symlink_rel": "../../outside"}.get(kind, "/etc/passwd")
        elif kind == "device":
            info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
        if kind in ("dotdot", "absolute"):
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
        else:
            tar.addfile(info)
        if kind == "symlink_chain":  # l -> . is harmless; bad -> l/../.. looks inside, is not
            link = tarfile.TarInfo("pkg/l")
            link.type, link.linkname = tarfile.SYMTYPE, "."
            tar.addfile(link)
            info.type, info.linkname = tarfile.SYMTYPE, "l/../.."
            tar.addfile(info)
        if kind in ("symlink_rel", "symlink_chain"):  # then write through the link
            through = tarfile.TarInfo("pkg/bad/evil.txt")
            through.size = 4
            tar.addfile(through, io.BytesIO(b"evil"))
    return path


@pytest.mark.parametrize(
    "kind",
    ["dotdot", "absolute", "symlink_abs", "symlink_rel", "symlink_chain", "hardlink", "device"],
)
@pytest.mark.parametrize("python_filter", [True, False], ids=["with_filter", "own_checks_only"])
def test_unsafe_tar_is_refused(
    kind: str, python_filter: bool, home: Path, tmp_path: Path, monkeypatch
) -> None:
    if not python_filter:  # as on Pythons without tarfile's 'data' filter
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = evil_tar(tmp_path / "pkg.tgz", kind, outside)
    with pytest.raises(UnsafeArchiveError, match="Expected every member .* Received: .*Fix:"):
        untar_data(archive.as_uri())
    assert leftovers(home / "data") == []  # nothing extracted, no temporary folder
    assert leftovers(outside) == []
    assert not (tmp_path / "evil.txt").exists() and not (home / "evil.txt").exists()


@pytest.mark.parametrize("name", ["../evil.txt", "pkg/../../evil.txt", "/abs/evil.txt"])
def test_unsafe_zip_is_refused(name: str, home: Path, tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "pkg.zip", {"pkg/good.txt": b"ok", name: b"evil"}, top=None)
    with pytest.raises(UnsafeArchiveError, match=name.replace(".", r"\.")):
        untar_data(str(archive))
    assert leftovers(home / "data") == []
    assert not (home / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


def pet_sample(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small stand-in for oxford-iiit-pet-sample.tgz, registered with its checksum."""
    folder.mkdir(exist_ok=True)
    archive = make_tgz(folder / "oxford-iiit-pet-sample.tgz", FILES, top="oxford-iiit-pet")
    known = (archive.stat().st_size, sha(archive.read_bytes()))
    monkeypatch.setitem(URLs.CHECKSUMS, archive.name, known)
    return archive


@pytest.mark.parametrize("form", ["folder", "file_url"])
def test_mirror_folder_with_alias(form: str, home: Path, tmp_path: Path, monkeypatch) -> None:
    mirror = pet_sample(tmp_path / "mirror", monkeypatch).parent
    monkeypatch.setenv(
        "FASTLEARN_DATA_MIRROR", str(mirror) if form == "folder" else mirror.as_uri()
    )
    path = untar_data(URLs.PETS)  # upstream unreachable here: only the mirror can answer
    assert path == home / "data" / "oxford-iiit-pet"
    assert (path / "sub" / "b.txt").read_bytes() == FILES["sub/b.txt"]


def test_mirror_over_http_tries_exact_name_then_alias(
    server: Server, home: Path, tmp_path: Path, monkeypatch
) -> None:
    archive = pet_sample(tmp_path, monkeypatch)
    server.files[archive.name] = archive.read_bytes()
    monkeypatch.setenv("FASTLEARN_DATA_MIRROR", server.url())
    path = untar_data(URLs.PETS)
    assert (path / "a.txt").read_bytes() == FILES["a.txt"]
    assert [n for n, _ in server.requests] == ["oxford-iiit-pet.tgz", archive.name]


def test_mirror_checksum_is_verified(home: Path, tmp_path: Path, monkeypatch) -> None:
    mirror = pet_sample(tmp_path / "mirror", monkeypatch).parent
    monkeypatch.setitem(URLs.CHECKSUMS, "oxford-iiit-pet-sample.tgz", (1, "0" * 64))
    monkeypatch.setenv("FASTLEARN_DATA_MIRROR", str(mirror))
    with pytest.raises(ChecksumError, match="Expected 1 bytes"):
        untar_data(URLs.PETS)
    assert leftovers(home / "archive") == [] and leftovers(home / "data") == []


def test_mirror_without_the_file_names_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FASTLEARN_DATA_MIRROR", str(tmp_path))
    with pytest.raises(DownloadError, match="oxford-iiit-pet-sample.tgz"):
        untar_data(closed_port_url("oxford-iiit-pet.tgz"))


def test_progress_bar_only_when_asked(server: Server, tmp_path: Path, capsys) -> None:
    server.files["f.bin"] = b"z" * 3000
    download_url(server.url("f.bin"), tmp_path / "a.bin", show_progress=True)
    line = capsys.readouterr().err
    assert "a.bin: [####################] 3.0 KB/3.0 KB 100%" in line and "/s" in line
    download_url(server.url("f.bin"), tmp_path / "b.bin")  # stderr is not a terminal here
    download_url(server.url("f.bin"), tmp_path / "c.bin", show_progress=False)
    assert capsys.readouterr().err == ""


URL_NAMES = [k for k, v in vars(URLs).items() if k.isupper() and isinstance(v, str)]


@pytest.mark.parametrize("key", URL_NAMES)
def test_urls_table(key: str) -> None:
    url = getattr(URLs, key)
    assert url.startswith("https://"), url
    if key != "SAMPLE" and not key.startswith("S3"):  # those are prefixes
        assert url.endswith((".tgz", ".zip")), url


def test_aliases_and_checksums_are_well_formed() -> None:
    assert URLs.PETS == "https://s3.amazonaws.com/fast-ai-imageclas/oxford-iiit-pet.tgz"
    assert URLs.ML_100k == "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
    for upstream, names in URLs.MIRROR_ALIASES.items():
        assert any(getattr(URLs, k).endswith("/" + upstream) for k in URL_NAMES)
        assert all(n in URLs.CHECKSUMS for n in names)
    for size, digest in URLs.CHECKSUMS.values():
        assert size > 0 and len(digest) == 64 and int(digest, 16) >= 0
