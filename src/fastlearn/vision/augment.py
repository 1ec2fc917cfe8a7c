"""Image transforms: per item on the CPU (Pillow), per batch on the device (torch).

Item transforms (`Resize`, `RandomResizedCrop`) bring every image to one size so images can be
batched. They draw their geometry once per item and apply it to the image (bilinear) and to
its mask (nearest). They take `train=`: random crops for training, centre crops otherwise
(the dataset of each split passes its own flag).

Batch transforms take and return the batch tuple `(images, *targets)` on the device:

    IntToFloat (0) -> AffineWarp (10, training) -> CenterResize (15) -> Lighting (20, training)
        -> Normalize (90)

`AffineWarp` composes flip, rotation, zoom, crop and a perspective warp into one 3x3 matrix
per image and resamples the batch once (one `grid_sample`), so quality is lost once. Dense
targets (masks: the batch elements after the first whose last two dimensions match the
images') follow the same geometry, with nearest-neighbour sampling for integer masks.

    >>> item_tfms = Resize(460)                             # presizing: large, on the CPU
    >>> batch_tfms = aug_transforms(size=224, min_scale=0.75)   # crop + augment, on the device
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from .image import image_to_tensor, open_image

__all__ = [
    "ItemTransform",
    "Resize",
    "RandomResizedCrop",
    "IntToFloat",
    "Normalize",
    "AffineWarp",
    "CenterResize",
    "Lighting",
    "aug_transforms",
    "affine_matrices",
    "identity_params",
    "sampling_grid",
]

Size = int | tuple[int, int]
Batch = tuple[Tensor, ...]
_RESIZE_METHODS = ("crop", "pad", "squish")
_PAD_MODES = {"zeros": "constant", "reflection": "reflect", "border": "edge"}


def _pair(size: Size) -> tuple[int, int]:
    """`size` as (height, width)."""
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if h < 1 or w < 1:
        raise ValueError(f"Expected a positive size (int or (height, width)). Received: {size}.")
    return int(h), int(w)


# ---------------------------------------------------------------------------- item transforms
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
        out = img.resize(geom.size, resample, box=box, reducing_gap=None
                         if resample == Image.Resampling.NEAREST else 3.0)
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
        return (self.apply(img, geom, Image.Resampling.BILINEAR),
                self.apply(mask, geom, Image.Resampling.NEAREST))


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
    out = Image.fromarray(np.pad(arr, widths, mode=_PAD_MODES[pad_mode]), img.mode)
    if img.mode == "P":
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
        if pad_mode not in _PAD_MODES:
            raise ValueError(f"Expected pad_mode in {tuple(_PAD_MODES)}. Received: {pad_mode!r}.")
        self.size, self.method, self.pad_mode = _pair(size), method, pad_mode

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
        self.size, self.min_scale, self.ratio, self.val_xtra = _pair(size), min_scale, ratio, val_xtra

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


# ---------------------------------------------------------------------------- batch transforms
def _dense_targets(batch: Batch) -> list[int]:
    """Positions of the batch elements that are per-pixel targets of the images (masks)."""
    hw = batch[0].shape[-2:]
    return [i for i, t in enumerate(batch[1:], 1)
            if isinstance(t, Tensor) and t.ndim >= 3 and t.shape[-2:] == hw]


def _as_float(x: Tensor) -> Tensor:
    return x if x.is_floating_point() else x.float().div_(255.0)


class IntToFloat:
    """uint8 images -> float in [0, 1]; integer masks -> int64 class indices."""

    order, train_only = 0, False

    def __call__(self, batch: Batch) -> Batch:
        out = list(batch)
        out[0] = _as_float(batch[0])
        for i in _dense_targets(batch):
            if not out[i].is_floating_point():
                out[i] = out[i].long()
        return tuple(out)


class Normalize:
    """(x - mean) / std per channel, on images in [0, 1] (uint8 images are scaled first).

    Statistics with fewer channels than the images: the extra channels use their average
    (an RGBA image with ImageNet statistics); with more: every channel uses the average (a grey
    image with ImageNet statistics, matching a first convolution summed over RGB).
    """

    order, train_only = 90, False

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        if len(mean) != len(std) or any(s <= 0 for s in std):
            raise ValueError(f"Expected mean and std of one length with std > 0. Received: "
                             f"mean={tuple(mean)}, std={tuple(std)}.")
        self.mean, self.std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        self._cache: dict[tuple, tuple[Tensor, Tensor]] = {}

    @classmethod
    def from_stats(cls, mean: Sequence[float], std: Sequence[float]) -> Normalize:
        """`Normalize.from_stats(*IMAGENET_STATS)`."""
        return cls(mean, std)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"

    def to_state(self) -> dict[str, list[float]]:
        """The statistics as plain JSON."""
        return {"mean": list(self.mean), "std": list(self.std)}

    def _stats(self, x: Tensor) -> tuple[Tensor, Tensor]:
        key = (x.device, x.dtype, x.shape[1])
        if key not in self._cache:
            mean, std = _fit_channels(self.mean, x.shape[1]), _fit_channels(self.std, x.shape[1])
            shape = (1, -1, 1, 1)
            self._cache[key] = (torch.tensor(mean, dtype=x.dtype, device=x.device).view(shape),
                                torch.tensor(std, dtype=x.dtype, device=x.device).view(shape))
        return self._cache[key]

    def __call__(self, batch: Batch) -> Batch:
        x = _as_float(batch[0])
        mean, std = self._stats(x)
        return ((x - mean) / std, *batch[1:])

    def decode(self, x: Tensor) -> Tensor:
        """Normalised images back to [0, 1]."""
        mean, std = self._stats(x)
        return x * std + mean


def _fit_channels(values: tuple[float, ...], n: int) -> list[float]:
    avg = sum(values) / len(values)
    if n == len(values):
        return list(values)
    return list(values) + [avg] * (n - len(values)) if n > len(values) else [avg] * n


class AffineWarp:
    """Flip, rotate, zoom, crop and perspective-warp a batch with ONE resampling.

    Per image: a horizontal flip with probability `flip_p` (`flip_vert`: also vertical flips
    and transposes); a rotation up to `max_rotate` degrees, a zoom in `min_zoom`..`max_zoom`
    (at a random place) and a perspective warp up to `max_warp`, each with probability
    `p_affine`. With `size`, the output is that size, from a random crop of area
    `min_scale`..1 and aspect in `ratio` (presizing). Images are sampled bilinearly, integer
    masks by nearest neighbour; outside the image, `pad_mode` ('reflection', 'zeros',
    'border').
    """

    order, train_only = 10, True

    def __init__(
        self,
        *,
        flip_p: float = 0.5,
        flip_vert: bool = False,
        max_rotate: float = 10.0,
        min_zoom: float = 1.0,
        max_zoom: float = 1.1,
        max_warp: float = 0.2,
        p_affine: float = 0.75,
        size: Size | None = None,
        min_scale: float = 1.0,
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        mode: str = "bilinear",
        pad_mode: str = "reflection",
    ) -> None:
        if not 0 <= max_warp < 0.5:
            raise ValueError(f"Expected 0 <= max_warp < 0.5. Received: {max_warp}.")
        if not 0 < min_zoom <= max_zoom:
            raise ValueError(f"Expected 0 < min_zoom <= max_zoom. Received: {min_zoom}, {max_zoom}.")
        if pad_mode not in _PAD_MODES:
            raise ValueError(f"Expected pad_mode in {tuple(_PAD_MODES)}. Received: {pad_mode!r}.")
        self.flip_p, self.flip_vert, self.max_rotate = flip_p, flip_vert, max_rotate
        self.min_zoom, self.max_zoom, self.max_warp, self.p_affine = (min_zoom, max_zoom,
                                                                      max_warp, p_affine)
        self.size = _pair(size) if size is not None else None
        self.min_scale, self.ratio, self.mode, self.pad_mode = min_scale, ratio, mode, pad_mode

    def __repr__(self) -> str:
        return (f"AffineWarp(flip_p={self.flip_p}, max_rotate={self.max_rotate}, "
                f"max_zoom={self.max_zoom}, max_warp={self.max_warp}, size={self.size})")

    def __call__(self, batch: Batch) -> Batch:
        x = _as_float(batch[0])
        out_hw = self.size or tuple(x.shape[-2:])
        params = self.draw(len(x), tuple(x.shape[-2:]), out_hw, x.device)
        grid = sampling_grid(affine_matrices(params, out_hw), out_hw)
        out = list(batch)
        out[0] = F.grid_sample(x, grid.to(x.dtype), mode=self.mode, padding_mode=self.pad_mode,
                               align_corners=False)
        for i in _dense_targets(batch):
            out[i] = _resample_target(batch[i], grid, self.pad_mode)
        return tuple(out)

    def draw(
        self, n: int, in_hw: tuple[int, int], out_hw: tuple[int, int], device: torch.device
    ) -> dict[str, Tensor]:
        """Random parameters for `n` images (see `identity_params` for their meaning)."""
        def uniform(lo: float, hi: float) -> Tensor:
            return torch.rand(n, device=device) * (hi - lo) + lo

        def chosen(p: float) -> Tensor:
            return (torch.rand(n, device=device) < p).float()

        zoom = 1 + (uniform(self.min_zoom, self.max_zoom) - 1) * chosen(self.p_affine)
        shift = 1 - 1 / zoom  # how far the zoomed window may move and stay inside
        warp_on, vert = chosen(self.p_affine), 0.5 if self.flip_vert else 0.0
        params = {
            "flip_x": chosen(self.flip_p), "flip_y": chosen(vert), "transpose": chosen(vert),
            "rotate": uniform(-self.max_rotate, self.max_rotate) * chosen(self.p_affine),
            "zoom": zoom, "shift_x": uniform(-1, 1) * shift, "shift_y": uniform(-1, 1) * shift,
            "warp_x": uniform(-self.max_warp, self.max_warp) * warp_on,
            "warp_y": uniform(-self.max_warp, self.max_warp) * warp_on,
        }
        if self.size is not None:
            params.update(self._draw_crop(n, in_hw, out_hw, device))
        return identity_params(n, device) | params

    def _draw_crop(
        self, n: int, in_hw: tuple[int, int], out_hw: tuple[int, int], device: torch.device
    ) -> dict[str, Tensor]:
        """A random region: area `min_scale`..1 of the source, aspect `ratio` x the output's."""
        (h, w), (oh, ow) = in_hw, out_hw
        area = (torch.rand(n, device=device) * (1 - self.min_scale) + self.min_scale) * (w * h)
        lo, hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        aspect = torch.exp(torch.rand(n, device=device) * (hi - lo) + lo) * (ow / oh)
        crop_w = (torch.sqrt(area * aspect) / w).clamp(max=1.0)  # fraction of the width
        crop_h = (torch.sqrt(area / aspect) / h).clamp(max=1.0)
        return {"crop_w": crop_w, "crop_h": crop_h,
                "crop_x": (torch.rand(n, device=device) * 2 - 1) * (1 - crop_w),
                "crop_y": (torch.rand(n, device=device) * 2 - 1) * (1 - crop_h)}


