"""tabular_learner end to end on synthetic tables: it learns, predicts one row as get_preds
does, embeds features, ranks features, and describes itself as JSON."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from fastlearn import DataLoaders, accuracy, rmse, set_seed
from fastlearn.core.loader import DataLoader
from fastlearn.tabular import (
    MissingColumnError,
    TabularLearner,
    TabularModel,
    TabularProcessor,
    tabular_learner,
)

from .conftest import table_dls


def test_learner_beats_the_majority_baseline(trained, table):
    _, targets = trained.get_preds()
    baseline = max(targets.float().mean().item(), 1 - targets.float().mean().item())
    acc = trained.recorder.values[-1][-1]
    assert baseline < 0.7 and acc > 0.9, (baseline, acc)
    assert isinstance(trained, TabularLearner) and isinstance(trained.model, TabularModel)


def test_regression_with_two_targets_beats_the_mean(table):
    set_seed(0)
    dls = table_dls(table, y_names=["amount", "amount2"])
    learn = tabular_learner(
        dls, layers=[32, 16], y_range=(-15, 15), metrics=rmse, show_progress=False
    )
    learn.fit_one_cycle(5, 1e-2)
    preds, targets = learn.get_preds()
    assert preds.shape == targets.shape == (200, 2)
    model_rmse = (preds - targets).pow(2).mean(0).sqrt()
    mean_rmse = (targets - dls.train.dataset.tensors[2].mean(0)).pow(2).mean(0).sqrt()
    assert (model_rmse < 0.5 * mean_rmse).all(), (model_rmse, mean_rmse)
    values, _, same = learn.predict(table.iloc[0])
    assert values.shape == (2,) and torch.equal(values, same)


def test_predict_equals_get_preds_on_the_same_rows(trained, table):
    rows = table.iloc[:6].copy()
    rows.loc[rows.index[0], "color"] = "purple"  # never seen in training: #na#
    rows.loc[rows.index[1], "x"] = np.nan  # filled with the training median, x_na True
    rows.loc[rows.index[2], "size"] = None
    probs, _ = trained.get_preds(dl=trained.dls.test_dl(rows))
    for i in range(len(rows)):
        label, index, p = trained.predict(rows.iloc[i])
        torch.testing.assert_close(p, probs[i], rtol=1e-5, atol=1e-6)
        assert int(index) == int(probs[i].argmax()) and label == trained.dls.vocab[int(index)]
    as_dict = trained.predict({k: v for k, v in rows.iloc[3].items() if k != "label"})
    assert torch.equal(as_dict[2], trained.predict(rows.iloc[3])[2])


def test_predict_skips_pandas_and_loaders_and_restores_the_mode(trained, table, monkeypatch):
    """One row goes through plain Python (its speed is measured in benchmarks/preprocessing.py):
    no frame transform, no loader; the model's train/eval mode is left as it was."""
    row = table.iloc[0]
    expected = trained.predict(row)[2]

    def refuse(*args, **kwargs):
        raise AssertionError("predict went through the batch path")

    monkeypatch.setattr(type(trained.dls.processor), "transform", refuse)
    monkeypatch.setattr(DataLoader, "__iter__", refuse)
    trained.model.train()
    torch.testing.assert_close(trained.predict(row)[2], expected)
    assert trained.model.training
    trained.model.eval()
    trained.predict(row.to_dict())
    assert not trained.model.training


def test_predict_bad_rows(trained, table):
    row = table.iloc[0].to_dict()
    with pytest.raises(MissingColumnError, match=r"'noise'.*cont_names"):
        trained.predict({k: v for k, v in row.items() if k != "noise"})
    with pytest.raises(MissingColumnError, match=r"'color'.*cat_names"):
        trained.predict({k: v for k, v in row.items() if k != "color"})
    with pytest.raises(TypeError, match=r"'x'.*'abc'"):
        trained.predict({**row, "x": "abc"})
    with pytest.raises(TypeError, match="dict or a pandas row"):
        trained.predict(["red", "S", 0.1, 10.0])
    label, _, _ = trained.predict({**row, "x": "0.5", "color": 3, "size": float("nan")})
    assert label in ("yes", "no")  # numeric text, a wrong-typed and a missing category: fine


def test_embed_features_replace_categories_with_their_vectors(trained, table):
    frame = trained.embed_features(table.head(20))
    color_w = trained.model.embeds[0].weight.detach()
    assert [c for c in frame.columns if c.startswith("color_")] == [
        f"color_{k}" for k in range(color_w.shape[1])
    ]
    assert "color" not in frame and "x" in frame and "label" in frame
    assert list(frame.columns[-3:]) == ["x_na_0", "x_na_1", "x_na_2"]  # FillMissing's input
    codes = trained.dls.processor.transform(table.head(20))[0][:, 0]
    expected = color_w[codes].numpy()
    np.testing.assert_allclose(frame.filter(like="color_").to_numpy(), expected)
    assert frame.index.equals(table.head(20).index)


def test_permutation_importance_finds_the_signal(trained, table):
    by_loss = trained.permutation_importance(n_repeats=2)
    assert set(by_loss.index) == {"color", "size", "x_na", "x", "noise"}
    assert set(by_loss.index[:2]) == {"x", "color"}, by_loss
    by_acc = trained.permutation_importance(table.iloc[:300], metric=accuracy, n_repeats=2)
    assert by_acc.loc["x", "importance"] > 0.1 > abs(by_acc.loc["noise", "importance"])


def test_export_config_is_json_and_rebuilds_predictions(trained, table):
    config = json.loads(json.dumps(trained.export_config(), allow_nan=False))
    assert config["application"] == "tabular" and config["vocab"] == ["no", "yes"]
    model = TabularModel(**config["model_kwargs"]).eval()
    model.load_state_dict(trained.model.state_dict())
    processor = TabularProcessor.from_state(config["preprocessing"])
    cats, conts = processor.transform(table.iloc[:5])
    with torch.no_grad():
        probs = torch.softmax(model(cats, conts), 1)
    expected, _ = trained.get_preds(dl=trained.dls.test_dl(table.iloc[:5]))
    torch.testing.assert_close(probs, expected)


def test_show_results_prints_targets_and_predictions(trained, capsys):
    trained.show_results(max_n=4)
    out = capsys.readouterr().out.splitlines()
    assert "label_pred" in out[0] and len(out) == 5


def test_tabular_learner_refuses_other_loaders():
    x, y = torch.randn(8, 2), torch.randint(0, 2, (8,))
    dls = DataLoaders.from_dsets(torch.utils.data.TensorDataset(x, y), bs=4, device="cpu")
    with pytest.raises(TypeError, match="TabularDataLoaders"):
        tabular_learner(dls)


def test_course_star_import():
    namespace: dict = {}
    exec("from fastlearn.tabular.all import *", namespace)
    course = [
        "TabularDataLoaders",
        "tabular_learner",
        "Categorify",
        "FillMissing",
        "Normalize",
        "add_datepart",
        "cont_cat_split",
        "accuracy",
        "untar_data",
        "URLs",
        "RandomSplitter",
        "TimeSplitter",
        "pd",
        "np",
        "torch",
        "nn",
        "F",
        "Path",
    ]
    assert all(name in namespace for name in course)
    assert isinstance(namespace["pd"].DataFrame(), pd.DataFrame)
