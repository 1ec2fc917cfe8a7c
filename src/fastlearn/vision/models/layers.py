"""Building blocks shared by the vision heads, the small CNN and the U-Net."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = [
    "AdaptiveConcatPool2d",
    "PixelShuffleICNR",
    "ResBlock",
    "conv_bn_relu",
    "icnr_",
]


def conv_bn_relu(
    n_in: int, n_out: int, kernel_size: int = 3, *, stride: int = 1, act: bool = True
) -> nn.Sequential:
    """Conv (no bias, 'same' padding for odd kernels), BatchNorm, then ReLU unless ``act=False``."""
    layers: list[nn.Module] = [
        nn.Conv2d(n_in, n_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(n_out),
    ]
    nn.init.kaiming_normal_(layers[0].weight, nonlinearity="relu")
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class AdaptiveConcatPool2d(nn.Module):
    """Concatenate adaptive max and average pooling: (B, C, H, W) -> (B, 2C, size, size)."""

    def __init__(self, size: int = 1) -> None:
        super().__init__()
        self.max_pool = nn.AdaptiveMaxPool2d(size)
        self.avg_pool = nn.AdaptiveAvgPool2d(size)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.max_pool(x), self.avg_pool(x)], dim=1)


def icnr_(weight: Tensor, scale: int = 2) -> Tensor:
    """ICNR: initialise a conv feeding PixelShuffle(scale) so it starts as nearest upsampling.

    Each group of ``scale**2`` consecutive output channels (one output channel after the
    shuffle) gets identical kernels, so the ``scale x scale`` sub-pixels start equal: no
    checkerboard at initialisation (Aitken et al. 2017).
    """
    n_out = weight.shape[0]
    if n_out % (scale * scale):
        raise ValueError(f"Expected channels divisible by {scale * scale}. Received: {n_out}")
    base = torch.empty(n_out // (scale * scale), *weight.shape[1:], dtype=weight.dtype)
    nn.init.kaiming_normal_(base, nonlinearity="relu")
    with torch.no_grad():
        weight.copy_(base.repeat_interleave(scale * scale, dim=0))
    return weight


class PixelShuffleICNR(nn.Sequential):
    """Upsample by ``scale``: 1x1 conv to ``n_out * scale**2`` channels, BN, ReLU, PixelShuffle.

    ``blur=True`` adds a one-pixel shift and 2x2 average pool that removes residual checkerboards.
    """

    def __init__(self, n_in: int, n_out: int | None = None, *, scale: int = 2, blur: bool = False):
        n_out = n_in if n_out is None else n_out
        conv = conv_bn_relu(n_in, n_out * scale * scale, kernel_size=1)
        icnr_(conv[0].weight, scale)
        layers: list[nn.Module] = [conv, nn.PixelShuffle(scale)]
        if blur:
            layers += [nn.ReplicationPad2d((1, 0, 1, 0)), nn.AvgPool2d(2, stride=1)]
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Two 3x3 conv-BN layers with a shortcut (1x1 conv when widths differ), then ReLU."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(conv_bn_relu(n_in, n_out), conv_bn_relu(n_out, n_out, act=False))
        nn.init.zeros_(self.convs[1][1].weight)  # the block starts as its shortcut
        self.shortcut = nn.Identity() if n_in == n_out else conv_bn_relu(n_in, n_out, 1, act=False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.convs(x) + self.shortcut(x))
