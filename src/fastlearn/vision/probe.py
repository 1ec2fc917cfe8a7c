"""A linear probe: the floor any fine-tuning should reach.

    >>> probe = linear_probe(dls, "efficientnet_lite0")
    >>> probe
    LinearProbe(efficientnet_lite0): error 0.0250, accuracy 0.9750 (480 train, 120 valid, C=0.1)
    >>> print(probe.compare(learn.recorder.history[-1]["error_rate"]))

The pretrained body, frozen and in eval mode, turns every image into its average-pooled
feature vector; a scikit-learn logistic regression (features standardised, the inverse
regularisation `C` chosen by stratified cross-validation on the training features) is fitted
on the training images and scored on the validation ones. Both splits go through the
validation pipeline: the training images are resized as for validation, not augmented.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..core.data import DataLoader, DataLoaders
from ..core.learner import Learner
from .augment import Normalize
from .dataset import ImageDataset
from .learner import _first_batch, _n_channels, find_normalize
from .models.heads import ArchLike, create_body
from .models.registry import get_arch

__all__ = [
    "ProbeResult",
    "PairedComparison",
    "linear_probe",
    "probe_features",
    "fit_probe",
    "MIN_VALID",
    "mcnemar_p_worse",
]

MIN_VALID = 100  # fewer validation items than this cannot tell a 1-point difference
DEFAULT_CS = tuple(float(c) for c in np.logspace(-4, 2, 7))


def mcnemar_p_worse(only_other: int, only_model: int) -> float:
    """McNemar's exact one-sided p-value on paired right/wrong results: the chance that a
    model exactly as good as the other loses at least `only_other` of the `only_other +
    only_model` items where exactly one of the two is right."""
    n = only_other + only_model
    return sum(math.comb(n, k) for k in range(only_other, n + 1)) / 2**n


def _warn_too_few(n_valid: int, name: str, stacklevel: int) -> None:
    warnings.warn(
        f"Only {n_valid} validation items: too few to tell {name} from the linear probe "
        f"(one error is {1 / n_valid:.1%}). Fix: a validation set of at least {MIN_VALID} "
        "items.",
        stacklevel=stacklevel + 1,
    )


@dataclass(frozen=True)
class ProbeResult:
    """A linear probe's validation error rate and accuracy, and how it was fitted."""

    error_rate: float
    accuracy: float
    n_train: int
    n_valid: int
    C: float
    arch: str = ""
    correct: tuple[bool, ...] = field(default=(), repr=False)  # per validation item, in order

    def __repr__(self) -> str:
        return (
            f"LinearProbe({self.arch}): error {self.error_rate:.4f}, accuracy "
            f"{self.accuracy:.4f} ({self.n_train} train, {self.n_valid} valid, C={self.C:g})"
        )

    def beaten_by(self, error_rate: float, name: str = "fine_tune") -> bool | None:
        """Whether `error_rate` is at most the probe's; None, with a warning, when the
        validation set has under `MIN_VALID` items (one error then moves the rate by more than
        a point, too little data to tell)."""
        if self.n_valid < MIN_VALID:
            _warn_too_few(self.n_valid, name, 3)  # the caller of compare()
            return None
        return error_rate <= self.error_rate + 1e-6  # float32 metrics: 6/120 = 0.0500000007

    def versus(self, other: Any, name: str = "fine_tune") -> PairedComparison:
        """`other` against the probe on the same validation items, paired: `other` is a
        learner over the same loaders (its `get_preds` on the validation set) or one bool per
        validation item (right or wrong, in the loader's order).

        With 120 validation items one error moves the rate by 0.8 points, so a single run
        cannot show "at least as good" by the rates alone. McNemar's exact test on the items
        only one of the two gets right can show "significantly worse": see `PairedComparison`.

            >>> print(learn.probe().versus(learn))
        """
        if not self.correct:
            raise ValueError(
                "Expected a probe that kept its per-item results. Received: a ProbeResult "
                "without `correct`. Fix: linear_probe(...) or learn.probe() (they keep them)."
            )
        if isinstance(other, Learner):
            preds, targs = other.get_preds(dl=other.dls.valid)
            other = (preds.argmax(-1) == targs).tolist()
        other = [bool(c) for c in other]
        if len(other) != len(self.correct):
            raise ValueError(
                f"Expected one result per validation item ({len(self.correct)}). Received: "
                f"{len(other)}. Fix: compare on the loaders the probe was fitted on."
            )
        only_probe = sum(p and not o for p, o in zip(self.correct, other))
        only_other = sum(o and not p for p, o in zip(self.correct, other))
        if len(other) < MIN_VALID:
            _warn_too_few(len(other), name, 2)  # the caller of versus()
        return PairedComparison(
            name, 1 - sum(other) / len(other), self.error_rate, only_probe, only_other, len(other)
        )

    def compare(self, error_rate: float, name: str = "fine_tune") -> str:
        """One line: `name`'s validation error against the probe's, with the verdict."""
        line = f"{name} error {error_rate:.4f}, linear probe {self.error_rate:.4f}"
        beaten = self.beaten_by(error_rate, name)
        if beaten is None:
            return f"{line}: too few validation items ({self.n_valid}) to tell"
        return f"{line}: {name} is {'at least as good' if beaten else 'WORSE'}"


