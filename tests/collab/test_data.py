"""CollabDataLoaders, IdMap and CollabVocab: columns, ids of any type, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import TensorDataset

from fastlearn import ColSplitter
from fastlearn.collab import CollabDataLoaders, CollabVocab, IdMap, UnknownIdError


def table(users, items, ratings, **extra) -> pd.DataFrame:
    return pd.DataFrame({"user": users, "item": items, "rating": ratings, **extra})


SMALL = table([1, 1, 2, 3, 3, 3], ["b", "a", "a", "c", "b", "a"], [5, 3, 4, 1, 2, 5])


def test_first_three_columns_and_tensor_table():
    dls = CollabDataLoaders.from_df(SMALL, valid_pct=0.5, seed=0, bs=2, device="cpu")
    assert (dls.collab_vocab.user_name, dls.collab_vocab.item_name) == ("user", "item")
    assert dls.classes == {"user": [1, 2, 3], "item": ["a", "b", "c"]}
    assert (dls.n_users, dls.n_items) == (3, 3)
    assert isinstance(dls.train.dataset, TensorDataset)  # the core's one-slice fast path
    x, y = dls.one_batch()
    assert x.dtype == torch.long and x.shape == (2, 2) and y.dtype == torch.float32
    assert len(dls.train.dataset) + len(dls.valid.dataset) == len(SMALL)


def test_pairs_decode_back_to_the_table():
    dls = CollabDataLoaders.from_df(SMALL, valid_pct=0.5, seed=1, device="cpu")
    v = dls.collab_vocab
    rows = {
        (u, i, float(r))
        for (u, i), r in zip(
            zip(v.users.decode(dls.pairs()[:, 0]), v.items.decode(dls.pairs()[:, 1])),
            dls.ratings().tolist(),
        )
    }
    assert rows == {(u, i, float(r)) for u, i, r in SMALL.itertuples(index=False)}


def test_named_columns_and_extra_columns():
    df = table([1, 2, 2], [10, 10, 20], [1.0, 2.0, 3.0], title=["x", "x", "y"])
    dls = CollabDataLoaders.from_df(df, item_name="title", valid_pct=0.3, seed=0)
    assert dls.collab_vocab.item_name == "title" and dls.classes["title"] == ["x", "y"]
    assert dls.collab_vocab.rating_name == "rating"


def test_ids_of_mixed_types_are_kept_apart():
    df = table([1, "1", 2.5, ("a", 1)], ["i", "i", "j", "j"], [1, 2, 3, 4])
    dls = CollabDataLoaders.from_df(df, valid_pct=0.25, seed=0)
    assert dls.n_users == 4
    assert 1 in dls.collab_vocab.users and "1" in dls.collab_vocab.users


def test_seed_repeats_the_split_and_custom_splitter():
    a = CollabDataLoaders.from_df(SMALL, seed=3, valid_pct=0.5)
    b = CollabDataLoaders.from_df(SMALL, seed=3, valid_pct=0.5)
    assert torch.equal(a.valid.dataset.tensors[0], b.valid.dataset.tensors[0])
    df = SMALL.assign(is_valid=[False, False, False, False, False, True])
    dls = CollabDataLoaders.from_df(df, splitter=ColSplitter())
    assert len(dls.valid.dataset) == 1 and float(dls.valid.dataset.tensors[1][0]) == 5.0


def test_duplicate_pairs_are_kept():
    df = table([1, 1, 1, 2], ["a", "a", "a", "b"], [1, 2, 3, 4])
    dls = CollabDataLoaders.from_df(df, valid_pct=0.25, seed=0)
    assert len(dls.pairs()) == 4 and dls.item_counts().tolist() == [3, 1]


def test_from_csv(tmp_path):
    path = tmp_path / "u.data"
    path.write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n")
    dls = CollabDataLoaders.from_csv(path, sep="\t", header=None, valid_pct=0.34, seed=0)
    assert dls.classes == {0: [22, 186, 196], 1: [242, 302, 377]}


def test_text_numbers_are_converted():
    dls = CollabDataLoaders.from_df(table([1, 2], ["a", "b"], ["4", "3.5"]), valid_pct=0.5)
    assert sorted(dls.ratings().tolist()) == [3.5, 4.0]


@pytest.mark.parametrize(
    "df, error, words",
    [
        (table([1, 2, 3], ["a", "b", "c"], [4.0, np.nan, 3.0]), ValueError, ["missing", "dropna"]),
        (table([1, 2, 3], ["a", "b", "c"], [4.0, np.inf, 3.0]), ValueError, ["infinite"]),
        (table([1, 2, 3], ["a", "b", "c"], ["good", "bad", "4"]), TypeError, ["text", "'good'"]),
        (table([1, None, 3], ["a", "b", "c"], [1, 2, 3]), ValueError, ["no user id", "dropna"]),
        (table([1, 2, 3], ["a", None, "c"], [1, 2, 3]), ValueError, ["no item id"]),
        (table([], [], []), ValueError, ["empty table"]),
        (pd.DataFrame({"user": [1], "item": [2]}), ValueError, ["three columns"]),
        (
            table([1, 2], ["a", "b"], pd.to_datetime(["2020-01-01", "2020-01-02"])),
            TypeError,
            ["dtype"],
        ),
    ],
)
def test_bad_input_names_the_problem(df, error, words):
    with pytest.raises(error) as info:
        CollabDataLoaders.from_df(df, valid_pct=0.5)
    for word in words:
        assert word in str(info.value)


def test_missing_column_suggests_a_name():
    with pytest.raises(KeyError, match="Did you mean 'rating'"):
        CollabDataLoaders.from_df(SMALL, rating_name="ratings")
    with pytest.raises(ValueError, match="three different columns"):
        CollabDataLoaders.from_df(SMALL, item_name="user")
    with pytest.raises(TypeError, match="DataFrame"):
        CollabDataLoaders.from_df([(1, 2, 3)])


def test_id_map_encode_and_unknown_ids():
    m = IdMap.from_values(["Star Wars (1977)", "Titanic (1997)", "Fargo (1996)"], "item")
    assert m.ids == ["Fargo (1996)", "Star Wars (1977)", "Titanic (1997)"]
    assert int(m.encode("Titanic (1997)")) == 2 and m.encode(["Fargo (1996)"]).tolist() == [0]
    with pytest.raises(UnknownIdError, match=r"Star Warz.*did you mean 'Star Wars \(1977\)'"):
        m.encode("Star Warz (1977)")
    numbers = IdMap([1, 2, 3], "user")
    with pytest.raises(UnknownIdError, match="did you mean 2, of type int"):
        numbers.encode("2")
    index, known = numbers.encode_known([3, 9])
    assert index.tolist() == [2, 0] and known.tolist() == [True, False]
    assert numbers.encode(torch.tensor([1, 3])).tolist() == [0, 2]
    assert numbers.encode(np.array([2])).tolist() == [1]


def test_vocab_state_round_trip_and_json_check():
    dls = CollabDataLoaders.from_df(SMALL, valid_pct=0.5, seed=0)
    state = dls.collab_vocab.to_state()
    again = CollabVocab.from_state(state)
    assert again.users.ids == [1, 2, 3] and again.item_name == "item"
    tuples = CollabDataLoaders.from_df(table([(1, 2), (3, 4)], ["a", "b"], [1, 2]), valid_pct=0.5)
    with pytest.raises(TypeError, match="convert the column to str"):
        tuples.collab_vocab.to_state()


def test_test_dl_from_pairs_and_frame():
    dls = CollabDataLoaders.from_df(SMALL, valid_pct=0.5, seed=0)
    (x,) = dls.test_dl([(3, "c"), (1, "a")]).one_batch()
    assert x.tolist() == [[2, 2], [0, 0]]
    x, y = dls.test_dl(SMALL.iloc[:2], with_labels=True).one_batch()
    assert x.tolist() == [[0, 1], [0, 0]] and y.tolist() == [5.0, 3.0]
    with pytest.raises(UnknownIdError):
        dls.test_dl([(7, "a")])
    with pytest.raises(ValueError, match=r"\(user, item\) pairs"):
        dls.test_dl([1, 2])
