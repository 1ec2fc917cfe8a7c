"""FCOS over the registered bodies: output layout, locations, parameter groups; the loss."""

from __future__ import annotations

import math

import pytest
import torch

from fastlearn.vision.detection.learner import build_detector
from fastlearn.vision.detection.loss import FCOSLoss, assign_targets, sigmoid_focal_loss
from fastlearn.vision.detection.model import FCOS, fcos_splitter, location_grid
from fastlearn.vision.detection.postprocess import DetectionPostprocess


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {
        arch: build_detector(arch, 3, width=32, n_convs=1)
        for arch in ("resnet18", "efficientnet_lite0", "tiny_detection_body")
    }


@pytest.mark.parametrize("arch", ["resnet18", "efficientnet_lite0", "tiny_detection_body"])
def test_output_layout_forward_backward(models, arch):
    model = models[arch]
    x = torch.randn(2, 3, 64, 96)
    out = model(x)
    n_loc = sum(math.ceil(64 / s) * math.ceil(96 / s) for s in model.strides)
    assert model.strides == [8, 16, 32, 64, 128]
    assert out.shape == (2, n_loc, 9 + 3)
    assert torch.isfinite(out).all()
    boxes, loc = out[..., :4], out[..., 4:8]
    assert (boxes[..., 0] <= loc[..., 0]).all() and (loc[..., 0] <= boxes[..., 2]).all()
    assert (boxes[..., 1] <= loc[..., 1]).all() and (loc[..., 1] <= boxes[..., 3]).all()
    # the first location of P3: pixel centre (4, 4) of a 96 x 64 image, stride 8
    torch.testing.assert_close(loc[0, 0], torch.tensor([4 / 48 - 1, 4 / 32 - 1, 16 / 96, 16 / 64]))
    out.sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    model.zero_grad()


@pytest.mark.parametrize("arch", ["resnet18", "efficientnet_lite0"])
def test_three_parameter_groups_cover_the_model(models, arch):
    model = models[arch]
    groups = fcos_splitter(model, split=6)
    ids = [id(p) for g in groups for p in g]
    assert len(groups) == 3 and all(groups)
    assert sorted(ids) == sorted(id(p) for p in model.parameters())
    assert {id(p) for p in model.head.parameters()} <= {id(p) for p in groups[2]}


def test_class_prior_makes_initial_scores_low(models):
    with torch.no_grad():
        out = models["tiny_detection_body"](torch.randn(1, 3, 64, 64))
    probs = torch.sigmoid(out[..., 9:])
    # FCOS's prior: no flood of boxes at the start
    assert float(probs.mean()) == pytest.approx(0.01, rel=0.2)


def test_location_grid():
    grid = location_grid(2, 3, 16, (32, 48), torch.zeros(1))
    assert grid[:, 0].tolist() == pytest.approx([-2 / 3, 0, 2 / 3] * 2)
    assert grid[:, 1].tolist() == pytest.approx([-0.5] * 3 + [0.5] * 3)


def points_for(model_strides, hw):
    h, w = hw
    return torch.cat(
        [
            location_grid(math.ceil(h / s), math.ceil(w / s), s, hw, torch.zeros(1))
            for s in model_strides
        ]
    )


def test_assignment_centre_sampling_and_levels():
    strides = [8, 16, 32, 64, 128]
    pts = points_for(strides, (128, 128))
    level = torch.cat([torch.full((math.ceil(128 / s) ** 2,), s) for s in strides])
    small = torch.tensor([[-0.3, -0.3, -0.1, -0.1]])  # 13 px: the finest level
    large = torch.tensor([[-0.9, -0.9, 0.9, 0.9]])  # 115 px: max distance ~57 px
    boxes = torch.stack([torch.cat([small, torch.zeros(1, 4)]), torch.cat([large, small])])
    labels = torch.tensor([[1, 0], [2, 1]])
    idx, pos, nearest = assign_targets(pts, boxes, labels)
    assert not nearest.any()  # every box has locations inside it
    assert set(level[pos[0]].tolist()) == {8}
    cx, cy = pts[:, 0], pts[:, 1]
    inside = (cx > -0.3) & (cx < -0.1) & (cy > -0.3) & (cy < -0.1)
    assert (pos[0] <= inside).all() and pos[0].sum() >= 1
    # image 1: the large box goes to stride 16 (57 px = 3.6 strides of 16 < 4: finer than 32)
    large_pos = pos[1] & (idx[1] == 0)
    assert large_pos.any() and set(level[large_pos].tolist()) <= {8, 16}
    # centre sampling: within 1.5 strides of the centre
    d = cx[large_pos].abs() / (2 * level[large_pos] / 128)
    assert (d < 1.5).all()


