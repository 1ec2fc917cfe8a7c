"""XResNet (the course's from-scratch model): shapes, the identity start, the body cut."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fastlearn.vision.models import create_body, xresnet18, xresnet34, xresnet50
from fastlearn.vision.models.xresnet import ResBlock


@pytest.mark.parametrize(("fn", "width"), [(xresnet18, 512), (xresnet34, 512), (xresnet50, 2048)])
def test_shapes_and_head(fn, width):
    model = fn(n_out=7, c_in=1).eval()
    assert model(torch.randn(2, 1, 64, 64)).shape == (2, 7)
    assert model[-1].in_features == width
    feats = nn.Sequential(*list(model.children())[:-4])(torch.randn(1, 1, 64, 64))
    assert feats.shape == (1, width, 2, 2)  # 32x down-sampled, as a ResNet


def test_blocks_start_as_the_identity():
    block = ResBlock(1, 8, 8).eval()  # same width, stride 1: an identity shortcut
    x = torch.randn(2, 8, 5, 5)
    assert torch.equal(block(x), torch.relu(x))  # the residual branch's last BN starts at 0
    down = ResBlock(4, 16, 32, stride=2).eval()
    assert isinstance(down.idpath[0], nn.AvgPool2d) and down(torch.randn(1, 64, 8, 8)).shape == (
        1,
        128,
        4,
        4,
    )


def test_stem_is_three_convolutions_and_no_pretrained_weights():
    model = xresnet18()
    convs = [m for m in list(model.children())[:3]]
    assert [c[0].kernel_size for c in convs] == [(3, 3)] * 3
    assert [c[0].out_channels for c in convs] == [32, 32, 64]
    with pytest.raises(ValueError, match="no published pretrained weights"):
        xresnet50(pretrained=True)
    assert len(create_body(xresnet18, pretrained=False)) == 8  # stem, pool, 4 stages


def test_it_learns():
    torch.manual_seed(0)
    x = torch.randn(32, 3, 32, 32)
    y = (x[:, 0].mean((1, 2)) > 0).long()
    model = xresnet18(n_out=2)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    losses = []
    for _ in range(15):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.5
