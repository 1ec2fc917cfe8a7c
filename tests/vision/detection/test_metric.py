"""MeanAveragePrecision against the COCO reference evaluator (pycocotools), to 1e-4."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch

from fastlearn.vision.detection.metric import MeanAveragePrecision, coco_evaluate, to_coco
from fastlearn.vision.detection.postprocess import DetectionPostprocess

pycocotools = pytest.importorskip("pycocotools")


def reference(detections, targets, n_classes):
    """pycocotools' COCOeval on the same images: (stats[:3], per-class AP)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt, results = to_coco(detections, targets, n_classes)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    p = ev.eval["precision"][:, :, :, 0, 2]  # (T, R, K), area 'all', 100 detections
    per_class = [
        float(np.mean(p[:, :, k])) if (p[:, :, k] > -1).any() else float("nan")
        for k in range(n_classes)
    ]
    return ev.stats[:3], per_class


def assert_same(detections, targets, n_classes):
    ours = coco_evaluate(detections, targets, n_classes)
    stats, per_class = reference(detections, targets, n_classes)
    np.testing.assert_allclose([ours["map"], ours["map50"], ours["map75"]], stats, atol=1e-4)
    np.testing.assert_allclose(ours["per_class"], per_class, atol=1e-4)
    return ours


def random_boxes(g, n, size=200.0, integer=False):
    xy = torch.rand(n, 2, generator=g) * size * 0.8
    wh = torch.rand(n, 2, generator=g) * size * 0.4 + 2
    boxes = torch.cat([xy, xy + wh], 1)
    return boxes.round() if integer else boxes


def random_case(seed, n_images=25, n_classes=5, integer=False, tie_scores=False):
    """Targets per image (some images empty, class 4 never in the targets) and detections:
    jittered copies of the targets (some with the wrong class), missed boxes, random false
    positives, class 3 never predicted."""
    g = torch.Generator().manual_seed(seed)
    detections, targets = [], []
    for i in range(n_images):
        n_gt = 0 if i % 5 == 0 else int(torch.randint(1, 8, (1,), generator=g))
        gt_boxes = random_boxes(g, n_gt, integer=integer)
        gt_cls = torch.randint(0, n_classes - 1, (n_gt,), generator=g)  # never class 4
        keep = torch.rand(n_gt, generator=g) > 0.2  # some boxes missed
        size = (gt_boxes[:, 2:] - gt_boxes[:, :2]).repeat(1, 2)
        jitter = torch.randn(n_gt, 4, generator=g) * size * 0.1
        det_boxes = (gt_boxes + jitter)[keep]
        det_cls = torch.where(
            torch.rand(n_gt, generator=g) < 0.1,
            torch.randint(0, n_classes, (n_gt,), generator=g),
            gt_cls,
        )[keep]
        n_fp = int(torch.randint(0, 6, (1,), generator=g))
        det_boxes = torch.cat([det_boxes, random_boxes(g, n_fp, integer=integer)])
        det_cls = torch.cat([det_cls, torch.randint(0, n_classes, (n_fp,), generator=g)])
        det_boxes = torch.cat([det_boxes[:, :2], det_boxes[:, :2].maximum(det_boxes[:, 2:])], 1)
        if integer:
            det_boxes = det_boxes.round()
        scores = torch.rand(len(det_boxes), generator=g)
        if tie_scores:
            scores = (scores * 4).round() / 4 + 0.05  # many equal scores
        det_cls = torch.where(det_cls == 3, 2, det_cls)  # class 3: targets, no predictions
        detections.append((det_boxes, scores, det_cls))
        targets.append((gt_boxes, gt_cls))
    return detections, targets


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_boxes_equal_pycocotools(seed):
    dets, targs = random_case(seed)
    ours = assert_same(dets, targs, 5)
    assert np.isnan(ours["per_class"][4])  # no targets: left out of the mean
    assert ours["per_class"][3] == 0.0  # targets but no detections: AP 0
    assert 0 < ours["map"] < 1


