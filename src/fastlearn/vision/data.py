"""ImageDataLoaders and SegmentationDataLoaders: labelled image files to batches on the device.

    >>> path = untar_data(URLs.PETS) / "images"
    >>> def is_cat(name): return name[0].isupper()
    >>> dls = ImageDataLoaders.from_name_func(path, get_image_files(path), is_cat,
    ...                                       valid_pct=0.2, seed=42, item_tfms=Resize(224))
    >>> x, y = dls.one_batch()          # float (64, 3, 224, 224) in [0, 1], long (64,)

Items are decoded and resized on the CPU (in worker processes), collated as uint8 (4x less to
copy to the GPU than floats), then turned into floats, augmented and normalised on the device.
Each split has its own dataset, which tells the item transforms whether it is training (random
crops) or not (centre crops). Options every constructor takes (`**kwargs`):

- `valid_pct=0.2`, `seed=None`, or `splitter=` (any core splitter, e.g. `IndexSplitter`);
- `item_tfms` (CPU, per item, e.g. `Resize(224)`), `batch_tfms` (device, e.g.
  `aug_transforms()`); `IntToFloat` is always added, and `Normalize` when given;
- `bs=64`, `val_bs=None`, `shuffle=True`, `num_workers=None` (the core's choice), `device`;
- `mode='RGB'` ('L', 'LA', 'RGBA' or None for the stored channels; `dls.n_channels`);
- `task=None`: 'classification', 'multi_label' (labels are lists) or 'regression' (numbers);
  found from the labels when None; `vocab=` fixes the classes and their order.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..core.data import DataLoader, DataLoaders, encode_split
from ..core.items import Categorize, MultiCategorize
from ..core.losses import BCEWithLogitsLossFlat, CrossEntropyLossFlat, MSELossFlat
from ..core.splitters import GrandparentSplitter, IndexSplitter, RandomSplitter, Splits
from ..core.torch_utils import default_device, num_cpus
from .augment import CenterResize, IntToFloat, Normalize
from .dataset import ImageDataset, collate_images
from .image import get_image_files

__all__ = ["ImageDataLoaders", "SegmentationDataLoaders", "RegexLabeller"]

_CHANNELS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}
_TASKS = ("classification", "multi_label", "regression", "segmentation")


class ImageDataLoaders(DataLoaders):
    """Training and validation loaders over images, and what the learner and export need.

    `vocab` (classes in training order, or the segmentation codes), `task`, `n_channels`,
    `item_size` and `resize_method` (the item resize), `size` (what the model sees),
    `normalize` (the `Normalize` in the batch transforms, or None).
    """

    def __init__(
        self,
        train: DataLoader,
        valid: DataLoader | None = None,
        *,
        device: torch.device | str | None = None,
        vocab: Sequence[Any] | None = None,
        task: str = "classification",
        path: str | Path = ".",
    ) -> None:
        super().__init__(train, valid, device=device, vocab=vocab)
        ds = train.dataset  # an ImageDataset, or any dataset of (C, H, W) images
        self.task, self.path, self.mode = task, Path(path), getattr(ds, "mode", None)
        resize = next((t for t in getattr(ds, "tfms", ()) if hasattr(t, "size")), None)
        self.item_size = getattr(resize, "size", None)
        self.resize_method = getattr(resize, "method", type(resize).__name__ if resize else None)
        self.n_channels = _CHANNELS[self.mode] if self.mode else int(ds[0][0].shape[0])

    # ------------------------------------------------------------------ what the model needs
    @property
    def normalize(self) -> Normalize | None:
        """The `Normalize` batch transform, if any (the learner adds one for pretrained models)."""
        return next((t for t in self.train.batch_tfms if isinstance(t, Normalize)), None)

    def add_normalize(self, mean: Sequence[float], std: Sequence[float]) -> ImageDataLoaders:
        """Normalise batches with these statistics from now on (replacing any earlier ones)."""
        for dl in self.loaders:
            tfms = [t for t in dl.batch_tfms if not isinstance(t, Normalize)]
            dl.batch_tfms = _sorted(tfms + [Normalize(mean, std)])
        return self

    @property
    def size(self) -> tuple[int, int] | None:
        """The (h, w) of the batches the model sees (after any batch resize)."""
        resize = next((t for t in self.train.batch_tfms if isinstance(t, CenterResize)), None)
        return resize.size if resize is not None else self.item_size

    @property
    def n_out(self) -> int:
        """Model outputs: one per class (or code), or one per regression target."""
        if self.task == "regression":
            targets = self.train.dataset.targets
            return 1 if targets.ndim == 1 else int(targets.shape[1])
        if self.vocab is None:
            raise ValueError("The number of classes is unknown. Fix: pass codes= (the class "
                             "names of the mask values) to SegmentationDataLoaders.")
        return len(self.vocab)

    @property
    def loss_func(self) -> nn.Module:
        """The loss the task calls for (the learner's default)."""
        losses = {"classification": CrossEntropyLossFlat, "multi_label": BCEWithLogitsLossFlat,
                  "regression": MSELossFlat, "segmentation": partial(CrossEntropyLossFlat, axis=1)}
        return losses[self.task]()

    def to_state(self) -> dict[str, Any]:
        """The preprocessing as plain JSON (for export): decode mode, resize, normalisation."""
        norm = self.normalize
        return {"task": self.task, "vocab": None if self.vocab is None else list(self.vocab),
                "mode": self.mode, "n_channels": self.n_channels,
                "item_size": None if self.item_size is None else list(self.item_size),
                "resize_method": self.resize_method,
                "size": None if self.size is None else list(self.size),
                "normalize": None if norm is None else norm.to_state()}

    def show_batch(
        self, max_n: int = 9, *, path: str | Path | None = None, ncols: int = 3, ds_idx: int = 0,
        figsize: tuple[float, float] | None = None,
    ) -> Any:
        """Draw `max_n` images of a batch (training: augmented) with their labels or masks.

        With `path`, the grid is saved there as a PNG. Returns the matplotlib figure.
        """
        from .show import show_image_batch

        return show_image_batch(self, self[ds_idx].one_batch(), max_n=max_n, ncols=ncols,
                                path=path, figsize=figsize)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_name_func(
        cls, path: str | Path, fnames: Sequence[str | Path], label_func: Callable[[str], Any],
        **kwargs: Any,
    ) -> ImageDataLoaders:
        """Labels from `label_func(file name)` (the name only, e.g. 'Abyssinian_1.jpg')."""
        fnames = [Path(f) for f in fnames]
        labels = _labels(lambda f: label_func(f.name), fnames, label_func)
        return cls._from_labelled(path, fnames, labels, **kwargs)

    @classmethod
    def from_path_func(
        cls, path: str | Path, fnames: Sequence[str | Path], label_func: Callable[[Path], Any],
        **kwargs: Any,
    ) -> ImageDataLoaders:
        """Labels from `label_func(path of the file)`."""
        fnames = [Path(f) for f in fnames]
        return cls._from_labelled(path, fnames, _labels(label_func, fnames, label_func), **kwargs)

    @classmethod
    def from_name_re(
        cls, path: str | Path, fnames: Sequence[str | Path], pat: str, **kwargs: Any
    ) -> ImageDataLoaders:
        """Labels from the first group of regex `pat` searched in each file name.

            >>> ImageDataLoaders.from_name_re(path, files, r"^(.+)_\\d+\\.jpg$")
        """
        fnames = [Path(f) for f in fnames]
        labeller = RegexLabeller(pat, match="name")
        return cls._from_labelled(path, fnames, _labels(labeller, fnames, labeller), **kwargs)

    @classmethod
    def from_path_re(
        cls, path: str | Path, fnames: Sequence[str | Path], pat: str, **kwargs: Any
    ) -> ImageDataLoaders:
        """Labels from the first group of regex `pat` searched in each full path (with '/')."""
        fnames = [Path(f) for f in fnames]
        labeller = RegexLabeller(pat, match="path")
        return cls._from_labelled(path, fnames, _labels(labeller, fnames, labeller), **kwargs)

    @classmethod
    def from_folder(
        cls, path: str | Path, train: str = "train", valid: str = "valid", *,
        valid_pct: float | None = None, seed: int | None = None, **kwargs: Any,
    ) -> ImageDataLoaders:
        """Label = parent folder's name; `path/train` and `path/valid` are the splits.

        With `valid_pct`, every image under `path` is used and split at random instead.
        """
        if valid_pct is None:
            files = get_image_files(path, folders=[train, valid])
            kwargs.setdefault("splitter", GrandparentSplitter(train, valid))
        else:
            files = get_image_files(path)
            kwargs.update(valid_pct=valid_pct, seed=seed)
        return cls._from_labelled(path, files, [f.parent.name for f in files], **kwargs)

    @classmethod
    def from_lists(
        cls, path: str | Path, fnames: Sequence[str | Path], labels: Sequence[Any], **kwargs: Any
    ) -> ImageDataLoaders:
        """Files (relative to `path`, or absolute) and their labels, in two lists."""
        fnames = [Path(path) / f for f in fnames]
        if len(fnames) != len(labels):
            raise ValueError(f"Expected one label per file. Received: {len(fnames)} files, "
                             f"{len(labels)} labels.")
        return cls._from_labelled(path, fnames, list(labels), **kwargs)

    @classmethod
    def from_df(
        cls, df: Any, path: str | Path = ".", *, fn_col: int | str = 0, folder: str | None = None,
        suff: str = "", label_col: int | str = 1, label_delim: str | None = None,
        valid_col: int | str | None = None, **kwargs: Any,
    ) -> ImageDataLoaders:
        """Files from column `fn_col` (under `path/folder`, + `suff`), labels from `label_col`.

        `label_delim` splits each label into several (multi-label); rows whose `valid_col` is
        true are the validation set.

            >>> ImageDataLoaders.from_df(df, path, folder="train", label_delim=" ")
        """
        col = _column(df, fn_col)
        base = Path(path) / folder if folder else Path(path)
        fnames = [base / f"{f}{suff}" for f in col]
        labels = list(_column(df, label_col))
        if label_delim is not None:
            labels = [[s for s in _text(v).split(label_delim) if s] for v in labels]
            kwargs.setdefault("task", "multi_label")
        if valid_col is not None:
            valid = [i for i, v in enumerate(_column(df, valid_col)) if bool(v)]
            kwargs.setdefault("splitter", IndexSplitter(valid))
        return cls._from_labelled(path, fnames, labels, **kwargs)

    @classmethod
    def from_csv(
        cls, path: str | Path, csv_fname: str | Path = "labels.csv", *, header: Any = "infer",
        delimiter: str | None = None, **kwargs: Any,
    ) -> ImageDataLoaders:
        """`from_df` on `path/csv_fname` read with pandas."""
        import pandas as pd

        df = pd.read_csv(Path(path) / csv_fname, header=header, sep=delimiter or ",")
        return cls.from_df(df, path, **kwargs)

    @classmethod
    def _from_labelled(
        cls, path: str | Path, items: Sequence[Any], labels: Sequence[Any] | None, *,
        task: str | None = None, vocab: Sequence[Any] | None = None,
        splitter: Callable[[Sequence[Any]], Splits] | None = None, valid_pct: float = 0.2,
        seed: int | None = None, item_tfms: Any = None, batch_tfms: Any = None, bs: int = 64,
        val_bs: int | None = None, shuffle: bool = True, num_workers: int | None = None,
        mode: str | None = "RGB", device: torch.device | str | None = None,
    ) -> ImageDataLoaders:
        """The shared builder: split, encode the labels, build both loaders."""
        items = _check_items(path, items)
        task = task or _infer_task(labels)
        if task not in _TASKS:
            raise ValueError(f"Expected task in {_TASKS}. Received: {task!r}.")
        splits = (splitter or RandomSplitter(valid_pct, seed))(items)
        targets, vocab = _encode(labels, splits, task, vocab)
        item_tfms, batch_tfms = _as_list(item_tfms), _sorted([IntToFloat(), *_as_list(batch_tfms)])
        dsets = [ImageDataset([items[i] for i in idx], None if targets is None else targets[idx],
                              item_tfms, train=k == 0, mode=mode,
                              segmentation=task == "segmentation")
                 for k, idx in enumerate(splits)]
        device = torch.device(device) if device is not None else default_device()
        common = dict(num_workers=min(num_cpus(), 8) if num_workers is None else num_workers,
                      collate_fn=collate_images, batch_tfms=batch_tfms, device=device)
        train = DataLoader(dsets[0], bs, shuffle=shuffle, drop_last=len(dsets[0]) > bs,
                           augment=True, **common)
        valid = DataLoader(dsets[1], val_bs or bs, **common) if splits[1] else None
        return cls(train, valid, device=device, vocab=vocab, task=task, path=path)


class SegmentationDataLoaders(ImageDataLoaders):
    """Images and their masks of class indices (Pillow 'P' or 'L' files), same geometry.

        >>> dls = SegmentationDataLoaders.from_label_func(
        ...     path, get_image_files(path / "images"),
        ...     lambda f: path / "labels" / f"{f.stem}_P.png", codes=codes,
        ...     item_tfms=Resize((96, 128)), batch_tfms=aug_transforms())
        >>> x, mask = dls.one_batch()   # float (B, 3, 96, 128), long (B, 96, 128)
    """

    @classmethod
    def from_label_func(
        cls, path: str | Path, fnames: Sequence[str | Path], label_func: Callable[[Path], Any],
        *, codes: Sequence[str] | None = None, **kwargs: Any,
    ) -> SegmentationDataLoaders:
        """Masks at `label_func(image path)`; `codes` names the mask values 0, 1, ..."""
        fnames = [Path(f) for f in fnames]
        masks = [Path(m) for m in _labels(label_func, fnames, label_func)]
        missing = [(str(f), str(m)) for f, m in zip(fnames, masks) if not m.is_file()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} masks do not exist, e.g. {missing[0][1]!r} for image "
                f"{missing[0][0]!r}. Fix: make label_func return each image's mask file."
            )
        kwargs.update(task="segmentation", vocab=None if codes is None else list(codes))
        return cls._from_labelled(path, list(zip(fnames, masks)), None, **kwargs)


