"""Box data: blocks, padding, boxes moved with their images (checked on the pixels), COCO json
reading and the bad inputs."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from fastlearn.core.datablock import DataBlockError
from fastlearn.vision.augment import RandomResizedCrop, Resize, aug_transforms
from fastlearn.vision.detection.data import TensorBBox, get_annotations
from fastlearn.vision.detection.postprocess import valid_targets
from fastlearn.vision.detection.show import show_detection_batch

from .conftest import COLORS, detection_block, rectangles


def loaders(items, bs=4, **kwargs):
    return detection_block(**kwargs).dataloaders(items, bs=bs, num_workers=0, device="cpu")


def test_batches_pad_boxes_and_labels_and_scale_to_unit():
    items = rectangles(6, seed=3)
    dls = loaders(items, bs=6, item_tfms=Resize((72, 88), method="squish"))
    labels = sorted({v for _, _, lab in items for v in lab})
    assert list(dls.vocab) == ["#na#", *labels] and dls.task == "detection"
    x, boxes, labels = dls.valid.one_batch()
    n_max = max(len(b) for _, b, _ in items)
    assert x.shape == (6, 3, 72, 88) and boxes.shape == (6, n_max, 4)
    assert labels.shape == (6, n_max) and labels.dtype == torch.long
    for i, (_, b, lab) in enumerate(items):  # squish to the same size: pixels / size * 2 - 1
        expected = (
            torch.tensor(b, dtype=torch.float).reshape(-1, 4) / torch.tensor([88, 72, 88, 72]) * 2
            - 1
        )
        torch.testing.assert_close(boxes[i, : len(b)].as_subclass(torch.Tensor), expected)
        assert labels[i, : len(b)].tolist() == [list(dls.vocab).index(v) for v in lab]
        assert (labels[i, len(b) :] == 0).all() and (boxes[i, len(b) :] == 0).all()


def test_a_batch_without_any_box():
    items = [(img, [], []) for img, _, _ in rectangles(3)] + rectangles(1, seed=5, max_boxes=2)
    items[-1] = (items[-1][0], [[1, 1, 20, 20]], ["red"])
    dls = detection_block(
        splitter=lambda o: ([0, 1, 2, 3], [0, 1]), item_tfms=Resize(32)
    ).dataloaders(items, bs=2, num_workers=0)
    x, boxes, labels = dls.valid.one_batch()
    assert boxes.shape == (2, 0, 4) and labels.shape == (2, 0)


# ------------------------------------------------------------------ boxes follow the pixels
def three_squares(seed):
    """Images with one rectangle of each colour, far apart: each colour finds its box."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(4):
        arr = np.full((96, 128, 3), 90, np.uint8)
        boxes, labels = [], []
        for k, (name, rgb) in enumerate(COLORS.items()):
            x0 = 8 + 40 * k + int(rng.integers(0, 6))
            y0 = int(rng.integers(8, 40))
            x1, y1 = x0 + int(rng.integers(18, 30)), y0 + int(rng.integers(20, 45))
            arr[y0:y1, x0:x1] = rgb
            boxes.append([x0, y0, x1, y1])
            labels.append(name)
        out.append((Image.fromarray(arr), boxes, labels))
    return out


def colour_box(img: torch.Tensor, rgb) -> list[float] | None:
    """The pixel box (x0, y0, x1, y1) of the pixels close to `rgb` in a (3, H, W) float image."""
    target = torch.tensor(rgb, dtype=torch.float)[:, None, None] / 255
    mask = (img - target).abs().amax(0) < 0.2
    if mask.sum() < 4:
        return None
    ys, xs = torch.nonzero(mask, as_tuple=True)
    return [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]


def iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union


