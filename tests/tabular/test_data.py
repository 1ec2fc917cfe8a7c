"""TabularDataLoaders: splits, targets, tensors, decoding, new frames and bad input."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import TensorDataset

from fastlearn import MSELossFlat, TimeSplitter
from fastlearn.core.data import DataLoaders
from fastlearn.tabular import (
    Categorify,
    CategoryBlock,
    MissingColumnError,
    RegressionBlock,
    TabularDataLoaders,
    TabularProcessor,
)

from .conftest import make_table, table_dls


def test_whole_table_as_tensors_and_batches_are_slices(table):
    dls = table_dls(table)
    assert isinstance(dls, DataLoaders) and dls.n_inp == 2
    train_ds, valid_ds = dls.train.dataset, dls.valid.dataset
    assert len(train_ds) + len(valid_ds) == len(table) and len(valid_ds) == 200
    cats, conts, y = dls.one_batch()
    assert cats.shape == (64, 3) and cats.dtype == torch.int64  # color, size, x_na
    assert conts.shape == (64, 2) and conts.dtype == torch.float32
    assert y.shape == (64,) and y.dtype == torch.int64
    assert len(dls.train) == len(train_ds) // 64  # drop_last on the training loader
    assert dls.cat_names == ["color", "size", "x_na"] and dls.vocab == ["no", "yes"]
    assert isinstance(train_ds, TensorDataset)  # the core's fast path: batches are slices
    in_order = table_dls(table, shuffle=False)
    for held, batch in zip(in_order.train.dataset.tensors, in_order.one_batch()):
        assert torch.equal(batch, held[:64])


def test_preprocessing_fitted_on_training_rows_only(table):
    train_idx = list(range(100, 800))
    dls = table_dls(table, splits=(train_idx, list(range(100))))
    reference = TabularProcessor(["color", "size"], ["x", "noise"]).fit(table.iloc[train_idx])
    cats, conts = reference.transform(table.iloc[:100])
    assert torch.equal(dls.valid.dataset.tensors[0], cats)
    assert torch.equal(dls.valid.dataset.tensors[1], conts)
    labels = (table["label"].iloc[:100] == "yes").astype(int).tolist()
    assert dls.valid.dataset.tensors[2].tolist() == labels


def test_split_options_agree(table):
    valid = list(range(0, 800, 4))
    by_idx = table_dls(table, valid_idx=valid)
    by_splits = table_dls(table, splits=(sorted(set(range(800)) - set(valid)), valid))
    for a, b in zip(by_idx.valid.dataset.tensors, by_splits.valid.dataset.tensors):
        assert torch.equal(a, b)
    seeded = [table_dls(table, seed=7).valid.dataset.tensors[1] for _ in range(2)]
    assert torch.equal(*seeded)
    dated = table.assign(day=pd.date_range("2020-01-01", periods=800, freq="D")[::-1])
    dls = table_dls(dated, splitter=TimeSplitter("day", 0.1))
    latest = dated["noise"].iloc[:80].to_numpy(np.float32)  # dates run backwards
    decoded = dls.processor.decode(*dls.valid.dataset.tensors[:2])["noise"]
    np.testing.assert_allclose(np.sort(decoded), np.sort(latest), rtol=1e-5)
    with pytest.raises(ValueError, match="one way"):
        table_dls(table, valid_idx=valid, splits=(valid, valid))


@pytest.mark.parametrize(
    "y_names, kwargs, regression, y_shape",
    [
        ("label", {}, False, (64,)),  # text -> classes
        ("amount", {}, True, (64, 1)),  # float -> regression
        (["amount", "amount2"], {}, True, (64, 2)),  # several regression targets
        ("flag", {"regression": True}, True, (64, 1)),
        ("count", {}, True, (64, 1)),  # integers are numbers (fastai's rule)
        ("count", {"y_block": CategoryBlock}, False, (64,)),
        ("count", {"y_block": "category", "regression": False}, False, (64,)),
        ("flag", {}, False, (64,)),  # bools are classes
        ("label", {"y_block": RegressionBlock()}, True, None),  # text cannot be a number
    ],
)
def test_task_from_target_and_overrides(table, y_names, kwargs, regression, y_shape):
    df = table.assign(count=np.arange(800) % 3, flag=np.arange(800) % 2 == 0)
    if y_shape is None:
        with pytest.raises(TypeError, match="'label'.*'(yes|no)'"):
            table_dls(df, y_names=y_names, **kwargs)
        return
    dls = table_dls(df, y_names=y_names, **kwargs)
    assert dls.regression is regression
    y = dls.one_batch()[2]
    assert y.shape == y_shape and y.dtype == (torch.float32 if regression else torch.int64)
    assert isinstance(dls.loss_func, MSELossFlat) == regression
    assert dls.n_out == (len(dls.y_names) if regression else len(dls.vocab))


def test_regression_targets_hold_the_values(table):
    dls = table_dls(table, y_names=["amount", "amount2"], splits=(list(range(800)), []))
    assert dls.valid is None and dls.vocab is None
    held = dls.train.dataset.tensors[2].numpy()
    np.testing.assert_allclose(held, table[["amount", "amount2"]].to_numpy(np.float32))


def test_show_batch_decodes_rows(table, capsys):
    dls = table_dls(table, splits=(list(range(600)), list(range(600, 800))), shuffle=False)
    frame = dls.decode_batch(dls.valid.one_batch(), max_n=5)
    rows = table.iloc[600:605].reset_index(drop=True)
    assert list(frame.columns) == ["color", "size", "x_na", "x", "noise", "label"]
    assert frame["color"].tolist() == rows["color"].tolist()
    assert frame["label"].tolist() == rows["label"].tolist()
    np.testing.assert_allclose(frame["noise"], rows["noise"], rtol=1e-5)  # de-normalised
    dls.show_batch(max_n=3, ds_idx=1)
    out = capsys.readouterr().out
    assert rows["color"][0] in out and "noise" in out and len(out.strip().splitlines()) == 4


def test_test_dl_applies_training_preprocessing(table):
    dls = table_dls(table)
    new = table.iloc[:10].drop(columns=["label"])
    dl = dls.test_dl(new)
    cats, conts = dl.one_batch()
    expected = dls.processor.transform(new)
    assert torch.equal(cats, expected[0]) and torch.equal(conts, expected[1])
    labelled = dls.test_dl(table.iloc[:10], with_labels=True).one_batch()
    assert len(labelled) == 3 and labelled[2].tolist() == (table.label[:10] == "yes").tolist()


def test_from_csv_strips_leading_spaces(tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text("c,x,y\n a,1.0, no\n b,2.0, yes\n a,3.0, no\n b,4.0, yes\n")
    dls = TabularDataLoaders.from_csv(
        csv,
        cat_names=["c"],
        cont_names=["x"],
        y_names="y",
        splits=([0, 1, 2, 3], []),
        bs=2,
        device="cpu",
    )
    assert dls.classes["c"] == ["#na#", "a", "b"] and dls.vocab == ["no", "yes"]


# --- Bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, kwargs, error, match",
    [
        (None, {"cat_names": ["colour"]}, MissingColumnError, r"'colour'.*cat_names.*'color'"),
        (None, {"cont_names": ["x", "nois"]}, MissingColumnError, r"'nois'.*cont_names"),
        (None, {"y_names": "lable"}, MissingColumnError, r"'lable'.*y_names"),
        (None, {"y_names": None}, ValueError, "y_names"),
        (None, {"cat_names": [], "cont_names": []}, ValueError, "cat_names or cont_names"),
        (None, {"cat_names": ["label"]}, ValueError, r"'label'.*inputs"),
        (None, {"y_names": ["label", "amount"]}, ValueError, "one target column"),
        (None, {"y_block": "ordinal"}, ValueError, "y_block"),
        (None, {"splits": ([0, 1], [900])}, ValueError, "positions"),
        ("text_in_x", {}, TypeError, r"'x'.*'n/a' at row index 3"),
        ("nan_label", {}, ValueError, r"target 'label'.*2 missing.*row index 5.*dropna"),
        ("nan_amount", {"y_names": "amount"}, ValueError, r"target 'amount'.*1 missing"),
        ("empty", {}, ValueError, "at least one row.*0 rows"),
        ("unseen_label", {"splits": (list(range(1, 800)), [0])}, ValueError, "'maybe'"),
    ],
)
def test_bad_input_named(table, change, kwargs, error, match):
    df = table.copy()
    if change == "text_in_x":
        df["x"] = df["x"].astype(object)
        df.loc[3, "x"] = "n/a"
    elif change == "nan_label":
        df.loc[[5, 9], "label"] = None
    elif change == "nan_amount":
        df.loc[7, "amount"] = np.nan
    elif change == "empty":
        df = df.iloc[:0]
    elif change == "unseen_label":
        df.loc[0, "label"] = "maybe"
    with pytest.raises(error, match=match):
        table_dls(df, **kwargs)


def test_bad_input_after_building(table):
    dls = table_dls(table)
    with pytest.raises(ValueError, match="0 rows"):
        dls.test_dl(table.iloc[:0])
    with pytest.raises(MissingColumnError, match="'noise'"):
        dls.test_dl(table.drop(columns="noise"))
    with pytest.raises(MissingColumnError, match="'label'"):
        dls.test_dl(table.drop(columns="label"), with_labels=True)
    with pytest.raises(ValueError, match="lower bs"):  # fewer training rows than one batch
        table_dls(make_table(40), bs=64)


def test_unseen_category_and_nan_in_new_frame_are_na(table):
    dls = table_dls(table, procs=[Categorify])
    new = table.iloc[:2].assign(color=["purple", None])
    cats, _ = dls.test_dl(new).one_batch()
    assert cats[:, 0].tolist() == [0, 0]
