"""Synthetic detection data: images of coloured rectangles on noise, their boxes and labels,
and a tiny registered body so that detectors train in seconds on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from torch import nn

from fastlearn.core.datablock import DataBlock
from fastlearn.core.torch_utils import set_seed
from fastlearn.vision.augment import Resize
from fastlearn.vision.blocks import ImageBlock
from fastlearn.vision.detection import MeanAveragePrecision, detection_learner
from fastlearn.vision.detection.data import BBoxBlock, BBoxLblBlock
from fastlearn.vision.models import register_arch

COLORS = {"red": (230, 40, 40), "green": (40, 200, 40), "blue": (40, 60, 230)}


def tiny_body_model(pretrained: bool = False) -> nn.Sequential:
    """Six conv-BN-ReLU blocks to stride 32, then a classifier (cut off by the registry)."""

    def block(n_in: int, n_out: int, stride: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(n_in, n_out, 3, stride, 1, bias=False), nn.BatchNorm2d(n_out), nn.ReLU()
        )

    return nn.Sequential(
        block(3, 16, 2),
        block(16, 32, 2),
        block(32, 32, 1),
        block(32, 64, 2),
        block(64, 64, 2),
        block(64, 64, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 10),
    )


register_arch("tiny_detection_body", tiny_body_model, cut=-3, meta={"split": 4}, overwrite=True)
TINY = dict(width=32, n_convs=2)  # a detector that trains in seconds


def rectangles(
    n: int,
    *,
    size: tuple[int, int] = (72, 88),
    seed: int = 0,
    max_boxes: int = 3,
    min_side: int = 12,
) -> list[tuple[Image.Image, list[list[int]], list[str]]]:
    """`n` (image (h, w) = size, boxes [x0, y0, x1, y1] in pixels, colour names): 0 to
    `max_boxes - 1` filled rectangles per image, later ones painted over earlier ones only
    where they don't overlap (rejected when they would)."""
    rng = np.random.default_rng(seed)
    h, w = size
    out = []
    for _ in range(n):
        arr = rng.normal(90, 10, (h, w, 3)).clip(0, 255).astype(np.uint8)
        boxes, labels = [], []
        for _ in range(int(rng.integers(0, max_boxes))):
            bw, bh = int(rng.integers(min_side, w // 2)), int(rng.integers(min_side, h // 2))
            x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            if any(x < b[2] and b[0] < x + bw and y < b[3] and b[1] < y + bh for b in boxes):
                continue
            name = list(COLORS)[int(rng.integers(0, len(COLORS)))]
            arr[y : y + bh, x : x + bw] = COLORS[name]
            boxes.append([x, y, x + bw, y + bh])
            labels.append(name)
        out.append((Image.fromarray(arr), boxes, labels))
    return out


def save_items(items, folder) -> list[tuple[str, list, list]]:
    """The images written as PNG files in `folder`: (path, boxes, labels)."""
    out = []
    for i, (img, boxes, labels) in enumerate(items):
        path = folder / f"img{i}.png"
        img.save(path)
        out.append((str(path), boxes, labels))
    return out


def detection_block(splitter=None, **kwargs) -> DataBlock:
    """A DataBlock over (image, boxes, labels) tuples."""
    return DataBlock(
        blocks=(ImageBlock, BBoxBlock, BBoxLblBlock),
        get_x=lambda o: o[0],
        get_y=[lambda o: o[1], lambda o: o[2]],
        n_inp=1,
        splitter=splitter or (lambda items: (list(range(len(items))), list(range(len(items))))),
        **kwargs,
    )


@pytest.fixture
def rect_files(tmp_path):
    """Eight images of rectangles saved as PNG files (the same set trains and validates)."""
    return save_items(rectangles(8, seed=1), tmp_path)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """The pipeline check: a detector from scratch overfits 8 images (train = valid).
    (learner, [(path, boxes, labels)]), shared by the tests that need a trained detector."""
    items = save_items(rectangles(8, seed=2, max_boxes=4), tmp_path_factory.mktemp("rects"))
    set_seed(0)
    dls = detection_block(item_tfms=Resize(64, method="squish")).dataloaders(
        items, bs=8, num_workers=0, device="cpu"
    )
    learn = detection_learner(
        dls,
        "tiny_detection_body",
        pretrained=False,
        show_progress=False,
        metrics=[MeanAveragePrecision(), MeanAveragePrecision(0.5)],
        path=tmp_path_factory.mktemp("learn"),
        **TINY,
    )
    learn.fit_one_cycle(50, 1e-2)
    return learn, items
