"""COCO mean average precision: `coco_evaluate` (detections and targets as tensors) and the
`MeanAveragePrecision` metric that accumulates a validation set.

    >>> learn = detection_learner(dls, "resnet18", metrics=[MeanAveragePrecision(),
    ...                                                     MeanAveragePrecision(iou_thresh=0.5)])
    >>> coco_evaluate(detections, targets, n_classes=6)["map"]

The computation is the COCO reference's (pycocotools' `COCOeval`, bounding boxes, every area,
at most 100 detections per image and class), step by step, so the two agree to float rounding
(tests/vision/detection/test_metric.py checks 1e-4 on real and random boxes):

- per image and class, detections sorted by score (ties: input order), the best 100 kept;
- at each IoU threshold .50, .55, ..., .95, each detection in turn matches the unmatched
  ground-truth box of highest IoU >= the threshold (ties: the later box), else it is a false
  positive;
- per class, every image's detections sorted by score (stable: image order breaks ties),
  precision made non-increasing from the right and read at recalls 0, .01, ..., 1 (0 beyond
  the last recall reached);
- AP of a class: the mean over thresholds and recalls; mAP: the mean over the classes that
  have ground truth (a class without ground truth is left out, one without a detection counts
  as 0; images without boxes only add false positives).

Boxes are corners (x0, y0, x1, y1) in any unit (IoU does not change when an axis is scaled);
a target box of zero width or height (a padding row, or a box cropped away) is not a box.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ...core.metrics import Metric
from .postprocess import DetectionPostprocess, Detections, split_targets

__all__ = [
    "coco_evaluate",
    "to_coco",
    "MeanAveragePrecision",
    "IOU_THRESHOLDS",
    "RECALL_THRESHOLDS",
]

# As pycocotools builds them (so that .5 and .75 are found by equality, as there).
IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)


def _iou(d: np.ndarray, g: np.ndarray) -> np.ndarray:
    """(D, G) IoU in float64, as pycocotools' `bbIou` (no +1, 0 for disjoint boxes)."""
    w = np.minimum(d[:, None, 2], g[None, :, 2]) - np.maximum(d[:, None, 0], g[None, :, 0])
    h = np.minimum(d[:, None, 3], g[None, :, 3]) - np.maximum(d[:, None, 1], g[None, :, 1])
    inter = np.where((w > 0) & (h > 0), w * h, 0.0)
    da = (d[:, 2] - d[:, 0]) * (d[:, 3] - d[:, 1])
    ga = (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1])
    union = da[:, None] + ga[None, :] - inter
    return np.where(inter > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _match(d: np.ndarray, g: np.ndarray) -> np.ndarray:
    """(T, D) whether each detection (sorted by score) matches a ground-truth box at each
    IoU threshold, by COCO's greedy rule."""
    n_t, matched = len(IOU_THRESHOLDS), np.zeros((len(IOU_THRESHOLDS), len(d)), dtype=bool)
    if len(g) == 0 or len(d) == 0:
        return matched
    ious = _iou(d, g)
    taken = np.zeros((n_t, len(g)), dtype=bool)
    thresh = np.minimum(IOU_THRESHOLDS, 1 - 1e-10)[:, None]
    rows = np.arange(n_t)
    for j in range(len(d)):
        vals = np.where(~taken & (ious[j][None, :] >= thresh), ious[j][None, :], -1.0)
        best = vals.max(1)
        last = len(g) - 1 - np.argmax(vals[:, ::-1] == best[:, None], axis=1)  # ties: later box
        hit = best >= 0
        taken[rows[hit], last[hit]] = True
        matched[hit, j] = True
    return matched


def _precision(scores: list[np.ndarray], matched: list[np.ndarray], n_gt: int) -> np.ndarray:
    """(T, R) interpolated precision of one class at each IoU and recall threshold."""
    n_t, n_r = len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS)
    if not scores or sum(len(s) for s in scores) == 0:
        return np.zeros((n_t, n_r))
    s = np.concatenate(scores)
    order = np.argsort(-s, kind="mergesort")
    tp = np.concatenate(matched, axis=1)[:, order]
    tps, fps = np.cumsum(tp, axis=1, dtype=float), np.cumsum(~tp, axis=1, dtype=float)
    recall = tps / n_gt
    precision = tps / (fps + tps + np.spacing(1))
    precision = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    out = np.zeros((n_t, n_r))
    for t in range(n_t):
        idx = np.searchsorted(recall[t], RECALL_THRESHOLDS, side="left")
        inside = idx < len(s)
        out[t, inside] = precision[t, idx[inside]]
    return out


