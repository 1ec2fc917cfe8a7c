"""Boxes and their labels on the DataBlock, and the COCO annotation reader.

    >>> images, lbl_bbox = get_annotations(path / "train.json")
    >>> img2bbox = dict(zip(images, lbl_bbox))
    >>> coco = DataBlock(blocks=(ImageBlock, BBoxBlock, BBoxLblBlock), get_items=get_image_files,
    ...                  splitter=RandomSplitter(seed=42), n_inp=1,
    ...                  get_y=[lambda o: img2bbox[o.name][0], lambda o: img2bbox[o.name][1]],
    ...                  item_tfms=Resize(128, method="squish"), batch_tfms=aug_transforms())
    >>> x, boxes, labels = coco.dataloaders(path / "train", bs=16).one_batch()
    >>> # x (16, 3, 128, 128); boxes (16, n, 4) in [-1, 1]; labels (16, n), 0 = padding

Boxes come in as (x0, y0, x1, y1) pixels of the source image (`get_annotations` converts
COCO's (x, y, width, height)). `BBoxBlock` is a geometric target (vision/geometry.py): each
box's four corners move with the image through every item and batch transform, and the box
becomes their enclosing box, clipped to the image. `BBoxLblBlock` gives each box a class index
(1..C; index 0, '#na#', pads). Its labels travel with the image too, as a geometric target
without points, so both are padded per batch to the largest box count: an image may have no
box at all.

What is not a box is ignored by the loss and the metric, never an error in the middle of a
run: padding rows; boxes with zero or negative width or height in the data (a warning counts
them when the blocks encode); boxes that leave the image under a crop or a rotation (clipped
to nothing). Boxes that stick out of the image are clipped.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ...core.collections import L
from ...core.datablock import DataBlockError
from ...core.items import Categorize
from ...core.splitters import Splits
from ..blocks import SpatialBlock
from ..dataset import ImageDataset
from ..geometry import TensorGeometry

__all__ = [
    "TensorBBox",
    "TensorBBoxLabel",
    "BBoxBlock",
    "BBoxLblBlock",
    "get_annotations",
    "check_box_counts",
]


class TensorBBox(TensorGeometry):
    """(..., n, 4) boxes (x0, y0, x1, y1): source pixels when encoded, [-1, 1] in batches."""

    def to_points(self) -> Tensor:
        """The four corners of each box, (..., 4n, 2)."""
        b = self.as_subclass(Tensor)
        x0, y0, x1, y1 = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
        corners = torch.stack([x0, y0, x1, y0, x0, y1, x1, y1], -1)  # (..., n, 8)
        return corners.reshape(*b.shape[:-2], -1, 2)

    def from_points(self, points: Tensor) -> TensorBBox:
        """The boxes enclosing their moved corners, clipped to the image ([-1, 1])."""
        corners = points.reshape(*points.shape[:-2], -1, 4, 2)
        lo, hi = corners.min(-2).values, corners.max(-2).values  # (..., n, 2)
        return torch.cat([lo, hi], -1).clamp(-1, 1).as_subclass(TensorBBox)

    @classmethod
    def collate(cls, items: Sequence[TensorGeometry]) -> TensorBBox:
        """(B, n_max, 4): each image's boxes, then rows of zeros."""
        return _pad([t.as_subclass(Tensor).reshape(-1, 4) for t in items], (4,)).as_subclass(cls)


class TensorBBoxLabel(TensorGeometry):
    """(..., n) class indices of the boxes (0 pads). A geometric target without points: the
    transforms leave it unchanged, and it is padded with its image's boxes."""

    def __new__(cls, data: Any) -> TensorBBoxLabel:
        return torch.as_tensor(data, dtype=torch.long).as_subclass(cls)

    def to_points(self) -> Tensor:
        return torch.zeros(*self.shape[:-1], 0, 2, device=self.device)

    def from_points(self, points: Tensor) -> TensorBBoxLabel:
        return self

    @classmethod
    def collate(cls, items: Sequence[TensorGeometry]) -> TensorBBoxLabel:
        """(B, n_max): each image's labels, then zeros."""
        return _pad([t.as_subclass(Tensor).reshape(-1) for t in items], ()).as_subclass(cls)


def _pad(rows: Sequence[Tensor], tail: tuple[int, ...]) -> Tensor:
    n = max((len(r) for r in rows), default=0)
    out = rows[0].new_zeros((len(rows), n, *tail))
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


