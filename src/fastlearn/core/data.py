"""DataLoaders: a train/valid pair of loaders that put batches on the device and run batch
transforms there.

Three ways in:
- `DataLoaders.from_items(items, label_func=..., item_tfms=..., splitter=...)` for lists of
  items (file names, rows, texts) with per-item transforms;
- `DataLoaders.from_dsets(train_ds, valid_ds)` for any `torch.utils.data.Dataset` (a
  `TensorDataset` takes a fast path: a batch is one index slice, no per-item calls);
- `DataLoaders(train_dl, valid_dl)` for plain `torch.utils.data.DataLoader`s.
"""

from __future__ import annotations

import multiprocessing
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import Dataset, TensorDataset

from .distributed import ShardSampler
from .items import Categorize, ItemDataset, MultiCategorize
from .sampling import ImbalancedSampler, dataset_targets
from .splitters import RandomSplitter, Splits
from .torch_utils import default_device, num_cpus, to_device

__all__ = ["DataLoader", "DataLoaders", "ItemDataset", "Categorize", "MultiCategorize",
           "lone_last_item"]

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
            raise TypeError("This loader doesn't know how to show its batches: it belongs to no "
                            "application's DataLoaders (ImageDataLoaders, TextDataLoaders ...). "
                            "Fix: dls.show_batch(dl=loader), or draw loader.one_batch() yourself.")
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
            return _TensorBatches(self._fast_tensors(), self.bs, self.shuffle, self.drop_last,
                                  sampler=self.sampler)
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
            if isinstance(self._loader, _TensorBatches):
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
        """Process `rank`'s share of this loader for distributed training (see `ShardSampler`):
        each epoch's order (shuffled, sampled or in sequence) cut into interleaved shards.
        `even` gives every process the same number of items (training)."""
        if self.dataset is None or isinstance(self.dataset, torch.utils.data.IterableDataset):
            raise TypeError(f"Can't shard a loader over {type(self.dataset).__name__}: expected "
                            "a map-style Dataset (with __len__ and __getitem__). Fix: shard the "
                            "stream by rank yourself (fastlearn.core.distributed.rank()).")
        if self._wraps_loader:
            return self._sharded_torch_loader(rank, world_size, even)
        source = self.sampler if self.sampler is not None else len(self.dataset)
        sampler = ShardSampler(source, rank=rank, world_size=world_size,
                               shuffle=self.shuffle and self.sampler is None, even=even)
        dl = self.new(sampler=sampler, shuffle=False)
        return dl.to(self.device) if self.device is not None else dl

    def _sharded_torch_loader(self, rank: int, world_size: int, even: bool) -> DataLoader:
        """A plain torch DataLoader's share, keeping its batch size, collate_fn and workers."""
        loader: Any = self._loader
        if getattr(loader, "batch_size", None) is None or not hasattr(loader, "sampler"):
            raise TypeError("Can't shard this loader: expected a torch DataLoader with a "
                            f"batch_size. Received: {type(loader).__name__}. Fix: build it with "
                            "DataLoader(dataset, bs) or shard it with a DistributedSampler.")
        plain = isinstance(loader.sampler, (torch.utils.data.RandomSampler,
                                            torch.utils.data.SequentialSampler))
        sampler = ShardSampler(len(self.dataset) if plain else loader.sampler, rank=rank,
                               world_size=world_size, even=even,
                               shuffle=isinstance(loader.sampler, torch.utils.data.RandomSampler))
        torch_loader = TorchDataLoader(self.dataset, batch_size=loader.batch_size, sampler=sampler,
                                       collate_fn=loader.collate_fn, drop_last=loader.drop_last,
                                       num_workers=loader.num_workers, pin_memory=loader.pin_memory)
        return type(self)(loader=torch_loader, bs=self.bs, device=self.device, n_inp=self.n_inp,
                          batch_tfms=self.batch_tfms, augment=self.augment)

    def _on_device(self) -> bool:
        return (isinstance(self._loader, _TensorBatches) and self.device is not None
                and all(t.device == self.device for t in self._loader.tensors))

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
        if isinstance(self._loader, _TensorBatches):
            self._loader.to(self.device)
        return self


