"""The vision blocks of a DataBlock: images in, masks and points as targets.

    >>> pets = DataBlock(blocks=(ImageBlock, CategoryBlock), get_items=get_image_files,
    ...                  get_y=using_attr(RegexLabeller(r"(.+)_\\d+.jpg$"), "name"),
    ...                  splitter=RandomSplitter(seed=42), item_tfms=Resize(224))
    >>> dls = pets.dataloaders(path / "images", bs=64)     # an ImageDataLoaders
    >>> camvid = DataBlock(blocks=(ImageBlock, MaskBlock(codes)), get_items=get_image_files,
    ...                    get_y=lambda f: path / "labels" / f"{f.stem}_P{f.suffix}")
    >>> heads = DataBlock(blocks=(ImageBlock, PointBlock), get_items=get_image_files,
    ...                   get_y=get_ctr, item_tfms=Resize((240, 320)))   # yb: (B, 1, 2)

`ImageBlock` as the first block builds one `ImageDataset` per split (decode and item
transforms per item, in the loader's workers; uint8 batches; `IntToFloat`, augmentation and
`Normalize` on the device) and returns an `ImageDataLoaders`. A `SpatialBlock` (masks,
points; boxes later) is a target that lives in the image's pixels: the dataset loads it with
its image and every transform that moves pixels moves it too (see `vision.geometry`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from ..core.collections import L, Path
from ..core.datablock import DataBlockError, Datasets, TransformBlock, describe
from ..core.splitters import Splits
from ..core.torch_utils import default_device, num_cpus
from .augment import IntToFloat
from .dataset import ImageDataset, collate_images
from .geometry import TensorPoint
from .image import MAX_PIXELS, image_to_tensor, open_image, open_mask
from .item_tfms import ItemTransform
from .pil import PILImage

if TYPE_CHECKING:
    from .data import ImageDataLoaders

__all__ = [
    "ImageBlock",
    "ImageItems",
    "MaskBlock",
    "PointBlock",
    "SpatialBlock",
    "sorted_batch_tfms",
]

_MODES = ("RGB", "L", "LA", "RGBA", None)
_CLS_MODE = object()  # ImageBlock's default mode: its class's


class ImageBlock(TransformBlock):
    """Images: a getter's value is a file path (or bytes, a Pillow image, a (C, H, W) uint8
    tensor), decoded in `cls`'s mode (`PILImage`: RGB, `PILImageBW`: grey).

    `mode=` overrides it: 'RGB', 'L', 'LA', 'RGBA', or None for the stored channels.
    `max_pixels`: larger files are refused before decoding (skipped and reported).
    """

    def __init__(
        self, cls: type = PILImage, *, mode: Any = _CLS_MODE, max_pixels: int | None = MAX_PIXELS
    ) -> None:
        super().__init__(batch_tfms=[IntToFloat()])
        self.cls, self.mode = cls, cls.mode if mode is _CLS_MODE else mode
        self.max_pixels = max_pixels
        if self.mode not in _MODES:
            raise ValueError(f"Expected mode in {_MODES}. Received: {self.mode!r}.")

    def __repr__(self) -> str:
        return f"ImageBlock(mode={self.mode!r})"

    def check(self, value: Any) -> str | None:
        if isinstance(value, (str, os.PathLike)):
            if os.path.isfile(value):
                return None
            what = "is a folder" if os.path.isdir(value) else "does not exist"
            return (
                f"ImageBlock takes image files; {os.fspath(value)!r} {what}. Fix: make "
                "get_x return the path of an image (e.g. ColReader('fname', pref=path))."
            )
        if isinstance(value, (bytes, bytearray, Image.Image)) or (
            isinstance(value, Tensor) and value.ndim in (2, 3)
        ):
            return None
        return (
            f"ImageBlock takes an image: a file path, bytes, a Pillow image or a (C, H, W) "
            f"tensor. Received {type(value).__name__} {value!r:.60}. Fix: make get_x "
            "return the image's path."
        )

    def encode(self, values: Sequence[Any], splits: Splits) -> L:
        return L(Path(v) if isinstance(v, str) else v for v in values)

    # ---------------------------------------------------------------- as the input block
    def datasets(self, dsets: Datasets) -> list[ImageItems]:
        """The splits as the course shows them (`dsets.train[0]` is (PILImage, target)); the
        loaders read `loader_datasets` instead."""
        if dsets.n_inp != 1:
            raise DataBlockError(
                f"ImageBlock reads one image per item. Received n_inp="
                f"{dsets.n_inp}. Fix: n_inp=1 (one ImageBlock, then targets)."
            )
        targets = dsets.blocks[1:]
        spatial = sum(isinstance(b, SpatialBlock) for b in targets)
        if any(isinstance(b, SpatialBlock) for b in targets[spatial:]):
            raise DataBlockError(
                f"Put the mask, point or box blocks first among the targets. "
                f"Received: blocks {dsets.blocks}."
            )
        return [ImageItems(dsets, idx, self) for idx in dsets.splits]

    def loader_datasets(self, dsets: Datasets) -> list[ImageDataset]:
        """One `ImageDataset` per split: the images with the spatial targets (masks, points)
        as pairs, the other targets as tensors; item transforms applied per item."""
        spatial = sum(isinstance(b, SpatialBlock) for b in dsets.blocks[1:])
        images, cols = dsets.encoded[0], dsets.encoded[1:]
        out = []
        for k, idx in enumerate(dsets.splits):
            items = [
                (images[i], *(c[i] for c in cols[:spatial])) if spatial else images[i] for i in idx
            ]
            fixed = tuple(_rows(c, idx) for c in cols[spatial:])
            out.append(
                ImageDataset(
                    items,
                    fixed[0] if len(fixed) == 1 else (fixed or None),
                    dsets.item_tfms,
                    train=k == 0,
                    mode=self.mode,
                    spatial=spatial,
                    max_pixels=self.max_pixels,
                )
            )
        return out

    def decode_image(self, source: Any) -> Image.Image:
        """`source` decoded as this block's class (a `PILImage`), or in its `mode`."""
        img = open_image(source, self.mode, max_pixels=self.max_pixels)
        return self.cls.create(img) if self.mode == getattr(self.cls, "mode", None) else img

    def trace(self, dsets: Datasets, i: int, train: bool) -> Iterator[tuple[str, Any]]:
        """The image through decoding, each item transform and the tensor conversion."""
        src = dsets.encoded_value(0, i)
        yield "ImageBlock value", src
        img = _step(
            f"decode open_image(mode={self.mode!r})",
            src,
            lambda: open_image(src, self.mode, max_pixels=self.max_pixels),
        )
        yield f"decode (mode={self.mode!r})", img
        for tfm in dsets.item_tfms:
            img = _step(
                f"item_tfms {tfm!r}",
                img,
                lambda t=tfm, im=img: t(im, train=train) if isinstance(t, ItemTransform) else t(im),
            )
            yield f"item_tfms {tfm!r}", img
        yield "to tensor", _step("to tensor", img, lambda: image_to_tensor(img))

    def collate(self, samples: list[tuple[Any, ...]]) -> tuple[Any, ...]:
        return collate_images(samples)

    def dataloaders(
        self,
        dsets: Datasets,
        *,
        bs: int = 64,
        val_bs: int | None = None,
        shuffle: bool = True,
        num_workers: int | None = None,
        device: Any = None,
        path: str | os.PathLike | None = None,
        **kwargs: Any,
    ) -> ImageDataLoaders:
        """An `ImageDataLoaders` (a `SegmentationDataLoaders` for masks) over the datasets.

        `num_workers=None`: the core's choice (the CPUs, at most 8); `path` defaults to the
        source when it is a folder. The training loader drops its last partial batch when
        there is more than one batch."""
        from ..core.data import DataLoader
        from .data import ImageDataLoaders, SegmentationDataLoaders

        if kwargs:
            raise TypeError(f"Unexpected arguments for image loaders: {sorted(kwargs)}.")
        train_ds, valid_ds = self.loader_datasets(dsets)
        device = torch.device(device) if device is not None else default_device()
        batch_tfms = sorted_batch_tfms([IntToFloat(), *dsets.batch_tfms])
        common = dict(
            num_workers=min(num_cpus(), 8) if num_workers is None else num_workers,
            collate_fn=collate_images,
            batch_tfms=batch_tfms,
            device=device,
        )
        cls = dsets.block.dl_type or DataLoader
        train = cls(
            train_ds, bs, shuffle=shuffle, drop_last=len(train_ds) > bs, augment=True, **common
        )
        valid = cls(valid_ds, val_bs or bs, **common) if len(valid_ds) else None
        if path is None:
            path = dsets.source if isinstance(dsets.source, (str, os.PathLike)) else "."
        dls_type = SegmentationDataLoaders if dsets.task == "segmentation" else ImageDataLoaders
        return dls_type(train, valid, device=device, vocab=dsets.vocab, task=dsets.task, path=path)


