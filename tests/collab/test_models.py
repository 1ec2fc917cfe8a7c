"""EmbeddingDotBias and EmbeddingNN against hand computations; every model's basic contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastlearn.collab import (
    COLLAB_MODELS,
    CollabVocab,
    EmbeddingDotBias,
    EmbeddingNN,
    IdMap,
    UnknownIdError,
)
from fastlearn.core.layers import emb_sz_rule

X = torch.tensor([[0, 1], [2, 0], [1, 3], [2, 3]])  # (user index, item index)


def build(name: str, **kwargs) -> torch.nn.Module:
    if name == "collab_dot_bias":
        return EmbeddingDotBias(4, 3, 5, y_range=(0, 5.5), **kwargs)
    return EmbeddingNN(3, 5, [6, 4], y_range=(0, 5.5), **kwargs)


def randomise(model: torch.nn.Module) -> torch.nn.Module:
    """Weights far from the tiny init, so the checks see every term."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p))
    return model


def test_dot_bias_forward_equals_hand_computation():
    model = randomise(EmbeddingDotBias(4, 3, 5, y_range=(0.5, 5.5)))
    u, i = model.u_weight.weight.detach().numpy(), model.i_weight.weight.detach().numpy()
    ub, ib = model.u_bias.weight.detach().numpy()[:, 0], model.i_bias.weight.detach().numpy()[:, 0]
    expected = []
    for user, item in X.tolist():
        raw = sum(u[user, k] * i[item, k] for k in range(4)) + ub[user] + ib[item]
        expected.append(0.5 + 5.0 / (1 + np.exp(-raw)))
    with torch.no_grad():
        out = model(X)
    assert out.shape == (4,)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5)
    model.y_range = None
    with torch.no_grad():
        raw = model(X).numpy()
    np.testing.assert_allclose(raw, [np.log((e - 0.5) / (5.5 - e)) for e in expected], rtol=1e-4)


def test_forward_known_drops_the_unknown_side():
    model = randomise(EmbeddingDotBias(4, 3, 5, y_range=(0, 5.5)))
    yes, no = torch.tensor([True, True]), torch.tensor([False, False])
    x = X[:2]
    with torch.no_grad():
        assert torch.allclose(model.forward_known(x, yes, yes), model(x))
        item_only = model.forward_known(x, no, yes)
        both_unknown = model.forward_known(x, no, no)
    expected = torch.sigmoid(model.i_bias.weight[x[:, 1], 0]) * 5.5
    assert torch.allclose(item_only, expected.detach())
    assert torch.allclose(both_unknown, torch.full((2,), 2.75))


def test_embedding_nn_sizes_and_forward_by_hand():
    model = randomise(EmbeddingNN(30, 200, [6, 4], y_range=(0, 5.5))).eval()
    assert model.u_weight.embedding_dim == emb_sz_rule(30)
    assert model.i_weight.embedding_dim == emb_sz_rule(200)
    h = torch.cat([model.u_weight.weight[X[:, 0]], model.i_weight.weight[X[:, 1]]], 1)
    for block in model.layers[:-1]:  # Linear (no bias: BN follows), ReLU, BatchNorm (eval)
        lin, bn = block[0], block[2]
        h = torch.relu(h @ lin.weight.T)
        h = (h - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
    h = h @ model.layers[-1].weight.T + model.layers[-1].bias
    with torch.no_grad():
        out = model(X)
    assert out.shape == (4,)
    assert torch.allclose(out, (torch.sigmoid(h[:, 0]) * 5.5).detach(), atol=1e-5)


@pytest.mark.parametrize("name", sorted(COLLAB_MODELS))
def test_every_model_forward_backward_config(name):
    model = build(name)
    out = model(X)
    assert out.shape == (4,) and torch.isfinite(out).all()
    assert ((out > 0) & (out < 5.5)).all()
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    again = COLLAB_MODELS[name](**model.config())
    assert {k: v.shape for k, v in again.state_dict().items()} == {
        k: v.shape for k, v in model.state_dict().items()
    }


@pytest.mark.parametrize("name", sorted(COLLAB_MODELS))
def test_weight_with_raw_ids(name):
    vocab = CollabVocab(
        IdMap(["ann", "bob", "cy"], "user"), IdMap(["A", "B", "C", "D", "E"], "item")
    )
    model = build(name)
    model.vocab = vocab
    assert torch.equal(model.weight(["B", "E"]), model.i_weight.weight.detach()[[1, 4]])
    assert torch.equal(model.weight("bob", is_item=False), model.u_weight.weight.detach()[1])
    with pytest.raises(UnknownIdError, match="'Z'"):
        model.weight("Z")


def test_bias_with_raw_ids_and_nn_has_none():
    vocab = CollabVocab(IdMap([10, 20, 30], "user"), IdMap(list("ABCDE"), "item"))
    model = randomise(EmbeddingDotBias.from_vocab(vocab, 4, y_range=(0, 5.5)))
    assert model.bias(["C", "A"]).tolist() == model.i_bias.weight[[2, 0], 0].tolist()
    assert model.bias(30, is_item=False).ndim == 0
    nn_model = EmbeddingNN.from_vocab(vocab, [4])
    with pytest.raises(TypeError, match="no per-user or per-item bias"):
        nn_model.bias("A")
    plain = EmbeddingDotBias(4, 3, 5)  # no vocab: ids are indices
    assert plain.bias([1]).shape == (1,)


@pytest.mark.parametrize("y_range", [(5, 1), (1,), (0, float("nan"))])
def test_bad_y_range(y_range):
    with pytest.raises(ValueError, match="y_range"):
        EmbeddingDotBias(4, 3, 5, y_range=y_range)


def test_bad_sizes():
    with pytest.raises(ValueError, match=">= 1"):
        EmbeddingDotBias(0, 3, 5)
    with pytest.raises(ValueError, match="layer size"):
        EmbeddingNN(3, 5, [0])
