"""Labels and item datasets: class vocabularies, and items passed through item transforms."""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

__all__ = ["Categorize", "MultiCategorize", "ItemDataset"]


class Categorize:
    """Labels <-> class indices, with the vocabulary learned from the training labels (sorted)."""

    def __init__(self, vocab: Sequence[Any] | None = None) -> None:
        self.vocab = list(vocab) if vocab is not None else None

    def setup(self, labels: Iterable[Any]) -> Categorize:
        """Learn the vocabulary (sorted unique labels) if none was given."""
        if self.vocab is None:
            self.vocab = sorted(set(labels), key=lambda v: (str(type(v)), v))
        self._index = {v: i for i, v in enumerate(self.vocab)}
        return self

    def encode(self, labels: Iterable[Any]) -> torch.Tensor:
        """Class indices of `labels`; a label outside the vocabulary is a clear error."""
        if not hasattr(self, "_index"):
            self.setup([])
        out = []
        for label in labels:
            if label not in self._index:
                raise KeyError(
                    f"Label {label!r} is not in the vocabulary learned from the "
                    f"training set ({self.vocab[:10]}...). Fix: make sure every "
                    "validation label also occurs in training."
                )
            out.append(self._index[label])
        return torch.tensor(out, dtype=torch.long)

    def decode(self, index: int | torch.Tensor) -> Any:
        """The label of a class index."""
        return self.vocab[int(index)]


class MultiCategorize(Categorize):
    """Lists of labels <-> multi-hot float vectors (multi-label classification)."""

    def setup(self, labels: Iterable[Sequence[Any]]) -> MultiCategorize:
        """Learn the vocabulary from every label of every item."""
        if self.vocab is None:
            self.vocab = sorted({v for ls in labels for v in ls}, key=lambda v: (str(type(v)), v))
        self._index = {v: i for i, v in enumerate(self.vocab)}
        return self

    def encode(self, labels: Iterable[Sequence[Any]]) -> torch.Tensor:
        """A (N, n_classes) multi-hot float tensor; unknown labels are ignored."""
        labels = list(labels)
        out = torch.zeros(len(labels), len(self.vocab))
        for i, ls in enumerate(labels):
            for v in ls:
                if v in self._index:
                    out[i, self._index[v]] = 1.0
        return out

    def decode(self, multi_hot: torch.Tensor) -> list[Any]:
        """The labels whose entry is set."""
        return [self.vocab[i] for i in torch.nonzero(multi_hot).flatten().tolist()]


class ItemDataset(Dataset):
    """Items passed through item transforms, with pre-computed targets.

    A transform that fails on one item (a corrupt file, say) is reported with the item and,
    when `skip_bad` is true, the item is replaced by the next one, so a long run never dies
    on one bad file. The bad items are listed in `bad_items`.
    """

    def __init__(
        self,
        items: Sequence[Any],
        targets: torch.Tensor | None = None,
        tfms: Sequence[Callable[[Any], Any]] = (),
        *,
        skip_bad: bool = True,
    ) -> None:
        self.items, self.targets, self.tfms = list(items), targets, list(tfms)
        self.skip_bad = skip_bad
        self._bad: list[int] = []  # indices of the items that failed, in this process
        # loader workers hold copies of the dataset: they report failures through this file
        self._bad_log = os.path.join(
            tempfile.gettempdir(), f"fastlearn-bad-items-{os.getpid()}-{id(self)}.log"
        )

    @property
    def bad_items(self) -> list[Any]:
        """The items that failed to load, in this process or in the loader's workers."""
        idx = list(self._bad)
        with contextlib.suppress(OSError):
            with open(self._bad_log) as f:
                idx += [int(line) for line in f if line.strip().isdigit()]
        return [self.items[j] for j in dict.fromkeys(idx)]

    def _report_bad(self, j: int) -> bool:
        """Record item `j` as bad; True the first time (in this process)."""
        if j in self._bad:
            return False
        self._bad.append(j)
        if torch.utils.data.get_worker_info() is not None:
            with contextlib.suppress(OSError), open(self._bad_log, "a") as f:
                f.write(f"{j}\n")  # one short line: appends from several workers don't mix
        return True

    def __len__(self) -> int:
        return len(self.items)

    def _load(self, item: Any) -> Any:
        for tfm in self.tfms:
            item = tfm(item)
        return item

    def __getitem__(self, i: int) -> tuple[Any, ...]:
        last_error: Exception | None = None
        for attempt in range(min(len(self.items), 10)):
            j = (i + attempt) % len(self.items)
            try:
                x = self._load(self.items[j])
            except Exception as e:  # noqa: BLE001 (any failure of user or decode code)
                last_error = e
                if not self.skip_bad:
                    raise RuntimeError(f"Could not load item {self.items[j]!r}: {e}") from e
                if self._report_bad(j):
                    warnings.warn(
                        f"Skipping item {self.items[j]!r}: {type(e).__name__}: {e}", stacklevel=2
                    )
                continue
            return (x,) if self.targets is None else (x, self.targets[j])
        raise RuntimeError(
            f"10 items in a row failed to load, from {self.items[i]!r}. "
            "Fix: check the files (see verify_images for images)."
        ) from last_error

    def new_test(self, items: Sequence[Any]) -> ItemDataset:
        """The same item transforms over new, unlabelled items."""
        return ItemDataset(items, None, self.tfms, skip_bad=False)
