"""The bad-input corpus for tables and ratings: each frame is built here and must be refused with
an error naming the column (and rows), or handled as documented: never NaN probabilities with a
confident label, never a NaN loss, never a bare Python error.

The policy for inf (and numbers beyond float32, which the model would see as inf): refused, in
training and at prediction alike, naming the column and rows; treating them as missing is one
line the user writes (`df.replace([np.inf, -np.inf], np.nan)`), after which FillMissing fills
and flags them as it does NaN.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from fastlearn import set_seed
from fastlearn.collab import CollabDataLoaders, UnknownIdError, collab_learner
from fastlearn.core.export import load_learner
from fastlearn.tabular import (
    TabularDataLoaders,
    UnseenCategoryError,
    UnseenCategoryWarning,
    tabular_learner,
)

CATS, CONTS = ["shop"], ["price", "qty"]


def shop_table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "shop": rng.choice(["paris", "lyon", "nice"], n),
            "price": rng.normal(10, 2, n),
            "qty": rng.integers(1, 9, n).astype(float),
        }
    )
    df["sold"] = np.where(df.price + (df.shop == "lyon") * 2 > 10.5, "yes", "no")
    df["amount"] = df.price * df.qty
    return df


def dls_of(df: pd.DataFrame, **kwargs):
    args = dict(
        cat_names=CATS, cont_names=CONTS, y_names="sold", valid_pct=0.2, seed=0, bs=32, device="cpu"
    )
    return TabularDataLoaders.from_df(df, **{**args, **kwargs})


@pytest.fixture(scope="module")
def learn():
    set_seed(0)
    learner = tabular_learner(dls_of(shop_table()), layers=[8], show_progress=False)
    learner.fit(1, 1e-2)
    return learner


@pytest.fixture(scope="module")
def exported(learn, tmp_path_factory):
    return learn.export(tmp_path_factory.mktemp("tables") / "shop.fl")


def _with(df: pd.DataFrame, column: str, rows: list[int], value) -> pd.DataFrame:
    out = df.copy()
    if isinstance(value, str):
        out[column] = out[column].astype(object)
    out.loc[rows, column] = value
    return out


# --- training: each frame refused with the column and rows, or trained as documented -----------

TRAINING = [
    ("inf", "price", np.inf, ValueError, r"finite numbers in column 'price'.*inf.*\[3, 7\]"),
    ("-inf", "price", -np.inf, ValueError, r"column 'price'.*-inf.*replace"),
    ("huge float64", "qty", 1e300, ValueError, r"column 'qty'.*1e\+300.*float32"),
    ("beyond float32", "qty", 1e39, ValueError, r"column 'qty'.*float32"),
    ("text 'inf'", "price", "inf", ValueError, r"column 'price'"),
    ("text", "price", "n/a", TypeError, r"'price'.*'n/a'.*row index 3"),
    ("inf target", "amount", np.inf, ValueError, r"column 'amount'"),
]


@pytest.mark.parametrize(
    "name, column, value, error, match", TRAINING, ids=[t[0] for t in TRAINING]
)
def test_training_refuses_with_column_and_rows(name, column, value, error, match):
    df = _with(shop_table(), column, [3, 7], value)
    kwargs = {"y_names": "amount"} if column == "amount" else {}
    with pytest.raises(error, match=match):
        dls_of(df, splits=(list(range(250)), list(range(250, 300))), **kwargs)


def test_valid_rows_are_checked_too():
    df = _with(shop_table(), "price", [280], np.inf)
    with pytest.raises(ValueError, match=r"'price'.*280"):
        dls_of(df, splits=(list(range(250)), list(range(250, 300))))


def test_nan_and_inf_made_missing_train_to_a_finite_loss():
    df = _with(shop_table(), "price", [3, 7, 11], np.nan)
    df.loc[[20, 21], "qty"] = np.inf
    df = df.replace([np.inf, -np.inf], np.nan)  # the documented way to treat inf as missing
    dls = dls_of(df)
    assert {"price_na", "qty_na"} <= set(dls.cat_names)
    set_seed(0)
    learner = tabular_learner(dls, layers=[8], show_progress=False)
    learner.fit(1, 1e-2)
    train_loss, valid_loss = learner.recorder.values[-1][:2]
    assert np.isfinite(train_loss) and np.isfinite(valid_loss)


@pytest.mark.parametrize("frame", ["no rows", "no columns"])
def test_empty_frames(frame):
    df = shop_table().iloc[:0] if frame == "no rows" else pd.DataFrame(index=range(5))
    with pytest.raises((ValueError, KeyError), match="0 rows|Expected column"):
        dls_of(df)


# --- prediction: predict, test_dl, the exported predictor, the HTTP API -------------------------

ROW = {"shop": "paris", "price": 10.0, "qty": 3.0}
PREDICT = [
    ("inf", {"price": np.inf}, ValueError, r"finite numbers? in column 'price'"),
    ("-inf", {"qty": -np.inf}, ValueError, r"column 'qty'"),
    ("huge", {"price": 1e300}, ValueError, r"column 'price'.*float32"),
    ("huge int", {"qty": 10**400}, ValueError, r"column 'qty'"),
    ("text 'inf'", {"price": "inf"}, ValueError, r"column 'price'"),
    ("text", {"price": "ten"}, TypeError, r"'price'.*'ten'"),
    ("list", {"price": [1, 2]}, TypeError, r"'price'"),
    (
        "missing column",
        {"qty": None, "price": None, "shop": None, "drop": "qty"},
        KeyError,
        r"'qty'",
    ),
]


def _row(change: dict) -> dict:
    row = {**ROW, **{k: v for k, v in change.items() if k != "drop"}}
    return {k: v for k, v in row.items() if k != change.get("drop")}


@pytest.mark.parametrize("name, change, error, match", PREDICT, ids=[p[0] for p in PREDICT])
def test_predict_and_the_predictor_refuse_alike(learn, exported, name, change, error, match):
    row = _row(change)
    with pytest.raises(error, match=match):
        learn.predict(row)
    with pytest.raises(error, match=match):
        load_learner(exported).predict(row)
    if name not in ("list", "missing column", "huge int"):
        with pytest.raises(error, match=match):
            learn.dls.test_dl(pd.DataFrame([row]))


def test_nan_and_none_are_missing_values_with_finite_probabilities(learn):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnseenCategoryWarning)  # missing is not unseen
        for row in [{**ROW, "price": np.nan}, {**ROW, "shop": None, "qty": None}]:
            label, _, probs = learn.predict(row)
            assert torch.isfinite(probs).all() and label in ("no", "yes")


@pytest.mark.parametrize("value", [1e30, -1e30, 1e38])
def test_finite_but_huge_numbers_answer_finite_or_refuse(learn, exported, value):
    for predict in (learn.predict, load_learner(exported).predict):
        try:
            _, _, probs = predict({**ROW, "price": value})
        except ValueError as e:
            assert "not finite" in str(e) or "overflows float32" in str(e)
        else:
            assert torch.isfinite(probs).all()


def test_a_model_answering_nan_is_an_error_not_a_confident_label(learn, exported):
    predictor = load_learner(exported)
    saved = {k: v.clone() for k, v in learn.model.state_dict().items()}
    try:
        with torch.no_grad():
            for model in (learn.model, predictor.model):
                model.layers[0][0].weight.fill_(float("nan"))
        for predict in (learn.predict, predictor.predict):
            with pytest.raises(ValueError, match=r"output for row 0 is not finite.*'(price|qty)'"):
                predict(ROW)
    finally:
        learn.model.load_state_dict(saved)


def test_unseen_categories_warn_or_refuse(learn, exported):
    frame = pd.DataFrame([{**ROW, "shop": s} for s in ["rome", "rome", "paris", 12, " nice "]])
    with pytest.warns(UnseenCategoryWarning, match=r"'rome' \(2 rows\), 12 \(1 row\)"):
        learn.dls.test_dl(frame)
    with pytest.raises(UnseenCategoryError, match="'rome'"):
        learn.dls.test_dl(frame, strict=True)
    with pytest.raises(UnseenCategoryError, match="12"):
        load_learner(exported).predict({**ROW, "shop": 12}, strict=True)


def test_test_dl_refuses_an_empty_frame(learn):
    with pytest.raises(ValueError, match="0 rows"):
        learn.dls.test_dl(shop_table().iloc[:0])


HTTP = [
    ({"price": "inf"}, 422, "finite number"),
    ({"price": "-Infinity"}, 422, "finite number"),
    ({"price": 1e300}, 422, "'price'"),
    ({"price": "abc"}, 422, "takes a number"),
    ({"shop": ["paris"]}, 422, "single value"),
]


@pytest.mark.parametrize("change, status, message", HTTP, ids=[str(h[0]) for h in HTTP])
def test_http_api_refuses_with_4xx(exported, change, status, message):
    testclient = pytest.importorskip("starlette.testclient")
    from fastlearn.serve import create_app

    client = testclient.TestClient(create_app(exported), raise_server_exceptions=False)
    r = client.post("/predict", json={"row": {**ROW, **change}})
    assert r.status_code == status, r.text
    assert message in r.json()["error"]
    assert client.post("/predict", json={"row": ROW}).status_code == 200


# --- collab: ids of the wrong type, bad ratings, things that are not pairs ----------------------


@pytest.fixture(scope="module")
def collab():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "user": rng.integers(0, 20, 400),
            "item": rng.choice(list("abcdefgh"), 400),
            "rating": rng.integers(1, 6, 400).astype(float),
        }
    )
    set_seed(0)
    learner = collab_learner(
        CollabDataLoaders.from_df(df, bs=32, seed=0, device="cpu"), n_factors=4, show_progress=False
    )
    learner.fit(1, 1e-2)
    return learner


COLLAB = [
    (("3", "a"), UnknownIdError, r"Unknown user '3' \(did you mean 3, of type int\?\)"),
    ((3, 1), UnknownIdError, r"Unknown item 1"),
    (([3], "a"), TypeError, r"user id as one value"),
    ((3, {"a": 1}), TypeError, r"item id as one value"),
    (3, TypeError, r"\(user, item\) pair.*Received: int 3"),
    ("3a", TypeError, r"\(user, item\) pair"),
    ([(3, "a"), 4], ValueError, r"Expected \(user, item\) pairs. Received: 4"),
]


@pytest.mark.parametrize("pairs, error, match", COLLAB, ids=[repr(c[0]) for c in COLLAB])
def test_collab_ids_of_the_wrong_type(collab, pairs, error, match):
    with pytest.raises(error, match=match):
        collab.predict(pairs)


def test_collab_test_dl_names_wrong_ids_and_bad_ratings(collab):
    frame = pd.DataFrame({"user": ["3", "4"], "item": ["a", "b"], "rating": [1.0, np.inf]})
    with pytest.raises(UnknownIdError, match="did you mean 3"):
        collab.dls.test_dl(frame)
    frame["user"] = [3, 4]
    with pytest.raises(ValueError, match="infinite"):
        collab.dls.test_dl(frame, with_labels=True)
    assert len(collab.dls.test_dl(frame).dataset) == 2


@pytest.mark.parametrize(
    "ratings, match",
    [
        ([np.inf, 2.0, 3.0], "infinite"),
        ([-np.inf, 2.0, 3.0], "infinite"),
        ([np.nan, 2.0, 3.0], "missing"),
        (["five", 2.0, 3.0], "text"),
    ],
)
def test_collab_training_refuses_bad_ratings(ratings, match):
    df = pd.DataFrame({"user": [1, 2, 3], "item": ["a", "b", "c"], "rating": ratings})
    with pytest.raises((ValueError, TypeError), match=match):
        CollabDataLoaders.from_df(df, valid_pct=0.34, seed=0)
