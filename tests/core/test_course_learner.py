"""What the course's code reads from a Learner: summary, validate, show_training_loop, tta,
metrics set after construction, and the optimisers' own weight decay (chapter 4's SGD)."""

from __future__ import annotations

import copy
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import TensorDataset

from fastlearn import (
    EVENTS,
    SGD,
    Adam,
    Callback,
    DataLoaders,
    Learner,
    RMSprop,
    accuracy,
    accuracy_multi,
    set_seed,
)

from ..conftest import TinyNet, synth_classification, synth_dls, tiny_splitter


# ---------------------------------------------------------------------------- summary
def test_summary_lists_layers_shapes_and_parameter_counts(synth_learner, capsys):
    learn = synth_learner(splitter=tiny_splitter)
    learn.freeze()  # group 0 (Linear + BatchNorm) frozen but for BatchNorm; group 1 trains
    text = learn.summary()
    assert capsys.readouterr().out.strip() == text.strip()  # printed, and returned
    assert "TinyNet (Input shape: 32 x 4)" in text
    rows = {
        line.split("   ")[0].strip(): line.split()
        for line in text.splitlines()
        if line.startswith(("0 ", "1 ", "2 ", "3 "))
    }
    # By hand: Linear(4, 8) 4*8+8, BatchNorm1d(8) 8+8, Linear(8, 2) 8*2+2; outputs for bs 32.
    assert rows["0 (Linear)"][2:] == ["32", "x", "8", "40", "False"]
    assert rows["1 (BatchNorm1d)"][2:] == ["32", "x", "8", "16", "True"]
    assert rows["2 (ReLU)"][2:] == ["32", "x", "8", "0"]
    assert rows["3 (Linear)"][2:] == ["32", "x", "2", "18", "True"]
    assert "Total params: 74" in text and "Total trainable params: 34" in text
    assert "Total non-trainable params: 40" in text
    assert "group 0: 16 trainable, 40 frozen" in text and "group 1: 18 trainable, 0 frozen" in text
    assert "Loss function: CrossEntropyLossFlat()" in text and "Adam" in text
    assert "  - Recorder (order 50)" in text


def test_summary_changes_nothing_that_training_sees(synth_learner):
    plain, summarised = synth_learner(seed=4), synth_learner(seed=4)
    set_seed(7)
    plain.fit(1)
    set_seed(7)
    summarised.model[1].eval()  # a module in its own mode keeps it
    stats = summarised.model[1].running_mean.clone()
    summarised.summary()  # draws a shuffled batch: the RNGs must be put back
    assert summarised.opt is None  # the optimiser shown was not installed
    assert summarised.model.training and not summarised.model[1].training
    assert torch.equal(summarised.model[1].running_mean, stats)  # run in eval mode
    summarised.model[1].train()
    summarised.fit(1)  # same shuffle, same steps as the plain learner's
    for a, b in zip(plain.model.state_dict().values(), summarised.model.state_dict().values()):
        assert torch.equal(a, b)


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(3, 4), nn.Linear(5, 4)
        self.scale = nn.Parameter(torch.ones(4))  # a parameter of a module with children
        self.head = nn.Linear(4, 2)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.head((self.a(a) + self.b(b)) * self.scale)


def test_summary_of_a_two_input_model_on_plain_torch_loaders():
    g = torch.Generator().manual_seed(0)
    a, b, y = torch.randn(40, 3, generator=g), torch.randn(40, 5, generator=g), torch.arange(40) % 2
    ds = TensorDataset(a, b, y)
    dls = DataLoaders(
        TorchDataLoader(ds, batch_size=16, shuffle=True),
        TorchDataLoader(ds, batch_size=16),
        n_inp=2,
        device="cpu",
    )
    learn = Learner(dls, TwoInputs(), loss_func=nn.CrossEntropyLoss(), show_progress=False)
    text = learn.summary()
    assert "TwoInputs (Input shape: 16 x 3, 16 x 5)" in text
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in text.splitlines()}
    assert rows["a", "(Linear)"] == ["16", "x", "4", "16", "True"]
    assert rows["b", "(Linear)"] == ["16", "x", "4", "24", "True"]
    assert rows["head", "(Linear)"] == ["16", "x", "2", "10", "True"]
    # The model's own parameter `scale` (4 values) gets the model's row, output (16, 2).
    assert rows["TwoInputs", "(TwoInputs)"] == ["16", "x", "2", "4", "True"]
    assert f"Total params: {3 * 4 + 4 + 5 * 4 + 4 + 4 + 4 * 2 + 2}" in text


