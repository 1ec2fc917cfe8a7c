"""ULMFiT learners: `language_model_learner` (AWD-LSTM LM, text generation, encoder saving)
and `text_classifier_learner` (the encoder + concat-pooling head, gradual unfreezing).

    >>> learn = language_model_learner(dls_lm, AWD_LSTM, drop_mult=0.3, pretrained=path)
    >>> learn.fit_one_cycle(1, 2e-2)                   # embeddings and decoder only (frozen)
    >>> learn.unfreeze(); learn.fit_one_cycle(10, 2e-3)
    >>> learn.predict("I liked this movie because", n_words=40, temperature=0.75)
    >>> learn.save_encoder("finetuned")
    >>> clas = text_classifier_learner(dls_clas, AWD_LSTM, drop_mult=0.5, metrics=accuracy)
    >>> clas.load_encoder("finetuned")
    >>> clas.fit_one_cycle(1, 2e-2)
    >>> clas.freeze_to(-2); clas.fit_one_cycle(1, slice(1e-2 / (2.6**4), 1e-2))
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...core.callback import Callback
from ...core.io import atomic_save
from ...core.learner import Learner
from ...core.losses import CrossEntropyLossFlat
from ...core.metrics import Perplexity, accuracy
from .awd_lstm import (
    AWD_LSTM,
    LanguageModel,
    LinearDecoder,
    TextClassifier,
    awd_lstm_clas_config,
    awd_lstm_lm_config,
)
from .data import TextDataLoaders
from .pretrained import Source, load_pretrained
from .tokenize.rules import FLD, PAD, UNK
from .vocab import FAKE

__all__ = [
    "LMLearner",
    "TextClassifierLearner",
    "language_model_learner",
    "text_classifier_learner",
    "ModelResetterCallback",
    "RNNRegularizerCallback",
    "lm_splitter",
    "classifier_splitter",
]

Params = list[nn.Parameter]


class ModelResetterCallback(Callback):
    """Resets the recurrent state before training, before validation and after the fit."""

    def before_train(self, learn: Learner) -> None:
        _reset(learn.model)

    def before_validate(self, learn: Learner) -> None:
        _reset(learn.model)

    def after_fit(self, learn: Learner) -> None:
        _reset(learn.model)


class RNNRegularizerCallback(Callback):
    """AR and TAR (Merity et al.): adds alpha * mean(dropped output^2) and
    beta * mean((h_t - h_{t-1})^2) of the last LSTM layer to the training loss."""

    run_valid = False

    def __init__(self, alpha: float = 2.0, beta: float = 1.0) -> None:
        self.alpha, self.beta = alpha, beta

    def after_loss(self, learn: Learner) -> None:
        decoder = next((m for m in learn.model.modules() if isinstance(m, LinearDecoder)), None)
        if decoder is None or decoder.raw_output is None or learn.loss_grad is None:
            return
        raw, dropped = decoder.raw_output, decoder.dropped_output  # (B, T, emb_sz)
        extra = self.alpha * dropped.float().pow(2).mean()
        if raw.shape[1] > 1:
            extra = extra + self.beta * (raw[:, 1:] - raw[:, :-1]).float().pow(2).mean()
        learn.loss_grad = learn.loss_grad + extra
        decoder.raw_output = decoder.dropped_output = None  # no graph kept past the step


def _reset(model: nn.Module) -> None:
    model = getattr(model, "module", model)  # DistributedDataParallel
    if hasattr(model, "reset"):
        model.reset()


def _unique(params: Sequence[nn.Parameter], taken: set[int]) -> Params:
    out = []
    for p in params:
        if id(p) not in taken:
            taken.add(id(p))
            out.append(p)
    return out


def lm_splitter(model: LanguageModel) -> list[Params]:
    """One group per LSTM, then embedding + decoder (the tied weight counted once)."""
    encoder, decoder = model[0], model[1]
    groups = [list(rnn.parameters()) for rnn in encoder.rnns]
    taken = {id(p) for g in groups for p in g}
    return groups + [_unique([*encoder.encoder.parameters(), *decoder.parameters()], taken)]


def classifier_splitter(model: TextClassifier) -> list[Params]:
    """Embedding, one group per LSTM, then the head: freeze_to(-2) trains the last LSTM + head."""
    encoder = model[0].module
    return (
        [list(encoder.encoder.parameters())]
        + [list(r.parameters()) for r in encoder.rnns]
        + [list(model[1].parameters())]
    )


def _check_dls(dls: Any, is_lm: bool) -> None:
    if not isinstance(dls, TextDataLoaders) or dls.is_lm != is_lm:
        kind = "a language model's (is_lm=True)" if is_lm else "a classifier's (with labels)"
        raise TypeError(
            f"Expected TextDataLoaders for {kind}. Received: {type(dls).__name__}"
            f"{'' if not isinstance(dls, TextDataLoaders) else f' is_lm={dls.is_lm}'}"
            ". Fix: build them with TextDataLoaders.from_df(...)."
        )


def _check_arch(arch: Any) -> None:
    if arch is not AWD_LSTM:
        raise ValueError(
            f"Expected arch=AWD_LSTM (the only recurrent architecture here). "
            f"Received: {arch!r}. For transformers see fastlearn.text.transformers_learner."
        )


class _TextLearner(Learner):
    """What both text learners share: the vocabulary, the tokenizer, encoder file reading."""

    dls: TextDataLoaders

    def _encoder_file(self, name: str | Path) -> Path:
        return self._model_path(name)

    def _apply_encoder(self, encoder: AWD_LSTM, source: Source) -> None:
        """Load pretrained encoder weights from `source`, mapped to this vocabulary."""
        enc, _, sizes = load_pretrained(source, self.dls.text_vocab.itos)
        _check_sizes(encoder, sizes)
        encoder.load_state_dict(enc)

    def show_results(
        self, max_n: int = 6, *, ds_idx: int = 1, dl: Any = None, max_chars: int = 300
    ) -> Any:
        """Print `max_n` validation texts with label and prediction (a language model: the
        next words and the predicted ones); returns a DataFrame (see `text.show`)."""
        from .show import show_text_results

        dl = dl if dl is not None else self.dls[ds_idx]
        return show_text_results(self, dl, max_n=max_n, max_chars=max_chars)


def _check_sizes(encoder: AWD_LSTM, sizes: dict[str, int]) -> None:
    mine = {"emb_sz": encoder.emb_sz, "n_hid": encoder.n_hid, "n_layers": encoder.n_layers}
    if sizes["n_layers"] == 1:
        mine.pop("n_hid"), sizes.pop("n_hid")
    if mine != sizes:
        raise ValueError(
            f"The pretrained encoder has sizes {sizes}; this model {mine}. Fix: "
            "build the learner with config= matching them (or leave config=None "
            "with pretrained=, which takes the pretrained sizes)."
        )


class LMLearner(_TextLearner):
    """A Learner for an AWD-LSTM language model: generation and encoder saving."""

    def predict(
        self, text: str, n_words: int = 40, temperature: float = 0.75, *, no_unk: bool = True
    ) -> str:
        """`text` followed by `n_words` sampled tokens, detokenized (temperature 0: greedy).

        >>> learn.predict("I liked this movie because", n_words=40, temperature=0.75)
        """
        if not isinstance(text, str):
            raise TypeError(f"Expected a str prompt. Received: {type(text).__name__}.")
        vocab = self.dls.text_vocab
        prompt = self.dls.numericalize([text])[0].to(self.dls.device)
        banned = [
            vocab.stoi[t]
            for t in vocab.itos
            if t == PAD or t.startswith(FAKE) or (no_unk and t == UNK) or t == FLD
        ]
        new, _ = self.model.generate(prompt, n_words, temperature, banned)
        return self.dls.decode(torch.cat([prompt, new]).tolist())

    def save_encoder(self, name: str | Path) -> Path:
        """Save the encoder (embedding + LSTMs) and its vocabulary; returns the path."""
        state = {"encoder": self.model[0].state_dict(), "itos": list(self.dls.text_vocab.itos)}
        return atomic_save(state, self._encoder_file(name))

    def export_config(self) -> dict[str, Any]:
        """Builder, arguments, tokenizer and vocabulary as plain JSON (for `export`)."""
        return {
            "application": "text",
            "task": "language_model",
            "builder": "awd_lstm_lm",
            "builder_kwargs": dict(self.model.config),
            "vocab": None,
            "inputs": {"kind": "text"},
            "preprocessing": _preprocessing(self.dls),
        }


class TextClassifierLearner(_TextLearner):
    """A Learner for the ULMFiT classifier; `load_encoder` takes a fine-tuned LM's encoder."""

    def load_encoder(self, name: str | Path) -> TextClassifierLearner:
        """Load an encoder saved by `save_encoder` (or any `load_pretrained` source), mapping
        the vocabulary if it differs, then freeze all but the head."""
        path = self._encoder_file(name) if not isinstance(name, (tuple, list)) else name
        if isinstance(path, Path) and not path.exists():
            raise FileNotFoundError(
                f"No encoder file at {path}. Fix: the name given to "
                "save_encoder (files are under path/models)."
            )
        self._apply_encoder(self.model[0].module, path)
        self.freeze()
        return self

    def export_config(self) -> dict[str, Any]:
        """Builder, arguments, tokenizer, vocabulary and classes as plain JSON (for `export`)."""
        return {
            "application": "text",
            "task": "classification",
            "builder": "awd_lstm_classifier",
            "builder_kwargs": dict(self.model.config),
            "inputs": {"kind": "text"},
            "preprocessing": _preprocessing(self.dls),
        }


