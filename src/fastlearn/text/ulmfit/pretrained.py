"""Pretrained AWD-LSTM weights for a new corpus: fastlearn's own files and fastai's published
WT103 files, with the embeddings mapped to the new vocabulary.

Sources `load_pretrained` accepts:
- a `.fl` file exported from a fastlearn language model (`learn.export`): weights + vocabulary;
- a file written by `learn.save_encoder` (weights + vocabulary, read with weights_only);
- fastai's pair: a `.pth` state dict (`lstm_fwd.pth`) and its vocabulary (`itos_wt103.pkl`),
  as a (weights, vocab) tuple or a folder holding both. The `.pth` is read with
  `torch.load(weights_only=True)`. The `.pkl` vocabulary is read by an unpickler that accepts
  only a plain list of strings and refuses every class or function reference, so it cannot
  run code; a `.json` list (or `Vocab.to_state()`) or a `.txt` file (one token per line)
  works too.

Words of the new vocabulary that the pretrained one lacks get the mean of the pretrained
embeddings (and of the decoder biases), as in ULMFiT.
"""

from __future__ import annotations

import io
import json
import pickle
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "load_pretrained",
    "read_vocab_file",
    "from_fastai_state",
    "match_embeddings",
    "encoder_sizes",
]

Source = str | Path | tuple[str | Path, str | Path]
_FASTAI_RNN = re.compile(
    r"^rnns\.(\d+)\.(?:module\.)?(weight_ih|weight_hh|bias_ih|bias_hh)_l0"
    r"(_raw)?$"
)


class _ListUnpickler(pickle.Unpickler):
    """Unpickles plain containers and strings only: any class or function is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(
            f"The vocabulary pickle refers to {module}.{name}; only a plain list of strings is "
            "read (unpickling objects can run code). Fix: save the vocabulary as a list of str, "
            "or as JSON / text (one token per line)."
        )


def read_vocab_file(path: str | Path) -> list[str]:
    """A token list from a `.pkl` (plain list of str only), `.json` or `.txt` file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No vocabulary file at {path}.")
    if path.suffix == ".json":
        value: Any = json.loads(path.read_text(encoding="utf-8"))
        value = value.get("itos") if isinstance(value, dict) else value
    elif path.suffix in (".pkl", ".pickle"):
        value = _ListUnpickler(io.BytesIO(path.read_bytes())).load()
    else:
        value = path.read_text(encoding="utf-8").split("\n")
        value = value[:-1] if value and value[-1] == "" else value
    if not isinstance(value, (list, tuple)) or not all(isinstance(t, str) for t in value):
        raise ValueError(
            f"Expected {path} to hold a list of tokens (str). Received: {type(value).__name__}."
        )
    return list(value)


def _load_tensors(path: Path) -> dict[str, Tensor]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(
            f"Expected {path} to hold a state dict (names -> tensors). Received: "
            f"{type(state).__name__}."
        )
    return dict(state)


def from_fastai_state(state: dict[str, Tensor]) -> tuple[dict[str, Tensor], Tensor | None]:
    """(AWD_LSTM encoder state dict, decoder bias or None) from fastai's layout (language model
    `0.*`/`1.decoder.*`, classifier `0.module.*`) or from fastlearn's own."""
    enc: dict[str, Tensor] = {}
    for key, value in state.items():
        name = re.sub(r"^(0\.module\.|0\.)", "", key)
        m = _FASTAI_RNN.match(name)
        if name == "encoder.weight":
            enc[name] = value
        elif m and m.group(3):  # WeightDropout's raw hh weight: the trained one
            enc[f"rnns.{m.group(1)}.{m.group(2)}"] = value
        elif m:  # the module's copy of it counts only where no raw weight exists
            enc.setdefault(f"rnns.{m.group(1)}.{m.group(2)}", value)
        elif re.match(r"^rnns\.\d+\.(weight_ih|weight_hh|bias_ih|bias_hh)$", name):
            enc[name] = value
    if "encoder.weight" not in enc:
        raise ValueError(
            f"Expected an AWD-LSTM state dict (with '0.encoder.weight'). Received "
            f"keys: {list(state)[:8]}..."
        )
    return enc, state.get("1.decoder.bias")


