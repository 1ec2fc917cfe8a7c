"""Collab show_batch / show_results: raw ids and ratings, printed and returned as DataFrames."""

from __future__ import annotations

import numpy as np


def test_show_batch_decodes_the_ids(dls, ratings, capsys) -> None:
    frame = dls.show_batch(max_n=5, ds_idx=1)
    assert list(frame.columns) == ["user", "title", "rating"] and len(frame) == 5
    x, y = dls.valid.one_batch()  # validation is not shuffled: the same batch
    vocab = dls.collab_vocab
    assert frame["user"].tolist() == vocab.users.decode(x[:5, 0])
    assert frame["title"].tolist() == vocab.items.decode(x[:5, 1])
    np.testing.assert_allclose(frame["rating"], y[:5].numpy())
    # every shown row is a row of the ratings table
    table = set(zip(ratings["user"], ratings["title"]))
    assert all(pair in table for pair in zip(frame["user"], frame["title"]))
    out = capsys.readouterr().out
    assert "title" in out and frame["title"][0] in out


def test_show_results_adds_the_predicted_rating(trained, capsys) -> None:
    was_training = trained.model.training
    frame = trained.show_results(max_n=4)
    assert trained.model.training == was_training  # the mode is restored
    assert list(frame.columns) == ["user", "title", "rating", "rating_pred"] and len(frame) == 4
    expected = trained.predict(list(zip(frame["user"], frame["title"])))
    np.testing.assert_allclose(frame["rating_pred"], expected.numpy(), rtol=1e-5)
    assert "rating_pred" in capsys.readouterr().out
