"""In-memory tensors in batches: each batch one index slice, no per-item calls."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from .distributed import ShardSampler

__all__ = ["TensorBatches"]


class TensorBatches:
    """Batches of in-memory tensors: each batch is one index slice (no per-item calls)."""

    max_device_bytes = 2**30  # tables smaller than this live on the device itself

    def __init__(
        self,
        tensors: Sequence[torch.Tensor],
        bs: int,
        shuffle: bool,
        drop_last: bool,
        sampler: ShardSampler | None = None,
    ) -> None:
        self.tensors, self.bs, self.shuffle, self.drop_last = list(tensors), bs, shuffle, drop_last
        self.sampler = sampler  # a distributed shard: its indices replace the shuffle
        self.n = len(self.tensors[0]) if sampler is None else len(sampler)

    def to(self, device: torch.device) -> None:
        size = sum(t.numel() * t.element_size() for t in self.tensors)
        if device.type == "cpu" or size <= self.max_device_bytes:
            self.tensors = [t.to(device) for t in self.tensors]

    def __len__(self) -> int:
        return self.n // self.bs if self.drop_last else -(-self.n // self.bs)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        return self.iter_from(0)

    def iter_from(self, start: int) -> Iterator[tuple[torch.Tensor, ...]]:
        """The batches from batch `start` on. The epoch's order is drawn now (on the CPU, from
        the global RNG), not at the first batch, so a resumed epoch can replay it."""
        if self.sampler is not None:
            order = self.sampler.indices()
        else:
            order = torch.randperm(self.n) if self.shuffle else None
        if order is not None:
            order = order.to(self.tensors[0].device)
        return self._batches(order, start)

    def _batches(
        self, order: torch.Tensor | None, start: int
    ) -> Iterator[tuple[torch.Tensor, ...]]:
        for i in range(start * self.bs, len(self) * self.bs, self.bs):
            if order is None:
                yield tuple(t[i : i + self.bs] for t in self.tensors)
            else:
                idx = order[i : i + self.bs]
                yield tuple(t[idx] for t in self.tensors)
