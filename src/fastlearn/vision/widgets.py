"""The names of `fastai.vision.widgets`, for the course's chapter 2, without notebook widgets.

    from fastlearn.vision.widgets import *
    cleaner = ImageClassifierCleaner(learn)     # a table: every image ranked by its loss
    cleaner                                     # path, split, label, predicted, loss, prob
    cleaner.plot(9)                             # the worst images, titled by row number
    cleaner.mark_delete(0, 3); cleaner.mark_change(5, "grizzly")
    for idx in cleaner.delete(): cleaner.fns[idx].unlink()
    for idx, cat in cleaner.change(): shutil.move(str(cleaner.fns[idx]), path/cat)

fastlearn has no ipywidgets. `widgets.FileUpload()`, `VBox(...)` and the other widget names
exist so the import works, and raise `WidgetsUnavailableError` when called, saying what to
use instead: `fastlearn serve model.fl` is the web page with an upload button, and
`PILImage.create(path_or_bytes)` reads an image in the notebook.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from .pil import PILImage, image2tensor
from .show import show_images

if TYPE_CHECKING:
    import pandas as pd

    from ..core.data import DataLoader
    from ..core.learner import Learner

__all__ = [
    "ImageClassifierCleaner",
    "WidgetsUnavailableError",
    "widgets",
    "FileUpload",
    "Output",
    "Label",
    "Button",
    "Dropdown",
    "VBox",
    "HBox",
    "Box",
    "Layout",
]


class WidgetsUnavailableError(RuntimeError):
    """A notebook widget the course uses, which fastlearn does not provide."""


_APP = (
    "To try the model on your own images, export it (learn.export('model.fl')) and run "
    "`fastlearn serve model.fl`: a web page with an upload button that shows the "
    "prediction. In the notebook, read a file or bytes directly: "
    "img = PILImage.create('bear.jpg'); learn.predict(img)."
)


class _NoWidget:
    """A stand-in for an ipywidgets class: calling it raises with what to use instead."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}: not available in fastlearn (no notebook widgets)>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise WidgetsUnavailableError(
            f"fastlearn has no notebook widgets, so {self.name}() is not available. {_APP} "
            "To clean a dataset: ImageClassifierCleaner(learn) lists every image by loss "
            "(cleaner.plot() draws the worst); mark rows with cleaner.mark_delete(...) and "
            "cleaner.mark_change(...)."
        )


FileUpload = _NoWidget("widgets.FileUpload")
Output = _NoWidget("widgets.Output")
Label = _NoWidget("widgets.Label")
Button = _NoWidget("widgets.Button")
Dropdown = _NoWidget("widgets.Dropdown")
VBox = _NoWidget("VBox")
HBox = _NoWidget("HBox")
Box = _NoWidget("Box")
Layout = _NoWidget("Layout")
#: `widgets.FileUpload()` and the rest, as the course spells them (fastai re-exports ipywidgets).
widgets = SimpleNamespace(
    FileUpload=FileUpload,
    Output=Output,
    Label=Label,
    Button=Button,
    Dropdown=Dropdown,
    VBox=VBox,
    HBox=HBox,
    Box=Box,
    Layout=Layout,
)


