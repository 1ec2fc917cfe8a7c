"""Tabular preprocessing checked against independent pandas/numpy/sklearn computations."""

import datetime as dt
import decimal
import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.preprocessing import StandardScaler

from fastlearn.tabular import (
    Categorify,
    FillMissing,
    Normalize,
    TabularProcessor,
    add_datepart,
    cont_cat_split,
)


@pytest.fixture
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A training and a validation frame; validation has an unseen shop and extra NaNs."""
    rng = np.random.default_rng(0)
    n = 200
    train = pd.DataFrame(
        {
            "shop": rng.choice(["paris", "berlin", "rome", None], n),
            "size": pd.Categorical(rng.choice(["S", "M", "L"], n), ["S", "M", "L", "XL"], True),
            "price": np.where(rng.random(n) < 0.1, np.nan, rng.normal(50, 10, n)),
            "age": rng.integers(0, 90, n).astype(float),
        }
    )
    valid = train.iloc[:20].copy()
    valid.loc[valid.index[:3], "shop"] = "oslo"  # present only in validation
    valid.loc[valid.index[3], "age"] = np.nan  # no NaN in training
    valid.loc[valid.index[4], "price"] = np.nan
    return train, valid


def processor(train: pd.DataFrame, **kwargs) -> TabularProcessor:
    return TabularProcessor(["shop", "size"], ["price", "age"], **kwargs).fit(train)


# --- Categorify ---------------------------------------------------------------------------


def test_categories_learned_from_training_rows_only(frames):
    train, valid = frames
    proc = processor(train)
    assert proc.classes["shop"] == ["#na#", "berlin", "paris", "rome"]  # sorted, no 'oslo'
    cats, _ = proc.transform(valid)
    lookup = {v: i for i, v in enumerate(proc.classes["shop"])}
    expected = [lookup.get(v, 0) for v in valid["shop"]]  # None and 'oslo' -> 0
    assert cats[:, 0].tolist() == expected
    assert cats[:3, 0].tolist() == [0, 0, 0]


def test_ordered_categorical_keeps_its_order(frames):
    train, valid = frames
    proc = processor(train)
    assert proc.classes["size"] == ["#na#", "S", "M", "L"]  # declared order; XL never seen
    cats, _ = proc.transform(valid)
    assert cats[:, 1].tolist() == (valid["size"].cat.codes + 1).tolist()


def test_unordered_categories_sorted_by_value():
    train = pd.DataFrame(
        {"n": [10, 2, 33, 2], "c": pd.Categorical(["b", "c", "a", "a"], ["c", "b", "a"])}
    )
    proc = TabularProcessor(["n", "c"], []).fit(train)
    assert proc.classes == {"n": ["#na#", 2, 10, 33], "c": ["#na#", "a", "b", "c"]}


def test_int_categories_match_floats_with_nan_at_inference():
    proc = TabularProcessor(["n"], []).fit(pd.DataFrame({"n": [1, 2, 3]}))
    cats, _ = proc.transform(pd.DataFrame({"n": [3.0, np.nan, 1.0, 7.0]}))
    assert cats[:, 0].tolist() == [3, 0, 1, 0]


def test_type_mismatch_warns():
    proc = TabularProcessor(["zip"], []).fit(pd.DataFrame({"zip": ["75001", "10115"]}))
    with pytest.warns(UserWarning, match="'zip'"):
        cats, _ = proc.transform(pd.DataFrame({"zip": [75001, 10115]}))
    assert cats.sum() == 0


# --- FillMissing ----------------------------------------------------------------------------


def test_median_fill_from_training_rows_and_na_column(frames):
    train, valid = frames
    proc = processor(train, procs=[Categorify, FillMissing])
    median = train["price"].median()  # pandas skips NaN
    assert valid["price"].median() != pytest.approx(median)  # so the source matters
    assert proc.procs[0].fill_values["price"] == pytest.approx(median)
    assert proc.cat_names == ["shop", "size", "price_na"]  # age had no NaN in training
    cats, conts = proc.transform(valid)
    expected = valid["price"].fillna(median).to_numpy(np.float32)
    np.testing.assert_array_equal(conts[:, 0].numpy(), expected)
    assert proc.classes["price_na"] == ["#na#", False, True]
    assert cats[:, 2].tolist() == (valid["price"].isna().astype(int) + 1).tolist()
    # NaN in a column that had none in training: filled with its training median, no _na
    assert conts[3, 1].item() == pytest.approx(train["age"].median())


@pytest.mark.parametrize(
    "strategy, expected",
    [("median", 2.0), ("mode", 5.0), ("constant", -1.0)],
)
def test_fill_strategies(strategy, expected):
    train = pd.DataFrame({"x": [5.0, 1.0, 5.0, np.nan, 2.0, 0.0]})
    assert pd.Series([5.0, 1.0, 5.0, 2.0, 0.0]).mode()[0] == 5.0
    fill = FillMissing(strategy, fill_value=-1.0)
    proc = TabularProcessor([], ["x"], procs=[fill]).fit(train)
    assert fill.fill_values == {"x": expected}
    _, conts = proc.transform(pd.DataFrame({"x": [np.nan]}))
    assert conts.item() == expected


def test_fill_options():
    train = pd.DataFrame({"x": [1.0, np.nan], "y": [1.0, 2.0]})
    proc = TabularProcessor([], ["x", "y"], procs=[FillMissing(na_names=["y"])]).fit(train)
    assert proc.cat_names == ["x_na", "y_na"]
    proc = TabularProcessor([], ["x", "y"], procs=[FillMissing(add_col=False)]).fit(train)
    assert proc.cat_names == []
    with pytest.raises(ValueError, match="fill_strategy"):
        FillMissing("mean")


# --- Normalize ------------------------------------------------------------------------------


def test_normalize_stats_from_training_only(frames):
    train, valid = frames
    proc = processor(train)
    filled = train[["price", "age"]].fillna(train[["price", "age"]].median())
    scaler = StandardScaler().fit(filled)  # population std, as Normalize
    _, conts = proc.transform(valid)
    reference = scaler.transform(valid[["price", "age"]].fillna(filled.median()))
    np.testing.assert_allclose(conts.numpy(), reference, rtol=1e-5, atol=1e-6)
    norm = proc.procs[-1]
    assert norm.means["price"] == pytest.approx(filled["price"].mean())


def test_constant_column_uses_std_one_and_decode_inverts():
    train = pd.DataFrame({"c": [3.0, 3.0, 3.0], "x": [1.0, 2.0, 4.0]})
    proc = TabularProcessor([], ["c", "x"], procs=[Normalize]).fit(train)
    assert proc.procs[0].stds["c"] == 1.0
    _, conts = proc.transform(pd.DataFrame({"c": [5.0], "x": [2.0]}))
    assert conts[0, 0].item() == 2.0
    back = proc.decode(torch.zeros(1, 0, dtype=torch.long), conts)
    np.testing.assert_allclose(back.to_numpy(float), [[5.0, 2.0]], rtol=1e-6)


# --- Processor ------------------------------------------------------------------------------


def test_transform_shapes_and_decode(frames):
    train, valid = frames
    proc = processor(train)
    cats, conts = proc.transform(valid)
    assert cats.dtype == torch.int64 and cats.shape == (20, 3)
    assert conts.dtype == torch.float32 and conts.shape == (20, 2)
    assert proc.cardinalities == [4, 4, 3]
    decoded = proc.decode(cats, conts)
    assert list(decoded.columns) == ["shop", "size", "price_na", "price", "age"]
    shops = valid["shop"].where(valid["shop"].isin(["berlin", "paris", "rome"]), "#na#")
    assert decoded["shop"].tolist() == shops.tolist()
    assert decoded["size"].tolist() == valid["size"].tolist()
    ok = valid["price"].notna().to_numpy()
    np.testing.assert_allclose(decoded["price"][ok], valid["price"][ok], rtol=1e-5)
    row = proc.decode_row(cats[5], conts[5])
    assert row["shop"] == decoded["shop"][5] and row["age"] == pytest.approx(valid["age"].iloc[5])


def test_json_round_trip_gives_identical_tensors(frames):
    train, valid = frames
    extra = {
        "when": pd.to_datetime(["2020-01-01", "2021-06-30"] * 100),
        "when_utc": pd.to_datetime(["2020-01-01 10:00"] * 200).tz_localize("UTC"),
        "span": pd.to_timedelta(["1D", "2h"] * 100),
        "flag": [True, False, None, True] * 50,
        "amount": [decimal.Decimal("1.5"), decimal.Decimal("2")] * 100,
        "code": [3, 1] * 100,
    }
    train = train.assign(**extra)
    valid = train.iloc[::7].copy()
    valid.loc[valid.index[0], "when"] = pd.NaT
    names = ["shop", "size", *extra]
    proc = TabularProcessor(names, ["price", "age"]).fit(train)
    state = json.loads(json.dumps(proc.to_state(), allow_nan=False))
    loaded = TabularProcessor.from_state(state)
    assert loaded.cat_names == proc.cat_names
    for a, b in zip(proc.transform(valid), loaded.transform(valid)):
        assert torch.equal(a, b)
    assert state["procs"][1]["state"]["dtypes"]["when"].startswith("datetime64")
    assert loaded.decode(*loaded.transform(valid))["when"].iloc[1] == valid["when"].iloc[1]
    assert loaded.classes["flag"] == ["#na#", False, True]
    assert loaded.transform(valid)[0].min() >= 0 and proc.transform(valid)[0][0, 2] == 0


def test_empty_transform_frame_gives_empty_tensors(frames):
    train, valid = frames
    cats, conts = processor(train).transform(valid.iloc[:0])
    assert cats.shape == (0, 3) and conts.shape == (0, 2)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d"])), min_size=1))
def test_training_rows_decode_to_their_values(values):
    train = pd.DataFrame({"c": values, "x": np.arange(len(values), dtype=float)})
    proc = TabularProcessor(["c"], ["x"]).fit(train)
    decoded = proc.decode(*proc.transform(train))
    assert decoded["c"].tolist() == ["#na#" if v is None else v for v in values]


# --- Bad input ------------------------------------------------------------------------------


def test_missing_column_names_available_and_closest(frames):
    train, _ = frames
    with pytest.raises(KeyError, match=r"'prices'.*cont_names.*'shop'.*Did you mean 'price'"):
        TabularProcessor(["shop"], ["prices"]).fit(train)
    proc = processor(train)
    with pytest.raises(KeyError, match="'age'"):
        proc.transform(train.drop(columns="age"))


def test_non_numeric_continuous_value_named_with_row(frames):
    train, _ = frames
    bad = train.assign(age=train["age"].astype(object))
    bad.loc[7, "age"] = "unknown"
    with pytest.raises(TypeError, match=r"'age'.*'unknown' at row index 7"):
        processor(bad)
    ok = processor(train.assign(age=train["age"].astype(str)))  # numeric text is accepted
    assert ok.procs[-1].means["age"] == pytest.approx(train["age"].mean())
    with pytest.raises(TypeError, match="add_datepart"):
        TabularProcessor([], ["d"]).fit(pd.DataFrame({"d": pd.to_datetime(["2020-01-01"])}))


def test_other_bad_input(frames):
    train, _ = frames
    with pytest.raises(ValueError, match="non-empty.*0 rows"):
        processor(train.iloc[:0])
    with pytest.raises(ValueError, match="both"):
        TabularProcessor(["age"], ["age"])
    with pytest.raises(RuntimeError, match="fit"):
        TabularProcessor(["shop"], []).transform(train)
    with pytest.raises(TypeError, match="DataFrame"):
        TabularProcessor(["shop"], []).fit(train.to_numpy())


def test_unseen_category_and_nan_at_transform_are_not_errors(frames):
    train, _ = frames
    proc = processor(train)
    new = pd.DataFrame({"shop": ["tokyo"], "size": ["XXL"], "price": [np.nan], "age": [np.nan]})
    cats, conts = proc.transform(new)
    assert cats.tolist() == [[0, 0, 2]]  # price_na True -> code 2
    fill = proc.procs[0].fill_values
    norm = proc.procs[-1]
    expected = [(fill[n] - norm.means[n]) / norm.stds[n] for n in ["price", "age"]]
    np.testing.assert_allclose(conts[0].numpy(), expected, rtol=1e-6)


# --- add_datepart / cont_cat_split ----------------------------------------------------------


def test_add_datepart_known_dates():
    df = pd.DataFrame({"saledate": ["2012-02-29", "2020-12-31 13:45:30", "2021-01-01"], "y": 1})
    out = add_datepart(df, "saledate", time=True)
    assert "saledate" in df and "saledate" not in out  # input frame untouched
    expected = {
        "saleYear": [2012, 2020, 2021],
        "saleMonth": [2, 12, 1],
        "saleWeek": [9, 53, 53],  # ISO weeks: 2021-01-01 is in week 53 of 2020
        "saleDay": [29, 31, 1],
        "saleDayofweek": [2, 3, 4],  # Wednesday, Thursday, Friday
        "saleDayofyear": [60, 366, 1],
        "saleIs_month_end": [True, True, False],
        "saleIs_month_start": [False, False, True],
        "saleIs_quarter_end": [False, True, False],
        "saleIs_quarter_start": [False, False, True],
        "saleIs_year_end": [False, True, False],
        "saleIs_year_start": [False, False, True],
        "saleHour": [0, 13, 0],
        "saleMinute": [0, 45, 0],
        "saleSecond": [0, 30, 0],
    }
    for name, values in expected.items():
        assert out[name].tolist() == values, name
    dates = [
        dt.datetime(2012, 2, 29),
        dt.datetime(2020, 12, 31, 13, 45, 30),
        dt.datetime(2021, 1, 1),
    ]
    utc = [int(d.replace(tzinfo=dt.timezone.utc).timestamp()) for d in dates]
    assert out["saleElapsed"].dtype == np.int64 and out["saleElapsed"].tolist() == utc
    iso = [d.isocalendar()[1] for d in dates]
    assert out["saleWeek"].tolist() == iso


def test_add_datepart_options():
    df = pd.DataFrame({"Date": pd.to_datetime(["2000-01-01", None])})
    out = add_datepart(df, "Date", drop=False)
    assert "Date" in out and "Year" in out and "Hour" not in out
    assert out["Elapsed"].dtype == "Int64" and out["Elapsed"].isna().tolist() == [False, True]
    assert "tYear" in add_datepart(df, "Date", prefix="t")
    with pytest.raises(ValueError, match="'when'"):
        add_datepart(pd.DataFrame({"when": ["not a date"]}), "when")
    with pytest.raises(KeyError, match="Did you mean 'Date'"):
        add_datepart(df, "date")


def test_cont_cat_split_mixed_frame():
    n = 50
    df = pd.DataFrame(
        {
            "many_ints": np.arange(n),
            "few_ints": np.arange(n) % 5,
            "floats": np.linspace(0, 1, n),
            "text": ["a", "b"] * 25,
            "cat": pd.Categorical(["x"] * n),
            "flag": [True, False] * 25,
            "target": np.linspace(0, 1, n),
        }
    )
    cont, cat = cont_cat_split(df, max_card=20, dep_var="target")
    assert cont == ["many_ints", "floats"]
    assert cat == ["few_ints", "text", "cat", "flag"]
    cont, cat = cont_cat_split(df, max_card=60, dep_var=["target", "floats"])
    assert cont == [] and cat == ["many_ints", "few_ints", "text", "cat", "flag"]


# --- One row at a time (the path of predict) ------------------------------------------------


def test_encode_row_equals_transform_on_frame_rows(frames):
    train, valid = frames
    proc = processor(train)
    cats, conts = proc.transform(valid)
    for i in range(len(valid)):
        row_cats, row_conts = proc.encode_row(valid.iloc[i])
        assert row_cats == cats[i].tolist()
        assert torch.equal(torch.tensor(row_conts, dtype=torch.float32), conts[i])


@settings(max_examples=20, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.sampled_from(["a", "b", "c"])),
            st.integers(0, 4),
            st.booleans(),
            st.one_of(st.just(float("nan")), st.floats(-1e6, 1e6)),
        ),
        min_size=2,
        max_size=30,
    )
)
def test_encode_row_equals_transform_property(rows):
    df = pd.DataFrame(rows, columns=["s", "i", "b", "f"]).assign(n=range(len(rows)))
    half = len(df) // 2
    proc = TabularProcessor(["s", "i", "b"], ["f", "n"]).fit(df.iloc[:half])
    try:
        cats, conts = proc.transform(df)
    except ValueError as e:
        # A value far beyond a nearly constant training column (e.g. a std of 1e-43) overflows
        # float32 once normalised: refused by name, by the frame and by the row alike.
        assert "overflows float32" in str(e)
        refused = 0
        for i in range(len(df)):
            try:
                proc.encode_row(df.iloc[i].to_dict())
            except ValueError as row_error:
                assert "overflows float32" in str(row_error)
                refused += 1
        assert refused >= 1
        return
    for i in range(len(df)):
        row_cats, row_conts = proc.encode_row(df.iloc[i].to_dict())
        assert row_cats == cats[i].tolist()
        assert torch.equal(torch.tensor(row_conts, dtype=torch.float32), conts[i])


def test_a_value_beyond_a_nearly_constant_column_is_refused_by_frame_and_row():
    rows = [(None, 0, False, 0.0), (None, 0, False, 4.108557927309778e-43)] * 2
    rows += [(None, 0, False, 1.0), (None, 0, False, 2.0)]
    df = pd.DataFrame(rows, columns=["s", "i", "b", "f"]).assign(n=range(len(rows)))
    proc = TabularProcessor(["s", "i", "b"], ["f", "n"]).fit(df.iloc[:4])
    with pytest.raises(ValueError, match="column 'f'.*overflows float32"):
        proc.transform(df)
    with pytest.raises(ValueError, match="column 'f'.*overflows float32"):
        proc.encode_row(df.iloc[5].to_dict())


@pytest.mark.parametrize(
    "column, value",
    [
        ("shop", "paris"),
        ("shop", "oslo"),
        ("shop", None),
        ("shop", np.nan),
        ("shop", 3),
        ("code", 3),
        ("code", 3.0),
        ("code", True),
        ("code", "3"),
        ("code", np.int64(1)),
        ("flag", True),
        ("flag", 1),
        ("flag", 0.0),
        ("flag", "True"),
        ("level", 2.5),
        ("level", 2),
        ("level", pd.NA),
        ("when", pd.Timestamp("2020-01-01")),
        ("when", "2020-01-01"),
        ("mixed", 1),
        ("mixed", True),
        ("mixed", "1"),
        ("mixed", 1.0),
        ("mixed", False),
    ],
)
def test_encode_row_matches_transform_for_odd_values(column, value):
    train = pd.DataFrame(
        {
            "shop": ["paris", "rome"],
            "code": [1, 3],
            "flag": [True, False],
            "level": [2.5, 2.0],
            "when": pd.to_datetime(["2020-01-01", "2021-01-01"]),
            "mixed": pd.Series([True, "1"], dtype=object),
            "x": [1.0, 2.0],
        }
    )
    names = ["shop", "code", "flag", "level", "when", "mixed"]
    proc = TabularProcessor(names, ["x"]).fit(train)
    row = {**train.iloc[0].to_dict(), column: value}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cats, _ = proc.transform(pd.DataFrame([row]))
    assert proc.encode_row(row)[0] == cats[0].tolist()


def test_encode_row_bad_rows(frames):
    train, _ = frames
    proc = processor(train)
    row = train.iloc[0].to_dict()
    with pytest.raises(KeyError, match=r"'price'.*cont_names.*Received keys"):
        proc.encode_row({k: v for k, v in row.items() if k != "price"})
    with pytest.raises(TypeError, match=r"'age'.*'old'"):
        proc.encode_row({**row, "age": "old"})
    with pytest.raises(TypeError, match="dict or a pandas row"):
        proc.encode_row([1, 2])
    cats, conts = proc.encode_row({**row, "price": None, "age": "42", "extra": 1})
    assert cats[2] == 2 and conts[1] == pytest.approx(
        (42 - proc.procs[-1].means["age"]) / proc.procs[-1].stds["age"]
    )


def test_the_vision_normalize_in_procs_means_the_tabular_proc():
    """After `from fastlearn.vision.all import *` (the course's chapter 1 imports every
    application), `Normalize` is the vision transform; in procs it is the tabular proc."""
    from fastlearn.tabular.procs import Normalize as TabularNormalize
    from fastlearn.vision.augment import Normalize as VisionNormalize

    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 6.0]})
    ours = TabularProcessor([], ["x"], procs=[VisionNormalize]).fit(df)
    assert isinstance(ours.procs[0], TabularNormalize)
    _, conts = ours.transform(df)
    expected = (df.x - df.x.mean()) / df.x.std(ddof=0)
    assert np.allclose(conts[:, 0].numpy(), expected.to_numpy(), atol=1e-3)
