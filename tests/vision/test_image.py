"""Finding, decoding and verifying images: every mode, EXIF orientation, JPEG draft mode."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from fastlearn.vision.image import get_image_files, load_image, open_mask, verify_images


def save(img: Image.Image, path, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kwargs)
    return path


def rgb(h=8, w=10, seed=0) -> Image.Image:
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return Image.fromarray(arr, "RGB")


# ---------------------------------------------------------------------------- get_image_files
def test_get_image_files_recurses_sorts_and_filters(tmp_path):
    for rel in [
        "b/2.JPG",
        "b/1.png",
        "a.jpeg",
        "a/deep/3.webp",
        "notes.txt",
        ".hidden/4.png",
        "a/.5.png",
        "c/6.bmp",
    ]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")
    names = [f.relative_to(tmp_path).as_posix() for f in get_image_files(tmp_path)]
    assert names == ["a.jpeg", "a/deep/3.webp", "b/1.png", "b/2.JPG", "c/6.bmp"]
    assert [f.name for f in get_image_files(tmp_path, recurse=False)] == ["a.jpeg"]
    assert [f.name for f in get_image_files(tmp_path, folders=["c", "b"])] == [
        "6.bmp",
        "1.png",
        "2.JPG",
    ]
    assert [f.name for f in get_image_files(tmp_path, extensions=["png"])] == ["1.png"]


def test_get_image_files_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        get_image_files(tmp_path / "missing")
    (tmp_path / "train").mkdir()
    with pytest.raises(FileNotFoundError, match=r"valid.*Folders in .*\['train'\]"):
        get_image_files(tmp_path, folders=["train", "valid"])
    assert get_image_files(tmp_path) == []


# ---------------------------------------------------------------------------- modes
def _mode_cases():
    grey = Image.fromarray(np.array([[0, 100], [200, 255]], np.uint8), "L")
    la = Image.fromarray(np.array([[[100, 255], [100, 0]]], np.uint8), "LA")  # opaque, clear
    rgba = Image.fromarray(
        np.array([[[200, 0, 0, 255], [200, 0, 0, 0], [0, 0, 0, 128]]], np.uint8), "RGBA"
    )
    pal = Image.new("P", (2, 1))
    pal.putpalette([10, 20, 30, 40, 50, 60] + [0] * 762)
    pal.putdata([0, 1])
    pal_t = pal.copy()
    pal_t.info["transparency"] = 1
    cmyk = Image.new("CMYK", (1, 1), (0, 0, 0, 0))
    i16 = Image.fromarray(np.array([[0, 257, 65535]], np.uint16))  # mode I;16
    bits = Image.fromarray(np.array([[True, False]]))
    white = [255, 255, 255]
    # (image, mode asked, expected (C, H, W) as nested lists per pixel [r, g, b])
    return {
        "L": (grey, "RGB", [[[0] * 3, [100] * 3], [[200] * 3, [255] * 3]]),
        "LA": (la, "RGB", [[[100] * 3, white]]),
        "RGBA": (rgba, "RGB", [[[200, 0, 0], white, [127, 127, 127]]]),
        "P": (pal, "RGB", [[[10, 20, 30], [40, 50, 60]]]),
        "P-transparent": (pal_t, "RGB", [[[10, 20, 30], white]]),
        "CMYK": (cmyk, "RGB", [[white]]),
        "I;16": (i16, "RGB", [[[0] * 3, [1] * 3, [255] * 3]]),
        "1": (bits, "RGB", [[white, [0] * 3]]),
    }


@pytest.mark.parametrize("case", list(_mode_cases()))
def test_every_mode_converts_to_rgb_with_the_right_values(case, tmp_path):
    img, mode, expected = _mode_cases()[case]
    fmt = "TIFF" if img.mode in ("CMYK", "I;16") else "PNG"
    path = save(img, tmp_path / f"x.{fmt.lower()}", format=fmt)
    for source in (path, img):  # from a file and from a Pillow image
        x = load_image(source, mode=mode)
        assert x.dtype == torch.uint8 and x.shape[0] == 3
        assert x.permute(1, 2, 0).tolist() == expected, (case, source)


def test_channels_kept_or_chosen_on_request():
    la = Image.fromarray(np.full((3, 4, 2), 77, np.uint8), "LA")
    assert load_image(la, mode=None).shape == (2, 3, 4)
    assert load_image(rgb(), mode="RGBA")[3].eq(255).all()
    rgba = Image.fromarray(np.full((3, 4, 4), 9, np.uint8), "RGBA")
    assert load_image(rgba, mode=None).shape == (4, 3, 4)
    grey = load_image(rgb(), mode="L")
    ref = torch.from_numpy(np.array(rgb().convert("L")))
    assert grey.shape == (1, 8, 10) and torch.equal(grey[0], ref)
    with pytest.raises(ValueError, match="Expected mode"):
        load_image(rgb(), mode="CMYK")


def test_sources_bytes_and_tensors(tmp_path):
    buf = io.BytesIO()
    rgb().save(buf, format="PNG")
    x = load_image(buf.getvalue())
    assert torch.equal(x, torch.from_numpy(np.array(rgb())).permute(2, 0, 1))
    assert load_image(x) is x
    assert torch.equal(load_image(x.float() / 255), x)


# ---------------------------------------------------------------------------- EXIF, draft
@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_exif_orientation_is_applied(orientation, tmp_path):
    arr = np.zeros((40, 80, 3), np.uint8)  # stored landscape: black left half, white right
    arr[:, 40:] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = save(Image.fromarray(arr), tmp_path / "photo.jpg", exif=exif, quality=95)
    x = load_image(path)
    with Image.open(path) as img:
        ref = torch.from_numpy(np.array(ImageOps.exif_transpose(img))).permute(2, 0, 1)
    assert torch.equal(x, ref)
    if orientation == 6:  # rotated 90 degrees clockwise: the left half ends up on top
        assert x.shape == (3, 80, 40) and x[:, :30].float().mean() < 20 and x[:, 50:].min() > 200


def test_draft_decodes_a_large_jpeg_smaller(tmp_path):
    big = Image.fromarray(np.random.default_rng(0).integers(0, 256, (1200, 1600, 3), np.uint8))
    path = save(big, tmp_path / "big.jpg")
    full, small = load_image(path), load_image(path, draft_size=200)
    assert full.shape == (3, 1200, 1600)
    assert small.shape[1] < 1200 and min(small.shape[1:]) >= 200  # 1/4: (3, 300, 400)
    rect = load_image(path, draft_size=(100, 150))  # 1/8 covers (h 100, w 150)
    assert rect.shape == (3, 150, 200)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: the draft must cover the upright (h, w)
    path = save(big, tmp_path / "side.jpg", exif=exif)
    assert load_image(path, draft_size=(400, 100)).shape == (3, 400, 300)  # unswapped: 1/2
    png = save(big.resize((400, 300)), tmp_path / "big.png")
    assert load_image(png, draft_size=50).shape == (3, 300, 400)  # only JPEGs draft


# ---------------------------------------------------------------------------- bad files, masks
def test_verify_images_lists_bad_files_in_order(tmp_path):
    good = save(rgb(64, 64), tmp_path / "good.jpg")
    data = good.read_bytes()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(data[: len(data) // 2])
    text = tmp_path / "text.png"
    text.write_text("not an image")
    assert verify_images([good, truncated, text, good]) == [truncated, text]
    with pytest.raises(OSError, match="truncated"):
        load_image(truncated)


def test_open_mask_keeps_class_indices(tmp_path):
    mask = Image.new("P", (3, 2))
    mask.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    mask.putdata([0, 1, 2, 2, 1, 0])
    m = open_mask(save(mask, tmp_path / "m.png"))
    assert m.mode == "P" and np.array(m).tolist() == [[0, 1, 2], [2, 1, 0]]
    with pytest.raises(ValueError, match="class index.*m_rgb.png|m_rgb.png"):
        open_mask(save(rgb(), tmp_path / "m_rgb.png"))
