"""ResNet 18/34/50/101/152 in plain PyTorch, state_dict-compatible with torchvision.

The module names (``conv1 bn1 layer1..layer4 fc``; blocks ``conv1 bn1 conv2 bn2 (conv3 bn3)
downsample.0 downsample.1``) and every tensor shape match torchvision's ResNet, so the
published ImageNet files load with ``strict=True``. Bottlenecks stride on the 3x3 conv
(ResNet "V1.5"), as torchvision does.

Every builder takes ``pretrained`` (load torchvision's ImageNet weights, ``weights`` naming the
file in ``RESNET_WEIGHT_URLS``, downloaded once into ``fastlearn_home()/models``),
``weights_path`` (load a local file of the same layout instead; implies ``pretrained``) and
``num_classes`` (with ``num_classes != 1000`` the classifier stays freshly initialised).

    >>> model = resnet18()  # random init
    >>> model(torch.randn(1, 3, 64, 64)).shape
    torch.Size([1, 1000])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from fastlearn.vision.models.weights import load_state_dict_from_url_or_path

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "RESNET_WEIGHT_URLS",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
]

_BASE = "https://download.pytorch.org/models/"
# torchvision's ImageNet files; the 8 hex digits in each name are the start of its sha256.
RESNET_WEIGHT_URLS: dict[str, dict[str, str]] = {
    "resnet18": {"imagenet1k_v1": _BASE + "resnet18-f37072fd.pth"},
    "resnet34": {"imagenet1k_v1": _BASE + "resnet34-b627a593.pth"},
    "resnet50": {
        "imagenet1k_v1": _BASE + "resnet50-0676ba61.pth",
        "imagenet1k_v2": _BASE + "resnet50-11ad3fa6.pth",
    },
    "resnet101": {
        "imagenet1k_v1": _BASE + "resnet101-63fe2227.pth",
        "imagenet1k_v2": _BASE + "resnet101-cd907fc2.pth",
    },
    "resnet152": {
        "imagenet1k_v1": _BASE + "resnet152-394f9c45.pth",
        "imagenet1k_v2": _BASE + "resnet152-f82ba261.pth",
    },
}


def _conv3x3(n_in: int, n_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(n_in, n_out, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(n_in: int, n_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(n_in, n_out, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs with an identity (or 1x1 projection) shortcut: ResNet 18/34."""

    expansion = 1

    def __init__(self, n_in: int, width: int, stride: int = 1) -> None:
        super().__init__()
        n_out = width * self.expansion
        self.conv1 = _conv3x3(n_in, width, stride)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(width, n_out)
        self.bn2 = nn.BatchNorm2d(n_out)
        self.downsample = _shortcut(n_in, n_out, stride)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand by 4: ResNet 50/101/152."""

    expansion = 4

    def __init__(self, n_in: int, width: int, stride: int = 1) -> None:
        super().__init__()
        n_out = width * self.expansion
        self.conv1 = _conv1x1(n_in, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = _conv1x1(width, n_out)
        self.bn3 = nn.BatchNorm2d(n_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(n_in, n_out, stride)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def _shortcut(n_in: int, n_out: int, stride: int) -> nn.Sequential | None:
    """The projection shortcut (``downsample.0`` conv, ``downsample.1`` bn) when shapes change."""
    if stride == 1 and n_in == n_out:
        return None
    return nn.Sequential(_conv1x1(n_in, n_out, stride), nn.BatchNorm2d(n_out))


Block = type[BasicBlock] | type[Bottleneck]


class ResNet(nn.Module):
    """A torchvision-layout ResNet: stem, four stages, global average pool, linear classifier."""

    def __init__(self, block: Block, layers: Sequence[int], num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        n_in = 64
        stages = []
        for i, (width, n_blocks) in enumerate(zip((64, 128, 256, 512), layers)):
            stride = 1 if i == 0 else 2
            blocks = [block(n_in, width, stride)]
            n_in = width * block.expansion
            blocks += [block(n_in, width) for _ in range(n_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's init: He (fan_out) for convs, BN to identity; Linear keeps its default.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """Stem and the four stages: (B, 3, H, W) -> (B, C, H/32, W/32)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_head(self, x: Tensor) -> Tensor:
        """Pool and classify: (B, C, h, w) -> (B, num_classes)."""
        return self.fc(torch.flatten(self.avgpool(x), 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace ``fc`` by a fresh linear layer with ``num_classes`` outputs."""
        self.fc = nn.Linear(self.fc.in_features, num_classes)


def _build(
    name: str,
    block: Block,
    layers: Sequence[int],
    pretrained: bool,
    num_classes: int,
    weights_path: str | Path | None,
    weights: str,
) -> ResNet:
    model = ResNet(block, layers, num_classes=num_classes)
    if not pretrained and weights_path is None:
        return model
    urls = RESNET_WEIGHT_URLS[name]
    if weights not in urls:
        raise ValueError(
            f"Expected weights to be one of {sorted(urls)} for {name}. Received: {weights!r}"
        )
    state = load_state_dict_from_url_or_path(urls[weights], weights_path=weights_path)
    _load_keeping_new_classifier(model, state, num_classes)
    return model


def _load_keeping_new_classifier(model: ResNet, state: dict[str, Tensor], num_classes: int) -> None:
    """Load strictly; with ``num_classes != 1000`` every tensor but the fresh ``fc`` is loaded."""
    if num_classes == 1000:
        model.load_state_dict(state, strict=True)
        return
    body = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = model.load_state_dict(body, strict=False)
    if unexpected or set(missing) != {"fc.weight", "fc.bias"}:
        raise RuntimeError(f"Weights do not fit: missing {missing}, unexpected {unexpected}")


def resnet18(
    pretrained: bool = False,
    num_classes: int = 1000,
    weights_path: str | Path | None = None,
    *,
    weights: str = "imagenet1k_v1",
) -> ResNet:
    """ResNet-18 (11,689,512 parameters)."""
    layers = (2, 2, 2, 2)
    return _build("resnet18", BasicBlock, layers, pretrained, num_classes, weights_path, weights)


def resnet34(
    pretrained: bool = False,
    num_classes: int = 1000,
    weights_path: str | Path | None = None,
    *,
    weights: str = "imagenet1k_v1",
) -> ResNet:
    """ResNet-34 (21,797,672 parameters)."""
    layers = (3, 4, 6, 3)
    return _build("resnet34", BasicBlock, layers, pretrained, num_classes, weights_path, weights)


def resnet50(
    pretrained: bool = False,
    num_classes: int = 1000,
    weights_path: str | Path | None = None,
    *,
    weights: str = "imagenet1k_v1",
) -> ResNet:
    """ResNet-50 (25,557,032 parameters)."""
    layers = (3, 4, 6, 3)
    return _build("resnet50", Bottleneck, layers, pretrained, num_classes, weights_path, weights)


def resnet101(
    pretrained: bool = False,
    num_classes: int = 1000,
    weights_path: str | Path | None = None,
    *,
    weights: str = "imagenet1k_v1",
) -> ResNet:
    """ResNet-101 (44,549,160 parameters)."""
    layers = (3, 4, 23, 3)
    return _build("resnet101", Bottleneck, layers, pretrained, num_classes, weights_path, weights)


def resnet152(
    pretrained: bool = False,
    num_classes: int = 1000,
    weights_path: str | Path | None = None,
    *,
    weights: str = "imagenet1k_v1",
) -> ResNet:
    """ResNet-152 (60,192,808 parameters)."""
    layers = (3, 8, 36, 3)
    return _build("resnet152", Bottleneck, layers, pretrained, num_classes, weights_path, weights)