# ---------------------------------------------------------------------------- validate
def test_validate_matches_a_hand_computed_loss_and_accuracy(synth_learner, capsys):
    x, y = synth_classification(320)
    learn = synth_learner(
        metrics=accuracy,
        show_progress=True,
        dls=DataLoaders.from_dsets(
            TensorDataset(x[:256], y[:256]), TensorDataset(x[256:], y[256:]), bs=24, device="cpu"
        ),
    )  # valid batches 24, 24, 16
    learn.fit(1, 1e-2)
    capsys.readouterr()
    history = copy.deepcopy(learn.recorder.history)
    loss, acc = learn.validate()
    learn.model.eval()
    with torch.no_grad():
        out = learn.model(x[256:])
    assert loss == pytest.approx(F.cross_entropy(out, y[256:]).item(), rel=1e-6)
    assert acc == pytest.approx((out.argmax(1) == y[256:]).float().mean().item())
    assert isinstance(loss, float) and isinstance(acc, float)
    assert learn.recorder.history == history and capsys.readouterr().out == ""
    # Another loader: the training set, by hand too.
    train_loss, _ = learn.validate(dl=learn.dls.train.new(shuffle=False))
    with torch.no_grad():
        assert train_loss == pytest.approx(
            F.cross_entropy(learn.model(x[:256]), y[:256]).item(), rel=1e-6
        )


def test_validate_needs_a_loader():
    x, y = synth_classification(64)
    learn = Learner(
        DataLoaders.from_dsets(TensorDataset(x, y), device="cpu"), TinyNet(), show_progress=False
    )
    with pytest.raises(ValueError, match="no validation set"):
        learn.validate()


# ---------------------------------------------------------------------------- the loop
class Spy(Callback):
    """Records every event it sees; listed for every event by show_training_loop."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def __getattr__(self, name: str):
        if name in EVENTS:
            return lambda learn: self.events.append(name)
        raise AttributeError(name)


class TrainOnly(Callback):
    run_valid = False

    def after_batch(self, learn: Learner) -> None:
        pass


class AtTheEnd(Callback):
    order = 90

    def after_fit(self, learn: Learner) -> None:
        pass


def printed_events(text: str) -> list[tuple[str, list[str]]]:
    """(event, callback names) of each event line of show_training_loop's output."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("- "):
            name, cbs = line[2:].split(":")
            rows.append((name.strip(), [c for c in cbs.strip(" []").split(", ") if c]))
    return rows


def test_show_training_loop_follows_a_real_fit(synth_learner, capsys):
    learn = synth_learner(dls=synth_dls(n=32, bs=32, n_valid=16))  # one batch each
    spy = Spy()
    learn.add_cbs([spy, TrainOnly(), AtTheEnd()])
    learn.show_training_loop()
    rows = printed_events(capsys.readouterr().out)
    learn.fit(1)
    assert [e for e, _ in rows if not e.startswith("after_cancel")] == spy.events
    assert {e for e, _ in rows} == set(EVENTS)
    train_after_batch, valid_after_batch = [cbs for e, cbs in rows if e == "after_batch"]
    assert train_after_batch == ["Spy", "TrainOnly", "Recorder"]  # by order, then as added
    assert valid_after_batch == ["Spy", "Recorder"]  # TrainOnly has run_valid = False
    assert dict(rows)["after_fit"] == ["Spy", "AtTheEnd"]
    assert dict(rows)["before_step"] == ["Spy"]


