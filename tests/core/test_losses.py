"""Losses against torch.nn.functional; class_weights against sklearn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.utils.class_weight import compute_class_weight

from fastlearn.core.losses import (
    BCEWithLogitsLossFlat,
    CrossEntropyLossFlat,
    FocalLossFlat,
    L1LossFlat,
    LabelSmoothingCrossEntropy,
    MSELossFlat,
    class_weights,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def classes(shape=(32, 10), seed: int = 0, axis: int = -1):
    """Logits of `shape` and class targets of that shape without the class axis."""
    g = gen(seed)
    preds = torch.randn(*shape, generator=g, requires_grad=True)
    targ_shape = list(shape)
    del targ_shape[axis]
    return preds, torch.randint(0, shape[axis], targ_shape, generator=g)


WEIGHT = torch.linspace(0.5, 2.0, 10)

CROSS_ENTROPY = [
    ("plain", {}, {}),
    ("weight", {"weight": WEIGHT}, {"weight": WEIGHT}),
    ("label_smoothing", {"label_smoothing": 0.1}, {"label_smoothing": 0.1}),
    ("ignore_index", {"ignore_index": 3}, {"ignore_index": 3}),
    ("sum", {"reduction": "sum"}, {"reduction": "sum"}),
    ("none", {"reduction": "none"}, {"reduction": "none"}),
]


@pytest.mark.parametrize(
    "kwargs,torch_kwargs", [c[1:] for c in CROSS_ENTROPY], ids=[c[0] for c in CROSS_ENTROPY]
)
def test_cross_entropy_matches_torch(kwargs, torch_kwargs):
    preds, targs = classes()
    loss = CrossEntropyLossFlat(**kwargs)(preds, targs)
    torch.testing.assert_close(loss, F.cross_entropy(preds, targs, **torch_kwargs))
    loss.sum().backward()
    assert torch.isfinite(preds.grad).all()


def test_cross_entropy_segmentation_axis_1_and_text_axis_last():
    preds, targs = classes((2, 5, 4, 6), axis=1)
    torch.testing.assert_close(
        CrossEntropyLossFlat(axis=1)(preds, targs), F.cross_entropy(preds, targs)
    )
    preds, targs = classes((3, 7, 11))
    torch.testing.assert_close(
        CrossEntropyLossFlat()(preds, targs),
        F.cross_entropy(preds.reshape(-1, 11), targs.flatten()),
    )


def test_cross_entropy_accepts_column_targets():
    preds, targs = classes()
    torch.testing.assert_close(
        CrossEntropyLossFlat()(preds, targs[:, None]), F.cross_entropy(preds, targs)
    )


def test_cross_entropy_shape_error_names_shapes_and_fix():
    preds = torch.randn(32, 10)
    with pytest.raises(ValueError) as info:
        CrossEntropyLossFlat()(preds, torch.zeros(32, 2, dtype=torch.long))
    assert str(info.value).startswith(
        "CrossEntropyLossFlat expected targets of shape (N,) with N = 32 for predictions "
        "(32, 10). Received: targets (32, 2). Fix: "
    )


def test_cross_entropy_float_targets_say_use_class_indices():
    with pytest.raises(TypeError, match=r"class indices \(targs.long\(\)\).*MSELossFlat"):
        CrossEntropyLossFlat()(torch.randn(8, 3), torch.zeros(8))


def test_cross_entropy_activation_and_decodes():
    loss_func = CrossEntropyLossFlat(axis=1)
    preds, _ = classes((2, 5, 4, 6), axis=1)
    probs = loss_func.activation(preds)
    torch.testing.assert_close(probs.sum(1), torch.ones(2, 4, 6))
    assert torch.equal(loss_func.decodes(probs), preds.argmax(1))


def test_label_smoothing_matches_torch_and_fastai_formula():
    preds, targs = classes()
    loss = LabelSmoothingCrossEntropy(0.1)(preds, targs)
    torch.testing.assert_close(loss, F.cross_entropy(preds, targs, label_smoothing=0.1))
    log_preds = F.log_softmax(preds, dim=-1)  # fastai's formulation
    fastai = -log_preds.sum(-1).mean() * 0.1 / 10 + 0.9 * F.nll_loss(log_preds, targs)
    torch.testing.assert_close(loss, fastai)


def test_focal_loss_matches_reference_formula():
    preds, targs = classes()
    ce = F.cross_entropy(preds, targs, reduction="none")
    expected = ((1 - torch.exp(-ce)) ** 2 * ce).mean()
    torch.testing.assert_close(FocalLossFlat(gamma=2.0)(preds, targs), expected)
    per_item = FocalLossFlat(gamma=2.0, reduction="none")(preds, targs)
    torch.testing.assert_close(per_item, (1 - torch.exp(-ce)) ** 2 * ce)


@pytest.mark.parametrize("kwargs", [{}, {"weight": WEIGHT}, {"ignore_index": 3}])
def test_focal_loss_with_gamma_0_is_cross_entropy(kwargs):
    preds, targs = classes()
    torch.testing.assert_close(
        FocalLossFlat(gamma=0.0, **kwargs)(preds, targs), F.cross_entropy(preds, targs, **kwargs)
    )


def test_bce_matches_torch_multilabel_with_pos_weight():
    g = gen(1)
    preds = torch.randn(16, 5, generator=g, requires_grad=True)
    targs = torch.randint(0, 2, (16, 5), generator=g)
    pos_weight = torch.tensor([1.0, 2.0, 0.5, 3.0, 1.0])
    loss = BCEWithLogitsLossFlat(pos_weight=pos_weight)(preds, targs)
    expected = F.binary_cross_entropy_with_logits(preds, targs.float(), pos_weight=pos_weight)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert torch.isfinite(preds.grad).all()


def test_bce_binary_column_and_decodes():
    g = gen(2)
    preds, targs = torch.randn(16, 1, generator=g), torch.randint(0, 2, (16,), generator=g)
    loss_func = BCEWithLogitsLossFlat(thresh=0.3)
    expected = F.binary_cross_entropy_with_logits(preds[:, 0], targs.float())
    torch.testing.assert_close(loss_func(preds, targs), expected)
    probs = loss_func.activation(preds)
    torch.testing.assert_close(probs, torch.sigmoid(preds))
    assert torch.equal(loss_func.decodes(probs), probs > 0.3)
    with pytest.raises(
        ValueError, match=r"BCEWithLogitsLossFlat expected targets of shape \(16, 1\)"
    ):
        loss_func(preds, torch.zeros(16, 2))


@pytest.mark.parametrize("loss_cls,func", [(MSELossFlat, F.mse_loss), (L1LossFlat, F.l1_loss)])
def test_regression_losses_flatten_without_broadcasting(loss_cls, func):
    g = gen(3)
    preds, targs = torch.randn(16, 1, generator=g), torch.randn(16, generator=g)
    torch.testing.assert_close(loss_cls()(preds, targs), func(preds[:, 0], targs))
    long_targs = torch.randint(0, 5, (16,), generator=g)  # cast to float silently
    torch.testing.assert_close(loss_cls()(preds, long_targs), func(preds[:, 0], long_targs.float()))
    assert torch.equal(loss_cls().activation(preds), preds)
    with pytest.raises(
        ValueError, match=rf"{loss_cls.__name__} expected targets of shape \(16, 1\)"
    ):
        loss_cls()(preds, torch.randn(16, 2))


def test_class_weights_match_sklearn_balanced():
    y = torch.randint(0, 4, (200,), generator=gen(4))
    y[y == 3] = torch.randint(0, 4, (int((y == 3).sum()),), generator=gen(5))  # imbalance
    expected = compute_class_weight("balanced", classes=np.arange(4), y=y.numpy())
    weights = class_weights(y, 4)
    np.testing.assert_allclose(weights.numpy(), expected, rtol=1e-6)
    assert weights[y].mean().item() == pytest.approx(1.0)


def test_class_weights_missing_class_raises():
    with pytest.raises(ValueError, match=r"missing classes \[2\]"):
        class_weights(torch.tensor([0, 1, 1, 3]), 4)


# ---------------------------------------------------------------- what the outputs mean
@pytest.mark.parametrize(
    "loss_func, expected",
    [
        (CrossEntropyLossFlat(axis=1), {"activation": "softmax", "axis": 1}),
        (FocalLossFlat(), {"activation": "softmax", "axis": -1}),
        (BCEWithLogitsLossFlat(thresh=0.3), {"activation": "sigmoid", "thresh": 0.3}),
        (MSELossFlat(), {"activation": "none"}),
        (torch.nn.CrossEntropyLoss(), {"activation": "softmax", "axis": -1}),
        (torch.nn.BCEWithLogitsLoss(), {"activation": "sigmoid", "thresh": 0.5}),
        (torch.nn.MSELoss(), {"activation": "none"}),
        (F.cross_entropy, {"activation": "none"}),  # a plain function says nothing
    ],
)
def test_activation_config(loss_func, expected):
    from fastlearn.core.losses import activation_config

    assert activation_config(loss_func) == expected


def test_activation_of_plain_torch_loss_is_none():
    from fastlearn.core.losses import activation_of, decodes_of

    assert activation_of(torch.nn.CrossEntropyLoss()) is None
    assert decodes_of(torch.nn.CrossEntropyLoss()) is None
    loss = BCEWithLogitsLossFlat()
    assert activation_of(loss) == loss.activation and decodes_of(loss) == loss.decodes
