"""Targets that follow their image's geometry: points now, bounding boxes next.

    >>> pts = TensorPoint(torch.tensor([[12.0, 30.5]]))   # (n, 2) pixels (x, y) of the source
    >>> pts.to_points()                                      # the (x, y) points that move
    >>> TensorPoint.collate([a, b])                          # (B, n, 2): one batch

How a geometric target moves, from file to batch:

1. A `SpatialBlock` (vision/blocks.py: `PointBlock`; masks are the other kind) encodes each
   item's value as a `TensorGeometry` in pixels of the source image.
2. `ImageDataset` loads it with its image: `to_points()` gives (m, 2) points, scaled to
   [-1, 1] of the source (-1 the left/top edge, +1 the right/bottom edge: fastai's and
   `grid_sample`'s convention); each item transform moves them with the image
   (`_Geometry.move_points`), and `from_points` rebuilds the target, in [-1, 1] of the final
   image. `collate` stacks the items (points) or pads them (boxes).
3. The batch transforms that move pixels (`AffineWarp`, `CenterResize`) find the
   `TensorGeometry` elements of the batch and move their `to_points()` with the images: the
   inverse of the sampling homography (flips, rotation, zoom, warp, crop), or the centre crop,
   then `from_points`.

A bounding-box block plugs in without changing 2 or 3: `TensorBBox(TensorGeometry)` holds
(n, 4) corners (x0, y0, x1, y1); `to_points` gives the four corners of each box (4n, 2) and
`from_points` their enclosing boxes, clamped to [-1, 1]; `collate` pads each item to the
batch's largest count (the padding rows stay padding); the labels are an ordinary target
block padded the same way. Only `SpatialBlock`s and these three methods are new.

A `TensorGeometry` is a marker type, as torchvision's `tv_tensors`: `.to()`, `.clone()`,
`.detach()` and `pin_memory()` keep it, every other operation returns a plain tensor, so
models, losses and metrics never see it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["TensorGeometry", "TensorPoint", "geometric_targets", "homography_points", "crop_points"]

_KEEPS_TYPE = {
    Tensor.to,
    Tensor.clone,
    Tensor.detach,
    Tensor.requires_grad_,
    Tensor.pin_memory,
    Tensor.cpu,
    Tensor.cuda,
    Tensor.contiguous,
}


class TensorGeometry(Tensor):
    """Base of coordinate targets that move with their image (see the module's docstring).

    Subclasses say how their values become (x, y) points and back; the transforms move points.
    """

    def __new__(cls, data: Any) -> TensorGeometry:
        t = torch.as_tensor(data, dtype=torch.float32)
        return t.as_subclass(cls)

    @classmethod
    def __torch_function__(
        cls,
        func: Callable,
        types: Any,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        with torch._C.DisableTorchFunctionSubclass():
            out = func(*args, **(kwargs or {}))
        if func in _KEEPS_TYPE and isinstance(out, Tensor):
            return out.as_subclass(type(args[0]))
        return out  # a plain tensor: models and losses never see the marker

    def __repr__(self, *, tensor_contents: Any = None) -> str:
        return f"{type(self).__name__}({self.as_subclass(Tensor)!r})"

    def to_points(self) -> Tensor:
        """The (..., m, 2) points (x, y) that carry this target's geometry (plain tensor)."""
        raise NotImplementedError

    def from_points(self, points: Tensor) -> TensorGeometry:
        """This target rebuilt from its moved `to_points()` (same type)."""
        raise NotImplementedError

    @classmethod
    def collate(cls, items: Sequence[TensorGeometry]) -> TensorGeometry:
        """One batch from the items' targets."""
        raise NotImplementedError


class TensorPoint(TensorGeometry):
    """(..., n, 2) points (x, y): in source pixels when encoded, in [-1, 1] of the image in
    batches (fastai's convention). `collate` needs the same n for every image."""

    def to_points(self) -> Tensor:
        return self.as_subclass(Tensor)

    def from_points(self, points: Tensor) -> TensorPoint:
        return points.as_subclass(TensorPoint)

    @classmethod
    def collate(cls, items: Sequence[TensorGeometry]) -> TensorPoint:
        shapes = sorted({tuple(t.shape) for t in items})
        if len(shapes) > 1:
            raise ValueError(
                f"Points in a batch must have one shape (n, 2) to be stacked. "
                f"Received: {shapes[:4]}. Fix: give every image the same number "
                "of points."
            )
        return torch.stack([t.as_subclass(Tensor) for t in items]).as_subclass(cls)


def geometric_targets(batch: Sequence[Any]) -> list[int]:
    """Positions of the batch elements (after the images) that move with the images."""
    return [i for i, t in enumerate(batch[1:], 1) if isinstance(t, TensorGeometry)]


def homography_points(points: Tensor, mats: Tensor) -> Tensor:
    """Points (B, m, 2) of the source -> of the output, under `mats` (B, 3, 3): the maps from
    output to source coordinates that `grid_sample` uses (so their inverse)."""
    inv = torch.linalg.inv(mats.float())
    ones = torch.ones_like(points[..., :1])
    p = torch.cat([points.float(), ones], -1) @ inv.transpose(1, 2)  # (B, m, 3)
    return (p[..., :2] / p[..., 2:]).to(points.dtype)


def crop_points(points: Tensor, in_hw: Sequence[int], box: Sequence[int]) -> Tensor:
    """Points in [-1, 1] of an (h, w) image -> in [-1, 1] of its crop `box` (top, left, ch, cw)
    (resizing the crop keeps normalised coordinates)."""
    (h, w), (top, left, ch, cw) = in_hw, box
    x = ((points[..., 0] + 1) * (w / 2) - left) * (2 / cw) - 1
    y = ((points[..., 1] + 1) * (h / 2) - top) * (2 / ch) - 1
    return torch.stack([x, y], -1)
