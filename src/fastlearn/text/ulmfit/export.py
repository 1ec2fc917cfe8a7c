"""Loading exported text models: the AWD-LSTM builders and `TextPredictor`, which tokenizes
and numericalizes with the saved rules and vocabulary (nothing unpickled, no training code).

    >>> predictor = load_learner("imdb.fl")            # fastlearn.core.export.load_learner
    >>> predictor.predict("What a wonderful film!")    # ('positive', tensor(1), tensor([...]))
    >>> load_learner("lm.fl").generate("The movie", n_words=20)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ...core import model_file as header
from ...core.export import ExportError, LoadLimits, Predictor
from .awd_lstm import LanguageModel, TextClassifier
from .tokenize.detokenize import detokenize
from .tokenize.parallel import tokenize_texts
from .tokenize.rules import FLD, PAD, UNK
from .tokenize.tokenizer import tokenizer_from_state
from .tokenize.word import WordTokenizer
from .vocab import FAKE, Vocab

__all__ = ["TextPredictor", "predictor_from_config", "check_header"]

# The model classes, called with their recorded arguments (see core/export.py).
BUILDERS = {"awd_lstm_lm": LanguageModel, "awd_lstm_classifier": TextClassifier}


_RULES = tuple(f.name for f in dataclasses.fields(WordTokenizer))


def _check_rules(state: Any, path: str) -> None:
    if not isinstance(state, dict):
        raise header.refuse(path, state, "an object")
    for key, value in state.items():
        if key != "type" and (key not in _RULES or not isinstance(value, bool)):
            raise header.refuse(f"{path}.{key}", value, f"a rule of {list(_RULES)}: true or false")


def check_header(config: dict[str, Any], limits: LoadLimits) -> None:
    """Every key the text predictor reads: the tokenizer's settings, a vocabulary of as many
    tokens as the model's embedding (so every id it produces has a row), the truncation."""
    pre = header.section(config, "preprocessing", "preprocessing")
    tok = header.section(pre, "tokenizer", "preprocessing.tokenizer")
    path = "preprocessing.tokenizer"
    if header.choice(tok, "type", f"{path}.type", ("word", "subword")) == "word":
        _check_rules(tok, path)
    else:
        _check_rules(tok.get("rules"), f"{path}.rules")
        header.section(tok, "tokenizer", f"{path}.tokenizer")
    vocab = header.section(pre, "vocab", "preprocessing.vocab")
    itos = header.string_list(vocab, "itos", "preprocessing.vocab.itos")
    header.integer(vocab, "min_freq", "preprocessing.vocab.min_freq")
    header.integer(vocab, "max_vocab", "preprocessing.vocab.max_vocab")
    header.integer(pre, "truncate", "preprocessing.truncate", None, low=1)
    header.flag(pre, "backwards", "preprocessing.backwards", False)
    header.choice(config, "task", "task", ("classification", "language_model"), "classification")
    n_emb = config.get("builder_kwargs", {}).get("vocab_sz")
    if n_emb != len(itos):
        raise ExportError(
            f"The model file's vocabulary (preprocessing.vocab.itos) has "
            f"{len(itos)} tokens but builder_kwargs.vocab_sz is {n_emb!r}: the "
            "model's embedding must have a row for every token. Fix: export "
            "the model again with learn.export()."
        )


class TextPredictor(Predictor):
    """Texts in; a class (classifier) or generated text (language model) out."""

    def __init__(
        self, model: nn.Module, config: dict[str, Any], device: torch.device | str = "cpu"
    ) -> None:
        super().__init__(model, config, device)
        prep = config["preprocessing"]
        try:
            self.tokenizer = tokenizer_from_state(prep["tokenizer"])
        except Exception as e:  # noqa: BLE001 (the tokenizers library raises bare Exception)
            raise ExportError(
                f"The model file's preprocessing.tokenizer can't be rebuilt: "
                f"{type(e).__name__}: {e}. Fix: export the model again."
            ) from e
        try:
            self.text_vocab = Vocab.from_state(prep["vocab"])
        except ValueError as e:
            raise ExportError(
                f"The model file's preprocessing.vocab can't be used: {e} Fix: "
                "export the model again."
            ) from e
        self.truncate = prep.get("truncate")
        self.backwards = prep.get("backwards", False)  # ids reversed, as the model was trained
        self.task = config.get("task", "classification")
        self.pad_idx = self.text_vocab.stoi.get(PAD, 1)

    def example(self) -> str:
        """A one-word text."""
        return "a"

    def check_example(self) -> None:
        """Predict a text (a language model: generate one token) once, at load."""
        if self.task != "language_model":
            return super().check_example()
        with torch.random.fork_rng(devices=[]):
            self._generate(self.example(), 1, 0.75, True)
        return None

    def numericalize(self, texts: Sequence[str]) -> list[torch.Tensor]:
        """Token ids of each text, with the training tokenizer and vocabulary."""
        bad = [type(t).__name__ for t in texts if not isinstance(t, (str, tuple, list))]
        if bad:
            raise TypeError(f"Expected texts (str). Received: {bad[0]}.")
        ids = self.text_vocab.numericalize_batch(tokenize_texts(texts, tokenizer=self.tokenizer))
        return [t.flip(0) for t in ids] if self.backwards else ids

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
        ids = torch.cat([prompt, new])
        tokens = self.text_vocab.decode((ids.flip(0) if self.backwards else ids).tolist())
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
