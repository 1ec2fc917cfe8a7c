"""One process's share of a loader for distributed training."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import DataLoader as TorchDataLoader

from .distributed import ShardSampler

if TYPE_CHECKING:
    from .loader import DataLoader

__all__ = ["shard_loader"]


def shard_loader(dl: DataLoader, rank: int, world_size: int, *, even: bool = True) -> DataLoader:
    """Process `rank`'s share of this loader for distributed training (see `ShardSampler`):
    each epoch's order (shuffled, sampled or in sequence) cut into interleaved shards.
    `even` gives every process the same number of items (training)."""
    if dl.dataset is None or isinstance(dl.dataset, torch.utils.data.IterableDataset):
        raise TypeError(
            f"Can't shard a loader over {type(dl.dataset).__name__}: expected "
            "a map-style Dataset (with __len__ and __getitem__). Fix: shard the "
            "stream by rank yourself (fastlearn.core.distributed.rank())."
        )
    if dl._wraps_loader:
        return _shard_torch_loader(dl, rank, world_size, even)
    source = dl.sampler if dl.sampler is not None else len(dl.dataset)
    sampler = ShardSampler(
        source,
        rank=rank,
        world_size=world_size,
        shuffle=dl.shuffle and dl.sampler is None,
        even=even,
    )
    shard = dl.new(sampler=sampler, shuffle=False)
    return shard.to(dl.device) if dl.device is not None else shard


def _shard_torch_loader(dl: DataLoader, rank: int, world_size: int, even: bool) -> DataLoader:
    """A plain torch DataLoader's share, keeping its batch size, collate_fn and workers."""
    loader: Any = dl._loader
    if getattr(loader, "batch_size", None) is None or not hasattr(loader, "sampler"):
        raise TypeError(
            "Can't shard this loader: expected a torch DataLoader with a "
            f"batch_size. Received: {type(loader).__name__}. Fix: build it with "
            "DataLoader(dataset, bs) or shard it with a DistributedSampler."
        )
    plain = isinstance(
        loader.sampler, (torch.utils.data.RandomSampler, torch.utils.data.SequentialSampler)
    )
    sampler = ShardSampler(
        len(dl.dataset) if plain else loader.sampler,
        rank=rank,
        world_size=world_size,
        even=even,
        shuffle=isinstance(loader.sampler, torch.utils.data.RandomSampler),
    )
    torch_loader = TorchDataLoader(
        dl.dataset,
        batch_size=loader.batch_size,
        sampler=sampler,
        collate_fn=loader.collate_fn,
        drop_last=loader.drop_last,
        num_workers=loader.num_workers,
        pin_memory=loader.pin_memory,
        worker_init_fn=loader.worker_init_fn,
    )
    return type(dl)(
        loader=torch_loader,
        bs=dl.bs,
        device=dl.device,
        n_inp=dl.n_inp,
        batch_tfms=dl.batch_tfms,
        augment=dl.augment,
    )
