"""Tracker and training callbacks: early stopping, save best, plateau, clipping, accumulation."""

from __future__ import annotations

import copy
import csv

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from fastlearn import (
    SGD,
    BnFreeze,
    Callback,
    CSVLogger,
    DataLoaders,
    EarlyStoppingCallback,
    GradientAccumulationCallback,
    GradientClipCallback,
    Learner,
    ReduceLROnPlateau,
    SaveModelCallback,
    accuracy,
    set_seed,
)

from ..conftest import TinyNet, synth_classification, tiny_splitter


class FakeValidLoss(Callback):
    """Replaces the recorded valid_loss with a scripted sequence."""

    order = 52  # after the Recorder, before the trackers

    def __init__(self, values):
        self.values = values

    def after_epoch(self, learn):
        learn.recorder.history[-1]["valid_loss"] = self.values[learn.epoch]


def test_early_stopping_stops_after_patience(synth_learner):
    learn = synth_learner()
    learn.fit(
        10,
        lr=1e-3,
        cbs=[
            FakeValidLoss([1.0, 0.9, 0.95, 0.97, 0.5, 0.4] + [0] * 4),
            EarlyStoppingCallback(patience=2),
        ],
    )
    assert len(learn.recorder.history) == 4  # best at epoch 1, no improvement at 2 and 3


def test_the_epoch_that_stops_is_in_the_table_the_csv_and_the_checkpoint(
    synth_learner, tmp_path, capsys
):
    from fastlearn import CheckpointCallback, ProgressCallback

    learn = synth_learner(path=tmp_path)
    learn.add_cbs([ProgressCallback()])
    learn.fit(
        10,
        lr=1e-3,
        cbs=[
            FakeValidLoss([1.0, 0.9, 0.95, 0.97, 0.5] + [0] * 5),
            EarlyStoppingCallback(patience=2),
            CSVLogger("log.csv"),
            CheckpointCallback("ckpt"),
        ],
    )
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [r[0] for r in rows] == ["0", "1", "2", "3"]  # the stopping epoch 3 is printed
    with open(tmp_path / "log.csv") as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == ["0", "1", "2", "3"]
    ckpt = torch.load(next(tmp_path.rglob("ckpt*")), weights_only=False)
    assert ckpt["epoch"] == 3
    lines = out.splitlines()
    stop_line = next(i for i, line in enumerate(lines) if "early stopping" in line)
    assert lines[stop_line - 1].split()[0] == "3"  # said after the row of epoch 3


def test_early_stopping_on_an_unknown_column_is_explained(synth_learner):
    with pytest.raises(ValueError, match="accuracy.*not a column"):
        synth_learner().fit(1, cbs=[EarlyStoppingCallback(monitor="accuracy")])


def test_save_model_keeps_and_reloads_the_best(synth_learner, tmp_path):
    class Snap(Callback):
        order = 100

        def __init__(self):
            self.states = []

        def after_epoch(self, learn):
            self.states.append(copy.deepcopy(learn.model.state_dict()))

    learn = synth_learner(path=tmp_path)
    snap = Snap()
    learn.fit(4, lr=1e-2, cbs=[FakeValidLoss([0.5, 0.2, 0.3, 0.4]), SaveModelCallback(), snap])
    assert (tmp_path / "models" / "model.pth").exists()
    for k, v in learn.model.state_dict().items():
        assert torch.equal(v, snap.states[1][k])  # epoch 1 was best and is loaded at the end


def test_reduce_lr_on_plateau(synth_learner):
    learn = synth_learner()
    learn.fit(
        4,
        lr=1e-2,
        cbs=[FakeValidLoss([0.5, 0.6, 0.7, 0.8]), ReduceLROnPlateau(patience=1, factor=10)],
    )
    assert learn.opt.get_hyper("lr")[0] == pytest.approx(1e-2 / 1000)


def test_gradient_clip_bounds_the_step(synth_learner):
    class Norm(Callback):
        order = 10  # after clipping (order 0)

        def before_step(self, learn):
            total = torch.norm(
                torch.stack([p.grad.norm() for p in learn.model.parameters() if p.grad is not None])
            )
            self.max = max(getattr(self, "max", 0.0), float(total))

    norm = Norm()
    synth_learner().fit(1, lr=1e-2, cbs=[GradientClipCallback(0.01), norm])
    assert norm.max <= 0.01 + 1e-6


