"""MixUp and CutMix (core/callbacks/mixup.py): the mixed inputs and the mixed loss against a
hand computation with a fixed lambda, training only, validation untouched."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from fastlearn import Callback, CrossEntropyLossFlat, CutMix, DataLoaders, Learner, MixUp, accuracy

from ..conftest import TinyNet, synth_dls


class FixedMixUp(MixUp):
    def sample_lambda(self) -> float:
        return 0.3


class FixedCutMix(CutMix):
    def sample_lambda(self) -> float:
        return 0.5


class Spy(Callback):
    """Records the raw batch (before MixUp) and what the loop saw after the loss."""

    def __init__(self, order: int, moment: str) -> None:
        self.order, self.moment, self.seen = order, moment, []

    def before_batch(self, learn: Learner) -> None:
        if self.moment == "before" and learn.training:
            self.seen.append((learn.xb[0].clone(), learn.yb[0].clone()))

    def after_loss(self, learn: Learner) -> None:
        if self.moment == "after" and learn.training:
            self.seen.append(
                (
                    learn.xb[0].clone(),
                    learn.pred.detach().clone(),
                    learn.loss.clone(),
                    learn.loss_grad.detach().clone(),
                )
            )


def _run(cb: Callback, dls: DataLoaders | None = None, model: nn.Module | None = None):
    raw, after = Spy(-20, "before"), Spy(0, "after")  # around MixUp's order (-15)
    torch.manual_seed(0)
    learn = Learner(
        dls or synth_dls(),
        model or TinyNet(),
        loss_func=CrossEntropyLossFlat(),
        metrics=accuracy,
        cbs=[cb, raw, after],
        show_progress=False,
    )
    learn.fit(1, 1e-2)
    return learn, raw.seen, after.seen


def test_mixup_mixes_inputs_and_loss_as_by_hand():
    mix = FixedMixUp()
    learn, raw, after = _run(mix)
    x, y = raw[-1]
    x_mixed, pred, loss, loss_grad = after[-1]
    perm = mix.perm
    assert sorted(perm.tolist()) == list(range(len(x)))
    assert torch.allclose(x_mixed, 0.3 * x + 0.7 * x[perm], atol=1e-6)
    expected = 0.3 * F.cross_entropy(pred, y) + 0.7 * F.cross_entropy(pred, y[perm])
    assert torch.allclose(loss, expected, atol=1e-6) and torch.allclose(loss_grad, expected)
    assert len(raw) == len(learn.dls.train)  # every training batch is mixed


def test_mixup_leaves_validation_alone():
    learn, _, _ = _run(MixUp(alpha=0.4))
    with_mix = learn.validate()
    learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, MixUp)])
    assert with_mix == learn.validate()
    preds, targs = learn.get_preds()
    assert torch.allclose(F.cross_entropy(preds.log(), targs), torch.tensor(with_mix[0]), atol=1e-5)


def test_mixup_lambda_follows_beta():
    torch.manual_seed(0)
    mix = MixUp(alpha=0.4)
    lams = torch.tensor([mix.sample_lambda() for _ in range(4000)])
    assert abs(float(lams.mean()) - 0.5) < 0.02  # Beta(a, a) has mean 1/2
    assert abs(float(lams.var()) - 1 / (4 * (2 * 0.4 + 1))) < 0.01  # and variance 1/(4(2a+1))


def test_mixup_book_usage_trains():
    learn, _, _ = _run(MixUp())  # Learner(dls, model, loss_func=..., metrics=..., cbs=MixUp())
    assert len(learn.recorder.values) == 1
    assert repr(MixUp()) == "MixUp(alpha=0.4)"


def test_mixup_refuses_integer_inputs_and_bad_alpha():
    x, y = torch.randint(0, 5, (32, 3)), torch.randint(0, 2, (32,))
    dls = DataLoaders.from_dsets(TensorDataset(x, y), TensorDataset(x, y), bs=8, device="cpu")
    model = nn.Sequential(nn.Embedding(5, 2), nn.Flatten(), nn.Linear(6, 2))
    with pytest.raises(TypeError, match="float tensors"):
        _run(MixUp(), dls, model)
    with pytest.raises(ValueError, match="alpha > 0"):
        MixUp(alpha=0)


def _image_dls() -> DataLoaders:
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(64, 3, 8, 8, generator=g), torch.randint(0, 2, (64,), generator=g)
    return DataLoaders.from_dsets(
        TensorDataset(x[:48], y[:48]), TensorDataset(x[48:], y[48:]), bs=16, device="cpu"
    )


def _image_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))


def test_cutmix_pastes_a_box_and_weighs_by_its_area():
    cut = FixedCutMix()
    _, raw, after = _run(cut, _image_dls(), _image_model())
    x, y = raw[-1]
    x_mixed, pred, loss, _ = after[-1]
    perm = cut.perm
    changed = (x_mixed != x).any(1)  # (B, H, W): where the pasted box differs
    inside = torch.zeros(8, 8, dtype=torch.bool)
    rows, cols = changed.any(0).any(1).nonzero(), changed.any(0).any(0).nonzero()
    if len(rows):
        inside[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
    assert torch.equal(x_mixed[:, :, inside], x[perm][:, :, inside])
    assert torch.equal(x_mixed[:, :, ~inside], x[:, :, ~inside])
    lam = cut.lam
    assert lam == pytest.approx(1 - int(inside.sum()) / 64)
    expected = lam * F.cross_entropy(pred, y) + (1 - lam) * F.cross_entropy(pred, y[perm])
    assert torch.allclose(loss, expected, atol=1e-6)


def test_cutmix_box_is_clipped_and_refuses_flat_inputs():
    cut = CutMix()
    torch.manual_seed(0)
    for lam in (0.0, 0.3, 0.9, 1.0):
        y1, y2, x1, x2 = cut.box(10, 6, lam)
        assert 0 <= y1 <= y2 <= 10 and 0 <= x1 <= x2 <= 6
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        _run(CutMix())
