"""TabularPandas (tabular/table.py) as the book's chapter 9 uses it: processed frames for
scikit-learn, the same codes as TabularDataLoaders, loaders that train a tabular_learner."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.tree import DecisionTreeRegressor

from fastlearn import CategoryBlock, RegressionBlock, set_seed
from fastlearn.tabular import (
    Categorify,
    FillMissing,
    Normalize,
    TabularDataLoaders,
    TabularPandas,
    add_datepart,
    cont_cat_split,
    get_emb_sz,
    tabular_learner,
)

from .conftest import make_table

CATS, CONTS = ["color", "size"], ["x", "noise"]
SPLITS = (list(range(600)), list(range(600, 800)))


def _table(y_names: str = "label", procs=(Categorify, FillMissing, Normalize), **kwargs):
    return TabularPandas(
        make_table(), list(procs), CATS, CONTS, y_names=y_names, splits=SPLITS, **kwargs
    )


def test_xs_hold_codes_and_processed_values():
    df, to = make_table(), _table()
    xs = to.train.xs
    assert list(xs.columns) == ["color", "size", "x_na", "x", "noise"]
    assert len(to.train) == 600 and len(to.valid) == 200 and len(to) == 800
    # codes: index in the sorted training categories, after #na# (0)
    classes = sorted(df["color"].iloc[:600].unique())
    assert list(to.classes["color"]) == ["#na#", *classes]
    expected = df["color"].iloc[:600].map({c: i + 1 for i, c in enumerate(classes)})
    assert (xs["color"].to_numpy() == expected.to_numpy()).all()
    assert to.classes["color"].o2i["red"] == 1 + classes.index("red")
    # continuous: NaN filled with the training median, then normalised with training stats
    x = df["x"].iloc[:600]
    filled = x.fillna(x.median())
    norm = (filled - filled.mean()) / filled.std(ddof=0)
    assert np.allclose(xs["x"].to_numpy(), norm.to_numpy(), atol=1e-5)
    assert (xs["x_na"].to_numpy() == np.where(x.isna(), 2, 1)).all()
    assert xs["color"].dtype == np.int64 and xs["x"].dtype == np.float32


def test_targets_are_class_indices_or_numbers():
    df, to = make_table(), _table()
    assert to.vocab == ["no", "yes"]
    assert (to.valid.y.to_numpy() == (df["label"].iloc[600:] == "yes").to_numpy()).all()
    reg = _table("amount", procs=[Categorify, FillMissing])
    assert reg.train.y.dtype == np.float32 and not reg.classes["color"].o2i.get("nothing")
    assert np.allclose(reg.valid.y.to_numpy(), df["amount"].iloc[600:].to_numpy(), atol=1e-5)
    df["grade"] = np.sign(df["amount"]).astype(int)  # numbers: regression unless told
    graded = TabularPandas(df, [Categorify], CATS, [], y_names="grade", splits=SPLITS)
    assert graded.regression and graded.vocab is None
    graded = TabularPandas(
        df, [Categorify], CATS, [], y_names="grade", splits=SPLITS, y_block=CategoryBlock()
    )  # an instance, as fastai's tutorials write
    assert graded.vocab == [-1, 1] and graded.y.dtype == np.int64
    assert not _table("label", y_block=CategoryBlock).regression
    assert _table("amount", y_block=RegressionBlock).regression
    two = _table(["amount", "amount2"])
    assert list(two.y.columns) == ["amount", "amount2"]


def test_items_keep_other_columns_and_add_na_columns():
    df, to = make_table(), _table()
    assert list(to.items.columns) == [*df.columns, "x_na"]
    assert np.allclose(to.items["amount"], df["amount"])  # not an input: as it was
    assert (to.items["label"] == (df["label"] == "yes").astype(int)).all()


def test_a_forest_fits_the_processed_frames():
    to = _table()
    m = RandomForestClassifier(n_estimators=30, random_state=0).fit(to.train.xs, to.train.y)
    assert (m.predict(to.valid.xs) == to.valid.y.to_numpy()).mean() > 0.8
    reg = _table("amount", procs=[Categorify, FillMissing])
    tree = DecisionTreeRegressor(max_leaf_nodes=4).fit(reg.train.xs, reg.train.y)  # the book's
    assert tree.get_n_leaves() == 4
    forest = RandomForestRegressor(n_estimators=30, random_state=0)
    forest.fit(reg.train.xs, reg.train.y)
    resid = forest.predict(reg.valid.xs) - reg.valid.y.to_numpy()
    assert np.sqrt((resid**2).mean()) < 0.5 * reg.valid.y.std()


def test_codes_equal_those_of_tabular_dataloaders():
    df = make_table()
    to = _table()
    dls = TabularDataLoaders.from_df(
        df,
        procs=[Categorify, FillMissing, Normalize],
        cat_names=CATS,
        cont_names=CONTS,
        y_names="label",
        splits=SPLITS,
        device="cpu",
    )
    cats, conts, y = dls.valid.dataset.tensors
    assert torch.equal(cats, torch.tensor(to.valid.xs[to.cat_names].to_numpy()))
    assert torch.equal(conts, torch.tensor(to.valid.xs[to.cont_names].to_numpy()))
    assert torch.equal(y, torch.tensor(to.valid.y.to_numpy()))
    assert dls.classes == to.classes and dls.vocab == to.vocab
    assert get_emb_sz(to) == get_emb_sz(dls) == [(5, 4), (4, 3), (3, 3)]


def test_dataloaders_train_a_tabular_learner():
    set_seed(0)
    to = _table()
    dls = to.dataloaders(bs=64, device="cpu")
    assert isinstance(dls, TabularDataLoaders) and len(dls.valid.dataset) == 200
    cats, conts, y = dls.one_batch()
    assert cats.shape == (64, 3) and conts.shape == (64, 2) and y.dtype == torch.int64
    learn = tabular_learner(dls, show_progress=False)
    learn.fit_one_cycle(1, 1e-2)
    assert len(learn.recorder.values) == 1
    assert to.dataloaders(32).train.bs == 32  # the book's `to_nn.dataloaders(1024)`


def test_show_decodes_rows(capsys):
    to = _table()
    to.show(3)
    out = capsys.readouterr().out
    first = make_table().iloc[0]
    assert first["color"] in out and first["label"] in out and len(out.splitlines()) == 4
    frame = to.valid.decode(2)
    assert list(frame["label"]) == list(make_table()["label"].iloc[600:602])
    assert np.allclose(frame["noise"], make_table()["noise"].iloc[600:602], atol=1e-4)


def test_no_splits_is_all_training_and_bad_input_is_named():
    df = make_table(40)
    to = TabularPandas(df, [Categorify], CATS, [], y_names="label")
    assert len(to.train) == 40 and len(to.valid) == 0
    assert to.dataloaders(8, device="cpu").valid is None
    with pytest.raises(TypeError, match="integer-coded"):
        TabularPandas(df, [], CATS, [], y_names="label")
    with pytest.raises(ValueError, match="out of range"):
        TabularPandas(df, [Categorify], CATS, [], y_names="label", splits=([0, 1], [99]))
    with pytest.raises(ValueError, match="y_names"):
        TabularPandas(df, [Categorify], CATS, [])


def test_book_helpers_cont_cat_split_and_add_datepart():
    df = pd.DataFrame(
        {
            "saledate": ["2011-01-31", "2011-02-01", "2012-02-29"] * 4,
            "state": ["a", "b", "c"] * 4,
            "YearMade": [1990, 1995, 2000] * 4,
            "price": np.arange(12, dtype=float),
        }
    )
    df = add_datepart(df, "saledate")
    assert "saledate" not in df.columns and df["saleDayofyear"].tolist()[:3] == [31, 32, 60]
    cont, cat = cont_cat_split(df, max_card=1, dep_var="price")
    assert "saleElapsed" in cont and "YearMade" in cont and "state" in cat
    assert "price" not in cont + cat
    to = TabularPandas(
        df,
        [Categorify, FillMissing],
        cat,
        cont,
        y_names="price",
        splits=(list(range(9)), list(range(9, 12))),
    )
    assert list(to.train.xs.columns) == cat + cont
