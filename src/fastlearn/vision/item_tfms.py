"""Item transforms: bring every image (and its mask) to one size on the CPU, with Pillow.

    >>> Resize(224)(img, train=True)           # a random 224x224 crop; train=False: the centre
    >>> RandomResizedCrop(224, min_scale=0.35)  # a random region of 35-100% of the area
    >>> img, mask = Resize(224).pair(img, mask, train=True)  # the same crop, mask by nearest

A transform draws its geometry once per item (`geometry`: where to take the pixels, as
fractions of the source, and where to put them) and applies it to the image (bilinear), to
its mask (nearest) and to points in [-1, 1] of the image (`_Geometry.move_points`), so they
stay aligned even when the image was decoded at a reduced size (JPEG draft mode). `train`
comes from the dataset of each split (`ImageDataset(train=...)`).
`draft_size` tells the decoder the smallest source that keeps the output's detail.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from .image import image_to_tensor, open_image

__all__ = ["ItemTransform", "Resize", "RandomResizedCrop", "Size", "pair_size", "PAD_MODES"]

Size = int | tuple[int, int]
_RESIZE_METHODS = ("crop", "pad", "squish")
PAD_MODES = {"zeros": "constant", "reflection": "reflect", "border": "edge"}


def pair_size(size: Size) -> tuple[int, int]:
    """`size` as (height, width)."""
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if h < 1 or w < 1:
        raise ValueError(f"Expected a positive size (int or (height, width)). Received: {size}.")
    return int(h), int(w)


@dataclass(frozen=True)
class _Geometry:
    """Where an item transform takes its pixels and where it puts them.

    `box`: the source region (left, top, right, bottom) as fractions of the source width and
    height, so a mask (full size) and its image (maybe decoded smaller) share it. The region is
    resized to `size` (w, h) and placed at `offset` in a `canvas` (w, h), padded around.
    """

    box: tuple[float, float, float, float]
    size: tuple[int, int]
    canvas: tuple[int, int]
    offset: tuple[int, int] = (0, 0)

    def move_points(self, points: Tensor) -> Tensor:
        """Points (..., 2) (x, y) in [-1, 1] of the source -> in [-1, 1] of the output."""
        (left, top, right, bottom), (w, h) = self.box, self.size
        (cw, ch), (ox, oy) = self.canvas, self.offset
        x = ((points[..., 0] + 1) / 2 - left) * (w / (right - left)) + ox  # output pixels
        y = ((points[..., 1] + 1) / 2 - top) * (h / (bottom - top)) + oy
        return torch.stack([x * (2 / cw) - 1, y * (2 / ch) - 1], -1)


class ItemTransform:
    """Base class: geometry drawn once per item (`geometry`) and applied by `apply`."""

    pad_mode: str = "zeros"

    @property
    def draft_size(self) -> tuple[int, int] | None:
        """The smallest (h, w) a source may be decoded at without losing detail (None: full)."""
        return None

    def geometry(self, src_size: tuple[int, int], train: bool) -> _Geometry:
        """Where to take and put pixels for a source of `src_size` (w, h)."""
        raise NotImplementedError

    def apply(self, img: Image.Image, geom: _Geometry, resample: int) -> Image.Image:
        """Cut, resize and pad `img` as `geom` says."""
        w, h = img.size
        box = (geom.box[0] * w, geom.box[1] * h, geom.box[2] * w, geom.box[3] * h)
        out = img.resize(
            geom.size,
            resample,
            box=box,
            reducing_gap=None if resample == Image.Resampling.NEAREST else 3.0,
        )
        if geom.size != geom.canvas:
            out = _pad(out, geom, self.pad_mode)
        return out

    def __call__(self, img: Image.Image | Tensor, *, train: bool = False) -> Image.Image | Tensor:
        """The transformed image (a Pillow image, or a (C, H, W) uint8 tensor for a tensor)."""
        if isinstance(img, Tensor):
            return image_to_tensor(self(open_image(img, mode=None), train=train))
        return self.apply(img, self.geometry(img.size, train), Image.Resampling.BILINEAR)

    def pair(
        self, img: Image.Image, mask: Image.Image, *, train: bool = False
    ) -> tuple[Image.Image, Image.Image]:
        """The image and its mask under the same geometry (mask: nearest neighbour)."""
        geom = self.geometry(img.size, train)
        return (
            self.apply(img, geom, Image.Resampling.BILINEAR),
            self.apply(mask, geom, Image.Resampling.NEAREST),
        )


def _pad(img: Image.Image, geom: _Geometry, pad_mode: str) -> Image.Image:
    (w, h), (cw, ch), (x, y) = geom.size, geom.canvas, geom.offset
    if pad_mode == "zeros":
        canvas = Image.new(img.mode, (cw, ch))
        if img.mode == "P":
            canvas.putpalette(img.getpalette() or [])
        canvas.paste(img, (x, y))
        return canvas
    arr = np.asarray(img)
    widths = [(y, ch - h - y), (x, cw - w - x)] + [(0, 0)] * (arr.ndim - 2)
    padded = np.pad(arr, widths, mode=PAD_MODES[pad_mode])
    if img.mode != "P":
        return Image.fromarray(padded)  # the mode follows the array (L, LA, RGB, I;16, ...)
    out = Image.fromarray(padded, "P")
    out.putpalette(img.getpalette() or [])
    return out


def _crop_box(src_w: int, src_h: int, cw: float, ch: float, train: bool) -> tuple[float, ...]:
    """A (cw, ch)-pixel region, at random (training) or centred, as fractions of the source."""
    cw, ch = min(cw, src_w), min(ch, src_h)
    fx, fy = (random.random(), random.random()) if train else (0.5, 0.5)
    left, top = fx * (src_w - cw), fy * (src_h - ch)
    return (left / src_w, top / src_h, (left + cw) / src_w, (top + ch) / src_h)


class Resize(ItemTransform):
    """Bring every image to `size` (int or (h, w)) by `method`.

    'crop': scale to cover, then cut (random place for training, centre otherwise);
    'pad': scale to fit, then pad ('zeros', 'reflection' or 'border'); 'squish': stretch.

        >>> Resize(224)(img).size, Resize((200, 300), method="pad")(img).size
        ((224, 224), (300, 200))
    """

    def __init__(self, size: Size, method: str = "crop", *, pad_mode: str = "reflection") -> None:
        if method not in _RESIZE_METHODS:
            raise ValueError(f"Expected method in {_RESIZE_METHODS}. Received: {method!r}.")
        if pad_mode not in PAD_MODES:
            raise ValueError(f"Expected pad_mode in {tuple(PAD_MODES)}. Received: {pad_mode!r}.")
        self.size, self.method, self.pad_mode = pair_size(size), method, pad_mode

    def __repr__(self) -> str:
        return f"Resize({self.size}, method={self.method!r})"

    @property
    def draft_size(self) -> tuple[int, int]:
        return self.size

    def geometry(self, src_size: tuple[int, int], train: bool) -> _Geometry:
        (w, h), (th, tw) = src_size, self.size
        if self.method == "squish":
            return _Geometry((0.0, 0.0, 1.0, 1.0), (tw, th), (tw, th))
        if self.method == "crop":
            scale = max(tw / w, th / h)  # the region of the source that covers the target
            return _Geometry(_crop_box(w, h, tw / scale, th / scale, train), (tw, th), (tw, th))
        scale = min(tw / w, th / h)
        nw, nh = min(tw, max(1, round(w * scale))), min(th, max(1, round(h * scale)))
        return _Geometry((0.0, 0.0, 1.0, 1.0), (nw, nh), (tw, th), ((tw - nw) // 2, (th - nh) // 2))


class RandomResizedCrop(ItemTransform):
    """A random region (area `min_scale`..1 of the image, aspect in `ratio`) resized to `size`.

    For validation: the centre region of the target's aspect, a little tighter
    (`val_xtra`) as the training crops rarely hold the whole image.
    """

    def __init__(
        self,
        size: Size,
        min_scale: float = 0.08,
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        *,
        val_xtra: float = 0.14,
    ) -> None:
        if not 0 < min_scale <= 1:
            raise ValueError(f"Expected 0 < min_scale <= 1. Received: {min_scale}.")
        self.size, self.min_scale = pair_size(size), min_scale
        self.ratio, self.val_xtra = ratio, val_xtra

    def __repr__(self) -> str:
        return f"RandomResizedCrop({self.size}, min_scale={self.min_scale})"

    @property
    def draft_size(self) -> tuple[int, int]:
        # a crop of `min_scale` of the area keeps its detail when the source is this large
        k = 1 / math.sqrt(self.min_scale)
        return math.ceil(self.size[0] * k), math.ceil(self.size[1] * k)

    def geometry(self, src_size: tuple[int, int], train: bool) -> _Geometry:
        (w, h), (th, tw) = src_size, self.size
        target = ((tw, th), (tw, th))
        if train:
            for _ in range(10):
                area = random.uniform(self.min_scale, 1.0) * w * h
                log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
                aspect = math.exp(random.uniform(log_lo, log_hi)) * tw / th
                cw, ch = math.sqrt(area * aspect), math.sqrt(area / aspect)
                if cw <= w and ch <= h:
                    return _Geometry(_crop_box(w, h, cw, ch, True), *target)
        scale = max(tw / w, th / h) * (1 + (0 if train else self.val_xtra))
        return _Geometry(_crop_box(w, h, tw / scale, th / scale, False), *target)