class BBoxBlock(SpatialBlock):
    """Bounding boxes: a getter's value is (n, 4) pixel corners (x0, y0, x1, y1) of the source
    image (a list of lists, an array or a tensor; n may be 0). Batches: (B, n, 4) in [-1, 1]."""

    task = "detection"

    def check(self, value: Any) -> str | None:
        try:
            t = torch.as_tensor(value, dtype=torch.float32)
        except (TypeError, ValueError, RuntimeError):
            return (
                f"BBoxBlock takes (n, 4) boxes (x0, y0, x1, y1) in pixels. Received "
                f"{type(value).__name__} {value!r:.60}."
            )
        if not (t.ndim == 2 and t.shape[1] == 4) and t.numel() != 0:
            return (
                f"BBoxBlock takes (n, 4) boxes (x0, y0, x1, y1) in pixels, one row per box. "
                f"Received shape {tuple(t.shape)}. Fix: e.g. [[10, 20, 50, 80]], or [] for "
                "an image without boxes."
            )
        if not bool(torch.isfinite(t).all()):
            return "BBoxBlock received NaN or infinite coordinates."
        return None

    def encode(self, values: Sequence[Any], splits: Splits) -> list[TensorBBox]:
        """Each value as a (n, 4) float `TensorBBox`; empty boxes counted in a warning."""
        out, bad = [], []
        for i, v in enumerate(values):
            b = torch.as_tensor(v, dtype=torch.float32).reshape(-1, 4)
            empty = (b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1])
            if empty.any():
                bad.append((i, int(empty.sum()), b[empty][0].tolist()))
                b = torch.where(empty[:, None], b[:, :2].repeat(1, 2), b)  # a point: no area
            out.append(TensorBBox(b))
        if bad:
            warnings.warn(
                f"BBoxBlock: {sum(n for _, n, _ in bad)} boxes in {len(bad)} items "
                f"have zero or negative width or height (first: item {bad[0][0]}, "
                f"{bad[0][2]}); the loss and the metric ignore them. Boxes are (x0, "
                "y0, x1, y1): get_annotations converts COCO's (x, y, width, height).",
                stacklevel=2,
            )
        return out

    def decode(self, x: Any) -> Tensor:
        return torch.as_tensor(x).as_subclass(Tensor)


class BBoxLblBlock(SpatialBlock):
    """The class of each box: a getter's value is a list of labels, one per box of the item.

    `vocab`: the classes (default: the training labels, sorted); '#na#' is added first, as
    fastai does, for padding (`add_na=False` when the given vocab starts with it already).
    A validation label never seen in training is an error.
    """

    task = "detection"

    def __init__(self, vocab: Sequence[Any] | None = None, add_na: bool = True) -> None:
        super().__init__()
        self.given, self.add_na = None if vocab is None else list(vocab), add_na
        self.categorize: Categorize | None = None

    def __repr__(self) -> str:
        v = self.vocab
        return f"BBoxLblBlock(vocab={None if v is None else list(v)[:8]})"

    @property
    def vocab(self) -> L | None:
        return None if self.categorize is None else L(self.categorize.vocab)

    def check(self, value: Any) -> str | None:
        if (
            isinstance(value, (str, bytes))
            or not isinstance(value, (list, tuple, Tensor))
            and not hasattr(value, "__len__")
        ):
            return (
                f"BBoxLblBlock takes a list of labels, one per box. Received "
                f"{type(value).__name__} {value!r:.60}. Fix: e.g. ['chair', 'tv'], or [] "
                "for an image without boxes."
            )
        return None

    def setup(self, train_values: Sequence[Any]) -> None:
        if self.given is not None:
            vocab = list(self.given)
        else:
            labels = {_plain(v) for vs in train_values for v in vs}
            vocab = sorted(labels, key=lambda v: (str(type(v)), v))
        if self.add_na and (not vocab or vocab[0] != "#na#"):
            vocab = ["#na#", *vocab]
        if len(vocab) < 2:
            raise DataBlockError(
                "BBoxLblBlock found no label in the training items. Fix: check "
                "get_y (its second getter returns empty lists)."
            )
        self.categorize = Categorize(vocab).setup([])

    def encode(self, values: Sequence[Any], splits: Splits) -> list[TensorBBoxLabel]:
        index = self.categorize._index
        for part, name in ((splits[0], "training"), (splits[1], "validation")):
            unseen = sorted(
                {str(_plain(v)) for i in part for v in values[i] if _plain(v) not in index}
            )
            if unseen:
                raise DataBlockError(
                    f"BBoxLblBlock: {name} labels not in the vocabulary {list(index)[:10]}: "
                    f"{unseen[:10]}. Fix: pass every class in vocab=, or use a split where "
                    "each class appears in training."
                )
        return [TensorBBoxLabel([index[_plain(v)] for v in vs]) for vs in values]

    def decode(self, x: Any) -> list[Any]:
        return [self.categorize.vocab[int(i)] for i in torch.as_tensor(x).reshape(-1) if i > 0]


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") and getattr(v, "ndim", 1) == 0 else v