class ImageClassifierCleaner:
    """The course's dataset cleaner as a table: every training and validation image of a
    single-label classifier, ranked by loss (highest first), so mislabelled or junk images
    come first.

    `frame` (a pandas DataFrame, printed as the cleaner's repr) has the columns path, split,
    label, predicted, loss and probability (of the predicted class); `fns` lists the paths in
    row order. Mark rows with `mark_delete` / `mark_change`; `delete()` and `change()` return
    them as fastai's cleaner does, so the course's loops run unchanged. `max_n` keeps only the
    worst rows.
    """

    def __init__(self, learn: Learner, *, max_n: int | None = None) -> None:
        self.vocab = list(learn.dls.vocab) if learn.dls.vocab is not None else None
        if self.vocab is None:
            raise TypeError(
                "ImageClassifierCleaner expects a classifier's loaders (with "
                "classes). Received loaders with vocab=None."
            )
        import pandas as pd

        frames = [
            _ranked(learn, dl, split, self.vocab)
            for split, dl in (("train", learn.dls.train), ("valid", learn.dls.valid))
            if dl is not None
        ]
        frame = pd.concat(frames).sort_values("loss", ascending=False, kind="stable")
        self.frame: pd.DataFrame = (
            frame.head(max_n).reset_index(drop=True) if max_n else frame.reset_index(drop=True)
        )
        self.fns: list[Path] = [Path(p) for p in self.frame["path"]]
        self._delete: set[int] = set()
        self._change: dict[int, Any] = {}

    def __repr__(self) -> str:
        return self.frame.to_string(max_rows=30)

    def _repr_html_(self) -> str:
        return self.frame._repr_html_()

    def __len__(self) -> int:
        return len(self.frame)

    def _check_rows(self, idxs: Sequence[int]) -> None:
        bad = [i for i in idxs if not 0 <= int(i) < len(self.frame)]
        if bad:
            raise IndexError(
                f"Expected row numbers of the cleaner's table, 0..{len(self) - 1}. Received: {bad}."
            )

    def mark_delete(self, *idxs: int) -> ImageClassifierCleaner:
        """Mark rows whose files should be deleted (returned by `delete()`)."""
        self._check_rows(idxs)
        self._delete.update(int(i) for i in idxs)
        return self

    def mark_change(self, idx: int, category: Any) -> ImageClassifierCleaner:
        """Mark row `idx` as belonging to `category` (returned by `change()`)."""
        self._check_rows([idx])
        if category not in self.vocab:
            raise ValueError(f"Expected one of the classes {self.vocab}. Received: {category!r}.")
        self._change[int(idx)] = category
        return self

    def delete(self) -> list[int]:
        """Rows marked for deletion, in order (`cleaner.fns[idx]` is the file)."""
        return sorted(self._delete)

    def change(self) -> list[tuple[int, Any]]:
        """(row, new category) of the rows marked with another category."""
        return sorted(self._change.items())

    def plot(
        self,
        max_n: int = 9,
        *,
        split: str | None = None,
        label: Any = None,
        nrows: int | None = None,
        ncols: int | None = None,
        figsize: tuple[float, float] | None = None,
        dpi: int | None = None,
        path: str | Path | None = None,
    ) -> Any:
        """The worst `max_n` images (of one `split` or `label` if given), titled
        '#row label/predicted' and the loss; returns the figure."""
        rows = self.frame
        if split is not None:
            rows = rows[rows["split"] == split]
        if label is not None:
            rows = rows[rows["label"] == label]
        rows = rows.head(max_n)
        if rows.empty:
            raise ValueError(f"No image to show for split={split!r}, label={label!r}.")
        tensors = [image2tensor(PILImage.create(p).to_thumb(256)) for p in rows["path"]]
        titles = [f"#{i} {r.label}/{r.predicted}\n{r.loss:.2f}" for i, r in rows.iterrows()]
        return show_images(
            tensors, titles, nrows=nrows, ncols=ncols, figsize=figsize, dpi=dpi, path=path
        )


def _item_paths(dl: DataLoader) -> list[Any]:
    """The items (file paths) of a loader's dataset, in dataset order."""
    from ..core.items import ItemDataset

    ds = dl.dataset
    if isinstance(ds, ItemDataset):
        return list(ds.items)
    from ..core.datablock import TupleDataset

    if isinstance(ds, TupleDataset):
        return [ds.dsets.items[i] for i in ds.idx]
    raise TypeError(
        f"ImageClassifierCleaner lists image files. Expected loaders built from "
        f"files (ImageDataLoaders, DataBlock). Received a {type(ds).__name__}."
    )


def _ranked(learn: Learner, dl: DataLoader, split: str, vocab: list[Any]) -> pd.DataFrame:
    """One split's items with their label, prediction and loss (no augmentation, in order)."""
    import pandas as pd

    paths = _item_paths(dl)
    ordered = dl.new(shuffle=False, drop_last=False, augment=False, sampler=None)
    with learn.no_progress():
        probs, targs, losses = learn.get_preds(dl=ordered, with_loss=True)
    if targs.ndim != 1:
        raise TypeError(
            "ImageClassifierCleaner expects a single-label classifier (one class "
            f"per image). Received targets of shape {tuple(targs.shape)}."
        )
    pred = probs.argmax(-1)
    return pd.DataFrame(
        {
            "path": [str(p) for p in paths],
            "split": split,
            "label": [vocab[int(t)] for t in targs],
            "predicted": [vocab[int(p)] for p in pred],
            "loss": losses.float().cpu().numpy(),
            "probability": probs.gather(1, pred[:, None])[:, 0].float().cpu().numpy(),
        }
    )
