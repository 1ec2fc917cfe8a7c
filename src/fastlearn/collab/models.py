"""Collaborative-filtering models: the dot product with biases, and its neural variant.

Both take x of shape (B, 2) holding (user index, item index) and return ratings (B,). Their
constructors take plain JSON-able arguments (`model.config()` returns them); `model.vocab`
(a `CollabVocab`, set by `collab_learner` or `from_vocab`) lets interpretation take raw ids:

    >>> learn.model.bias(["Star Wars (1977)", "Titanic (1997)"])  # item biases, (2,)
    >>> learn.model.weight("Titanic (1997)")                       # its factors, (n_factors,)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..core.layers import Embedding, LinBnDrop, emb_sz_rule, sigmoid_range
from .vocab import CollabVocab

__all__ = ["CollabModel", "EmbeddingDotBias", "EmbeddingNN", "COLLAB_MODELS"]


def _check_y_range(y_range: Sequence[float] | None) -> tuple[float, float] | None:
    if y_range is None:
        return None
    if len(y_range) != 2 or not float(y_range[0]) < float(y_range[1]):
        raise ValueError(
            f"Expected y_range=(low, high) with low < high, e.g. (0, 5.5) for "
            f"ratings 1..5. Received: {y_range!r}."
        )
    return (float(y_range[0]), float(y_range[1]))


class CollabModel(nn.Module):
    """Base of the collab models: user/item embeddings `u_weight`, `i_weight` and the
    raw-id look-ups used for interpretation."""

    builder: str = ""  # its builder name in an exported file (see collab/export.py)
    u_weight: nn.Embedding
    i_weight: nn.Embedding

    def __init__(self) -> None:
        super().__init__()
        self.vocab: CollabVocab | None = None

    @classmethod
    def from_vocab(cls, vocab: CollabVocab, **kwargs: Any) -> CollabModel:
        """The model sized for `vocab`'s users and items, keeping `vocab` for raw-id look-ups."""
        model = cls(n_users=len(vocab.users), n_items=len(vocab.items), **kwargs)
        model.vocab = vocab
        return model

    def config(self) -> dict[str, Any]:
        """The constructor's arguments, as plain JSON (`type(model)(**model.config())`)."""
        raise NotImplementedError

    def indices(self, ids: Any, is_item: bool = True) -> torch.Tensor:
        """Embedding rows of raw ids (one id or a sequence); without a vocab, ids are indices."""
        if self.vocab is None:
            return torch.as_tensor(ids, dtype=torch.long)
        return (self.vocab.items if is_item else self.vocab.users).encode(ids)

    def weight(self, ids: Any, is_item: bool = True) -> torch.Tensor:
        """The factors (embedding) of items (or users): (n_factors,) for one id, else (N, .)."""
        emb = self.i_weight if is_item else self.u_weight
        return emb.weight.detach()[self.indices(ids, is_item).to(emb.weight.device)]

    def bias(self, ids: Any, is_item: bool = True) -> torch.Tensor:
        """The learned bias of items (or users)."""
        raise TypeError(
            f"{type(self).__name__} has no per-user or per-item bias. Fix: use "
            f"EmbeddingDotBias (collab_learner(..., use_nn=False)) for bias tables."
        )