def _preprocessing(dls: TextDataLoaders) -> dict[str, Any]:
    return {
        "tokenizer": dls.tokenizer.to_state(),
        "vocab": dls.text_vocab.to_state(),
        "truncate": getattr(dls.train, "truncate", None),
        "backwards": bool(dls.backwards),
    }


def language_model_learner(
    dls: TextDataLoaders,
    arch: type = AWD_LSTM,
    *,
    config: dict[str, Any] | None = None,
    drop_mult: float = 0.3,
    pretrained: bool | Source = True,
    metrics: Any = None,
    alpha: float = 2.0,
    beta: float = 1.0,
    cbs: Any = None,
    **kwargs: Any,
) -> LMLearner:
    """An AWD-LSTM language model on `dls` (from `TextDataLoaders(..., is_lm=True)`).

    `pretrained`: True (the default, as the course) for fastai's WT103 weights via
    `untar_data(URLs.WT103_FWD)`, a source for `load_pretrained` (an exported fastlearn LM
    `.fl`, a `save_encoder` file, fastai's (weights.pth, vocab.pkl) or a folder holding them),
    or False. The model then takes the pretrained sizes, its embeddings are mapped to `dls`'
    vocabulary, and it starts frozen (embeddings and decoder train). Where WT103 can't be had
    (offline, or `config` sizes that differ from its own) a UserWarning says so and the model
    trains from scratch. `config` overrides `awd_lstm_lm_config` (see
    `awd_lstm_small_config` for CPUs); `alpha`/`beta` weigh AR/TAR.
    """
    _check_dls(dls, is_lm=True)
    _check_arch(arch)
    enc, bias, sizes = None, None, {}
    source = _pretrained_source(pretrained, config, "language_model_learner")
    if source is not None:
        enc, bias, sizes = load_pretrained(source, dls.text_vocab.itos)
    model = LanguageModel(
        len(dls.text_vocab),
        _model_config(awd_lstm_lm_config, config, sizes, dls.pad_idx),
        drop_mult,
    )
    if enc is not None:
        model[0].load_state_dict(enc)
        if bias is not None:
            with torch.no_grad():
                model[1].decoder.bias.copy_(bias)
    metrics = [accuracy, Perplexity()] if metrics is None else metrics
    kwargs.setdefault("path", dls.path)
    learn = LMLearner(
        dls,
        model,
        loss_func=CrossEntropyLossFlat(),
        splitter=lm_splitter,
        metrics=metrics,
        cbs=[ModelResetterCallback(), RNNRegularizerCallback(alpha, beta), *_list(cbs)],
        **kwargs,
    )
    if enc is not None:
        learn.freeze()
    return learn


