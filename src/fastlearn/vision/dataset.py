"""The per-item pipeline: decode, item transforms (train or not), uint8 tensors, collate.

    >>> ds = ImageDataset(files, targets, [Resize(224)], train=True)
    >>> x, y = ds[0]        # uint8 (3, 224, 224), a random crop; train=False: the centre
    >>> ds = ImageDataset(list(zip(files, points)), None, [Resize(224)], spatial=1)
    >>> x, pts = ds[0]      # points (n, 2) moved with the crop, in [-1, 1] of the image

Each split gets its own dataset: `train` tells the item transforms which geometry to draw, so
nothing global changes between training and validation (and worker processes, which hold a
copy of the dataset, need no message). A file that fails to decode is reported with its path
and skipped (the core's `ItemDataset`); `bad_items` lists them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import default_collate

from ..core.items import ItemDataset
from .geometry import TensorGeometry
from .image import MAX_PIXELS, image_to_tensor, open_image, open_image_sized, open_mask
from .item_tfms import ItemTransform

__all__ = ["ImageDataset", "collate_images"]


class ImageDataset(ItemDataset):
    """Images (paths, bytes, Pillow images or tensors) and their targets, per split.

    `targets`: one tensor (a row per item), a tuple of them (several targets), or None.
    `spatial=k`: each item is `(image, *k targets that live in the image's pixels)`: masks
    (files or Pillow images, mode P/L/I) or `TensorGeometry` coordinates in source pixels;
    they go through the item transforms with their image and come first in the sample
    (`segmentation=True` is `spatial=1` with a mask).

    `tfms` are `ItemTransform`s (they know `train` and move spatial targets) or plain
    functions of a Pillow image. JPEGs are decoded at the reduced size the first transform
    allows (draft mode), except with masks, which must match their image pixel for pixel (a
    clear error names both files). A file of more than `max_pixels` is refused (a bad item).
    """

    def __init__(
        self,
        items: Sequence[Any],
        targets: Tensor | tuple[Any, ...] | None = None,
        tfms: Sequence[ItemTransform | Callable[[Image.Image], Image.Image]] = (),
        *,
        train: bool = False,
        mode: str | None = "RGB",
        segmentation: bool = False,
        spatial: int = 0,
        skip_bad: bool = True,
        max_pixels: int | None = MAX_PIXELS,
    ) -> None:
        rows = _Rows(targets) if isinstance(targets, tuple) else targets
        super().__init__(items, rows, tfms, skip_bad=skip_bad)
        self.train, self.mode, self.max_pixels = train, mode, max_pixels
        self.spatial = 1 if segmentation and not spatial else spatial
        if self.spatial and any(not isinstance(t, ItemTransform) for t in self.tfms):
            raise TypeError(
                "Masks and points need item transforms that move them with their "
                "images (ItemTransform subclasses such as Resize). Received: "
                f"{[type(t).__name__ for t in self.tfms]}."
            )
        first = self.tfms[0] if self.tfms else None
        # masks are compared with their image at full size, so no draft with masks (points
        # are scaled by the full size, so they allow it)
        masks = (
            self.spatial
            and self.items
            and not all(isinstance(t, TensorGeometry) for t in self.items[0][1:])
        )
        self.draft_size = (
            first.draft_size if isinstance(first, ItemTransform) and not masks else None
        )

    def _load(self, item: Any) -> tuple[Tensor, ...]:
        """(image,) or (image, *spatial targets) as uint8 (C, H, W) and mask/point tensors."""
        if not self.spatial:
            img = open_image(item, self.mode, self.draft_size, max_pixels=self.max_pixels)
            for tfm in self.tfms:
                img = tfm(img, train=self.train) if isinstance(tfm, ItemTransform) else tfm(img)
            return (image_to_tensor(img),)
        src, *targets = item
        img, (w, h) = open_image_sized(src, self.mode, self.draft_size, max_pixels=self.max_pixels)
        moving = [
            _to_unit(t, w, h) if isinstance(t, TensorGeometry) else _checked_mask(t, src, (w, h))
            for t in targets
        ]
        for tfm in self.tfms:
            geom = tfm.geometry(img.size, self.train)
            moving = [
                geom.move_points(m)
                if isinstance(m, Tensor)
                else tfm.apply(m, geom, Image.Resampling.NEAREST)
                for m in moving
            ]
            img = tfm.apply(img, geom, Image.Resampling.BILINEAR)
        out = [
            t.from_points(m) if isinstance(t, TensorGeometry) else _mask_to_tensor(m)
            for t, m in zip(targets, moving)
        ]
        return (image_to_tensor(img), *out)

    def __getitem__(self, i: int) -> tuple[Any, ...]:
        loaded, *target = super().__getitem__(i)
        if isinstance(self.targets, _Rows):
            target = list(target[0])
        return (*loaded, *target)

    def new_test(self, items: Sequence[Any]) -> ImageDataset:
        """The validation pipeline over new, unlabelled images (paths, bytes, Pillow images)."""
        if isinstance(items, (str, os.PathLike, bytes, Image.Image)):
            items = [items]
        return ImageDataset(
            items,
            None,
            self.tfms,
            train=False,
            mode=self.mode,
            skip_bad=False,
            max_pixels=self.max_pixels,
        )


class _Rows:
    """Several target columns read as one: `rows[j]` is item j's tuple of targets."""

    def __init__(self, columns: tuple[Any, ...]) -> None:
        self.columns = columns

    def __len__(self) -> int:
        return len(self.columns[0])

    def __getitem__(self, j: int) -> tuple[Any, ...]:
        return tuple(c[j] for c in self.columns)


def _to_unit(coords: TensorGeometry, w: int, h: int) -> Tensor:
    """A target's points, from pixels of a (w, h) source to [-1, 1] of it."""
    scale = torch.tensor([2 / w, 2 / h])
    return coords.to_points() * scale - 1


def _checked_mask(source: Any, image_source: Any, size: tuple[int, int]) -> Image.Image:
    mask = open_mask(source)
    if mask.size != size:
        raise ValueError(
            f"Mask {str(source)!r} is {mask.size[0]}x{mask.size[1]} (w x h) but its image "
            f"{str(image_source)!r} is {size[0]}x{size[1]}. Fix: check that label_func "
            "pairs each image with its own mask."
        )
    return mask


def _mask_to_tensor(mask: Image.Image) -> Tensor:
    arr = np.array(mask)
    dtype = np.uint8 if arr.dtype == np.uint8 else np.int64  # 16/32-bit masks as int64
    return torch.from_numpy(arr.astype(dtype, copy=False))


def collate_images(samples: Sequence[tuple[Any, ...]]) -> tuple[Any, ...]:
    """Stack each position of the samples; images of different sizes are a clear error."""
    out = []
    for k, column in enumerate(zip(*samples)):
        if isinstance(column[0], TensorGeometry):
            out.append(type(column[0]).collate(column))
        elif isinstance(column[0], Tensor):
            shapes = sorted({tuple(t.shape) for t in column})
            if len(shapes) > 1:
                what = "Images" if k == 0 else "Masks"
                raise ValueError(
                    f"{what} in a batch must have one shape to be stacked. Received: "
                    f"{shapes[:4]}. Fix: add item_tfms=Resize(224) (or RandomResizedCrop), "
                    "and pass mode='RGB' when files mix channel counts."
                )
            out.append(torch.stack(column))
        else:
            out.append(default_collate(list(column)))
    return tuple(out)
