"""ImageDataLoaders and SegmentationDataLoaders on tiny generated image folders."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from fastlearn.core.datablock import DataBlockError
from fastlearn.vision.augment import IntToFloat, Normalize, Resize, aug_transforms
from fastlearn.vision.data import ImageDataLoaders, SegmentationDataLoaders
from fastlearn.vision.dataset import ImageDataset
from fastlearn.vision.image import get_image_files

FAST = dict(bs=4, num_workers=0, device="cpu")


def write_image(path, h=24, w=32, mode="RGB", seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (h, w, len(mode)) if len(mode) > 1 else (h, w), dtype=np.uint8)
    Image.fromarray(arr).convert(mode).save(path)
    return path


@pytest.fixture
def pets(tmp_path):
    """Cats (capitalised names) and dogs, mixed sizes and modes: 'Bengal_3.png', ..."""
    root = tmp_path / "images"
    breeds = ["Bengal", "Abyssinian", "beagle", "pug"]
    for b, breed in enumerate(breeds):
        for i in range(5):
            mode = ["RGB", "L", "RGBA"][i % 3]
            write_image(root / f"{breed}_{i}.png", 20 + 2 * i, 28 + i, mode, seed=10 * b + i)
    return root


def test_from_name_func_is_cat(pets):
    files = get_image_files(pets)
    dls = ImageDataLoaders.from_name_func(
        pets,
        files,
        lambda name: name[0].isupper(),
        valid_pct=0.25,
        seed=42,
        item_tfms=Resize(16),
        **FAST,
    )
    assert dls.vocab == [False, True] and dls.task == "classification"
    assert len(dls.train.dataset) == 15 and len(dls.valid.dataset) == 5
    x, y = dls.one_batch()
    assert x.shape == (4, 3, 16, 16) and x.dtype == torch.float32 and 0 <= x.min() <= x.max() <= 1
    assert y.dtype == torch.long
    for f, t in zip(dls.train.dataset.items, dls.train.dataset.targets):
        assert dls.vocab[int(t)] == f.name[0].isupper()
    again = ImageDataLoaders.from_name_func(
        pets,
        files,
        lambda name: name[0].isupper(),
        valid_pct=0.25,
        seed=42,
        item_tfms=Resize(16),
        **FAST,
    )
    assert again.valid.dataset.items == dls.valid.dataset.items  # the seed fixes the split
    assert dls.n_channels == 3 and dls.item_size == (16, 16) and dls.resize_method == "crop"
    assert dls.n_out == 2 and type(dls.loss_func).__name__ == "CrossEntropyLossFlat"


def test_from_name_re_and_path_re(pets):
    files = get_image_files(pets)
    dls = ImageDataLoaders.from_name_re(
        pets, files, r"^(.+)_\d+\.png$", item_tfms=Resize(8), seed=0, **FAST
    )
    assert dls.vocab == ["Abyssinian", "Bengal", "beagle", "pug"]
    by_path = ImageDataLoaders.from_path_re(
        pets, files, r"images/([A-Za-z]+)_\d", seed=0, item_tfms=Resize(8), **FAST
    )
    assert by_path.vocab == dls.vocab
    with pytest.raises(ValueError, match=r"RegexLabeller.*Abyssinian_0.png.*Fix:"):
        ImageDataLoaders.from_name_re(pets, files, r"^([a-z]+)_\d", **FAST)


def test_from_folder_train_valid_and_valid_pct(tmp_path):
    for split, n in [("train", 4), ("valid", 2)]:
        for label in ["3", "7"]:
            for i in range(n):
                write_image(tmp_path / split / label / f"{i}.png", 12, 12, "L", seed=i)
    dls = ImageDataLoaders.from_folder(tmp_path, mode="L", **FAST)
    assert dls.vocab == ["3", "7"] and dls.n_channels == 1
    assert len(dls.train.dataset) == 8 and len(dls.valid.dataset) == 4
    assert all("valid" in f.parts for f in dls.valid.dataset.items)
    assert dls.one_batch()[0].shape == (4, 1, 12, 12)  # equal sizes: no resize needed
    random_split = ImageDataLoaders.from_folder(tmp_path, valid_pct=0.5, seed=1, **FAST)
    assert len(random_split.valid.dataset) == 6
    with pytest.raises(FileNotFoundError, match="test"):
        ImageDataLoaders.from_folder(tmp_path, valid="test", **FAST)


def test_from_df_multi_label_and_from_csv(tmp_path):
    import pandas as pd

    names = [f"img{i}" for i in range(8)]
    for i, n in enumerate(names):
        write_image(tmp_path / "train" / f"{n}.jpg", 10, 10, seed=i)
    tags = ["cat", "dog cat", "dog", "", "cat bird", "bird", "dog", "cat"]
    df = pd.DataFrame({"fname": names, "tags": tags, "is_valid": [0, 0, 0, 0, 0, 0, 1, 1]})
    dls = ImageDataLoaders.from_df(
        df, tmp_path, folder="train", suff=".jpg", label_delim=" ", valid_col="is_valid", **FAST
    )
    assert dls.task == "multi_label" and dls.vocab == ["bird", "cat", "dog"]
    assert dls.valid.dataset.items[0].name == "img6.jpg"
    expected = torch.tensor([[0, 1, 0], [0, 1, 1], [0, 0, 1], [0, 0, 0], [1, 1, 0], [1, 0, 0]])
    assert torch.equal(dls.train.dataset.targets, expected.float())
    assert type(dls.loss_func).__name__ == "BCEWithLogitsLossFlat"
    df.to_csv(tmp_path / "labels.csv", index=False)
    from_csv = ImageDataLoaders.from_csv(
        tmp_path, folder="train", suff=".jpg", label_delim=" ", valid_col=2, **FAST
    )
    assert torch.equal(from_csv.train.dataset.targets, dls.train.dataset.targets)


def test_from_lists_and_regression(pets):
    files = get_image_files(pets)
    values = [float(i) for i in range(len(files))]
    dls = ImageDataLoaders.from_lists(
        pets,
        [f.name for f in files],
        values,
        task="regression",
        item_tfms=Resize(8),
        seed=0,
        **FAST,
    )
    assert dls.vocab is None and dls.n_out == 1 and dls.one_batch()[1].dtype == torch.float32
    with pytest.raises(ValueError, match="one label per file"):
        ImageDataLoaders.from_lists(pets, files, values[:3])


def test_train_and_valid_item_transforms(pets):
    dls = ImageDataLoaders.from_name_func(
        pets, get_image_files(pets), lambda n: n[0], item_tfms=Resize(12), seed=0, **FAST
    )
    assert dls.train.dataset.train and not dls.valid.dataset.train
    valid = dls.valid.dataset
    assert all(torch.equal(valid[i][0], valid[i][0]) for i in range(len(valid)))  # centre crops
    train = dls.train.dataset
    crops = {tuple(train[0][0].flatten()[:40].tolist()) for _ in range(12)}
    assert len(crops) > 1  # random crops
    test = dls.test_dl([pets / "pug_0.png", pets / "pug_1.png"])
    assert not test.dataset.train and test.one_batch()[0].shape == (2, 3, 12, 12)


def test_batch_transforms_order_and_normalize(pets):
    dls = ImageDataLoaders.from_name_func(
        pets,
        get_image_files(pets),
        lambda n: n[0].isupper(),
        item_tfms=Resize(20),
        seed=0,
        batch_tfms=[Normalize.from_stats((0.5,) * 3, (0.25,) * 3), *aug_transforms(size=12)],
        **FAST,
    )
    names = [type(t).__name__ for t in dls.train.batch_tfms]
    assert names == ["IntToFloat", "AffineWarp", "CenterResize", "Lighting", "Normalize"]
    assert dls.size == (12, 12) and dls.normalize.mean == (0.5,) * 3
    assert dls.valid.one_batch()[0].shape == (4, 3, 12, 12)
    dls.add_normalize((0.1, 0.2, 0.3), (1.0, 1.0, 1.0))
    assert sum(isinstance(t, Normalize) for t in dls.valid.batch_tfms) == 1
    assert dls.to_state()["normalize"] == {"mean": [0.1, 0.2, 0.3], "std": [1.0, 1.0, 1.0]}
    assert dls.to_state()["size"] == [12, 12] and dls.to_state()["item_size"] == [20, 20]
    raw = ImageDataLoaders.from_name_func(
        pets, get_image_files(pets), lambda n: n[0], item_tfms=Resize(8), **FAST
    )
    assert raw.normalize is None and isinstance(raw.train.batch_tfms[0], IntToFloat)


@pytest.mark.parametrize("mode,channels", [("L", 1), ("LA", 2), ("RGBA", 4)])
def test_channel_counts(pets, mode, channels):
    dls = ImageDataLoaders.from_name_func(
        pets,
        get_image_files(pets),
        lambda n: n[0].isupper(),
        item_tfms=Resize(8),
        mode=mode,
        seed=0,
        batch_tfms=aug_transforms(),
        **FAST,
    )
    assert dls.n_channels == channels and dls.one_batch()[0].shape == (4, channels, 8, 8)


def test_bad_input_errors(pets, tmp_path):
    files = get_image_files(pets)
    mixed = ImageDataLoaders.from_name_func(pets, files, lambda n: n[0].isupper(), **FAST)
    with pytest.raises(ValueError, match=r"item_tfms=Resize"):
        mixed.one_batch()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty"):
        ImageDataLoaders.from_name_func(
            tmp_path / "empty", get_image_files(tmp_path / "empty"), str, **FAST
        )

    def breaks_on_pug(name):
        if name.startswith("pug_3"):
            raise KeyError("no such breed")
        return name

    with pytest.raises(ValueError, match=r"breaks_on_pug.* failed on .*pug_3.png"):
        ImageDataLoaders.from_name_func(pets, files, breaks_on_pug, **FAST)


def test_corrupt_file_is_reported_and_skipped(pets):
    bad = pets / "pug_9.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    ds = ImageDataset([bad, pets / "pug_0.png"], torch.tensor([0, 1]), [Resize(8)])
    with pytest.warns(UserWarning, match="pug_9.png"):
        x, y = ds[0]
    assert x.shape == (3, 8, 8) and int(y) == 1 and ds.bad_items == [bad]


def make_segmentation(root, n=6, size=(24, 32)):
    for i in range(n):
        img = np.zeros((*size, 3), np.uint8)
        mask = np.zeros(size, np.uint8)
        img[4 + i : 14 + i, 6:20] = 255
        mask[4 + i : 14 + i, 6:20] = 1
        write_image(root / "images" / f"{i}.jpg", *size, seed=i)
        Image.fromarray(img).save(root / "images" / f"{i}.jpg", quality=95)
        (root / "labels").mkdir(exist_ok=True)
        Image.fromarray(mask, "L").save(root / "labels" / f"{i}_P.png")
    return get_image_files(root / "images")


def test_segmentation_masks_follow_images(tmp_path):
    files = make_segmentation(tmp_path)
    torch.manual_seed(0)
    dls = SegmentationDataLoaders.from_label_func(
        tmp_path,
        files,
        lambda f: tmp_path / "labels" / f"{f.stem}_P.png",
        codes=["bg", "square"],
        item_tfms=Resize(20),
        batch_tfms=aug_transforms(max_rotate=30.0, p_affine=1.0),
        seed=0,
        **FAST,
    )
    x, m = dls.one_batch()
    assert x.shape == (4, 3, 20, 20) and m.shape == (4, 20, 20) and m.dtype == torch.long
    assert set(m.unique().tolist()) <= {0, 1}
    assert ((x[:, 0] > 0.5) == (m == 1)).float().mean() > 0.95
    assert dls.n_out == 2 and dls.task == "segmentation"
    assert dls.test_dl(files[:2]).one_batch()[0].shape == (2, 3, 20, 20)


def test_segmentation_errors_name_the_files(tmp_path):
    files = make_segmentation(tmp_path)
    with pytest.raises(DataBlockError, match=r"missing.png.*0.jpg.*MaskBlock"):
        SegmentationDataLoaders.from_label_func(
            tmp_path, files, lambda f: tmp_path / "missing.png", **FAST
        )
    Image.new("L", (10, 10)).save(tmp_path / "labels" / "0_P.png")  # wrong size
    dls = SegmentationDataLoaders.from_label_func(
        tmp_path,
        files,
        lambda f: tmp_path / "labels" / f"{f.stem}_P.png",
        codes=["a", "b"],
        item_tfms=Resize(8),
        splitter=lambda items: (list(range(len(items))), []),
        **FAST,
    )
    ds = dls.train.dataset
    i = [f.name for f, _ in ds.items].index("0.jpg")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds[i]
    assert any(
        "0_P.png" in str(w.message) and "0.jpg" in str(w.message) and "10x10" in str(w.message)
        for w in caught
    )


def test_show_batch_writes_a_png(pets, tmp_path):
    dls = ImageDataLoaders.from_name_re(
        pets,
        get_image_files(pets),
        r"^(.+)_\d",
        seed=0,
        item_tfms=Resize(16),
        batch_tfms=Normalize.from_stats((0.5,) * 3, (0.2,) * 3),
        **FAST,
    )
    out = tmp_path / "batch.png"
    fig = dls.show_batch(max_n=4, path=out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 4 and set(titles) <= set(dls.vocab)
    shown = fig.axes[0].images[0].get_array()
    assert 0 <= shown.min() and shown.max() <= 1  # de-normalised for display


def test_one_grid_sample_per_training_batch(pets):
    from unittest import mock

    import torch.nn.functional as F

    from fastlearn.vision import augment

    dls = ImageDataLoaders.from_name_func(
        pets,
        get_image_files(pets),
        lambda n: n[0].isupper(),
        item_tfms=Resize(16),
        batch_tfms=aug_transforms(size=12),
        valid_pct=0.2,
        seed=0,
        **FAST,
    )
    with mock.patch.object(augment.F, "grid_sample", wraps=F.grid_sample) as spy:
        n_batches = sum(1 for _ in dls.train)
        assert spy.call_count == n_batches == 4
        assert all(xb.shape[-2:] == (12, 12) for xb, _ in dls.valid)  # no resampling there
        assert spy.call_count == 4


def test_loaders_over_a_tensor_dataset():
    from torch.utils.data import TensorDataset

    from fastlearn.core.data import DataLoader

    x = torch.randint(0, 256, (8, 1, 6, 6), dtype=torch.uint8)
    dl = DataLoader(TensorDataset(x, torch.arange(8) % 2), 4, batch_tfms=[IntToFloat()])
    dls = ImageDataLoaders(dl, vocab=["a", "b"], device="cpu")
    assert dls.n_channels == 1 and dls.item_size is None and dls.n_out == 2
    assert dls.one_batch()[0].dtype == torch.float32