def identity_params(n: int, device: torch.device | str = "cpu") -> dict[str, Tensor]:
    """Parameters (each (n,)) that leave images unchanged.

    flip_x/flip_y/transpose: 0 or 1; rotate: degrees (counter-clockwise on screen); zoom: > 1
    magnifies; shift_x/y: where the zoomed window sits (normalised units, -1..1 = the image);
    warp_x/y: perspective strength; crop_w/h: the fraction of the source's width/height shown,
    crop_x/y: its centre (normalised units).
    """
    zero, one = torch.zeros(n, device=device), torch.ones(n, device=device)
    names_zero = ("flip_x", "flip_y", "transpose", "rotate", "shift_x", "shift_y", "warp_x",
                  "warp_y", "crop_x", "crop_y")
    return {k: zero for k in names_zero} | {"zoom": one, "crop_w": one, "crop_h": one}


def affine_matrices(p: dict[str, Tensor], out_hw: Sequence[int]) -> Tensor:
    """(n, 3, 3) homographies: output pixel (x, y, 1), normalised to -1..1, -> source pixel.

    Applied right to left: perspective warp, flips and transpose, rotation and zoom (in square
    pixels of the output, so a rotation stays a rotation on non-square images), then the crop.
    """
    one, zero = torch.ones_like(p["zoom"]), torch.zeros_like(p["zoom"])
    aspect = out_hw[1] / out_hw[0]
    m = _mat(one, zero, zero, zero, one, zero, p["warp_x"], p["warp_y"], one)
    sx, sy, t = 1 - 2 * p["flip_x"], 1 - 2 * p["flip_y"], p["transpose"]
    m = _mat(sx * aspect, zero, zero, zero, sy, zero, zero, zero, one) @ m
    m = _mat(1 - t, t, zero, t, 1 - t, zero, zero, zero, one) @ m
    theta = p["rotate"] * math.pi / 180  # y points down: positive turns the content ccw
    cos, sin = torch.cos(theta) / p["zoom"], torch.sin(theta) / p["zoom"]
    m = _mat(cos / aspect, -sin / aspect, p["shift_x"], sin, cos, p["shift_y"],
             zero, zero, one) @ m
    return _mat(p["crop_w"], zero, p["crop_x"], zero, p["crop_h"], p["crop_y"],
                zero, zero, one) @ m