# ---------------------------------------------------------------------------- metrics
def multi_label_dls() -> tuple[DataLoaders, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 4, generator=g)
    y = torch.stack([x[:, 0] > 0, x[:, 1] > 0.5, x[:, 0] + x[:, 2] > 0], 1).float()
    dls = DataLoaders.from_dsets(
        TensorDataset(x[:64], y[:64]),
        TensorDataset(x[64:], y[64:]),
        bs=16,
        device="cpu",
        vocab=["a", "b", "c"],
    )
    return dls, x[64:], y[64:]


def test_metrics_assigned_after_construction_are_recorded():
    from fastlearn import BCEWithLogitsLossFlat

    dls, xv, yv = multi_label_dls()
    set_seed(0)
    learn = Learner(dls, nn.Linear(4, 3), loss_func=BCEWithLogitsLossFlat(), show_progress=False)
    learn.metrics = partial(accuracy_multi, thresh=0.1)
    learn.fit(1, 1e-2)
    with torch.no_grad():
        probs = torch.sigmoid(learn.model(xv))
    by_hand = ((probs > 0.1) == yv.bool()).float().mean().item()
    assert learn.recorder.history[-1]["accuracy_multi"] == pytest.approx(by_hand)
    # The same as passing it to the constructor: the same metric, the same column.
    built = Learner(
        dls,
        nn.Linear(4, 3),
        loss_func=BCEWithLogitsLossFlat(),
        metrics=partial(accuracy_multi, thresh=0.1),
        show_progress=False,
    )
    assert [m.name for m in built.metrics] == [m.name for m in learn.metrics]
    assert type(built.metrics[0]) is type(learn.metrics[0])
    learn.metrics = [accuracy_multi, partial(accuracy_multi, thresh=0.9)]
    learn.fit(1, 1e-2)
    assert len(learn.recorder.values[-1]) == 4  # train loss, valid loss, two metrics
    learn.metrics = None
    assert learn.metrics == []
    with pytest.raises(TypeError, match="Received: int"):
        learn.metrics = 3


# ---------------------------------------------------------------------------- weight decay
@pytest.mark.parametrize(
    "opt_func, wd",
    [(SGD, 0.0), (Adam, 0.01), (RMSprop, 0.0), (torch.optim.SGD, 0.0), (torch.optim.AdamW, 0.01)],
)
def test_weight_decay_is_the_optimisers_own_default(synth_learner, opt_func, wd):
    learn = synth_learner(opt_func=opt_func)
    learn.create_opt()
    assert learn.opt.get_hyper("wd") == [pytest.approx(wd)]
    assert all(g.get("weight_decay", 0) == 0 for g in learn.opt.param_groups)  # decoupled
    explicit = synth_learner(opt_func=opt_func, wd=0.1)
    explicit.create_opt()
    assert explicit.opt.get_hyper("wd") == [pytest.approx(0.1)]
    explicit.fit(1, wd=0.3)
    assert explicit.opt.get_hyper("wd") == [pytest.approx(0.3)]


def test_adam_decay_is_adamw_with_0_01():
    set_seed(0)
    model = nn.Linear(4, 2, bias=False)
    ref = copy.deepcopy(model)
    x, y = synth_classification(32)
    learn = Learner(
        DataLoaders.from_dsets(TensorDataset(x, y), bs=32, shuffle=False, device="cpu"),
        model,
        loss_func=nn.CrossEntropyLoss(),
        opt_func=Adam,
        lr=0.1,
        show_progress=False,
    )
    learn.fit(1)
    opt = torch.optim.AdamW(
        ref.parameters(), lr=0.1, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01
    )
    F.cross_entropy(ref(x), y).backward()
    opt.step()
    torch.testing.assert_close(model.weight, ref.weight)


