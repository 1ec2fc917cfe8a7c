"""The ULMFiT classifier as one pure tensor function, for ONNX export (`learn.to_onnx()`).

`SentenceEncoder` reads each text in chunks and skips the rows and chunks it holds nothing
of: Python control flow on tensor values, which a traced graph can't record (the trace keeps
one input's choices, and onnxruntime rejects the graph). `TraceableTextClassifier` computes
the same logits in one pass: each text moved to the start of its row, as the encoder does, the
AWD-LSTM run over the whole batch from a zero state, the positions outside each text's last
`max_len` tokens masked and zeroed (as the encoder leaves them) before the pooling head. In
eval mode the two agree to float rounding at any batch size, length and padding.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ...core.export import ExportError
from .awd_lstm import LanguageModel, TextClassifier, _right_align

__all__ = ["TraceableTextClassifier", "traceable_model"]


class TraceableTextClassifier(nn.Module):
    """A TextClassifier's forward without data-dependent control flow (its modules, shared)."""

    def __init__(self, model: TextClassifier) -> None:
        super().__init__()
        self.encoder, self.head = model[0], model[1]

    def forward(self, ids: Tensor) -> Tensor:
        """ids (B, L) padded at the start -> logits (B, n_class)."""
        encoder, lstm = self.encoder, self.encoder.module
        aligned, lengths = _right_align(ids, encoder.pad_idx)  # (B, L): text first, then pads
        out, _ = lstm.forward_state(aligned, lstm.zero_hidden(ids.shape[0]))  # (B, L, emb_sz)
        pos = torch.arange(ids.shape[1], device=ids.device)
        mask = pos < lengths[:, None]  # (B, L): the text's tokens
        if encoder.max_len is not None:
            mask = mask & (pos >= (lengths - encoder.max_len)[:, None])
        return self.head((out * mask[:, :, None], mask))


def traceable_model(
    model: nn.Module, config: dict[str, Any]
) -> tuple[nn.Module, dict[str, dict[int, str]]]:
    """The module to export for a text model, and the dynamic axes of its input and output:
    ids (batch, sequence) -> logits (batch, classes)."""
    if isinstance(model, TextClassifier):
        axes = {"input_0": {0: "batch", 1: "sequence"}, "output": {0: "batch"}}
        return TraceableTextClassifier(model), axes
    what = (
        "a language model, whose forward carries its hidden state from call to call"
        if isinstance(model, LanguageModel)
        else f"a {type(model).__name__}"
    )
    raise ExportError(
        f"ONNX export of a ULMFiT model takes the classifier (text_classifier_learner: token "
        f"ids in, class logits out). Received: {what}. Fix: export the classifier; keep a "
        "language model in PyTorch (learn.export, learn.save_encoder)."
    )