@dataclass(frozen=True)
class PairedComparison:
    """A model against the linear probe on the same validation items.

    `only_probe`: items the probe gets right and the model wrong; `only_model`: the reverse.
    `p_worse`: McNemar's exact one-sided p-value, the chance that a model exactly as good as
    the probe loses at least `only_probe` of the `only_probe + only_model` items where they
    disagree. `worse` (p < 0.05) says the model is significantly worse than the probe; it is
    None, no verdict, when `n_valid` (the validation items) is under `MIN_VALID`.
    """

    name: str
    error_rate: float
    probe_error_rate: float
    only_probe: int
    only_model: int
    n_valid: int | None = None

    @property
    def too_few(self) -> bool:
        return self.n_valid is not None and self.n_valid < MIN_VALID

    @property
    def p_worse(self) -> float:
        return mcnemar_p_worse(self.only_probe, self.only_model)

    @property
    def worse(self) -> bool | None:
        return None if self.too_few else self.p_worse < 0.05

    def __str__(self) -> str:
        if self.too_few:
            verdict = (
                f"too few validation items ({self.n_valid}) to tell {self.name} from the probe"
            )
        else:
            verdict = f"{self.name} is {'significantly WORSE' if self.worse else 'not worse'} than "
            verdict += "the probe"
        return (
            f"{self.name} error {self.error_rate:.4f}, linear probe {self.probe_error_rate:.4f}; "
            f"on the items only one gets right: probe {self.only_probe}, {self.name} "
            f"{self.only_model} (McNemar p = {self.p_worse:.3f}): {verdict}"
        )


def _plain(dl: DataLoader, batch_tfms: Sequence) -> DataLoader:
    """`dl` in order, unaugmented, through `batch_tfms`: the validation pipeline."""
    ds = dl.dataset
    if isinstance(ds, ImageDataset) and ds.train:  # item transforms draw no random crops
        ds = copy.copy(ds)
        ds.train = False
    return dl.new(
        dataset=ds,
        shuffle=False,
        drop_last=False,
        augment=False,
        sampler=None,
        batch_tfms=list(batch_tfms),
    )


@torch.no_grad()
def probe_features(
    body: nn.Module, dl: DataLoader, normalize: Normalize | None = None
) -> tuple[Tensor, Tensor]:
    """(features, targets) over `dl`: the body's average-pooled outputs, (N, C) and (N,)."""
    body.eval()
    param = next(body.parameters())
    feats, targs = [], []
    for batch in dl:
        if normalize is not None:
            batch = normalize(batch)
        x = batch[0].to(param.device, param.dtype)
        feats.append(body(x).mean((-2, -1)).float().cpu())  # (B, C, H, W) -> (B, C)
        targs.append(batch[1].cpu())
    return torch.cat(feats), torch.cat(targs)


def fit_probe(
    train: tuple[Tensor, Tensor],
    valid: tuple[Tensor, Tensor],
    *,
    Cs: Sequence[float] = DEFAULT_CS,
    cv: int = 5,
    arch: str = "",
) -> ProbeResult:
    """Standardise, fit a logistic regression (C by stratified CV), score on `valid`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    (xt, yt), (xv, yv) = [(x.numpy(), y.numpy()) for x, y in (train, valid)]
    folds = min(cv, int(np.bincount(yt).min()))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    if folds >= 2 and len(Cs) > 1:
        search = GridSearchCV(
            model,
            {"logisticregression__C": list(Cs)},
            cv=StratifiedKFold(folds, shuffle=True, random_state=0),
        )
        model = search.fit(xt, yt).best_estimator_
    else:
        model.set_params(logisticregression__C=Cs[0]).fit(xt, yt)
    correct = model.predict(xv) == yv
    accuracy = float(correct.mean())
    return ProbeResult(
        1 - accuracy,
        accuracy,
        len(yt),
        len(yv),
        float(model[-1].C),
        arch,
        tuple(bool(c) for c in correct),
    )


def linear_probe(
    dls: DataLoaders,
    arch: ArchLike = "efficientnet_lite0",
    *,
    pretrained: bool = True,
    weights_path: str | Path | None = None,
    Cs: Sequence[float] = DEFAULT_CS,
    cv: int = 5,
) -> ProbeResult:
    """Logistic regression on the frozen (pretrained) body's pooled features of `dls`.

    Both splits go through the validation loader's batch transforms (no augmentation); the
    architecture's normalisation is added when the loaders have none, as `vision_learner`
    does. For single-label classification loaders.

        >>> linear_probe(dls, "efficientnet_lite0").error_rate
    """
    if not isinstance(dls, DataLoaders) or dls.valid is None:
        raise TypeError(
            f"Expected DataLoaders with a validation set. Received: "
            f"{type(dls).__name__}. Fix: ImageDataLoaders.from_...(valid_pct=0.2)."
        )
    batch = _first_batch(dls)
    if batch[1].is_floating_point() or batch[1].ndim != 1:
        raise ValueError(
            f"Expected one class index per image. Received: targets of dtype "
            f"{batch[1].dtype} and shape {tuple(batch[1].shape)}. The linear probe "
            "is for single-label classification."
        )
    entry = get_arch(arch)
    body = create_body(entry, pretrained, n_in=_n_channels(dls, batch), weights_path=weights_path)
    body.to(dls.valid.device or torch.device("cpu"))
    normalize = None
    if (pretrained or weights_path is not None) and find_normalize(dls) is None:
        normalize = Normalize(*entry.meta.stats)
    tfms = dls.valid.batch_tfms
    train = probe_features(body, _plain(dls.train, tfms), normalize)
    valid = probe_features(body, _plain(dls.valid, tfms), normalize)
    return fit_probe(train, valid, Cs=Cs, cv=cv, arch=entry.name)