def encoder_sizes(enc: dict[str, Tensor]) -> dict[str, int]:
    """emb_sz, n_hid and n_layers of an encoder state dict."""
    n_layers = len({k.split(".")[1] for k in enc if k.startswith("rnns.")})
    if n_layers == 0:
        raise ValueError("Expected LSTM weights (rnns.N.*) in the pretrained state dict.")
    n_hid = enc["rnns.0.weight_hh"].shape[1] if n_layers > 1 else enc["encoder.weight"].shape[1]
    return {"emb_sz": enc["encoder.weight"].shape[1], "n_hid": int(n_hid), "n_layers": n_layers}


def match_embeddings(
    enc: dict[str, Tensor], bias: Tensor | None, old_itos: Sequence[str], new_itos: Sequence[str]
) -> tuple[dict[str, Tensor], Tensor | None]:
    """Embedding rows (and decoder biases) re-ordered for `new_itos`; new words get the mean."""
    old = enc["encoder.weight"]
    if len(old_itos) != old.shape[0]:
        raise ValueError(
            f"The pretrained vocabulary has {len(old_itos)} tokens but the "
            f"embedding {old.shape[0]} rows. Fix: pass the vocabulary file that "
            "belongs to these weights."
        )
    index = {t: i for i, t in enumerate(old_itos)}
    src = torch.tensor([index.get(t, -1) for t in new_itos], dtype=torch.long)
    known = src >= 0
    weights = old.mean(0).expand(len(new_itos), -1).clone()
    weights[known] = old[src[known]]
    new_bias = None
    if bias is not None:
        new_bias = bias.mean().expand(len(new_itos)).clone()
        new_bias[known] = bias[src[known]]
    return {**enc, "encoder.weight": weights}, new_bias


def _find_pair(folder: Path) -> tuple[Path, Path]:
    weights = sorted(folder.glob("*.pth"))
    vocabs = sorted([*folder.glob("*.pkl"), *folder.glob("*.json"), *folder.glob("*.txt")])
    if len(weights) != 1 or len(vocabs) != 1:
        raise ValueError(
            f"Expected one .pth weights file and one vocabulary file (.pkl, .json "
            f"or .txt) in {folder}. Received: {[p.name for p in weights + vocabs]}."
        )
    return weights[0], vocabs[0]


def _read_source(source: Source) -> tuple[dict[str, Tensor], list[str]]:
    """(state dict, vocabulary) of any accepted source."""
    if isinstance(source, (tuple, list)):
        weights, vocab = (Path(p) for p in source)
        return _load_tensors(weights), read_vocab_file(vocab)
    path = Path(source)
    if path.is_dir():
        weights, vocab = _find_pair(path)
        return _load_tensors(weights), read_vocab_file(vocab)
    if path.suffix == ".fl":
        from ...core.export import read_model_file

        config, tensors = read_model_file(path)
        if config.get("builder") not in ("awd_lstm_lm", "awd_lstm_classifier"):
            raise ValueError(
                f"Expected an exported AWD-LSTM model in {path}. Received: "
                f"builder {config.get('builder')!r}."
            )
        return tensors, list(config["preprocessing"]["vocab"]["itos"])
    if not path.is_file():
        raise FileNotFoundError(f"No pretrained weights at {path}.")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "encoder" in state and "itos" in state:  # save_encoder's file
        return {f"0.{k}": v for k, v in state["encoder"].items()}, list(state["itos"])
    raise ValueError(
        f"{path} holds weights without a vocabulary. Fix: pass (weights, vocab) "
        "with the vocabulary file, or a file from learn.export / save_encoder."
    )


def load_pretrained(
    source: Source, new_itos: Sequence[str]
) -> tuple[dict[str, Tensor], Tensor | None, dict[str, int]]:
    """(encoder state dict mapped to `new_itos`, decoder bias or None, sizes) from `source`."""
    state, old_itos = _read_source(source)
    enc, bias = from_fastai_state(state)
    enc, bias = match_embeddings(enc, bias, old_itos, new_itos)
    return enc, bias, encoder_sizes(enc)
