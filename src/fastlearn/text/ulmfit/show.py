"""Texts of a batch, and a model's predictions on them, printed and returned as a DataFrame.

    >>> dls.show_batch(max_n=3)        # [0] pos: the film ...      -> DataFrame(text, label)
    >>> dls_lm.show_batch(max_n=2)     # [0] the film ... -> ... next   -> (text, target)
    >>> learn.show_results(max_n=3)    # [0] pos/neg: the film ...  -> (text, label, prediction)

Texts are detokenized and cut at `max_chars` (with '…') for the printout; the frame holds the
whole texts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    import pandas as pd

    from ...core.data import DataLoader
    from ...core.learner import Learner
    from .data import TextDataLoaders

__all__ = ["show_text_batch", "show_text_results"]


def _cut(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[:max_chars] + "…"


def _labels(dls: TextDataLoaders, y: Tensor) -> list[str]:
    return [str(dls.vocab[int(v)]) if dls.vocab else str(v.tolist()) for v in y]


def show_text_batch(
    dls: TextDataLoaders, dl: DataLoader, *, max_n: int = 6, max_chars: int = 300
) -> pd.DataFrame:
    """Print `max_n` texts of a batch of `dl` with their labels (a language model: the words
    that follow); returns them as a DataFrame (text, label) or (text, target)."""
    import pandas as pd

    batch = dl.one_batch()
    x = batch[0][:max_n].cpu()
    texts = [dls.decode(row) for row in x]
    if dls.is_lm:
        targets = [dls.decode(row) for row in batch[1][:max_n].cpu()]
        for i, (text, row) in enumerate(zip(texts, batch[1][:max_n].cpu())):
            print(f"[{i}] {_cut(text, max_chars)}\n    -> ... {dls.decode(row[-3:])}")
        return pd.DataFrame({"text": texts, "target": targets})
    labels = _labels(dls, batch[1][:max_n]) if len(batch) > 1 else [""] * len(texts)
    for i, (text, label) in enumerate(zip(texts, labels)):
        print(f"[{i}] {label}: {_cut(text, max_chars)}")
    return pd.DataFrame({"text": texts, "label": labels})


@torch.no_grad()
def _outputs(learn: Learner, x: Tensor) -> Tensor:
    """The model's outputs on `x` in eval mode, the recurrent state reset before and after."""
    from .learner import _reset

    model, was_training = learn.model, learn.model.training
    model.eval()
    _reset(model)
    try:
        return model(x.to(learn.dls.device))
    finally:
        _reset(model)
        model.train(was_training)


def show_text_results(
    learn: Learner, dl: DataLoader, *, max_n: int = 6, max_chars: int = 300
) -> pd.DataFrame:
    """Print `max_n` texts of the first batch of `dl` with their label and the model's
    prediction; returns a DataFrame (text, label, prediction). For a language model: the
    target words and the predicted next words (text, target, prediction)."""
    import pandas as pd

    dls = learn.dls
    batch = dl.one_batch()
    x, y = batch[0][:max_n], batch[1][:max_n].cpu()
    pred = _outputs(learn, x).argmax(-1).cpu()  # (B,) classes, or (B, T) next tokens
    texts = [dls.decode(row) for row in x.cpu()]
    if dls.is_lm:
        targets, preds = [dls.decode(r) for r in y], [dls.decode(r) for r in pred]
        for i, text in enumerate(texts):
            print(
                f"[{i}] {_cut(text, max_chars)}\n    -> ... {dls.decode(y[i, -3:])} "
                f"(predicted: ... {dls.decode(pred[i, -3:])})"
            )
        return pd.DataFrame({"text": texts, "target": targets, "prediction": preds})
    labels, preds = _labels(dls, y), _labels(dls, pred)
    print("[i] label/prediction: text")
    for i, (text, label, p) in enumerate(zip(texts, labels, preds)):
        print(f"[{i}] {label}/{p}: {_cut(text, max_chars)}")
    return pd.DataFrame({"text": texts, "label": labels, "prediction": preds})