class ImageItems(Dataset):
    """One split of an image `Datasets`, as the course shows it: item j is (the image decoded
    as the block's class, e.g. a `PILImage`; each target's encoded value, a mask as a Pillow
    image), before any item transform. The loaders read `ImageDataset`s (item transforms in
    their workers, uint8 tensors) built from the same values."""

    def __init__(self, dsets: Datasets, idx: Sequence[int], block: ImageBlock) -> None:
        self.dsets, self.idx, self.block = dsets, list(idx), block
        self.vocab = dsets.vocab
        self.items = L(dsets.encoded[0][i] for i in self.idx)

    def __repr__(self) -> str:
        return f"ImageItems({len(self)} items, blocks={self.dsets.blocks})"

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, j: int) -> tuple[Any, ...]:
        i = self.idx[j]
        targets = [
            open_mask(v) if isinstance(b, MaskBlock) else v
            for b, v in zip(self.dsets.blocks[1:], (c[i] for c in self.dsets.encoded[1:]))
        ]
        return (self.block.decode_image(self.items[j]), *targets)


class SpatialBlock(TransformBlock):
    """A target that lives in its image's pixels (a mask, points, boxes): the image block
    loads it with the image, and the item and batch transforms move it with the image.

    Its encoded values are mask sources (files, Pillow images) or `TensorGeometry` coordinates
    in source pixels (see `vision.geometry`)."""

    needs_getter = True


