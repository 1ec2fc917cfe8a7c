"""The vision blocks of the DataBlock: ImageBlock, MaskBlock, PointBlock, the factories built on
them, points that follow their image, and the errors of a broken image pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fastlearn.core.collections import L, Path
from fastlearn.core.datablock import CategoryBlock, DataBlock, DataBlockError
from fastlearn.core.getters import RegexLabeller, parent_label
from fastlearn.core.splitters import RandomSplitter
from fastlearn.core.torch_utils import set_seed
from fastlearn.vision import (
    AffineWarp,
    CenterResize,
    ImageBlock,
    ImageDataLoaders,
    IntToFloat,
    MaskBlock,
    PointBlock,
    RandomResizedCrop,
    Resize,
    SegmentationDataLoaders,
    TensorPoint,
    aug_transforms,
    get_image_files,
)
from fastlearn.vision import RegexLabeller as VisionRegexLabeller
from fastlearn.vision.image import image_to_tensor, open_image
from fastlearn.vision.pil import PILImageBW

FAST = dict(bs=4, num_workers=0, device="cpu")
BREEDS = ["Bengal", "Abyssinian", "beagle", "pug"]


def breed(f):
    return f.name.split("_")[0]


def write_image(path, h, w, mode="RGB", seed=0, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(arr).convert(mode).save(path, format=fmt)
    return path


@pytest.fixture
def pets(tmp_path):
    """4 breeds x 5 images of mixed sizes and modes: 'Bengal_3.png', ..."""
    for b, breed in enumerate(BREEDS):
        for i in range(5):
            write_image(
                tmp_path / "images" / f"{breed}_{i}.png",
                20 + 2 * i,
                28 + i,
                ["RGB", "L", "RGBA"][i % 3],
                seed=10 * b + i,
            )
    return tmp_path / "images"


# ---------------------------------------------------------------------------- the factories
def test_get_image_files_is_an_L_of_core_paths_and_regex_labeller_is_core(pets):
    files = get_image_files(pets)
    assert isinstance(files, L) and all(type(f) is Path for f in files) and len(files) == 20
    assert files[0].name == "Abyssinian_0.png" and files.attrgot("suffix").unique() == [".png"]
    assert VisionRegexLabeller is RegexLabeller


def test_factory_split_vocab_targets_and_batches_by_hand(pets):
    files = get_image_files(pets)
    dls = ImageDataLoaders.from_name_re(
        pets, files, r"^(.+)_\d+\.png$", valid_pct=0.2, seed=42, item_tfms=Resize(12), **FAST
    )
    assert dls.vocab == ["Abyssinian", "Bengal", "beagle", "pug"]  # sorted: capitals first
    assert (len(dls.train.dataset), len(dls.valid.dataset)) == (16, 4)
    perm = torch.randperm(20, generator=torch.Generator().manual_seed(42)).tolist()
    assert dls.valid.dataset.items == [files[i] for i in perm[:4]]
    assert dls.train.dataset.items == [files[i] for i in perm[4:]]
    for ds in (dls.train.dataset, dls.valid.dataset):
        expected = [dls.vocab.index(f.name.split("_")[0]) for f in ds.items]
        assert ds.targets.tolist() == expected
    # validation batches: each file decoded to RGB, centre-cropped to 12x12, in [0, 1]
    xb, yb = dls.valid.one_batch()
    ref = (
        torch.stack(
            [
                image_to_tensor(Resize(12)(open_image(f), train=False))
                for f in dls.valid.dataset.items
            ]
        ).float()
        / 255
    )
    assert torch.equal(xb, ref) and yb.tolist() == dls.valid.dataset.targets.tolist()


def test_factory_is_a_thin_datablock_wrapper(pets):
    files = get_image_files(pets)
    kwargs = dict(item_tfms=Resize(16), batch_tfms=aug_transforms(size=12), **FAST)
    dls = ImageDataLoaders.from_name_re(pets, files, r"^(.+)_\d", valid_pct=0.25, seed=3, **kwargs)
    block = DataBlock(
        blocks=(ImageBlock, CategoryBlock),
        get_y=RegexLabeller(r"^(.+)_\d"),
        splitter=RandomSplitter(0.25, seed=3),
        item_tfms=Resize(16),
        batch_tfms=aug_transforms(size=12),
    )
    direct = block.dataloaders(files, **FAST, path=pets)
    assert type(direct) is ImageDataLoaders and direct.vocab == dls.vocab
    assert direct.valid.dataset.items == dls.valid.dataset.items
    for (xa, ya), (xb, yb) in zip(dls.valid, direct.valid):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert direct.task == "classification" and direct.path == pets
    assert [type(t).__name__ for t in direct.train.batch_tfms] == [
        "IntToFloat",
        "AffineWarp",
        "CenterResize",
        "Lighting",
    ]


def test_one_class_is_an_error_in_factories_and_cli(tmp_path, capsys):
    from fastlearn.cli import main

    for i in range(6):
        write_image(tmp_path / "images" / f"{i}.png", 8, 8, seed=i)
    with pytest.raises(DataBlockError, match=r"found 1 class: \['images'\].*parent_label"):
        ImageDataLoaders.from_folder(tmp_path / "images", valid_pct=0.2, seed=0, **FAST)
    with pytest.raises(DataBlockError, match=r"found 1 class: \['cat'\]"):
        ImageDataLoaders.from_name_func(
            tmp_path, get_image_files(tmp_path), lambda n: "cat", **FAST
        )
    assert (
        main(
            [
                "train",
                "images",
                str(tmp_path / "images"),
                "--no-pretrained",
                "--size",
                "8",
                "--epochs",
                "1",
                "--out",
                str(tmp_path / "m.fl"),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "found 1 class: ['images']" in err and "parent_label" in err
    assert not (tmp_path / "m.fl").exists()


# ---------------------------------------------------------------------------- the blocks
def test_image_block_modes_and_several_targets(pets):
    grey = DataBlock(
        blocks=(ImageBlock(cls=PILImageBW), CategoryBlock),
        get_items=get_image_files,
        get_y=lambda f: f.name[0].isupper(),
        item_tfms=Resize(8),
        splitter=RandomSplitter(seed=0),
    )
    dls = grey.dataloaders(pets, **FAST)
    assert dls.n_channels == 1 and dls.one_batch()[0].shape == (4, 1, 8, 8)
    two = DataBlock(
        blocks=(ImageBlock, CategoryBlock, CategoryBlock),
        n_inp=1,
        get_items=get_image_files,
        item_tfms=Resize(8),
        splitter=RandomSplitter(seed=0),
        get_y=[lambda f: f.name.split("_")[0], lambda f: f.name[0].isupper()],
    )
    dls = two.dataloaders(pets, **FAST)
    x, breed, cat = dls.one_batch()
    assert x.shape == (4, 3, 8, 8) and breed.shape == cat.shape == (4,)
    items = dls.train.dataset.items
    assert [dls.vocab[int(b)] for b in dls.train.dataset[0][1:2]] == [items[0].name.split("_")[0]]
    assert int(dls.train.dataset[0][2]) == int(items[0].name[0].isupper())


def test_mask_block_gives_segmentation_loaders(tmp_path):
    for i in range(6):
        img, mask = np.zeros((24, 32, 3), np.uint8), np.zeros((24, 32), np.uint8)
        img[4 + i : 14 + i, 6:20], mask[4 + i : 14 + i, 6:20] = 255, 1
        (tmp_path / "labels").mkdir(exist_ok=True)
        write_image(tmp_path / "images" / f"{i}.png", 24, 32)
        Image.fromarray(img).save(tmp_path / "images" / f"{i}.png")
        Image.fromarray(mask, "L").save(tmp_path / "labels" / f"{i}_P.png")
    block = DataBlock(
        blocks=(ImageBlock, MaskBlock(codes=["bg", "square"])),
        get_items=get_image_files,
        get_y=lambda f: f.parent.parent / "labels" / f"{f.stem}_P.png",
        item_tfms=Resize(20),
        batch_tfms=aug_transforms(p_affine=1.0),
        splitter=RandomSplitter(seed=0),
    )
    dls = block.dataloaders(tmp_path / "images", **FAST)
    assert type(dls) is SegmentationDataLoaders and dls.vocab == ["bg", "square"]
    x, m = dls.one_batch()
    assert x.shape == (4, 3, 20, 20) and m.shape == (4, 20, 20) and m.dtype == torch.long
    assert ((x[:, 0] > 0.5) == (m == 1)).float().mean() > 0.95
    assert dls.task == "segmentation" and dls.n_out == 2


# ---------------------------------------------------------------------------- points
def bright_spots(root, n_images=6, big_jpeg=True):
    """Black images with a 3x3 red spot and a 3x3 green one; their centres as the points."""
    rng, points = np.random.default_rng(0), {}
    for i in range(n_images):
        w, h = (
            (400, 300)
            if big_jpeg and i == 0
            else (int(rng.integers(60, 100)), int(rng.integers(50, 80)))
        )
        arr, pts = np.zeros((h, w, 3), np.uint8), []
        for channel in range(2):
            x, y = int(rng.integers(w // 5, w - w // 5)), int(rng.integers(h // 5, h - h // 5))
            r = 3 if w > 200 else 1  # the big JPEG is decoded at 1/4 (draft): a bigger spot
            arr[y - r : y + r + 1, x - r : x + r + 1, channel] = 255
            pts.append([x + 0.5, y + 0.5])  # the spot's centre, in pixels (x, y)
        name = f"{i}.jpg" if i % 2 == 0 else f"{i}.png"
        Image.fromarray(arr).save(
            root / name, **({"quality": 100, "subsampling": 0} if name.endswith("jpg") else {})
        )
        points[name] = pts
    return points


def spot_errors(xb, yb):
    """Distances (pixels) from each point inside the image to the brightest pixel of its
    channel."""
    (h, w), out = xb.shape[-2:], []
    for b in range(len(xb)):
        for c in range(yb.shape[1]):
            px = (yb[b, c] + 1) / 2 * torch.tensor([w, h])
            if 2 < px[0] < w - 2 and 2 < px[1] < h - 2:
                y, x = divmod(int(xb[b, c].argmax()), w)
                out.append(float(torch.dist(px, torch.tensor([x + 0.5, y + 0.5]))))
    return out


FORCED = dict(
    flip_vert=True,
    max_rotate=30.0,
    min_zoom=0.8,
    max_zoom=1.3,
    max_warp=0.3,
    p_affine=1.0,
    pad_mode="zeros",
)


@pytest.mark.parametrize(
    "item_tfm",
    [
        Resize(40),
        Resize((40, 56), "pad", pad_mode="zeros"),
        Resize(40, "squish"),
        RandomResizedCrop(40, min_scale=0.5),
    ],
    ids=["crop", "pad", "squish", "rrc"],
)
@pytest.mark.parametrize(
    "batch_tfms",
    [
        [],
        [AffineWarp(flip_p=1.0, **FORCED)],
        aug_transforms(size=32, min_scale=0.5, max_lighting=0, **FORCED),
    ],
    ids=["none", "warp", "presize"],
)
def test_points_land_on_their_bright_pixel(tmp_path, item_tfm, batch_tfms):
    points = bright_spots(tmp_path)
    block = DataBlock(
        blocks=(ImageBlock, PointBlock),
        get_items=get_image_files,
        get_y=lambda f: points[f.name],
        splitter=lambda items: ([0, 1, 2, 3], [4, 5]),
        item_tfms=item_tfm,
        batch_tfms=batch_tfms,
    )
    set_seed(0)
    dls = block.dataloaders(tmp_path, **FAST)
    assert dls.task == "points" and dls.n_out == 4 and type(dls.loss_func).__name__ == "MSELossFlat"
    assert dls.train.dataset.draft_size is not None  # the 400x300 JPEG is decoded smaller
    for dl in (dls.train, dls.valid):
        xb, yb = dl.one_batch()
        assert xb.shape[:2] == (len(xb), 3) and yb.shape == (len(xb), 2, 2)
        assert isinstance(yb, TensorPoint) and yb.dtype == torch.float32
        errors = spot_errors(xb, yb)
        assert len(errors) >= 2 and max(errors) < 1.5, errors


def test_batch_transforms_move_points_by_hand(tmp_path):
    points = bright_spots(tmp_path, big_jpeg=False)
    block = DataBlock(
        blocks=(ImageBlock, PointBlock),
        get_items=get_image_files,
        get_y=lambda f: points[f.name],
        item_tfms=Resize((40, 56)),
        splitter=lambda items: (list(range(6)), []),
    )
    xb, yb = block.dataloaders(tmp_path, bs=6, num_workers=0, device="cpu").train.one_batch()
    x, y = IntToFloat()((xb, yb))
    flipped = AffineWarp(flip_p=1.0, p_affine=0.0)((x, y))[1]  # a mirror: x -> -x
    assert torch.allclose(flipped, torch.stack([-y[..., 0], y[..., 1]], -1), atol=1e-5)
    # CenterResize(32) of 40x56: the centre 40x40 (8 columns off each side), scaled
    centred = CenterResize(32)((x, y))[1]
    assert torch.allclose(centred[..., 0], ((y[..., 0] + 1) * 28 - 8) / 20 - 1, atol=1e-5)
    assert torch.allclose(centred[..., 1], y[..., 1], atol=1e-5)
    torch.manual_seed(0)
    xw, yw = AffineWarp(flip_p=1.0, **FORCED)((x, y))
    assert (yw - y).abs().mean() > 0.1 and max(spot_errors(xw, yw)) < 1.5
    assert type(yw) is TensorPoint and type(centred) is TensorPoint


def test_points_follow_through_worker_processes_and_a_learner(tmp_path):
    from fastlearn.vision.learner import VisionLearner
    from fastlearn.vision.models import simple_cnn

    points = bright_spots(tmp_path, big_jpeg=False)
    block = DataBlock(
        blocks=(ImageBlock, PointBlock),
        get_items=get_image_files,
        get_y=lambda f: torch.tensor(points[f.name]),
        item_tfms=Resize(32),
        batch_tfms=aug_transforms(pad_mode="zeros"),
        splitter=lambda items: ([0, 1, 2, 3], [4, 5]),
    )
    dls = block.dataloaders(tmp_path, bs=2, num_workers=2, device="cpu")
    xb, yb = dls.one_batch()
    assert isinstance(yb, TensorPoint) and max(spot_errors(xb, yb)) < 1.5
    loss = dls.loss_func(torch.zeros(2, 4), yb)
    assert type(loss) is torch.Tensor  # the marker type stays out of losses
    learn = VisionLearner(dls, simple_cnn(4, (8, 16)), show_progress=False)
    learn.fit(1, 1e-3)
    assert np.isfinite(learn.recorder.history[0]["valid_loss"])


# ---------------------------------------------------------------------------- bad input
def test_wrong_values_for_the_image_block_name_the_getter_and_value(pets, tmp_path):
    with pytest.raises(
        DataBlockError,
        match=r"get_x parent_label returned str 'images'.*"
        r"ImageBlock takes image files; 'images' does not",
    ):
        DataBlock(
            blocks=(ImageBlock, CategoryBlock),
            get_items=get_image_files,
            get_x=parent_label,
            get_y=breed,
        ).datasets(pets)

    def size(f):
        return 3

    with pytest.raises(
        DataBlockError,
        match=r"get_x size returned int 3 .*ImageBlock takes an "
        r"image: a file path",
    ):
        DataBlock(
            blocks=(ImageBlock, CategoryBlock), get_items=get_image_files, get_x=size, get_y=breed
        ).datasets(pets)
    missing = pets / "deep" / "folder" / "with" / "a" / "long" / "name" / "Bengal_99.png"
    with pytest.raises(DataBlockError, match=f"{missing}.*does not exist"):
        ImageDataLoaders.from_lists(
            pets, ["Bengal_0.png", "pug_1.png", missing] * 2, ["a", "b", "a"] * 2, **FAST
        )
    with pytest.raises(DataBlockError, match=r"PointBlock takes \(n, 2\).*shape \(3,\)"):
        DataBlock(
            blocks=(ImageBlock, PointBlock),
            get_items=get_image_files,
            get_y=lambda f: [1.0, 2.0, 3.0],
        ).datasets(pets)


def test_a_file_gone_after_setup_is_reported_with_its_path(pets):
    dls = ImageDataLoaders.from_name_func(
        pets,
        get_image_files(pets),
        lambda n: n[0].isupper(),
        item_tfms=Resize(8),
        splitter=lambda items: (list(range(20)), []),
        shuffle=False,
        **FAST,
    )
    gone = dls.train.dataset.items[0]
    gone.unlink()
    with pytest.warns(UserWarning, match=f"Skipping item .*{gone.name}.*No such file"):
        dls.one_batch()


def test_summary_points_at_the_failing_step(pets, capsys):
    def boom(img):
        raise RuntimeError("boom")

    block = DataBlock(
        blocks=(ImageBlock, CategoryBlock),
        get_items=get_image_files,
        get_y=breed,
        item_tfms=[Resize(8), boom],
    )
    with pytest.raises(
        DataBlockError,
        match=r"Step item_tfms .*boom.* failed on Image mode=RGB "
        r"size=8x8.*RuntimeError: boom",
    ):
        block.summary(pets.parent)
    out = capsys.readouterr().out
    assert "item_tfms Resize((8, 8), method='crop') -> Image mode=RGB size=8x8" in out
    assert "FAILED: Step item_tfms" in out

    nowhere = DataBlock(
        blocks=(ImageBlock, CategoryBlock),
        get_items=get_image_files,
        get_x=lambda f: f.with_suffix(".jpg"),
        get_y=breed,
    )
    with pytest.raises(DataBlockError, match=r"get_x .*Abyssinian_0.jpg.*does not exist"):
        nowhere.summary(pets.parent)
    assert "FAILED: get_x" in capsys.readouterr().out

    (pets / "Abyssinian_0.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    broken = DataBlock(
        blocks=(ImageBlock, CategoryBlock),
        get_items=get_image_files,
        get_y=breed,
        splitter=lambda items: (list(range(len(items))), []),
    )
    with pytest.raises(
        DataBlockError,
        match=r"Step decode open_image.*Abyssinian_0.png.*"
        r"UnidentifiedImageError",
    ):
        broken.summary(pets.parent)


def test_spatial_targets_come_first(pets):
    with pytest.raises(DataBlockError, match="mask, point or box blocks first"):
        DataBlock(
            blocks=(ImageBlock, CategoryBlock, PointBlock),
            n_inp=1,
            get_items=get_image_files,
            get_y=[breed, lambda f: [[1.0, 2.0]]],
        ).datasets(pets.parent)
