"""One normalisation of categories in training and in every prediction path; unseen categories
said out loud (or refused with strict=True); the training mode and median in the export.

The Adult CSV writes its categories after a comma and a space (" Private"): `from_csv` reads it
with `skipinitialspace=True`, a plain `pd.read_csv` does not. Both frames must predict alike.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from fastlearn import set_seed
from fastlearn.core.export import load_learner, read_model_file, save_model_file
from fastlearn.tabular import (
    TabularDataLoaders,
    UnseenCategoryError,
    UnseenCategoryWarning,
    tabular_learner,
)

from .conftest import table_dls

WORK = ["Private", "Self-emp", "State-gov", "?"]
EDUCATION = ["HS-grad", "Bachelors", "Masters", "10th"]


def adult_like(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Categories and a label that depend on each other, as in the Adult table."""
    rng = np.random.default_rng(seed)
    work, edu = rng.choice(WORK, n), rng.choice(EDUCATION, n)
    age = rng.integers(18, 70, n)
    score = (
        np.isin(edu, ["Bachelors", "Masters"]) * 2.0
        + (work == "Self-emp")
        - 1.5
        + (age - 40) / 15
        + rng.normal(0, 0.3, n)
    )
    return pd.DataFrame(
        {
            "age": age,
            "workclass": work,
            "education": edu,
            "salary": np.where(score > 0, ">=50k", "<50k"),
        }
    )


def write_adult_csv(df: pd.DataFrame, path) -> None:
    """As adult.csv is written: a space before each category ("49, Private,101320, ...")."""

    def cell(v):
        return f" {v}" if isinstance(v, str) else str(v)

    rows = [",".join(cell(v) for v in r) for r in df.itertuples(index=False)]
    path.write_text("\n".join([",".join(df.columns), *rows]) + "\n")


@pytest.fixture(scope="module")
def adult(tmp_path_factory):
    """(learner trained from the CSV, its path, the frame as pd.read_csv reads it, as
    skipinitialspace reads it, the exported file)."""
    folder = tmp_path_factory.mktemp("adult")
    csv = folder / "adult.csv"
    write_adult_csv(adult_like(), csv)
    dls = TabularDataLoaders.from_csv(
        csv,
        y_names="salary",
        cat_names=["workclass", "education"],
        cont_names=["age"],
        valid_pct=0.2,
        seed=0,
        bs=64,
        device="cpu",
    )
    set_seed(0)
    learn = tabular_learner(dls, layers=[16], show_progress=False)
    learn.fit_one_cycle(4, 1e-2)
    plain, clean = pd.read_csv(csv), pd.read_csv(csv, skipinitialspace=True)
    return learn, plain, clean, learn.export(folder / "adult.fl")


# --- one normalisation: training, predict, test_dl, the predictor, the CLI, the server ----------


def test_plain_read_csv_predicts_as_the_training_frame(adult):
    learn, plain, clean, _ = adult
    assert plain["workclass"].iloc[0].startswith(" ")  # the frame really has the spaces
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnseenCategoryWarning)
        p_plain, _ = learn.get_preds(dl=learn.dls.test_dl(plain))
        p_clean, _ = learn.get_preds(dl=learn.dls.test_dl(clean))
        for i in range(10):
            a, b = learn.predict(plain.iloc[i]), learn.predict(clean.iloc[i])
            assert a[0] == b[0] and torch.equal(a[2], b[2])
    assert torch.equal(p_plain, p_clean)
    # the labels are normalised too: with_labels reads ' >=50k' as the class '>=50k'
    _, y_plain = learn.get_preds(dl=learn.dls.test_dl(plain, with_labels=True))
    _, y_clean = learn.get_preds(dl=learn.dls.test_dl(clean, with_labels=True))
    assert torch.equal(y_plain, y_clean)


