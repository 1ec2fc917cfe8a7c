"""The issue's bad-input list, end to end: each case gives a clear error or survives training.

Covered elsewhere: a label function raising on one file and images of mixed sizes without a
resize (test_data.test_bad_input_errors), a mask whose size differs from its image
(test_data.test_segmentation_errors_name_the_files), `verify_images` on a truncated JPEG
(test_image), an unknown architecture in `vision_learner` (test_learner, test_models).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from fastlearn import accuracy, set_seed
from fastlearn.vision.augment import Resize
from fastlearn.vision.data import ImageDataLoaders, SegmentationDataLoaders
from fastlearn.vision.image import get_image_files, verify_images
from fastlearn.vision.learner import VisionLearner, unet_learner
from fastlearn.vision.models import UnknownArchError, simple_cnn

FAST = dict(bs=4, num_workers=0, device="cpu")


def write(path, h, w, mode="RGB", seed=0, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(arr).convert(mode).save(path, format=fmt)
    return path


def test_folder_without_images_names_the_folder_and_the_extensions(tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "notes.txt").write_text("not an image")
    (folder / "labels.csv").write_text("a,b\n")
    files = get_image_files(folder)
    assert files == []
    with pytest.raises(
        ValueError, match=r"Received none \(path='.*scans'\).*\.jpg, .jpeg, .png"
    ) as err:
        ImageDataLoaders.from_name_func(folder, files, lambda n: n[0], **FAST)
    assert "Fix:" in str(err.value)
    # from_folder over train/valid folders that hold no image is the same clear error
    (folder / "train").mkdir()
    (folder / "valid").mkdir()
    (folder / "train" / "readme.md").write_text("no images")
    with pytest.raises(ValueError, match="Expected image files"):
        ImageDataLoaders.from_folder(folder, **FAST)


def test_pattern_matching_no_file_names_the_pattern_and_file(tmp_path):
    for i in range(3):
        write(tmp_path / f"Bengal_{i}.png", 8, 8, seed=i)
    write(tmp_path / "IMG 0042.png", 8, 8)
    files = get_image_files(tmp_path)
    with pytest.raises(ValueError, match=r"does not match 'IMG 0042.png'.*Fix:"):
        ImageDataLoaders.from_name_re(tmp_path, files, r"^(.+)_\d+\.png$", **FAST)
    with pytest.raises(ValueError, match=r"group"):
        ImageDataLoaders.from_name_re(tmp_path, files, r"_\d+", **FAST)


def test_mixed_modes_need_a_common_mode(tmp_path):
    write(tmp_path / "a_0.png", 8, 8, "RGB")
    write(tmp_path / "b_0.png", 8, 8, "L", seed=1)
    write(tmp_path / "c_0.png", 8, 8, "RGBA", seed=2)
    write(tmp_path / "d_0.png", 8, 8, "P", seed=3)
    files = get_image_files(tmp_path)
    kwargs = dict(
        item_tfms=Resize(8), splitter=lambda items: (list(range(4)), []), shuffle=False, **FAST
    )
    stored = ImageDataLoaders.from_name_func(tmp_path, files, lambda n: n[0], mode=None, **kwargs)
    with pytest.raises(ValueError, match=r"mode='RGB'"):
        stored.one_batch()
    x, _ = ImageDataLoaders.from_name_func(tmp_path, files, lambda n: n[0], **kwargs).one_batch()
    assert x.shape == (4, 3, 8, 8)
    grey = np.array(Image.open(tmp_path / "b_0.png"))
    assert torch.equal(x[1], torch.from_numpy(grey).float().div(255).expand(3, 8, 8))


def test_unknown_encoder_in_unet_learner(tmp_path):
    write(tmp_path / "images" / "0.png", 16, 16)
    Image.new("L", (16, 16)).save(tmp_path / "0_P.png")
    dls = SegmentationDataLoaders.from_label_func(
        tmp_path,
        get_image_files(tmp_path / "images"),
        lambda f: tmp_path / f"{f.stem}_P.png",
        codes=["a", "b"],
        item_tfms=Resize(16),
        **FAST,
    )
    with pytest.raises(UnknownArchError, match=r"efficientnet_lite0"):
        unet_learner(dls, "efficientnet_lite")


def test_corrupt_files_in_a_folder_do_not_stop_training(tmp_path):
    """A truncated JPEG and a broken PNG among good images: both reported, training finishes."""
    for i in range(12):
        write(tmp_path / f"{'cat' if i % 2 else 'dog'}_{i}.png", 20 + i, 24, seed=i)
    good = write(tmp_path / "cat_12.jpg", 64, 64, seed=12, fmt="JPEG").read_bytes()
    truncated = tmp_path / "cat_13.jpg"
    truncated.write_bytes(good[: len(good) // 2])
    broken = tmp_path / "dog_14.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    files = get_image_files(tmp_path)
    assert verify_images(files) == [truncated, broken]

    set_seed(0)
    dls = ImageDataLoaders.from_name_func(
        tmp_path,
        files,
        lambda n: n.split("_")[0],
        item_tfms=Resize(16),
        splitter=lambda items: (list(range(len(items))), list(range(len(items)))),
        **FAST,
    )
    model = simple_cnn(2, (8, 16))
    learn = VisionLearner(dls, model, metrics=accuracy, show_progress=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        learn.fit(1, 1e-2)
    messages = " ".join(str(w.message) for w in caught)
    assert "cat_13.jpg" in messages and "dog_14.png" in messages
    assert sorted(dls.train.dataset.bad_items) == [truncated, broken]
    assert len(learn.recorder.history) == 1
    assert np.isfinite(learn.recorder.history[0]["train_loss"])
    assert np.isfinite(learn.recorder.history[0]["valid_loss"])