_BASE_GRIDS: dict[tuple, Tensor] = {}


def sampling_grid(mats: Tensor, out_hw: Sequence[int]) -> Tensor:
    """The `grid_sample` grid (n, H, W, 2) of homographies `mats` over an output of `out_hw`."""
    key = (tuple(out_hw), mats.device)
    if key not in _BASE_GRIDS:
        ys = (torch.arange(out_hw[0], device=mats.device) * 2 + 1) / out_hw[0] - 1  # centres
        xs = (torch.arange(out_hw[1], device=mats.device) * 2 + 1) / out_hw[1] - 1
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        _BASE_GRIDS[key] = torch.stack([gx, gy, torch.ones_like(gx)], -1).view(-1, 3)
    pts = _BASE_GRIDS[key] @ mats.transpose(1, 2)  # (n, H*W, 3)
    return (pts[..., :2] / pts[..., 2:]).view(len(mats), out_hw[0], out_hw[1], 2)


def _mat(*entries: Tensor) -> Tensor:
    """(n, 3, 3) from nine (n,) tensors, row by row."""
    return torch.stack([e.float() for e in entries], -1).view(-1, 3, 3)


def _resample_target(t: Tensor, grid: Tensor, pad: str) -> Tensor:
    """A dense target under the images' grid: nearest for integer masks, bilinear otherwise."""
    squeeze = t.ndim == 3  # (B, H, W) masks
    src = t[:, None] if squeeze else t
    mode = "bilinear" if t.is_floating_point() else "nearest"
    out = F.grid_sample(src.float(), grid, mode=mode, padding_mode=pad, align_corners=False)
    out = out[:, 0] if squeeze else out
    return out if t.is_floating_point() else out.round_().to(t.dtype)


