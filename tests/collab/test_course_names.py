"""The names the book's chapter 8 takes from `from fastai.collab import *`, given by
`fastlearn.collab`: the classes' `o2i`, `get_emb_sz`, `Module`, `Embedding`... on a ratings
frame built here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from .conftest import low_rank_ratings

BOOK_NAMES = [  # what chapter 8 calls after `from fastai.collab import *`
    "CollabDataLoaders",
    "collab_learner",
    "Learner",
    "untar_data",
    "URLs",
    "Module",
    "Embedding",
    "sigmoid_range",
    "MSELossFlat",
    "get_emb_sz",
    "tensor",
    "L",
    "one_hot",
    "pd",
    "np",
    "torch",
    "nn",
    "F",
    "EmbeddingNN",
    "first",
]


def test_star_import_gives_the_books_names():
    namespace: dict = {}
    exec("from fastlearn.collab import *", namespace)
    missing = [n for n in BOOK_NAMES if n not in namespace]
    assert not missing
    assert "plt" not in namespace  # matplotlib only with fastlearn.collab.all


def test_classes_have_o2i_in_index_order():
    from fastlearn.collab import CollabDataLoaders

    ratings = low_rank_ratings()
    dls = CollabDataLoaders.from_df(ratings, item_name="title", bs=64, seed=0, device="cpu")
    titles = dls.classes["title"]
    assert list(titles) == sorted(ratings["title"].unique())
    assert all(titles[titles.o2i[t]] == t for t in titles)
    assert dls.classes["user"].o2i == {u: i for i, u in enumerate(dls.classes["user"])}
    # the indices the model receives are those of o2i: every rating's pair is in the table
    users = dls.classes["user"].o2i
    expected = sorted(zip(ratings["user"].map(users), ratings["title"].map(titles.o2i)))
    assert sorted(map(tuple, dls.pairs().tolist())) == expected
    assert dls.classes is dls.classes  # built once
    with pytest.raises(KeyError):
        titles.o2i["no such film"]


def test_get_emb_sz_follows_fastais_rule():
    from fastlearn.collab import CollabDataLoaders, get_emb_sz

    ratings = pd.DataFrame(
        {
            "user": np.repeat(np.arange(300), 2),
            "item": [f"i{k % 37}" for k in range(600)],
            "rating": np.linspace(1, 5, 600),
        }
    )
    dls = CollabDataLoaders.from_df(ratings, bs=32, seed=0, device="cpu")
    assert dls.cat_names == ["user", "item"]
    expected = [(n, min(600, round(1.6 * n**0.56))) for n in (300, 37)]
    assert get_emb_sz(dls) == expected == [(300, 39), (37, 12)]
    assert get_emb_sz(dls, {"item": 5}) == [(300, 39), (37, 5)]


def test_books_collab_nn_trains_with_the_exported_names():
    namespace: dict = {}
    exec("from fastlearn.collab import *", namespace)
    Module, Embedding, nn, torch = (namespace[n] for n in ("Module", "Embedding", "nn", "torch"))
    sigmoid_range, get_emb_sz = namespace["sigmoid_range"], namespace["get_emb_sz"]

    class CollabNN(Module):  # the book's, verbatim but for the layer width
        def __init__(self, user_sz, item_sz, y_range=(0, 5.5), n_act=20):
            self.user_factors = Embedding(*user_sz)
            self.item_factors = Embedding(*item_sz)
            self.layers = nn.Sequential(
                nn.Linear(user_sz[1] + item_sz[1], n_act), nn.ReLU(), nn.Linear(n_act, 1)
            )
            self.y_range = y_range

        def forward(self, x):
            embs = self.user_factors(x[:, 0]), self.item_factors(x[:, 1])
            x = self.layers(torch.cat(embs, dim=1))
            return sigmoid_range(x, *self.y_range)

    namespace["set_seed"](0)
    dls = namespace["CollabDataLoaders"].from_df(
        low_rank_ratings(), item_name="title", bs=64, seed=0, device="cpu"
    )
    learn = namespace["Learner"](
        dls, CollabNN(*get_emb_sz(dls)), loss_func=namespace["MSELossFlat"](), show_progress=False
    )
    before = learn.validate()[0]
    learn.fit_one_cycle(3, 5e-3, wd=0.01)
    assert learn.validate()[0] < before
