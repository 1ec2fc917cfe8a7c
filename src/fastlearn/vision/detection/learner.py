"""detection_learner and DetectionLearner: train an FCOS detector as a classifier is trained.

    >>> learn = detection_learner(dls, "efficientnet_lite0",
    ...                           metrics=[MeanAveragePrecision(), MeanAveragePrecision(0.5)])
    >>> learn.lr_find()
    >>> learn.fine_tune(10, 1e-3)                  # head first (body frozen), then everything
    >>> boxes, labels, scores = learn.predict("street.jpg")    # pixels of the original image
    >>> learn.show_results(max_n=4)
    >>> learn.export("detector.fl")                # load_learner("detector.fl").predict(...)

As `vision_learner`: the body is pretrained (normalisation statistics added to the loaders),
frozen at first; three parameter groups (early body, late body, pyramid + head) for
discriminative learning rates; BatchNorm statistics of the body kept for the archs that ask
(EfficientNet-Lite0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ...core.data import DataLoader, DataLoaders
from ..learner import VisionLearner, _setup, _transfer_setup, set_bn_momentum
from ..models import create_unet_encoder
from ..models.heads import ArchLike
from ..models.registry import get_arch
from .data import check_box_counts
from .loss import FCOSLoss
from .model import FCOS, fcos_splitter
from .postprocess import DetectionPostprocess, split_targets
from .predict import detect

__all__ = ["DetectionLearner", "detection_learner", "build_detector"]


def build_detector(
    arch: str | ArchLike,
    n_classes: int,
    pretrained: bool = False,
    *,
    n_in: int = 3,
    width: int = 128,
    n_convs: int = 4,
    n_extra: int = 2,
    weights_path: str | Path | None = None,
) -> FCOS:
    """An FCOS model over `arch`'s body (its U-Net encoder: EfficientNet-Lite0 without the
    1280-channel head convolution)."""
    if weights_path is not None:
        from ..models.heads import create_body

        entry = get_arch(arch)
        body = create_body(
            entry, True, cut=entry.meta.unet_cut, n_in=n_in, weights_path=weights_path
        )
    else:
        body = create_unet_encoder(arch, pretrained, n_in=n_in)
    return FCOS(body, n_classes, width=width, n_convs=n_convs, n_extra=n_extra)


class DetectionLearner(VisionLearner):
    """A Learner for FCOS detectors: `predict` gives boxes, `show_results` draws them.

    `postprocess`: how outputs become detections (score threshold, NMS, at most 100).
    """

    def __init__(
        self,
        dls: DataLoaders,
        model: nn.Module,
        loss_func: Callable | None = None,
        *args: Any,
        postprocess: DetectionPostprocess | None = None,
        **kwargs: Any,
    ) -> None:
        self.postprocess = postprocess or DetectionPostprocess()
        kwargs.setdefault("task", "detection")
        super().__init__(
            dls, model, loss_func if loss_func is not None else FCOSLoss(), *args, **kwargs
        )

    def export_config(self) -> dict[str, Any]:
        """The vision config, as the detection application, with the postprocess."""
        config = super().export_config()
        config.update(application="detection", postprocess=self.postprocess.to_state())
        return config

    def _valid_pipeline(self) -> dict[str, Any]:
        dl = self.dls.valid or self.dls.train
        ds = dl.dataset
        return {
            "item_tfms": list(ds.tfms),
            "mode": ds.mode,
            "batch_tfms": [t for t in dl.batch_tfms if not getattr(t, "train_only", False)],
        }

    def predict_batch(self, items: Sequence[Any]) -> list[tuple[Tensor, list[Any], Tensor]]:
        """(boxes (D, 4) in pixels of the original image, labels, scores) for each item."""
        vocab = list(self.dls.vocab)
        out = detect(
            self.model,
            items,
            postprocess=self.postprocess,
            device=self.dls.device,
            **self._valid_pipeline(),
        )
        return [(b, [vocab[int(k) + 1] for k in c], s) for b, s, c in out]

    def predict(self, item: Any) -> tuple[Tensor, list[Any], Tensor]:
        """(boxes (D, 4) (x0, y0, x1, y1) in pixels of the original image, their labels, their
        scores), best first: a path, bytes, a PIL image or a (C, H, W) uint8 tensor."""
        return self.predict_batch([item])[0]

    def tta(self, *args: Any, **kwargs: Any) -> Any:
        """Not for detection (averaging outputs of flipped images would mix up the boxes)."""
        raise ValueError(
            "tta() averages predictions of augmented images; a flip moves the "
            "boxes, so detection has no tta. Fix: use get_preds() or predict()."
        )

    @torch.no_grad()
    def detect_batch(self, x: Tensor) -> list[tuple[Tensor, Tensor, Tensor]]:
        """(boxes in [-1, 1], scores, classes from 0) for each image of a model-ready batch
        (e.g. a validation batch's inputs), by `postprocess` (the model is left in eval mode)."""
        self.model.eval()
        return self.postprocess(self.model(x))

    def show_results(
        self,
        max_n: int = 6,
        *,
        ds_idx: int = 1,
        dl: DataLoader | None = None,
        nrows: int | None = None,
        ncols: int | None = None,
        figsize: tuple[float, float] | None = None,
        dpi: int | None = None,
        path: str | Path | None = None,
        min_score: float = 0.3,
    ) -> Any:
        """Validation images with their targets (dashed) and the detections scoring at least
        `min_score` (solid, with scores); returns the figure."""
        from .show import show_boxes

        dl = dl if dl is not None else self.dls[ds_idx]
        x, boxes, labels = dl.one_batch()[:3]
        x, boxes, labels = x[:max_n], boxes[:max_n], labels[:max_n]
        dets = [
            (b[s >= min_score], c[s >= min_score] + 1, s[s >= min_score])
            for b, s, c in self.detect_batch(x)
        ]
        from ..show import loader_images

        return show_boxes(
            loader_images(dl, x),
            [d[0] for d in dets],
            [d[1] for d in dets],
            scores=[d[2] for d in dets],
            vocab=list(self.dls.vocab),
            targets=[(b, c + 1) for b, c in split_targets(boxes, labels)],
            nrows=nrows,
            ncols=ncols,
            figsize=figsize,
            dpi=dpi,
            path=path,
        )


def detection_learner(
    dls: DataLoaders,
    arch: ArchLike,
    pretrained: bool = True,
    metrics: Any = None,
    loss_func: Callable | None = None,
    normalize: bool = True,
    n_in: int | None = None,
    *,
    width: int = 128,
    n_convs: int = 4,
    n_extra: int = 2,
    postprocess: DetectionPostprocess | None = None,
    bn_momentum: float | None = 0.1,
    freeze_bn_stats: bool | None = None,
    splitter: Callable | None = None,
    weights_path: str | Path | None = None,
    **kwargs: Any,
) -> DetectionLearner:
    """An FCOS detector over `arch`'s (pretrained) body for loaders of (image, boxes, labels).

    `arch`: a registered name ('resnet18', 'efficientnet_lite0') or builder. `width` and
    `n_convs` size the pyramid and the head (see `FCOS`); `postprocess` how outputs become
    detections for `predict`, `show_results` and export. Other keywords go to the Learner
    (`opt_func`, `lr`, `cbs`, `wd`, `path`, `show_progress`...).

        >>> learn = detection_learner(dls, "resnet18", metrics=MeanAveragePrecision())
        >>> learn.fine_tune(5)
    """
    pretrained = pretrained or weights_path is not None
    _check_loaders(dls)
    entry, _, n_in, stats = _setup(dls, arch, pretrained, normalize, n_in)
    n_classes = len(dls.vocab) - 1
    model = build_detector(
        entry,
        n_classes,
        pretrained,
        n_in=n_in,
        width=width,
        n_convs=n_convs,
        n_extra=n_extra,
        weights_path=weights_path,
    )
    set_bn_momentum(model.body, bn_momentum)
    spec = dict(
        arch=entry.name,
        n_classes=n_classes,
        n_in=n_in,
        width=width,
        n_convs=n_convs,
        n_extra=n_extra,
    )
    learn = DetectionLearner(
        dls,
        model,
        loss_func=loss_func,
        metrics=metrics,
        postprocess=postprocess,
        splitter=splitter or partial(fcos_splitter, split=entry.meta.split),
        builder="detection_fcos",
        builder_kwargs=spec,
        normalize_stats=stats,
        **kwargs,
    )
    return _transfer_setup(learn, model.body, entry, pretrained, freeze_bn_stats)


def _check_loaders(dls: Any) -> None:
    """Loaders of (image, boxes, labels) with a label vocabulary, one label per box."""
    if not isinstance(dls, DataLoaders):
        raise TypeError(
            f"Expected DataLoaders. Received: {type(dls).__name__}. Fix: build them "
            "with a DataBlock(blocks=(ImageBlock, BBoxBlock, BBoxLblBlock), n_inp=1)."
        )
    if dls.task != "detection" or dls.vocab is None or len(dls.vocab) < 2:
        raise ValueError(
            f"Expected detection loaders (blocks ImageBlock, BBoxBlock, "
            f"BBoxLblBlock) with a vocabulary of box labels. Received: task "
            f"{dls.task!r}, vocab {dls.vocab!r}. Fix: build them "
            "with DataBlock(blocks=(ImageBlock, BBoxBlock, BBoxLblBlock), n_inp=1, "
            "...)."
        )
    for name, dl in (("training set", dls.train), ("validation set", dls.valid)):
        if dl is not None:
            check_box_counts(dl.dataset, name)
