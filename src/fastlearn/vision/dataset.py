"""The per-item pipeline: decode, item transforms (train or not), uint8 tensors, collate.

    >>> ds = ImageDataset(files, targets, [Resize(224)], train=True)
    >>> x, y = ds[0]        # uint8 (3, 224, 224), a random crop; train=False: the centre

Each split gets its own dataset: `train` tells the item transforms which geometry to draw, so
nothing global changes between training and validation (and worker processes, which hold a
copy of the dataset, need no message). A file that fails to decode is reported with its path
and skipped (the core's `ItemDataset`); `bad_items` lists them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import default_collate

from ..core.items import ItemDataset
from .image import image_to_tensor, open_image, open_mask
from .item_tfms import ItemTransform

__all__ = ["ImageDataset", "collate_images"]


class ImageDataset(ItemDataset):
    """Images (paths, bytes, Pillow images or tensors), or (image, mask) pairs, per split.

    `tfms` are `ItemTransform`s (they know `train` and handle masks) or plain functions of a
    Pillow image. JPEGs are decoded at the reduced size the first transform allows (draft
    mode); masks must match their image pixel for pixel (a clear error names both files).
    """

    def __init__(
        self,
        items: Sequence[Any],
        targets: Tensor | None = None,
        tfms: Sequence[ItemTransform | Callable[[Image.Image], Image.Image]] = (),
        *,
        train: bool = False,
        mode: str | None = "RGB",
        segmentation: bool = False,
        skip_bad: bool = True,
    ) -> None:
        super().__init__(items, targets, tfms, skip_bad=skip_bad)
        self.train, self.mode, self.segmentation = train, mode, segmentation
        if segmentation and any(not isinstance(t, ItemTransform) for t in self.tfms):
            raise TypeError("Segmentation needs item transforms that move masks with their "
                            "images (ItemTransform subclasses such as Resize). Received: "
                            f"{[type(t).__name__ for t in self.tfms]}.")
        first = self.tfms[0] if self.tfms else None
        # masks are compared with their image at full size, so no draft for segmentation
        self.draft_size = (first.draft_size if isinstance(first, ItemTransform)
                           and not segmentation else None)

    def _load(self, item: Any) -> tuple[Tensor, ...]:
        """(image,) or (image, mask) as uint8/int tensors (C, H, W) and (H, W)."""
        if not self.segmentation:
            img = open_image(item, self.mode, self.draft_size)
            for tfm in self.tfms:
                img = tfm(img, train=self.train) if isinstance(tfm, ItemTransform) else tfm(img)
            return (image_to_tensor(img),)
        src, mask_src = item
        img, mask = open_image(src, self.mode), open_mask(mask_src)
        if mask.size != img.size:
            raise ValueError(
                f"Mask {str(mask_src)!r} is {mask.size[0]}x{mask.size[1]} (w x h) but its image "
                f"{str(src)!r} is {img.size[0]}x{img.size[1]}. Fix: check that label_func "
                "pairs each image with its own mask."
            )
        for tfm in self.tfms:
            img, mask = tfm.pair(img, mask, train=self.train)
        return image_to_tensor(img), _mask_to_tensor(mask)

    def __getitem__(self, i: int) -> tuple[Any, ...]:
        loaded, *target = super().__getitem__(i)
        return (*loaded, *target)

    def new_test(self, items: Sequence[Any]) -> ImageDataset:
        """The validation pipeline over new, unlabelled images (paths, bytes, Pillow images)."""
        if isinstance(items, (str, Path, bytes, Image.Image)):
            items = [items]
        return ImageDataset(items, None, self.tfms, train=False, mode=self.mode, skip_bad=False)


def _mask_to_tensor(mask: Image.Image) -> Tensor:
    arr = np.array(mask)
    dtype = np.uint8 if arr.dtype == np.uint8 else np.int64  # 16/32-bit masks as int64
    return torch.from_numpy(arr.astype(dtype, copy=False))


def collate_images(samples: Sequence[tuple[Any, ...]]) -> tuple[Any, ...]:
    """Stack each position of the samples; images of different sizes are a clear error."""
    out = []
    for k, column in enumerate(zip(*samples)):
        if isinstance(column[0], Tensor):
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
