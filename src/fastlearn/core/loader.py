"""DataLoader: batches of a dataset on a device, batch transforms applied there.

A `TensorDataset` takes a fast path (`TensorBatches`: a batch is one index slice); any other
dataset, or a plain `torch.utils.data.DataLoader` passed in, goes through torch's loader. An
interrupted epoch can be replayed from its RNG state (`resume_epoch`); `sharded` gives one
process's share for distributed training (see `fastlearn.core.sharding`).
"""

from __future__ import annotations

import gc
import multiprocessing
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import Dataset, TensorDataset

from .distributed import ShardSampler
from .sharding import shard_loader
from .tensor_batches import TensorBatches
from .torch_utils import to_device

__all__ = ["DataLoader", "Batch", "lone_last_item"]

Batch = Any


def lone_last_item(n: int, bs: int) -> bool:
    """Whether `n` rows in batches of `bs` end with a batch of one, which BatchNorm can't
    train on: a training loader then drops it (and only then: no other row is lost)."""
    return n > bs and n % bs == 1


def _usable_workers(num_workers: int, dataset: Any) -> int:
    """`num_workers`, or 0 with a warning where worker processes cannot run."""
    if num_workers <= 0:
        return 0
    try:
        ctx = multiprocessing.get_context()
        ctx.Lock()  # fails where there is no usable shared memory / semaphores
        if ctx.get_start_method() != "fork":
            import pickle

            pickle.dumps(dataset)  # spawned workers receive the dataset pickled
    except Exception as e:  # noqa: BLE001
        warnings.warn(
            f"DataLoader workers are unavailable here ({type(e).__name__}: {e}); "
            "loading in the main process (num_workers=0).",
            stacklevel=3,
        )
        return 0
    return num_workers


def _freeze_inherited(worker_id: int) -> None:
    """Worker start: leave what the worker inherited from the parent to the parent.

    A forked worker holds a copy of every parent object, the parent's uncollected garbage
    too (a dropped learner's loaders sit in reference cycles). Collected in the worker, that
    garbage's finalisers would run there: torch's loader iterators then print "can only test
    a child process" tracebacks. Frozen objects are never collected (and never touched by the
    collector, so their pages stay shared with the parent)."""
    gc.freeze()


