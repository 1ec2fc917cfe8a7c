"""Vision models in the safe export format: builders by name and a predictor for images.

    >>> learn.export("pets.fl")
    >>> predictor = load_learner("pets.fl")            # no training code, nothing unpickled
    >>> label, index, probs = predictor.predict("cat.jpg")   # a path, bytes, PIL image, tensor

The file records the validation preprocessing exactly: the decoding mode, every item
transform (Resize's size, method and padding; RandomResizedCrop's centre crop) and every
non-augmenting batch transform (IntToFloat, CenterResize, Normalize with its statistics).
The predictor rebuilds those objects and runs the same code the validation loader runs, so
its outputs equal `learn.predict` bit for bit on the CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor, nn

from ..core.data import DataLoaders
from ..core.export import ExportError, Predictor, register_builder
from .augment import CenterResize, IntToFloat, Normalize, RandomResizedCrop, Resize
from .dataset import ImageDataset, collate_images
from .models import DynamicUnet, create_unet_encoder, create_vision_model, simple_cnn

__all__ = ["VisionPredictor", "predictor_from_config", "preprocessing_state", "inputs_state",
           "build_item_tfms", "build_batch_tfms"]


# ---------------------------------------------------------------------------- builders
@register_builder("vision_classifier")
def vision_classifier(arch: str, n_out: int, n_in: int = 3, cut: int | None = None,
                      lin_ftrs: Sequence[int] | None = None, ps: float | Sequence[float] = 0.5,
                      concat_pool: bool = True, first_bn: bool = True, bn_final: bool = False,
                      y_range: Sequence[float] | None = None) -> nn.Module:
    """`create_vision_model` without downloading weights (the file holds them)."""
    return create_vision_model(arch, n_out, False, n_in=n_in, cut=cut, lin_ftrs=lin_ftrs,
                               ps=ps, concat_pool=concat_pool, first_bn=first_bn,
                               bn_final=bn_final,
                               y_range=None if y_range is None else tuple(y_range))


@register_builder("vision_unet")
def vision_unet(arch: str, n_out: int, img_size: Sequence[int], n_in: int = 3,
                cut: int | None = None, blur: bool = False, last_cross: bool = True,
                middle_channels: int | None = None,
                y_range: Sequence[float] | None = None) -> nn.Module:
    """A DynamicUnet over `arch`'s encoder, without downloading weights."""
    body = create_unet_encoder(arch, False, cut=cut, n_in=n_in)
    return DynamicUnet(body, n_out, tuple(img_size), blur=blur, last_cross=last_cross,
                       middle_channels=middle_channels,
                       y_range=None if y_range is None else tuple(y_range))


@register_builder("simple_cnn")
def simple_cnn_builder(n_out: int, channels: Sequence[int] = (16, 32, 64), in_channels: int = 3,
                       kernel_size: int = 3) -> nn.Module:
    """The small CNN for training from scratch."""
    return simple_cnn(n_out, tuple(channels), in_channels, kernel_size=kernel_size)


# ---------------------------------------------------------------------------- preprocessing
def _item_tfm_state(t: Any) -> dict[str, Any]:
    if type(t) is Resize:
        return {"name": "Resize", "size": list(t.size), "method": t.method,
                "pad_mode": t.pad_mode}
    if type(t) is RandomResizedCrop:
        return {"name": "RandomResizedCrop", "size": list(t.size), "min_scale": t.min_scale,
                "ratio": list(t.ratio), "val_xtra": t.val_xtra}
    raise ExportError(f"Export can record the item transforms Resize and RandomResizedCrop. "
                      f"Received: {t!r}. Fix: use those, or export with a custom builder and "
                      "preprocess inputs yourself.")


def _batch_tfm_state(t: Any) -> dict[str, Any]:
    if type(t) is IntToFloat:
        return {"name": "IntToFloat"}
    if type(t) is CenterResize:
        return {"name": "CenterResize", "size": list(t.size)}
    if type(t) is Normalize:
        return {"name": "Normalize", **t.to_state()}
    raise ExportError(f"Export can record the validation batch transforms IntToFloat, "
                      f"CenterResize and Normalize. Received: {t!r}. Fix: mark augmentations "
                      "train_only = True, or use those transforms.")


def build_item_tfms(states: Sequence[dict[str, Any]]) -> list[Any]:
    """The item transforms a `preprocessing_state` recorded."""
    out = []
    for s in states:
        kw = {k: v for k, v in s.items() if k != "name"}
        if s["name"] == "Resize":
            out.append(Resize(tuple(kw["size"]), kw["method"], pad_mode=kw["pad_mode"]))
        elif s["name"] == "RandomResizedCrop":
            out.append(RandomResizedCrop(tuple(kw["size"]), kw["min_scale"], tuple(kw["ratio"]),
                                         val_xtra=kw["val_xtra"]))
        else:
            raise ExportError(f"Unknown item transform {s['name']!r} in the file.")
    return out


