"""Batch transforms: augmentation and normalisation on the device, with torch.

The item transforms (`Resize`, `RandomResizedCrop`, on the CPU) live in `item_tfms` and are
re-exported here. Batch transforms take and return the batch tuple `(images, *targets)` on
the device:

    IntToFloat (0) -> AffineWarp (10, training) -> CenterResize (15) -> Lighting (20, training)
        -> Normalize (90)

`AffineWarp` composes flip, rotation, zoom, crop and a perspective warp into one 3x3 matrix
per image and resamples the batch once (one `grid_sample`), so quality is lost once. Dense
targets (masks: the batch elements after the first whose last two dimensions match the
images') follow the same geometry, with nearest-neighbour sampling for integer masks;
coordinate targets (`TensorGeometry`: points, boxes) move by the inverse map.

    >>> item_tfms = Resize(460)                             # presizing: large, on the CPU
    >>> batch_tfms = aug_transforms(size=224, min_scale=0.75)   # crop + augment, on the device
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .geometry import TensorGeometry, crop_points, geometric_targets, homography_points
from .item_tfms import ItemTransform, RandomResizedCrop, Resize, Size, pair_size

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

Batch = tuple[Tensor, ...]
_PAD_MODES = ("zeros", "reflection", "border")  # grid_sample's names


def _dense_targets(batch: Batch) -> list[int]:
    """Positions of the batch elements that are per-pixel targets of the images (masks)."""
    hw = batch[0].shape[-2:]
    return [
        i
        for i, t in enumerate(batch[1:], 1)
        if isinstance(t, Tensor)
        and not isinstance(t, TensorGeometry)
        and t.ndim >= 3
        and t.shape[-2:] == hw
    ]


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
            raise ValueError(
                f"Expected mean and std of one length with std > 0. Received: "
                f"mean={tuple(mean)}, std={tuple(std)}."
            )
        self.mean, self.std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        self._cache: dict[tuple, tuple[Tensor, ...]] = {}

    @classmethod
    def from_stats(cls, mean: Sequence[float], std: Sequence[float]) -> Normalize:
        """`Normalize.from_stats(*IMAGENET_STATS)`."""
        return cls(mean, std)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"

    def to_state(self) -> dict[str, list[float]]:
        """The statistics as plain JSON."""
        return {"mean": list(self.mean), "std": list(self.std)}

    def _stats(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """mean, std, 1/std, -mean/std shaped (1, C, 1, 1) on x's device (made once each)."""
        key = (x.device, x.dtype, x.shape[1])
        if key not in self._cache:
            mean, std = _fit_channels(self.mean, x.shape[1]), _fit_channels(self.std, x.shape[1])
            m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
            s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
            self._cache[key] = (m, s, 1 / s, -m / s)
        return self._cache[key]

    def __call__(self, batch: Batch) -> Batch:
        x = _as_float(batch[0])
        _, _, scale, shift = self._stats(x)
        return (torch.addcmul(shift, x, scale), *batch[1:])  # one pass over x

    def decode(self, x: Tensor) -> Tensor:
        """Normalised images back to [0, 1]."""
        mean, std, _, _ = self._stats(x)
        return torch.addcmul(mean, x, std)


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
            raise ValueError(
                f"Expected 0 < min_zoom <= max_zoom. Received: {min_zoom}, {max_zoom}."
            )
        if pad_mode not in _PAD_MODES:
            raise ValueError(f"Expected pad_mode in {tuple(_PAD_MODES)}. Received: {pad_mode!r}.")
        self.flip_p, self.flip_vert, self.max_rotate = flip_p, flip_vert, max_rotate
        self.min_zoom, self.max_zoom, self.max_warp, self.p_affine = (
            min_zoom,
            max_zoom,
            max_warp,
            p_affine,
        )
        self.size = pair_size(size) if size is not None else None
        self.min_scale, self.ratio, self.mode, self.pad_mode = min_scale, ratio, mode, pad_mode

    def __repr__(self) -> str:
        return (
            f"AffineWarp(flip_p={self.flip_p}, max_rotate={self.max_rotate}, "
            f"max_zoom={self.max_zoom}, max_warp={self.max_warp}, size={self.size})"
        )

    def __call__(self, batch: Batch) -> Batch:
        x = _as_float(batch[0])
        out_hw = self.size or tuple(x.shape[-2:])
        params = self.draw(len(x), tuple(x.shape[-2:]), out_hw, x.device)
        mats = affine_matrices(params, out_hw)
        grid = sampling_grid(mats, out_hw)
        out = list(batch)
        out[0] = F.grid_sample(
            x, grid.to(x.dtype), mode=self.mode, padding_mode=self.pad_mode, align_corners=False
        )
        for i in _dense_targets(batch):
            out[i] = _resample_target(batch[i], grid, self.pad_mode)
        for i in geometric_targets(batch):
            out[i] = batch[i].from_points(homography_points(batch[i].to_points(), mats))
        return tuple(out)

    def draw(
        self, n: int, in_hw: tuple[int, int], out_hw: tuple[int, int], device: torch.device
    ) -> dict[str, Tensor]:
        """Random parameters for `n` images (see `identity_params` for their meaning)."""
        rows = iter(torch.rand(12, n, device=device))  # one draw (one kernel) for all

        def uniform(lo: float, hi: float) -> Tensor:
            return next(rows) * (hi - lo) + lo

        def chosen(p: float) -> Tensor:
            return (next(rows) < p).float()

        zoom = 1 + (uniform(self.min_zoom, self.max_zoom) - 1) * chosen(self.p_affine)
        shift = 1 - 1 / zoom  # how far the zoomed window may move and stay inside
        warp_on, vert = chosen(self.p_affine), 0.5 if self.flip_vert else 0.0
        params = {
            "flip_x": chosen(self.flip_p),
            "flip_y": chosen(vert),
            "transpose": chosen(vert),
            "rotate": uniform(-self.max_rotate, self.max_rotate) * chosen(self.p_affine),
            "zoom": zoom,
            "shift_x": uniform(-1, 1) * shift,
            "shift_y": uniform(-1, 1) * shift,
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
        r = torch.rand(4, n, device=device)
        area = (r[0] * (1 - self.min_scale) + self.min_scale) * (w * h)
        lo, hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        aspect = torch.exp(r[1] * (hi - lo) + lo) * (ow / oh)
        crop_w = (torch.sqrt(area * aspect) / w).clamp(max=1.0)  # fraction of the width
        crop_h = (torch.sqrt(area / aspect) / h).clamp(max=1.0)
        return {
            "crop_w": crop_w,
            "crop_h": crop_h,
            "crop_x": (r[2] * 2 - 1) * (1 - crop_w),
            "crop_y": (r[3] * 2 - 1) * (1 - crop_h),
        }


def identity_params(n: int, device: torch.device | str = "cpu") -> dict[str, Tensor]:
    """Parameters (each (n,)) that leave images unchanged.

    flip_x/flip_y/transpose: 0 or 1; rotate: degrees (counter-clockwise on screen); zoom: > 1
    magnifies; shift_x/y: where the zoomed window sits (normalised units, -1..1 = the image);
    warp_x/y: perspective strength; crop_w/h: the fraction of the source's width/height shown,
    crop_x/y: its centre (normalised units).
    """
    zero, one = torch.zeros(n, device=device), torch.ones(n, device=device)
    names_zero = (
        "flip_x",
        "flip_y",
        "transpose",
        "rotate",
        "shift_x",
        "shift_y",
        "warp_x",
        "warp_y",
        "crop_x",
        "crop_y",
    )
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
    m = _mat(cos / aspect, -sin / aspect, p["shift_x"], sin, cos, p["shift_y"], zero, zero, one) @ m
    return _mat(p["crop_w"], zero, p["crop_x"], zero, p["crop_h"], p["crop_y"], zero, zero, one) @ m


def sampling_grid(mats: Tensor, out_hw: Sequence[int]) -> Tensor:
    """The `grid_sample` grid (n, H, W, 2) of homographies `mats` over an output of `out_hw`.

    Computed with broadcast multiply-adds over (n, H, W) (a batched matmul with an inner size
    of 3 is several times slower on CPU).
    """
    (h, w), dev = out_hw, mats.device
    ys = ((torch.arange(h, device=dev) * 2 + 1) / h - 1).view(1, h, 1)  # pixel centres
    xs = ((torch.arange(w, device=dev) * 2 + 1) / w - 1).view(1, 1, w)
    c = mats.float().view(-1, 9, 1, 1)
    inv_w = torch.addcmul(c[:, 8] + c[:, 7] * ys, c[:, 6], xs).reciprocal_()  # (n, H, W)
    grid = torch.empty(len(mats), h, w, 2, device=dev)
    grid[..., 0] = torch.addcmul(c[:, 2] + c[:, 1] * ys, c[:, 0], xs).mul_(inv_w)
    grid[..., 1] = torch.addcmul(c[:, 5] + c[:, 4] * ys, c[:, 3], xs).mul_(inv_w)
    return grid


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
        self.size = pair_size(size)

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
        x = _as_float(batch[0])[..., top : top + ch, left : left + cw]
        out[0] = F.interpolate(
            x, size=self.size, mode="bilinear", antialias=True, align_corners=False
        )
        for i in _dense_targets(batch):
            t = batch[i][..., top : top + ch, left : left + cw]
            src = t[:, None] if t.ndim == 3 else t
            r = F.interpolate(src.float(), size=self.size, mode="nearest-exact")
            r = r[:, 0] if t.ndim == 3 else r
            out[i] = r if t.is_floating_point() else r.to(t.dtype)
        for i in geometric_targets(batch):
            pts = crop_points(batch[i].to_points(), (h, w), (top, left, ch, cw))
            out[i] = batch[i].from_points(pts)
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
        n, m = len(x), self.max_lighting
        r = torch.rand(4, n, device=x.device)
        bright = torch.where(r[0] < self.p, 0.5 + (r[1] - 0.5) * m, 0.5)
        contrast = torch.where(r[2] < self.p, torch.exp((r[3] * 2 - 1) * -math.log(1 - m)), 1.0)
        shape = (n,) + (1,) * (x.ndim - 1)
        c = contrast.view(shape).to(x.dtype)
        b = (torch.logit(bright).view(shape) * c).to(x.dtype)
        # sigmoid((logit(x) + b) * c), in two passes over x
        return (torch.addcmul(b, torch.logit(x, eps=self.eps), c).sigmoid_(), *batch[1:])


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
    tfms: list = [
        AffineWarp(
            flip_p=0.5 if do_flip else 0.0,
            flip_vert=flip_vert,
            max_rotate=max_rotate * mult,
            min_zoom=min_zoom,
            max_zoom=1 + (max_zoom - 1) * mult,
            max_warp=max_warp * mult,
            p_affine=p_affine,
            size=size,
            min_scale=min_scale,
            mode=mode,
            pad_mode=pad_mode,
        )
    ]
    if size is not None:
        tfms.append(CenterResize(size))
    if max_lighting > 0:
        tfms.append(Lighting(max_lighting * mult, p_lighting))
    return tfms
