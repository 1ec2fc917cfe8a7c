"""Box arithmetic in torch: IoU, generalised IoU, format conversions and batched NMS.

Boxes are (..., 4) corners (x0, y0, x1, y1) with x0 <= x1 and y0 <= y1 unless said otherwise,
in any unit (pixels, or [-1, 1] of an image): IoU does not change under a scaling of each axis.

    >>> box_iou(a, b)                           # (N, M) IoU of two sets of boxes
    >>> keep = batched_nms(boxes, scores, classes, iou_thresh=0.6)   # indices, best first

`nms` is the greedy algorithm (a box is dropped when its IoU with a better box kept is above
the threshold), computed without a Python loop over boxes: the suppressions between boxes are
one (N, N) matrix and the boxes kept are its fixed point (see `nms`). torchvision's C++ ops are
not needed.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "box_area",
    "box_iou",
    "generalized_box_iou",
    "xywh_to_xyxy",
    "xyxy_to_xywh",
    "clip_boxes",
    "nms",
    "batched_nms",
]


def box_area(boxes: Tensor) -> Tensor:
    """(...,) areas; a box with x1 < x0 or y1 < y0 has area 0."""
    width = (boxes[..., 2] - boxes[..., 0]).clamp(min=0)
    return width * (boxes[..., 3] - boxes[..., 1]).clamp(min=0)


def _intersection(a: Tensor, b: Tensor) -> Tensor:
    """(N, M) intersection areas of boxes a (N, 4) and b (M, 4)."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    return wh[..., 0] * wh[..., 1]


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """(N, M) intersection over union of boxes a (N, 4) and b (M, 4); 0 where both are empty."""
    inter = _intersection(a, b)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny), 0.0)


def generalized_box_iou(a: Tensor, b: Tensor, eps: float = 1e-7) -> Tensor:
    """(...,) generalised IoU of paired boxes a and b (same shape (..., 4)): IoU minus the part
    of the smallest enclosing box that the union leaves empty, in [-1, 1]."""
    lt, rb = torch.maximum(a[..., :2], b[..., :2]), torch.minimum(a[..., 2:], b[..., 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a) + box_area(b) - inter
    iou = inter / (union + eps)
    enc_wh = torch.maximum(a[..., 2:], b[..., 2:]) - torch.minimum(a[..., :2], b[..., :2])
    enclosing = enc_wh[..., 0].clamp(min=0) * enc_wh[..., 1].clamp(min=0)
    return iou - (enclosing - union) / (enclosing + eps)


def xywh_to_xyxy(boxes: Tensor) -> Tensor:
    """COCO's (x, y, width, height) -> corners (x0, y0, x1, y1)."""
    return torch.cat([boxes[..., :2], boxes[..., :2] + boxes[..., 2:]], -1)


def xyxy_to_xywh(boxes: Tensor) -> Tensor:
    """Corners (x0, y0, x1, y1) -> COCO's (x, y, width, height)."""
    return torch.cat([boxes[..., :2], boxes[..., 2:] - boxes[..., :2]], -1)


def clip_boxes(boxes: Tensor, width: float, height: float) -> Tensor:
    """Boxes cut to the image [0, width] x [0, height]."""
    x = boxes[..., 0::2].clamp(0, width)
    y = boxes[..., 1::2].clamp(0, height)
    return torch.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], -1)


def nms(boxes: Tensor, scores: Tensor, iou_thresh: float = 0.5) -> Tensor:
    """Indices of the boxes greedy non-maximum suppression keeps, by decreasing score.

    Greedy NMS keeps box j (in score order) when no box kept before it overlaps it with IoU >
    `iou_thresh`. With `S[i, j]` = "i comes before j and overlaps it", that is
    `keep[j] = not any(S[i, j] and keep[i])`: each entry depends only on earlier ones, so
    iterating the equation from `keep = all` fixes one more entry per pass at least and stops
    at the greedy answer; in practice after a few passes (chains of suppressions are short).
    Ties in score keep the input order.
    """
    if boxes.ndim != 2 or boxes.shape[-1] != 4 or scores.shape != boxes.shape[:1]:
        raise ValueError(
            f"Expected boxes (N, 4) and scores (N,). Received: boxes "
            f"{tuple(boxes.shape)}, scores {tuple(scores.shape)}."
        )
    order = torch.argsort(scores, descending=True, stable=True)
    if len(order) <= 1:
        return order
    b = boxes[order].float()
    suppress = (box_iou(b, b) > iou_thresh).triu_(diagonal=1)  # (N, N): i before j, overlapping
    keep = torch.ones(len(b), dtype=torch.bool, device=b.device)
    while True:
        new = ~(suppress & keep[:, None]).any(0)
        if torch.equal(new, keep):
            return order[keep]
        keep = new


def batched_nms(boxes: Tensor, scores: Tensor, classes: Tensor, iou_thresh: float = 0.5) -> Tensor:
    """NMS within each class at once: boxes of different classes never suppress each other.

    Each class's boxes are shifted by a distinct offset larger than every box, so one `nms`
    serves all classes (torchvision's trick). Returns indices by decreasing score.
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    span = (boxes.max() - boxes.min()).float() + 1
    shifted = boxes.float() - boxes.min().float() + (classes.float() * span)[:, None]
    return nms(shifted, scores, iou_thresh)
