"""Text show_batch / show_results: printed, and returned as DataFrames matching the batch."""

from __future__ import annotations

import torch

from fastlearn import set_seed
from fastlearn.text import AWD_LSTM, language_model_learner, text_classifier_learner

from .helpers import TINY, clas_dls, lm_dls


def test_classifier_show_batch_returns_texts_and_labels(capsys) -> None:
    dls = clas_dls(lm_dls())
    frame = dls.show_batch(max_n=3, dl=dls.valid)
    out = capsys.readouterr().out.splitlines()
    x, y = dls.valid.one_batch()  # validation keeps the data's order: the same batch
    assert list(frame.columns) == ["text", "label"] and len(frame) == 3
    assert frame["text"].tolist() == [dls.decode(row) for row in x[:3]]
    assert frame["label"].tolist() == [dls.vocab[int(v)] for v in y[:3]]
    assert out[0] == f"[0] {frame['label'][0]}: {frame['text'][0]}"
    assert "xxpad" not in frame["text"][0]


def test_language_model_show_batch_returns_the_following_words(capsys) -> None:
    dls = lm_dls()
    frame = dls.show_batch(max_n=2, ds_idx=1)
    x, y = dls.valid.one_batch()
    assert list(frame.columns) == ["text", "target"] and len(frame) == 2
    assert frame["target"].tolist() == [dls.decode(row) for row in y[:2]]
    assert "-> ..." in capsys.readouterr().out


def test_classifier_show_results_adds_the_models_predictions(capsys) -> None:
    set_seed(0)
    dls = clas_dls(lm_dls())
    learn = text_classifier_learner(
        dls, AWD_LSTM, config=TINY, pretrained=False, show_progress=False
    )
    frame = learn.show_results(max_n=4)
    assert learn.model.training  # the mode is restored
    assert list(frame.columns) == ["text", "label", "prediction"] and len(frame) == 4
    x, y = dls.valid.one_batch()
    probs = learn.get_preds(dl=dls.valid)[0][:4]  # the learner's own prediction path
    assert frame["prediction"].tolist() == [dls.vocab[int(i)] for i in probs.argmax(1)]
    assert frame["label"].tolist() == [dls.vocab[int(v)] for v in y[:4]]
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith(f"[0] {frame['label'][0]}/{frame['prediction'][0]}: ")


def test_language_model_show_results_predicts_next_words() -> None:
    set_seed(0)
    dls = lm_dls()
    learn = language_model_learner(
        dls, AWD_LSTM, config=TINY, pretrained=False, show_progress=False
    )
    frame = learn.show_results(max_n=2)
    assert list(frame.columns) == ["text", "target", "prediction"] and len(frame) == 2
    x = dls.valid.one_batch()[0][:2]
    learn.model.eval()
    learn.model.reset()
    with torch.no_grad():
        expected = learn.model(x).argmax(-1)
    assert frame["prediction"].tolist() == [dls.decode(row) for row in expected]
