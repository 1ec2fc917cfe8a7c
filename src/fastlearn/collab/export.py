"""Collab models in the safe export format: builders by name and a predictor for pairs.

>>> learn.export("movies.fl")
>>> predictor = load_learner("movies.fl")  # no training code, nothing unpickled
>>> rating, _, _ = predictor.predict((196, "Star Wars (1977)"))

The file holds the id vocabularies (users and items in index order), so the predictor takes
raw ids, as `learn.predict` does, and names an unknown id in its error. Its model keeps the
vocabulary too: `predictor.model.bias("Titanic (1997)")` works as on the learner's model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..core import model_file as header
from ..core.export import ExportError, LoadLimits, Predictor
from .models import COLLAB_MODELS
from .vocab import CollabVocab, unzip_pairs

__all__ = ["CollabPredictor", "predictor_from_config", "check_header"]

# Each class, called with `model.config()`, rebuilds it (see core/export.py).
BUILDERS = dict(COLLAB_MODELS)


def check_header(config: dict[str, Any], limits: LoadLimits) -> None:
    """The column names and id lists, as long as the model's user and item embeddings."""
    pre = header.section(config, "preprocessing", "preprocessing")
    for key in ("user_name", "item_name", "rating_name"):
        header.text(pre, key, f"preprocessing.{key}")
    kwargs = config.get("builder_kwargs", {})
    for key, n_key in (("users", "n_users"), ("items", "n_items")):
        ids = pre.get(key)
        if not (
            isinstance(ids, list) and ids and all(isinstance(i, (str, int, float)) for i in ids)
        ):
            raise header.refuse(f"preprocessing.{key}", ids, "a non-empty list of ids")
        if config["builder"] in COLLAB_MODELS and kwargs.get(n_key) != len(ids):
            raise ExportError(
                f"The model file lists {len(ids)} {key} (preprocessing.{key}) "
                f"but builder_kwargs.{n_key} is {kwargs.get(n_key)!r}: the "
                "model needs an embedding row for each. Fix: export the model "
                "again with learn.export()."
            )


class CollabPredictor(Predictor):
    """An exported collab model: `predict((user, item))` -> (rating, rating tensor, same)."""

    def __init__(
        self, model: nn.Module, config: dict[str, Any], device: torch.device | str = "cpu"
    ) -> None:
        super().__init__(model, config, device)
        try:
            self.collab_vocab = CollabVocab.from_state(config["preprocessing"])
        except ValueError as e:  # duplicate ids
            raise ExportError(
                f"The model file's preprocessing can't be rebuilt: {e} Fix: export the model again."
            ) from e
        model.vocab = self.collab_vocab

    def preprocess(self, items: Sequence[Any]) -> tuple[torch.Tensor, ...]:
        """(user, item) pairs (tuples, or mappings with 'user' and 'item') -> x (N, 2)."""
        v = self.collab_vocab
        pairs = [_as_pair(it, v) for it in items]
        x, _, _ = v.encode_pairs(*unzip_pairs(pairs))
        return (x.to(self.device),)

    def example(self) -> tuple[Any, Any]:
        """The first user and the first item."""
        return self.collab_vocab.users.ids[0], self.collab_vocab.items.ids[0]

    def decode(self, probs: torch.Tensor) -> tuple[Any, Any]:
        """(the rating as a float, the rating tensor)."""
        return float(probs), probs


def _as_pair(item: Any, vocab: CollabVocab) -> Any:
    if hasattr(item, "to_dict") and not hasattr(item, "columns"):  # a pandas row
        item = item.to_dict()
    if isinstance(item, Mapping):
        keys = [("user", vocab.user_name), ("item", vocab.item_name)]
        found = [next((item[k] for k in ks if k in item), None) for ks in keys]
        if any(f is None for f in found):
            raise KeyError(
                f"Expected a mapping with 'user' and 'item'. Received keys: "
                f"{sorted(map(str, item))[:10]}."
            )
        return tuple(found)
    return item


def predictor_from_config(
    config: dict[str, Any], model: nn.Module, device: torch.device
) -> CollabPredictor:
    """The predictor `load_learner` returns for a collab file."""
    return CollabPredictor(model, config, device)