class CenterResize:
    """The centre of every image (and mask) at `size`: the validation side of presizing.

    Training batches already have `size` (`AffineWarp` cropped them) and pass unchanged.
    Images are resized with antialiasing, masks by nearest neighbour.
    """

    order, train_only = 15, False

    def __init__(self, size: Size) -> None:
        self.size = _pair(size)

    def __repr__(self) -> str:
        return f"CenterResize({self.size})"

    def __call__(self, batch: Batch) -> Batch:
        (h, w), (oh, ow) = batch[0].shape[-2:], self.size
        if (h, w) == (oh, ow):
            return batch
        scale = max(oh / h, ow / w)
        ch, cw = min(h, round(oh / scale)), min(w, round(ow / scale))
        top, left = (h - ch) // 2, (w - cw) // 2
        out = list(batch)
        x = _as_float(batch[0])[..., top:top + ch, left:left + cw]
        out[0] = F.interpolate(x, size=self.size, mode="bilinear", antialias=True,
                               align_corners=False)
        for i in _dense_targets(batch):
            t = batch[i][..., top:top + ch, left:left + cw]
            src = t[:, None] if t.ndim == 3 else t
            r = F.interpolate(src.float(), size=self.size, mode="nearest-exact")
            r = r[:, 0] if t.ndim == 3 else r
            out[i] = r if t.is_floating_point() else r.to(t.dtype)
        return tuple(out)


