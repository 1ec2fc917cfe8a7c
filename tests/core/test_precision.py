"""Mixed precision (bf16 on CPU, fp16 + gradient scaler), channels-last and torch.compile."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from fastlearn import (
    SGD,
    Callback,
    CancelFitException,
    DataLoaders,
    GradientAccumulationCallback,
    GradientClipCallback,
    Learner,
    set_seed,
)
from fastlearn.core.callbacks.precision import MixedPrecisionCallback

from ..conftest import TinyNet, synth_dls


class _Spy(Callback):
    """Records the dtype of the model's first layer output and whether autocast is on."""

    order = 100

    def before_fit(self, learn):
        self.dtypes, self.pred_dtypes = set(), set()
        self._hook = learn.model[0].register_forward_hook(lambda m, i, o: self.dtypes.add(o.dtype))

    def after_pred(self, learn):
        self.pred_dtypes.add(learn.pred.dtype)

    def after_fit(self, learn):
        self._hook.remove()


def _fit(learn: Learner, n: int = 2, **kwargs) -> Learner:
    learn.fit(n, lr=1e-2, **kwargs)
    return learn


def test_bf16_on_cpu_runs_the_forward_in_bfloat16(synth_learner):
    spy = _Spy()
    learn = _fit(synth_learner().to_bf16(force=True), cbs=[spy])
    assert spy.dtypes == {torch.bfloat16}  # the linear layers ran under autocast
    assert spy.pred_dtypes == {torch.float32}  # cast back for the loss and metrics
    assert all(p.dtype == torch.float32 for p in learn.model.parameters())  # fp32 master weights
    assert not torch.is_autocast_enabled("cpu")  # nothing leaks out of the fit
    probs, _ = learn.get_preds()
    assert probs.dtype == torch.float32


def test_bf16_trains_like_float32(synth_learner):
    ref = _fit(synth_learner(seed=1))
    bf16 = _fit(synth_learner(seed=1).to_bf16(force=True))
    assert bf16.recorder.history[-1]["valid_loss"] == pytest.approx(
        ref.recorder.history[-1]["valid_loss"], rel=0.05
    )


def test_bf16_on_a_cpu_without_fast_kernels_explains_and_stays_float32(
    synth_learner, monkeypatch, capsys
):
    from fastlearn.core.callbacks import precision

    monkeypatch.setattr(precision, "fast_cpu_bf16", lambda: False)
    learn = synth_learner().to_bf16()
    assert "fast bfloat16 kernels" in capsys.readouterr().out
    assert learn.get_cb(MixedPrecisionCallback) is None


def test_to_fp32_removes_mixed_precision(synth_learner):
    learn = synth_learner().to_bf16(force=True).to_bf16(force=True)
    assert sum(isinstance(cb, MixedPrecisionCallback) for cb in learn.cbs) == 1
    spy = _Spy()
    _fit(learn.to_fp32(), 1, cbs=[spy])
    assert spy.dtypes == {torch.float32}


def test_fp16_on_cpu_explains_and_stays_float32(synth_learner, capsys):
    learn = synth_learner().to_fp16()
    assert "expected a CUDA device. Received: cpu" in capsys.readouterr().out
    assert learn.get_cb(MixedPrecisionCallback) is None


def test_autocast_is_closed_when_a_fit_is_cancelled_mid_batch(synth_learner):
    class Stop(Callback):
        def after_pred(self, learn):
            raise CancelFitException()

    _fit(synth_learner().to_bf16(force=True), 1, cbs=[Stop()])
    assert not torch.is_autocast_enabled("cpu")