def build_batch_tfms(states: Sequence[dict[str, Any]]) -> list[Callable]:
    """The validation batch transforms a `preprocessing_state` recorded."""
    makers: dict[str, Callable[[dict[str, Any]], Callable]] = {
        "IntToFloat": lambda s: IntToFloat(),
        "CenterResize": lambda s: CenterResize(tuple(s["size"])),
        "Normalize": lambda s: Normalize(s["mean"], s["std"]),
    }
    if any(s["name"] not in makers for s in states):
        raise ExportError(f"Unknown batch transform in the file: {[s['name'] for s in states]}.")
    return [makers[s["name"]](s) for s in states]


def preprocessing_state(dls: DataLoaders) -> dict[str, Any]:
    """What the validation loader does to an input, as plain JSON (see `VisionPredictor`)."""
    dl = dls.valid or dls.train
    ds = dl.dataset
    images = isinstance(ds, ImageDataset)
    if not images and getattr(ds, "tfms", None):
        raise ExportError(f"Export can describe ImageDataset or TensorDataset inputs. Received "
                          f"a {type(ds).__name__} with item transforms. Fix: build the loaders "
                          "with ImageDataLoaders.")
    state = {"mode": ds.mode if images else None,
             "item_tfms": [_item_tfm_state(t) for t in ds.tfms] if images else [],
             "batch_tfms": [_batch_tfm_state(t) for t in dl.batch_tfms
                            if not getattr(t, "train_only", False)]}
    to_state = getattr(dls, "to_state", None)
    if callable(to_state):
        state["data"] = to_state()
    return state


def inputs_state(dls: DataLoaders) -> dict[str, Any]:
    """What `predict` accepts: images (with the size the model sees) or tensors of a shape."""
    ds = (dls.valid or dls.train).dataset
    if isinstance(ds, ImageDataset):
        size = getattr(dls, "size", None)
        return {"kind": "image", "size": None if size is None else list(size),
                "n_channels": getattr(dls, "n_channels", None), "mode": ds.mode}
    tensors = getattr(ds, "tensors", None)
    return {"kind": "tensor", "shape": None if tensors is None else list(tensors[0].shape[1:])}


# ---------------------------------------------------------------------------- the predictor
def _describe(item: Any) -> str:
    if isinstance(item, (bytes, bytearray)):
        return f"{len(item)} bytes"
    if isinstance(item, Tensor):
        return f"tensor {tuple(item.shape)} {item.dtype}"
    return repr(str(item)) if isinstance(item, (str, Path)) else type(item).__name__


class VisionPredictor(Predictor):
    """An exported image model: accepts paths, bytes, PIL images or (C, H, W) tensors.

    Returns (label, class index, probabilities) for classification, (labels, multi-hot,
    probabilities) for multi-label, (values, values, values) for regression and
    (mask, mask, probabilities) for segmentation, as `learn.predict` does.
    """

    def __init__(self, model: nn.Module, config: dict[str, Any],
                 device: torch.device | str = "cpu") -> None:
        super().__init__(model, config, device)
        pre = config.get("preprocessing", {})
        self.task = config.get("task", "classification")
        self.images = config.get("inputs", {}).get("kind", "image") == "image"
        self.mode = pre.get("mode", "RGB")
        self.item_tfms = build_item_tfms(pre.get("item_tfms", []))
        self.batch_tfms = build_batch_tfms(pre.get("batch_tfms", []))

    def _load(self, items: Sequence[Any]) -> tuple[Tensor, ...]:
        if not self.images:
            return (torch.stack([torch.as_tensor(it) for it in items]),)
        ds = ImageDataset(list(items), None, self.item_tfms, train=False, mode=self.mode,
                          skip_bad=False)
        samples = []
        for i, item in enumerate(items):
            if not isinstance(item, (str, Path, bytes, bytearray, Image.Image, Tensor)):
                raise TypeError(f"Expected an image: a path, bytes, a PIL image or a (C, H, W) "
                                f"tensor. Received: {_describe(item)} (item {i}).")
            try:
                samples.append(ds[i])
            except RuntimeError as e:
                cause = e.__cause__ or e
                raise ValueError(f"Could not read item {i} ({_describe(item)}) as an image: "
                                 f"{type(cause).__name__}: {cause}") from None
        return collate_images(samples)

    def preprocess(self, items: Sequence[Any]) -> tuple[Tensor, ...]:
        """Decode, item transforms, collate, then the validation batch transforms."""
        batch = tuple(t.to(self.device) for t in self._load(items))
        for tfm in self.batch_tfms:
            batch = tfm(batch)
        return (batch[0],)

    def decode(self, probs: Tensor) -> tuple[Any, Any]:
        """One item's decoded prediction (a mask of class indices for segmentation)."""
        if self.task == "segmentation":
            mask = probs.argmax(dim=0)
            return mask, mask
        return super().decode(probs)

    def info(self) -> dict[str, Any]:
        """What the model is (with `inputs`: the images or tensors it expects) and its task."""
        return {**super().info(), "task": self.task}


def predictor_from_config(config: dict[str, Any], model: nn.Module,
                          device: torch.device) -> VisionPredictor:
    """The vision application's predictor (called by `load_learner`)."""
    return VisionPredictor(model, config, device)
