"""The DataBlock: the one path from raw items to labelled, split, encoded datasets and loaders.

    >>> pets = DataBlock(blocks=(ImageBlock, CategoryBlock),
    ...                  get_items=get_image_files,
    ...                  splitter=RandomSplitter(seed=42),
    ...                  get_y=using_attr(RegexLabeller(r"(.+)_\\d+.jpg$"), "name"),
    ...                  item_tfms=Resize(460), batch_tfms=aug_transforms(size=224))
    >>> dls = pets.dataloaders(path / "images", bs=64)
    >>> pets.summary(path / "images")        # one item through every step, and one batch

The steps, in order: `get_items(source)` lists the items (a DataFrame's rows when there is no
`get_items`); `splitter(items)` gives (train, valid) indices; the getters map each item to
one value per block (`getters`, or `get_x` for the inputs and `get_y` for the targets); each
block learns what it needs from the training values (`setup`: a vocabulary) and encodes all
values at once (`encode`: class indices as one tensor, texts as token ids). The first block
then builds the per-split datasets and the loaders: images are decoded and passed through the
item transforms per item in the loader's workers, everything else is already a tensor.

A block is a `TransformBlock`; the applications add theirs (`ImageBlock`, `MaskBlock`,
`PointBlock` in vision, `TextBlock` in text; boxes for detection plug in the same way).
"""

from __future__ import annotations

import copy
import inspect
import io
import math
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset, default_collate

from .collections import L
from .items import Categorize, MultiCategorize
from .splitters import RandomSplitter, Splits

__all__ = [
    "TransformBlock",
    "CategoryBlock",
    "MultiCategoryBlock",
    "RegressionBlock",
    "DataBlock",
    "Datasets",
    "DataBlockError",
    "TupleDataset",
    "describe",
]


class DataBlockError(ValueError):
    """A step of a DataBlock failed: the message names the step, what it received and a fix."""


