"""Transfer-learning parts: a pretrained body, a new head, and the three parameter groups.

>>> model = create_vision_model("resnet34", n_out=37, pretrained=False)
>>> model(torch.randn(2, 3, 64, 64)).shape
torch.Size([2, 37])
>>> early, late, head = vision_splitter(model)  # for discriminative learning rates
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from fastlearn.core.layers import SigmoidRange
from fastlearn.vision.models.layers import AdaptiveConcatPool2d
from fastlearn.vision.models.registry import Arch, Cut, get_arch

__all__ = [
    "adapt_first_conv",
    "body_split_index",
    "create_body",
    "create_head",
    "create_unet_encoder",
    "create_vision_model",
    "dummy_forward",
    "num_features_model",
    "vision_splitter",
]

ArchLike = str | Callable[..., nn.Module] | Arch


def _cut_model(model: nn.Module, cut: Cut) -> nn.Sequential:
    if callable(cut):
        return cut(model)
    children = list(model.children())
    if cut is None:  # cut before the last child that is or holds a pooling layer
        pooled = [i for i, c in enumerate(children) if _has_pool(c)]
        if not pooled:
            raise ValueError(
                f"Expected a pooling layer to cut {type(model).__name__} before. Received: none "
                "among its children. Pass cut= (an index into children() or a function)."
            )
        cut = pooled[-1]
    return nn.Sequential(*children[:cut])


def _has_pool(module: nn.Module) -> bool:
    return any("Pool" in type(m).__name__ for m in module.modules())


def _first_conv(module: nn.Module) -> nn.Conv2d:
    conv = next((m for m in module.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is None:
        raise ValueError(f"Expected a Conv2d in {type(module).__name__}. Received: none")
    return conv


@torch.no_grad()
def adapt_first_conv(body: nn.Module, n_in: int) -> None:
    """Give the body's first Conv2d ``n_in`` input channels, derived from its RGB weights.

    n_in=1: the sum of the RGB kernels (a grey image gives what its RGB copy would give);
    n_in=2: the first two kernels scaled by 3/2 (keeps the activation scale);
    n_in>=4: the RGB kernels, then each extra channel set to the mean of the RGB kernels.
    """
    conv = _first_conv(body)
    w = conv.weight  # (C_out, 3, k, k)
    if conv.in_channels == n_in:
        return
    if conv.in_channels != 3 or conv.groups != 1:
        raise ValueError(f"Expected a 3-channel, ungrouped first conv. Received: {conv}")
    if n_in < 1:
        raise ValueError(f"Expected n_in >= 1. Received: {n_in}")
    if n_in == 1:
        new_w = w.sum(dim=1, keepdim=True)
    elif n_in == 2:
        new_w = w[:, :2] * 1.5
    else:
        extra = w.mean(dim=1, keepdim=True).expand(-1, n_in - 3, -1, -1)
        new_w = torch.cat([w, extra], dim=1)
    conv.weight = nn.Parameter(new_w.contiguous(), requires_grad=w.requires_grad)
    conv.in_channels = n_in


def create_body(
    arch: ArchLike,
    pretrained: bool = True,
    *,
    cut: Cut = None,
    n_in: int = 3,
    weights_path: str | Path | None = None,
) -> nn.Sequential:
    """Build ``arch`` and cut off its pool and classifier, leaving an nn.Sequential body.

    ``cut`` overrides the registered cut (an index into ``children()`` or a function);
    ``n_in != 3`` adapts the first conv as ``adapt_first_conv`` describes;
    ``weights_path`` loads a local weights file for ``arch`` (the builder's ``weights_path``).
    """
    entry = get_arch(arch)
    model = (
        entry.fn(pretrained=pretrained)
        if weights_path is None
        else entry.fn(pretrained=True, weights_path=weights_path)
    )
    body = _cut_model(model, cut if cut is not None else entry.cut)
    adapt_first_conv(body, n_in)
    return body


def create_unet_encoder(
    arch: ArchLike, pretrained: bool = True, *, cut: Cut = None, n_in: int = 3
) -> nn.Sequential:
    """``create_body`` for a U-Net: the architecture's ``meta.unet_cut`` unless ``cut`` is given."""
    entry = get_arch(arch)
    return create_body(
        entry, pretrained, cut=cut if cut is not None else entry.meta.unet_cut, n_in=n_in
    )


@torch.no_grad()
def dummy_forward(body: nn.Module, size: tuple[int, int] = (64, 64)) -> list[Tensor]:
    """Run a zero batch (eval mode, no grad) through a Sequential; one output per child.

    The module's train/eval modes are restored afterwards and BN statistics are untouched.
    """
    conv = _first_conv(body)
    param = next(body.parameters())
    x = torch.zeros(1, conv.in_channels, *size, device=param.device, dtype=param.dtype)
    modes = {m: m.training for m in body.modules()}
    body.eval()
    outputs = []
    try:
        for child in body.children():
            x = child(x)
            outputs.append(x)
    finally:
        for m, mode in modes.items():
            m.training = mode
    return outputs


def num_features_model(body: nn.Sequential, size: tuple[int, int] = (64, 64)) -> int:
    """Number of channels the body outputs, found by a dummy forward."""
    return dummy_forward(body, size)[-1].shape[1]


def body_split_index(body: nn.Sequential, size: tuple[int, int] = (64, 64)) -> int:
    """Index of the first child whose output is at stride 16 or more: where the late body starts.

    For a ResNet this is ``layer3`` (index 6), as fastai splits it; for EfficientNet-Lite0 it
    is block 5. A body that never reaches stride 16 is split in the middle.
    """
    for i, out in enumerate(dummy_forward(body, size)):
        if out.shape[-2] * 16 <= size[0] and out.shape[-1] * 16 <= size[1]:
            return max(i, 1)
    return max(len(body) // 2, 1)


def create_head(
    nf: int,
    n_out: int,
    *,
    lin_ftrs: Sequence[int] | None = None,
    ps: float | Sequence[float] = 0.5,
    concat_pool: bool = True,
    first_bn: bool = True,
    bn_final: bool = False,
    y_range: tuple[float, float] | None = None,
) -> nn.Sequential:
    """A fastai-style head for a body with ``nf`` output channels.

    Pool (max+avg concatenated, so ``2 * nf`` features, or avg only), flatten, then for each
    linear layer: BatchNorm1d, Dropout, Linear, with ReLU between (``lin_ftrs`` gives hidden
    widths, default [512]). A single ``ps`` gives the last dropout ``ps`` and earlier ones
    ``ps / 2``. ``bn_final`` adds a BatchNorm1d on the outputs, ``y_range`` a scaled sigmoid.
    """
    n_pooled = nf * 2 if concat_pool else nf
    widths = [n_pooled, *(lin_ftrs if lin_ftrs is not None else [512]), n_out]
    n_lin = len(widths) - 1
    if isinstance(ps, (int, float)):
        ps = [ps / 2] * (n_lin - 1) + [ps]
    if len(ps) != n_lin:
        raise ValueError(f"Expected {n_lin} dropout probabilities. Received: {list(ps)}")
    pool = AdaptiveConcatPool2d() if concat_pool else nn.AdaptiveAvgPool2d(1)
    layers: list[nn.Module] = [pool, nn.Flatten()]
    for i, (n_in_, n_out_, p) in enumerate(zip(widths[:-1], widths[1:], ps)):
        if i > 0 or first_bn:
            layers.append(nn.BatchNorm1d(n_in_))
        if p > 0:
            layers.append(nn.Dropout(p))
        linear = nn.Linear(n_in_, n_out_)
        nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < n_lin - 1:
            layers.append(nn.ReLU(inplace=True))
    if bn_final:
        layers.append(nn.BatchNorm1d(n_out, momentum=0.01))
    if y_range is not None:
        layers.append(SigmoidRange(*y_range))
    return nn.Sequential(*layers)


def create_vision_model(
    arch: ArchLike,
    n_out: int,
    pretrained: bool = True,
    *,
    n_in: int = 3,
    cut: Cut = None,
    lin_ftrs: Sequence[int] | None = None,
    ps: float | Sequence[float] = 0.5,
    concat_pool: bool = True,
    first_bn: bool = True,
    bn_final: bool = False,
    y_range: tuple[float, float] | None = None,
    weights_path: str | Path | None = None,
) -> nn.Sequential:
    """``nn.Sequential(body, head)``: ``arch``'s (pretrained) body and a new ``n_out`` head."""
    body = create_body(arch, pretrained, cut=cut, n_in=n_in, weights_path=weights_path)
    head = create_head(
        num_features_model(body),
        n_out,
        lin_ftrs=lin_ftrs,
        ps=ps,
        concat_pool=concat_pool,
        first_bn=first_bn,
        bn_final=bn_final,
        y_range=y_range,
    )
    return nn.Sequential(body, head)


def vision_splitter(model: nn.Sequential, split: int | None = None) -> list[list[nn.Parameter]]:
    """Three parameter groups of ``nn.Sequential(body, head)``: early body, late body, head.

    The body splits at ``split`` (default ``body_split_index``: the first stride-16 child,
    ``layer3`` for ResNets; the registered ``ArchMeta.split`` gives the same index).
    """
    body, head = model[0], model[1:]
    split = body_split_index(body) if split is None else split
    groups = (body[:split], body[split:], head)
    return [list(group.parameters()) for group in groups]
