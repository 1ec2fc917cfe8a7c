"""A predictor's answers as JSON: labels with probabilities, values, boxes, errors.

Shared by the web app (`fastlearn.serve`) and `fastlearn predict`; needs only torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .inputs import Row

__all__ = ["MIN_BOX_SCORE", "fault_message", "jsonable", "format_result"]

_MAX_LIST = 4096  # tensors larger than this are summarised in JSON answers, not listed
MIN_BOX_SCORE = 0.3  # boxes answered and drawn (a detector's predict gives all from 0.05)


def fault_message(e: Exception) -> str:
    """A predictor's error as one line: a KeyError's message without repr quotes."""
    text = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
    return f"{type(e).__name__}: {text[:500]}"


def jsonable(x: Any) -> Any:
    """Plain JSON values: tensors as lists (large ones summarised), NaN/inf as null."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.numel() > _MAX_LIST:
            return {"shape": list(x.shape), "dtype": str(x.dtype).replace("torch.", "")}
        return jsonable(x.tolist())
    if hasattr(x, "tolist") and not isinstance(x, (str, bytes)):  # numpy arrays and scalars
        return jsonable(x.tolist())
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    return str(x)


def _detections(result: Sequence[Any]) -> dict[str, Any]:
    """A detector's (boxes, labels, scores) as JSON: the boxes scoring MIN_BOX_SCORE or more."""
    boxes, labels, scores = result
    boxes, scores = torch.as_tensor(boxes).float(), torch.as_tensor(scores).float()
    if not bool(torch.isfinite(boxes).all() and torch.isfinite(scores).all()):
        raise ValueError(
            "The model's output holds NaN or infinite values for this input. No answer was made up."
        )
    kept = [
        {
            "label": jsonable(lab),
            "score": round(float(s), 4),
            "box": [round(float(v), 1) for v in b],
        }
        for b, lab, s in zip(boxes.tolist(), labels, scores.tolist())
        if s >= MIN_BOX_SCORE
    ]
    return {"label": [k["label"] for k in kept], "boxes": kept}


def format_result(
    result: Sequence[Any],
    config: Mapping[str, Any],
    vocab: Sequence[Any] | None,
    top_k: int = 5,
    *,
    item: Any = None,
) -> dict[str, Any]:
    """One prediction as JSON: the label and the top classes with their probabilities.

    Classifiers (softmax or sigmoid outputs with a vocabulary) give `top`; other models
    (regression, segmentation, no vocabulary) give their output as `value`. A tabular `item`
    (a `Row`) that held columns the model does not take lists them as `ignored`. Detectors
    give `boxes` ({label, score, box: [x0, y0, x1, y1] in pixels}) scoring at least
    `MIN_BOX_SCORE`, best first, and their labels as `label`.
    """
    if config.get("task") == "detection":
        return _detections(result)
    label, _, probs = result
    out: dict[str, Any] = {"label": jsonable(label)}
    probs = torch.as_tensor(probs).detach().float().cpu()
    if not bool(torch.isfinite(probs).all()):
        raise ValueError(
            "The model's output holds NaN or infinite values for this input "
            "(values far outside the training data?). No answer was made up."
        )
    act = config.get("activation", "none")
    if (
        act in ("softmax", "sigmoid")
        and probs.ndim == 1
        and vocab is not None
        and len(vocab) == probs.numel()
    ):
        values, idx = probs.topk(min(top_k, probs.numel()))
        out["top"] = [
            {"label": jsonable(vocab[i]), "probability": round(float(v), 6)}
            for v, i in zip(values.tolist(), idx.tolist())
        ]
    else:
        out["value"] = jsonable(probs)
    if isinstance(item, Row) and item.ignored:
        out["ignored"] = item.ignored
    return out
