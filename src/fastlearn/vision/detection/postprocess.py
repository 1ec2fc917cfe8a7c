"""The detector's output layout, and its decoding into detections (scores, top-k, NMS).

The model returns one tensor (B, A, 9 + C): one row per location A of every pyramid level,

    [0:4]  the predicted box (x0, y0, x1, y1), in [-1, 1] of the input image
    [4:8]  the location (cx, cy) and its stride (sx, sy), in the same units
    [8]    the centre-ness logit
    [9:]   one logit per class (no background class: sigmoid per class, focal loss)

so the loss, the metric and `predict` need nothing but this tensor (the locations depend on
the input's size, which the output then carries), and an ONNX export of the network gives
boxes and scores that only need NMS.

    >>> dets = DetectionPostprocess()(model(xb))   # per image: boxes (D, 4), scores, classes
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from .boxes import batched_nms, box_area

__all__ = [
    "BOX",
    "POINT",
    "CENTERNESS",
    "N_META",
    "Detections",
    "DetectionPostprocess",
    "split_targets",
    "valid_targets",
]

BOX, POINT, CENTERNESS, N_META = slice(0, 4), slice(4, 8), 8, 9
Detections = tuple[Tensor, Tensor, Tensor]  # boxes (D, 4), scores (D,), classes (D,) from 0


@dataclass(frozen=True)
class DetectionPostprocess:
    """Raw outputs -> detections per image.

    A location is a candidate for a class when that class's probability exceeds
    `score_thresh`; its score is sqrt(class probability x centre-ness), as FCOS ranks
    them. The best `pre_nms_top_k` candidates of an image go through NMS per class at
    `iou_thresh`, and the best `max_dets` remain (COCO counts at most 100 per image).
    """

    score_thresh: float = 0.05
    pre_nms_top_k: int = 1000
    iou_thresh: float = 0.6
    max_dets: int = 100

    def to_state(self) -> dict[str, Any]:
        """The settings as plain JSON."""
        return asdict(self)

    def __call__(self, preds: Tensor) -> list[Detections]:
        """One (boxes, scores, classes) per image of `preds` (B, A, 9 + C)."""
        if preds.ndim != 3 or preds.shape[-1] <= N_META:
            raise ValueError(
                f"Expected detector outputs (B, A, 9 + n_classes). Received: {tuple(preds.shape)}."
            )
        probs = torch.sigmoid(preds[..., N_META:].float())  # (B, A, C)
        ctr = torch.sigmoid(preds[..., CENTERNESS].float())  # (B, A)
        return [self._one(preds[i, :, BOX].float(), probs[i], ctr[i]) for i in range(len(preds))]

    def _one(self, boxes: Tensor, probs: Tensor, ctr: Tensor) -> Detections:
        loc, cls = torch.nonzero(probs > self.score_thresh, as_tuple=True)
        scores = torch.sqrt(probs[loc, cls] * ctr[loc])
        if len(scores) > self.pre_nms_top_k:
            scores, top = scores.topk(self.pre_nms_top_k)
            loc, cls = loc[top], cls[top]
        cand = boxes[loc].clamp(-1, 1)  # the model's boxes have x0 <= x1, y0 <= y1
        ok = box_area(cand) > 0
        cand, scores, cls = cand[ok], scores[ok], cls[ok]
        keep = batched_nms(cand, scores, cls, self.iou_thresh)[: self.max_dets]
        return cand[keep], scores[keep], cls[keep]


def valid_targets(boxes: Tensor, labels: Tensor) -> Tensor:
    """(B, n) which target rows are boxes: a class (label > 0, 0 is padding) and an area."""
    return (labels > 0) & (boxes[..., 2] > boxes[..., 0]) & (boxes[..., 3] > boxes[..., 1])


def split_targets(boxes: Tensor, labels: Tensor) -> list[tuple[Tensor, Tensor]]:
    """Padded targets (B, n, 4) and (B, n) -> per image (boxes (G, 4), classes (G,) from 0)."""
    ok = valid_targets(boxes, labels)
    return [(boxes[i][ok[i]].float(), labels[i][ok[i]].long() - 1) for i in range(len(boxes))]
