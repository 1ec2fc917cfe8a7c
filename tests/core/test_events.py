"""The exact order of events, for a plain fit and after each Cancel exception."""

from __future__ import annotations

import pytest

from fastlearn import (
    EVENTS,
    Callback,
    CancelBatchException,
    CancelEpochException,
    CancelFitException,
    CancelStepException,
    CancelTrainException,
    CancelValidException,
)

from ..conftest import synth_dls


class Record(Callback):
    """Records every event, prefixed with t/v for training/validation batches."""

    def __init__(self, raise_at: str | None = None, exc: type | None = None) -> None:
        self.events: list[str] = []
        self.raise_at, self.exc, self.raised = raise_at, exc, False

    def __getattr__(self, name: str):
        if name in EVENTS or name == "after_backward":

            def hook(learn):
                self.events.append(name)
                if name == self.raise_at and not self.raised:
                    self.raised = True
                    raise self.exc()

            return hook
        raise AttributeError(name)


BATCH_TRAIN = [
    "before_batch",
    "after_pred",
    "after_loss",
    "before_backward",
    "after_backward",
    "before_step",
    "after_step",
    "after_batch",
]
BATCH_VALID = ["before_batch", "after_pred", "after_loss", "after_batch"]


def run(synth_learner, cb: Record):
    learn = synth_learner(dls=synth_dls(n=64, bs=32, n_valid=16))  # 2 train, 1 valid batch
    learn.fit(1, cbs=[cb])
    return cb.events


def test_order_of_a_plain_fit(synth_learner):
    events = run(synth_learner, Record())
    expected = (
        ["before_fit", "before_epoch", "before_train"]
        + BATCH_TRAIN * 2
        + ["after_train", "before_validate"]
        + BATCH_VALID
        + ["after_validate", "after_epoch", "after_fit"]
    )
    assert events == expected


@pytest.mark.parametrize(
    "raise_at,exc,expected_tail",
    [
        (
            "after_pred",
            CancelBatchException,
            ["before_batch", "after_pred", "after_cancel_batch", "after_batch"] + BATCH_TRAIN,
        ),
        (
            "before_step",
            CancelStepException,
            BATCH_TRAIN[:6] + ["after_cancel_step", "after_step", "after_batch"] + BATCH_TRAIN,
        ),
        (
            "before_batch",
            CancelTrainException,
            ["before_batch", "after_cancel_train", "after_train"],
        ),
    ],
)
def test_order_after_cancel_in_training(synth_learner, raise_at, exc, expected_tail):
    events = run(synth_learner, Record(raise_at, exc))
    start = ["before_fit", "before_epoch", "before_train"]
    assert events[:3] == start
    assert events[3 : 3 + len(expected_tail)] == expected_tail
    assert events[-1] == "after_fit"


def test_cancel_validate(synth_learner):
    events = run(synth_learner, Record("before_validate", CancelValidException))
    assert events[-5:] == [
        "before_validate",
        "after_cancel_validate",
        "after_validate",
        "after_epoch",
        "after_fit",
    ]


def test_cancel_epoch(synth_learner):
    events = run(synth_learner, Record("after_train", CancelEpochException))
    assert events[-4:] == ["after_train", "after_cancel_epoch", "after_epoch", "after_fit"]


def test_cancel_fit(synth_learner):
    events = run(synth_learner, Record("before_epoch", CancelFitException))
    assert events == ["before_fit", "before_epoch", "after_cancel_fit", "after_fit"]


def test_error_in_callback_names_it(synth_learner):
    class Broken(Callback):
        def after_loss(self, learn):
            raise ZeroDivisionError("boom")

    learn = synth_learner()
    with pytest.raises(ZeroDivisionError) as info:
        learn.fit(1, cbs=[Broken()])
    assert any("Broken" in n and "after_loss" in n for n in getattr(info.value, "__notes__", []))


def test_callbacks_run_in_order(synth_learner):
    seen = []

    class A(Callback):
        order = 5

        def before_fit(self, learn):
            seen.append("A")

    class B(Callback):
        order = -5

        def before_fit(self, learn):
            seen.append("B")

    synth_learner().fit(1, cbs=[A(), B()])
    assert seen == ["B", "A"]