def check_box_counts(dataset: Any, what: str = "dataset") -> None:
    """Every item of an `ImageDataset` of (image, boxes, labels) has one label per box."""
    if not isinstance(dataset, ImageDataset):
        return
    for j, item in enumerate(dataset.items):
        if not isinstance(item, tuple) or len(item) < 3:
            return
        src, boxes, labels = item[:3]
        if len(boxes) != len(labels):
            raise DataBlockError(
                f"Item {j} of the {what} ({src!r}) has {len(boxes)} boxes and {len(labels)} "
                "labels. Fix: the two getters must return one label per box, in the same order."
            )


# ---------------------------------------------------------------------------------- COCO json
def _need(entry: dict[str, Any], keys: Sequence[str], where: str, fname: Any) -> None:
    if not isinstance(entry, dict):
        raise ValueError(
            f"{fname}: expected {where} to be an object. Received: "
            f"{type(entry).__name__} {entry!r:.80}."
        )
    missing = [k for k in keys if k not in entry]
    if missing:
        raise ValueError(
            f"{fname}: {where} has no {', '.join(map(repr, missing))} "
            f"(it has {sorted(entry)}). Fix: a COCO json needs, per image, 'id' "
            "and 'file_name'; per annotation, 'image_id', 'category_id' and "
            "'bbox' [x, y, width, height]; per category, 'id' and 'name'."
        )


def _annotation_box(
    a: Any, n: int, names: dict[Any, str], classes: dict[Any, str], fname: Any
) -> list[float]:
    """Annotation `n`'s box as corners, after checking its keys, image, category and bbox."""
    _need(a, ("image_id", "category_id", "bbox"), f"annotation {n}", fname)
    if a["image_id"] not in names:
        raise ValueError(
            f"{fname}: annotation {n} is for image id {a['image_id']!r}, which "
            "'images' does not list. Fix: add the image, or drop the annotation."
        )
    if a["category_id"] not in classes:
        raise ValueError(
            f"{fname}: annotation {n} has category id {a['category_id']!r}, not "
            f"among the categories {sorted(classes)}. Fix: add it to "
            "'categories', or drop the annotation."
        )
    bb = a["bbox"]
    if not (
        isinstance(bb, (list, tuple))
        and len(bb) == 4
        and all(isinstance(v, (int, float)) and math.isfinite(v) for v in bb)
    ):
        raise ValueError(
            f"{fname}: annotation {n} has bbox {bb!r:.60}; expected [x, y, width, "
            "height] (4 finite numbers)."
        )
    return [bb[0], bb[1], bb[0] + bb[2], bb[1] + bb[3]]


def get_annotations(
    fname: str | os.PathLike, prefix: str | None = None, *, keep_empty: bool = True
) -> tuple[list[str], list[tuple[list, list]]]:
    """(file names, [(boxes, labels)]) of a COCO json: boxes as [x0, y0, x1, y1] pixels, labels
    as category names; file names with `prefix` prepended (fastai's `get_annotations`).

    `keep_empty=True` keeps the images the json lists without any annotation (negatives,
    with ([], [])); fastai drops them (`keep_empty=False`). Missing keys, annotations of an
    unknown image or category, and malformed boxes are errors naming the entry.
    """
    with open(fname) as f:
        data = json.load(f)
    _need(data, ("images", "annotations", "categories"), "the top level", fname)
    classes = {}
    for c in data["categories"]:
        _need(c, ("id", "name"), f"category {c!r:.60}", fname)
        classes[c["id"]] = c["name"]
    names: dict[Any, str] = {}
    for im in data["images"]:
        _need(im, ("id", "file_name"), f"image {im!r:.80}", fname)
        names[im["id"]] = (prefix or "") + im["file_name"]
    boxes: dict[Any, list] = {k: [] for k in names}
    labels: dict[Any, list] = {k: [] for k in names}
    for n, a in enumerate(data["annotations"]):
        box = _annotation_box(a, n, names, classes, fname)
        boxes[a["image_id"]].append(box)
        labels[a["image_id"]].append(classes[a["category_id"]])
    ids = [k for k in names if keep_empty or boxes[k]]
    return [names[k] for k in ids], [(boxes[k], labels[k]) for k in ids]
