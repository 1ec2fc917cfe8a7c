"""The Learner against a hand-written loop, freezing, determinism, NaN, Ctrl-C, checkpoints."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from fastlearn import (
    SGD,
    Callback,
    DataLoaders,
    Learner,
    TerminateOnNaNCallback,
    accuracy,
    set_seed,
)

from ..conftest import TinyNet, synth_classification, synth_dls, tiny_splitter


def test_fit_with_sgd_equals_a_hand_written_loop():
    x, y = synth_classification(320)
    set_seed(1)
    model = TinyNet()
    ref = copy.deepcopy(model)
    dls = DataLoaders.from_dsets(
        TensorDataset(x[:256], y[:256]), TensorDataset(x[256:], y[256:]), bs=32, device="cpu"
    )
    set_seed(5)
    learn = Learner(
        dls, model, loss_func=nn.CrossEntropyLoss(), opt_func=SGD, lr=0.1, wd=0, show_progress=False
    )
    learn.fit(2)

    set_seed(5)
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    for _ in range(2):
        ref.train()
        perm = torch.randperm(256)
        for i in range(0, 256, 32):
            idx = perm[i : i + 32]
            loss = nn.functional.cross_entropy(ref(x[idx]), y[idx])
            loss.backward()
            opt.step()
            opt.zero_grad()
        ref.eval()  # validation changes nothing but the mode
    for a, b in zip(model.state_dict().values(), ref.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_two_runs_with_the_same_seed_are_identical(synth_learner):
    runs = []
    for _ in range(2):
        learn = synth_learner(seed=3)
        learn.fit_one_cycle(2, 1e-2)
        runs.append(learn.recorder.losses)
    assert runs[0] == runs[1]
    other = synth_learner(seed=4)
    other.fit_one_cycle(2, 1e-2)
    assert other.recorder.losses != runs[0]


def test_frozen_parameters_stay_unchanged_while_batchnorm_trains(synth_learner):
    learn = synth_learner(splitter=tiny_splitter)
    learn.freeze()
    lin0 = learn.model[0].weight.detach().clone()
    bn_w = learn.model[1].weight.detach().clone()
    bn_mean = learn.model[1].running_mean.clone()
    head = learn.model[3].weight.detach().clone()
    learn.fit(1, lr=1e-2)
    assert torch.equal(learn.model[0].weight, lin0)  # frozen body
    assert not torch.equal(learn.model[1].weight, bn_w)  # BatchNorm still trains
    assert not torch.equal(learn.model[1].running_mean, bn_mean)  # and its statistics update
    assert not torch.equal(learn.model[3].weight, head)  # head trains
    learn.unfreeze()
    assert all(p.requires_grad for p in learn.model.parameters())


def test_freeze_to_without_train_bn_freezes_batchnorm(synth_learner):
    learn = synth_learner(splitter=tiny_splitter, train_bn=False)
    learn.freeze_to(1)
    assert not learn.model[1].weight.requires_grad
    assert learn.model[3].weight.requires_grad


def test_fine_tune_trains_head_then_everything(synth_learner):
    learn = synth_learner(splitter=tiny_splitter)
    lin0 = learn.model[0].weight.detach().clone()
    learn.fine_tune(1, base_lr=1e-2)
    assert len(learn.recorder.history) == 2  # freeze epoch + 1 epoch
    assert not torch.equal(learn.model[0].weight, lin0)


def test_training_learns_and_metrics_are_reported(synth_learner):
    learn = synth_learner(metrics=accuracy)
    learn.fit_one_cycle(4, 3e-2)
    row = learn.recorder.history[-1]
    assert set(row) == {"epoch", "train_loss", "valid_loss", "accuracy", "time"}
    assert row["accuracy"] > 0.9


def test_nan_loss_stops_and_restores_last_good_weights(synth_learner):
    class PoisonSecondEpoch(Callback):
        def before_batch(self, learn):
            if learn.epoch == 1 and learn.iter == 2 and learn.training:
                learn.xb = (learn.xb[0] * float("nan"),)

    class Snapshot(Callback):
        order = 100

        def after_epoch(self, learn):
            if learn.epoch == 0:
                self.weights = copy.deepcopy(learn.model.state_dict())

    learn = synth_learner()
    snap, nan_cb = Snapshot(), TerminateOnNaNCallback()
    learn.fit(3, lr=1e-2, cbs=[PoisonSecondEpoch(), nan_cb, snap])
    assert nan_cb.stopped
    assert len(learn.recorder.history) == 1  # stopped during the second epoch
    for k, v in learn.model.state_dict().items():
        assert torch.equal(v, snap.weights[k]), k
    assert all(torch.isfinite(p).all() for p in learn.model.parameters())


def test_ctrl_c_stops_cleanly_and_keeps_history(synth_learner, capsys):
    class Interrupt(Callback):
        def after_batch(self, learn):
            if learn.epoch == 1 and learn.iter == 3 and learn.training:
                raise KeyboardInterrupt

    learn = synth_learner(metrics=accuracy)
    learn.reraise_interrupt = False  # as in a notebook (tests/security/test_interrupts.py: scripts)
    learn.fit(3, lr=1e-2, cbs=[Interrupt()])
    assert learn.interrupted
    assert len(learn.recorder.history) == 1
    assert "Interrupted at epoch 1" in capsys.readouterr().out
    learn.fit(1, lr=1e-2)  # still usable
    assert len(learn.recorder.history) == 2 and not learn.interrupted


def test_checkpoint_round_trip(synth_learner, tmp_path):
    learn = synth_learner(path=tmp_path)
    learn.fit(2, lr=1e-2)
    path = learn.save("ckpt")
    assert path == tmp_path / "models" / "ckpt.pth" and path.exists()
    assert not list(path.parent.glob("*.tmp"))
    other = synth_learner(seed=9, path=tmp_path)
    other.load("ckpt")
    for a, b in zip(learn.model.state_dict().values(), other.model.state_dict().values()):
        assert torch.equal(a, b)
    sa, sb = learn.opt.state_dict()["opt"]["state"], other.opt.state_dict()["opt"]["state"]
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k]["exp_avg"], sb[k]["exp_avg"])
    assert other.epoch == 1
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        other.load("nope")


def test_predict_and_get_preds(synth_learner):
    learn = synth_learner()
    learn.dls.vocab = ["neg", "pos"]
    learn.fit(2, lr=3e-2)
    probs, targs = learn.get_preds()
    assert probs.shape == (64, 2) and targs.shape == (64,)
    torch.testing.assert_close(probs.sum(1), torch.ones(64))
    x = learn.dls.valid.dataset.tensors[0][0]
    label, idx, p = learn.predict(x)
    torch.testing.assert_close(p, probs[0])
    assert label == ["neg", "pos"][int(idx)] and int(idx) == int(probs[0].argmax())
    _, _, losses = learn.get_preds(with_loss=True)
    expected = nn.functional.cross_entropy(torch.log(probs), targs, reduction="none")
    torch.testing.assert_close(losses, expected, rtol=1e-4, atol=1e-5)


def test_plain_torch_dataloaders_work():
    x, y = synth_classification(128)
    train = torch.utils.data.DataLoader(TensorDataset(x[:96], y[:96]), batch_size=16, shuffle=True)
    valid = torch.utils.data.DataLoader(TensorDataset(x[96:], y[96:]), batch_size=16)
    learn = Learner((train, valid), TinyNet(), metrics=accuracy, show_progress=False)
    learn.fit(1)
    assert len(learn.recorder.history) == 1


def test_progress_prints_the_table(synth_learner):
    from fastlearn import ProgressCallback

    out = io.StringIO()
    learn = synth_learner(metrics=accuracy, cbs=[ProgressCallback(file=out)])
    learn.fit(2, lr=1e-2)
    lines = out.getvalue().strip().splitlines()
    assert lines[0].split() == ["epoch", "train_loss", "valid_loss", "accuracy", "time"]
    assert [line.split()[0] for line in lines[1:]] == ["0", "1"]


def test_memory_does_not_keep_graphs(synth_learner):
    learn = synth_learner()
    learn.fit(2, lr=1e-2)
    assert all(isinstance(v, float) for v in learn.recorder.losses)
    assert all(isinstance(v, float) for row in learn.recorder.values for v in row)


# ---------------------------------------------------------------- bad input
def test_loss_shape_mismatch_is_explained():
    x, y = synth_classification(64)
    dls = DataLoaders.from_dsets(TensorDataset(x, y.float()), None, bs=16, device="cpu")
    learn = Learner(dls, TinyNet(n_out=1), loss_func=nn.MSELoss(), show_progress=False)
    with pytest.raises(ValueError, match=r"\(16, 1\).*\(16,\).*MSELossFlat"):
        learn.fit(1)


def test_wrong_label_dtype_is_explained():
    x, y = synth_classification(64)
    dls = DataLoaders.from_dsets(TensorDataset(x, y.float()), None, bs=16, device="cpu")
    learn = Learner(dls, TinyNet(), loss_func=nn.CrossEntropyLoss(), show_progress=False)
    with pytest.raises(ValueError, match="int64"):
        learn.fit(1)


def test_metric_that_raises_names_itself(synth_learner):
    def bad_metric(preds, targs):
        raise ValueError("nope")

    learn = synth_learner(metrics=bad_metric)
    with pytest.raises(ValueError, match="bad_metric.*\\(32, 2\\).*\\(32,\\)"):
        learn.fit(1)


def test_bad_arguments():
    dls = synth_dls()
    with pytest.raises(TypeError, match="nn.Module"):
        Learner(dls, lambda x: x)
    with pytest.raises(TypeError, match="DataLoaders"):
        Learner(42, TinyNet())
    learn = Learner(dls, TinyNet(), show_progress=False)
    with pytest.raises(ValueError, match="n_epoch"):
        learn.fit(0)


def test_repr_names_model_size_data_and_history(synth_learner):
    learn = synth_learner()
    text = repr(learn)
    n = sum(p.numel() for p in learn.model.parameters())
    assert text.startswith(f"Learner(model=TinyNet ({n:,} parameters)")
    assert "data=DataLoaders(train: " in text and "epochs trained=0" in text
    learn.fit(1, 1e-3)
    assert "epochs trained=1" in repr(learn)


# ---------------------------------------------------------------- declared attributes
def test_n_groups_installs_no_optimiser(synth_learner):
    learn = synth_learner()
    assert learn.n_groups >= 1 and learn.opt is None
    learn.create_opt()
    assert learn.n_groups == len(learn.opt.param_groups)


def test_recorder_values_and_log_are_views_of_history(synth_learner):
    from fastlearn.core.metrics import accuracy

    learn = synth_learner(metrics=[accuracy, accuracy])
    learn.fit(1, lr=1e-2)
    learn.fit(2, lr=1e-2)
    rec = learn.recorder
    assert rec.metric_names == [
        "epoch",
        "train_loss",
        "valid_loss",
        "accuracy",
        "accuracy_1",
        "time",
    ]
    assert len(rec.history) == 3 and len(rec.values) == 2  # values: this fit only
    assert rec.log == list(rec.history[-1].values())
    assert rec.values[-1] == rec.log[1:-1]
    assert learn.start_epoch == 0