class RegexLabeller:
    """The first group of `pat` in a file's name (`match='name'`) or full path ('path')."""

    def __init__(self, pat: str, match: str = "name") -> None:
        self.pat, self.match = re.compile(pat), match
        if self.pat.groups < 1:
            raise ValueError(f"Expected a pattern with a group (...) around the label. "
                             f"Received: {pat!r}.")

    def __repr__(self) -> str:
        return f"RegexLabeller({self.pat.pattern!r}, match={self.match!r})"

    def __call__(self, f: Path) -> str:
        text = f.name if self.match == "name" else f.as_posix()
        found = self.pat.search(text)
        if found is None:
            raise ValueError(f"Pattern {self.pat.pattern!r} does not match {text!r}")
        return found.group(1)


def _labels(func: Callable, fnames: Sequence[Path], shown: Callable) -> list[Any]:
    """`func` on every file; a failure names the file and the user's function `shown`."""
    out = []
    for f in fnames:
        try:
            out.append(func(f))
        except Exception as e:
            name = getattr(shown, "__name__", None) or repr(shown)
            raise ValueError(f"Label function {name} failed on {str(f)!r}: "
                             f"{type(e).__name__}: {e}. Fix: make it handle this file, or "
                             "filter the files first.") from e
    return out


def _check_items(path: str | Path, items: Sequence[Any]) -> list[Any]:
    items = list(items)
    if not items:
        raise ValueError(
            f"Expected image files. Received none (path={str(path)!r}). Fix: check that the "
            "folder holds images (.jpg, .jpeg, .png, .webp, .bmp, .tif ...; "
            "get_image_files(path, extensions=[...]) for others) and the file list or pattern "
            "that selects them."
        )
    return items


