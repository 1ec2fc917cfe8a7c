"""Vision export: the loaded predictor equals learn.predict bit for bit, for every input kind."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import TensorDataset

from fastlearn import BCEWithLogitsLossFlat, DataLoaders, set_seed
from fastlearn.core.export import ExportError, load_learner, read_model_file
from fastlearn.vision.augment import IntToFloat, Resize, aug_transforms
from fastlearn.vision.data import ImageDataLoaders, SegmentationDataLoaders
from fastlearn.vision.export import VisionPredictor
from fastlearn.vision.learner import VisionLearner, unet_learner, vision_learner
from fastlearn.vision.models import register_arch, simple_cnn
from fastlearn.vision.models.layers import conv_bn_relu
from fastlearn.vision.models.registry import _REGISTRY

STATS = ((0.2, 0.3, 0.4), (0.5, 0.6, 0.7))


def tiny_net(pretrained: bool = False, num_classes: int = 1000) -> nn.Sequential:
    return nn.Sequential(
        conv_bn_relu(3, 8, stride=2),
        conv_bn_relu(8, 16, stride=2),
        conv_bn_relu(16, 16, stride=2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, num_classes),
    )


@pytest.fixture(autouse=True, scope="module")
def tiny_arch():
    register_arch(
        "tiny_export", tiny_net, cut=-3, meta={"stats": STATS, "split": 1}, overwrite=True
    )
    yield
    _REGISTRY.pop("tiny_export", None)


def trained(learn):
    """A few steps with BatchNorm statistics moved, so nothing is at its initial value."""
    learn.fit(1, 1e-2)
    return learn


def same(a, b) -> bool:
    """Bit-for-bit equality of predict results (labels, indices, probabilities)."""
    return all(torch.equal(x, y) if isinstance(x, torch.Tensor) else x == y for x, y in zip(a, b))


def write_images(folder, n: int = 12):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    files = []
    for i in range(n):
        arr = rng.integers(0, 256, (60 + 4 * i, 90, 3), dtype=np.uint8)  # mixed sizes
        name = f"{'Cat' if i % 2 else 'dog'}_{i}." + ("jpg" if i % 3 == 0 else "png")
        Image.fromarray(arr).save(folder / name)
        files.append(folder / name)
    return files


# ---------------------------------------------------------------------------- classification
@pytest.mark.parametrize(
    "item_tfms",
    [Resize(32), Resize((28, 36), method="pad", pad_mode="zeros"), Resize(32, method="squish")],
    ids=repr,
)
def test_image_predictor_equals_learn_predict_for_every_input_kind(tmp_path, item_tfms):
    set_seed(0)
    files = write_images(tmp_path / "images")
    dls = ImageDataLoaders.from_name_func(
        tmp_path,
        files,
        lambda f: f[0].isupper(),
        seed=0,
        item_tfms=item_tfms,
        bs=4,
        num_workers=0,
        device="cpu",
    )
    learn = trained(vision_learner(dls, "tiny_export", show_progress=False))
    predictor = load_learner(learn.export(tmp_path / "model.fl"))
    assert isinstance(predictor, VisionPredictor)
    jpg = files[0]  # a JPEG: decoded in draft mode by both
    arr = np.asarray(Image.open(files[1]).convert("RGB"))
    chw = torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()
    inputs = [jpg, str(files[1]), jpg.read_bytes(), Image.open(files[1]), chw, chw.float() / 255]
    for item in inputs:
        assert same(predictor.predict(item), learn.predict(item)), type(item)
    batch = predictor.predict_batch([jpg, files[1]])
    assert [b[0] for b in batch] == [learn.predict(jpg)[0], learn.predict(files[1])[0]]


def test_presizing_and_normalisation_are_recorded_exactly(tmp_path):
    set_seed(0)
    files = write_images(tmp_path / "images")
    dls = ImageDataLoaders.from_name_func(
        tmp_path,
        files,
        lambda f: f[0].isupper(),
        seed=0,
        item_tfms=Resize(48),
        batch_tfms=aug_transforms(size=32, min_scale=0.75),
        bs=4,
        num_workers=0,
        device="cpu",
    )
    learn = trained(vision_learner(dls, "tiny_export", show_progress=False))
    path = learn.export(tmp_path / "model.fl")
    config, _ = read_model_file(path)
    pre = config["preprocessing"]
    assert pre["item_tfms"] == [
        {"name": "Resize", "size": [48, 48], "method": "crop", "pad_mode": "reflection"}
    ]
    assert pre["batch_tfms"] == [
        {"name": "IntToFloat"},
        {"name": "CenterResize", "size": [32, 32]},
        {"name": "Normalize", "mean": list(STATS[0]), "std": list(STATS[1])},
    ]
    assert pre["mode"] == "RGB"
    assert config["vocab"] == [False, True] and config["builder"] == "vision_classifier"
    predictor = load_learner(path)
    assert same(predictor.predict(files[3]), learn.predict(files[3]))
    assert predictor.info()["inputs"] == {
        "kind": "image",
        "size": [32, 32],
        "n_channels": 3,
        "mode": "RGB",
    }


def test_tensor_inputs_and_a_custom_registered_builder(tmp_path):
    set_seed(0)
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(24, 1, 28, 28, generator=g) * 255).to(torch.uint8)
    y = torch.arange(24) % 2
    dls = DataLoaders.from_dsets(
        TensorDataset(x[:16], y[:16]),
        TensorDataset(x[16:], y[16:]),
        bs=8,
        device="cpu",
        vocab=["3", "7"],
        batch_tfms=[IntToFloat()],
    )
    learn = trained(
        VisionLearner(
            dls,
            simple_cnn(2, in_channels=1),
            builder="simple_cnn",
            builder_kwargs={"n_out": 2, "in_channels": 1},
            show_progress=False,
        )
    )
    predictor = load_learner(learn.export(tmp_path / "mnist.fl"))
    assert same(predictor.predict(x[20]), learn.predict(x[20]))
    assert predictor.info()["inputs"] == {"kind": "tensor", "shape": [1, 28, 28]}


def test_multi_label_threshold_and_regression_survive_export(tmp_path):
    set_seed(0)
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(24, 3, 32, 32, generator=g) * 255).to(torch.uint8)
    multi_hot = (torch.rand(24, 3, generator=g) > 0.5).float()
    dls = DataLoaders.from_dsets(
        TensorDataset(x[:16], multi_hot[:16]),
        TensorDataset(x[16:], multi_hot[16:]),
        bs=8,
        device="cpu",
        vocab=["x", "y", "z"],
        batch_tfms=[IntToFloat()],
    )
    learn = trained(
        vision_learner(
            dls, "tiny_export", loss_func=BCEWithLogitsLossFlat(thresh=0.4), show_progress=False
        )
    )
    predictor = load_learner(learn.export(tmp_path / "multi.fl"))
    for item in x[16:20]:
        labels, hot, probs = predictor.predict(item)
        assert same((labels, hot, probs), learn.predict(item))
        assert torch.equal(hot, probs > 0.4)

    reg = DataLoaders.from_dsets(
        TensorDataset(x[:16], torch.rand(16, 2)),
        TensorDataset(x[16:], torch.rand(8, 2)),
        bs=8,
        device="cpu",
        batch_tfms=[IntToFloat()],
    )
    learn = trained(vision_learner(reg, "tiny_export", y_range=(0, 1), show_progress=False))
    predictor = load_learner(learn.export(tmp_path / "reg.fl"))
    assert same(predictor.predict(x[17]), learn.predict(x[17]))


# ---------------------------------------------------------------------------- segmentation
def test_segmentation_predictor_returns_the_mask(tmp_path):
    set_seed(0)
    files = write_images(tmp_path / "images", n=6)
    (tmp_path / "masks").mkdir()
    for f in files:
        arr = (np.asarray(Image.open(f))[..., 0] > 127).astype(np.uint8)
        Image.fromarray(arr).save(tmp_path / "masks" / f"{f.stem}.png")
    dls = SegmentationDataLoaders.from_label_func(
        tmp_path,
        files,
        lambda f: tmp_path / "masks" / f"{f.stem}.png",
        codes=["bg", "fg"],
        item_tfms=Resize(32),
        bs=2,
        num_workers=0,
        device="cpu",
        seed=0,
    )
    learn = trained(unet_learner(dls, "tiny_export", show_progress=False))
    predictor = load_learner(learn.export(tmp_path / "unet.fl"))
    mask, idx, probs = predictor.predict(files[1])
    assert mask.shape == (32, 32) and probs.shape == (2, 32, 32)
    assert same((mask, idx, probs), learn.predict(files[1]))
    assert predictor.info()["task"] == "segmentation"


# ---------------------------------------------------------------------------- errors
def test_what_cannot_be_exported_is_named(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(16, 3, 32, 32, generator=g) * 255).to(torch.uint8)
    dls = DataLoaders.from_dsets(
        TensorDataset(x[:8], torch.arange(8) % 2),
        TensorDataset(x[8:], torch.arange(8) % 2),
        bs=8,
        device="cpu",
        vocab=["a", "b"],
        batch_tfms=[IntToFloat()],
    )

    def unregistered(pretrained: bool = False) -> nn.Module:
        return tiny_net(pretrained)

    learn = vision_learner(dls, unregistered, pretrained=False, show_progress=False)
    with pytest.raises(ExportError, match="builder"):
        learn.export(tmp_path / "m.fl")

    files = write_images(tmp_path / "images", n=6)
    odd = ImageDataLoaders.from_name_func(
        tmp_path,
        files,
        lambda f: f[0].isupper(),
        seed=0,
        item_tfms=[Resize(32), lambda img: img],
        bs=2,
        num_workers=0,
        device="cpu",
    )
    learn = vision_learner(odd, "tiny_export", show_progress=False)
    with pytest.raises(ExportError, match="item transforms"):
        learn.export(tmp_path / "m.fl")


def test_predictor_refuses_bad_inputs_clearly(tmp_path):
    files = write_images(tmp_path / "images", n=6)
    dls = ImageDataLoaders.from_name_func(
        tmp_path,
        files,
        lambda f: f[0].isupper(),
        seed=0,
        item_tfms=Resize(32),
        bs=2,
        num_workers=0,
        device="cpu",
    )
    predictor = load_learner(
        vision_learner(dls, "tiny_export", show_progress=False).export(tmp_path / "m.fl")
    )
    with pytest.raises(ValueError, match=r"item 0 \(9 bytes\) as an image: .*Unidentified"):
        predictor.predict(b"not a jpg")
    with pytest.raises(TypeError, match="Expected an image"):
        predictor.predict({"x": 1})
    buf = io.BytesIO()
    Image.new("L", (50, 40), 128).save(buf, format="PNG")  # grey: converted to RGB
    assert predictor.predict(buf.getvalue())[2].shape == (2,)
