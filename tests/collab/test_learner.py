"""collab_learner and CollabLearner: fitting, predictions, interpretation, export, bad input."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from fastlearn import DataLoaders, set_seed
from fastlearn.collab import (
    CollabDataLoaders,
    CollabPredictor,
    EmbeddingDotBias,
    EmbeddingNN,
    UnknownIdError,
    collab_learner,
    pca,
)
from fastlearn.core.export import load_learner


def valid_mse(learn, dls) -> float:
    """Validation MSE computed here, from the model and the raw validation tensors."""
    x, y = dls.valid.dataset.tensors
    learn.model.eval()
    with torch.no_grad():
        return float(((learn.model(x) - y) ** 2).mean())


def test_fits_low_rank_ratings_far_better_than_the_global_mean(trained, dls):
    baseline = float(
        ((dls.valid.dataset.tensors[1] - dls.train.dataset.tensors[1].mean()) ** 2).mean()
    )
    mse = valid_mse(trained, dls)
    assert mse < 0.2 * baseline, (mse, baseline)
    assert abs(trained.recorder.values[-1][1] - mse) < 1e-4  # the loop's valid loss agrees
    preds, targs = trained.get_preds()
    assert float(((preds - targs) ** 2).mean()) == pytest.approx(mse, rel=1e-5)


def test_neural_variant_learns(dls):
    set_seed(0)
    learn = collab_learner(dls, use_nn=True, layers=[16], y_range=(0, 5.5), show_progress=False)
    assert isinstance(learn.model, EmbeddingNN) and learn.model.hidden == [16]
    baseline = float(
        ((dls.valid.dataset.tensors[1] - dls.train.dataset.tensors[1].mean()) ** 2).mean()
    )
    learn.fit_one_cycle(6, 1e-2, wd=0.01)
    assert valid_mse(learn, dls) < 0.7 * baseline


def test_predict_pairs_list_and_frame(trained, dls):
    v = dls.collab_vocab
    x = torch.tensor(
        [
            [v.users.encode("u3"), v.items.encode("film 5")],
            [v.users.encode("u7"), v.items.encode("film 0")],
        ]
    )
    with torch.no_grad():
        expected = trained.model(x)
    one = trained.predict(("u3", "film 5"))
    assert one.ndim == 0 and torch.allclose(one, expected[0])
    many = trained.predict([("u3", "film 5"), ("u7", "film 0")])
    assert many.shape == (2,) and torch.allclose(many, expected)
    frame = pd.DataFrame({"user": ["u3", "u7"], "title": ["film 5", "film 0"]})
    assert torch.allclose(trained.predict(frame), expected)
    assert trained.predict([]).shape == (0,)


def test_predict_unknown_ids(trained):
    with pytest.raises(UnknownIdError, match=r"Unknown user 'u999'.*unknown='bias'"):
        trained.predict(("u999", "film 5"))
    with pytest.raises(UnknownIdError, match=r"'film 55'.*did you mean"):
        trained.predict([("u3", "film 55")])
    with pytest.raises(KeyError, match="title"):
        trained.predict(pd.DataFrame({"user": ["u3"], "item": ["film 5"]}))
    with pytest.raises(ValueError, match="unknown='error' or 'bias'"):
        trained.predict(("u3", "film 5"), unknown="mean")
    item_bias = trained.model.bias("film 5")
    estimate = trained.predict(("u999", "film 5"), unknown="bias")
    assert torch.allclose(estimate, torch.sigmoid(item_bias) * 5.5)
    user_bias = trained.model.bias("u3", is_item=False)
    both = trained.predict([("u3", "film 55"), ("u3", "film 5")], unknown="bias")
    assert torch.allclose(both[0], torch.sigmoid(user_bias) * 5.5)
    assert torch.allclose(both[1], trained.predict(("u3", "film 5")))


def test_bias_estimate_needs_the_dot_model(dls):
    learn = collab_learner(dls, use_nn=True, y_range=(0, 5.5), show_progress=False)
    with pytest.raises(ValueError, match="EmbeddingDotBias"):
        learn.predict(("u3", "film 5"), unknown="bias")


def test_recommend_excludes_rated_and_ranks_by_prediction(trained, ratings):
    user = "u4"
    rated = set(ratings.loc[ratings.user == user, "title"])
    unrated = [t for t in trained.collab_vocab.items.ids if t not in rated]
    preds = trained.predict([(user, t) for t in unrated])
    best = [unrated[i] for i in preds.argsort(descending=True)[:5].tolist()]
    recs = trained.recommend(user, 5)
    assert [t for t, _ in recs] == best
    assert not rated & {t for t, _ in recs}
    assert all(a[1] >= b[1] for a, b in zip(recs, recs[1:]))
    assert len(trained.recommend(user, 10_000)) == len(unrated)


def test_most_similar_matches_a_cosine_by_hand(trained):
    ids = trained.collab_vocab.items.ids
    w = trained.model.i_weight.weight.detach().numpy().astype(np.float64)
    k = ids.index("film 7")
    cos = w @ w[k] / (np.linalg.norm(w, axis=1) * np.linalg.norm(w[k]))
    cos[k] = -np.inf
    expected = [ids[j] for j in np.argsort(-cos)[:4]]
    got = trained.most_similar("film 7", 4)
    assert [t for t, _ in got] == expected
    np.testing.assert_allclose([s for _, s in got], np.sort(cos)[::-1][:4], rtol=1e-5)
    with pytest.raises(UnknownIdError):
        trained.most_similar("no such film")


def test_items_by_bias(trained, ratings):
    ids = trained.collab_vocab.items.ids
    bias = trained.model.i_bias.weight.detach()[:, 0].numpy()
    assert [t for t, _ in trained.items_by_bias(3)] == [ids[j] for j in np.argsort(bias)[:3]]
    assert [t for t, _ in trained.items_by_bias(3, highest=True)] == [
        ids[j] for j in np.argsort(-bias)[:3]
    ]
    counts = ratings.title.value_counts()
    popular = trained.items_by_bias(100, min_ratings=int(counts.median()))
    assert all(counts[t] >= counts.median() for t, _ in popular)
    assert trained.model.bias(["film 1"]).tolist() == [bias[ids.index("film 1")]]


def test_pca_matches_numpy_svd_and_sklearn():
    from sklearn.decomposition import PCA

    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 6, generator=g, dtype=torch.float64) @ torch.randn(
        6, 6, generator=g, dtype=torch.float64
    )
    ours = pca(x, 3).numpy()
    centred = x.numpy() - x.numpy().mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    ref = centred @ vt[:3].T
    np.testing.assert_allclose(np.abs(ours), np.abs(ref), atol=1e-10)  # same up to sign
    np.testing.assert_allclose(ours.var(0, ddof=1), s[:3] ** 2 / 49, rtol=1e-10)
    np.testing.assert_allclose(ours, PCA(3, svd_solver="full").fit_transform(x.numpy()), atol=1e-10)
    with pytest.raises(ValueError, match="k=7"):
        pca(x, 7)
    with pytest.raises(ValueError, match="2-D"):
        pca(x[0], 1)


def test_plot_item_pca_writes_a_png_with_titles(trained, tmp_path):
    import matplotlib.pyplot as plt

    path = tmp_path / "films.png"
    fig = trained.plot_item_pca(n=12, top=30, path=path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    labels = {t.get_text() for t in fig.axes[0].texts}
    counts = trained.dls.item_counts()
    most_rated = [
        trained.collab_vocab.items.ids[i]
        for i in torch.sort(counts, descending=True, stable=True).indices[:12].tolist()
    ]
    assert labels == set(most_rated)
    plt.close(fig)
    assert trained.item_pca(k=2).shape == (trained.dls.n_items, 2)


@pytest.mark.parametrize("use_nn", [False, True])
def test_export_and_load_learner_round_trip(dls, use_nn, tmp_path):
    learn = collab_learner(dls, use_nn=use_nn, y_range=(0, 5.5), show_progress=False)
    config = json.loads(json.dumps(learn.export_config()))
    assert config["application"] == "collab"
    assert config["builder"] == ("collab_nn" if use_nn else "collab_dot_bias")
    assert config["preprocessing"]["items"] == dls.classes["title"]
    assert config["inputs"] == {"kind": "collab", "user": "user", "item": "title"}
    predictor = load_learner(learn.export(tmp_path / "collab.fl"))
    assert isinstance(predictor, CollabPredictor)
    pairs = [("u3", "film 5"), ("u7", "film 0"), ("u0", "film 39")]
    expected = learn.predict(pairs)
    got = predictor.predict_batch(pairs)
    assert torch.allclose(torch.stack([p for _, _, p in got]), expected)
    rating, raw, _ = predictor.predict({"user": "u3", "item": "film 5"})
    assert rating == pytest.approx(float(expected[0])) and torch.equal(raw, got[0][1])
    assert torch.equal(predictor.model.weight("film 3"), learn.model.weight("film 3"))
    assert predictor.info()["inputs"]["kind"] == "collab"
    with pytest.raises(UnknownIdError, match="u999"):
        predictor.predict(("u999", "film 5"))


def test_collab_learner_checks_its_input(dls):
    with pytest.raises(ValueError, match=r"does not contain the ratings.*y_range=\(0, 5\.4"):
        collab_learner(dls, y_range=(0, 4))
    with pytest.raises(ValueError, match="does not contain"):
        collab_learner(dls, y_range=(2, 5.5))
    with pytest.warns(UserWarning, match="edge of y_range"):
        collab_learner(dls, y_range=(1, 5), show_progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        collab_learner(dls, y_range=(0, 5.5), show_progress=False)
    with pytest.raises(ValueError, match="use_nn=True"):
        collab_learner(dls, layers=[10])
    x = torch.zeros(4, 2, dtype=torch.long)
    plain = DataLoaders.from_dsets(torch.utils.data.TensorDataset(x, torch.ones(4)))
    with pytest.raises(TypeError, match="CollabDataLoaders"):
        collab_learner(plain)


def test_learner_defaults(dls):
    learn = collab_learner(dls, show_progress=False)
    assert isinstance(learn.model, EmbeddingDotBias) and learn.model.n_factors == 50
    assert learn.model.y_range is None and type(learn.loss_func).__name__ == "MSELossFlat"
    assert learn.model.vocab is dls.collab_vocab
    assert isinstance(dls, CollabDataLoaders)
