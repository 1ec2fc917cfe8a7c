"""Class imbalance: a sampler that over- or under-samples classes each epoch."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

__all__ = ["ImbalancedSampler", "dataset_targets"]


def dataset_targets(dataset: object) -> torch.Tensor:
    """The class index of every item: `dataset.targets`, or a TensorDataset's last tensor."""
    targets = getattr(dataset, "targets", None)
    if targets is None and hasattr(dataset, "tensors"):
        targets = dataset.tensors[-1]
    if targets is None:
        raise TypeError(
            f"Expected a dataset with `targets` (or a TensorDataset whose last tensor "
            f"holds the labels). Received: {type(dataset).__name__}."
        )
    targets = torch.as_tensor(targets)
    if targets.dtype.is_floating_point or targets.ndim != 1:
        raise TypeError(
            f"Resampling needs one integer class index per item. Received targets "
            f"of dtype {targets.dtype} and shape {tuple(targets.shape)}."
        )
    return targets


class ImbalancedSampler(Sampler[int]):
    """Each epoch, draw every class equally often.

    mode='over': every class drawn as often as the largest one (a class's items are repeated
    as evenly as possible, the remainder drawn at random). mode='under': every class drawn
    at most `ratio` times as often as the smallest one (a fresh random subset each epoch).
    """

    def __init__(
        self,
        targets: Sequence[int] | torch.Tensor,
        mode: str = "over",
        ratio: float = 1.0,
        seed: int | None = None,
    ) -> None:
        if mode not in ("over", "under"):
            raise ValueError(f"Expected mode 'over' or 'under'. Received: {mode!r}.")
        if ratio < 1:
            raise ValueError(f"Expected ratio >= 1 (largest/smallest class). Received: {ratio}.")
        targets = torch.as_tensor(targets)
        self.mode, self.ratio = mode, ratio
        self.by_class = [torch.nonzero(targets == c).flatten() for c in targets.unique()]
        counts = [len(ix) for ix in self.by_class]
        self.per_class = max(counts) if mode == "over" else int(min(counts) * ratio)
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    def _draw(self, ix: torch.Tensor) -> torch.Tensor:
        n = len(ix)
        k = min(self.per_class, n) if self.mode == "under" else self.per_class
        if k <= n:
            return ix[torch.randperm(n, generator=self.generator)[:k]]
        reps, rest = divmod(k, n)
        extra = ix[torch.randperm(n, generator=self.generator)[:rest]]
        return torch.cat([ix.repeat(reps), extra])

    def __iter__(self) -> Iterator[int]:
        drawn = torch.cat([self._draw(ix) for ix in self.by_class])
        return iter(drawn[torch.randperm(len(drawn), generator=self.generator)].tolist())

    def __len__(self) -> int:
        return sum(
            min(self.per_class, len(ix)) if self.mode == "under" else self.per_class
            for ix in self.by_class
        )