# ---------------------------------------------------------------------------------- blocks
class TransformBlock:
    """One kind of data in a DataBlock: how a getter's raw value becomes what a model reads.

    The base block passes values through unchanged (a DataBlock with no blocks gives the raw
    items). Subclasses override:

    - `check(value)`: refuse a value of the wrong type (return an error text, or None);
    - `setup(train_values)`: learn from the training values (a vocabulary);
    - `encode(values, splits)`: all values at once, e.g. one tensor of class indices;
    - `decode(x)`: a readable value back (a label, a list of labels);
    - as the first block, `datasets(dsets)` and `dataloaders(dsets, ...)`: build the per-split
      datasets and the loaders (the image block decodes files per item, the text block
      batches token streams).

    `task` names what a target block asks of the model ('classification', 'multi_label',
    'regression', 'segmentation', 'points'); `item_tfms` and `batch_tfms` are the block's
    default transforms, added to the DataBlock's.
    """

    task: str | None = None
    needs_getter: bool = False  # a target that can't be the item itself (a label)
    # what the block reads from an item when the DataBlock gives no getter for it (e.g. the
    # text columns of a row); a getter with a `column(df)` method reads a DataFrame at once
    default_getter: Callable[[Any], Any] | None = None

    def __init__(
        self,
        *,
        item_tfms: Sequence[Callable] = (),
        batch_tfms: Sequence[Callable] = (),
        dl_type: type | None = None,
    ) -> None:
        self.item_tfms, self.batch_tfms, self.dl_type = list(item_tfms), list(batch_tfms), dl_type

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # ---------------------------------------------------------------- per block
    def check(self, value: Any) -> str | None:
        """An error text when `value` is not what this block takes, else None."""
        return None

    def setup(self, train_values: Sequence[Any]) -> None:
        """Learn what encoding needs from the training values."""

    def encode(self, values: Sequence[Any], splits: Splits) -> Any:
        """Every value, encoded (indexable by item)."""
        return list(values)

    def decode(self, x: Any) -> Any:
        """A readable value of one encoded item."""
        return x

    @property
    def vocab(self) -> Any:
        """The classes this block encodes, or None."""
        return None

    # ---------------------------------------------------------------- as the input block
    def datasets(self, dsets: Datasets) -> list[Dataset]:
        """The per-split datasets: tuples of each block's encoded value, item transforms
        applied to the inputs."""
        return [TupleDataset(dsets, idx, train=k == 0) for k, idx in enumerate(dsets.splits)]

    def trace(self, dsets: Datasets, i: int, train: bool) -> Iterator[tuple[str, Any]]:
        """(step name, value) for each step one item goes through (for `summary`)."""
        x = dsets.encoded_value(0, i)
        yield f"{type(self).__name__} value", x
        for tfm in dsets.item_tfms:
            x = tfm(x)
            yield f"item_tfms {_name(tfm)}", x

    def collate(self, samples: list[tuple[Any, ...]]) -> tuple[Any, ...]:
        """Samples -> one batch (tuples of stacked tensors)."""
        return tuple(default_collate(samples))

    def dataloaders(
        self,
        dsets: Datasets,
        *,
        bs: int = 64,
        val_bs: int | None = None,
        shuffle: bool = True,
        num_workers: int = 0,
        device: Any = None,
        drop_last: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Generic loaders over `TupleDataset`s (core `DataLoaders`)."""
        from .data import DataLoader, DataLoaders

        if kwargs:
            raise TypeError(f"Unexpected arguments for these loaders: {sorted(kwargs)}.")
        train_ds, valid_ds = dsets.train, dsets.valid
        cls = self.dl_type or dsets.block.dl_type or DataLoader
        common = dict(
            num_workers=num_workers,
            collate_fn=self.collate,
            device=device,
            batch_tfms=dsets.batch_tfms,
            n_inp=dsets.n_inp,
        )
        train = cls(train_ds, bs, shuffle=shuffle, drop_last=drop_last, augment=True, **common)
        valid = cls(valid_ds, val_bs or bs, **common) if len(valid_ds) else None
        return DataLoaders(train, valid, device=device, vocab=dsets.vocab, n_inp=dsets.n_inp)


class CategoryBlock(TransformBlock):
    """A single label per item -> its class index (int64). `vocab` fixes the classes and
    their order; otherwise they are the training labels, sorted (`sort=False`: in order of
    first appearance). A validation label never seen in training is an error."""

    task = "classification"
    needs_getter = True

    def __init__(
        self,
        vocab: Sequence[Any] | None = None,
        sort: bool = True,
        add_na: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sort, self.add_na = sort, add_na
        self.categorize = Categorize(vocab)

    def __repr__(self) -> str:
        return f"CategoryBlock(vocab={_short(self.vocab)})"

    @property
    def vocab(self) -> L | None:
        v = self.categorize.vocab
        return None if v is None else L(v)

    def check(self, value: Any) -> str | None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return (
                "CategoryBlock takes one label per item; a missing label (NaN, None) is "
                "not a class. Fix: drop those items (df.dropna(subset=[label column])) or "
                "fill them."
            )
        if isinstance(value, (list, tuple, set, Tensor)) and not _is_scalar_tensor(value):
            return (
                f"CategoryBlock takes one label per item; received a "
                f"{type(value).__name__} {value!r:.60}. Fix: use MultiCategoryBlock for "
                "several labels per item."
            )
        try:
            hash(value)
        except TypeError:
            return f"CategoryBlock takes hashable labels; received {type(value).__name__}."
        return None

    def setup(self, train_values: Sequence[Any]) -> None:
        if self.categorize.vocab is None:
            values = [_plain(v) for v in train_values]
            vocab = (
                sorted(set(values), key=lambda v: (str(type(v)), v))
                if self.sort
                else list(dict.fromkeys(values))
            )
            if self.add_na:
                vocab = ["#na#", *vocab]
            self.categorize = Categorize(vocab)
        self.categorize.setup([])
        vocab = self.categorize.vocab
        if len(vocab) < 2:
            raise DataBlockError(
                f"CategoryBlock found {len(vocab)} class"
                f"{'' if len(vocab) == 1 else 'es'}: {_short(vocab)}. A classifier needs at "
                "least two. Fix: check get_y / parent_label (e.g. parent_label of "
                "'images/cat_1.jpg' is 'images': the folder, not the class)."
            )

    def encode(self, values: Sequence[Any], splits: Splits) -> Tensor:
        from .labels import encode_split

        return encode_split(self.categorize, [_plain(v) for v in values], splits)

    def decode(self, x: Any) -> Any:
        return self.categorize.decode(x)


class MultiCategoryBlock(TransformBlock):
    """Several labels per item -> a multi-hot float vector (one entry per class).

    `encoded=True`: the values already are multi-hot (one 0/1 per class, e.g. several
    columns); `vocab` then names the classes."""

    task = "multi_label"
    needs_getter = True

    def __init__(
        self,
        encoded: bool = False,
        vocab: Sequence[Any] | None = None,
        add_na: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.encoded, self.add_na = encoded, add_na
        self.categorize = MultiCategorize(vocab)

    def __repr__(self) -> str:
        return f"MultiCategoryBlock(vocab={_short(self.vocab)})"

    @property
    def vocab(self) -> L | None:
        v = self.categorize.vocab
        return None if v is None else L(v)

    def check(self, value: Any) -> str | None:
        if isinstance(value, str):
            return (
                f"MultiCategoryBlock takes a list of labels per item; received the string "
                f"{value!r:.60}. Fix: split it, e.g. get_y=ColReader('labels', "
                "label_delim=' ') or lambda r: r['labels'].split(' ')."
            )
        if not isinstance(value, (list, tuple, set, Tensor)) and not hasattr(value, "__len__"):
            return (
                f"MultiCategoryBlock takes a list of labels per item; received "
                f"{type(value).__name__} {value!r:.60}."
            )
        return None

    def setup(self, train_values: Sequence[Any]) -> None:
        if self.encoded:
            n = len(train_values[0]) if len(train_values) else 0
            if self.categorize.vocab is None:
                self.categorize = MultiCategorize(list(range(n)))
            self.categorize.setup([])
            return
        if self.categorize.vocab is None:
            labels = sorted(
                {_plain(v) for vs in train_values for v in vs}, key=lambda v: (str(type(v)), v)
            )
            self.categorize = MultiCategorize(["#na#", *labels] if self.add_na else labels)
        self.categorize.setup([])
        if not self.categorize.vocab:
            raise DataBlockError(
                "MultiCategoryBlock found no label in the training items. "
                "Fix: check get_y (it returns empty lists)."
            )

    def encode(self, values: Sequence[Any], splits: Splits) -> Tensor:
        if self.encoded:
            return torch.as_tensor([[float(v) for v in vs] for vs in values], dtype=torch.float32)
        return self.categorize.encode([[_plain(v) for v in vs] for vs in values])

    def decode(self, x: Any) -> Any:
        return L(self.categorize.decode(x))


class RegressionBlock(TransformBlock):
    """Numbers (one per item, or `n_out` per item) -> float32 targets."""

    task = "regression"
    needs_getter = True

    def __init__(self, n_out: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n_out = n_out

    def check(self, value: Any) -> str | None:
        try:
            t = torch.as_tensor(value, dtype=torch.float32)
        except (TypeError, ValueError):
            return (
                f"RegressionBlock takes numbers; received {type(value).__name__} "
                f"{value!r:.60}. Fix: make get_y return a number (or a list of numbers)."
            )
        if self.n_out is not None and t.numel() != self.n_out:
            return f"RegressionBlock(n_out={self.n_out}) received {t.numel()} numbers."
        return None

    def encode(self, values: Sequence[Any], splits: Splits) -> Tensor:
        out = torch.as_tensor(
            [_plain(v) if not isinstance(v, (list, tuple)) else list(v) for v in values],
            dtype=torch.float32,
        )
        bad = torch.nonzero(~torch.isfinite(out.view(len(out), -1)).all(1)).flatten()
        if len(bad):
            raise DataBlockError(
                f"RegressionBlock: {len(bad)} targets are NaN or infinite, "
                f"e.g. item {int(bad[0])}. Fix: drop or fill them."
            )
        return out


# ---------------------------------------------------------------------------------- datasets
class Datasets:
    """A DataBlock applied to a source: items, splits, every block's encoded values, and the
    per-split datasets `train` and `valid` (`dsets.train[0]` is one item's tuple)."""

    def __init__(
        self,
        block: DataBlock,
        blocks: list[TransformBlock],
        source: Any,
        items: Any,
        splits: Splits,
        raw: list[list[Any]],
        encoded: list[Any],
    ) -> None:
        self.block, self.source, self.items, self.splits = block, source, items, splits
        self.raw, self.encoded = raw, encoded
        self.blocks, self.n_inp = blocks, block.n_inp
        self.item_tfms = _sorted_tfms(
            [*block.item_tfms, *(t for b in self.blocks for t in b.item_tfms)]
        )
        self.batch_tfms = [*(t for b in self.blocks for t in b.batch_tfms), *block.batch_tfms]
        self.train, self.valid = self.blocks[0].datasets(self)

    def __repr__(self) -> str:
        return (
            f"Datasets({len(self.splits[0])} train, {len(self.splits[1])} valid, "
            f"blocks={list(self.blocks)})"
        )

    def __getitem__(self, i: int) -> Dataset:
        return (self.train, self.valid)[i]

    def __len__(self) -> int:
        return 2

    def encoded_value(self, block_idx: int, i: int) -> Any:
        """Block `block_idx`'s encoded value of item `i` (an index into `items`)."""
        return self.encoded[block_idx][i]

    @property
    def target_block(self) -> TransformBlock | None:
        """The first target block (None when there is none)."""
        return self.blocks[self.n_inp] if len(self.blocks) > self.n_inp else None

    @property
    def vocab(self) -> L | None:
        """The classes of the first target block that has classes (for boxes: their labels'
        block), or the input's (a language model's tokens)."""
        for b in (*self.blocks[self.n_inp :], self.blocks[0]):
            if b.vocab is not None:
                return b.vocab
        return None

    @property
    def task(self) -> str | None:
        t = self.target_block
        return None if t is None else t.task

    def decode(self, sample: Sequence[Any]) -> tuple[Any, ...]:
        """Each block's readable value of one sample."""
        return tuple(b.decode(x) for b, x in zip(self.blocks, sample))


class TupleDataset(Dataset):
    """One split of a Datasets: item `j` is each block's encoded value, with the item
    transforms applied to the inputs."""

    def __init__(self, dsets: Datasets, idx: Sequence[int], *, train: bool) -> None:
        self.dsets, self.idx, self.train = dsets, list(idx), train
        self.vocab = dsets.vocab
        target = dsets.encoded[dsets.n_inp] if len(dsets.encoded) > dsets.n_inp else None
        self.targets = (
            target[torch.as_tensor(self.idx, dtype=torch.long)]
            if isinstance(target, Tensor)
            else None
        )

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, j: int) -> tuple[Any, ...]:
        i, d = self.idx[j], self.dsets
        out = [d.encoded_value(k, i) for k in range(len(d.blocks))]
        for k in range(d.n_inp):
            for tfm in d.item_tfms:
                out[k] = tfm(out[k])
        return tuple(out)


# ---------------------------------------------------------------------------------- DataBlock
BlockLike = TransformBlock | type | Callable[..., TransformBlock]


class DataBlock:
    """How to build datasets and loaders from a source: blocks, getters, a splitter and
    transforms (see the module's docstring). `n_inp` blocks are inputs (default: all but the
    last); `dl_type` replaces the generic loader class."""

    def __init__(
        self,
        blocks: Sequence[BlockLike] | BlockLike | None = None,
        dl_type: type | None = None,
        getters: Sequence[Callable | None] | None = None,
        n_inp: int | None = None,
        item_tfms: Callable | Sequence[Callable] | None = None,
        batch_tfms: Callable | Sequence[Callable] | None = None,
        *,
        get_items: Callable[[Any], Sequence[Any]] | None = None,
        splitter: Callable[[Any], Splits] | None = None,
        get_y: Callable | Sequence[Callable] | None = None,
        get_x: Callable | Sequence[Callable] | None = None,
    ) -> None:
        blocks = (
            [TransformBlock, TransformBlock]
            if blocks is None
            else (list(blocks) if isinstance(blocks, (list, tuple)) else [blocks])
        )
        self.blocks = [_as_block(b) for b in blocks]
        if not self.blocks:
            raise DataBlockError("Expected at least one block. Received: blocks=().")
        self.n_inp = n_inp if n_inp is not None else max(1, len(self.blocks) - 1)
        if not 1 <= self.n_inp <= len(self.blocks):
            raise DataBlockError(
                f"Expected 1 <= n_inp <= {len(self.blocks)} (the number of "
                f"blocks). Received: n_inp={n_inp}."
            )
        self.dl_type, self.get_items, self.get_x, self.get_y = dl_type, get_items, get_x, get_y
        self.splitter = splitter if splitter is not None else RandomSplitter()
        self.item_tfms, self.batch_tfms = _as_list(item_tfms), _as_list(batch_tfms)
        self.getters = self._getters(getters)

    def __repr__(self) -> str:
        parts = [f"blocks={self.blocks}"]
        for name in ("get_items", "get_x", "get_y", "splitter"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={_name(value)}")
        return f"DataBlock({', '.join(parts)})"

    def _getters(self, getters: Sequence[Callable | None] | None) -> list[Callable | None]:
        n, n_inp = len(self.blocks), self.n_inp
        if getters is not None:
            getters = list(getters)
            if len(getters) != n:
                raise DataBlockError(
                    f"Expected one getter per block ({n}). Received: {len(getters)} getters."
                )
            return getters
        xs = list(self.get_x) if isinstance(self.get_x, (list, tuple)) else [self.get_x] * n_inp
        ys = (
            list(self.get_y)
            if isinstance(self.get_y, (list, tuple))
            else [self.get_y] * (n - n_inp)
        )
        if len(xs) != n_inp or len(ys) != n - n_inp:
            raise DataBlockError(
                f"Expected {n_inp} get_x and {n - n_inp} get_y for "
                f"{n} blocks with n_inp={n_inp}. Received: {len(xs)} get_x, "
                f"{len(ys)} get_y."
            )
        return xs + ys

    def new(self, item_tfms: Any = None, batch_tfms: Any = None) -> DataBlock:
        """A copy with other item or batch transforms (the others kept)."""
        out = copy.copy(self)
        out.blocks = [copy.deepcopy(b) for b in self.blocks]  # a fresh vocabulary to learn
        if item_tfms is not None:
            out.item_tfms = _as_list(item_tfms)
        if batch_tfms is not None:
            out.batch_tfms = _as_list(batch_tfms)
        return out

    # ---------------------------------------------------------------- the steps
    def _items(self, source: Any) -> Any:
        items = (
            source
            if self.get_items is None
            else _step("get_items", self.get_items, source, lambda: self.get_items(source))
        )
        if _is_frame(items):
            if len(items) == 0:
                raise DataBlockError("get_items found no items: the DataFrame has 0 rows.")
            return items
        items = L(items) if not isinstance(items, L) else items
        if not items:
            raise DataBlockError(
                f"get_items found no items in {_short_repr(source)}"
                f"{'' if self.get_items is None else f' ({_name(self.get_items)})'}. Fix: check "
                "the path, and the extensions or folders that select the items."
            )
        return items

    def _split(self, items: Any) -> Splits:
        splits = _step("splitter", self.splitter, _short_repr(items), lambda: self.splitter(items))
        train, valid = (list(map(int, s)) for s in splits)
        return train, valid

    def _values(self, items: Any, k: int) -> list[Any]:
        """Getter `k` on every item, each value checked by block `k`."""
        block = self.blocks[k]
        getter = self.getters[k] if self.getters[k] is not None else block.default_getter
        role = "get_x" if k < self.n_inp else "get_y"
        if getter is None and block.needs_getter:
            raise DataBlockError(
                f"{block!r} (block {k}, a target) needs {role}: a function from an item to its "
                f"value, e.g. get_y=parent_label. Received: {role}=None, so each item would be "
                "its own label."
            )
        if getter is None:
            values = _rows(items) if _is_frame(items) else list(items)
        elif _is_frame(items) and hasattr(getter, "column"):
            values = _step(
                f"{role} {_name(getter)}", getter, "the DataFrame", lambda: getter.column(items)
            )
        else:
            rows = _rows(items) if _is_frame(items) else items
            values = [
                _step(f"{role} {_name(getter)}", getter, o, lambda o=o: getter(o)) for o in rows
            ]
        for i, v in enumerate(values):
            err = block.check(v)
            if err is not None:
                raise DataBlockError(
                    f"{role} {_name(getter) if getter else '(none: the item itself)'} returned "
                    f"{type(v).__name__} {_short_repr(v, 80)} for item {i} "
                    f"({_short_repr(_item(items, i))}), which {block!r} can't take: {err}"
                )
        return values

    def datasets(self, source: Any, verbose: bool = False) -> Datasets:
        """Items listed, split, read by the getters and encoded by the blocks."""
        items = self._items(source)
        return self._datasets(source, items, self._split(items), verbose)

    def _datasets(self, source: Any, items: Any, splits: Splits, verbose: bool) -> Datasets:
        if verbose:
            print(
                f"Collected {len(items)} items; split {len(splits[0])} train, "
                f"{len(splits[1])} valid"
            )
        raw, encoded = [], []
        blocks = [copy.deepcopy(b) for b in self.blocks]  # each source learns its own vocab
        for k, block in enumerate(blocks):
            values = self._values(items, k)
            _step(
                f"{block!r} setup",
                block.setup,
                "the training values",
                lambda b=block, v=values: b.setup([v[i] for i in splits[0]]),
            )
            raw.append(values)
            encoded.append(
                _step(
                    f"{block!r} encode",
                    block.encode,
                    "the values",
                    lambda b=block, v=values: b.encode(v, splits),
                )
            )
        return Datasets(self, blocks, source, items, splits, raw, encoded)

    def dataloaders(
        self, source: Any, bs: int = 64, *, verbose: bool = False, **kwargs: Any
    ) -> Any:
        """Loaders over `datasets(source)`: `bs`, `val_bs`, `shuffle`, `num_workers`, `device`,
        and what the first block's loaders take (e.g. `seq_len` for text, `path`)."""
        dsets = self.datasets(source, verbose=verbose)
        return dsets.blocks[0].dataloaders(dsets, bs=bs, **kwargs)

    # ---------------------------------------------------------------- summary
    def summary(self, source: Any, bs: int = 4, show_batch: bool = False, **kwargs: Any) -> str:
        """Walk one item through every step, print what each produced, then collate a batch.

        A failing step is named with what it received, and its error is raised after the
        trace printed so far. Returns the printed text."""
        out = io.StringIO()

        def emit(line: str = "") -> None:
            print(line)
            out.write(line + "\n")

        emit(f"DataBlock summary: blocks {self.blocks}, n_inp={self.n_inp}")
        emit(f"Source: {_short_repr(source)}")
        try:
            self._summary_steps(source, bs, emit, kwargs)
        except DataBlockError as e:
            emit(f"\nFAILED: {e}")
            raise
        except Exception as e:  # noqa: BLE001 (a user's function or a decoder failed)
            emit(f"\nFAILED: {type(e).__name__}: {e}")
            raise
        return out.getvalue()

    def _summary_steps(
        self, source: Any, bs: int, emit: Callable[[str], None], kwargs: dict[str, Any]
    ) -> None:
        items = self._items(source)
        emit(
            f"\n1. get_items {_name(self.get_items) if self.get_items else '(the source)'}: "
            f"{len(items)} items, e.g. {_short_repr(_item(items, 0))}"
        )
        splits = self._split(items)
        emit(f"2. splitter {_name(self.splitter)}: {len(splits[0])} train, {len(splits[1])} valid")
        i = splits[0][0]
        emit(f"3. getters on training item {i}: {_short_repr(_item(items, i))}")
        row = items.iloc[i] if _is_frame(items) else items[i]
        for k, given in enumerate(self.getters):
            getter = given if given is not None else self.blocks[k].default_getter
            role = "get_x" if k < self.n_inp else "get_y"
            value = (
                row
                if getter is None
                else _step(f"{role} {_name(getter)}", getter, row, lambda g=getter: g(row))
            )
            emit(f"   {role} {_name(getter) if getter else '(none)'} -> {describe(value)}")
        dsets = self._datasets(source, items, splits, False)
        emit("4. blocks (set up on the training values):")
        for k, block in enumerate(dsets.blocks):
            enc = dsets.encoded_value(k, i)
            vocab = block.vocab
            extra = f"; vocab ({len(vocab)}): {_short(vocab)}" if vocab is not None else ""
            emit(f"   {block!r}: {describe(dsets.raw[k][i])} -> {describe(enc)}{extra}")
        emit("5. the item through the input pipeline (training):")
        for name, value in _traced(dsets.blocks[0].trace(dsets, i, True)):
            emit(f"   {name} -> {describe(value)}")
        sample = _step(
            "dataset item", dsets.train.__getitem__, "training item 0", lambda: dsets.train[0]
        )
        emit(f"   dataset item -> ({', '.join(describe(s) for s in sample)})")
        dls = dsets.blocks[0].dataloaders(dsets, bs=bs, num_workers=0, **kwargs)
        batch = _step(
            "collate",
            dsets.blocks[0].collate,
            f"{bs} training items",
            lambda: dls.train.one_batch(),
        )
        emit(
            f"6. one batch (bs={bs}), after collate and the batch transforms "
            f"{[_name(t) for t in dls.train.batch_tfms]}:"
        )
        for k, b in enumerate(batch):
            role = "x" if k < dls.train.n_inp else "y"
            emit(f"   {role}{k if len(batch) > 2 else ''}: {describe(b)}")
        emit("\nEvery step ran.")


# ---------------------------------------------------------------------------------- helpers
def _as_block(b: BlockLike) -> TransformBlock:
    if isinstance(b, TransformBlock):
        return b
    if callable(b):
        made = b()
        if isinstance(made, TransformBlock):
            return made
    raise DataBlockError(
        f"Expected blocks such as ImageBlock or CategoryBlock (the class or an "
        f"instance). Received: {b!r}."
    )


def _as_list(tfms: Any) -> list[Any]:
    if tfms is None:
        return []
    return list(tfms) if isinstance(tfms, (list, tuple, L)) else [tfms]


def _sorted_tfms(tfms: Sequence[Any]) -> list[Any]:
    return sorted(tfms, key=lambda t: getattr(t, "order", 50))


def _step(name: str, f: Any, received: Any, call: Callable[[], Any]) -> Any:
    """Run one step; any failure is re-raised naming the step and what it received."""
    try:
        return call()
    except DataBlockError:
        raise
    except Exception as e:
        raise DataBlockError(
            f"Step {name} failed on {_short_repr(received)}: {type(e).__name__}: {e}"
        ) from e


def _traced(steps: Iterator[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    """The steps of a trace, a failure naming the step after the last that worked."""
    last = "the start"
    while True:
        try:
            name, value = next(steps)
        except StopIteration:
            return
        except DataBlockError:
            raise
        except Exception as e:
            raise DataBlockError(f"The step after {last} failed: {type(e).__name__}: {e}") from e
        last = name
        yield name, value


def _is_frame(x: Any) -> bool:
    return hasattr(x, "iloc") and hasattr(x, "columns")


def _rows(df: Any) -> list[Any]:
    return [row for _, row in df.iterrows()]


def _item(items: Any, i: int) -> Any:
    return items.iloc[i] if _is_frame(items) else items[i]


def _plain(v: Any) -> Any:
    """numpy and 0-d tensor scalars as Python numbers (hashable, comparable)."""
    return v.item() if hasattr(v, "item") and getattr(v, "ndim", 1) == 0 else v


def _is_scalar_tensor(v: Any) -> bool:
    return isinstance(v, Tensor) and v.ndim == 0


def _name(f: Any) -> str:
    if f is None:
        return "None"
    if isinstance(f, type):
        return f.__name__
    name = getattr(f, "__name__", None)
    if name == "<lambda>":
        try:
            src = inspect.getsource(f).strip()
            return f"lambda ({src[src.index('lambda') :][:60]})"
        except (OSError, TypeError, ValueError):
            return "a lambda"
    if name:
        return name
    func = getattr(f, "func", None)  # a functools.partial
    if func is not None:
        return f"partial({_name(func)})"
    text = repr(f)
    if text.startswith("<") and hasattr(f, "__dict__"):  # an object without a repr of its own
        fields = ", ".join(f"{k}={v!r:.40}" for k, v in vars(f).items() if not k.startswith("_"))
        return f"{type(f).__name__}({fields})"
    return text


def _short(values: Any, n: int = 10) -> str:
    if values is None:
        return "None"
    values = list(values)
    body = ", ".join(repr(v) for v in values[:n])
    return f"[{body}{', ...' if len(values) > n else ''}]"


def _short_repr(x: Any, n: int = 100) -> str:
    if _is_frame(x):
        return f"a DataFrame of {len(x)} rows, columns {list(x.columns)[:10]}"
    if hasattr(x, "to_dict") and hasattr(x, "index"):  # a row
        text = repr(dict(list(x.to_dict().items())[:6]))
        return f"row {text[:n]}"
    text = repr(x)
    if isinstance(x, os.PathLike):  # a path is shown whole: its file name is at the end
        return text
    return text if len(text) <= n else text[: n - 3] + "..."


def describe(x: Any) -> str:
    """A short description of a value: its type, shape and dtype, or a clipped repr."""
    if isinstance(x, Tensor):
        text = f"tensor {tuple(x.shape)} {str(x.dtype).replace('torch.', '')}"
        if x.numel() <= 8:
            text += f" {x.tolist()}"
        elif x.is_floating_point() and x.numel():
            text += f" in [{x.min().item():.3g}, {x.max().item():.3g}]"
        return text
    if hasattr(x, "mode") and hasattr(x, "size") and hasattr(x, "getbands"):  # Pillow
        return f"{type(x).__name__} mode={x.mode} size={x.size[0]}x{x.size[1]} (w x h)"
    if isinstance(x, float) and math.isfinite(x):
        return f"{x:.6g}"
    if isinstance(x, (list, tuple)) and len(x) > 8:
        return f"{type(x).__name__} of {len(x)}: {_short_repr(list(x[:8]), 80)[:-1]}, ...]"
    return _short_repr(x)
