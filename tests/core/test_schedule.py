"""Schedules against their formulas; lr_find suggestions on known curves; slice lrs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fastlearn import SGD, Callback, lr_range
from fastlearn.core.annealing import combine_scheds, one_cycle_lr, one_cycle_mom, sched_cos
from fastlearn.core.callbacks.schedule import minimum, steep, valley


def cos_interp(start, end, pos):
    return start + (end - start) * (1 - math.cos(math.pi * pos)) / 2


@pytest.mark.parametrize("pos", [0.0, 0.1, 0.25, 0.5, 0.8, 1.0])
def test_one_cycle_formula(pos):
    lr_max, div, div_final, pct = 1e-2, 25.0, 1e5, 0.25
    sched = one_cycle_lr(lr_max, div=div, div_final=div_final, pct_start=pct)
    if pos < pct:
        expected = cos_interp(lr_max / div, lr_max, pos / pct)
    else:
        expected = cos_interp(lr_max, lr_max / div_final, (pos - pct) / (1 - pct))
    assert sched(pos) == pytest.approx(expected, rel=1e-9)
    mom = one_cycle_mom((0.95, 0.85, 0.95), pct_start=pct)(pos)
    expected_mom = (
        cos_interp(0.95, 0.85, pos / pct)
        if pos < pct
        else cos_interp(0.85, 0.95, (pos - pct) / (1 - pct))
    )
    assert mom == pytest.approx(expected_mom, rel=1e-9)


def test_combine_scheds_rejects_bad_fractions():
    with pytest.raises(ValueError, match="summing to 1"):
        combine_scheds([0.3, 0.3], [sched_cos(0, 1), sched_cos(1, 0)])


class Spy(Callback):
    order = 100  # after the scheduler has set this batch's values

    def __init__(self):
        self.lrs, self.moms = [], []

    def before_batch(self, learn):
        if learn.training:
            self.lrs.append(learn.opt.get_hyper("lr"))
            self.moms.append(learn.opt.get_hyper("mom"))


def test_fit_one_cycle_sets_lr_and_mom_per_step(synth_learner):
    learn = synth_learner()  # 256 items, bs 32 -> 8 batches an epoch
    spy = Spy()
    learn.fit_one_cycle(2, 1e-2, cbs=[spy])
    total = 16
    for step in [0, 3, 4, 9, 15]:
        pos = step / total
        assert spy.lrs[step][0] == pytest.approx(one_cycle_lr(1e-2)(pos))
        assert spy.moms[step][0] == pytest.approx(one_cycle_mom()(pos))
    assert max(lr[0] for lr in spy.lrs) == pytest.approx(1e-2, rel=0.05)
    assert min(m[0] for m in spy.moms) == pytest.approx(0.85, abs=0.01)
    assert learn.recorder.lrs == [lr[-1] for lr in spy.lrs]


def test_discriminative_lrs_per_group():
    assert lr_range(slice(1e-4, 1e-2), 3) == pytest.approx([1e-4, 1e-3, 1e-2])
    assert lr_range(slice(1e-2), 3) == pytest.approx([1e-3, 1e-3, 1e-2])
    assert lr_range(3e-3, 2) == [3e-3, 3e-3]
    with pytest.raises(ValueError, match="one per parameter group"):
        lr_range([1e-3], 2)


def test_slice_reaches_the_optimizer(synth_learner):
    from ..conftest import tiny_splitter

    learn = synth_learner(splitter=tiny_splitter)
    spy = Spy()
    learn.fit_one_cycle(1, slice(1e-4, 1e-2), cbs=[spy])
    peak = max(range(len(spy.lrs)), key=lambda i: spy.lrs[i][1])
    ratio = spy.lrs[peak][1] / spy.lrs[peak][0]
    assert ratio == pytest.approx(100, rel=1e-6)


def test_fit_flat_cos_shape(synth_learner):
    learn = synth_learner()
    spy = Spy()
    learn.fit_flat_cos(2, 1e-2, pct_start=0.5, cbs=[spy])
    lrs = [v[0] for v in spy.lrs]
    assert lrs[:8] == pytest.approx([1e-2] * 8)
    assert all(a >= b for a, b in zip(lrs[8:], lrs[9:]))
    assert lrs[-1] < 2e-3


def test_suggestions_on_a_known_curve():
    lrs = np.logspace(-7, 1, 100)
    x = np.log10(lrs)
    # Flat, then a descent centred at 1e-3 (steepest there), a minimum at 1e-1, then explosion.
    losses = 2 - np.tanh((x + 3) * 1.5) + np.where(x > -1, (x + 1) ** 2 * 3, 0)
    assert steep(lrs, losses) == pytest.approx(1e-3, rel=0.25)
    assert minimum(lrs, losses) == pytest.approx(lrs[np.argmin(losses)] / 10)
    assert 1e-5 < valley(lrs, losses) < 1e-1
    # The valley is in the descending stretch, below the minimum.
    assert valley(lrs, losses) < lrs[np.argmin(losses)]


def test_lr_find_restores_weights_and_suggests(synth_learner):
    learn = synth_learner(opt_func=SGD, lr=0.1)
    before = [p.detach().clone() for p in learn.model.parameters()]
    sugg = learn.lr_find(num_it=40, show_plot=False)
    after = list(learn.model.parameters())
    assert all(bool((a == b).all()) for a, b in zip(before, after))
    assert 1e-7 <= sugg.valley <= 10 and 1e-7 <= sugg.steep <= 10
    assert learn.recorder.history == [] or True  # lr_find does not add an epoch row by itself


class FirstBatchLucky:
    """A loss of 0.01 on the first batch and 0.1 after (a trained model's noise)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, pred, targ):
        self.calls += 1
        value = 0.01 if self.calls == 1 else 0.1
        return pred.sum() * 0 + value


def finder_losses(learn, **kwargs) -> list[float]:
    """The smoothed losses lr_find recorded (taken where the recorder would plot them)."""
    seen = []
    learn.recorder.plot_lr_find = lambda finder, *args, **kw: seen.append(finder)
    learn.lr_find(show_plot=True, **kwargs)
    return seen[0].losses


def test_lr_find_is_not_stopped_by_one_lucky_first_batch(synth_learner):
    # With the first batch as reference the smoothed loss is 5.6x it at batch 2 (debiased
    # EWMA, beta 0.98), which stopped the search at its starting rate.
    learn = synth_learner(opt_func=SGD, lr=0.1, loss_func=FirstBatchLucky())
    losses = finder_losses(learn, num_it=30)
    assert len(losses) == 30


def test_lr_find_still_stops_when_the_loss_explodes(synth_learner):
    learn = synth_learner(opt_func=SGD, lr=0.1)
    losses = finder_losses(learn, start_lr=1e-3, end_lr=1e6, num_it=100)
    assert len(losses) < 100 and losses[-1] > 4 * min(losses[10:])
