"""The Learner's inference: `get_preds` (with losses, decoded, streamed), `predict`, `tta`,
as a mixin so that `learner.py` holds the training loop alone.

It expects the attributes a `Learner` sets (`dls`, `model`, `loss_func`, `metrics`) and its
methods `added_cbs`, `no_progress`, `_do_validate`.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .callbacks.gather import GatherPredsCallback, _cat
from .callbacks.stream_preds import StreamPredsCallback
from .callbacks.validation import ValidateCallback
from .data import DataLoader
from .losses import activation_of, decodes_of

if TYPE_CHECKING:
    pass

__all__ = ["InferenceMixin", "augmenting_tfms"]


class InferenceMixin:
    """Predictions over a loader or for one item."""

    def get_preds(
        self,
        dl: DataLoader | None = None,
        ds_idx: int = 1,
        *,
        with_input: bool = False,
        with_loss: bool = False,
        with_decoded: bool = False,
        act: Callable | None = None,
        reduce: Callable | None = None,
        save_to: str | Path | None = None,
    ) -> Any:
        """Predictions (after the loss's activation) and targets over a whole loader.

        For sets too large to hold: `reduce=fn` keeps only `fn(probs, targs)` of each batch
        (concatenated); `save_to=folder` writes each batch to a file and returns the paths."""
        dl = self._as_loader(dl) if dl is not None else self.dls[ds_idx]
        act = act or activation_of(self.loss_func)
        if reduce is not None or save_to is not None:
            return self._stream_preds(
                dl, act, reduce, save_to, with_input or with_loss or with_decoded
            )
        gather = GatherPredsCallback(with_input=with_input)
        with self.added_cbs([gather]):
            self._do_validate(dl)
        preds, targs = gather.preds(), gather.targets()
        out = [act(preds) if act is not None else preds, targs]
        if with_input:
            out.insert(0, gather.inputs())
        if with_decoded:
            decodes = decodes_of(self.loss_func)
            out.append(decodes(out[-2]) if decodes is not None else out[-2])
        if with_loss:
            out.append(self._per_item_loss(preds, targs))
        return tuple(out)

    def _as_loader(self, dl: Any) -> DataLoader:
        """A loader, or any list of batches (the course's `get_preds(dl=[(x, y)])`), as a
        fastlearn DataLoader on the learner's device with its inputs count."""
        if isinstance(dl, DataLoader):
            return dl
        if not hasattr(dl, "__len__"):
            raise TypeError(
                f"get_preds expected a DataLoader or a list of batches. Received: "
                f"{type(dl).__name__}. Fix: dls.test_dl(items), or [(x, y)]."
            )
        return DataLoader.from_torch(dl, device=self.dls.device, n_inp=self.dls.n_inp)

    def _stream_preds(
        self,
        dl: DataLoader,
        act: Callable | None,
        reduce: Callable | None,
        save_to: str | Path | None,
        with_extras: bool,
    ) -> Any:
        if with_extras:
            raise ValueError(
                "get_preds(reduce=..., save_to=...) expected no with_input, "
                "with_loss or with_decoded. Fix: compute those inside `reduce`."
            )
        stream = StreamPredsCallback(act, reduce, save_to)
        with self.added_cbs([stream]):
            self._do_validate(dl)
        return stream.files if save_to is not None else _cat(stream.results)

    def _per_item_loss(self, preds: torch.Tensor, targs: torch.Tensor | None) -> torch.Tensor:
        if targs is None:
            raise ValueError("with_loss=True needs a loader with targets.")
        loss_func = copy.copy(self.loss_func)
        if hasattr(loss_func, "reduction"):
            loss_func.reduction = "none"
        return loss_func(preds, targs)

    def validate(self, dl: DataLoader | None = None) -> list[float]:
        """`[valid_loss, *metric values]` as floats over the validation loader (or `dl`);
        the recorder's history is left alone and nothing is printed."""
        dl = dl if dl is not None else self.dls.valid
        if dl is None:
            raise ValueError(
                "validate() needs a loader: these DataLoaders have no validation "
                "set. Fix: pass dl=, e.g. learn.dls.test_dl(items, "
                "with_labels=True)."
            )
        collect = ValidateCallback(self.metrics)
        with self.no_progress(), self.added_cbs([collect]):
            self._do_validate(dl)
        if not collect.totals.n:
            raise ValueError(
                "validate() found no targets in the loader's batches. Fix: pass a "
                "loader whose batches hold inputs and targets."
            )
        return collect.totals.values()

    def tta(
        self,
        ds_idx: int = 1,
        dl: DataLoader | None = None,
        n: int = 4,
        beta: float | None = 0.25,
        use_max: bool = False,
        augment: Sequence[Callable] | None = None,
    ) -> tuple[Any, torch.Tensor]:
        """Test-time augmentation: (predictions, targets) over a loader, as `get_preds`.

        The loader's batches go through the augmentation (`augment`, default the training
        loader's augmenting batch transforms, those with `train_only`) `n` times; the mean of
        those predictions (max with `use_max`) is blended with the plain pass:
        `(1 - beta) * augmented + beta * plain`, as fastai's `torch.lerp(aug, plain, beta)`.
        `beta=None` returns both ((augmented, plain), targets).
        """
        dl = dl if dl is not None else self.dls[ds_idx]
        tfms = augmenting_tfms(dl, self.dls.train, augment)
        with self.no_progress():
            with _augmented(dl, tfms):
                aug = torch.stack([self.get_preds(dl=dl)[0] for _ in range(n)])
            preds, targs = self.get_preds(dl=dl)[:2]
        aug = aug.max(0).values if use_max else aug.mean(0)
        if use_max:
            return torch.stack([preds, aug]).max(0).values, targs
        if beta is None:
            return (aug, preds), targs
        return torch.lerp(aug, preds, beta), targs

    def predict(self, item: Any) -> tuple[Any, Any, torch.Tensor]:
        """(decoded prediction, class index or raw decoded output, probabilities) for one item."""
        dl = self.dls.test_dl([item])
        probs, _, decoded = self.get_preds(dl=dl, with_decoded=True)
        probs, decoded = probs[0], decoded[0]
        vocab = self.dls.vocab
        if vocab is not None and decoded.ndim == 0:
            return vocab[int(decoded)], decoded, probs
        if vocab is not None and decoded.dtype == torch.bool:  # multi-label
            return [vocab[i] for i in torch.nonzero(decoded).flatten()], decoded, probs
        return decoded, decoded, probs


def augmenting_tfms(
    dl: DataLoader, train: DataLoader, augment: Sequence[Callable] | None = None
) -> list[Callable]:
    """`dl`'s own (non-augmenting) batch transforms plus the augmentation (default: the
    training loader's `train_only` transforms), sorted by `order`."""
    if augment is None:
        augment = [t for t in train.batch_tfms if getattr(t, "train_only", False)]
        if not augment:
            raise ValueError(
                "tta() needs an augmentation, and the training loader has no "
                "augmenting batch transform (train_only=True). Fix: pass "
                "augment=[...] (batch transforms), or add them to the loaders."
            )
    kept = [t for t in dl.batch_tfms if not getattr(t, "train_only", False)]
    return sorted([*kept, *augment], key=lambda t: getattr(t, "order", 50))


@contextlib.contextmanager
def _augmented(dl: DataLoader, tfms: list[Callable]) -> Iterator[None]:
    """`dl` runs `tfms`, augmentations included, inside the block (restored after)."""
    saved = dl.batch_tfms, dl.augment
    dl.batch_tfms, dl.augment = list(tfms), True
    try:
        yield
    finally:
        dl.batch_tfms, dl.augment = saved
