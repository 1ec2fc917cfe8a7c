"""Detectors in the safe export format: the builder by name and a predictor that draws boxes.

    >>> learn.export("detector.fl")
    >>> predictor = load_learner("detector.fl")            # no training code, nothing unpickled
    >>> boxes, labels, scores = predictor.predict("street.jpg")   # pixels of the original

The file holds the FCOS weights, the validation preprocessing as the vision application
records it (decoding mode, item transforms, IntToFloat / CenterResize / Normalize) and the
postprocess (score threshold, NMS); the predictor runs `detect`, as `learn.predict` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ...core import model_file as header
from ...core.export import LoadLimits, Predictor
from ..export import build_batch_tfms, build_item_tfms
from ..export import check_header as check_vision_header
from .learner import build_detector
from .model import FCOS
from .postprocess import DetectionPostprocess
from .predict import detect

__all__ = ["DetectionPredictor", "predictor_from_config", "detection_fcos", "check_header"]


def detection_fcos(
    arch: str, n_classes: int, n_in: int = 3, width: int = 128, n_convs: int = 4, n_extra: int = 2
) -> FCOS:
    """An FCOS detector over `arch`'s body, without downloading weights (the file has them)."""
    return build_detector(
        arch, n_classes, False, n_in=n_in, width=width, n_convs=n_convs, n_extra=n_extra
    )


BUILDERS = {"detection_fcos": detection_fcos}  # see core/export.py's _BUILDER_APPLICATIONS


def check_header(config: dict[str, Any], limits: LoadLimits) -> None:
    """The vision keys (preprocessing, inputs), the builder's arguments and the postprocess."""
    check_vision_header(config, limits)
    kw = config["builder_kwargs"]
    header.text(kw, "arch", "builder_kwargs.arch")
    n_classes = header.integer(kw, "n_classes", "builder_kwargs.n_classes", low=1, high=100_000)
    for key, low, high, default in (
        ("n_in", 1, 64, 3),
        ("width", 1, 4096, 128),
        ("n_convs", 0, 32, 4),
        ("n_extra", 0, 4, 2),
    ):
        header.integer(kw, key, f"builder_kwargs.{key}", default, low=low, high=high)
    post = header.section(config, "postprocess", "postprocess", {})
    for key in ("score_thresh", "iou_thresh"):
        value = header.number(post, key, f"postprocess.{key}", 0.5)
        if not 0 <= value <= 1:
            raise header.refuse(f"postprocess.{key}", value, "a number from 0 to 1")
    header.integer(post, "pre_nms_top_k", "postprocess.pre_nms_top_k", 1000, low=1, high=100_000)
    header.integer(post, "max_dets", "postprocess.max_dets", 100, low=1, high=100_000)
    vocab = config.get("vocab")
    if vocab is None or len(vocab) != n_classes + 1:
        raise header.refuse("vocab", vocab, f"'#na#' and the {n_classes} class names")
    unknown = set(post) - {"score_thresh", "iou_thresh", "pre_nms_top_k", "max_dets"}
    if unknown:
        raise header.refuse(
            "postprocess", post, "only score_thresh, iou_thresh, pre_nms_top_k and max_dets"
        )


class DetectionPredictor(Predictor):
    """An exported detector: `predict(image)` -> (boxes (D, 4) in pixels of the image, labels,
    scores), best first; images as paths, bytes, PIL images or (C, H, W) uint8 tensors."""

    def __init__(
        self, model: nn.Module, config: dict[str, Any], device: torch.device | str = "cpu"
    ) -> None:
        super().__init__(model, config, device)
        pre = config.get("preprocessing", {})
        self.task = "detection"
        self.mode = pre.get("mode", "RGB")
        self.item_tfms = build_item_tfms(pre.get("item_tfms", []))
        self.batch_tfms = build_batch_tfms(pre.get("batch_tfms", []))
        self.postprocess = DetectionPostprocess(**config.get("postprocess", {}))

    def predict_batch(self, items: Sequence[Any]) -> list[tuple[Tensor, list[Any], Tensor]]:
        """(boxes, labels, scores) for each image."""
        out = detect(
            self.model,
            items,
            item_tfms=self.item_tfms,
            batch_tfms=self.batch_tfms,
            postprocess=self.postprocess,
            mode=self.mode,
            device=self.device,
        )
        return [(b, [self.vocab[int(k) + 1] for k in c], s) for b, s, c in out]

    def predict(self, item: Any) -> tuple[Tensor, list[Any], Tensor]:
        """(boxes (D, 4) (x0, y0, x1, y1) in pixels, labels, scores) for one image."""
        return self.predict_batch([item])[0]

    def info(self) -> dict[str, Any]:
        """What the model is, with its task ('detection')."""
        return {**super().info(), "task": self.task}


def predictor_from_config(
    config: dict[str, Any], model: nn.Module, device: torch.device
) -> DetectionPredictor:
    """The detection application's predictor (called by `load_learner`)."""
    return DetectionPredictor(model, config, device)