def test_gradient_accumulation_equals_the_larger_batch():
    x, y = synth_classification(256)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))  # no BatchNorm
    results = []
    for bs, cbs in [(64, []), (16, [GradientAccumulationCallback(4)])]:
        set_seed(0)
        m = copy.deepcopy(model)
        dls = DataLoaders.from_dsets(TensorDataset(x, y), None, bs=bs, shuffle=False, device="cpu")
        learn = Learner(dls, m, opt_func=SGD, lr=0.5, wd=0, cbs=cbs, show_progress=False)
        learn.fit(2)
        results.append(m.state_dict())
    for k in results[0]:
        torch.testing.assert_close(results[0][k], results[1][k], rtol=1e-5, atol=1e-6)
    assert not torch.equal(results[0]["0.weight"], model.state_dict()["0.weight"])


def test_csv_logger_writes_each_epoch(synth_learner, tmp_path):
    learn = synth_learner(path=tmp_path, metrics=accuracy)
    learn.fit(3, lr=1e-2, cbs=[CSVLogger("log.csv")])
    rows = list(csv.reader(open(tmp_path / "log.csv")))
    assert rows[0] == ["epoch", "train_loss", "valid_loss", "accuracy", "time"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    assert float(rows[3][3]) == pytest.approx(learn.recorder.history[2]["accuracy"])


# --- BnFreeze ------------------------------------------------------------------------------


def test_bn_freeze_of_a_module_equals_a_hand_loop_with_that_batchnorm_in_eval_mode():
    x, y = synth_classification(320)
    set_seed(1)
    model = TinyNet()
    model[1].running_mean.fill_(0.3)  # "pretrained" statistics that batches would move
    model[1].running_var.fill_(2.0)
    ref = copy.deepcopy(model)
    dls = DataLoaders.from_dsets(
        TensorDataset(x[:256], y[:256]), TensorDataset(x[256:], y[256:]), bs=32, device="cpu"
    )
    set_seed(5)
    learn = Learner(
        dls,
        model,
        loss_func=nn.CrossEntropyLoss(),
        opt_func=SGD,
        lr=0.1,
        wd=0,
        cbs=[BnFreeze(model)],
        show_progress=False,
    )
    learn.fit(2)

    set_seed(5)
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    for _ in range(2):
        ref.train()
        ref[1].eval()
        perm = torch.randperm(256)
        for i in range(0, 256, 32):
            idx = perm[i : i + 32]
            nn.functional.cross_entropy(ref(x[idx]), y[idx]).backward()
            opt.step()
            opt.zero_grad()
    for a, b in zip(model.state_dict().values(), ref.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert torch.equal(model[1].running_mean, torch.full((8,), 0.3))  # statistics untouched
    assert not torch.equal(model[1].weight, torch.ones(8))  # while the affine weights trained


def _bn_state(model):
    return model[1].running_mean.clone(), model[1].weight.detach().clone()


def test_bn_freeze_without_module_fixes_only_frozen_batchnorm_layers():
    x, y = synth_classification(160)
    dls = DataLoaders.from_dsets(
        TensorDataset(x[:128], y[:128]), TensorDataset(x[128:], y[128:]), bs=32, device="cpu"
    )
    for train_bn, frozen in ((False, True), (True, False)):
        set_seed(0)
        learn = Learner(
            dls,
            TinyNet(),
            splitter=tiny_splitter,
            train_bn=train_bn,
            cbs=[BnFreeze()],
            show_progress=False,
        )
        learn.freeze()  # the body (Linear + BatchNorm) frozen; BatchNorm trainable if train_bn
        mean, weight = _bn_state(learn.model)
        learn.fit(1, 1e-2)
        new_mean, new_weight = _bn_state(learn.model)
        assert torch.equal(new_mean, mean) is frozen
        assert torch.equal(new_weight, weight) is frozen
    learn.unfreeze()  # nothing frozen: the statistics move again
    learn.fit(1, 1e-2)
    assert not torch.equal(learn.model[1].running_mean, new_mean)
