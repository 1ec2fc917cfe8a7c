"""Metrics against sklearn / scipy / torch, fed in uneven batches (37 samples, batches of 8)."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn import metrics as skm

from fastlearn.core.metrics import (
    RMSE,
    AvgMetric,
    BalancedAccuracy,
    Dice,
    ExpRMSPE,
    F1Score,
    FBeta,
    ForegroundAccuracy,
    Jaccard,
    MatthewsCorrCoef,
    Metric,
    PearsonCorrCoef,
    Perplexity,
    Precision,
    R2Score,
    Recall,
    RocAuc,
    RocAucBinary,
    SpearmanCorrCoef,
    accuracy,
    accuracy_multi,
    as_metric,
    error_rate,
    exp_rmspe,
    foreground_acc,
    mae,
    mse,
    rmse,
)
from fastlearn.core.metrics.base import rankdata

N, BS = 37, 8


def feed(metric, preds: torch.Tensor, targs: torch.Tensor, bs: int = BS) -> float:
    """Run a metric (or anything as_metric accepts) over the data in batches of bs."""
    m = as_metric(metric)
    m.reset()
    for i in range(0, len(preds), bs):
        m.update(preds[i : i + bs], targs[i : i + bs])
    return m.compute()


def gen(seed: int = 0):
    return torch.Generator().manual_seed(seed)


def multiclass(n_classes: int = 4, seed: int = 0):
    g = gen(seed)
    return torch.randn(N, n_classes, generator=g), torch.randint(0, n_classes, (N,), generator=g)


def binary_2col(seed: int = 1):
    g = gen(seed)
    return torch.randn(N, 2, generator=g), torch.randint(0, 2, (N,), generator=g)


def binary_1col(seed: int = 2):
    g = gen(seed)
    return torch.randn(N, 1, generator=g), torch.randint(0, 2, (N,), generator=g)


def absent_class(seed: int = 3):
    """5 logit columns, but class 4 is never predicted nor a target (sklearn drops it)."""
    preds, targs = multiclass(5, seed)
    preds[:, 4] = -100.0
    return preds, targs.clamp(max=3)


def regression(seed: int = 4):
    g = gen(seed)
    targs = torch.randn(N, generator=g) * 3 + 10
    return (targs + torch.randn(N, generator=g))[:, None], targs


def regression_ties(seed: int = 5):
    preds, targs = regression(seed)
    return preds.round(), targs.round()


def labels(preds: torch.Tensor) -> np.ndarray:
    return preds.argmax(-1).numpy() if preds.shape[-1] > 1 else (preds[:, 0] > 0).long().numpy()


def softmax(preds: torch.Tensor) -> np.ndarray:
    return preds.softmax(-1).numpy()


CLASSIFICATION = [
    # (id, metric, data, reference(preds, targs))
    ("accuracy", accuracy, multiclass, lambda p, t: skm.accuracy_score(t, labels(p))),
    ("error_rate", error_rate, multiclass, lambda p, t: 1 - skm.accuracy_score(t, labels(p))),
    ("f1_binary", F1Score(), binary_2col, lambda p, t: skm.f1_score(t, labels(p))),
    ("f1_binary_1col", F1Score(), binary_1col, lambda p, t: skm.f1_score(t, labels(p))),
    ("f1_pos0", F1Score(pos_label=0), binary_2col,
     lambda p, t: skm.f1_score(t, labels(p), pos_label=0)),
    *[
        (f"f1_{avg}", F1Score(average=avg), data,
         lambda p, t, avg=avg: skm.f1_score(t, labels(p), average=avg))
        for avg in ("macro", "micro", "weighted")
        for data in (multiclass, absent_class)
    ],
    ("fbeta2_macro", FBeta(2.0, average="macro"), multiclass,
     lambda p, t: skm.fbeta_score(t, labels(p), beta=2.0, average="macro")),
    ("fbeta05_binary", FBeta(0.5), binary_2col,
     lambda p, t: skm.fbeta_score(t, labels(p), beta=0.5)),
    ("precision_binary", Precision(), binary_2col, lambda p, t: skm.precision_score(t, labels(p))),
    ("precision_macro", Precision(average="macro"), absent_class,
     lambda p, t: skm.precision_score(t, labels(p), average="macro", zero_division=0)),
    ("recall_binary", Recall(), binary_1col, lambda p, t: skm.recall_score(t, labels(p))),
    ("recall_weighted", Recall(average="weighted"), multiclass,
     lambda p, t: skm.recall_score(t, labels(p), average="weighted")),
    ("balanced_accuracy", BalancedAccuracy(), absent_class,
     lambda p, t: skm.balanced_accuracy_score(t, labels(p))),
    ("mcc_multiclass", MatthewsCorrCoef(), multiclass,
     lambda p, t: skm.matthews_corrcoef(t, labels(p))),
    ("mcc_binary", MatthewsCorrCoef(), binary_2col,
     lambda p, t: skm.matthews_corrcoef(t, labels(p))),
    ("roc_auc_ovr", RocAuc(), multiclass,
     lambda p, t: skm.roc_auc_score(t, softmax(p), multi_class="ovr")),
    ("roc_auc_binary_2col", RocAucBinary(), binary_2col,
     lambda p, t: skm.roc_auc_score(t, softmax(p)[:, 1])),
    ("roc_auc_binary_1col", RocAucBinary(), binary_1col,
     lambda p, t: skm.roc_auc_score(t, p[:, 0].sigmoid().numpy())),
]  # fmt: skip


@pytest.mark.parametrize(
    "metric,data,reference", [c[1:] for c in CLASSIFICATION], ids=[c[0] for c in CLASSIFICATION]
)
def test_classification_matches_sklearn(metric, data, reference):
    preds, targs = data()
    assert feed(metric, preds, targs) == pytest.approx(reference(preds, targs.numpy()), abs=1e-6)


def test_roc_auc_with_ties_matches_sklearn():
    preds, targs = binary_1col()
    preds = (preds * 2).round()  # few distinct scores: many ties
    expected = skm.roc_auc_score(targs.numpy(), preds[:, 0].sigmoid().numpy())
    assert feed(RocAucBinary(), preds, targs) == pytest.approx(expected, abs=1e-12)


def test_accuracy_multi_matches_hamming_loss():
    g = gen(6)
    preds, targs = torch.randn(N, 5, generator=g), torch.randint(0, 2, (N, 5), generator=g)
    pred_labels = (preds.sigmoid() > 0.5).long().numpy()
    assert feed(accuracy_multi, preds, targs) == pytest.approx(
        1 - skm.hamming_loss(targs.numpy(), pred_labels), abs=1e-6
    )
    low = (preds.sigmoid() > 0.2).long().numpy()
    metric = as_metric(partial(accuracy_multi, thresh=0.2))
    assert metric.name == "accuracy_multi"
    assert feed(metric, preds, targs) == pytest.approx(
        1 - skm.hamming_loss(targs.numpy(), low), abs=1e-6
    )


REGRESSION = [
    ("mse", mse, regression, lambda p, t: skm.mean_squared_error(t, p)),
    ("mae", mae, regression, lambda p, t: skm.mean_absolute_error(t, p)),
    ("rmse", rmse, regression, lambda p, t: math.sqrt(skm.mean_squared_error(t, p))),
    ("rmse_class", RMSE, regression, lambda p, t: math.sqrt(skm.mean_squared_error(t, p))),
    ("exp_rmspe", exp_rmspe, lambda: tuple(x / 5 for x in regression()),
     lambda p, t: math.sqrt(np.mean(((np.exp(t) - np.exp(p)) / np.exp(t)) ** 2))),
    ("r2", R2Score(), regression, lambda p, t: skm.r2_score(t, p)),
    ("pearson", PearsonCorrCoef(), regression, lambda p, t: stats.pearsonr(p, t)[0]),
    ("spearman", SpearmanCorrCoef(), regression, lambda p, t: stats.spearmanr(p, t)[0]),
    ("spearman_ties", SpearmanCorrCoef(), regression_ties, lambda p, t: stats.spearmanr(p, t)[0]),
]  # fmt: skip


@pytest.mark.parametrize(
    "metric,data,reference", [c[1:] for c in REGRESSION], ids=[c[0] for c in REGRESSION]
)
def test_regression_matches_reference(metric, data, reference):
    preds, targs = data()
    expected = reference(preds[:, 0].double().numpy(), targs.double().numpy())
    assert feed(metric, preds, targs) == pytest.approx(expected, rel=1e-5)


def test_rmse_is_exact_over_the_set_not_a_mean_of_batches():
    preds, targs = regression()
    batch_mean = np.average(
        [rmse(preds[i : i + BS], targs[i : i + BS]).item() for i in range(0, N, BS)],
        weights=[min(BS, N - i) for i in range(0, N, BS)],
    )
    exact = math.sqrt(skm.mean_squared_error(targs.numpy(), preds[:, 0].numpy()))
    assert abs(batch_mean - exact) > 1e-4  # the naive average really is wrong here
    assert feed(rmse, preds, targs) == pytest.approx(exact, rel=1e-6)


def test_pearson_is_stable_with_large_offset():
    preds, targs = regression()
    expected = stats.pearsonr(preds[:, 0].double().numpy(), targs.double().numpy())[0]
    shifted = feed(PearsonCorrCoef(), preds.double() + 1e8, targs.double() + 1e8)
    assert shifted == pytest.approx(expected, rel=1e-6)


def test_r2_constant_targets_follows_sklearn():
    targs = torch.full((N,), 3.0)
    assert feed(R2Score(), targs.clone(), targs) == skm.r2_score(targs.numpy(), targs.numpy())
    assert feed(R2Score(), targs + 1, targs) == skm.r2_score(targs.numpy(), targs.numpy() + 1)


def test_rankdata_matches_scipy():
    x = torch.randint(0, 6, (50,), generator=gen(7)).double()
    np.testing.assert_allclose(rankdata(x).numpy(), stats.rankdata(x.numpy()))


def test_perplexity_matches_cross_entropy():
    g = gen(8)
    preds, targs = torch.randn(9, 7, 11, generator=g), torch.randint(0, 11, (9, 7), generator=g)
    targs[0, 3:] = -100  # padding ignored
    expected = math.exp(F.cross_entropy(preds.reshape(-1, 11), targs.reshape(-1)).item())
    assert feed(Perplexity(), preds, targs, bs=4) == pytest.approx(expected, rel=1e-5)


def segmentation(n_classes: int = 3, seed: int = 9):
    g = gen(seed)
    preds = torch.randn(11, n_classes, 5, 6, generator=g)
    return preds, torch.randint(0, n_classes, (11, 5, 6), generator=g)


def pixels(preds: torch.Tensor, targs: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    return targs.flatten().numpy(), preds.argmax(1).flatten().numpy()


SEGMENTATION = [
    ("dice", Dice(), lambda t, p: skm.f1_score(t > 0, p > 0)),
    ("jaccard", Jaccard(), lambda t, p: skm.jaccard_score(t > 0, p > 0)),
    ("dice_multi", Dice(average="macro"), lambda t, p: skm.f1_score(t, p, average="macro")),
    ("jaccard_multi", Jaccard("macro"), lambda t, p: skm.jaccard_score(t, p, average="macro")),
    ("foreground_acc", foreground_acc, lambda t, p: skm.accuracy_score(t[t != 0], p[t != 0])),
    ("foreground_acc_void", foreground_acc(2),
     lambda t, p: skm.accuracy_score(t[t != 2], p[t != 2])),
    ("foreground_acc_partial", partial(foreground_acc, bkg_idx=1),
     lambda t, p: skm.accuracy_score(t[t != 1], p[t != 1])),
]  # fmt: skip


@pytest.mark.parametrize(
    "metric,reference", [c[1:] for c in SEGMENTATION], ids=[c[0] for c in SEGMENTATION]
)
def test_segmentation_matches_sklearn(metric, reference):
    preds, targs = segmentation()
    assert feed(metric, preds, targs, bs=4) == pytest.approx(reference(*pixels(preds, targs)))


def test_dice_binary_single_channel_and_ignore_index():
    preds, targs = segmentation(1)
    targs = torch.randint(0, 2, targs.shape, generator=gen(10))
    expected = skm.f1_score(targs.flatten().numpy(), (preds[:, 0] > 0).flatten().numpy())
    assert feed(Dice(), preds, targs, bs=4) == pytest.approx(expected)
    preds, targs = segmentation(4)
    targs[:, 0] = 255  # a void code in the top row
    t, p = pixels(preds, targs)
    keep = t != 255
    expected = skm.jaccard_score(t[keep], p[keep], average="macro")
    assert feed(Jaccard("macro", ignore_index=255), preds, targs, bs=4) == pytest.approx(expected)
    with pytest.raises(ValueError, match=r"jaccard_coeff_multi expected pixel targets in \[0, 4\)"):
        feed(Jaccard("macro"), preds, targs)


def test_foreground_acc_function_on_one_batch():
    preds, targs = segmentation()
    t, p = pixels(preds, targs)
    value = foreground_acc(preds, targs, bkg_idx=0)
    assert value.item() == pytest.approx(skm.accuracy_score(t[t != 0], p[t != 0]))


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(1, N - 1), max_size=6, unique=True))
def test_any_batching_gives_the_single_batch_result(cuts):
    """Splitting the set anywhere changes no metric (up to float rounding)."""
    bounds = [0, *sorted(cuts), N]
    for metric, (preds, targs) in [
        (F1Score(average="macro"), multiclass()),
        (MatthewsCorrCoef(), multiclass()),
        (RocAuc(), multiclass()),
        (R2Score(), regression()),
        (PearsonCorrCoef(), regression()),
        (SpearmanCorrCoef(), regression_ties()),
        (as_metric(rmse), regression()),
    ]:
        whole = feed(metric, preds, targs, bs=N)
        metric.reset()
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            metric.update(preds[lo:hi], targs[lo:hi])
        assert metric.compute() == pytest.approx(whole, rel=1e-9, abs=1e-12)


def test_reset_forgets_previous_epoch():
    metric = F1Score(average="macro")
    preds, targs = multiclass()
    first = feed(metric, preds, targs)
    metric.update(*multiclass(seed=11))
    assert feed(metric, preds, targs) == first


def test_compute_before_update_is_nan():
    for metric in (F1Score(), RocAuc(), R2Score(), SpearmanCorrCoef(), Dice(), as_metric(rmse)):
        metric.reset()
        assert math.isnan(metric.compute())


def test_out_of_range_targets_fail_in_compute():
    preds, targs = multiclass()
    targs[3] = 7
    with pytest.raises(ValueError, match=r"f1_score expected targets in \[0, 4\)"):
        feed(F1Score(average="macro"), preds, targs)


def test_as_metric_accepts_instances_classes_and_functions():
    instance = F1Score(average="macro")
    assert as_metric(instance) is instance
    assert isinstance(as_metric(R2Score), R2Score)
    avg = as_metric(accuracy)
    assert isinstance(avg, AvgMetric) and avg.name == "accuracy"
    assert isinstance(as_metric(rmse), RMSE) and as_metric(rmse).name == "rmse"
    assert isinstance(as_metric(exp_rmspe), ExpRMSPE)
    fg = as_metric(partial(foreground_acc, bkg_idx=30))
    assert isinstance(fg, ForegroundAccuracy) and fg.bkg_idx == 30
    assert as_metric(partial(accuracy, axis=1)).name == "accuracy"

    def float_metric(preds, targs):
        return 0.5

    assert feed(float_metric, *multiclass()) == 0.5
    with pytest.raises(TypeError, match="as_metric expected"):
        as_metric(3)


def test_every_metric_has_a_snake_case_name():
    for metric in (F1Score(), FBeta(2), Precision(), Recall(), BalancedAccuracy(), RocAuc(),
                   RocAucBinary(), MatthewsCorrCoef(), R2Score(), PearsonCorrCoef(),
                   SpearmanCorrCoef(), Perplexity(), Dice(), Jaccard(), ForegroundAccuracy(),
                   as_metric(rmse), as_metric(mae), as_metric(accuracy_multi)):  # fmt: skip
        assert isinstance(metric, Metric)
        assert metric.name.islower() and " " not in metric.name and metric.name.isidentifier()


def test_accuracy_shape_error_names_both_shapes_and_the_fix():
    with pytest.raises(ValueError) as info:
        accuracy(torch.randn(8, 3), torch.zeros(8, 2, dtype=torch.long))
    assert str(info.value).startswith(
        "accuracy expected preds (N, C) and targs (N,). Received: preds (8, 3), targs (8, 2). Fix: "
    )


@pytest.mark.parametrize(
    "metric,preds,targs",
    [
        (F1Score(average="macro"), (8, 3), (8, 2)),
        (F1Score(), (8, 3), (8,)),  # binary average with 3 classes
        (RocAuc(), (8, 3), (5,)),
        (RocAucBinary(), (8, 3), (8,)),
        (as_metric(rmse), (8, 2), (8,)),
        (R2Score(), (8, 2), (8,)),
        (SpearmanCorrCoef(), (8,), (7,)),
        (Perplexity(), (2, 5, 11), (2, 4)),
        (Dice(), (2, 3, 4, 4), (2, 4, 5)),
        (ForegroundAccuracy(), (2, 3, 4, 4), (2, 5, 4)),
        (as_metric(accuracy_multi), (8, 3), (8,)),
    ],
)
def test_shape_mismatch_raises_value_error_naming_metric_and_shapes(metric, preds, targs):
    with pytest.raises(ValueError) as info:
        metric.update(torch.randn(*preds), torch.zeros(*targs, dtype=torch.long))
    message = str(info.value)
    assert message.startswith(f"{metric.name}") and "Fix:" in message
    assert f"preds {preds}" in message and f"targs {targs}" in message


# ---------------------------------------------------------------- declared state
def _metric_classes(cls=None):
    from fastlearn.core.metrics import Metric

    cls = cls or Metric
    for sub in cls.__subclasses__():
        yield sub
        yield from _metric_classes(sub)


def test_every_metric_declares_its_state():
    import fastlearn.core.metrics  # noqa: F401 (defines the subclasses)

    undeclared = [
        c.__name__
        for c in _metric_classes()
        if not c.state_names and c.__module__.startswith("fastlearn.core")
    ]
    assert undeclared == []


def test_a_metric_without_declared_state_says_how_to_declare_it():
    from fastlearn.core.metrics import Metric

    class Custom(Metric):
        def reset(self):
            self.total = 0.0

    with pytest.raises(TypeError, match="state_names"):
        Custom().accumulated()