class Lighting:
    """Random brightness and contrast, in logit space so pixels stay in (0, 1).

    With probability `p` each: brightness b in 0.5 +- max_lighting/2 (added as logit(b)),
    contrast c in [1 - max_lighting, 1 / (1 - max_lighting)] (log-uniform, multiplying).
    """

    order, train_only = 20, True

    def __init__(self, max_lighting: float = 0.2, p: float = 0.75, *, eps: float = 1e-6) -> None:
        if not 0 <= max_lighting < 1:
            raise ValueError(f"Expected 0 <= max_lighting < 1. Received: {max_lighting}.")
        self.max_lighting, self.p, self.eps = max_lighting, p, eps

    def __repr__(self) -> str:
        return f"Lighting(max_lighting={self.max_lighting}, p={self.p})"

    def __call__(self, batch: Batch) -> Batch:
        x = _as_float(batch[0])
        n, m, dev = len(x), self.max_lighting, x.device
        bright = torch.where(torch.rand(n, device=dev) < self.p,
                             0.5 + (torch.rand(n, device=dev) - 0.5) * m, torch.full((n,), 0.5,
                                                                                      device=dev))
        log_c = (torch.rand(n, device=dev) * 2 - 1) * -math.log(1 - m)
        contrast = torch.where(torch.rand(n, device=dev) < self.p, log_c.exp(),
                               torch.ones(n, device=dev))
        shape = (n,) + (1,) * (x.ndim - 1)
        y = torch.logit(x, eps=self.eps).add_(torch.logit(bright).view(shape))
        return (y.mul_(contrast.view(shape).to(y.dtype)).sigmoid_(), *batch[1:])


def aug_transforms(
    *,
    mult: float = 1.0,
    do_flip: bool = True,
    flip_vert: bool = False,
    max_rotate: float = 10.0,
    min_zoom: float = 1.0,
    max_zoom: float = 1.1,
    max_lighting: float = 0.2,
    max_warp: float = 0.2,
    p_affine: float = 0.75,
    p_lighting: float = 0.75,
    size: Size | None = None,
    min_scale: float = 1.0,
    mode: str = "bilinear",
    pad_mode: str = "reflection",
) -> list:
    """The course's standard augmentation as batch transforms (one resampling per batch).

    `mult` scales rotation, zoom, warp and lighting. `size` (with `min_scale`) crops each
    training image at random to that size, and the validation images at their centre.

        >>> dls = ImageDataLoaders.from_folder(path, item_tfms=Resize(460),
        ...                                    batch_tfms=aug_transforms(size=224, min_scale=0.75))
    """
    tfms: list = [AffineWarp(
        flip_p=0.5 if do_flip else 0.0, flip_vert=flip_vert, max_rotate=max_rotate * mult,
        min_zoom=min_zoom, max_zoom=1 + (max_zoom - 1) * mult, max_warp=max_warp * mult,
        p_affine=p_affine, size=size, min_scale=min_scale, mode=mode, pad_mode=pad_mode,
    )]
    if size is not None:
        tfms.append(CenterResize(size))
    if max_lighting > 0:
        tfms.append(Lighting(max_lighting * mult, p_lighting))
    return tfms
