"""ImageDataLoaders and SegmentationDataLoaders: labelled image files to batches on the device.

    >>> path = untar_data(URLs.PETS) / "images"
    >>> def is_cat(name): return name[0].isupper()
    >>> dls = ImageDataLoaders.from_name_func(path, get_image_files(path), is_cat,
    ...                                       valid_pct=0.2, seed=42, item_tfms=Resize(224))
    >>> x, y = dls.one_batch()          # float (64, 3, 224, 224) in [0, 1], long (64,)

Every constructor is a thin wrapper over a `DataBlock` (an `ImageBlock` and a `CategoryBlock`,
`MultiCategoryBlock`, `RegressionBlock` or `MaskBlock`), so labels, vocabularies and splits
are made in one place. Items are decoded and resized on the CPU (in worker processes),
collated as uint8 (4x less to copy to the GPU than floats), then turned into floats, augmented
and normalised on the device. Each split has its own dataset, which tells the item transforms
whether it is training (random crops) or not (centre crops). Options every constructor takes
(`**kwargs`):

- `valid_pct=0.2`, `seed=None`, or `splitter=` (any core splitter, e.g. `IndexSplitter`);
- `item_tfms` (CPU, per item, e.g. `Resize(224)`), `batch_tfms` (device, e.g.
  `aug_transforms()`); `IntToFloat` is always added, and `Normalize` when given;
- `bs=64`, `val_bs=None`, `shuffle=True`, `num_workers=None` (the core's choice), `device`;
- `mode='RGB'` ('L', 'LA', 'RGBA' or None for the stored channels; `dls.n_channels`);
- `max_pixels=10**8`: larger images are refused from their header before decoding (skipped
  and reported as bad items); None removes the bound;
- `task=None`: 'classification', 'multi_label' (labels are lists) or 'regression' (numbers);
  found from the labels when None; `vocab=` fixes the classes and their order.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch
from torch import nn

from ..core.collections import L, Path
from ..core.data import DataLoader, DataLoaders
from ..core.datablock import CategoryBlock, DataBlock, MultiCategoryBlock, RegressionBlock
from ..core.getters import ColReader, RegexLabeller, parent_label, using_attr
from ..core.losses import BCEWithLogitsLossFlat, CrossEntropyLossFlat, MSELossFlat
from ..core.splitters import GrandparentSplitter, IndexSplitter, RandomSplitter, Splits
from .augment import CenterResize, Normalize
from .blocks import ImageBlock, MaskBlock, sorted_batch_tfms
from .image import MAX_PIXELS, get_image_files

__all__ = ["ImageDataLoaders", "SegmentationDataLoaders", "RegexLabeller"]

_CHANNELS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}
_TASKS = ("classification", "multi_label", "regression", "segmentation", "points")
_LABEL_BLOCKS = {
    "classification": CategoryBlock,
    "multi_label": MultiCategoryBlock,
    "regression": RegressionBlock,
}


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
        task: str | None = "classification",
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
            dl.batch_tfms = sorted_batch_tfms(tfms + [Normalize(mean, std)])
        return self

    @property
    def size(self) -> tuple[int, int] | None:
        """The (h, w) of the batches the model sees (after any batch resize)."""
        resize = next((t for t in self.train.batch_tfms if isinstance(t, CenterResize)), None)
        return resize.size if resize is not None else self.item_size

    @property
    def n_out(self) -> int:
        """Model outputs: one per class (or code), per regression target, or 2 per point."""
        if self.task == "points":
            return int(self.train.dataset.items[0][1].numel())
        if self.task == "regression":
            targets = self.train.dataset.targets
            return 1 if targets.ndim == 1 else int(targets.shape[1])
        if self.vocab is None:
            raise ValueError(
                "The number of classes is unknown. Fix: pass codes= (the class "
                "names of the mask values) to SegmentationDataLoaders."
            )
        return len(self.vocab)

    @property
    def loss_func(self) -> nn.Module:
        """The loss the task calls for (the learner's default)."""
        losses = {
            "classification": CrossEntropyLossFlat,
            "multi_label": BCEWithLogitsLossFlat,
            "regression": MSELossFlat,
            "segmentation": partial(CrossEntropyLossFlat, axis=1),
            "points": MSELossFlat,
        }
        if self.task not in losses:
            raise ValueError(f"No default loss for task {self.task!r}. Fix: pass loss_func=.")
        return losses[self.task]()

    def to_state(self) -> dict[str, Any]:
        """The preprocessing as plain JSON (for export): decode mode, resize, normalisation."""
        norm = self.normalize
        return {
            "task": self.task,
            "vocab": None if self.vocab is None else list(self.vocab),
            "mode": self.mode,
            "n_channels": self.n_channels,
            "item_size": None if self.item_size is None else list(self.item_size),
            "resize_method": self.resize_method,
            "size": None if self.size is None else list(self.size),
            "normalize": None if norm is None else norm.to_state(),
        }

    def show_batch(
        self, max_n: int = 9, *, ds_idx: int = 0, dl: DataLoader | None = None, **kwargs: Any
    ) -> Any:
        """Draw `max_n` images of a batch of `dl` (default `self[ds_idx]`; training: augmented)
        with their labels or masks; returns the figure. Keywords: `nrows`, `ncols`, `figsize`,
        `dpi`, `unique`, `path` (see `vision.show.show_image_loader`).

            >>> dls.show_batch(nrows=1, ncols=3)
        """
        from .show import show_image_loader

        return show_image_loader(
            self, dl if dl is not None else self[ds_idx], max_n=max_n, **kwargs
        )

    # ------------------------------------------------------------------ constructors
    # Each is a thin wrapper: a DataBlock (ImageBlock + a label block) and its `dataloaders`.
    @classmethod
    def from_name_func(
        cls,
        path: str | Path,
        fnames: Sequence[str | Path],
        label_func: Callable[[str], Any],
        **kwargs: Any,
    ) -> ImageDataLoaders:
        """Labels from `label_func(file name)` (the name only, e.g. 'Abyssinian_1.jpg')."""
        return cls._from_files(path, fnames, using_attr(label_func, "name"), **kwargs)

    @classmethod
    def from_path_func(
        cls,
        path: str | Path,
        fnames: Sequence[str | Path],
        label_func: Callable[[Path], Any],
        **kwargs: Any,
    ) -> ImageDataLoaders:
        """Labels from `label_func(path of the file)`."""
        return cls._from_files(path, fnames, label_func, **kwargs)

    @classmethod
    def from_name_re(
        cls, path: str | Path, fnames: Sequence[str | Path], pat: str, **kwargs: Any
    ) -> ImageDataLoaders:
        """Labels from the first group of regex `pat` searched in each file name.

        >>> ImageDataLoaders.from_name_re(path, files, r"^(.+)_\\d+\\.jpg$")
        """
        return cls._from_files(path, fnames, RegexLabeller(pat, match="name"), **kwargs)

    @classmethod
    def from_path_re(
        cls, path: str | Path, fnames: Sequence[str | Path], pat: str, **kwargs: Any
    ) -> ImageDataLoaders:
        """Labels from the first group of regex `pat` searched in each full path (with '/')."""
        return cls._from_files(path, fnames, RegexLabeller(pat, match="path"), **kwargs)

    @classmethod
    def from_folder(
        cls,
        path: str | Path,
        train: str = "train",
        valid: str = "valid",
        *,
        valid_pct: float | None = None,
        seed: int | None = None,
        **kwargs: Any,
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
        return cls._from_files(path, files, parent_label, **kwargs)

    @classmethod
    def from_lists(
        cls, path: str | Path, fnames: Sequence[str | Path], labels: Sequence[Any], **kwargs: Any
    ) -> ImageDataLoaders:
        """Files (relative to `path`, or absolute) and their labels, in two lists."""
        if len(fnames) != len(labels):
            raise ValueError(
                f"Expected one label per file. Received: {len(fnames)} files, {len(labels)} labels."
            )
        pairs = L(zip((Path(path) / f for f in fnames), labels))
        if kwargs.get("splitter") is not None:
            kwargs["splitter"] = _FilesSplitter(kwargs["splitter"])
        return cls._from_block(
            path, pairs, get_x=operator.itemgetter(0), get_y=operator.itemgetter(1), **kwargs
        )

    @classmethod
    def from_df(
        cls,
        df: Any,
        path: str | Path = ".",
        *,
        fn_col: int | str = 0,
        folder: str | None = None,
        suff: str = "",
        label_col: int | str = 1,
        label_delim: str | None = None,
        valid_col: int | str | None = None,
        **kwargs: Any,
    ) -> ImageDataLoaders:
        """Files from column `fn_col` (under `path/folder`, + `suff`), labels from `label_col`.

        `label_delim` splits each label into several (multi-label); rows whose `valid_col` is
        true are the validation set.

            >>> ImageDataLoaders.from_df(df, path, folder="train", label_delim=" ")
        """
        base = Path(path) / folder if folder else Path(path)
        if label_delim is not None:
            kwargs.setdefault("task", "multi_label")
        if valid_col is not None:
            valid = [i for i, v in enumerate(_column(df, valid_col)) if bool(v)]
            kwargs.setdefault("splitter", IndexSplitter(valid))
        return cls._from_block(
            path,
            df,
            get_x=ColReader(fn_col, pref=base, suff=suff),
            get_y=ColReader(label_col, label_delim=label_delim),
            **kwargs,
        )

    @classmethod
    def from_csv(
        cls,
        path: str | Path,
        csv_fname: str | Path = "labels.csv",
        *,
        header: Any = "infer",
        delimiter: str | None = None,
        **kwargs: Any,
    ) -> ImageDataLoaders:
        """`from_df` on `path/csv_fname` read with pandas."""
        import pandas as pd

        df = pd.read_csv(Path(path) / csv_fname, header=header, sep=delimiter or ",")
        return cls.from_df(df, path, **kwargs)

    @classmethod
    def _from_files(
        cls, path: str | Path, fnames: Sequence[str | Path], get_y: Callable, **kwargs: Any
    ) -> ImageDataLoaders:
        return cls._from_block(path, L(Path(f) for f in fnames), get_y=get_y, **kwargs)

    @classmethod
    def _from_block(
        cls,
        path: str | Path,
        source: Any,
        *,
        get_y: Callable,
        get_x: Callable | None = None,
        target: Any = None,
        task: str | None = None,
        vocab: Sequence[Any] | None = None,
        splitter: Callable[[Any], Splits] | None = None,
        valid_pct: float = 0.2,
        seed: int | None = None,
        item_tfms: Any = None,
        batch_tfms: Any = None,
        bs: int = 64,
        val_bs: int | None = None,
        shuffle: bool = True,
        num_workers: int | None = None,
        mode: str | None = "RGB",
        device: torch.device | str | None = None,
        max_pixels: int | None = MAX_PIXELS,
    ) -> ImageDataLoaders:
        """The shared builder: a DataBlock of an ImageBlock and the target block (chosen from
        `task`, or from the first label), then its loaders."""
        _check_items(path, source)
        if target is None:
            first = source.iloc[0] if hasattr(source, "iloc") else source[0]
            task = task or _infer_task(_first_label(get_y, first))
            if task not in _LABEL_BLOCKS:
                raise ValueError(
                    f"Expected task in {tuple(_LABEL_BLOCKS)}. Received: {task!r}. "
                    "Fix: SegmentationDataLoaders for masks, a DataBlock with "
                    "PointBlock for points."
                )
            target = RegressionBlock() if task == "regression" else _LABEL_BLOCKS[task](vocab=vocab)
        block = DataBlock(
            blocks=(ImageBlock(mode=mode, max_pixels=max_pixels), target),
            get_x=get_x,
            get_y=get_y,
            splitter=splitter or RandomSplitter(valid_pct, seed),
            item_tfms=item_tfms,
            batch_tfms=batch_tfms,
        )
        return block.dataloaders(
            source,
            bs=bs,
            val_bs=val_bs,
            shuffle=shuffle,
            num_workers=num_workers,
            device=device,
            path=path,
        )


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
        cls,
        path: str | Path,
        fnames: Sequence[str | Path],
        label_func: Callable[[Path], Any],
        *,
        codes: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> SegmentationDataLoaders:
        """Masks at `label_func(image path)`; `codes` names the mask values 0, 1, ..."""
        kwargs.pop("task", None)
        kwargs.pop("vocab", None)
        return cls._from_files(path, fnames, label_func, target=MaskBlock(codes), **kwargs)


class _FilesSplitter:
    """A user's splitter of `from_lists`, shown the files (not the (file, label) pairs)."""

    def __init__(self, splitter: Callable[[Any], Splits]) -> None:
        self.splitter = splitter

    def __repr__(self) -> str:
        return repr(self.splitter)

    def __call__(self, pairs: Sequence[tuple[Any, Any]]) -> Splits:
        return self.splitter([f for f, _ in pairs])


def _first_label(get_y: Callable, item: Any) -> Any:
    """The first item's label, to choose the target block (None when the getter fails: the
    DataBlock then reports that failure with the item)."""
    try:
        return get_y(item)
    except Exception:  # noqa: BLE001 (reported by the DataBlock's step, with its context)
        return None


def _check_items(path: str | Path, items: Any) -> None:
    if len(items) == 0:
        raise ValueError(
            f"Expected image files. Received none (path={str(path)!r}). Fix: check that the "
            "folder holds images (.jpg, .jpeg, .png, .webp, .bmp, .tif ...; "
            "get_image_files(path, extensions=[...]) for others) and the file list or pattern "
            "that selects them."
        )


def _infer_task(label: Any) -> str:
    return "multi_label" if isinstance(label, (list, tuple, set)) else "classification"


def _column(df: Any, col: int | str) -> list[Any]:
    if isinstance(col, int):
        return list(df.iloc[:, col])
    if col not in df.columns:
        raise KeyError(f"Expected a column {col!r}. Received columns: {list(df.columns)}.")
    return list(df[col])
