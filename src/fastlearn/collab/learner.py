"""The collab learner: training, ratings for (user, item) pairs, and interpretation.

>>> learn = collab_learner(dls, n_factors=50, y_range=(0, 5.5))
>>> learn.fit_one_cycle(5, 5e-3, wd=0.1)
>>> learn.predict((196, "Star Wars (1977)"))     # tensor(4.3...)
>>> learn.items_by_bias(5, highest=True)          # [(title, bias), ...]
>>> learn.most_similar("Star Wars (1977)", 5)     # [(title, cosine), ...]
>>> learn.recommend(196, 5)                       # [(title, predicted rating), ...]
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..core.learner import Learner
from ..core.losses import MSELossFlat
from .data import CollabDataLoaders
from .interpret import pca, plot_pca_labels
from .models import CollabModel, EmbeddingDotBias, EmbeddingNN, _check_y_range
from .vocab import CollabVocab, unzip_pairs

__all__ = ["CollabLearner", "collab_learner"]

Ranked = list[tuple[Any, float]]


class CollabLearner(Learner):
    """A Learner over ratings. `predict` takes (user, item) pairs and returns ratings; the
    interpretation methods take raw ids (or titles) and return (id, value) lists."""

    @property
    def collab_vocab(self) -> CollabVocab:
        """The users' and items' id maps (the model's, else the DataLoaders')."""
        vocab = getattr(self.model, "vocab", None) or getattr(self.dls, "collab_vocab", None)
        if vocab is None:
            raise ValueError(
                "This learner has no id vocabulary. Fix: build the model with "
                "collab_learner, or set model.vocab = dls.collab_vocab."
            )
        return vocab

    # ---------------------------------------------------------------- predictions
    def predict(self, pairs: Any, *, unknown: str = "error", bs: int = 4096) -> torch.Tensor:
        """Predicted ratings (on the CPU) of (user, item) pairs given as raw ids.

        One `(user, item)` tuple, or one row (a dict or a pandas row with the user and item
        columns), gives a 0-d tensor; a list of tuples, or a DataFrame with the user and item
        columns, gives (N,); anything else is a TypeError saying so. An id missing from the
        ratings table raises `UnknownIdError` naming it; with unknown='bias' the dot-product
        model instead drops the unknown side's terms (an unknown user gets the item-bias-only
        estimate).

            >>> learn.predict([(196, "Star Wars (1977)"), (196, "Titanic (1997)")])
        """
        users, items, single = self._unpack(pairs)
        x, u_known, i_known = self.collab_vocab.encode_pairs(users, items, unknown=unknown)
        partial = unknown == "bias"
        if partial and not isinstance(self.model, EmbeddingDotBias):
            raise ValueError(
                f"unknown='bias' needs EmbeddingDotBias (it has biases). Received: "
                f"{type(self.model).__name__}. Fix: use unknown='error'."
            )
        device = next(self.model.parameters()).device
        self.model.eval()
        out = []
        with torch.no_grad():
            for s in range(0, len(x), bs):
                xb = x[s : s + bs].to(device)
                pred = (
                    self.model.forward_known(
                        xb, u_known[s : s + bs].to(device), i_known[s : s + bs].to(device)
                    )
                    if partial
                    else self.model(xb)
                )
                out.append(pred.float().cpu())
        preds = torch.cat(out) if out else torch.empty(0)
        return preds[0] if single else preds

    def _unpack(self, pairs: Any) -> tuple[list[Any], list[Any], bool]:
        """(users, items, single) from one tuple, a list of tuples or a DataFrame."""
        if hasattr(pairs, "columns"):
            vocab = self.collab_vocab
            missing = [c for c in (vocab.user_name, vocab.item_name) if c not in pairs.columns]
            if missing:
                raise KeyError(
                    f"Expected columns {missing} in the DataFrame of pairs. "
                    f"Received columns: {list(pairs.columns)}."
                )
            return pairs[vocab.user_name].tolist(), pairs[vocab.item_name].tolist(), False
        vocab = self.collab_vocab
        is_row = _is_pandas_row(pairs) and (vocab.user_name in pairs or "user" in pairs)
        if isinstance(pairs, Mapping) or is_row:  # one row: {user column: ..., item column: ...}
            return (
                [_row_id(pairs, "user", vocab.user_name)],
                [_row_id(pairs, "item", vocab.item_name)],
                True,
            )
        if isinstance(pairs, tuple):
            users, items = unzip_pairs([pairs])
            return users, items, True
        if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Iterable):
            raise TypeError(
                f"Expected a (user, item) pair, a list of pairs, a row with "
                f"{vocab.user_name!r} and {vocab.item_name!r}, or a DataFrame of them. "
                f"Received: {type(pairs).__name__} {_short(pairs)}. Fix: "
                f"learn.predict(({_short(vocab.users.ids[0])}, {_short(vocab.items.ids[0])}))."
            )
        users, items = unzip_pairs(pairs)
        return users, items, False

    # ---------------------------------------------------------------- interpretation
    def _candidates(self, min_ratings: int) -> torch.Tensor:
        """Mask of the items rated at least `min_ratings` times in the table."""
        return self.dls.item_counts() >= min_ratings

    def items_by_bias(self, n: int = 5, *, highest: bool = False, min_ratings: int = 0) -> Ranked:
        """The `n` items with the lowest (or highest) bias: rated low (or high) whatever the
        user's taste. `min_ratings` leaves out items rated fewer times."""
        ids = self.collab_vocab.items.ids
        bias = self.model.bias(ids).float().cpu()
        order = bias.argsort(descending=highest, stable=True)
        order = order[self._candidates(min_ratings)[order]][:n]
        return [(ids[i], float(bias[i])) for i in order.tolist()]

    def most_similar(self, item: Any, n: int = 5, *, min_ratings: int = 0) -> Ranked:
        """The `n` items whose factors are closest to `item`'s by cosine similarity."""
        items = self.collab_vocab.items
        index = int(items.encode(item))
        factors = self.model.weight(items.ids).float().cpu()  # (n_items, n_factors)
        sims = F.cosine_similarity(factors, factors[index][None], dim=1)
        keep = self._candidates(min_ratings)
        keep[index] = False
        return _top(sims, keep, n, items.ids)

    def recommend(self, user: Any, n: int = 5) -> Ranked:
        """The `n` items with the highest predicted rating among those `user` has not rated
        (in training or validation)."""
        vocab = self.collab_vocab
        u = int(vocab.users.encode(user))
        pairs = self.dls.pairs()
        keep = torch.ones(len(vocab.items), dtype=torch.bool)
        keep[pairs[pairs[:, 0] == u, 1]] = False
        x = torch.stack([torch.full((len(vocab.items),), u), torch.arange(len(vocab.items))], 1)
        device = next(self.model.parameters()).device
        self.model.eval()
        with torch.no_grad():
            preds = self.model(x.to(device)).float().cpu()
        return _top(preds, keep, n, vocab.items.ids)

    def item_pca(self, items: Sequence[Any] | None = None, k: int = 3) -> torch.Tensor:
        """PCA (k components) of the factors of `items` (default all), (N, k)."""
        ids = self.collab_vocab.items.ids if items is None else items
        return pca(self.model.weight(ids).float().cpu(), k)

    def plot_item_pca(
        self,
        n: int = 50,
        *,
        top: int = 1000,
        components: tuple[int, int] = (0, 1),
        path: str | Path | None = None,
    ) -> Any:
        """The course's picture: PCA of the factors of the `top` most-rated items, the `n` most
        rated of them drawn with their titles on two components (0-based)."""
        ids = self.collab_vocab.items.ids
        order = torch.sort(self.dls.item_counts(), descending=True, stable=True).indices
        chosen = [ids[i] for i in order[: min(top, len(ids))].tolist()]
        coords = self.item_pca(chosen, k=min(max(components) + 1, len(chosen)))[:n]
        return plot_pca_labels(
            coords[:, list(components)],
            chosen[:n],
            path=path,
            axis_names=tuple(f"component {c + 1}" for c in components),
            title=f"Item factors: PCA of the {len(chosen)} most-rated items",
        )

    def show_results(self, max_n: int = 10, *, ds_idx: int = 1, dl: Any = None) -> Any:
        """Print and return (a DataFrame) `max_n` validation ratings beside the model's
        predictions: user, item, rating, rating_pred (the ratings table's column names)."""
        from .interpret import show_ratings

        dl = dl if dl is not None else self.dls[ds_idx]
        return show_ratings(self.collab_vocab, dl, max_n=max_n, model=self.model)

    # ---------------------------------------------------------------- export
    def export_config(self) -> dict[str, Any]:
        """Plain JSON for `learn.export`: the model's builder and arguments, the id maps and
        the inputs a predictor takes ((user, item) pairs)."""
        if not isinstance(self.model, CollabModel):
            raise TypeError(
                f"export_config describes a collab model. Received: "
                f"{type(self.model).__name__}. Fix: learn.export(path, builder=...) "
                f"with a registered builder."
            )
        vocab = self.collab_vocab
        config = {
            "application": "collab",
            "builder": self.model.builder,
            "builder_kwargs": self.model.config(),
            "preprocessing": vocab.to_state(),
            "inputs": {
                "kind": "collab",
                "user": str(vocab.user_name),
                "item": str(vocab.item_name),
            },
            "vocab": None,
        }
        json.dumps(config)  # fails here, not at load time, if anything is not plain JSON
        return config


