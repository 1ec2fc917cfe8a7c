"""linear_probe against a hand-written reference (the same body's features + scikit-learn)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import TensorDataset

from fastlearn import DataLoaders, set_seed
from fastlearn.vision import linear_probe
from fastlearn.vision.augment import AffineWarp, IntToFloat
from fastlearn.vision.learner import vision_learner
from fastlearn.vision.models import register_arch
from fastlearn.vision.models.layers import conv_bn_relu
from fastlearn.vision.models.registry import _REGISTRY
from fastlearn.vision.probe import MIN_VALID, ProbeResult

STATS = ((0.2, 0.3, 0.4), (0.5, 0.6, 0.7))


def tiny_net(pretrained: bool = False, num_classes: int = 1000) -> nn.Sequential:
    """Three stride-2 conv blocks, pool, linear; 'pretrained' = fixed seeded weights."""
    with torch.random.fork_rng():
        torch.manual_seed(123 if pretrained else int(torch.randint(1000, ())))
        return nn.Sequential(
            conv_bn_relu(3, 8, stride=2),
            conv_bn_relu(8, 16, stride=2),
            conv_bn_relu(16, 16, stride=2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(16, num_classes),
        )


@pytest.fixture(autouse=True, scope="module")
def tiny_arch():
    register_arch("tiny_probe", tiny_net, cut=-3, meta={"stats": STATS, "split": 1}, overwrite=True)
    yield
    _REGISTRY.pop("tiny_probe", None)


def images(n: int, size: int = 24, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images of 3 classes: class c has its brightest third of columns at c."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, 3, size, size, generator=g) * 160).to(torch.uint8)
    y = torch.arange(n) % 3
    third = torch.arange(size) * 3 // size  # (W,) column -> third
    bright = third.view(1, 1, 1, -1) == y.view(-1, 1, 1, 1)
    noise = torch.rand(n, generator=g) < 0.15  # some labels are noise: errors > 0
    return torch.where(bright, x + 60, x), torch.where(noise, (y + 1) % 3, y)


def tensor_dls(n: int = 90, n_valid: int = 60, batch_tfms=None) -> DataLoaders:
    x, y = images(n + n_valid)
    tfms = [IntToFloat()] + list(batch_tfms or [])
    return DataLoaders.from_dsets(
        TensorDataset(x[:n], y[:n]),
        TensorDataset(x[n:], y[n:]),
        bs=16,
        device="cpu",
        vocab=["a", "b", "c"],
        batch_tfms=tfms,
    )


def reference_error(dls: DataLoaders, C: float) -> float:
    """By hand: the seeded body on normalised pixels, mean-pooled, then scikit-learn."""
    body = nn.Sequential(*list(tiny_net(pretrained=True).children())[:-3]).eval()
    mean, std = (torch.tensor(s).view(1, 3, 1, 1) for s in STATS)

    def features(ds: TensorDataset) -> tuple[np.ndarray, np.ndarray]:
        x, y = ds.tensors
        with torch.no_grad():
            return body((x.float() / 255 - mean) / std).mean((2, 3)).numpy(), y.numpy()

    (xt, yt), (xv, yv) = features(dls.train.dataset), features(dls.valid.dataset)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000)).fit(xt, yt)
    return float((model.predict(xv) != yv).mean())


@pytest.mark.parametrize("C", [0.01, 1.0])
def test_probe_matches_features_by_hand_and_sklearn(C):
    dls = tensor_dls()
    probe = linear_probe(dls, "tiny_probe", Cs=(C,))
    expected = reference_error(dls, C)
    assert 0 < expected < 0.6  # a non-trivial problem: the comparison means something
    assert probe.error_rate == pytest.approx(expected)
    assert probe.accuracy == pytest.approx(1 - expected)
    assert (probe.n_train, probe.n_valid, probe.C, probe.arch) == (90, 60, C, "tiny_probe")


def test_probe_picks_C_from_the_grid_and_prints():
    probe = linear_probe(tensor_dls(), "tiny_probe", Cs=(1e-3, 1e-1, 10.0), cv=3)
    assert probe.C in (1e-3, 1e-1, 10.0)
    assert probe.error_rate == pytest.approx(reference_error(tensor_dls(), probe.C))
    assert repr(probe).startswith("LinearProbe(tiny_probe): error ")


def test_training_features_are_not_augmented():
    """Flips and warps are for training, not for the probe: the same result with or without."""
    plain = linear_probe(tensor_dls(), "tiny_probe", Cs=(1.0,))
    set_seed(0)
    augmented = linear_probe(
        tensor_dls(batch_tfms=[AffineWarp(max_rotate=30, p_affine=1.0)]), "tiny_probe", Cs=(1.0,)
    )
    assert augmented == plain


def test_learner_probe_uses_the_learners_arch_and_data():
    dls = tensor_dls()
    learn = vision_learner(dls, "tiny_probe", show_progress=False)  # adds Normalize to dls
    assert learn.probe(Cs=(1.0,)).error_rate == pytest.approx(reference_error(dls, 1.0))


def test_compare_gives_a_verdict_or_warns_on_a_small_validation_set():
    big = ProbeResult(0.05, 0.95, n_train=400, n_valid=MIN_VALID, C=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert big.compare(0.05).endswith("at least as good")
        assert big.compare(0.06).endswith("WORSE")
        assert big.beaten_by(0.05) and big.beaten_by(0.06) is False
    small = ProbeResult(0.05, 0.95, n_train=400, n_valid=60, C=1.0)
    with pytest.warns(UserWarning, match="Only 60 validation items"):
        assert "too few validation items" in small.compare(0.2)
    with pytest.warns(UserWarning, match="too few to tell"):
        assert small.beaten_by(0.0) is None


def test_probe_rejects_regression_targets():
    x, _ = images(40)
    dls = DataLoaders.from_dsets(
        TensorDataset(x[:30], torch.rand(30)),
        TensorDataset(x[30:], torch.rand(10)),
        bs=8,
        device="cpu",
        batch_tfms=[IntToFloat()],
    )
    with pytest.raises(ValueError, match="one class index per image"):
        linear_probe(dls, "tiny_probe")


@pytest.mark.parametrize(
    "only_probe, only_model", [(0, 0), (3, 0), (5, 1), (9, 2), (4, 4), (2, 7), (12, 3)]
)
def test_paired_comparison_is_mcnemars_exact_test(only_probe, only_model):
    from scipy.stats import binomtest

    from fastlearn.vision import PairedComparison

    n = only_probe + only_model
    cmp = PairedComparison("fine_tune", 0.1, 0.1, only_probe, only_model)
    expected = 1.0 if n == 0 else binomtest(only_probe, n, 0.5, alternative="greater").pvalue
    assert cmp.p_worse == pytest.approx(expected)
    assert cmp.worse == (expected < 0.05)
    assert ("significantly WORSE" in str(cmp)) == cmp.worse
    # with enough validation items the verdict stands; under MIN_VALID there is none
    assert PairedComparison("m", 0.1, 0.1, only_probe, only_model, MIN_VALID).worse == cmp.worse
    assert PairedComparison("m", 0.1, 0.1, only_probe, only_model, MIN_VALID - 1).worse is None


def test_versus_pairs_the_learners_validation_items_with_the_probes():
    dls = tensor_dls()
    learn = vision_learner(dls, "tiny_probe", show_progress=False)
    learn.fit(2, 1e-2)
    probe = learn.probe(Cs=(1.0,))
    assert len(probe.correct) == 60 and 1 - sum(probe.correct) / 60 == pytest.approx(
        probe.error_rate
    )
    preds, targs = learn.get_preds()
    mine = (preds.argmax(1) == targs).tolist()
    with pytest.warns(UserWarning, match="Only 60 validation items: too few to tell"):
        cmp = probe.versus(learn)
    assert cmp.error_rate == pytest.approx(1 - sum(mine) / 60)
    assert cmp.only_probe == sum(p and not m for p, m in zip(probe.correct, mine))
    assert cmp.only_model == sum(m and not p for p, m in zip(probe.correct, mine))
    warnings.simplefilter("ignore", UserWarning)  # the small set's warning, checked above
    assert probe.versus(mine) == cmp
    assert cmp.n_valid == 60 and cmp.worse is None  # too few items for a verdict
    assert str(cmp).endswith("too few validation items (60) to tell fine_tune from the probe")
    # the probe against itself: no disagreement, never worse
    same = probe.versus(probe.correct, "probe")
    assert (same.only_probe, same.only_model, same.worse) == (0, 0, None)
    with pytest.raises(ValueError, match="one result per validation item"):
        probe.versus(mine[:-1])