def text_classifier_learner(
    dls: TextDataLoaders,
    arch: type = AWD_LSTM,
    *,
    config: dict[str, Any] | None = None,
    drop_mult: float = 0.5,
    pretrained: bool | Source = True,
    lin_ftrs: Sequence[int] = (50,),
    ps: Sequence[float] | None = None,
    max_len: int | None = 72 * 20,
    metrics: Any = accuracy,
    **kwargs: Any,
) -> TextClassifierLearner:
    """The ULMFiT classifier on `dls` (a labelled TextDataLoaders): the AWD-LSTM encoder run
    over each text in chunks of `dls.seq_len`, then concat pooling over the last `max_len`
    tokens and a `lin_ftrs` head. The encoder starts from WT103 (`pretrained=True`, the
    default; a warning and random weights where it can't be had, see `language_model_learner`)
    or any `load_pretrained` source; load a fine-tuned LM's encoder with `load_encoder`. With
    pretrained weights the learner is frozen but for the head. `config` must give the LM's
    sizes (e.g. `awd_lstm_small_config`) when its encoder is loaded.
    """
    _check_dls(dls, is_lm=False)
    _check_arch(arch)
    enc, sizes = None, {}
    source = _pretrained_source(pretrained, config, "text_classifier_learner")
    if source is not None:
        enc, _, sizes = load_pretrained(source, dls.text_vocab.itos)
    full = _model_config(awd_lstm_clas_config, config, sizes, dls.pad_idx)
    model = TextClassifier(
        len(dls.text_vocab), len(dls.vocab), full, drop_mult, lin_ftrs, ps, dls.seq_len, max_len
    )
    if enc is not None:
        model[0].module.load_state_dict(enc)
    kwargs.setdefault("path", dls.path)
    learn = TextClassifierLearner(
        dls,
        model,
        loss_func=CrossEntropyLossFlat(),
        splitter=classifier_splitter,
        metrics=metrics,
        **kwargs,
    )
    if enc is not None:
        learn.freeze()
    return learn