class DataLoader:
    """Batches of a dataset on `device`, batch transforms applied there.

    `batch_tfms` are callables taking and returning the whole batch tuple; a transform with
    `train_only = True` (augmentation) runs only when `augment` is true (the training loader).
    """

    def __init__(
        self,
        dataset: Dataset | None = None,
        bs: int = 64,
        *,
        shuffle: bool = False,
        drop_last: bool = False,
        num_workers: int = 0,
        collate_fn: Callable | None = None,
        sampler: Any = None,
        batch_tfms: Sequence[Callable] = (),
        augment: bool = False,
        device: torch.device | str | None = None,
        pin_memory: bool | None = None,
        n_inp: int = 1,
        loader: Iterable | None = None,
        batch_size: int | None = None,
    ) -> None:
        if batch_size is not None:  # torch's (and the course's) name for bs
            bs = batch_size
        if dataset is None and loader is None:
            raise ValueError("Expected a dataset or a loader. Received neither.")
        if bs is not None and bs < 1:
            raise ValueError(f"Expected a batch size of at least 1. Received: bs={bs}.")
        self.dataset = dataset if dataset is not None else getattr(loader, "dataset", None)
        self.bs, self.shuffle, self.drop_last = bs, shuffle, drop_last
        self.num_workers, self.collate_fn, self.sampler = num_workers, collate_fn, sampler
        self.batch_tfms, self.augment, self.n_inp = list(batch_tfms), augment, n_inp
        self.device = torch.device(device) if device is not None else None
        self.pin_memory = pin_memory
        self._loader = loader if loader is not None else self._make_loader()
        self._wraps_loader = loader is not None  # a plain loader passed in, not built here
        self.epoch_rng_state: torch.Tensor | None = None  # the RNG state that ordered this epoch
        self._replay: tuple[torch.Tensor, int] | None = None
        # show_func(dl=self, **kw) draws a batch; set by the DataLoaders that holds this loader
        self.show_func: Callable[..., Any] | None = None

    def show_batch(self, **kwargs: Any) -> Any:
        """Show a batch of this loader as its DataLoaders' `show_batch` does
        (`dls.train.show_batch(max_n=8, nrows=2, unique=True)`)."""
        if self.show_func is None:
            raise TypeError(
                "This loader doesn't know how to show its batches: it belongs to no "
                "application's DataLoaders (ImageDataLoaders, TextDataLoaders ...). "
                "Fix: dls.show_batch(dl=loader), or draw loader.one_batch() yourself."
            )
        return self.show_func(dl=self, **kwargs)

    def _fast_tensors(self) -> tuple[torch.Tensor, ...] | None:
        if (
            isinstance(self.dataset, TensorDataset)
            and (self.sampler is None or isinstance(self.sampler, ShardSampler))
            and self.collate_fn is None
        ):
            return self.dataset.tensors
        return None

    def _make_loader(self) -> Iterable:
        if self._fast_tensors() is not None:
            return TensorBatches(
                self._fast_tensors(), self.bs, self.shuffle, self.drop_last, sampler=self.sampler
            )
        workers = _usable_workers(self.num_workers, self.dataset)
        pin = (
            self.pin_memory
            if self.pin_memory is not None
            else self.device is not None and self.device.type == "cuda"
        )
        return TorchDataLoader(
            self.dataset,
            batch_size=self.bs,
            shuffle=self.shuffle if self.sampler is None else False,
            sampler=self.sampler,
            drop_last=self.drop_last,
            num_workers=workers,
            collate_fn=self.collate_fn,
            pin_memory=pin,
            persistent_workers=workers > 0,
            worker_init_fn=_freeze_inherited if workers > 0 else None,
        )

    @classmethod
    def from_torch(
        cls,
        loader: Iterable,
        *,
        device: torch.device | str | None = None,
        batch_tfms: Sequence[Callable] = (),
        n_inp: int = 1,
    ) -> DataLoader:
        """Wrap a plain torch DataLoader (or any iterable of batches with a length)."""
        if isinstance(loader, DataLoader):
            return loader
        return cls(
            loader=loader,
            bs=getattr(loader, "batch_size", None),
            device=device,
            batch_tfms=batch_tfms,
            n_inp=n_inp,
            shuffle=isinstance(getattr(loader, "sampler", None), torch.utils.data.RandomSampler),
        )

    def __len__(self) -> int:
        return len(self._loader)

    def __iter__(self) -> Iterator[Batch]:
        non_blocking = self.device is not None and self.device.type == "cuda"
        tfms = [t for t in self.batch_tfms if self.augment or not getattr(t, "train_only", False)]
        # In-memory tables already live on the device (see `to`): nothing to move per batch.
        device = None if self._on_device() else self.device
        for batch in self._epoch_batches():
            if device is not None:
                batch = to_device(batch, device, non_blocking)
            for tfm in tfms:
                batch = tfm(batch)
            yield batch

    def _epoch_batches(self) -> Iterator[Batch]:
        """This epoch's batches. The global RNG state that orders the epoch (a shuffle, a
        sampler, worker seeds) is kept in `epoch_rng_state`; after `resume_epoch` that state is
        replayed, the batches already done are skipped, and the RNG is left as it was."""
        replay, self._replay = self._replay, None
        if replay is None:
            self.epoch_rng_state = torch.get_rng_state()
            return iter(self._loader)
        state, done = replay
        current = torch.get_rng_state()
        torch.set_rng_state(state)
        try:
            self.epoch_rng_state = state
            if isinstance(self._loader, TensorBatches):
                return self._loader.iter_from(done)
            batches = iter(self._loader)
            for _ in range(done):  # also draws what a sampler draws at its first batch
                next(batches)
            return batches
        finally:
            torch.set_rng_state(current)

    def resume_epoch(self, rng_state: torch.Tensor, batches_done: int) -> None:
        """Make the next iteration replay the epoch that `rng_state` (an `epoch_rng_state`)
        ordered, from batch `batches_done` on (exact resume after an interruption)."""
        if batches_done < 1:
            raise ValueError(f"Expected batches_done >= 1. Received: {batches_done}.")
        self._replay = (rng_state, batches_done)

    @property
    def first_batch(self) -> int:
        """Index of the first batch the next iteration yields (0 unless resuming an epoch)."""
        return self._replay[1] if self._replay is not None else 0

    def sharded(self, rank: int, world_size: int, *, even: bool = True) -> DataLoader:
        """Process `rank`'s share of this loader for distributed training (see `shard_loader`)."""
        return shard_loader(self, rank, world_size, even=even)

    def _on_device(self) -> bool:
        return (
            isinstance(self._loader, TensorBatches)
            and self.device is not None
            and all(t.device == self.device for t in self._loader.tensors)
        )

    def one_batch(self) -> Batch:
        """The first batch (for inspection)."""
        for batch in self:
            return batch
        raise ValueError(
            "This DataLoader yields no batch (empty dataset, or drop_last with "
            "fewer items than the batch size)."
        )

    def new(self, **kwargs: Any) -> DataLoader:
        """A copy with some settings changed, e.g. `dl.new(bs=128, shuffle=False)`."""
        if "dataset" not in kwargs and self.dataset is None:
            raise TypeError(
                "This DataLoader wraps a plain loader; it can't be rebuilt with new "
                "settings. Fix: build it from a Dataset."
            )
        args = dict(
            dataset=self.dataset,
            bs=self.bs,
            shuffle=self.shuffle,
            drop_last=self.drop_last,
            num_workers=self.num_workers,
            collate_fn=self.collate_fn,
            sampler=self.sampler,
            batch_tfms=self.batch_tfms,
            augment=self.augment,
            device=self.device,
            pin_memory=self.pin_memory,
            n_inp=self.n_inp,
        )
        args.update(kwargs)
        dl = type(self)(**args)
        dl.show_func = self.show_func
        return dl

    def to(self, device: torch.device | str) -> DataLoader:
        """Send batches to `device` from now on (tensor tables move there once)."""
        self.device = torch.device(device)
        if isinstance(self._loader, TensorBatches):
            self._loader.to(self.device)
        return self
