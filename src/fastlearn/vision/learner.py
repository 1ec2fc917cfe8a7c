"""vision_learner, unet_learner and VisionLearner: transfer learning on images.

    >>> dls = ImageDataLoaders.from_name_func(path, files, is_cat, item_tfms=Resize(224))
    >>> learn = vision_learner(dls, "efficientnet_lite0", metrics=error_rate)
    >>> learn.fine_tune(1)
    >>> learn.dls = bigger_dls            # progressive resizing: same weights, larger images
    >>> learn.fine_tune(1)

`vision_learner` picks the loss from the task (cross entropy, BCE for multi-label, MSE for
regression), adds `Normalize` with the architecture's statistics when the weights are
pretrained and the loaders have none, splits the model into three parameter groups (early
body, late body, head) and freezes the body when pretrained, as fastai does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from ..core.callbacks import BnFreeze
from ..core.data import DataLoader, DataLoaders
from ..core.learner import Learner
from ..core.losses import BCEWithLogitsLossFlat, CrossEntropyLossFlat, MSELossFlat
from .augment import Normalize
from .models import DynamicUnet, create_unet_encoder, create_vision_model, get_arch
from .models.heads import ArchLike, vision_splitter
from .models.registry import Arch, Cut

if TYPE_CHECKING:
    from .probe import ProbeResult
from .models.unet import unet_splitter

__all__ = [
    "VisionLearner",
    "vision_learner",
    "cnn_learner",
    "unet_learner",
    "find_normalize",
    "add_normalize",
    "image_task",
    "set_bn_momentum",
]

Stats = tuple[Sequence[float], Sequence[float]]
_LOSSES: dict[str, Callable[[], nn.Module]] = {
    "classification": CrossEntropyLossFlat,
    "multi_label": BCEWithLogitsLossFlat,
    "regression": MSELossFlat,
    "segmentation": partial(CrossEntropyLossFlat, axis=1),
}


# ---------------------------------------------------------------------------- the data's side
def find_normalize(dls: DataLoaders) -> Normalize | None:
    """The `Normalize` batch transform of the loaders, or None."""
    return next((t for dl in dls.loaders for t in dl.batch_tfms if isinstance(t, Normalize)), None)


def add_normalize(dls: DataLoaders, mean: Sequence[float], std: Sequence[float]) -> None:
    """Normalise every loader's batches with (mean, std), after the other transforms."""
    if callable(getattr(dls, "add_normalize", None)):
        dls.add_normalize(mean, std)
        return
    for dl in dls.loaders:
        tfms = [t for t in dl.batch_tfms if not isinstance(t, Normalize)]
        dl.batch_tfms = sorted([*tfms, Normalize(mean, std)], key=lambda t: getattr(t, "order", 50))


def _first_batch(dls: DataLoaders) -> tuple[Tensor, ...]:
    """One validation batch (no augmentation), or a training one."""
    batch = (dls.valid or dls.train).one_batch()
    if not isinstance(batch, (tuple, list)) or not isinstance(batch[0], Tensor):
        raise TypeError(
            f"Expected batches (images, targets) of tensors. Received: {type(batch).__name__}."
        )
    if batch[0].ndim != 4:
        raise ValueError(
            f"Expected image batches of shape (B, C, H, W). Received: "
            f"{tuple(batch[0].shape)}. Fix: give images as (C, H, W) tensors."
        )
    return tuple(batch)


def image_task(dls: DataLoaders, batch: Sequence[Tensor] | None = None) -> str:
    """'classification', 'multi_label', 'regression' or 'segmentation', from the loaders."""
    if dls.task is not None:
        return dls.task
    batch = batch if batch is not None else _first_batch(dls)
    if len(batch) < 2:
        raise ValueError("Expected batches with targets to choose a loss. Fix: pass loss_func=.")
    x, y = batch[0], batch[1]
    if not y.is_floating_point():
        return "segmentation" if y.ndim == 3 and y.shape[-2:] == x.shape[-2:] else "classification"
    multi_hot = y.ndim == 2 and bool(((y == 0) | (y == 1)).all())
    return "multi_label" if multi_hot and dls.vocab is not None else "regression"


