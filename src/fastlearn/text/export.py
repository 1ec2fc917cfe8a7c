"""Loading exported text models: the AWD-LSTM builders and `TextPredictor`, which tokenizes
and numericalizes with the saved rules and vocabulary (nothing unpickled, no training code).

    >>> predictor = load_learner("imdb.fl")            # fastlearn.core.export.load_learner
    >>> predictor.predict("What a wonderful film!")    # ('positive', tensor(1), tensor([...]))
    >>> load_learner("lm.fl").generate("The movie", n_words=20)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..core.export import Predictor, register_builder
from .models.awd_lstm import LanguageModel, TextClassifier
from .tokenize import FLD, PAD, UNK, detokenize, tokenize_texts, tokenizer_from_state
from .vocab import FAKE, Vocab

__all__ = ["TextPredictor", "predictor_from_config"]

register_builder("awd_lstm_lm", LanguageModel)
register_builder("awd_lstm_classifier", TextClassifier)


class TextPredictor(Predictor):
    """Texts in; a class (classifier) or generated text (language model) out."""

    def __init__(
        self, model: nn.Module, config: dict[str, Any], device: torch.device | str = "cpu"
    ) -> None:
        super().__init__(model, config, device)
        prep = config["preprocessing"]
        self.tokenizer = tokenizer_from_state(prep["tokenizer"])
        self.text_vocab = Vocab.from_state(prep["vocab"])
        self.truncate = prep.get("truncate")
        self.task = config.get("task", "classification")
        self.pad_idx = self.text_vocab.stoi.get(PAD, 1)

    def numericalize(self, texts: Sequence[str]) -> list[torch.Tensor]:
        """Token ids of each text, with the training tokenizer and vocabulary."""
        bad = [type(t).__name__ for t in texts if not isinstance(t, (str, tuple, list))]
        if bad:
            raise TypeError(f"Expected texts (str). Received: {bad[0]}.")
        return self.text_vocab.numericalize_batch(tokenize_texts(texts, tokenizer=self.tokenizer))

    def preprocess(self, items: Sequence[Any]) -> tuple[torch.Tensor, ...]:
        """Texts -> one batch of ids (B, longest), padded at the start, truncated as in training."""
        ids = [t[: self.truncate] for t in self.numericalize(list(items))]
        x = torch.full((len(ids), max(1, max(len(t) for t in ids))), self.pad_idx)
        for row, t in enumerate(ids):
            if len(t):
                x[row, x.shape[1] - len(t) :] = t
        return (x.to(self.device),)

    def generate(
        self, text: str, n_words: int = 40, temperature: float = 0.75, *, no_unk: bool = True
    ) -> str:
        """`text` followed by `n_words` sampled tokens (a language model only)."""
        if self.task != "language_model":
            raise ValueError(
                "generate() needs an exported language model. Received: a "
                f"{self.task} model. Fix: use predict(text)."
            )
        new, _ = self._generate(text, n_words, temperature, no_unk)
        return new

    def _generate(
        self, text: str, n_words: int, temperature: float, no_unk: bool
    ) -> tuple[str, torch.Tensor]:
        prompt = self.numericalize([text])[0].to(self.device)
        itos = self.text_vocab.itos
        banned = [
            i
            for i, t in enumerate(itos)
            if t in (PAD, FLD) or t.startswith(FAKE) or (no_unk and t == UNK)
        ]
        new, probs = self.model.generate(prompt, n_words, temperature, banned)
        tokens = self.text_vocab.decode(torch.cat([prompt, new]).tolist())
        detok = getattr(self.tokenizer, "detokenize", None)
        return (detok(tokens) if detok is not None else detokenize(tokens)), probs.cpu()

    def predict_batch(self, items: Sequence[Any]) -> list[tuple[Any, Any, torch.Tensor]]:
        """Classifier: (label, class index, probabilities) per text. Language model: (text
        with 40 generated tokens, the next token's id, its probabilities) per prompt."""
        if self.task != "language_model":
            return super().predict_batch(items)
        out = []
        for text in items:
            generated, probs = self._generate(text, 40, 0.75, True)
            out.append((generated, probs.argmax(), probs))
        return out


def predictor_from_config(
    config: dict[str, Any], model: nn.Module, device: torch.device
) -> TextPredictor:
    """The text application's predictor (called by `load_learner`)."""
    return TextPredictor(model, config, device)
