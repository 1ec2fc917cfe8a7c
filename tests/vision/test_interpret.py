"""Interpretation on images: top losses drawn, activation hooks, Grad-CAM by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from fastlearn import DataLoaders, Learner, set_seed
from fastlearn.core.losses import CrossEntropyLossFlat
from fastlearn.vision.augment import IntToFloat, Normalize
from fastlearn.vision.interpret import (
    ClassificationInterpretation,
    Hook,
    SegmentationInterpretation,
    grad_cam,
    hook_output,
    hook_outputs,
    plot_grad_cam,
)
from fastlearn.vision.learner import VisionLearner


def tiny_cnn(n_out: int = 3) -> nn.Sequential:
    """Sequential(body, head), the layout vision_learner builds: conv+ReLU, then avg pool."""
    body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, n_out))
    return nn.Sequential(body, head)


def dls(n: int = 24, n_valid: int = 12, size: int = 8, n_classes: int = 3) -> DataLoaders:
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(n + n_valid, 3, size, size, generator=g) * 255).to(torch.uint8)
    y = torch.arange(n + n_valid) % n_classes
    return DataLoaders.from_dsets(
        TensorDataset(x[:n], y[:n]),
        TensorDataset(x[n:], y[n:]),
        bs=8,
        device="cpu",
        vocab=["ant", "bee", "cat"][:n_classes],
        batch_tfms=[IntToFloat(), Normalize((0.5,) * 3, (0.25,) * 3)],
    )


def learner(model: nn.Module | None = None) -> VisionLearner:
    set_seed(0)
    return VisionLearner(dls(), model or tiny_cnn(), show_progress=False)


# ---------------------------------------------------------------------------- hooks
def test_hook_records_the_output_and_stops_when_removed():
    model = tiny_cnn().eval()
    x = torch.randn(2, 3, 8, 8)
    with Hook(model[0]) as hook:
        out = model(x)
    expected = torch.relu(model[0][0](x))
    assert torch.equal(hook.stored, expected) and not hook.stored.requires_grad
    assert out.shape == (2, 3)
    model(torch.zeros(1, 3, 8, 8))
    assert hook.stored.shape[0] == 2  # removed: not overwritten


def test_hook_outputs_on_several_layers_and_a_function():
    model = tiny_cnn().eval()
    x = torch.randn(2, 3, 8, 8)
    with hook_outputs([model[0][0], model[1][1], model[1]]) as hooks:
        model(x)
    conv, flat, logits = hooks.stored
    assert conv.shape == (2, 4, 8, 8) and flat.shape == (2, 4)
    assert torch.allclose(logits, model(x)) and len(hooks) == 3
    with Hook(model[1][0], lambda m, i, o: o.mean().item()) as mean_hook:
        model(x)
    assert mean_hook.stored == pytest.approx(flat.mean().item())


def test_gradient_hook_matches_autograd():
    model = tiny_cnn()
    x = torch.randn(2, 3, 8, 8)
    with hook_output(model[1], grad=True) as hook:
        model(x).pow(2).sum().backward()
    assert torch.allclose(hook.stored, 2 * model(x).detach())


# ---------------------------------------------------------------------------- Grad-CAM
def hand_grad_cam(model: nn.Sequential, x: torch.Tensor, cls: int) -> torch.Tensor:
    """score = W[c] . mean_ij(A) + b, so d score / d A_k[i, j] = W[c, k] / (h w)."""
    with torch.no_grad():
        a = torch.relu(model[0][0](x))[0]  # (K, h, w)
        h, w = a.shape[-2:]
        weights = model[1][2].weight[cls] / (h * w)  # (K,): the gradient, the same everywhere
        return torch.relu((weights[:, None, None] * a).sum(0))


def test_grad_cam_equals_the_hand_computation():
    learn = learner()
    x = learn.dls.valid.one_batch()[0][:1]
    for cls in range(3):
        cam = grad_cam(learn, x, target_class=cls)
        assert cam.shape == (8, 8)
        assert torch.allclose(cam, hand_grad_cam(learn.model, x, cls), atol=1e-6)
    predicted = int(learn.model.eval()(x).argmax())
    assert torch.allclose(grad_cam(learn, x), hand_grad_cam(learn.model, x, predicted), atol=1e-6)


def test_grad_cam_takes_an_item_and_works_with_a_frozen_model():
    learn = learner()
    item = learn.dls.valid.dataset.tensors[0][0]  # uint8 (3, 8, 8): preprocessed like predict
    x = learn.dls.test_dl([item]).one_batch()[0]
    for p in learn.model.parameters():
        p.requires_grad_(False)
    learn.model.train()
    cam = grad_cam(learn, item, target_class=1)
    assert torch.allclose(cam, hand_grad_cam(learn.model, x, 1), atol=1e-6)
    assert learn.model.training  # the mode is restored
    assert all(p.grad is None for p in learn.model.parameters())


def test_grad_cam_on_a_chosen_layer_before_an_inplace_relu():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    )
    learn = learner(model)
    x = learn.dls.valid.one_batch()[0][:1]
    cam = grad_cam(learn, x, target_class=0, layer=model[0])
    with torch.no_grad():
        a = model[0](x)[0]
        grad = (a > 0).float() * model[4].weight[0][:, None, None] / 64
        expected = torch.relu((grad.mean((1, 2))[:, None, None] * a).sum(0))
    assert torch.allclose(cam, expected, atol=1e-6)


def test_plot_grad_cam_saves_a_png(tmp_path):
    learn = learner()
    plot_grad_cam(learn, learn.dls.valid.dataset.tensors[0][0], path=tmp_path / "cam.png")
    assert (tmp_path / "cam.png").read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------------------- interpretation
def test_plot_top_losses_draws_the_worst_images(tmp_path):
    learn = learner()
    learn.fit(1, 1e-2)
    interp = ClassificationInterpretation.from_learner(learn)
    losses, idxs = interp.top_losses(4)
    probs, targs = learn.get_preds()[:2]
    manual = nn.functional.cross_entropy(torch.log(probs), targs, reduction="none")
    assert torch.allclose(losses, manual.topk(4).values, atol=1e-5)
    fig = interp.plot_top_losses(4, path=tmp_path / "top.png")
    assert (tmp_path / "top.png").read_bytes()[:4] == b"\x89PNG"
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    i = int(idxs[0])
    pred = int(probs[i].argmax())
    assert titles[0] == (
        f"{interp.vocab[pred]}/{interp.vocab[int(targs[i])]}\n"
        f"{float(losses[0]):.2f} / {float(probs[i, pred]):.2f}"
    )
    assert int(interp.confusion_matrix().sum()) == len(targs)


def test_segmentation_interpretation_ranks_images_by_mean_pixel_loss(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(10, 3, 8, 8, generator=g) * 255).to(torch.uint8)
    masks = (x[:, 0] > 127).long()
    seg_dls = DataLoaders.from_dsets(
        TensorDataset(x[:6], masks[:6]),
        TensorDataset(x[6:], masks[6:]),
        bs=2,
        device="cpu",
        vocab=["bg", "fg"],
        batch_tfms=[IntToFloat()],
    )
    set_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1))
    learn = VisionLearner(
        seg_dls, model, CrossEntropyLossFlat(axis=1), task="segmentation", show_progress=False
    )
    interp = SegmentationInterpretation.from_learner(learn)
    with torch.no_grad():
        logits = model(x[6:].float() / 255)
    per_image = nn.functional.cross_entropy(logits, masks[6:], reduction="none").mean((1, 2))
    losses, idxs = interp.top_losses(2)
    assert torch.allclose(losses, per_image.topk(2).values, atol=1e-6)
    assert torch.equal(idxs, per_image.topk(2).indices)
    interp.plot_top_losses(2, path=tmp_path / "seg.png")
    assert (tmp_path / "seg.png").read_bytes()[:4] == b"\x89PNG"


def test_core_learner_works_too():
    """The helpers take any Learner, not only VisionLearner."""
    learn = Learner(dls(), tiny_cnn(), show_progress=False)
    x = learn.dls.valid.one_batch()[0][:1]
    assert torch.allclose(grad_cam(learn, x, 2), hand_grad_cam(learn.model, x, 2), atol=1e-6)
