"""Detection on new images: the validation preprocessing, the model, the postprocess, and the
boxes mapped back to the pixels of each original image.

    >>> detect(model, ["a.jpg"], item_tfms=[Resize(128)], batch_tfms=[IntToFloat()],
    ...        postprocess=DetectionPostprocess())
    [(boxes (D, 4) in pixels of a.jpg, scores (D,), classes (D,) from 0)]

`learn.predict` and a loaded model's `predict` both run this function, so on the CPU their
results are equal bit for bit. To map boxes back, each image travels with a geometric target
holding its own corners: after every transform (crop, pad, resize, centre crop: all of them
scale and shift each axis) the corners say where the original image lies in the model's
input, and the inverse of that map brings the boxes home.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import torch
from PIL import Image
from torch import Tensor, nn

from ..dataset import ImageDataset, collate_images
from ..geometry import TensorPoint
from ..image import open_image_sized
from ..item_tfms import ItemTransform
from .boxes import clip_boxes
from .postprocess import DetectionPostprocess, Detections

__all__ = ["detect", "describe_item", "IMAGE_TYPES"]

IMAGE_TYPES = (str, os.PathLike, bytes, bytearray, Image.Image, Tensor)


def describe_item(item: Any) -> str:
    """A short name for an input in an error message."""
    if isinstance(item, (bytes, bytearray)):
        return f"{len(item)} bytes"
    if isinstance(item, Tensor):
        return f"tensor {tuple(item.shape)} {item.dtype}"
    return repr(os.fspath(item)) if isinstance(item, (str, os.PathLike)) else type(item).__name__


def _load(
    item: Any, i: int, mode: str | None, tfms: Sequence[ItemTransform]
) -> tuple[Tensor, Tensor, tuple[int, int]]:
    """(uint8 image after the item transforms, the original's corners moved with it (2, 2)
    in [-1, 1], the original's (w, h))."""
    if not isinstance(item, IMAGE_TYPES):
        raise TypeError(
            f"Expected an image: a path, bytes, a PIL image or a (C, H, W) tensor. "
            f"Received: {describe_item(item)} (item {i})."
        )
    draft = tfms[0].draft_size if tfms else None
    try:
        img, size = open_image_sized(item, mode, draft)
    except Exception as e:  # noqa: BLE001 (any decoder failure is the input's)
        raise ValueError(
            f"Could not read item {i} ({describe_item(item)}) as an image: {type(e).__name__}: {e}"
        ) from None
    corners = TensorPoint([[0.0, 0.0], [float(img.size[0]), float(img.size[1])]])
    ds = ImageDataset(
        [(img, corners)], None, list(tfms), train=False, mode=mode, spatial=1, skip_bad=False
    )
    x, moved = ds[0]
    return x, moved, size


def _to_pixels(boxes: Tensor, corners: Tensor, size: tuple[int, int]) -> Tensor:
    """Boxes in [-1, 1] of the model's input -> pixels of the original image, whose corners
    (-1, -1) and (1, 1) landed at `corners` (2, 2) in the input."""
    lo, hi = corners[0].to(boxes), corners[1].to(boxes)
    scale = torch.tensor([float(size[0]), float(size[1])], dtype=boxes.dtype, device=boxes.device)
    lo4, span4, scale4 = lo.repeat(2), (hi - lo).repeat(2), scale.repeat(2)
    return clip_boxes((boxes - lo4) / span4 * scale4, *size)


@torch.no_grad()
def detect(
    model: nn.Module,
    items: Sequence[Any],
    *,
    item_tfms: Sequence[ItemTransform],
    batch_tfms: Sequence[Callable],
    postprocess: DetectionPostprocess,
    mode: str | None = "RGB",
    device: torch.device | str = "cpu",
) -> list[Detections]:
    """(boxes (D, 4) in pixels of each original image, scores (D,), classes (D,) from 0), per
    item, best first. `batch_tfms` are the validation ones (no augmentation)."""
    items = list(items)
    if not items:
        return []
    loaded = [_load(item, i, mode, item_tfms) for i, item in enumerate(items)]
    batch = collate_images([(x, pts) for x, pts, _ in loaded])
    batch = tuple(t.to(device) for t in batch)
    for tfm in batch_tfms:
        batch = tfm(batch)
    was_training = model.training
    model.eval()
    try:
        out = model(batch[0])
    finally:
        model.train(was_training)
    corners = batch[1].as_subclass(Tensor)
    results = []
    for (boxes, scores, classes), c, (_, _, size) in zip(postprocess(out), corners, loaded):
        results.append((_to_pixels(boxes, c, size).cpu(), scores.cpu(), classes.cpu()))
    return results
