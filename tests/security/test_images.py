"""Image folders with things that are not images: a FIFO named x.jpg (reading it would block
forever), truncated and header-only files, a 10^10-pixel header, a small file that decodes to
121 million pixels. Each is refused quickly with an ImageReadError naming the file and the fix,
or skipped and reported in training; nothing hangs or decodes what it doesn't need."""

from __future__ import annotations

import os
import struct
import threading
import time
import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from fastlearn.vision.augment import Resize
from fastlearn.vision.dataset import ImageDataset
from fastlearn.vision.image import (
    ImageReadError,
    get_image_files,
    load_image,
    verify_images,
)


def within(seconds: float, fn, *args, **kwargs):
    """fn(*args) in a thread; fails (rather than hangs) if it takes longer than `seconds`."""
    out: dict = {}

    def run():
        try:
            out["value"] = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 (handed to the test)
            out["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{fn.__name__} still running after {seconds} s"
    if "error" in out:
        raise out["error"]
    return out["value"]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(w: int, h: int, *, idat: bool = False) -> bytes:
    """A PNG signature and IHDR claiming (w, h) RGB; optionally an empty IDAT and IEND."""
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    return out + (png_chunk(b"IDAT", zlib.compress(b"")) + png_chunk(b"IEND", b"") if idat else b"")


@pytest.fixture
def folder(tmp_path):
    """Good images, a FIFO named x.jpg and bad files, all with image extensions."""
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.jpg"):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(tmp_path / name)
    os.mkfifo(tmp_path / "x.jpg")
    good = (tmp_path / "a.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(good[: len(good) // 2])
    jpg = (tmp_path / "b.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(jpg[: len(jpg) // 2])
    (tmp_path / "header_only.png").write_bytes(png_header(64, 64))
    (tmp_path / "huge_header.png").write_bytes(png_header(100_000, 100_000, idat=True))
    (tmp_path / "text.jpg").write_text("not an image")
    return tmp_path


def test_a_fifo_named_jpg_is_skipped_not_waited_on(folder):
    with pytest.warns(UserWarning, match=r"not regular files .*x\.jpg"):
        files = within(20, get_image_files, folder)
    assert "x.jpg" not in [f.name for f in files]
    bad = within(20, verify_images, [folder / "x.jpg", folder / "a.png"])
    assert [f.name for f in bad] == ["x.jpg"]
    with pytest.raises(ImageReadError, match=r"x\.jpg' is a FIFO, not a regular file.*Fix"):
        within(20, load_image, folder / "x.jpg")
    ds = ImageDataset(
        [folder / "x.jpg", folder / "a.png"], torch.tensor([0, 1]), [Resize(16)], train=True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x, y = within(20, ds.__getitem__, 0)  # skipped: the next item instead
    assert x.shape == (3, 16, 16) and int(y) == 1 and ds.bad_items == [ds.items[0]]


@pytest.mark.parametrize(
    "name, match",
    [
        ("truncated.png", "truncated, damaged or not an image"),
        ("truncated.jpg", "truncated, damaged or not an image"),
        ("header_only.png", "truncated, damaged or not an image"),
        ("huge_header.png", "10000000000|100000x100000|larger than Pillow allows"),
        ("text.jpg", "not an image"),
    ],
)
def test_bad_files_name_the_file_and_the_fix(folder, name, match):
    with pytest.raises(ImageReadError, match=match) as info:
        within(20, load_image, folder / name)
    assert name in str(info.value) and "Fix:" in str(info.value)
    assert [f.name for f in verify_images([folder / name])] == [name]


def test_bytes_are_named_as_bytes(folder):
    with pytest.raises(ImageReadError, match="Can't read bytes as an image"):
        load_image(b"\x89PNG\r\n\x1a\n broken")


def test_a_small_file_of_121_million_pixels_is_refused_before_decoding(tmp_path):
    big = tmp_path / "big.png"
    Image.new("1", (11000, 11000)).save(big)  # 1-bit, one colour: a few KB on disk
    assert big.stat().st_size < 200_000
    start = time.perf_counter()
    with pytest.raises(
        ImageReadError,
        match=r"11000x11000 = 121,000,000 pixels, more than "
        r"max_pixels=100,000,000.*Fix",
    ):
        load_image(big)
    small = tmp_path / "small.png"
    Image.new("RGB", (30, 20), (200, 10, 10)).save(small)
    ds = ImageDataset([big, small], torch.tensor([0, 1]), [Resize(24)], train=True)
    with pytest.warns(UserWarning, match="Skipping item .*big.png.*max_pixels"):
        x, y = ds[0]
    assert x.shape == (3, 24, 24) and int(y) == 1 and ds.bad_items == [ds.items[0]]
    assert time.perf_counter() - start < 5  # decoding it whole takes ~7 s and 360 MB
    assert [f.name for f in verify_images([big, small])] == ["big.png"]
    assert verify_images([big], max_pixels=None) == []  # the bound can be lifted
