"""Bad input to collab predictions and loaders: clear errors, and no batch of one for BatchNorm."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from fastlearn import set_seed
from fastlearn.collab import CollabDataLoaders, UnknownIdError, collab_learner
from fastlearn.collab.data import lone_last_item

from .conftest import low_rank_ratings


@pytest.mark.parametrize("bad", [3, 3.5, None, "u1", b"u1"], ids=repr)
def test_predict_of_something_not_a_pair_says_what_it_takes(trained, bad):
    with pytest.raises(TypeError) as info:
        trained.predict(bad)
    message = str(info.value)
    assert "(user, item) pair" in message and type(bad).__name__ in message
    assert "learn.predict((" in message  # an example built from the table's own ids
    assert "not iterable" not in message


def test_predict_takes_a_row_as_a_dict_or_a_pandas_row(trained, ratings):
    expected = trained.predict(("u3", "film 5"))
    assert trained.predict({"user": "u3", "title": "film 5"}) == expected
    assert trained.predict({"user": "u3", "item": "film 5"}) == expected
    row = ratings[(ratings.user == "u3") & (ratings.title == "film 5")].iloc[0]
    assert trained.predict(row) == expected  # a pandas row: its rating column is ignored
    with pytest.raises(KeyError, match=r"item id under 'title'"):
        trained.predict({"user": "u3"})


@pytest.mark.parametrize(
    "pair, error, match",
    [
        ((["u3"], "film 5"), TypeError, r"user id as one value.*\['u3'\].*list"),
        (("u3", {"film": 5}), TypeError, r"item id as one value"),
        ((3, "film 5"), UnknownIdError, r"Unknown user 3"),
        (("u3", 5), UnknownIdError, r"Unknown item 5"),
        ((1.5, "film 5"), UnknownIdError, r"Unknown user 1.5"),
    ],
)
def test_ids_of_the_wrong_type_are_named(trained, pair, error, match):
    with pytest.raises(error, match=match):
        trained.predict(pair)


def test_neural_model_trains_when_the_last_batch_would_hold_one_row():
    """k * bs + 1 training rows: BatchNorm can't train on the lone last row, so it is dropped."""
    ratings = low_rank_ratings()
    bs, n_valid = 64, 200
    n_train = 10 * bs + 1
    df = ratings.iloc[: n_train + n_valid]
    splitter = lambda d: (list(range(n_train)), list(range(n_train, len(d))))  # noqa: E731
    dls = CollabDataLoaders.from_df(df, bs=bs, splitter=splitter, device="cpu")
    assert dls.train.drop_last and len(dls.train) == 10
    set_seed(0)
    learn = collab_learner(dls, use_nn=True, layers=[8], y_range=(0, 5.5), show_progress=False)
    learn.fit(1, 1e-3)  # was: "Expected more than 1 value per channel when training"
    assert np.isfinite(learn.recorder.values[-1][0])
    assert dls.new(bs=32).train.drop_last and not dls.new(bs=50).train.drop_last  # 641 % 50
    assert lone_last_item(641, 64) and not lone_last_item(640, 64) and not lone_last_item(1, 64)


def test_only_a_lone_last_row_is_dropped():
    ratings = low_rank_ratings()
    splitter = lambda d: (list(range(130)), list(range(130, 160)))  # noqa: E731
    dls = CollabDataLoaders.from_df(ratings.iloc[:160], bs=64, splitter=splitter, device="cpu")
    assert not dls.train.drop_last and sum(len(b[0]) for b in dls.train) == 130
    assert dls.new(bs=43).train.drop_last  # 130 = 3 * 43 + 1
    assert sum(len(b[0]) for b in dls.new(bs=43).train) == 129


def test_tabular_drops_its_last_lone_row_too():
    from fastlearn.tabular import TabularDataLoaders, tabular_learner

    rng = np.random.default_rng(0)
    n = 5 * 32 + 1
    df = pd.DataFrame({"c": rng.choice(["a", "b"], n + 40), "x": rng.normal(size=n + 40)})
    df["y"] = np.where(df.x > 0, "p", "q")
    dls = TabularDataLoaders.from_df(
        df,
        cat_names=["c"],
        cont_names=["x"],
        y_names="y",
        splits=(range(n), range(n, n + 40)),
        bs=32,
        device="cpu",
    )
    assert len(dls.train) == 5
    set_seed(0)
    learn = tabular_learner(dls, layers=[8], show_progress=False)
    learn.fit(1, 1e-3)
    assert torch.isfinite(torch.tensor(learn.recorder.values[-1][0]))