def _model_config(
    base: dict[str, Any], config: dict[str, Any] | None, sizes: dict[str, int], pad_idx: int
) -> dict[str, Any]:
    """Defaults, then the user's config, then the pretrained sizes (a clash is an error)."""
    merged = {**base, **(config or {})}
    clash = {
        k: (merged[k], v) for k, v in sizes.items() if config and k in config and config[k] != v
    }
    if clash:
        raise ValueError(
            f"config sizes differ from the pretrained weights' (config, weights): "
            f"{clash}. Fix: drop them from config; the pretrained sizes are used."
        )
    return {**merged, **sizes, "pad_token": pad_idx}


# The sizes of fastai's WT103 encoder (those of the default AWD-LSTM config).
_WT103_SIZES = {k: awd_lstm_lm_config[k] for k in ("emb_sz", "n_hid", "n_layers")}


def _pretrained_source(
    pretrained: bool | Source | None, config: dict[str, Any] | None, who: str
) -> Source | None:
    """What to load: `pretrained` itself, WT103's folder for True, or None (from scratch).
    Where True can't be had, a UserWarning says why and what to do."""
    if pretrained is None or pretrained is False:
        return None
    if pretrained is not True:
        return pretrained
    clash = {k: v for k, v in (config or {}).items() if _WT103_SIZES.get(k, v) != v}
    reason = f"config sets {clash}, not the WT103 encoder's sizes {_WT103_SIZES}" if clash else None
    folder = None
    if reason is None:
        folder, reason = _wt103_folder()
    if folder is None:
        warnings.warn(
            f"{who}: pretrained=True, but fastai's WT103 encoder can't be used ({reason}); the "
            "model starts from random weights, which needs far more data and epochs. Fix: pass "
            "pretrained= a local copy (fastai's (lstm_fwd.pth, itos_wt103.pkl) or their "
            "folder, a save_encoder file or an exported .fl: see "
            "fastlearn.text.load_pretrained), or put wt103-fwd.tgz in "
            "FASTLEARN_DATA_MIRROR; pretrained=False silences this warning.",
            UserWarning,
            stacklevel=3,
        )
    return folder


def _wt103_folder() -> tuple[Path | None, str]:
    """(WT103's extracted folder, "") or (None, why not), failing at once when offline."""
    from ...core.download import URLs, fastlearn_home, untar_data
    from ...core.network import unreachable

    name = URLs.WT103_FWD.rsplit("/", 1)[-1]  # wt103-fwd.tgz
    home = fastlearn_home()
    local = (
        (home / "data" / name.removesuffix(".tgz")).is_dir()
        or (home / "archive" / name).is_file()
        or os.environ.get("FASTLEARN_DATA_MIRROR")
    )
    reason = None if local else unreachable(URLs.WT103_FWD)
    if reason is not None:
        return None, f"offline: {reason}"
    try:
        return untar_data(URLs.WT103_FWD), ""
    except OSError as e:  # DownloadError and the archive's own errors
        return None, str(e)


def _list(x: Any) -> list[Any]:
    return [] if x is None else list(x) if isinstance(x, (list, tuple)) else [x]
