"""FCOS: a one-stage, anchor-free detector over any vision body, with a feature pyramid.

    >>> body = create_unet_encoder("resnet18", pretrained=False)
    >>> model = FCOS(body, n_classes=6)
    >>> model(torch.randn(2, 3, 128, 128)).shape     # (B, A, 9 + 6), see postprocess.py
    torch.Size([2, 341, 15])

The body's last outputs at strides 8, 16 and 32 (C3-C5, found by a dummy forward) feed a
feature pyramid (P3-P5, lateral 1x1 convolutions and a top-down path) extended by strided
convolutions to P6 and P7. One head, shared by every level, predicts at each location of each
level: one logit per class (a tower of `n_convs` 3x3 convolutions with GroupNorm), and the
distances from the location to the box's four sides, in strides, with a centre-ness logit (a
second tower). The distances are `exp(scale_level * x)` with a learned scale per level.

Each output row carries its location and stride (in [-1, 1] units of the input image), so
whoever reads the output (loss, metric, predict, an ONNX runtime) needs nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models.heads import dummy_forward

__all__ = ["FCOS", "FeaturePyramid", "FCOSHead", "find_taps", "location_grid", "fcos_splitter"]


def find_taps(
    body: nn.Sequential, size: int = 256, n: int = 3
) -> tuple[list[int], list[int], list[int]]:
    """(indices, strides, channels) of the body's children that end each of its last `n`
    strides (>= 8), found by a dummy forward at `size`."""
    outputs = dummy_forward(body, (size, size))
    last: dict[int, int] = {}
    for i, out in enumerate(outputs):
        last[size // out.shape[-1]] = i  # the last child at each stride
    strides = sorted(s for s in last if s >= 8)[-n:]
    if not strides:
        raise ValueError(
            f"Expected a body that reaches stride 8 or more. Received strides "
            f"{sorted(last)} at input size {size}."
        )
    taps = [last[s] for s in strides]
    return taps, strides, [outputs[i].shape[1] for i in taps]


def _conv(
    n_in: int, n_out: int, kernel: int = 3, stride: int = 1, std: float | None = None
) -> nn.Conv2d:
    conv = nn.Conv2d(n_in, n_out, kernel, stride=stride, padding=kernel // 2)
    if std is None:
        nn.init.kaiming_uniform_(conv.weight, a=1)
    else:
        nn.init.normal_(conv.weight, std=std)
    nn.init.zeros_(conv.bias)
    return conv


class FeaturePyramid(nn.Module):
    """C3..C5 (channels `in_channels`) -> P3..P(2 + len(in_channels) + n_extra), `width` each."""

    def __init__(self, in_channels: Sequence[int], width: int, n_extra: int = 2) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(_conv(c, width, 1) for c in in_channels)
        self.output = nn.ModuleList(_conv(width, width, 3) for _ in in_channels)
        self.extra = nn.ModuleList(_conv(width, width, 3, stride=2) for _ in range(n_extra))

    def forward(self, features: Sequence[Tensor]) -> list[Tensor]:
        laterals = [conv(f) for conv, f in zip(self.lateral, features)]
        for i in range(len(laterals) - 1, 0, -1):  # top-down: coarse meaning to finer maps
            up = F.interpolate(laterals[i], size=laterals[i - 1].shape[-2:], mode="nearest")
            laterals[i - 1] = laterals[i - 1] + up
        out = [conv(x) for conv, x in zip(self.output, laterals)]
        for i, conv in enumerate(self.extra):  # P6 from P5, P7 from relu(P6)
            out.append(conv(out[-1] if i == 0 else F.relu(out[-1])))
        return out


def _tower(width: int, n_convs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(n_convs):
        groups = math.gcd(32, max(width // 4, 1))  # 32 groups of 4+ channels, as FCOS at 128+
        layers += [
            _conv(width, width, std=0.01),
            nn.GroupNorm(groups, width),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


class FCOSHead(nn.Module):
    """The head shared by every level: class logits, side distances and centre-ness."""

    def __init__(
        self, width: int, n_classes: int, n_levels: int, *, n_convs: int = 4, prior: float = 0.01
    ) -> None:
        super().__init__()
        self.cls_tower, self.box_tower = _tower(width, n_convs), _tower(width, n_convs)
        self.cls_logits = _conv(width, n_classes, std=0.01)
        nn.init.constant_(self.cls_logits.bias, -math.log((1 - prior) / prior))  # p = prior
        self.box_pred = _conv(width, 4, std=0.01)
        self.centerness = _conv(width, 1, std=0.01)
        self.scales = nn.Parameter(torch.ones(n_levels))

    def forward(self, feature: Tensor, level: int) -> tuple[Tensor, Tensor, Tensor]:
        """(class logits (B, C, h, w), distances in strides (B, 4, h, w), centre-ness
        (B, 1, h, w))."""
        box = self.box_tower(feature)
        dist = torch.exp((self.scales[level] * self.box_pred(box)).clamp(max=10.0))
        return self.cls_logits(self.cls_tower(feature)), dist, self.centerness(box)


def location_grid(h: int, w: int, stride: int, image_hw: Sequence[int], like: Tensor) -> Tensor:
    """(h * w, 4): each location's centre (cx, cy) and the stride (sx, sy), in [-1, 1] units
    of an image of `image_hw` (pixel centres at (j + 0.5) * stride, as FCOS)."""
    H, W = image_hw  # noqa: N806 (the image's size, as in the papers)
    xs = (torch.arange(w, device=like.device, dtype=like.dtype) + 0.5) * (2 * stride / W) - 1
    ys = (torch.arange(h, device=like.device, dtype=like.dtype) + 0.5) * (2 * stride / H) - 1
    cy, cx = torch.meshgrid(ys, xs, indexing="ij")
    sx = torch.full_like(cx, 2 * stride / W)
    sy = torch.full_like(cy, 2 * stride / H)
    return torch.stack([cx, cy, sx, sy], -1).reshape(h * w, 4)


class FCOS(nn.Module):
    """Body -> feature pyramid -> shared head; output (B, A, 9 + n_classes) (postprocess.py).

    `width`: channels of the pyramid and head (FCOS uses 256; 128 trains ~3.5x faster on a
    CPU at little cost on small data); `n_convs`: 3x3 convolutions per head tower; `n_extra`:
    pyramid levels above the body's last stride (P6, P7).
    """

    def __init__(
        self,
        body: nn.Sequential,
        n_classes: int,
        *,
        width: int = 128,
        n_convs: int = 4,
        n_extra: int = 2,
    ) -> None:
        super().__init__()
        if n_classes < 1:
            raise ValueError(f"Expected n_classes >= 1. Received: {n_classes}.")
        self.body = body
        self.taps, strides, channels = find_taps(body)
        self.strides = strides + [strides[-1] * 2 ** (k + 1) for k in range(n_extra)]
        self.fpn = FeaturePyramid(channels, width, n_extra)
        self.head = FCOSHead(width, n_classes, len(self.strides), n_convs=n_convs)
        self.n_classes = n_classes

    def features(self, x: Tensor) -> list[Tensor]:
        """The pyramid's maps P3.., finest first."""
        taps, out = [], x
        for i, child in enumerate(self.body):
            out = child(out)
            if i in self.taps:
                taps.append(out)
            if i == self.taps[-1]:
                break
        return self.fpn(taps)

    def forward(self, x: Tensor) -> Tensor:
        rows = []
        for level, (feature, stride) in enumerate(zip(self.features(x), self.strides)):
            logits, dist, ctr = self.head(feature, level)
            b, _, h, w = logits.shape
            loc = location_grid(h, w, stride, x.shape[-2:], logits).expand(b, -1, -1)
            dist = dist.flatten(2).transpose(1, 2)  # (B, h*w, 4): left, top, right, bottom
            scale = torch.cat([loc[..., 2:], loc[..., 2:]], -1)
            sign = dist.new_tensor([-1.0, -1.0, 1.0, 1.0])
            boxes = torch.cat([loc[..., :2], loc[..., :2]], -1) + sign * dist * scale
            rows.append(
                torch.cat(
                    [boxes, loc, ctr.flatten(2).transpose(1, 2), logits.flatten(2).transpose(1, 2)],
                    -1,
                )
            )
        return torch.cat(rows, 1)


def fcos_splitter(model: FCOS, split: int | None = None) -> list[list[nn.Parameter]]:
    """Three parameter groups: early body, late body (from `split`, default the first tap
    after stride 8: the stride-16 part), pyramid and head."""
    split = model.taps[0] + 1 if split is None else split
    body_ids = {id(p) for p in model.body.parameters()}
    new = [p for p in model.parameters() if id(p) not in body_ids]
    return [list(model.body[:split].parameters()), list(model.body[split:].parameters()), new]
