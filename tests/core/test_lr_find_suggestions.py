"""lr_find's suggestion rules on hand-computed curves, and its result as the course reads it:
`learn.lr_find().valley`, `lr_min, lr_steep = learn.lr_find(suggest_funcs=(minimum, steep))`."""

from __future__ import annotations

import pickle
from functools import partial

import numpy as np
import pytest

import fastlearn
from fastlearn import SGD, SuggestedLRs, minimum, slide, steep, valley
from fastlearn.core.callbacks.schedule import LRFinderCallback

LRS = [10.0**k for k in range(-7, 1)]  # 1e-7 ... 1


def test_the_rules_are_exported_from_fastlearn():
    assert {"minimum", "steep", "valley", "slide"} <= set(fastlearn.__all__)
    assert fastlearn.slide is slide


def test_minimum_is_a_tenth_of_the_lowest_losss_rate():
    losses = [3.0, 2.0, 1.5, 1.0, 0.5, 0.7, 2.0, 9.0]
    assert minimum(LRS, losses) == pytest.approx(1e-3 / 10)


def test_steep_is_the_start_of_the_steepest_step_against_log_lr():
    losses = [3.0, 2.9, 2.0, 1.8, 1.7, 1.65, 1.6, 5.0]
    # Steps per decade: -0.1, -0.9, -0.2, -0.1, -0.05, -0.05, +3.4: the steepest starts at 1e-6.
    assert steep(LRS, losses) == pytest.approx(1e-6)


def test_valley_is_in_the_longest_descent():
    losses = [5.0, 4.0, 6.0, 3.0, 2.0, 2.5, 1.0, 7.0]
    # Longest decreasing run ending at each point: 1 2 1 3 4 4 5 1; the first longest ends
    # at 6 (length 5), so it starts after 6 - 5 = 1; a third of 5 is 1.67: 1 + 1 + int(0.83).
    assert valley(LRS, losses) == pytest.approx(LRS[2])


def test_slide_moves_left_until_the_slopes_agree():
    losses = [1.0, 0.9, 0.7, 0.4, 0.3, 0.29, 0.28, 0.6]
    # np.gradient: -0.1 -0.15 -0.25 -0.2 -0.055 -0.01 0.155 0.32. Window of 2: (7, 5) differ by
    # 0.33, (6, 4) 0.21, (5, 3) 0.19, (4, 2) 0.195, each moving the suggestion to the left
    # end; (3, 1) differ by 0.05 < 0.06: stop at LRS[2].
    assert slide(LRS, losses, lr_diff=2, thresh=0.06) == pytest.approx(LRS[2])
    assert slide(LRS, losses, lr_diff=2, thresh=0.06, adjust_value=2) == pytest.approx(2 * LRS[2])
    assert slide(LRS, losses) > 0  # the default 15-point window on a shorter curve


def test_suggestions_skip_the_noisy_start_of_the_curve():
    finder = LRFinderCallback(num_it=100)
    finder.lrs = list(np.logspace(-7, 1, 100))
    x = np.log10(finder.lrs)
    # A fall centred at 1e-3 (steepest there), but the first points drop faster still: the
    # smoothed loss settling in, not a property of the learning rate.
    losses = 2 - np.tanh((x + 3) * 1.5) + np.where(x > -1, (x + 1) ** 2 * 3, 0)
    losses[:4] += [3.0, 1.5, 0.5, 0.1]
    finder.losses = list(losses)
    assert steep(finder.lrs, finder.losses) == pytest.approx(finder.lrs[0])  # fooled
    sugg = finder.suggestions((steep, minimum, valley, slide))
    assert sugg.steep == pytest.approx(1e-3, rel=0.25)
    kept = slice(10, -5)  # num_it // 10 first points, 5 last ones
    for rule in (steep, minimum, valley, slide):
        assert getattr(sugg, rule.__name__) == rule(finder.lrs[kept], finder.losses[kept])


def test_the_result_prints_and_unpacks_as_the_course_expects():
    sugg = SuggestedLRs({"valley": 0.00145}, {"steep": 0.01, "minimum": 0.002})
    assert repr(sugg) == "SuggestedLRs(valley=0.00145)"
    (lr,) = sugg
    assert lr == sugg.valley == 0.00145 and sugg.steep == 0.01 and sugg.minimum == 0.002
    lr_min, lr_steep = SuggestedLRs({"minimum": 0.002, "steep": 0.01})
    assert (lr_min, lr_steep) == (0.002, 0.01)
    assert pickle.loads(pickle.dumps(sugg)).steep == 0.01
    with pytest.raises(AttributeError, match="no suggestion 'nope'"):
        sugg.nope  # noqa: B018


def test_lr_find_returns_the_requested_rules_by_name(synth_learner):
    learn = synth_learner(opt_func=SGD, lr=0.1)
    seen = []
    learn.recorder.plot_lr_find = lambda finder, *a, **k: seen.append(finder)
    lr_min, lr_steep = learn.lr_find(suggest_funcs=(minimum, steep), num_it=50)
    finder = seen[0]
    lrs, losses = finder.lrs[5:-5], finder.losses[5:-5]
    assert (lr_min, lr_steep) == (minimum(lrs, losses), steep(lrs, losses))
    assert isinstance(lr_min, float) and isinstance(lr_steep, float)

    default = learn.lr_find(num_it=50)
    assert default._fields == ("valley",) and len(default) == 1
    assert repr(default).startswith("SuggestedLRs(valley=")
    lrs, losses = seen[1].lrs[5:-5], seen[1].losses[5:-5]
    assert default.valley == valley(lrs, losses) and default.steep == steep(lrs, losses)
    assert default.minimum == minimum(lrs, losses) and default.slide == slide(lrs, losses)

    custom = learn.lr_find(suggest_funcs=(partial(slide, lr_diff=5), valley), num_it=50)
    assert custom._fields == ("slide", "valley")
