"""The FCOS loss: which locations answer for which box, then focal, GIoU and centre-ness terms.

    >>> loss_func = FCOSLoss()
    >>> loss = loss_func(model(xb), boxes, labels)   # boxes (B, n, 4) in [-1, 1], labels (B, n)

Assignment (per image, every location against every target box at once):

- a location is a candidate for a box when it lies inside the box and within `radius`
  strides of its centre (FCOS's centre sampling);
- and when the box's largest distance from it, in strides, is in the level's range: up to 8
  strides on the finest level, 4 to 8 in between, 4 or more on the coarsest (FCOS's pixel
  ranges 0-64-128-256-512-inf over strides 8..128, written in strides);
- a location with several candidate boxes takes the smallest;
- a box that no location falls in (smaller than a stride: COCO is full of them) gets its
  nearest location of the finest level, with centre-ness target 1 (the best place the grid
  has for it), so that every box is learned; FCOS alone leaves such boxes unlearnable.

Terms: sigmoid focal loss (alpha .25, gamma 2) over every location and class, divided by the
number of positive locations; 1 - GIoU of the positive locations' boxes, weighted by their
centre-ness target; binary cross entropy of the centre-ness. Padding rows (label 0) and boxes
without area (cropped away by an augmentation) are no boxes: an image may have none, and then
all its locations are background.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .boxes import generalized_box_iou
from .postprocess import BOX, CENTERNESS, N_META, POINT, valid_targets

__all__ = ["FCOSLoss", "sigmoid_focal_loss", "assign_targets"]


def sigmoid_focal_loss(
    logits: Tensor, targets: Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> Tensor:
    """Per-element focal loss (Lin et al.) of logits against 0/1 targets of the same shape."""
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    weight = (alpha * targets + (1 - alpha) * (1 - targets)) * (1 - p_t) ** gamma
    return weight * ce


def _level_ranges(strides: Tensor, lo: float, hi: float) -> tuple[Tensor, Tensor]:
    """(A,) lower and upper box sizes, in strides, that each location answers for."""
    finest, coarsest = strides == strides.min(), strides == strides.max()
    low = torch.where(finest, torch.zeros_like(strides), torch.full_like(strides, lo))
    high = torch.where(
        coarsest, torch.full_like(strides, float("inf")), torch.full_like(strides, hi)
    )
    return low, high


@torch.no_grad()
def assign_targets(
    points: Tensor,
    boxes: Tensor,
    labels: Tensor,
    *,
    radius: float = 1.5,
    size_range: tuple[float, float] = (4.0, 8.0),
    small_boxes: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """(gt index (B, A), positive (B, A), nearest (B, A)): the box each location answers for,
    and which positives are a small box's nearest location (see `FCOSLoss`).

    `points` (A, 4): cx, cy, sx, sy; `boxes` (B, G, 4), `labels` (B, G) padded targets, G >= 1.
    `small_boxes=False`: FCOS as published (boxes no location falls in are not learned).
    """
    cx, cy, sx, sy = (points[:, i][None, :, None] for i in range(4))  # (1, A, 1)
    x0, y0, x1, y1 = (boxes[..., i][:, None, :] for i in range(4))  # (B, 1, G)
    dist = torch.stack([(cx - x0) / sx, (cy - y0) / sy, (x1 - cx) / sx, (y1 - cy) / sy], -1)
    inside = dist.min(-1).values > 0  # (B, A, G)
    off_x, off_y = (cx - (x0 + x1) / 2).abs() / sx, (cy - (y0 + y1) / 2).abs() / sy
    low, high = _level_ranges(points[:, 2], *size_range)
    reach = dist.max(-1).values
    fits = (reach >= low[None, :, None]) & (reach <= high[None, :, None])
    valid = valid_targets(boxes, labels)  # (B, G)
    ok = inside & (off_x < radius) & (off_y < radius) & fits & valid[:, None, :]
    # a box no location falls in (smaller than a stride): its nearest finest location
    finest = (points[:, 2] == points[:, 2].min())[None, :, None]
    gap = torch.where(finest, torch.maximum(off_x, off_y), torch.full_like(off_x, float("inf")))
    alone = valid & ~ok.any(1) & small_boxes  # (B, G)
    nearest = torch.zeros_like(ok).scatter_(1, gap.argmin(1, keepdim=True), alone[:, None, :])
    ok = ok | nearest
    area = ((x1 - x0) * (y1 - y0)).expand_as(ok)
    area = torch.where(ok, area, torch.full_like(area, float("inf")))
    best_area, idx = area.min(-1)
    pos = torch.isfinite(best_area)
    return idx, pos, nearest.gather(2, idx[..., None])[..., 0] & pos


def _centerness_target(points: Tensor, boxes: Tensor) -> Tensor:
    """sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b)) of each point in its box."""
    left, top = points[..., 0] - boxes[..., 0], points[..., 1] - boxes[..., 1]
    right, bottom = boxes[..., 2] - points[..., 0], boxes[..., 3] - points[..., 1]
    lr = torch.minimum(left, right) / torch.maximum(left, right).clamp(min=1e-12)
    tb = torch.minimum(top, bottom) / torch.maximum(top, bottom).clamp(min=1e-12)
    return torch.sqrt((lr * tb).clamp(min=0))


class FCOSLoss(nn.Module):
    """Focal + GIoU + centre-ness loss of FCOS outputs against padded box targets.

    `reduction='none'` gives one loss per image (each normalised by its own positives), for
    finding the worst images; 'mean' (training) normalises over the batch, as FCOS.
    `small_boxes=False` leaves boxes smaller than a stride unassigned, as published FCOS.
    """

    def __init__(
        self,
        *,
        alpha: float = 0.25,
        gamma: float = 2.0,
        radius: float = 1.5,
        size_range: tuple[float, float] = (4.0, 8.0),
        small_boxes: bool = True,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(
                f"Expected reduction 'mean', 'sum' or 'none'. Received: {reduction!r}."
            )
        self.alpha, self.gamma, self.radius, self.size_range = alpha, gamma, radius, size_range
        self.small_boxes = small_boxes
        self.reduction = reduction

    def __repr__(self) -> str:
        return f"FCOSLoss(alpha={self.alpha}, gamma={self.gamma}, radius={self.radius})"

    def forward(self, preds: Tensor, boxes: Tensor, labels: Tensor) -> Tensor:
        _check(preds, boxes, labels)
        preds, boxes = preds.float(), boxes.float()
        if boxes.shape[1] == 0:  # no image of the batch has a box: one padding row each
            boxes, labels = boxes.new_zeros(len(boxes), 1, 4), labels.new_zeros(len(boxes), 1)
        points = preds[0, :, POINT]  # the same locations for every image of the batch
        idx, pos, nearest = assign_targets(
            points,
            boxes,
            labels,
            radius=self.radius,
            size_range=self.size_range,
            small_boxes=self.small_boxes,
        )
        gt_boxes = torch.gather(boxes, 1, idx[..., None].expand(-1, -1, 4))  # (B, A, 4)
        gt_cls = torch.gather(labels.long(), 1, idx)  # (B, A), 1..C at positives
        n_classes = preds.shape[-1] - N_META
        onehot = F.one_hot((gt_cls - 1).clamp(min=0), n_classes).float() * pos[..., None]
        cls = sigmoid_focal_loss(preds[..., N_META:], onehot, self.alpha, self.gamma).sum((1, 2))
        ctr_target = _centerness_target(points[None].expand_as(preds[..., POINT]), gt_boxes)
        ctr_target = torch.where(nearest, torch.ones_like(ctr_target), ctr_target)
        ctr_target = torch.where(pos, ctr_target, torch.zeros_like(ctr_target))
        giou = 1 - generalized_box_iou(preds[..., BOX], gt_boxes)
        box = (giou * ctr_target).sum(1)  # positives only: the target is 0 elsewhere
        ctr = (
            F.binary_cross_entropy_with_logits(preds[..., CENTERNESS], ctr_target, reduction="none")
            * pos
        ).sum(1)
        n_pos, ctr_sum = pos.sum(1).float(), ctr_target.sum(1)
        if self.reduction == "none":
            return (
                cls / n_pos.clamp(min=1) + box / ctr_sum.clamp(min=1e-6) + ctr / n_pos.clamp(min=1)
            )
        total = (
            cls.sum() / n_pos.sum().clamp(min=1)
            + box.sum() / ctr_sum.sum().clamp(min=1e-6)
            + ctr.sum() / n_pos.sum().clamp(min=1)
        )
        return total * len(preds) if self.reduction == "sum" else total


def _check(preds: Tensor, boxes: Tensor, labels: Tensor) -> None:
    """Clear errors for outputs and targets that don't fit (the first batch's check)."""
    if preds.ndim != 3 or preds.shape[-1] <= N_META:
        raise ValueError(
            f"FCOSLoss expected detector outputs (B, A, 9 + n_classes). "
            f"Received: {tuple(preds.shape)}. Fix: use an FCOS model "
            "(detection_learner builds one)."
        )
    if boxes.ndim != 3 or boxes.shape[-1] != 4 or labels.shape != boxes.shape[:2]:
        raise ValueError(
            f"FCOSLoss expected boxes (B, n, 4) and labels (B, n). Received: boxes "
            f"{tuple(boxes.shape)}, labels {tuple(labels.shape)}. Fix: a DataBlock "
            "with blocks (ImageBlock, BBoxBlock, BBoxLblBlock) and n_inp=1."
        )