class MaskBlock(SpatialBlock):
    """Segmentation masks: a getter's value is a mask file (Pillow mode P, L or I: one class
    index per pixel) or a Pillow image; `codes` name the classes 0, 1, ... (the vocab)."""

    task = "segmentation"

    def __init__(self, codes: Sequence[Any] | None = None) -> None:
        super().__init__()
        self.codes = None if codes is None else list(codes)

    def __repr__(self) -> str:
        return f"MaskBlock(codes={self.codes if self.codes is None else len(self.codes)})"

    @property
    def vocab(self) -> L | None:
        return None if self.codes is None else L(self.codes)

    def check(self, value: Any) -> str | None:
        if isinstance(value, (str, os.PathLike)):
            if os.path.isfile(value):
                return None
            return (
                f"MaskBlock takes mask files; {os.fspath(value)!r} does not exist. Fix: make "
                "get_y (label_func) return each image's mask file."
            )
        if isinstance(value, (bytes, Image.Image)):
            return None
        return (
            f"MaskBlock takes a mask file or a Pillow image. Received {type(value).__name__} "
            f"{value!r:.60}."
        )

    def encode(self, values: Sequence[Any], splits: Splits) -> L:
        return L(Path(v) if isinstance(v, str) else v for v in values)


class PointBlock(SpatialBlock):
    """Points on the image: a getter's value is (n, 2) pixel coordinates (x, y) of the source
    image (a tensor, an array or a list; one point may be a flat (x, y)). In batches they are
    (B, n, 2) in [-1, 1] of the final image (-1: left/top edge, +1: right/bottom edge), moved
    by every item and batch transform with the image; the task is 'points' (MSE loss)."""

    task = "points"

    def check(self, value: Any) -> str | None:
        try:
            t = torch.as_tensor(value, dtype=torch.float32)
        except (TypeError, ValueError, RuntimeError):
            return (
                f"PointBlock takes (n, 2) pixel coordinates (x, y). Received "
                f"{type(value).__name__} {value!r:.60}."
            )
        if not (t.ndim == 2 and t.shape[1] == 2) and not (t.ndim == 1 and len(t) % 2 == 0):
            return (
                f"PointBlock takes (n, 2) pixel coordinates (x, y) (or one point (x, y)). "
                f"Received shape {tuple(t.shape)}. Fix: one row (x, y) per point, e.g. "
                "[[120.0, 80.5]]."
            )
        if not bool(torch.isfinite(t).all()):
            return "PointBlock received NaN or infinite coordinates."
        return None

    def encode(self, values: Sequence[Any], splits: Splits) -> list[TensorPoint]:
        """Each value as a (n, 2) float `TensorPoint` (a flat (x, y, x, y...) as rows)."""
        return [TensorPoint(torch.as_tensor(v, dtype=torch.float32).view(-1, 2)) for v in values]

    def decode(self, x: Any) -> Tensor:
        return torch.as_tensor(x).as_subclass(Tensor)


def sorted_batch_tfms(tfms: Sequence[Any]) -> list[Any]:
    """Batch transforms by their `order` (50 when they have none); one `IntToFloat` kept."""
    seen_int, out = False, []
    for t in tfms:
        if isinstance(t, IntToFloat):
            if seen_int:
                continue
            seen_int = True
        out.append(t)
    return sorted(out, key=lambda t: getattr(t, "order", 50))


def _rows(column: Any, idx: Sequence[int]) -> Any:
    """The split's rows of an encoded target (a tensor, or a list of per-item values)."""
    if isinstance(column, Tensor):
        return column[torch.as_tensor(idx, dtype=torch.long)]
    return [column[i] for i in idx]


def _step(name: str, received: Any, call: Any) -> Any:
    """One traced step; a failure names the step and what it received."""
    try:
        return call()
    except Exception as e:  # noqa: BLE001 (a user's transform or the decoder failed)
        raise DataBlockError(
            f"Step {name} failed on {describe(received)}: {type(e).__name__}: {e}"
        ) from e
