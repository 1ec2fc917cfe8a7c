"""An exported tabular model predicts exactly as the learner did."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from fastlearn.core.export import load_learner
from fastlearn.tabular import TabularDataLoaders, tabular_learner


def test_exported_predictor_equals_learn_predict(tmp_path):
    rng = np.random.default_rng(1)
    n = 400
    df = pd.DataFrame(
        {"shop": rng.choice(["a", "b", "c"], n), "x": rng.normal(size=n), "y": rng.normal(size=n)}
    )
    df.loc[::17, "x"] = np.nan
    df["label"] = np.where(df["shop"].eq("a") ^ (df["y"] > 0), "p", "q")
    dls = TabularDataLoaders.from_df(
        df, cat_names=["shop"], cont_names=["x", "y"], y_names="label", valid_pct=0.2, seed=0, bs=32
    )
    learn = tabular_learner(dls, show_progress=False)
    learn.fit_one_cycle(1, 1e-2)
    path = learn.export(tmp_path / "t.fl")
    predictor = load_learner(path)
    rows = [df.iloc[i].to_dict() for i in range(20)] + [{"shop": "unseen", "x": np.nan, "y": 0.3}]
    for row in rows:
        label, idx, probs = learn.predict(row)
        label2, idx2, probs2 = predictor.predict(row)
        assert label == label2 and int(idx) == int(idx2) and torch.equal(probs, probs2)
    fields = predictor.info()["inputs"]["fields"]
    assert {f["name"] for f in fields} == {"shop", "x", "y"}
    assert next(f for f in fields if f["name"] == "shop")["choices"] == ["a", "b", "c"]
