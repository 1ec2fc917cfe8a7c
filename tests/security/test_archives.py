"""Hostile archive names, tampered cached archives and archive bombs."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from fastlearn.core.archive import UnsafeArchiveError, extract_archive
from fastlearn.core.download import ChecksumError, URLs, untar_data


def make_tgz(path: Path, files: dict[str, bytes], top: str = "sample") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


ESCAPING_NAMES = [
    "..%2F..%2F..%2Fproject.tgz",
    "..%2Fproject.tgz",
    "%2E%2E%2Fx.tgz",
    "a%2Fb.tgz",
    "a%5Cb.tgz",
    "..%5C..%5Cx.tgz",
    "%2Fetc%2Fx.tgz",
    ".hidden.tgz",
    "x%00.tgz",
    "C%3Ax.tgz",
    "%252E%252E%252Fx.tgz",  # decoded twice on a file:// URL
]


@pytest.mark.parametrize("name", ESCAPING_NAMES)
@pytest.mark.parametrize("scheme", ["http://127.0.0.1:9/", "file:///tmp/"])
def test_an_archive_name_never_leaves_the_cache(name, scheme, tmp_path, _home):
    victim = tmp_path / "project"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    from fastlearn.core.download import DownloadError

    # over http the decoded name is refused; a file:// path may hold folders (it names a
    # local file), so it is refused or not found, but never written outside the cache
    expected = (
        ValueError
        if scheme.startswith("http") and "%25" not in name
        else (ValueError, DownloadError)
    )
    with pytest.raises(expected):
        untar_data(scheme + name, base=tmp_path / "home" / "a" / "b", force=True)
    assert (victim / "keep.txt").read_text() == "mine"
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "keep.txt"]
    assert written == []


def test_the_cli_refuses_them_too(tmp_path, capsys):
    from fastlearn import cli

    code = cli.main(["datasets", "http://127.0.0.1:9/..%2F..%2Fproject.tgz"])
    assert code != 0
    assert "plain archive file name" in capsys.readouterr().err
    assert not (tmp_path / "project.tgz").exists()


def test_a_tampered_cached_sample_is_refused(_home, tmp_path):
    archive = _home / "archive" / "adult_sample.tgz"
    archive.parent.mkdir(parents=True)
    make_tgz(archive, {"adult.csv": b"age,salary\n1,>=50k\n"})
    with pytest.raises(ChecksumError, match="cached copy was not used"):
        untar_data(URLs.ADULT_SAMPLE)
    assert not (_home / "data" / "adult_sample").exists()


def test_a_cached_archive_is_checked_against_a_given_sha256(_home, tmp_path):
    archive = _home / "archive" / "mine.tgz"
    archive.parent.mkdir(parents=True)
    make_tgz(archive, {"a.txt": b"a"})
    with pytest.raises(ChecksumError):
        untar_data("http://127.0.0.1:9/mine.tgz", sha256="0" * 64)
    import hashlib

    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    path = untar_data("http://127.0.0.1:9/mine.tgz", sha256=digest)
    assert (path / "a.txt").read_text() == "a"


def _bomb_tgz(path: Path, n_bytes: int) -> Path:
    """A small .tgz holding one member of n_bytes zeros (compresses about 1000x)."""
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("bomb/zeros.bin")
        info.size = n_bytes
        tar.addfile(info, io.BytesIO(bytes(n_bytes)))
    return path


def test_a_tar_bomb_is_refused_before_writing(tmp_path, monkeypatch):
    archive = _bomb_tgz(tmp_path / "bomb.tgz", 40 * 2**20)
    assert archive.stat().st_size < 200_000
    monkeypatch.setenv("FASTLEARN_MAX_EXTRACT_BYTES", str(10 * 2**20))
    with pytest.raises(UnsafeArchiveError, match="at most 10,485,760 bytes"):
        untar_data(archive.as_uri())
    home = tmp_path / "home" / "data"
    assert not home.exists() or not any(home.iterdir())  # nothing extracted, no temp folder


def test_the_default_limit_is_a_ratio_with_a_floor(tmp_path):
    from fastlearn.core.download import max_extract_bytes

    small = tmp_path / "s.tgz"
    small.write_bytes(bytes(300_000))
    assert max_extract_bytes(small) == 256 * 2**20  # a 300 KB archive: the 256 MiB floor
    big = tmp_path / "b.tgz"
    with open(big, "wb") as f:
        f.truncate(10 * 2**20)
    assert max_extract_bytes(big) == 100 * 10 * 2**20


def test_a_zip_bomb_and_too_many_members(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb/zeros.bin", bytes(20 * 2**20))
    with pytest.raises(UnsafeArchiveError, match="extract to at most"):
        extract_archive(archive, tmp_path / "out", max_bytes=2**20)
    many = make_tgz(tmp_path / "many.tgz", {f"{i}.txt": b"" for i in range(50)})
    with pytest.raises(UnsafeArchiveError, match="over the limit of 10"):
        extract_archive(many, tmp_path / "out2", max_members=10)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out2").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_the_limit_can_be_raised(tmp_path, monkeypatch):
    archive = _bomb_tgz(tmp_path / "big.tgz", 3 * 2**20)
    monkeypatch.setenv("FASTLEARN_MAX_EXTRACT_BYTES", str(4 * 2**20))
    path = untar_data(archive.as_uri())
    assert (path / "zeros.bin").stat().st_size == 3 * 2**20
