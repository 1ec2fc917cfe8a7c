"""Faults during training: a divergence at an epoch's last step must not be 'restored'."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import TensorDataset

from fastlearn import Callback, DataLoaders, Learner, TerminateOnNaNCallback


class PoisonLastStep(Callback):
    """Writes NaN into the weights after the last step of epoch `epoch` (the loss was finite)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def after_step(self, learn):
        if learn.epoch == self.epoch and learn.iter == len(learn.dls.train) - 1:
            with torch.no_grad():
                learn.model.weight.fill_(float("nan"))


def test_nan_weights_after_an_epoch_are_not_kept_as_good():
    torch.manual_seed(0)
    x = torch.randn(64, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    dls = DataLoaders.from_dsets(TensorDataset(x, y), TensorDataset(x, y), bs=16)
    learn = Learner(dls, nn.Linear(3, 1), loss_func=nn.MSELoss())
    seen = {}

    class Keep(Callback):
        def after_epoch(self, learn):
            seen[learn.epoch] = learn.model.weight.detach().clone()

    nan_cb = TerminateOnNaNCallback()
    with learn.no_progress():
        learn.fit(4, 1e-2, cbs=[Keep(), PoisonLastStep(1), nan_cb])
    w = learn.model.weight.detach()
    assert torch.isfinite(w).all()
    assert torch.equal(w, seen[0])  # the weights of the last good epoch (epoch 0)
    assert getattr(nan_cb, "stopped", False)
    assert len(learn.recorder.history) <= 2