def mnist_loss(predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The book's chapter 4 loss."""
    predictions = predictions.sigmoid()
    return torch.where(targets == 1, 1 - predictions, predictions).mean()


def batch_accuracy(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    return ((xb.sigmoid() > 0.5) == yb).float().mean()


def test_chapter_4_sgd_learner_equals_the_hand_written_loop():
    g = torch.Generator().manual_seed(0)
    w_true = torch.randn(20, 1, generator=g)
    x = torch.randn(600, 20, generator=g)
    y = (x @ w_true > 0).float()  # separable, targets (n, 1) as in the book
    train, valid = TensorDataset(x[:500], y[:500]), TensorDataset(x[500:], y[500:])
    dl, valid_dl = TorchDataLoader(train, batch_size=50), TorchDataLoader(valid, batch_size=50)
    set_seed(0)
    linear = nn.Linear(20, 1)
    ref = copy.deepcopy(linear)
    learn = Learner(
        DataLoaders(dl, valid_dl, device="cpu"),
        linear,
        opt_func=SGD,
        loss_func=mnist_loss,
        metrics=batch_accuracy,
        show_progress=False,
    )

    def hand_epoch() -> None:  # the book's loop: p -= grad * lr, no weight decay
        for xb, yb in dl:
            mnist_loss(ref(xb), yb).backward()
            for p in ref.parameters():
                p.data -= p.grad * 1.0
                p.grad.zero_()

    learn.fit(1, lr=1)
    hand_epoch()
    for a, b in zip(linear.parameters(), ref.parameters()):
        assert torch.equal(a, b)  # 10 steps, bit for bit
    learn.fit(9, lr=1)
    for _ in range(9):
        hand_epoch()
    with torch.no_grad():
        hand_acc = batch_accuracy(ref(x[500:]), y[500:]).item()
    assert learn.recorder.history[-1]["batch_accuracy"] == pytest.approx(hand_acc, abs=0.02)
    assert hand_acc > 0.9


# ---------------------------------------------------------------------------- tta
class ShiftByPass:
    """A deterministic augmentation: pass k (one batch each) adds k to the inputs."""

    order, train_only = 5, True

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, batch: tuple) -> tuple:
        self.calls += 1
        return (batch[0] + self.calls, *batch[1:])


def test_tta_blends_augmented_passes_with_the_plain_one():
    x, y = synth_classification(96)
    shift = ShiftByPass()
    dls = DataLoaders.from_dsets(
        TensorDataset(x[:64], y[:64]),
        TensorDataset(x[64:], y[64:]),
        bs=32,
        batch_tfms=[shift],
        device="cpu",
    )  # valid: one batch
    set_seed(0)
    learn = Learner(dls, nn.Linear(4, 2), show_progress=False)
    xv = x[64:]
    with torch.no_grad():
        plain = torch.softmax(learn.model(xv), 1)
        shifted = [torch.softmax(learn.model(xv + k), 1) for k in (1, 2, 3)]
    shift.calls = 0  # (the learner drew a training batch to infer its loss)
    preds, targs = learn.tta(n=3)
    aug = torch.stack(shifted).mean(0)
    torch.testing.assert_close(preds, 0.75 * aug + 0.25 * plain)
    assert torch.equal(targs, y[64:])
    shift.calls = 0
    (aug_only, plain_only), _ = learn.tta(n=3, beta=None)
    torch.testing.assert_close(aug_only, aug)
    torch.testing.assert_close(plain_only, plain)
    shift.calls = 0
    maxed, _ = learn.tta(n=3, use_max=True)
    torch.testing.assert_close(maxed, torch.stack([plain, *shifted]).max(0).values)
    # The validation loader is left as it was: no augmentation.
    torch.testing.assert_close(learn.get_preds()[0], plain)
    assert learn.dls.valid.batch_tfms == [shift] and not learn.dls.valid.augment


def test_tta_without_an_augmentation_says_how_to_give_one(synth_learner):
    with pytest.raises(ValueError, match="augment="):
        synth_learner().tta()


def test_get_preds_on_a_list_of_batches(synth_learner):
    learn = synth_learner()
    xb, yb = learn.dls.one_batch()
    preds, targs = learn.get_preds(dl=[(xb, yb)])  # the course's one-batch predictions
    with torch.no_grad():
        expected = torch.softmax(learn.model.eval()(xb), -1)
    assert torch.allclose(preds, expected, atol=1e-6) and torch.equal(targs, yb)
    import pytest as _pytest

    with _pytest.raises(TypeError, match="list of batches"):
        learn.get_preds(dl=iter([(xb, yb)]))
