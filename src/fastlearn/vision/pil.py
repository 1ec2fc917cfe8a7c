"""The course's image objects: `PILImage` (RGB) and `PILImageBW` (grey), Pillow images with
fastai's extras.

    >>> img = PILImage.create("bear.jpg")      # a path, bytes, array, tensor or Pillow image
    >>> img.to_thumb(192)                      # a copy at most 192x192, aspect kept
    >>> img.shape, img.size                    # (h, w) and Pillow's (w, h)
    >>> np.array(img).shape                    # (h, w, 3) uint8
    >>> image2tensor(img).shape                # (3, h, w) uint8
    >>> img.show(title="bear")                 # matplotlib axes

They are `PIL.Image.Image` subclasses, so every Pillow method works on them (Pillow's own
methods, such as `resize`, return plain Pillow images). Decoding goes through `open_image`:
the EXIF orientation applied, every Pillow mode converted, Pillow's size limits kept.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from PIL import Image

from .image import image_to_tensor, open_image
from .show import show_image

__all__ = ["PILImage", "PILImageBW", "image2tensor"]

T = TypeVar("T", bound="PILImage")


class _ClassMode:
    """`PILImage.mode` is the mode `create` gives ('RGB'); `img.mode` stays Pillow's own
    (the mode of the pixels), so Pillow's code keeps reading the truth."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def __get__(self, obj: Image.Image | None, owner: type) -> str:
        return self.mode if obj is None else obj._mode


class PILImage(Image.Image):
    """An RGB Pillow image with `create`, `to_thumb`, `shape` and `show` (fastai's PILImage)."""

    mode = _ClassMode("RGB")  # type: ignore[assignment]
    cmap: str | None = None  # the colour map `show` uses (one-channel images)

    @classmethod
    def create(cls: type[T], source: Any) -> T:
        """Decode `source` into this class's mode.

        `source`: a path (str or Path), bytes or a binary file, a Pillow image, a numpy array
        (H, W) or (H, W, C) (uint8, bool, or float in [0, 1]), or a tensor (C, H, W) or
        (H, W) (uint8, or float in [0, 1]).

            >>> PILImage.create(uploader_bytes).to_thumb(128, 128)
        """
        if isinstance(source, np.ndarray):
            source = _array_to_tensor(source)
        if not isinstance(
            source, (str, Path, bytes, bytearray, Image.Image, torch.Tensor, BytesIO)
        ) and not hasattr(source, "read"):
            raise TypeError(
                f"Expected a path, bytes, a file, a Pillow image, a numpy array or "
                f"a tensor. Received: {type(source).__name__}."
            )
        img = open_image(source, cls.mode)
        if img is source:  # open_image kept the caller's image: don't share its pixels
            img = img.copy()
        return cls._from(img)

    @classmethod
    def _from(cls: type[T], img: Image.Image) -> T:
        """`img`'s pixels (shared, not copied) as an instance of this class."""
        img.load()
        out = cls()
        out.__dict__.update(img._new(img.im).__dict__)  # a plain Image's state, no file handle
        return out

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width), as a tensor's shape reads (`size` is Pillow's (width, height))."""
        return self.size[1], self.size[0]

    def to_thumb(self: T, h: int, w: int | None = None) -> T:
        """A copy that fits in `h` x `w` (`w` defaults to `h`), aspect ratio kept."""
        thumb = self.copy()
        thumb.thumbnail((w if w is not None else h, h))
        return type(self)._from(thumb)

    def show(self, ctx: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        """Draw the image with matplotlib on `ctx` (axes) or a new figure; returns the axes.

        Keywords go to `show_image` (`title`, `figsize`, `cmap`...). Pillow's own `show`,
        which opens an external viewer, is replaced as in fastai.
        """
        if self.cmap is not None:
            kwargs.setdefault("cmap", self.cmap)
        return show_image(self, ctx=ctx, **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__} mode={self._mode} size={self.size[0]}x{self.size[1]}"


class PILImageBW(PILImage):
    """A one-channel ('L') image; `show` draws it with fastai's 'Greys' colour map."""

    mode = _ClassMode("L")  # type: ignore[assignment]
    cmap = "Greys"


def image2tensor(img: Any) -> torch.Tensor:
    """An image as a uint8 (C, H, W) tensor (fastai's `image2tensor`).

    A Pillow image keeps its channels (L: 1, RGB: 3); anything else goes through
    `PILImage.create` first (RGB).
    """
    if not isinstance(img, Image.Image):
        img = PILImage.create(img)
    if img.mode not in ("L", "LA", "RGB", "RGBA"):
        img = open_image(img, mode=None)
    return image_to_tensor(img)


def _array_to_tensor(a: np.ndarray) -> torch.Tensor:
    """A numpy image (H, W) or (H, W, C) as the (C, H, W) or (H, W) tensor `open_image` takes."""
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (1, 2, 3, 4)):
        raise ValueError(
            f"Expected an image array (H, W) or (H, W, C) with 1-4 channels. "
            f"Received: shape {a.shape}."
        )
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif a.dtype.kind in "iu" and a.dtype != np.uint8:
        if a.size and (a.min() < 0 or a.max() > 255):
            raise ValueError(
                f"Expected integer pixels in 0..255. Received: {a.dtype} values "
                f"from {a.min()} to {a.max()}. Fix: scale them to 0..255 first."
            )
        a = a.astype(np.uint8)
    elif a.dtype.kind == "f":
        a = a.astype(np.float32)
    elif a.dtype != np.uint8:
        raise TypeError(f"Expected an array of uint8, bool or float pixels. Received: {a.dtype}.")
    t = torch.from_numpy(np.ascontiguousarray(a))
    return t.permute(2, 0, 1) if t.ndim == 3 else t