class _InfAt(Callback):
    """Puts an inf in one gradient at training batch `at` (as a float16 overflow would)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def after_backward(self, learn):
        if learn.train_iter == self.at:
            next(learn.model.parameters()).grad[0, 0] = float("inf")
            self.before = [p.detach().clone() for p in learn.model.parameters()]

    def after_batch(self, learn):
        if learn.train_iter == self.at:
            self.after = [p.detach().clone() for p in learn.model.parameters()]


def test_gradient_scaler_skips_the_step_with_inf_gradients(synth_learner):
    """The scaler logic on the CPU (float16 autocast and GradScaler exist there too)."""
    mixed = MixedPrecisionCallback(torch.float16)
    inf = _InfAt(3)
    learn = synth_learner(cbs=[mixed, GradientClipCallback(1.0)], opt_func=SGD, wd=0)
    _fit(learn, 1, cbs=[inf])
    assert mixed.skipped_steps == 1
    assert all(torch.equal(a, b) for a, b in zip(inf.before, inf.after))  # no step
    assert mixed.scaler.get_scale() == 2.0**15  # halved once
    assert all(torch.isfinite(p).all() for p in learn.model.parameters())
    assert mixed.state_dict()["scaler"]["scale"] == 2.0**15


def test_gradient_scaler_with_accumulation_equals_plain_accumulation():
    """Scaling then unscaling the accumulated gradients changes nothing (powers of 2)."""
    x = torch.randn(128, 4, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()
    results = []
    for cbs in ([], [MixedPrecisionCallback(torch.float16)]):
        set_seed(0)
        dls = DataLoaders.from_dsets(TensorDataset(x, y), None, bs=16, shuffle=False, device="cpu")
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        learn = Learner(
            dls,
            model,
            opt_func=SGD,
            lr=0.1,
            wd=0,
            show_progress=False,
            cbs=[GradientAccumulationCallback(4), *cbs],
        )
        learn.fit(1)
        results.append(model.state_dict())
    # float16 forward: close, not equal
    for k in results[0]:
        torch.testing.assert_close(results[0][k], results[1][k], rtol=0.02, atol=2e-3)


def test_channels_last_converts_weights_and_inputs():
    set_seed(0)
    x = torch.randn(32, 3, 8, 8)
    y = torch.randint(0, 2, (32,))
    dls = DataLoaders.from_dsets(
        TensorDataset(x[:24], y[:24]), TensorDataset(x[24:], y[24:]), bs=8, device="cpu"
    )
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
    )
    seen = []
    model[0].register_forward_pre_hook(
        lambda m, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last))
    )
    learn = Learner(dls, model, show_progress=False).to_channels_last()
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    learn.fit(1)
    assert seen and all(seen)


def test_compile_trains_like_eager(synth_learner, monkeypatch):
    monkeypatch.setattr(torch._dynamo.config, "suppress_errors", False)  # restored after
    eager = _fit(synth_learner(seed=2), 1)
    compiled = _fit(synth_learner(seed=2).compile(backend="eager"), 1)
    for a, b in zip(eager.model.state_dict().values(), compiled.model.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert list(compiled.model.state_dict()) == list(eager.model.state_dict())  # keys unchanged


def test_compile_where_unsupported_says_so_and_trains_eagerly(synth_learner, monkeypatch):
    monkeypatch.setattr(torch._dynamo, "is_dynamo_supported", lambda: False)
    learn = synth_learner()
    with pytest.warns(UserWarning, match="does not support.*without compiling"):
        learn.compile()
    _fit(learn, 1)
    eager = _fit(synth_learner(), 1)  # the same seed, never asked to compile
    for a, b in zip(learn.model.state_dict().values(), eager.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fp16_on_cuda_trains(synth_learner):  # pragma: no cover - CPU CI
    set_seed(0)
    learn = Learner(synth_dls(), TinyNet(), show_progress=False).to_fp16()
    assert learn.get_cb(MixedPrecisionCallback) is not None
    spy = _Spy()
    _fit(learn, 2, cbs=[spy])
    assert spy.dtypes == {torch.float16}
    assert learn.recorder.history[-1]["valid_loss"] < learn.recorder.history[0]["valid_loss"]


@pytest.mark.slow
def test_compile_with_inductor_on_cpu(synth_learner, monkeypatch):
    monkeypatch.setattr(torch._dynamo.config, "suppress_errors", False, raising=False)
    learn = _fit(synth_learner().compile(), 1)
    eager = _fit(synth_learner(), 1)
    assert learn.recorder.history[-1]["valid_loss"] == pytest.approx(
        eager.recorder.history[-1]["valid_loss"], rel=1e-4
    )
    for a, b in zip(learn.model.state_dict().values(), eager.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