def _is_pandas_row(x: Any) -> bool:
    return hasattr(x, "index") and hasattr(x, "to_dict") and not hasattr(x, "columns")


def _row_id(row: Any, role: str, column: Any) -> Any:
    """The `role` id of one row: under the table's column name, or under 'user' / 'item'."""
    for key in (column, role):
        if key in row:
            value = row[key]
            return value.item() if hasattr(value, "item") and not isinstance(value, str) else value
    keys = list(row.keys())[:10]
    raise KeyError(
        f"Expected the {role} id under {column!r} (or {role!r}) in the row. Received keys: {keys}."
    )


def _short(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 40 else text[:37] + "..."


def _top(scores: torch.Tensor, keep: torch.Tensor, n: int, ids: Sequence[Any]) -> Ranked:
    """The `n` best (id, score) among the kept positions, best first."""
    scores = scores.masked_fill(~keep, -math.inf)
    k = min(n, int(keep.sum()))
    values, indices = scores.topk(k)
    return [(ids[i], float(v)) for v, i in zip(values.tolist(), indices.tolist())]


def _check_ratings_in_range(dls: CollabDataLoaders, y_range: Sequence[float] | None) -> None:
    """An error when ratings fall outside y_range (the model could never predict them)."""
    if y_range is None:
        return
    low, high = _check_y_range(y_range)
    ratings = dls.ratings()
    lo, hi = float(ratings.min()), float(ratings.max())
    if lo < low or hi > high:
        margin = 0.1 * max(hi - lo, 1e-3)
        fix = (min(low, lo - margin), max(high, hi + margin))
        raise ValueError(
            f"y_range={tuple(y_range)} does not contain the ratings, which run from "
            f"{lo:g} to {hi:g}: a sigmoid_range output can never reach them. Fix: "
            f"widen it, e.g. y_range=({fix[0]:g}, {fix[1]:g})."
        )
    if lo == low or hi == high:
        warnings.warn(
            f"Ratings reach the edge of y_range={tuple(y_range)} (they run from {lo:g} "
            f"to {hi:g}); a sigmoid only approaches its bounds, so leave a margin "
            f"(the course uses (0, 5.5) for ratings 1..5).",
            stacklevel=3,
        )


def collab_learner(
    dls: CollabDataLoaders,
    n_factors: int = 50,
    *,
    use_nn: bool = False,
    y_range: Sequence[float] | None = None,
    layers: Sequence[int] | None = None,
    ps: float = 0.0,
    embed_p: float = 0.0,
    loss_func: Any = None,
    **kwargs: Any,
) -> CollabLearner:
    """A CollabLearner: EmbeddingDotBias with `n_factors` (default), or with use_nn=True an
    EmbeddingNN with hidden `layers` (default [n_factors]); MSE loss; Learner kwargs pass on.

        >>> learn = collab_learner(dls, n_factors=50, y_range=(0, 5.5))
        >>> learn.fit_one_cycle(5, 5e-3, wd=0.1)
    """
    if not isinstance(dls, CollabDataLoaders):
        raise TypeError(
            f"Expected CollabDataLoaders. Received: {type(dls).__name__}. Fix: "
            f"CollabDataLoaders.from_df(ratings, ...)."
        )
    _check_ratings_in_range(dls, y_range)
    if use_nn:
        model = EmbeddingNN.from_vocab(
            dls.collab_vocab, layers=layers or [n_factors], y_range=y_range, ps=ps, embed_p=embed_p
        )
    elif layers is not None or ps or embed_p:
        raise ValueError(
            "layers, ps and embed_p describe the neural model. Fix: pass "
            "use_nn=True, or drop them for the dot-product model."
        )
    else:
        model = EmbeddingDotBias.from_vocab(dls.collab_vocab, n_factors, y_range=y_range)
    return CollabLearner(dls, model, loss_func=loss_func or MSELossFlat(), **kwargs)