def test_training_on_a_plain_frame_learns_stripped_categories(adult):
    _, plain, _, _ = adult
    dls = TabularDataLoaders.from_df(
        plain,
        y_names="salary",
        cat_names=["workclass"],
        cont_names=["age"],
        splits=(range(500), range(500, 600)),
        device="cpu",
    )
    assert dls.classes["workclass"] == ["#na#", "?", "Private", "Self-emp", "State-gov"]
    assert dls.vocab == ["<50k", ">=50k"]
    cats, _ = dls.processor.transform(
        pd.DataFrame({"workclass": ["Private", "  Private "], "age": [30, 30]})
    )
    assert cats[:, 0].tolist() == [2, 2]


def test_exported_predictor_cli_and_server_strip_as_training(adult, capsys):
    learn, plain, clean, path = adult
    predictor = load_learner(path)
    rows_plain = [plain.iloc[i].to_dict() for i in range(8)]
    rows_clean = [clean.iloc[i].to_dict() for i in range(8)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnseenCategoryWarning)
        a, b = predictor.predict_batch(rows_plain), predictor.predict_batch(rows_clean)
    assert [r[0] for r in a] == [r[0] for r in b]
    assert all(torch.equal(x[2], y[2]) for x, y in zip(a, b))

    from fastlearn.cli import main

    row = {k: v for k, v in rows_plain[0].items() if k != "salary"}
    row["age"] = int(row["age"])
    assert main(["predict", str(path), json.dumps(row), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)[0]
    assert answer["label"] == learn.predict(rows_clean[0])[0]

    testclient = pytest.importorskip("starlette.testclient")
    from fastlearn.serve import create_app

    client = testclient.TestClient(create_app(path))
    reply = client.post("/predict", json={"row": {**row, "id": 7}})
    assert reply.status_code == 200, reply.text
    assert reply.json()["label"] == answer["label"] and reply.json()["ignored"] == ["id"]
    top = {t["label"]: t["probability"] for t in reply.json()["top"]}
    probs = learn.predict(rows_clean[0])[2]
    assert top[">=50k"] == pytest.approx(float(probs[learn.dls.vocab.index(">=50k")]), abs=1e-5)


def test_server_and_cli_ignore_extra_columns_and_name_them(adult, capsys):
    """predict ignores keys that are not inputs: the JSON API and the CLI now agree."""
    learn, _, clean, path = adult
    row = {"age": 45, "workclass": "Private", "education": "Masters"}
    extra = {**row, "id": 12, "salary": ">=50k"}
    assert learn.predict(extra)[0] == learn.predict(row)[0]
    from fastlearn.cli import main

    assert main(["predict", str(path), json.dumps(extra), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)[0]
    assert answer["ignored"] == ["id", "salary"] and answer["label"] == learn.predict(row)[0]
    assert main(["predict", str(path), json.dumps(row), "--json"]) == 0
    assert "ignored" not in json.loads(capsys.readouterr().out)[0]


# --- unseen categories: one warning per call naming them, or strict ------------------------------


def test_predict_warns_naming_column_and_value(trained, table):
    row = table.iloc[0].to_dict()
    with pytest.warns(UnseenCategoryWarning, match=r"column 'color': 'purple' \(1 row\)"):
        label, _, _ = trained.predict({**row, "color": "purple"})
    assert label in trained.dls.vocab
    with pytest.raises(UnseenCategoryError, match=r"'color'.*'purple'"):
        trained.predict({**row, "color": "purple"}, strict=True)
    with warnings.catch_warnings():  # a missing value is #na# by design: no warning
        warnings.simplefilter("error", UnseenCategoryWarning)
        trained.predict({**row, "color": None, "size": np.nan})
        trained.predict({**row, "color": " red "}, strict=True)


def test_test_dl_warns_once_per_call_with_counts_per_column(trained, table):
    new = table.iloc[:10].copy()
    new.loc[new.index[:3], "color"] = "purple"
    new.loc[new.index[3], "color"] = "pink"
    new.loc[new.index[4:6], "size"] = "XXL"
    new.loc[new.index[6], "size"] = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cats, _ = trained.dls.test_dl(new).one_batch()
    unseen = [w for w in caught if issubclass(w.category, UnseenCategoryWarning)]
    assert len(unseen) == 1, [str(w.message) for w in caught]
    message = str(unseen[0].message)
    assert "'purple' (3 rows)" in message and "'pink' (1 row)" in message
    assert "column 'size': 'XXL' (2 rows)" in message and "None" not in message
    assert cats[:4, 0].tolist() == [0, 0, 0, 0]
    with pytest.raises(UnseenCategoryError, match=r"column 'color': 'purple' \(3 rows\)"):
        trained.dls.test_dl(new, strict=True)


def test_predictor_strict_and_one_warning_per_batch(adult):
    _, _, clean, path = adult
    predictor = load_learner(path)
    rows = [{**clean.iloc[i].to_dict(), "workclass": "Privat"} for i in range(5)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predictor.predict_batch(rows)
    unseen = [w for w in caught if issubclass(w.category, UnseenCategoryWarning)]
    assert len(unseen) == 1 and "'Privat' (5 rows)" in str(unseen[0].message)
    with pytest.raises(UnseenCategoryError, match="'Privat'"):
        predictor.predict(rows[0], strict=True)
    predictor.strict = True
    with pytest.raises(UnseenCategoryError, match="'workclass'"):
        predictor.predict_batch(rows)
    assert predictor.predict({**rows[0], "workclass": " Private"})[0] in ("<50k", ">=50k")


# --- defaults: the training mode and median, exported and given to the page ----------------------


def test_defaults_are_training_mode_and_median(table):
    dls = table_dls(table, splits=(list(range(600)), list(range(600, 800))))
    train = table.iloc[:600]
    assert dls.processor.defaults == {
        "color": train["color"].mode()[0],
        "size": train["size"].mode()[0],
        "x": pytest.approx(train["x"].median()),
        "noise": pytest.approx(train["noise"].median()),
    }


def test_export_and_input_spec_carry_the_defaults(adult):
    learn, _, clean, path = adult
    from fastlearn.inputs import input_spec

    fields = {f["name"]: f for f in input_spec(load_learner(path).info())["fields"]}
    defaults = learn.dls.processor.defaults
    assert fields["workclass"]["default"] == defaults["workclass"] in WORK
    assert fields["workclass"]["stat"] == "mode"
    assert fields["workclass"]["hint"] == f"most common: {defaults['workclass']}"
    assert fields["age"]["default"] == defaults["age"] and fields["age"]["stat"] == "median"
    age = defaults["age"]
    shown = int(age) if float(age).is_integer() else age
    assert fields["age"]["hint"] == f"median {shown}"
    assert clean["age"].min() <= age <= clean["age"].max()


def test_old_files_without_defaults_or_strip_still_load(adult, tmp_path):
    learn, _, clean, path = adult
    config, _ = read_model_file(path)
    state = config["preprocessing"]
    del state["defaults"]
    categorify = next(p for p in state["procs"] if p["name"] == "Categorify")["state"]
    del categorify["strip"]
    config["inputs"]["fields"] = [
        {k: v for k, v in f.items() if k not in ("default", "stat")}
        for f in config["inputs"]["fields"]
    ]
    old = save_model_file(tmp_path / "old.fl", learn.model, config)
    predictor = load_learner(old)
    from fastlearn.inputs import input_spec

    fields = input_spec(predictor.info())["fields"]
    assert all("default" not in f and "hint" not in f for f in fields)
    row = clean.iloc[0].to_dict()
    assert (
        predictor.predict({**row, "workclass": " Private"})[0]
        == learn.predict({**row, "workclass": "Private"})[0]
    )  # clean categories: the old file strips too

    # a file whose categories hold spaces (trained before stripping) keeps comparing as is
    for name, values in categorify["classes"].items():
        categorify["classes"][name] = [values[0]] + [f" {v}" for v in values[1:]]
    spaced = load_learner(save_model_file(tmp_path / "spaced.fl", learn.model, config))
    assert spaced.processor.categorify.strip is False
    codes, _ = spaced.processor.encode_row({**row, "workclass": " Private"})
    assert codes[0] == learn.dls.classes["workclass"].index("Private")
