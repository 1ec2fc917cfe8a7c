"""Tabular show_batch / show_results return the frames they show."""

from __future__ import annotations

import pandas as pd

from .conftest import table_dls


def test_show_batch_returns_the_decoded_rows(table, capsys) -> None:
    dls = table_dls(table, shuffle=False)
    frame = dls.show_batch(max_n=3, ds_idx=1)
    pd.testing.assert_frame_equal(frame, dls.decode_batch(dls.valid.one_batch(), 3))
    assert len(frame) == 3 and frame["color"][0] in capsys.readouterr().out


def test_show_results_returns_targets_and_predictions(trained, capsys) -> None:
    frame = trained.show_results(max_n=4)
    assert len(frame) == 4 and {"label", "label_pred"} <= set(frame.columns)
    probs = trained.get_preds()[0][:4]  # validation rows, in order
    assert frame["label_pred"].tolist() == [trained.dls.vocab[int(i)] for i in probs.argmax(1)]
    assert "label_pred" in capsys.readouterr().out