class _TensorBatches:
    """Batches of in-memory tensors: each batch is one index slice (no per-item calls)."""

    max_device_bytes = 2**30  # tables smaller than this live on the device itself

    def __init__(
        self, tensors: Sequence[torch.Tensor], bs: int, shuffle: bool, drop_last: bool,
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

    def _batches(self, order: torch.Tensor | None,
                 start: int) -> Iterator[tuple[torch.Tensor, ...]]:
        for i in range(start * self.bs, len(self) * self.bs, self.bs):
            if order is None:
                yield tuple(t[i : i + self.bs] for t in self.tensors)
            else:
                idx = order[i : i + self.bs]
                yield tuple(t[idx] for t in self.tensors)


class DataLoaders:
    """The training and validation loaders, on one device."""

    def __init__(
        self,
        train: Iterable,
        valid: Iterable | None = None,
        *,
        device: torch.device | str | None = None,
        vocab: Any = None,
        n_inp: int | None = None,
    ) -> None:
        device = torch.device(device) if device is not None else default_device()
        self.train = DataLoader.from_torch(train, device=device, n_inp=n_inp or 1)
        self.valid = (
            DataLoader.from_torch(valid, device=device, n_inp=n_inp or 1)
            if valid is not None
            else None
        )
        for dl in self.loaders:
            dl.to(device)
            dl.show_func = self.show_batch
            if n_inp is not None:
                dl.n_inp = n_inp
        self.vocab = vocab
        self._check_nonempty()

    def __repr__(self) -> str:
        parts = [f"train: {_size(self.train)}"]
        parts.append(f"valid: {_size(self.valid)}" if self.valid is not None else "no valid")
        if self.vocab is not None:
            vocab = list(self.vocab)
            shown = ", ".join(repr(v) for v in vocab[:8]) + (", ..." if len(vocab) > 8 else "")
            parts.append(f"vocab ({len(vocab)}): [{shown}]")
        parts.append(f"device: {self.device}")
        return f"{type(self).__name__}({'; '.join(parts)})"

    def _check_nonempty(self) -> None:
        if self.train.dataset is not None and len(self.train.dataset) == 0:
            raise ValueError(
                "The training set is empty. Received: 0 items. Fix: check the "
                "path, file pattern or filter that built the items."
            )
        if len(self.train) == 0:
            raise ValueError(
                f"The training loader yields no batch: {len(self.train.dataset)} "
                f"items, bs={self.train.bs}, drop_last=True. Fix: lower bs."
            )

    @property
    def loaders(self) -> list[DataLoader]:
        """The loaders that exist: [train] or [train, valid]."""
        return [dl for dl in (self.train, self.valid) if dl is not None]

    def __getitem__(self, i: int) -> DataLoader:
        return self.loaders[i]

    @property
    def device(self) -> torch.device:
        """Where batches are sent."""
        return self.train.device

    @property
    def train_ds(self) -> Dataset | None:
        """The training loader's dataset (the course's `dls.train_ds`)."""
        return self.train.dataset

    @property
    def valid_ds(self) -> Dataset | None:
        """The validation loader's dataset, or None."""
        return self.valid.dataset if self.valid is not None else None

    def to(self, device: torch.device | str) -> DataLoaders:
        """Send every loader's batches to `device`."""
        for dl in self.loaders:
            dl.to(device)
        return self

    @property
    def n_inp(self) -> int:
        """How many leading batch elements are model inputs (the rest are targets)."""
        return self.train.n_inp

    @property
    def c(self) -> int:
        """The number of classes (the course's `dls.c`), from the vocabulary."""
        if self.vocab is None:
            raise AttributeError("dls.c is the number of classes, but these loaders have no "
                                 "vocabulary. Fix: pass n_out= to the learner.")
        return len(self.vocab)

    def one_batch(self) -> Batch:
        """The first training batch."""
        return self.train.one_batch()

    def show_batch(self, max_n: int = 9, *, ds_idx: int = 0, dl: DataLoader | None = None,
                   **kwargs: Any) -> Any:
        """Show a batch of `dl` (default: self[ds_idx]); the applications' loaders override it."""
        raise NotImplementedError(f"{type(self).__name__} has no way to show a batch. Fix: use "
                                  "an application's DataLoaders, or draw dls.one_batch() "
                                  "yourself.")

    def new(self, **kwargs: Any) -> DataLoaders:
        """Both loaders rebuilt with some settings changed, e.g. `dls.new(bs=32)`."""
        train = self.train.new(**kwargs)
        valid_kwargs = {k: v for k, v in kwargs.items() if k not in ("shuffle", "drop_last")}
        valid = self.valid.new(**valid_kwargs) if self.valid is not None else None
        dls = type(self).__new__(type(self))
        dls.__dict__.update(self.__dict__)
        dls.train, dls.valid = train, valid
        for dl in dls.loaders:
            dl.show_func = dls.show_batch
        return dls

    def test_dl(
        self, items: Any, *, bs: int | None = None, with_labels: bool = False
    ) -> DataLoader:
        """A loader over new items with the validation transforms (for predictions)."""
        ref = self.valid or self.train
        ds = self.train.dataset
        items = _as_tensors(items, ds)
        if hasattr(ds, "new_test") and not with_labels:
            test_ds = ds.new_test(items)
        elif isinstance(items, Dataset):
            test_ds = items
        elif isinstance(items, torch.Tensor):
            test_ds = TensorDataset(items)
        elif isinstance(items, tuple) and all(isinstance(t, torch.Tensor) for t in items):
            test_ds = TensorDataset(*items)  # several input tensors, one row per item
        elif isinstance(items, list) and items and all(isinstance(t, torch.Tensor) for t in items):
            test_ds = TensorDataset(torch.stack(items))  # a list of single items
        else:
            raise TypeError(
                f"test_dl can't build a dataset from {type(items).__name__} for a "
                f"{type(ds).__name__} training set. Fix: pass a tensor or a Dataset."
            )
        return ref.new(
            dataset=test_ds,
            bs=bs or ref.bs or 64,
            shuffle=False,
            drop_last=False,
            sampler=None,
            augment=False,
            loader=None,
        )

    def resampled(
        self, mode: str = "over", ratio: float = 1.0, seed: int | None = None
    ) -> DataLoaders:
        """The same loaders with a training set re-balanced by class (see ImbalancedSampler)."""
        sampler = ImbalancedSampler(dataset_targets(self.train.dataset), mode, ratio, seed)
        dls = self.new()
        dls.train = self.train.new(sampler=sampler, shuffle=False)
        return dls

    @classmethod
    def from_dsets(
        cls,
        train_ds: Dataset,
        valid_ds: Dataset | None = None,
        *,
        bs: int = 64,
        val_bs: int | None = None,
        shuffle: bool = True,
        drop_last: bool = False,
        num_workers: int = 0,
        collate_fn: Callable | None = None,
        batch_tfms: Sequence[Callable] = (),
        device: torch.device | str | None = None,
        vocab: Any = None,
        n_inp: int = 1,
    ) -> DataLoaders:
        """Loaders over two datasets: the training one shuffled and augmented."""
        if len(train_ds) == 0:
            raise ValueError("The training set is empty. Received: 0 items.")
        device = torch.device(device) if device is not None else default_device()
        common = dict(
            num_workers=num_workers,
            collate_fn=collate_fn,
            batch_tfms=batch_tfms,
            device=device,
            n_inp=n_inp,
        )
        train = DataLoader(
            train_ds, bs, shuffle=shuffle, drop_last=drop_last, augment=True, **common
        )
        valid = (
            DataLoader(valid_ds, val_bs or bs, **common)
            if valid_ds is not None and len(valid_ds)
            else None
        )
        return cls(train, valid, device=device, vocab=vocab)

    @classmethod
    def from_items(
        cls,
        items: Sequence[Any],
        *,
        labels: Sequence[Any] | None = None,
        label_func: Callable[[Any], Any] | None = None,
        item_tfms: Sequence[Callable] = (),
        splitter: Callable | None = None,
        valid_pct: float = 0.2,
        seed: int | None = None,
        multi_label: bool = False,
        vocab: Sequence[Any] | None = None,
        num_workers: int | None = None,
        **kwargs: Any,
    ) -> DataLoaders:
        """Loaders over a list of items labelled by `labels` or `label_func(item)`."""
        items = list(items)
        if not items:
            raise ValueError(
                "Expected at least one item. Received an empty list. Fix: check "
                "the path or pattern that produced the items."
            )
        if labels is None and label_func is not None:
            labels = [_apply_label(label_func, item) for item in items]
        if labels is None:
            raise ValueError("Expected `labels` or `label_func`. Received neither.")
        splits: Splits = (splitter or RandomSplitter(valid_pct, seed))(items)
        cat = MultiCategorize(vocab) if multi_label else Categorize(vocab)
        cat.setup([labels[i] for i in splits[0]])
        targets = cat.encode(labels) if multi_label else encode_split(cat, labels, splits)
        dsets = [ItemDataset([items[i] for i in idx], targets[idx], item_tfms) for idx in splits]
        workers = min(num_cpus(), 8) if num_workers is None else num_workers
        return cls.from_dsets(dsets[0], dsets[1], num_workers=workers, vocab=cat.vocab, **kwargs)


def _size(dl: DataLoader) -> str:
    """'1,600 items in 25 batches of 64' (as much as the loader knows)."""
    n = len(dl.dataset) if dl.dataset is not None and hasattr(dl.dataset, "__len__") else None
    items = f"{n:,} items in " if n is not None else ""
    return f"{items}{len(dl):,} batches" + (f" of {dl.bs}" if dl.bs else "")


def _as_tensors(items: Any, ds: Any) -> Any:
    """numpy arrays as tensors, floats in the training inputs' dtype (float64 data would
    otherwise meet float32 weights)."""
    import numpy as np

    def one(x: Any, ref: torch.Tensor | None) -> Any:
        if isinstance(x, np.ndarray) and x.dtype != object:
            x = torch.from_numpy(np.ascontiguousarray(x))
        if (isinstance(x, torch.Tensor) and ref is not None and x.is_floating_point()
                and ref.is_floating_point() and x.dtype != ref.dtype):
            x = x.to(ref.dtype)
        return x

    refs = list(ds.tensors) if isinstance(ds, TensorDataset) else []
    if isinstance(items, tuple):
        return tuple(one(x, refs[k] if k < len(refs) else None) for k, x in enumerate(items))
    return one(items, refs[0] if refs else None)


def _apply_label(label_func: Callable[[Any], Any], item: Any) -> Any:
    try:
        return label_func(item)
    except Exception as e:
        name = getattr(label_func, "__name__", repr(label_func))
        raise ValueError(
            f"label_func {name} failed on item {item!r}: {type(e).__name__}: {e}. "
            "Fix: make it handle this item, or filter the items first."
        ) from e


def encode_split(cat: Categorize, labels: Sequence[Any], splits: Splits) -> torch.Tensor:
    """Encode labels; a validation label unseen in training is a clear error."""
    targets = torch.empty(len(labels), dtype=torch.long)
    train_idx = torch.tensor(splits[0], dtype=torch.long)
    targets[train_idx] = cat.encode([labels[i] for i in splits[0]])
    unseen = sorted({str(labels[i]) for i in splits[1] if labels[i] not in cat._index})
    if unseen:
        raise ValueError(
            f"Validation labels never seen in training: {unseen[:10]}. Fix: use a "
            "stratified split, or drop those items."
        )
    targets[torch.tensor(splits[1], dtype=torch.long)] = cat.encode([labels[i] for i in splits[1]])
    return targets
