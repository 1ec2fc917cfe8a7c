"""k*bs + 1 training rows: the last training batch would hold one item, which BatchNorm can't
train on. Every training loader drops it (shuffled: a different item each epoch); validation
keeps every item."""

from __future__ import annotations

from fastlearn import set_seed

from ..text.helpers import TINY, clas_dls, corpus, lm_dls


def test_the_text_classifier_trains_on_k_bs_plus_one_rows():
    from fastlearn.text import AWD_LSTM, text_classifier_learner

    df = corpus(22)  # every fifth row is validation: 17 = 2 * 8 + 1 training rows
    dls = clas_dls(lm_dls(df), df)
    assert len(dls.train.dataset) == 17 and dls.train.bs == 8
    sizes = [len(yb) for _, yb in dls.train]
    assert sizes == [8, 8] and len(dls.train) == 2
    assert sum(len(yb) for _, yb in dls.valid) == 5  # validation loses nothing
    set_seed(0)
    learn = text_classifier_learner(
        dls, AWD_LSTM, config=TINY, pretrained=False, show_progress=False
    )
    learn.fit(2, 1e-2)  # a batch of one: "Expected more than 1 value per channel"
    assert len(learn.recorder.history) == 2
    again = dls.train.new(bs=4)  # 17 = 4 * 4 + 1: the rule follows the batch size
    assert [len(yb) for _, yb in again] == [4] * 4