def test_integer_boxes_and_tied_scores_equal_pycocotools():
    """Integer pixel boxes give IoUs exactly at the thresholds; tied scores test the order."""
    dets, targs = random_case(7, integer=True, tie_scores=True)
    assert_same(dets, targs, 5)


def test_real_scene_equal_pycocotools():
    """A hand-labelled street scene (pixels) with duplicate, nested and touching boxes, and
    detections at IoU exactly .5 and .75 (a match: COCO's test is IoU >= threshold)."""
    gt = torch.tensor(
        [
            [12, 40, 110, 200],
            [120, 60, 170, 190],
            [168, 58, 220, 195],
            [300, 20, 420, 90],
            [305, 25, 415, 88],
            [0, 210, 640, 240],
            [400, 300, 500, 400],
            [520, 300, 620, 400],
        ],
        dtype=torch.float,
    )
    gt_cls = torch.tensor([0, 0, 0, 1, 1, 2, 1, 1])
    det = torch.tensor(
        [
            [10, 42, 108, 205],
            [11, 41, 109, 201],
            [122, 62, 168, 188],
            [140, 60, 220, 195],
            [300, 20, 420, 90],
            [302, 22, 418, 89],
            [0, 200, 600, 240],
            [500, 300, 600, 400],
            [400, 300, 500, 350],
            [520, 300, 620, 375],
        ],
        dtype=torch.float,
    )
    scores = torch.tensor([0.9, 0.85, 0.8, 0.8, 0.95, 0.7, 0.6, 0.99, 0.5, 0.4])
    det_cls = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 1, 1])
    empty = (torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long))
    assert_same(
        [(det, scores, det_cls), empty, (det[:2] + 300, scores[:2], det_cls[:2])],
        [
            (gt, gt_cls),
            (torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)),
            (torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)),
        ],
        3,
    )


def test_perfect_detections_score_one():
    dets, targs = random_case(3)
    perfect = [(b, torch.linspace(1, 0.5, len(b)), c) for b, c in targs]
    out = coco_evaluate(perfect, targs, 5)
    assert out["map"] == pytest.approx(1.0) and out["map50"] == pytest.approx(1.0)


def test_metric_accumulates_batches_like_one_evaluation():
    """The Metric, fed raw outputs batch by batch, equals coco_evaluate (and so pycocotools)
    on the detections its postprocess makes."""
    g = torch.Generator().manual_seed(0)
    n_cls, n_loc = 3, 40
    preds = torch.randn(6, n_loc, 9 + n_cls, generator=g)
    xy = torch.rand(6, n_loc, 2, generator=g) * 1.6 - 0.9
    preds[..., 0:2], preds[..., 2:4] = xy, xy + torch.rand(6, n_loc, 2, generator=g) * 0.5
    boxes = torch.zeros(6, 3, 4)
    labels = torch.zeros(6, 3, dtype=torch.long)  # image 0: no boxes (all padding)
    for i in range(1, 6):
        boxes[i, :2] = preds[i, :2, 0:4] + 0.02
        labels[i, :2] = torch.tensor([1, 1 + i % n_cls])
    metric, metric50 = MeanAveragePrecision(), MeanAveragePrecision(iou_thresh=0.5)
    for m in (metric, metric50):
        m.reset()
        m.update(preds[:4], boxes[:4], labels[:4])
        m.update(preds[4:], boxes[4:], labels[4:])
    dets = DetectionPostprocess()(preds)
    targs = [(boxes[i, labels[i] > 0], labels[i, labels[i] > 0] - 1) for i in range(6)]
    ours = assert_same(dets, targs, n_cls)
    assert metric.compute() == pytest.approx(ours["map"], abs=1e-12)
    assert metric50.compute() == pytest.approx(ours["map50"], abs=1e-12)
    assert metric.name == "mAP" and metric50.name == "mAP50"


def test_metric_rejects_unknown_threshold():
    with pytest.raises(ValueError, match="iou_thresh"):
        MeanAveragePrecision(iou_thresh=0.6)
