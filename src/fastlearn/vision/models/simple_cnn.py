"""A small CNN to train from scratch: stride-2 conv-BN-ReLU blocks, global pool, linear.

>>> model = simple_cnn(2, in_channels=1)  # e.g. MNIST 3 vs 7 (28x28 grey)
>>> model(torch.randn(8, 1, 28, 28)).shape
torch.Size([8, 2])
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from fastlearn.vision.models.layers import conv_bn_relu

__all__ = ["simple_cnn"]


def simple_cnn(
    n_out: int,
    channels: Sequence[int] = (16, 32, 64),
    in_channels: int = 3,
    *,
    kernel_size: int = 3,
) -> nn.Sequential:
    """Conv-BN-ReLU blocks, each halving the resolution, then average pool, flatten and linear.

    Children: one block per entry of ``channels``, then ``AdaptiveAvgPool2d``, ``Flatten`` and
    ``Linear(channels[-1], n_out)``; with (16, 32, 64) a 28x28 input ends at 4x4 before pooling.
    """
    if not channels:
        raise ValueError("Expected at least one entry in channels. Received: an empty sequence")
    widths = [in_channels, *channels]
    blocks = [
        conv_bn_relu(n_in, n_conv, kernel_size, stride=2)
        for n_in, n_conv in zip(widths[:-1], widths[1:])
    ]
    return nn.Sequential(
        *blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels[-1], n_out)
    )
