"""A U-Net built over any Sequential body from ``create_body`` (fastai's DynamicUnet design).

A dummy forward at ``img_size`` finds the children after which the resolution changes; their
outputs are the skip connections. The forward pass runs the encoder child by child and keeps
those outputs as it goes (no forward hooks: nothing is stored on modules between calls). Each
decoder block upsamples by 2 with PixelShuffle (ICNR init), resizes to its skip's size when
odd sizes make them differ, concatenates the batch-normed skip and applies two convs. The
output is resized to the input's size, concatenated with the input and refined by a residual
block before a 1x1 conv to ``n_out`` channels, so any input size (70x90 too) comes back whole.

    >>> encoder = create_body("resnet34", pretrained=False)
    >>> unet = DynamicUnet(encoder, n_out=3, img_size=(64, 64))
    >>> unet(torch.randn(2, 3, 70, 90)).shape
    torch.Size([2, 3, 70, 90])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastlearn.core.layers import SigmoidRange
from fastlearn.vision.models.heads import body_split_index, dummy_forward
from fastlearn.vision.models.layers import PixelShuffleICNR, ResBlock, conv_bn_relu

__all__ = ["DynamicUnet", "UnetBlock", "encoder_in_channels", "unet_splitter"]


def _size_change_indices(sizes: list[tuple[int, int]]) -> list[int]:
    """Indices i whose output resolution differs from child i+1's: the last child at each scale."""
    return [i for i in range(len(sizes) - 1) if sizes[i] != sizes[i + 1]]


class UnetBlock(nn.Module):
    """Upsample ``x`` by 2, join the skip features, two 3x3 conv-BN-ReLU layers."""

    def __init__(self, up_in: int, skip_in: int, *, final_div: bool = True, blur: bool = False):
        super().__init__()
        self.shuffle = PixelShuffleICNR(up_in, up_in // 2, blur=blur)
        self.skip_bn = nn.BatchNorm2d(skip_in)
        n_cat = up_in // 2 + skip_in
        n_out = n_cat if final_div else n_cat // 2
        self.relu = nn.ReLU()
        self.conv1 = conv_bn_relu(n_cat, n_out)
        self.conv2 = conv_bn_relu(n_out, n_out)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        up = self.shuffle(x)  # (B, up_in/2, 2h, 2w)
        if up.shape[-2:] != skip.shape[-2:]:  # odd sizes: 2 * ceil(h/2) may exceed h
            up = F.interpolate(up, size=skip.shape[-2:], mode="nearest")
        x = self.relu(torch.cat([up, self.skip_bn(skip)], dim=1))
        return self.conv2(self.conv1(x))


class DynamicUnet(nn.Module):
    """U-Net over ``encoder`` (an nn.Sequential body) predicting ``n_out`` channels per pixel.

    ``img_size`` is the size used to find the skip points and widths; inputs of other sizes
    work too. ``middle_channels`` is the width of the bottleneck convs (default: twice the
    encoder's channels as in fastai, capped at 1024 so a 1280- or 2048-channel encoder does not
    bring 60M+ parameters). ``blur`` smooths each upsampling; ``y_range`` squashes the outputs.
    """

    def __init__(
        self,
        encoder: nn.Sequential,
        n_out: int,
        img_size: tuple[int, int] | int = (64, 64),
        *,
        blur: bool = False,
        last_cross: bool = True,
        y_range: tuple[float, float] | None = None,
        middle_channels: int | None = None,
    ) -> None:
        super().__init__()
        size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        self.encoder = encoder
        outputs = dummy_forward(encoder, size)
        sizes = [tuple(o.shape[-2:]) for o in outputs]
        self.skip_indices = _size_change_indices(sizes)
        if not self.skip_indices:
            raise ValueError("Expected an encoder that changes resolution. Received: none do")
        n_ch = outputs[-1].shape[1]
        n_mid = min(2 * n_ch, 1024) if middle_channels is None else middle_channels
        self.middle = nn.Sequential(
            nn.BatchNorm2d(n_ch), nn.ReLU(), conv_bn_relu(n_ch, n_mid), conv_bn_relu(n_mid, n_ch)
        )
        blocks, up_in = [], n_ch
        for j, idx in enumerate(reversed(self.skip_indices)):
            final = j == len(self.skip_indices) - 1
            block = UnetBlock(up_in, outputs[idx].shape[1], final_div=not final, blur=blur)
            blocks.append(block)
            n_cat = up_in // 2 + outputs[idx].shape[1]
            up_in = n_cat // 2 if final else n_cat
        self.blocks = nn.ModuleList(blocks)
        # The first child usually already halves the size: one more upsampling to get back.
        needs_up = sizes[0] != size
        self.upsample = PixelShuffleICNR(up_in, blur=blur) if needs_up else nn.Identity()
        n_in = encoder_in_channels(encoder)
        self.cross = ResBlock(up_in + n_in, up_in + n_in) if last_cross else None
        n_last = up_in + n_in if last_cross else up_in
        self.final = nn.Conv2d(n_last, n_out, kernel_size=1)
        self.y_range = SigmoidRange(*y_range) if y_range is not None else None

    def forward(self, x: Tensor) -> Tensor:
        skips, out = [], x
        for i, child in enumerate(self.encoder):
            out = child(out)
            if i in self.skip_indices:
                skips.append(out)
        out = self.middle(out)
        for block, skip in zip(self.blocks, reversed(skips)):
            out = block(out, skip)
        out = self.upsample(out)
        if out.shape[-2:] != x.shape[-2:]:
            out = F.interpolate(out, size=x.shape[-2:], mode="nearest")
        if self.cross is not None:
            out = self.cross(torch.cat([out, x], dim=1))
        out = self.final(out)
        return out if self.y_range is None else self.y_range(out)


def encoder_in_channels(encoder: nn.Module) -> int:
    """Input channels of the encoder's first conv."""
    return next(m for m in encoder.modules() if isinstance(m, nn.Conv2d)).in_channels


def unet_splitter(model: DynamicUnet, split: int | None = None) -> list[list[nn.Parameter]]:
    """Three parameter groups: early encoder, late encoder (from ``split``), decoder."""
    split = body_split_index(model.encoder) if split is None else split
    encoder_ids = {id(p) for p in model.encoder.parameters()}
    decoder = [p for p in model.parameters() if id(p) not in encoder_ids]
    return [
        list(model.encoder[:split].parameters()),
        list(model.encoder[split:].parameters()),
        decoder,
    ]
