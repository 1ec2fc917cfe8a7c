"""Box arithmetic and NMS against plain-Python references."""

from __future__ import annotations

import pytest
import torch

from fastlearn.vision.detection.boxes import (
    batched_nms,
    box_iou,
    clip_boxes,
    generalized_box_iou,
    nms,
    xywh_to_xyxy,
    xyxy_to_xywh,
)


def iou_ref(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def nms_ref(boxes, scores, thresh):
    """The textbook greedy loop."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep = []
    for i in order:
        if all(iou_ref(boxes[i], boxes[j]) <= thresh for j in keep):
            keep.append(i)
    return keep


def random_boxes(n, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 100
    return torch.cat([xy, xy + torch.rand(n, 2, generator=g) * 40 + 1], 1).double()


def test_iou_matches_reference():
    a, b = random_boxes(20, 0), random_boxes(15, 1)
    ours = box_iou(a, b)
    ref = torch.tensor(
        [[iou_ref(x.tolist(), y.tolist()) for y in b] for x in a], dtype=torch.double
    )
    torch.testing.assert_close(ours, ref)


def test_giou_is_iou_minus_empty_part_of_enclosing_box():
    a = torch.tensor([[0.0, 0, 2, 2], [0, 0, 1, 1], [0, 0, 1, 1]])
    b = torch.tensor([[0.0, 0, 2, 2], [2, 0, 3, 1], [0.5, 0, 1.5, 1]])
    # same box: 1; disjoint, enclosing 3 x 1 with union 2: 0 - 1/3; half overlap: 1/3 - 0
    torch.testing.assert_close(
        generalized_box_iou(a, b), torch.tensor([1.0, -1 / 3, 1 / 3]), atol=1e-6, rtol=0
    )


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("thresh", [0.3, 0.5, 0.7])
def test_nms_is_the_greedy_algorithm(seed, thresh):
    boxes = random_boxes(60, seed)
    scores = torch.rand(60, generator=torch.Generator().manual_seed(seed + 10)).double()
    assert nms(boxes, scores, thresh).tolist() == nms_ref(boxes.tolist(), scores.tolist(), thresh)


def test_nms_long_suppression_chain():
    """Each box overlaps the next: greedy keeps every other one (the fixed point needs
    many passes)."""
    boxes = torch.tensor([[i * 6.0, 0, i * 6.0 + 10, 10] for i in range(30)])
    scores = torch.linspace(1, 0.1, 30)
    assert nms(boxes, scores, 0.2).tolist() == list(range(0, 30, 2))


def test_batched_nms_never_suppresses_across_classes():
    boxes = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 10, 10]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert batched_nms(boxes, scores, torch.tensor([0, 1, 0]), 0.5).tolist() == [0, 1]
    assert batched_nms(boxes, scores, torch.tensor([0, 0, 0]), 0.5).tolist() == [0]
    assert batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0)).tolist() == []


def test_conversions_and_clip():
    xyxy = torch.tensor([[1.0, 2, 4, 8]])
    assert xyxy_to_xywh(xyxy).tolist() == [[1, 2, 3, 6]]
    assert xywh_to_xyxy(xyxy_to_xywh(xyxy)).tolist() == xyxy.tolist()
    assert clip_boxes(torch.tensor([[-5.0, 2, 40, 90]]), 30, 60).tolist() == [[0, 2, 30, 60]]


def test_nms_rejects_bad_shapes():
    with pytest.raises(ValueError, match="Expected boxes"):
        nms(torch.zeros(3, 5), torch.zeros(3))
