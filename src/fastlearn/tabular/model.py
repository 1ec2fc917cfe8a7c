"""TabularModel: entity embeddings for the categorical columns, BatchNorm on the continuous
ones, then Linear-ReLU-BatchNorm-Dropout blocks (fastai's architecture, same defaults).

    >>> model = TabularModel(get_emb_sz(dls), len(dls.cont_names), dls.n_out, [200, 100])
    >>> out = model(cats, conts)  # (B, n_cat) int64, (B, n_cont) float32 -> (B, n_out)

The constructor takes plain JSON values only, and `model.config` returns them, so an exported
model is rebuilt with `TabularModel(**config)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..core.layers import Embedding, LinBnDrop, SigmoidRange, get_emb_sz

__all__ = ["TabularModel", "get_emb_sz", "tabular_config"]

_CONFIG_KEYS = ("ps", "embed_p", "y_range", "use_bn", "bn_final", "bn_cont", "lin_first")


def tabular_config(**kwargs: Any) -> dict[str, Any]:
    """Keyword arguments for TabularModel, checked (fastai's `tabular_config`).

    >>> learn = tabular_learner(dls, config=tabular_config(ps=[0.1, 0.05], embed_p=0.1))
    """
    unknown = sorted(set(kwargs) - set(_CONFIG_KEYS))
    if unknown:
        raise TypeError(
            f"Expected tabular_config keys among {list(_CONFIG_KEYS)}. Received: {unknown}."
        )
    return kwargs


class TabularModel(nn.Module):
    """Embeddings + BatchNorm'd continuous inputs -> hidden layers -> `out_sz` outputs.

    `ps` is the dropout after each hidden layer (one float for all, or one per layer),
    `embed_p` the dropout on the concatenated embeddings, `y_range=(low, high)` squashes the
    outputs through a scaled sigmoid (regression). With `lin_first` each block is Linear,
    ReLU, BatchNorm, Dropout (fastai's default); the last layer is a plain Linear.
    """

    def __init__(
        self,
        emb_szs: Sequence[Sequence[int]],
        n_cont: int,
        out_sz: int,
        layers: Sequence[int] = (200, 100),
        *,
        ps: float | Sequence[float] = 0.0,
        embed_p: float = 0.0,
        y_range: Sequence[float] | None = None,
        use_bn: bool = True,
        bn_final: bool = False,
        bn_cont: bool = True,
        lin_first: bool = True,
    ) -> None:
        super().__init__()
        layers = [int(n) for n in layers]
        ps = [float(ps)] * len(layers) if isinstance(ps, (int, float)) else [float(p) for p in ps]
        if len(ps) != len(layers):
            raise ValueError(f"Expected one dropout per layer ({len(layers)}). Received: ps={ps}.")
        if y_range is not None and len(y_range) != 2:
            raise ValueError(f"Expected y_range=(low, high). Received: {y_range!r}.")
        self.config = dict(
            emb_szs=[[int(n), int(w)] for n, w in emb_szs],
            n_cont=int(n_cont),
            out_sz=int(out_sz),
            layers=layers,
            ps=ps,
            embed_p=float(embed_p),
            y_range=None if y_range is None else [float(v) for v in y_range],
            use_bn=use_bn,
            bn_final=bn_final,
            bn_cont=bn_cont,
            lin_first=lin_first,
        )
        self.embeds = nn.ModuleList([Embedding(n, w) for n, w in self.config["emb_szs"]])
        self.emb_drop = nn.Dropout(embed_p)
        self.bn_cont = nn.BatchNorm1d(n_cont) if bn_cont and n_cont else None
        self.n_emb, self.n_cont = sum(w for _, w in self.config["emb_szs"]), int(n_cont)
        sizes = [self.n_emb + self.n_cont, *layers, int(out_sz)]
        blocks: list[nn.Module] = [
            LinBnDrop(
                sizes[i],
                sizes[i + 1],
                bn=use_bn,
                p=p,
                act=nn.ReLU(inplace=True),
                lin_first=lin_first,
            )
            for i, p in enumerate(ps)
        ]
        blocks.append(LinBnDrop(sizes[-2], sizes[-1], bn=use_bn and bn_final, lin_first=lin_first))
        if y_range is not None:
            blocks.append(SigmoidRange(*self.config["y_range"]))
        self.layers = nn.Sequential(*blocks)

    def embed(self, x_cat: torch.Tensor) -> torch.Tensor:
        """The concatenated embeddings of the categorical codes: (B, n_cat) -> (B, n_emb)."""
        return torch.cat([e(x_cat[:, i]) for i, e in enumerate(self.embeds)], 1)

    def forward(self, x_cat: torch.Tensor, x_cont: torch.Tensor) -> torch.Tensor:
        """(B, n_cat) int64 codes and (B, n_cont) floats -> (B, out_sz)."""
        parts = []
        if self.n_emb:
            parts.append(self.emb_drop(self.embed(x_cat)))  # (B, n_emb)
        if self.n_cont:
            parts.append(self.bn_cont(x_cont) if self.bn_cont is not None else x_cont)
        x = parts[0] if len(parts) == 1 else torch.cat(parts, 1)  # (B, n_emb + n_cont)
        return self.layers(x)
