"""TabularModel against the rule of thumb, fastai's Adult architecture, and its own config."""

import json

import pytest
import torch
from torch import nn

from fastlearn.tabular import TabularModel, TabularProcessor, get_emb_sz, tabular_config

from .conftest import make_table


def test_embedding_sizes_follow_the_rule_of_thumb():
    table = make_table()
    table["zip"] = [f"z{i % 700}" for i in range(len(table))]  # 700 codes + #na#
    proc = TabularProcessor(["color", "size", "zip"], ["x"]).fit(table)
    sizes = get_emb_sz(proc)
    cards = [5, 4, 701, 3]  # red green blue black + #na#; S M L + #na#; zip; x_na
    assert [n for n, _ in sizes] == cards
    assert [w for _, w in sizes] == [min(600, round(1.6 * n**0.56)) for n in cards]
    assert get_emb_sz(proc, {"zip": 10})[2] == (701, 10)
    with pytest.raises(ValueError, match="'nope'"):
        get_emb_sz(proc, {"nope": 3})


def test_adult_architecture_matches_fastai():
    # fastai 2.8's tabular_learner on the course's Adult setup prints exactly these layers.
    cards = [10, 17, 8, 16, 7, 6, 3]
    model = TabularModel([(n, min(600, round(1.6 * n**0.56))) for n in cards], 3, 2)
    assert [(e.num_embeddings, e.embedding_dim) for e in model.embeds] == [
        (10, 6),
        (17, 8),
        (8, 5),
        (16, 8),
        (7, 5),
        (6, 4),
        (3, 3),
    ]
    kinds = [type(m).__name__ for block in model.layers for m in block]
    assert kinds == ["Linear", "ReLU", "BatchNorm1d"] * 2 + ["Linear"]
    first = model.layers[0][0]
    assert (first.in_features, first.out_features, first.bias) == (42, 200, None)
    assert model.bn_cont.num_features == 3
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == 6 * 10 + 8 * 17 + 5 * 8 + 8 * 16 + 5 * 7 + 4 * 6 + 3 * 3 + 6 + (
        42 * 200 + 400 + 200 * 100 + 200 + 100 * 2 + 2
    )


@pytest.mark.parametrize(
    "emb_szs, n_cont, kwargs",
    [
        ([(5, 3), (4, 2)], 2, {}),
        ([], 3, {}),  # no categorical column
        ([(5, 3)], 0, {}),  # no continuous column
        ([(5, 3)], 2, {"ps": [0.2, 0.1], "embed_p": 0.1, "bn_final": True}),
        ([(5, 3)], 2, {"use_bn": False, "bn_cont": False, "lin_first": False}),
        ([(5, 3)], 2, {"y_range": (-1.0, 2.0)}),
    ],
)
def test_forward_backward_every_config(emb_szs, n_cont, kwargs):
    torch.manual_seed(0)
    model = TabularModel(emb_szs, n_cont, 3, [16, 8], **kwargs)
    cats = (
        torch.stack([torch.randint(0, n, (32,)) for n, _ in emb_szs], 1)
        if emb_szs
        else (torch.zeros(32, 0, dtype=torch.long))
    )
    conts = torch.randn(32, n_cont) * 10
    out = model(cats, conts)
    assert out.shape == (32, 3) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    if "y_range" in kwargs:
        assert out.min() > -1.0 and out.max() < 2.0
    if "ps" in kwargs:
        assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.1, 0.2, 0.1]


def test_config_is_json_and_rebuilds_the_same_model():
    torch.manual_seed(0)
    model = TabularModel([(5, 3), (4, 2)], 2, 1, [8], ps=0.1, y_range=(0, 5)).eval()
    config = json.loads(json.dumps(model.config))
    rebuilt = TabularModel(**config).eval()
    rebuilt.load_state_dict(model.state_dict())
    cats, conts = torch.tensor([[1, 2], [4, 0]]), torch.randn(2, 2)
    assert torch.equal(model(cats, conts), rebuilt(cats, conts))


def test_bad_arguments():
    with pytest.raises(ValueError, match="one dropout per layer"):
        TabularModel([(3, 2)], 1, 2, [8, 4], ps=[0.1])
    with pytest.raises(ValueError, match="y_range"):
        TabularModel([(3, 2)], 1, 2, y_range=(1,))
    with pytest.raises(TypeError, match="'dropout'"):
        tabular_config(dropout=0.5)
