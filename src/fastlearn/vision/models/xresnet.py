"""XResNet: the ResNet with the "bag of tricks" changes (He et al., 2019) that the course
trains from scratch (Imagenette, book chapter 7).

    >>> model = xresnet50(n_out=10)
    >>> model(torch.randn(2, 3, 128, 128)).shape
    torch.Size([2, 10])

The changes from a ResNet: a stem of three 3x3 convolutions (32, 32, 64 channels) instead of
one 7x7; in a down-sampling block the stride is on the 3x3 convolution, and the shortcut
average-pools before its 1x1 convolution (no information thrown away by a strided 1x1); the
last BatchNorm of every residual branch starts at zero, so each block starts as the identity.
Layout as a plain `nn.Sequential`: stem (0-3), the four stages (4-7), then the head (pool,
flatten, dropout, linear), so `create_body` cuts it like a ResNet (`cut=-4`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["XResNet", "xresnet18", "xresnet34", "xresnet50", "xresnet101", "xresnet152"]


def _conv_layer(
    ni: int, nf: int, ks: int = 3, stride: int = 1, *, act: bool = True, zero_bn: bool = False
) -> nn.Sequential:
    """Conv (no bias) -> BatchNorm (weight 0 when `zero_bn`) -> ReLU (when `act`)."""
    bn = nn.BatchNorm2d(nf)
    nn.init.constant_(bn.weight, 0.0 if zero_bn else 1.0)
    layers: list[nn.Module] = [
        nn.Conv2d(ni, nf, ks, stride=stride, padding=ks // 2, bias=False),
        bn,
    ]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class ResBlock(nn.Module):
    """A residual block: 2 convolutions (expansion 1) or a 1x1-3x3-1x1 bottleneck (4)."""

    def __init__(self, expansion: int, ni: int, nf: int, stride: int = 1) -> None:
        super().__init__()
        n_in, n_out = ni * expansion, nf * expansion
        if expansion == 1:
            self.convs = nn.Sequential(
                _conv_layer(n_in, nf, 3, stride), _conv_layer(nf, n_out, 3, act=False, zero_bn=True)
            )
        else:
            self.convs = nn.Sequential(
                _conv_layer(n_in, nf, 1),
                _conv_layer(nf, nf, 3, stride),
                _conv_layer(nf, n_out, 1, act=False, zero_bn=True),
            )
        shortcut: list[nn.Module] = []
        if stride != 1:
            shortcut.append(nn.AvgPool2d(2, ceil_mode=True))
        if n_in != n_out:
            shortcut.append(_conv_layer(n_in, n_out, 1, act=False))
        self.idpath = nn.Sequential(*shortcut)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.convs(x) + self.idpath(x))


class XResNet(nn.Sequential):
    """XResNet with `layers` blocks per stage; `expansion` 1 (18, 34) or 4 (50 and deeper)."""

    def __init__(
        self,
        expansion: int,
        layers: Sequence[int],
        n_out: int = 1000,
        c_in: int = 3,
        *,
        p: float = 0.0,
        widths: Sequence[int] = (64, 128, 256, 512),
    ) -> None:
        stem = [_conv_layer(c_in, 32, stride=2), _conv_layer(32, 32), _conv_layer(32, 64)]
        sizes = [64 // expansion, *widths]
        stages = []
        for i, n in enumerate(layers):
            blocks = [
                ResBlock(
                    expansion,
                    sizes[i] if j == 0 else sizes[i + 1],
                    sizes[i + 1],
                    stride=1 if i == 0 or j > 0 else 2,
                )
                for j in range(n)
            ]
            stages.append(nn.Sequential(*blocks))
        super().__init__(
            *stem,
            nn.MaxPool2d(3, stride=2, padding=1),
            *stages,
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(p),
            nn.Linear(sizes[-1] * expansion, n_out),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")


def _xresnet(
    expansion: int, layers: Sequence[int], pretrained: bool, n_out: int, kwargs: dict
) -> XResNet:
    if pretrained:
        raise ValueError(
            "XResNet has no published pretrained weights here: it is the course's "
            "model to train from scratch. Fix: pretrained=False, or resnet34 / "
            "efficientnet_lite0 for transfer learning."
        )
    kwargs.pop("num_classes", None)
    return XResNet(expansion, layers, n_out=n_out, **kwargs)


def xresnet18(pretrained: bool = False, n_out: int = 1000, **kwargs) -> XResNet:
    """XResNet-18 (2, 2, 2, 2 basic blocks)."""
    return _xresnet(1, (2, 2, 2, 2), pretrained, kwargs.pop("num_classes", n_out), kwargs)


def xresnet34(pretrained: bool = False, n_out: int = 1000, **kwargs) -> XResNet:
    """XResNet-34 (3, 4, 6, 3 basic blocks)."""
    return _xresnet(1, (3, 4, 6, 3), pretrained, kwargs.pop("num_classes", n_out), kwargs)


def xresnet50(pretrained: bool = False, n_out: int = 1000, **kwargs) -> XResNet:
    """XResNet-50 (3, 4, 6, 3 bottleneck blocks)."""
    return _xresnet(4, (3, 4, 6, 3), pretrained, kwargs.pop("num_classes", n_out), kwargs)


def xresnet101(pretrained: bool = False, n_out: int = 1000, **kwargs) -> XResNet:
    """XResNet-101 (3, 4, 23, 3 bottleneck blocks)."""
    return _xresnet(4, (3, 4, 23, 3), pretrained, kwargs.pop("num_classes", n_out), kwargs)


def xresnet152(pretrained: bool = False, n_out: int = 1000, **kwargs) -> XResNet:
    """XResNet-152 (3, 8, 36, 3 bottleneck blocks)."""
    return _xresnet(4, (3, 8, 36, 3), pretrained, kwargs.pop("num_classes", n_out), kwargs)