def test_a_box_smaller_than_a_stride_gets_its_nearest_location():
    """No location centre falls in a 3 x 3 px box: it still gets one, the nearest of the
    finest level, with centre-ness target 1."""
    pts = points_for([8, 16, 32, 64, 128], (128, 128))
    box = torch.tensor([[[9.0, 9.0, 12.0, 12.0]]]) / 64 - 1  # pixels 9..12: centres are 4, 12
    idx, pos, nearest = assign_targets(pts, box, torch.tensor([[1]]))
    assert pos.sum() == 1 and nearest.sum() == 1
    cx, cy = (pts[pos[0]][0, :2] + 1) * 64
    assert (cx.item(), cy.item()) == (12, 12) and pts[pos[0]][0, 2] == 16 / 128
    assert not assign_targets(pts, box, torch.tensor([[1]]), small_boxes=False)[1].any()
    preds = torch.zeros(1, len(pts), 9 + 1)
    preds[..., 4:8] = pts
    preds[..., :4] = torch.cat([pts[:, :2] - 0.01, pts[:, :2] + 0.01], -1)
    ctr = torch.zeros(1, len(pts))
    ctr[pos] = 5.0  # a confident centre-ness where the target is 1
    preds[..., 8] = ctr
    loss_low = FCOSLoss()(preds, box, torch.tensor([[1]]))
    preds[..., 8] = -ctr
    assert FCOSLoss()(preds, box, torch.tensor([[1]])) > loss_low


def test_focal_loss_formula():
    logits, targets = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([1.0, 0.0, 0.0])
    p = torch.sigmoid(logits)
    expected = torch.stack(
        [
            -0.25 * (1 - p[0]) ** 2 * torch.log(p[0]),
            -0.75 * p[1] ** 2 * torch.log(1 - p[1]),
            -0.75 * p[2] ** 2 * torch.log(1 - p[2]),
        ]
    )
    torch.testing.assert_close(sigmoid_focal_loss(logits, targets), expected)


@pytest.fixture(scope="module")
def batch(models):
    torch.manual_seed(1)
    preds = models["tiny_detection_body"](torch.randn(2, 3, 64, 64)).detach()
    boxes = torch.tensor(
        [
            [[-0.5, -0.5, 0.2, 0.3], [0.3, 0.3, 0.9, 0.8]],
            [[-0.8, 0.0, -0.2, 0.7], [0.0, 0.0, 0.0, 0.0]],
        ]
    )
    return preds, boxes, torch.tensor([[1, 2], [3, 0]])


def test_padding_and_empty_boxes_change_nothing(batch):
    preds, boxes, labels = batch
    loss = FCOSLoss()(preds, boxes, labels)
    more = torch.cat([boxes, torch.zeros(2, 3, 4)], 1)
    more[0, 2] = torch.tensor([0.1, 0.1, 0.1, 0.6])  # zero width (an augmentation's leftover)
    more_labels = torch.cat([labels, torch.tensor([[2, 0, 0], [0, 0, 0]])], 1)
    torch.testing.assert_close(FCOSLoss()(preds, more, more_labels), loss)


def test_images_without_boxes_are_background(batch):
    preds, _, _ = batch
    empty = FCOSLoss()(preds, torch.zeros(2, 0, 4), torch.zeros(2, 0, dtype=torch.long))
    focal_only = sigmoid_focal_loss(preds[..., 9:], torch.zeros_like(preds[..., 9:])).sum()
    torch.testing.assert_close(empty, focal_only)  # divided by max(positives, 1) = 1


def test_per_image_losses(batch):
    preds, boxes, labels = batch
    per_image = FCOSLoss(reduction="none")(preds, boxes, labels)
    assert per_image.shape == (2,)
    torch.testing.assert_close(
        per_image[1], FCOSLoss(reduction="none")(preds[1:], boxes[1:], labels[1:])[0]
    )


def test_loss_errors_name_the_shapes(batch):
    preds, boxes, labels = batch
    with pytest.raises(ValueError, match="boxes .B, n, 4. and labels"):
        FCOSLoss()(preds, boxes, labels[:, :1])
    with pytest.raises(ValueError, match="detector outputs"):
        FCOSLoss()(preds[..., :5], boxes, labels)


def test_postprocess_keeps_best_per_class_and_at_most_max_dets(batch):
    preds = batch[0].clone()
    preds[0, :, 9:] = -10.0
    preds[0, :5, 9] = 5.0  # five confident class-0 candidates; others below the threshold
    dets = DetectionPostprocess(max_dets=3)(preds)
    boxes, scores, classes = dets[0]
    assert len(boxes) <= 3 and (classes == 0).all()
    assert scores.tolist() == sorted(scores.tolist(), reverse=True)
    assert (boxes >= -1).all() and (boxes <= 1).all()


def test_fcos_needs_classes():
    with pytest.raises(ValueError, match="n_classes"):
        FCOS(build_detector("tiny_detection_body", 1).body, 0)