def _n_out(dls: DataLoaders, task: str, batch: Sequence[Tensor] | None) -> int:
    if dls.n_out is not None:
        return int(dls.n_out)
    if task != "regression" and dls.vocab is not None:
        return len(dls.vocab)
    if task == "regression":
        y = (batch or _first_batch(dls))[1]
        return 1 if y.ndim == 1 else int(y.shape[1])
    raise ValueError(
        f"The number of outputs of a {task} model is unknown: the loaders have no "
        "vocab. Fix: pass n_out= (the number of classes)."
    )


def _n_channels(dls: DataLoaders, batch: Sequence[Tensor] | None) -> int:
    n = dls.n_channels
    return int(n) if n is not None else int((batch or _first_batch(dls))[0].shape[1])


# ---------------------------------------------------------------------------- the learner
class VisionLearner(Learner):
    """A Learner for image models: export, test-time augmentation, results on images.

    `builder`/`builder_kwargs` name the registered export builder that rebuilds the model
    (set by `vision_learner` and `unet_learner`; give them for a custom model).
    `normalize_stats`: (mean, std) added to any loaders assigned later that lack a
    `Normalize`, so `learn.dls = larger_dls` (progressive resizing) keeps the statistics.
    """

    def __init__(
        self,
        dls: DataLoaders,
        model: nn.Module,
        loss_func: Callable | None = None,
        *args: Any,
        task: str | None = None,
        builder: str | None = None,
        builder_kwargs: dict[str, Any] | None = None,
        normalize_stats: Stats | None = None,
        **kwargs: Any,
    ) -> None:
        self.normalize_stats = normalize_stats
        self.builder, self.builder_kwargs = builder, dict(builder_kwargs or {})
        if isinstance(dls, (tuple, list)) and 1 <= len(dls) <= 2:
            dls = DataLoaders(*dls)  # plain torch loaders, as Learner accepts them
        self.task = task if task is not None else image_task(dls)
        if loss_func is None:
            loss_func = _default_loss(dls, self.task)
        super().__init__(dls, model, loss_func, *args, **kwargs)

    @property
    def dls(self) -> DataLoaders:
        """The loaders; assigning new ones (larger images) keeps the model and optimiser."""
        return self._dls

    @dls.setter
    def dls(self, dls: DataLoaders) -> None:
        if self.normalize_stats is not None and find_normalize(dls) is None:
            add_normalize(dls, *self.normalize_stats)
        if hasattr(self, "model"):
            self.model.to(dls.device)
        self._dls = dls

    def export_config(self) -> dict[str, Any]:
        """Builder, task and the exact validation preprocessing, as plain JSON."""
        from .export import inputs_state, preprocessing_state

        config = {
            "application": "vision",
            "task": self.task,
            "inputs": inputs_state(self.dls),
            "preprocessing": preprocessing_state(self.dls),
        }
        if self.builder is not None:
            config.update(builder=self.builder, builder_kwargs=self.builder_kwargs)
        return config

    def probe(self, **kwargs: Any) -> ProbeResult:
        """The linear probe (`linear_probe`) of this learner's architecture on its loaders: the
        floor fine-tuning should reach. Keywords go to `linear_probe` (`Cs`, `cv`).

            >>> print(learn.probe().compare(learn.recorder.history[-1]["error_rate"]))
        """
        from .probe import linear_probe

        arch = self.builder_kwargs.get("arch")
        if arch is None:
            raise ValueError(
                "Expected a learner built by vision_learner from a registered "
                "architecture. Received: a custom model. Fix: "
                "linear_probe(dls, arch)."
            )
        return linear_probe(self.dls, arch, **kwargs)

    def tta(
        self,
        ds_idx: int = 1,
        dl: DataLoader | None = None,
        n: int = 4,
        beta: float | None = 0.25,
        use_max: bool = False,
        augment: Sequence[Callable] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Test-time augmentation: (predictions, targets) over a loader.

        The loader's images go through the training augmentation (`augment`, default the
        training loader's augmenting batch transforms, or horizontal flips when it has none)
        `n` times; the mean of those predictions (max with `use_max`) is blended with the
        plain predictions: `(1 - beta) * augmented + beta * plain`, as fastai's
        `torch.lerp(aug, plain, beta)`. `beta=None` returns both (augmented, plain).
        """
        if self.task == "segmentation":
            raise ValueError(
                "tta() averages class predictions; for segmentation the "
                "augmentations would move the masks. Fix: use get_preds()."
            )
        if augment is None and not any(
            getattr(t, "train_only", False) for t in self.dls.train.batch_tfms
        ):
            augment = [_RandomFlip()]  # loaders without augmentation: horizontal flips
        return super().tta(ds_idx, dl, n, beta, use_max, augment)

    def show_results(
        self,
        max_n: int = 9,
        *,
        ds_idx: int = 1,
        dl: DataLoader | None = None,
        nrows: int | None = None,
        ncols: int | None = None,
        figsize: tuple[float, float] | None = None,
        dpi: int | None = None,
        path: str | Path | None = None,
    ) -> Any:
        """Draw `max_n` validation images titled actual/predicted (green right, red wrong), or
        actual and predicted masks side by side; returns the figure.

            >>> learn.show_results(max_n=6, figsize=(7, 8))
        """
        from .interpret import show_predictions

        dl = dl if dl is not None else self.dls[ds_idx]
        return show_predictions(
            self, dl, max_n=max_n, nrows=nrows, ncols=ncols, figsize=figsize, dpi=dpi, path=path
        )


class _RandomFlip:
    """Flip half the images of a batch left-right (tta's default augmentation)."""

    order, train_only = 10, True

    def __call__(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        x = batch[0]
        flip = (torch.rand(len(x), device=x.device) < 0.5).view(-1, *([1] * (x.ndim - 1)))
        return (torch.where(flip, x.flip(-1), x), *batch[1:])


# ---------------------------------------------------------------------------- constructors
def _setup(
    dls: DataLoaders, arch: ArchLike, pretrained: bool, normalize: bool, n_in: int | None
) -> tuple[Arch, tuple[Tensor, ...] | None, int, Stats | None]:
    """The registered arch, a first batch when the loaders don't describe themselves, the
    input channels and the normalisation statistics to add (None: none to add)."""
    if not isinstance(dls, DataLoaders):
        raise TypeError(
            f"Expected DataLoaders. Received: {type(dls).__name__}. Fix: build "
            "them with ImageDataLoaders.from_...(...) or DataLoaders.from_dsets."
        )
    entry = get_arch(arch)  # an unknown name raises, naming the close ones
    described = dls.task is not None and dls.n_channels is not None
    batch = None if described else _first_batch(dls)
    n_in = n_in if n_in is not None else _n_channels(dls, batch)
    stats = entry.meta.stats if pretrained and normalize else None
    if stats is not None and find_normalize(dls) is None:
        add_normalize(dls, *stats)
    return entry, batch, n_in, stats


def set_bn_momentum(module: nn.Module, momentum: float | None) -> None:
    """Give every BatchNorm layer of `module` this running-statistics momentum (None: keep).

    Fine-tuning uses PyTorch's 0.1 (timm's and fastai's default): a body ported with
    TensorFlow's decay 0.99 (momentum 0.01, EfficientNet-Lite0) would keep ImageNet running
    statistics for hundreds of steps, so validation (running statistics) would disagree with
    training (batch statistics) on the new images. On the Pets is-cat example: 2.5% error at
    0.01, 1.7% at 0.1. Lite0 is now fine-tuned with its statistics kept (`BnFreeze`, see
    `ArchMeta.freeze_bn_stats`), which does better still: this momentum then does not matter.
    """
    if momentum is None:
        return
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = momentum


def _int_or_none(cut: Cut) -> int | None:
    return cut if isinstance(cut, int) else None


def _split_at(entry: Arch, cut: Cut) -> int | None:
    return entry.meta.split if cut is None else None  # a custom cut: find it by stride


def _export_name(entry: Arch, cut: Cut) -> str | None:
    """The registered name an export can rebuild from (None for custom builders or cuts)."""
    try:
        registered = get_arch(entry.name) is entry
    except KeyError:  # an unregistered builder function
        registered = False
    return entry.name if registered and (cut is None or isinstance(cut, int)) else None


def vision_learner(
    dls: DataLoaders,
    arch: ArchLike,
    pretrained: bool = True,
    metrics: Any = None,
    n_out: int | None = None,
    loss_func: Callable | None = None,
    normalize: bool = True,
    n_in: int | None = None,
    y_range: tuple[float, float] | None = None,
    *,
    cut: Cut = None,
    lin_ftrs: Sequence[int] | None = None,
    ps: float | Sequence[float] = 0.5,
    concat_pool: bool = True,
    first_bn: bool = True,
    bn_final: bool = False,
    bn_momentum: float | None = 0.1,
    freeze_bn_stats: bool | None = None,
    splitter: Callable | None = None,
    weights_path: str | Path | None = None,
    **kwargs: Any,
) -> VisionLearner:
    """A Learner over `arch`'s (pretrained) body and a new head for the task of `dls`.

    `arch`: a registered name ('resnet34', 'efficientnet_lite0') or builder (`resnet34`).
    `freeze_bn_stats`: keep the pretrained body's BatchNorm layers on their running statistics
    while training (`BnFreeze`); None: the architecture's choice (`ArchMeta.freeze_bn_stats`,
    True for EfficientNet-Lite0). Otherwise `bn_momentum` is their momentum (`set_bn_momentum`).
    `weights_path`: a local weights file for `arch` instead of the published one (offline
    use; implies `pretrained`).
    Other keywords (`opt_func`, `lr`, `cbs`, `wd`, `path`, `show_progress`...) go to Learner.

        >>> learn = vision_learner(dls, resnet34, metrics=error_rate)   # cnn_learner too
        >>> learn.fine_tune(1)
    """
    pretrained = pretrained or weights_path is not None
    entry, batch, n_in, stats = _setup(dls, arch, pretrained, normalize, n_in)
    task = image_task(dls, batch)
    if task == "segmentation":
        raise ValueError(
            "Expected loaders of images with one label (or labels, or values) "
            "each. Received: segmentation loaders (a mask per image). Fix: use "
            "unet_learner(dls, arch)."
        )
    n_out = n_out if n_out is not None else _n_out(dls, task, batch)
    head = dict(
        lin_ftrs=None if lin_ftrs is None else list(lin_ftrs),
        ps=ps if isinstance(ps, (int, float)) else list(ps),
        concat_pool=concat_pool,
        first_bn=first_bn,
        bn_final=bn_final,
        y_range=None if y_range is None else list(y_range),
    )
    model = create_vision_model(
        entry, n_out, pretrained, n_in=n_in, cut=cut, weights_path=weights_path, **head
    )
    set_bn_momentum(model[0], bn_momentum)
    name = _export_name(entry, cut)
    spec = dict(arch=name, n_out=n_out, n_in=n_in, cut=_int_or_none(cut), **head)
    learn = VisionLearner(
        dls,
        model,
        loss_func=loss_func,
        metrics=metrics,
        splitter=splitter or partial(vision_splitter, split=_split_at(entry, cut)),
        task=task,
        builder="vision_classifier" if name else None,
        builder_kwargs=spec,
        normalize_stats=stats,
        **kwargs,
    )
    return _transfer_setup(learn, model[0], entry, pretrained, freeze_bn_stats)


cnn_learner = vision_learner  # the course's older name


def _default_loss(dls: DataLoaders, task: str) -> nn.Module:
    return dls.loss_func if dls.loss_func is not None else _LOSSES[task]()


def unet_learner(
    dls: DataLoaders,
    arch: ArchLike,
    pretrained: bool = True,
    metrics: Any = None,
    n_out: int | None = None,
    loss_func: Callable | None = None,
    normalize: bool = True,
    n_in: int | None = None,
    y_range: tuple[float, float] | None = None,
    *,
    img_size: int | tuple[int, int] | None = None,
    blur: bool = False,
    last_cross: bool = True,
    middle_channels: int | None = None,
    cut: Cut = None,
    bn_momentum: float | None = 0.1,
    freeze_bn_stats: bool | None = None,
    splitter: Callable | None = None,
    **kwargs: Any,
) -> VisionLearner:
    """A U-Net over `arch`'s (pretrained) encoder, one output channel per code.

    The loss is `CrossEntropyLossFlat(axis=1)` over pixels (or MSE for float masks with
    `loss_func=`). `img_size` (default: the batches' size) only sets where the skip
    connections are found; any input size works afterwards.

        >>> learn = unet_learner(dls, "resnet34", metrics=[Dice(), Jaccard()])
    """
    entry, batch, n_in, stats = _setup(dls, arch, pretrained, normalize, n_in)
    task = image_task(dls, batch)
    if task != "segmentation":
        raise ValueError(
            f"Expected segmentation loaders (a mask of class indices per image). "
            f"Received: {task} loaders. Fix: SegmentationDataLoaders for masks, "
            "or vision_learner(dls, arch) for one label per image."
        )
    if n_out is None:
        if dls.vocab is None:
            raise ValueError(
                "The number of classes is unknown: the loaders have no codes. "
                "Fix: pass codes= to SegmentationDataLoaders, or n_out=."
            )
        n_out = len(dls.vocab)
    size = img_size if img_size is not None else _batch_size(dls, batch)
    size = [size, size] if isinstance(size, int) else [int(s) for s in size]
    unet = dict(
        img_size=size,
        blur=blur,
        last_cross=last_cross,
        middle_channels=middle_channels,
        y_range=None if y_range is None else list(y_range),
    )
    body = create_unet_encoder(entry, pretrained, cut=cut, n_in=n_in)
    set_bn_momentum(body, bn_momentum)
    model = DynamicUnet(
        body,
        n_out,
        tuple(size),
        blur=blur,
        last_cross=last_cross,
        y_range=y_range,
        middle_channels=middle_channels,
    )
    name = _export_name(entry, cut)
    spec = dict(arch=name, n_out=n_out, n_in=n_in, cut=_int_or_none(cut), **unet)
    learn = VisionLearner(
        dls,
        model,
        loss_func=loss_func,
        metrics=metrics,
        splitter=splitter or partial(unet_splitter, split=_split_at(entry, cut)),
        task="segmentation",
        builder="vision_unet" if name else None,
        builder_kwargs=spec,
        normalize_stats=stats,
        **kwargs,
    )
    return _transfer_setup(learn, model.encoder, entry, pretrained, freeze_bn_stats)


def _transfer_setup(
    learn: VisionLearner,
    body: nn.Module,
    entry: Arch,
    pretrained: bool,
    freeze_bn_stats: bool | None,
) -> VisionLearner:
    """Freeze a pretrained body; keep its BatchNorm statistics if asked or the arch says so."""
    if freeze_bn_stats is None:
        freeze_bn_stats = pretrained and entry.meta.freeze_bn_stats
    if freeze_bn_stats:
        learn.add_cbs([BnFreeze(body)])
    if pretrained:
        learn.freeze()
    return learn


def _batch_size(dls: DataLoaders, batch: Sequence[Tensor] | None) -> tuple[int, int]:
    if dls.size is not None:
        return tuple(dls.size)
    return tuple((batch or _first_batch(dls))[0].shape[-2:])