def _infer_task(labels: Sequence[Any] | None) -> str:
    if labels is None:
        return "segmentation"
    return "multi_label" if isinstance(labels[0], (list, tuple, set)) else "classification"


def _encode(
    labels: Sequence[Any] | None, splits: Splits, task: str, vocab: Sequence[Any] | None
) -> tuple[Tensor | None, list[Any] | None]:
    """Targets for every item and the vocabulary learned from the training items."""
    if task == "segmentation":
        return None, None if vocab is None else list(vocab)
    if task == "regression":
        return torch.tensor([float(v) if not isinstance(v, (list, tuple)) else list(v)
                             for v in labels], dtype=torch.float32), None
    train_labels = [labels[i] for i in splits[0]]
    if task == "multi_label":
        cat = MultiCategorize(vocab).setup(train_labels)
        return cat.encode(labels), cat.vocab
    cat = Categorize(vocab).setup(train_labels)
    return encode_split(cat, labels, splits), cat.vocab


def _as_list(tfms: Any) -> list:
    if tfms is None:
        return []
    return list(tfms) if isinstance(tfms, (list, tuple)) else [tfms]


def _sorted(tfms: Sequence[Callable]) -> list[Callable]:
    """Batch transforms by their `order` (50 when they have none); one `IntToFloat` kept."""
    seen_int, out = False, []
    for t in tfms:
        if isinstance(t, IntToFloat):
            if seen_int:
                continue
            seen_int = True
        out.append(t)
    return sorted(out, key=lambda t: getattr(t, "order", 50))


def _text(value: Any) -> str:
    """A cell as text; a missing cell (None, NaN) as ''."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _column(df: Any, col: int | str) -> list[Any]:
    if isinstance(col, int):
        return list(df.iloc[:, col])
    if col not in df.columns:
        raise KeyError(f"Expected a column {col!r}. Received columns: {list(df.columns)}.")
    return list(df[col])