class EmbeddingDotBias(CollabModel):
    """rating = sigmoid_range(user . item + user bias + item bias, *y_range).

    The biases are one-wide embeddings, so weight decay applies to them as to the factors
    (as in fastai and the course).
    """

    builder = "collab_dot_bias"

    def __init__(
        self, n_factors: int, n_users: int, n_items: int, y_range: Sequence[float] | None = None
    ) -> None:
        super().__init__()
        if min(n_factors, n_users, n_items) < 1:
            raise ValueError(
                f"Expected n_factors, n_users and n_items >= 1. Received: "
                f"{n_factors}, {n_users}, {n_items}."
            )
        self.n_factors, self.n_users, self.n_items = n_factors, n_users, n_items
        self.y_range = _check_y_range(y_range)
        self.u_weight, self.i_weight = Embedding(n_users, n_factors), Embedding(n_items, n_factors)
        self.u_bias, self.i_bias = Embedding(n_users, 1), Embedding(n_items, 1)

    @classmethod
    def from_vocab(
        cls, vocab: CollabVocab, n_factors: int = 50, y_range: Sequence[float] | None = None
    ) -> EmbeddingDotBias:
        """The model sized for `vocab`, keeping it for raw-id look-ups."""
        return super().from_vocab(vocab, n_factors=n_factors, y_range=y_range)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        users, items = x[:, 0], x[:, 1]  # (B,), (B,)
        dot = (self.u_weight(users) * self.i_weight(items)).sum(1)  # (B,)
        res = dot + self.u_bias(users).squeeze(1) + self.i_bias(items).squeeze(1)
        return res if self.y_range is None else sigmoid_range(res, *self.y_range)

    def forward_known(
        self, x: torch.Tensor, user_known: torch.Tensor, item_known: torch.Tensor
    ) -> torch.Tensor:
        """`forward` with the terms of unknown users or items dropped: an unknown user gets the
        item-bias-only estimate, an unknown item the user-bias-only one (both: mid-range)."""
        users, items = x[:, 0], x[:, 1]
        u_known, i_known = user_known.to(self.u_bias.weight), item_known.to(self.u_bias.weight)
        dot = (self.u_weight(users) * self.i_weight(items)).sum(1) * u_known * i_known
        res = (
            dot + self.u_bias(users).squeeze(1) * u_known + self.i_bias(items).squeeze(1) * i_known
        )
        return res if self.y_range is None else sigmoid_range(res, *self.y_range)

    def bias(self, ids: Any, is_item: bool = True) -> torch.Tensor:
        """The learned bias of items (or users): () for one id, else (N,)."""
        emb = self.i_bias if is_item else self.u_bias
        return emb.weight.detach()[self.indices(ids, is_item).to(emb.weight.device)].squeeze(-1)

    def config(self) -> dict[str, Any]:
        """The constructor's arguments, as plain JSON."""
        return {
            "n_factors": self.n_factors,
            "n_users": self.n_users,
            "n_items": self.n_items,
            "y_range": list(self.y_range) if self.y_range else None,
        }


class EmbeddingNN(CollabModel):
    """User and item embeddings concatenated, then hidden layers (Linear, ReLU, BatchNorm,
    Dropout) and a linear output, squashed into y_range.

    Embedding widths follow the rule of thumb (`emb_sz_rule`) unless given.
    """

    builder = "collab_nn"

    def __init__(
        self,
        n_users: int,
        n_items: int,
        layers: Sequence[int] = (50,),
        *,
        user_size: int | None = None,
        item_size: int | None = None,
        y_range: Sequence[float] | None = None,
        ps: float = 0.0,
        embed_p: float = 0.0,
        use_bn: bool = True,
    ) -> None:
        super().__init__()
        layers = [int(n) for n in layers]
        if min(n_users, n_items) < 1 or any(n < 1 for n in layers):
            raise ValueError(
                f"Expected n_users, n_items and every layer size >= 1. Received: "
                f"{n_users}, {n_items}, layers={layers}."
            )
        self.n_users, self.n_items, self.hidden = n_users, n_items, layers
        self.user_size = user_size or emb_sz_rule(n_users)
        self.item_size = item_size or emb_sz_rule(n_items)
        self.y_range, self.ps, self.embed_p, self.use_bn = (
            _check_y_range(y_range),
            ps,
            embed_p,
            use_bn,
        )
        self.u_weight = Embedding(n_users, self.user_size)
        self.i_weight = Embedding(n_items, self.item_size)
        self.emb_drop = nn.Dropout(embed_p)
        sizes = [self.user_size + self.item_size, *layers]
        self.layers = nn.Sequential(
            *[
                LinBnDrop(
                    sizes[k],
                    sizes[k + 1],
                    bn=use_bn,
                    p=ps,
                    act=nn.ReLU(inplace=True),
                    lin_first=True,
                )
                for k in range(len(layers))
            ],
            nn.Linear(sizes[-1], 1),
        )

    @classmethod
    def from_vocab(
        cls, vocab: CollabVocab, layers: Sequence[int] = (50,), **kwargs: Any
    ) -> EmbeddingNN:
        """The model sized for `vocab`, keeping it for raw-id look-ups."""
        return super().from_vocab(vocab, layers=layers, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        emb = torch.cat([self.u_weight(x[:, 0]), self.i_weight(x[:, 1])], 1)  # (B, U + I)
        res = self.layers(self.emb_drop(emb)).squeeze(1)  # (B,)
        return res if self.y_range is None else sigmoid_range(res, *self.y_range)

    def config(self) -> dict[str, Any]:
        """The constructor's arguments, as plain JSON."""
        return {
            "n_users": self.n_users,
            "n_items": self.n_items,
            "layers": list(self.hidden),
            "user_size": self.user_size,
            "item_size": self.item_size,
            "y_range": list(self.y_range) if self.y_range else None,
            "ps": self.ps,
            "embed_p": self.embed_p,
            "use_bn": self.use_bn,
        }


# Builder name -> model class: the class called with `config()` rebuilds the model.
COLLAB_MODELS: dict[str, type[CollabModel]] = {
    EmbeddingDotBias.builder: EmbeddingDotBias,
    EmbeddingNN.builder: EmbeddingNN,
}
