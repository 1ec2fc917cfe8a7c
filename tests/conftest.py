"""Shared fixtures: a small synthetic regression/classification problem and its learner."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from fastlearn import DataLoaders, Learner, set_seed

torch.set_num_threads(1)  # tests are many small models: threads only add contention


def synth_classification(n: int = 256, n_in: int = 4, seed: int = 0):
    """Two linearly separable classes."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, n_in, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return x, y


def synth_dls(
    n: int = 256, bs: int = 32, n_valid: int = 64, seed: int = 0, shuffle: bool = True
) -> DataLoaders:
    x, y = synth_classification(n + n_valid, seed=seed)
    return DataLoaders.from_dsets(
        TensorDataset(x[:n], y[:n]),
        TensorDataset(x[n:], y[n:]),
        bs=bs,
        shuffle=shuffle,
        device="cpu",
    )


class TinyNet(nn.Sequential):
    """Linear -> BatchNorm -> ReLU -> Linear, in two parameter groups (body, head)."""

    def __init__(self, n_in: int = 4, n_hidden: int = 8, n_out: int = 2) -> None:
        super().__init__(
            nn.Linear(n_in, n_hidden),
            nn.BatchNorm1d(n_hidden),
            nn.ReLU(),
            nn.Linear(n_hidden, n_out),
        )


def tiny_splitter(model: nn.Module) -> list[list[nn.Parameter]]:
    return [list(model[0].parameters()) + list(model[1].parameters()), list(model[3].parameters())]


@pytest.fixture
def synth_learner():
    """Factory: a learner on the synthetic problem (no progress output)."""

    def make(seed: int = 0, **kwargs) -> Learner:
        set_seed(seed)
        dls = kwargs.pop("dls", None) or synth_dls(seed=seed)
        kwargs.setdefault("show_progress", False)
        return Learner(dls, TinyNet(), **kwargs)

    return make