TRANSFORMS = {
    "resize_crop": dict(item_tfms=Resize(80)),
    "resize_pad": dict(item_tfms=Resize(80, method="pad", pad_mode="zeros")),
    "random_resized_crop": dict(item_tfms=RandomResizedCrop(72, min_scale=0.4)),
    "aug_transforms": dict(
        item_tfms=Resize((96, 128), method="squish"),
        batch_tfms=aug_transforms(
            max_rotate=25,
            max_warp=0.2,
            max_zoom=1.3,
            max_lighting=0,
            p_affine=1.0,
            pad_mode="zeros",
            size=(64, 80),
            min_scale=0.5,
        ),
    ),
}


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_boxes_follow_their_rectangles(name, tmp_path):
    """After the transform, each rectangle's pixels lie inside its box; a box clear of the
    image's edges is where its rectangle is (IoU >= 0.8 with the box around the coloured
    pixels: for a rotated or warped rectangle, the box around its corners is the box around
    its pixels); a box whose rectangle left the image has no area. The batch is drawn, boxes
    over images, as a record of what was checked."""
    torch.manual_seed(0)
    dls = loaders(three_squares(0), bs=4, **TRANSFORMS[name])
    vocab = list(dls.vocab)
    inside = matched = 0
    for _ in range(3):
        x, boxes, labels = dls.train.one_batch()
        h, w = x.shape[-2:]
        scale = torch.tensor([w, h, w, h]) / 2
        for i in range(len(x)):
            for box, lab in zip(boxes[i], labels[i]):
                px = ((box.as_subclass(torch.Tensor) + 1) * scale).tolist()
                found = colour_box(x[i], COLORS[vocab[int(lab)]])
                if found is None:  # cropped away: the box is gone too, or a sliver at an edge
                    assert min(px[2] - px[0], px[3] - px[1]) < 3, (name, px)
                    continue
                assert px[0] - 1.5 <= found[0] and found[2] <= px[2] + 1.5, (name, px, found)
                assert px[1] - 1.5 <= found[1] and found[3] <= px[3] + 1.5, (name, px, found)
                inside += 1
                if min(px[0], px[1], w - px[2], h - px[3]) >= 1:
                    assert iou(px, found) >= 0.8, (name, px, found)
                    matched += 1
    assert inside >= 12 and matched >= 6
    fig = show_detection_batch(dls, (x, boxes, labels), path=tmp_path / f"{name}.png")
    assert (tmp_path / f"{name}.png").stat().st_size > 0 and len(fig.axes) == 4


def test_boxes_outside_the_image_are_clipped():
    img = rectangles(1, max_boxes=1)[0][0]  # 88 x 72
    dls = loaders(
        [(img, [[-10, -5, 200, 300], [40, 10, 60, 30]], ["red", "blue"])] * 2,
        bs=2,
        item_tfms=Resize((72, 88), method="squish"),
    )
    boxes = dls.valid.one_batch()[1].as_subclass(torch.Tensor)
    assert boxes[0, 0].tolist() == [-1, -1, 1, 1]


def test_empty_boxes_warn_with_a_count_and_are_ignored():
    img = rectangles(1, max_boxes=1)[0][0]
    items = [(img, [[10, 10, 10, 30], [50, 40, 20, 60], [5, 5, 30, 30]], ["red"] * 3)] * 2
    with pytest.warns(UserWarning, match="4 boxes in 2 items have zero or negative"):
        dls = loaders(items, bs=2, item_tfms=Resize(32))
    boxes, labels = dls.valid.one_batch()[1:]
    assert valid_targets(boxes, labels)[0].tolist() == [False, False, True]


def test_bbox_block_refuses_malformed_boxes():
    img = rectangles(1)[0][0]
    with pytest.raises(DataBlockError, match=r"\(n, 4\) boxes"):
        loaders([(img, [[1, 2, 3]], ["red"])] * 2)


def test_unseen_validation_label_is_an_error():
    img = rectangles(1)[0][0]
    items = [(img, [[1, 2, 30, 30]], ["red"]), (img, [[1, 2, 30, 30]], ["cat"])]
    with pytest.raises(DataBlockError, match="validation labels not in the vocabulary.*cat"):
        detection_block(splitter=lambda o: ([0], [1])).dataloaders(items, bs=1, num_workers=0)


def test_tensor_bbox_corners_round_trip():
    b = TensorBBox([[1.0, 2.0, 5.0, 9.0]])
    assert b.to_points().tolist() == [[1, 2], [5, 2], [1, 9], [5, 9]]
    torch.testing.assert_close(
        b.from_points(b.to_points() / 10).as_subclass(torch.Tensor),
        torch.tensor([[0.1, 0.2, 0.5, 0.9]]),
    )


