"""PILImage / PILImageBW: Pillow images with fastai's `create`, `to_thumb`, `shape`, `show`."""

from __future__ import annotations

import io
import pickle

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from fastlearn.vision import PILImage, PILImageBW, image2tensor  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def pixels():
    return np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)


@pytest.fixture
def png(tmp_path, pixels):
    path = tmp_path / "bear.png"
    Image.fromarray(pixels).save(path)
    return path


def test_class_modes():
    assert (PILImage.mode, PILImageBW.mode) == ("RGB", "L")


@pytest.mark.parametrize("kind", ["path", "str", "bytes", "file", "array", "tensor", "pillow"])
def test_create_from_every_source_gives_the_same_pixels(kind, png, pixels):
    source = {
        "path": png,
        "str": str(png),
        "bytes": png.read_bytes(),
        "file": io.BytesIO(png.read_bytes()),
        "array": pixels,
        "tensor": torch.from_numpy(pixels).permute(2, 0, 1),  # (C, H, W)
        "pillow": Image.fromarray(pixels),
    }[kind]
    img = PILImage.create(source)
    assert isinstance(img, PILImage) and isinstance(img, Image.Image)
    assert img.mode == "RGB" and img.size == (40, 30) and img.shape == (30, 40)
    assert np.array_equal(np.array(img), pixels)  # (H, W, C) uint8


def test_bw_converts_and_float_arrays_scale(pixels):
    bw = PILImageBW.create(pixels)
    assert bw.mode == "L" and np.array(bw).shape == (30, 40)
    expected = np.array(Image.fromarray(pixels).convert("L"))
    assert np.array_equal(np.array(bw), expected)
    half = PILImage.create(np.full((4, 5), 0.5, dtype=np.float64))
    assert np.array(half).shape == (4, 5, 3) and int(np.array(half)[0, 0, 0]) == 128


def test_pillow_methods_still_work(png):
    img = PILImage.create(png)
    assert img.resize((10, 8)).size == (10, 8)
    assert img.convert("L").mode == "L"
    assert img.crop((0, 0, 5, 5)).size == (5, 5)
    again = pickle.loads(pickle.dumps(img))
    assert isinstance(again, PILImage) and np.array_equal(np.array(again), np.array(img))
    assert repr(img) == "PILImage mode=RGB size=40x30"


def test_to_thumb_keeps_the_aspect_and_the_original(png):
    img = PILImage.create(png)
    thumb = img.to_thumb(20)
    assert isinstance(thumb, PILImage) and thumb.size == (20, 15)
    assert img.to_thumb(10, 40).size == (13, 10)  # height bound
    assert img.size == (40, 30)


def test_create_does_not_share_the_callers_pixels(pixels):
    mine = Image.fromarray(pixels)
    img = PILImage.create(mine)
    img.putpixel((0, 0), (1, 2, 3))
    assert mine.getpixel((0, 0)) == tuple(pixels[0, 0])


def test_show_draws_on_axes(png):
    img = PILImage.create(png)
    ax = img.show(title="bear")
    assert ax.get_title() == "bear" and ax.images[0].get_array().shape == (30, 40, 3)
    ax = PILImageBW.create(png).show()
    assert ax.images[0].get_cmap().name == "Greys"


def test_image2tensor_is_channels_first_uint8(png, pixels):
    x = image2tensor(PILImage.create(png))
    assert x.dtype == torch.uint8 and x.shape == (3, 30, 40)
    assert torch.equal(x, torch.from_numpy(pixels).permute(2, 0, 1))
    assert image2tensor(PILImageBW.create(png)).shape == (1, 30, 40)
    assert image2tensor(png).shape == (3, 30, 40)


@pytest.mark.parametrize(
    "source, error, match",
    [
        (42, TypeError, "Expected a path"),
        (np.zeros((2, 3, 4, 5), dtype=np.uint8), ValueError, "Expected an image array"),
        (np.full((3, 3), 300), ValueError, "0..255"),
    ],
)
def test_bad_sources_are_clear_errors(source, error, match):
    with pytest.raises(error, match=match):
        PILImage.create(source)