def _as_numpy(t: Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy()


def coco_evaluate(
    detections: Sequence[Detections],
    targets: Sequence[tuple[Tensor, Tensor]],
    n_classes: int,
    *,
    max_dets: int = 100,
) -> dict[str, Any]:
    """COCO box AP of `detections` against `targets`, one entry per image in the same order.

    `detections[i]`: (boxes (D, 4), scores (D,), classes (D,)), classes in 0..n_classes-1;
    `targets[i]`: (boxes (G, 4), classes (G,)). Returns `map` (IoU .50:.95), `map50`, `map75`
    and `per_class` (n_classes,) AP (NaN for a class without ground truth), as floats; the
    mean keys are -1 when no class has ground truth (pycocotools' value).
    """
    if len(detections) != len(targets):
        raise ValueError(
            f"Expected one detection entry per target image. Received: "
            f"{len(detections)} detections, {len(targets)} targets."
        )
    scores: list[list[np.ndarray]] = [[] for _ in range(n_classes)]
    matches: list[list[np.ndarray]] = [[] for _ in range(n_classes)]
    n_gt = np.zeros(n_classes, dtype=np.int64)
    for (d_boxes, d_scores, d_cls), (g_boxes, g_cls) in zip(detections, targets):
        d_boxes, d_scores = _as_numpy(d_boxes).reshape(-1, 4), _as_numpy(d_scores).reshape(-1)
        d_cls = d_cls.detach().cpu().long().numpy().reshape(-1)
        g_boxes, g_cls = _as_numpy(g_boxes).reshape(-1, 4), g_cls.detach().cpu().long().numpy()
        for k in np.union1d(np.unique(d_cls), np.unique(g_cls)):
            if not 0 <= k < n_classes:
                continue  # a class the evaluation does not know (pycocotools drops it too)
            di = np.flatnonzero(d_cls == k)
            di = di[np.argsort(-d_scores[di], kind="mergesort")][:max_dets]
            g = g_boxes[g_cls == k]
            n_gt[k] += len(g)
            scores[k].append(d_scores[di])
            matches[k].append(_match(d_boxes[di], g))
    precision = np.full((len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS), n_classes), -1.0)
    for k in range(n_classes):
        if n_gt[k]:
            precision[:, :, k] = _precision(scores[k], matches[k], int(n_gt[k]))
    return _summary(precision)


def _summary(precision: np.ndarray) -> dict[str, Any]:
    """pycocotools' `summarize` of a (T, R, K) precision array (-1: class without targets)."""

    def mean(p: np.ndarray) -> float:
        valid = p[p > -1]
        return float(np.mean(valid)) if valid.size else -1.0

    t50, t75 = (int(np.flatnonzero(IOU_THRESHOLDS == t)[0]) for t in (0.5, 0.75))
    per_class = [
        float(np.mean(precision[:, :, k])) if (precision[:, :, k] > -1).any() else float("nan")
        for k in range(precision.shape[2])
    ]
    return {
        "map": mean(precision),
        "map50": mean(precision[t50]),
        "map75": mean(precision[t75]),
        "per_class": per_class,
        "precision": precision,
    }


def to_coco(
    detections: Sequence[Detections], targets: Sequence[tuple[Tensor, Tensor]], n_classes: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The same images as COCO ground truth (a dict as in a COCO json) and COCO results (a
    list of dicts), for pycocotools or any COCO tool: image i has id i + 1, class k has
    category id k + 1, boxes become (x, y, width, height)."""
    images = [{"id": i + 1, "file_name": f"{i + 1}.jpg"} for i in range(len(targets))]
    annotations, results = [], []
    for i, ((g_boxes, g_cls), (d_boxes, d_scores, d_cls)) in enumerate(zip(targets, detections)):
        for box, k in zip(_as_numpy(g_boxes).reshape(-1, 4), g_cls.tolist()):
            x0, y0, x1, y1 = box.tolist()
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": int(k) + 1,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": (x1 - x0) * (y1 - y0),
                    "iscrowd": 0,
                }
            )
        for box, s, k in zip(
            _as_numpy(d_boxes).reshape(-1, 4), _as_numpy(d_scores).reshape(-1), d_cls.tolist()
        ):
            x0, y0, x1, y1 = box.tolist()
            results.append(
                {
                    "image_id": i + 1,
                    "category_id": int(k) + 1,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "score": float(s),
                }
            )
    categories = [{"id": k + 1, "name": str(k)} for k in range(n_classes)]
    return {"images": images, "annotations": annotations, "categories": categories}, results


class MeanAveragePrecision(Metric):
    """COCO box mAP over the validation set, from the detector's raw outputs.

    `iou_thresh=None`: mAP@[.5:.95] (named 'mAP'); 0.5 or 0.75: mAP at that IoU ('mAP50',
    'mAP75'). `update` turns each batch's outputs into detections (`postprocess`, the same
    as `learn.predict` uses by default) and keeps them with the targets, on the device;
    `compute` evaluates once per epoch; `results()` gives every figure and the AP per class.
    """

    state_names = ("detections", "targets", "n_classes")

    def __init__(
        self, iou_thresh: float | None = None, *, postprocess: DetectionPostprocess | None = None
    ) -> None:
        if iou_thresh not in (None, 0.5, 0.75):
            raise ValueError(
                f"Expected iou_thresh None (.50:.95), 0.5 or 0.75. Received: {iou_thresh!r}."
            )
        self.iou_thresh, self.postprocess = iou_thresh, postprocess or DetectionPostprocess()
        self.name = "mAP" if iou_thresh is None else f"mAP{round(iou_thresh * 100)}"
        self.reset()

    def reset(self) -> None:
        """Forget every image seen."""
        self.detections: list[Detections] = []
        self.targets: list[tuple[Tensor, Tensor]] = []
        self.n_classes = 0

    def update(self, preds: Tensor, boxes: Tensor, labels: Tensor) -> None:
        """Add one batch: raw outputs (B, A, 9 + C), padded target boxes (B, n, 4) and labels
        (B, n) (0: padding, 1..C: the classes)."""
        self.n_classes = max(self.n_classes, int(preds.shape[-1]) - 9)
        self.detections.extend(self.postprocess(preds.detach()))
        self.targets.extend(split_targets(boxes.detach(), labels.detach()))

    def results(self) -> dict[str, Any]:
        """'map', 'map50', 'map75' and 'per_class' (AP of each class, NaN without targets)."""
        return coco_evaluate(
            self.detections, self.targets, self.n_classes, max_dets=self.postprocess.max_dets
        )

    def compute(self) -> float:
        """The chosen mAP (NaN before any update)."""
        if not self.targets:
            return float("nan")
        key = {None: "map", 0.5: "map50", 0.75: "map75"}[self.iou_thresh]
        return self.results()[key]