# ------------------------------------------------------------------ COCO json
def coco_json(tmp_path, **change):
    data = {
        "images": [
            {"id": 1, "file_name": "a.jpg"},
            {"id": 2, "file_name": "b.jpg"},
            {"id": 3, "file_name": "c.jpg"},
        ],
        "annotations": [
            {"image_id": 1, "bbox": [10, 20, 30, 40], "category_id": 7},
            {"image_id": 1, "bbox": [0, 0, 5, 5], "category_id": 9},
            {"image_id": 2, "bbox": [1, 2, 3, 4], "category_id": 7},
        ],
        "categories": [{"id": 7, "name": "chair"}, {"id": 9, "name": "tv"}],
    }
    data.update(change)
    path = tmp_path / "train.json"
    path.write_text(json.dumps(data))
    return path


def test_get_annotations_as_fastai(tmp_path):
    names, lbl_bbox = get_annotations(coco_json(tmp_path), prefix="imgs/")
    assert names == ["imgs/a.jpg", "imgs/b.jpg", "imgs/c.jpg"]
    assert lbl_bbox[0] == ([[10, 20, 40, 60], [0, 0, 5, 5]], ["chair", "tv"])
    assert lbl_bbox[2] == ([], [])  # an image without boxes: a negative
    names, _ = get_annotations(coco_json(tmp_path), keep_empty=False)
    assert names == ["a.jpg", "b.jpg"]


@pytest.mark.parametrize(
    "change, match",
    [
        ({"categories": None}, None),
        ({"annotations": [{"image_id": 1, "category_id": 7}]}, "annotation 0 has no 'bbox'"),
        (
            {"annotations": [{"image_id": 1, "bbox": [1, 2, 3, 4], "category_id": 5}]},
            r"category id 5, not among the categories \[7, 9\]",
        ),
        (
            {"annotations": [{"image_id": 42, "bbox": [1, 2, 3, 4], "category_id": 7}]},
            "image id 42, which 'images' does not list",
        ),
        (
            {"annotations": [{"image_id": 1, "bbox": [1, 2, "x", 4], "category_id": 7}]},
            "expected \\[x, y, width, height\\]",
        ),
        ({"images": [{"file_name": "a.jpg"}]}, "has no 'id'"),
    ],
)
def test_malformed_coco_json_names_the_entry(tmp_path, change, match):
    if change == {"categories": None}:
        path = tmp_path / "bad.json"
        path.write_text(json.dumps({"images": [], "annotations": []}))
        with pytest.raises(ValueError, match="the top level has no 'categories'"):
            get_annotations(path)
        return
    with pytest.raises(ValueError, match=match):
        get_annotations(coco_json(tmp_path, **change))


def test_annotation_for_a_missing_file_is_named(tmp_path):
    names, lbl_bbox = get_annotations(coco_json(tmp_path), prefix=str(tmp_path) + "/")
    rectangles(1)[0][0].save(names[0])  # only a.jpg exists
    items = list(zip(names, *zip(*lbl_bbox)))
    with pytest.raises(DataBlockError, match="b.jpg' does not exist"):
        loaders(items)


def test_decode_and_summary_show_boxes_and_labels(capsys):
    items = rectangles(4, seed=3)
    block = detection_block(item_tfms=Resize(32))
    dsets = block.datasets(items)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        block.summary(items)
    out = capsys.readouterr().out
    assert "BBoxLblBlock(vocab=['#na#'" in out and "Every step ran" in out
    i = next(i for i, (_, b, _) in enumerate(items) if b)
    assert dsets.blocks[2].decode(dsets.encoded[2][i]) == items[i][2]


def test_show_batch_draws_boxes_with_labels(tmp_path):
    from matplotlib.patches import Rectangle

    items = rectangles(6, seed=2, max_boxes=4)
    dls = loaders(items, bs=6, item_tfms=Resize(48, method="squish"))
    fig = dls.show_batch(max_n=6, ncols=3, ds_idx=1, path=tmp_path / "batch.png")
    drawn = sum(isinstance(p, Rectangle) for ax in fig.axes for p in ax.patches)
    texts = sorted(t.get_text() for ax in fig.axes for t in ax.texts)
    assert drawn == sum(len(b) for _, b, _ in items)
    assert texts == sorted(v for _, _, lab in items for v in lab)
