"""DataLoaders: a train/valid pair of loaders on one device.

Three ways in:
- `DataLoaders.from_items(items, label_func=..., item_tfms=..., splitter=...)` for lists of
  items (file names, rows, texts) with per-item transforms;
- `DataLoaders.from_dsets(train_ds, valid_ds)` for any `torch.utils.data.Dataset` (a
  `TensorDataset` takes a fast path: a batch is one index slice, no per-item calls);
- `DataLoaders(train_dl, valid_dl)` for plain `torch.utils.data.DataLoader`s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset, TensorDataset

from .items import Categorize, ItemDataset, MultiCategorize
from .labels import apply_label, encode_split
from .loader import Batch, DataLoader
from .sampling import ImbalancedSampler, dataset_targets
from .splitters import RandomSplitter, Splits
from .torch_utils import default_device, num_cpus

__all__ = ["DataLoaders"]


class DataLoaders:
    """The training and validation loaders, on one device.

    What an application's loaders may tell its learner, declared here with the default that
    means "unknown: infer it from a batch" (the application's subclass sets or computes them).
    """

    task: str | None = None  # "classification", "regression", "segmentation", "detection"...
    n_out: int | None = None  # outputs the model needs
    n_channels: int | None = None  # input image channels
    size: tuple[int, int] | None = None  # (height, width) of the model's input images
    loss_func: Callable | None = None  # the loss that suits the targets

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
            raise AttributeError(
                "dls.c is the number of classes, but these loaders have no "
                "vocabulary. Fix: pass n_out= to the learner."
            )
        return len(self.vocab)

    def one_batch(self) -> Batch:
        """The first training batch."""
        return self.train.one_batch()

    def show_batch(
        self, max_n: int = 9, *, ds_idx: int = 0, dl: DataLoader | None = None, **kwargs: Any
    ) -> Any:
        """Show a batch of `dl` (default: self[ds_idx]); the applications' loaders override it."""
        raise NotImplementedError(
            f"{type(self).__name__} has no way to show a batch. Fix: use "
            "an application's DataLoaders, or draw dls.one_batch() "
            "yourself."
        )

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
            labels = [apply_label(label_func, item) for item in items]
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
        if (
            isinstance(x, torch.Tensor)
            and ref is not None
            and x.is_floating_point()
            and ref.is_floating_point()
            and x.dtype != ref.dtype
        ):
            x = x.to(ref.dtype)
        return x

    refs = list(ds.tensors) if isinstance(ds, TensorDataset) else []
    if isinstance(items, tuple):
        return tuple(one(x, refs[k] if k < len(refs) else None) for k, x in enumerate(items))
    return one(items, refs[0] if refs else None)
