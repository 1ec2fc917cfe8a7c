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

from ..core import model_file as header
from ..core.data import DataLoaders
from ..core.export import ExportError, LoadLimits, Predictor
from .augment import CenterResize, IntToFloat, Normalize, RandomResizedCrop, Resize
from .dataset import ImageDataset, collate_images
from .image import ImageReadError
from .item_tfms import _RESIZE_METHODS, PAD_MODES
from .models import DynamicUnet, create_unet_encoder, create_vision_model, simple_cnn

__all__ = [
    "VisionPredictor",
    "predictor_from_config",
    "check_header",
    "preprocessing_state",
    "inputs_state",
    "build_item_tfms",
    "build_batch_tfms",
]


# ---------------------------------------------------------------------------- builders
def vision_classifier(
    arch: str,
    n_out: int,
    n_in: int = 3,
    cut: int | None = None,
    lin_ftrs: Sequence[int] | None = None,
    ps: float | Sequence[float] = 0.5,
    concat_pool: bool = True,
    first_bn: bool = True,
    bn_final: bool = False,
    y_range: Sequence[float] | None = None,
) -> nn.Module:
    """`create_vision_model` without downloading weights (the file holds them)."""
    return create_vision_model(
        arch,
        n_out,
        False,
        n_in=n_in,
        cut=cut,
        lin_ftrs=lin_ftrs,
        ps=ps,
        concat_pool=concat_pool,
        first_bn=first_bn,
        bn_final=bn_final,
        y_range=None if y_range is None else tuple(y_range),
    )


def vision_unet(
    arch: str,
    n_out: int,
    img_size: Sequence[int],
    n_in: int = 3,
    cut: int | None = None,
    blur: bool = False,
    last_cross: bool = True,
    middle_channels: int | None = None,
    y_range: Sequence[float] | None = None,
) -> nn.Module:
    """A DynamicUnet over `arch`'s encoder, without downloading weights."""
    body = create_unet_encoder(arch, False, cut=cut, n_in=n_in)
    return DynamicUnet(
        body,
        n_out,
        tuple(img_size),
        blur=blur,
        last_cross=last_cross,
        middle_channels=middle_channels,
        y_range=None if y_range is None else tuple(y_range),
    )


def simple_cnn_builder(
    n_out: int, channels: Sequence[int] = (16, 32, 64), in_channels: int = 3, kernel_size: int = 3
) -> nn.Module:
    """The small CNN for training from scratch."""
    return simple_cnn(n_out, tuple(channels), in_channels, kernel_size=kernel_size)


# The builders a vision file may name (core/export.py's _BUILDER_APPLICATIONS points here).
BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "vision_classifier": vision_classifier,
    "vision_unet": vision_unet,
    "simple_cnn": simple_cnn_builder,
}


# ---------------------------------------------------------------------------- preprocessing
def _item_tfm_state(t: Any) -> dict[str, Any]:
    if type(t) is Resize:
        return {"name": "Resize", "size": list(t.size), "method": t.method, "pad_mode": t.pad_mode}
    if type(t) is RandomResizedCrop:
        return {
            "name": "RandomResizedCrop",
            "size": list(t.size),
            "min_scale": t.min_scale,
            "ratio": list(t.ratio),
            "val_xtra": t.val_xtra,
        }
    raise ExportError(
        f"Export can record the item transforms Resize and RandomResizedCrop. "
        f"Received: {t!r}. Fix: use those, or export with a custom builder and "
        "preprocess inputs yourself."
    )


def _batch_tfm_state(t: Any) -> dict[str, Any]:
    if type(t) is IntToFloat:
        return {"name": "IntToFloat"}
    if type(t) is CenterResize:
        return {"name": "CenterResize", "size": list(t.size)}
    if type(t) is Normalize:
        return {"name": "Normalize", **t.to_state()}
    raise ExportError(
        f"Export can record the validation batch transforms IntToFloat, "
        f"CenterResize and Normalize. Received: {t!r}. Fix: mark augmentations "
        "train_only = True, or use those transforms."
    )


def _check_item_tfm(s: Any, path: str, limits: LoadLimits) -> None:
    name = header.choice(s, "name", f"{path}.name", ("Resize", "RandomResizedCrop"))
    header.image_size(s, "size", f"{path}.size", limits)
    if name == "Resize":
        header.choice(s, "method", f"{path}.method", _RESIZE_METHODS)
        header.choice(s, "pad_mode", f"{path}.pad_mode", tuple(PAD_MODES))
        return
    scale = header.number(s, "min_scale", f"{path}.min_scale")
    ratio = s.get("ratio")
    if not 0 < scale <= 1 or not (
        isinstance(ratio, list)
        and len(ratio) == 2
        and all(
            isinstance(r, (int, float)) and not isinstance(r, bool) and 0 < r < 1e3 for r in ratio
        )
    ):
        raise header.refuse(
            f"{path}.min_scale and ratio",
            [scale, ratio],
            "0 < min_scale <= 1 and a ratio [low, high] of positive numbers",
        )
    if not 0 <= header.number(s, "val_xtra", f"{path}.val_xtra") < 1:
        raise header.refuse(f"{path}.val_xtra", s["val_xtra"], "a number from 0 to 1")


def _check_batch_tfm(s: Any, path: str, limits: LoadLimits) -> None:
    name = header.choice(s, "name", f"{path}.name", ("IntToFloat", "CenterResize", "Normalize"))
    if name == "CenterResize":
        header.image_size(s, "size", f"{path}.size", limits)
    if name == "Normalize":
        mean, std = s.get("mean"), s.get("std")
        ok = [
            isinstance(v, list)
            and 1 <= len(v) <= 4
            and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and abs(x) < 1e6 for x in v
            )
            for v in (mean, std)
        ]
        if not all(ok) or len(mean) != len(std) or min(std) <= 0:
            raise header.refuse(
                f"{path}.mean and std",
                [mean, std],
                "two lists of 1 to 4 numbers of one length, std > 0",
            )


def check_header(config: dict[str, Any], limits: LoadLimits) -> None:
    """Every key the vision predictor and builders read; image sizes within `limits`."""
    pre = header.section(config, "preprocessing", "preprocessing", {})
    header.choice(pre, "mode", "preprocessing.mode", (None, *Image.MODES), "RGB")
    for key, check in (("item_tfms", _check_item_tfm), ("batch_tfms", _check_batch_tfm)):
        states = pre.get(key, [])
        if not isinstance(states, list):
            raise header.refuse(f"preprocessing.{key}", states, "a list of transforms")
        for i, state in enumerate(states):
            check(state, f"preprocessing.{key}[{i}]", limits)
    inputs = header.section(config, "inputs", "inputs", {})
    if header.choice(inputs, "kind", "inputs.kind", ("image", "tensor"), "image") == "image":
        header.image_size(inputs, "size", "inputs.size", limits, None)
        if {"name": "IntToFloat"} not in pre.get("batch_tfms", []):
            raise header.refuse(
                "preprocessing.batch_tfms",
                pre.get("batch_tfms"),
                'a list with {"name": "IntToFloat"}: images decode as bytes',
            )
    else:
        shape = inputs.get("shape")
        if shape is not None and not (
            isinstance(shape, list)
            and len(shape) <= 8
            and all(x is None or type(x) is int and -1 <= x < 2**31 for x in shape)
        ):
            raise header.refuse("inputs.shape", shape, "null or a list of at most 8 sizes")
    if config["builder"] == "vision_unet":  # the build runs the model once at img_size
        header.image_size(
            config.get("builder_kwargs", {}), "img_size", "builder_kwargs.img_size", limits
        )


def build_item_tfms(states: Sequence[dict[str, Any]]) -> list[Any]:
    """The item transforms a `preprocessing_state` recorded (checked by `check_header`)."""
    out = []
    for s in states:
        kw = {k: v for k, v in s.items() if k != "name"}
        if s["name"] == "Resize":
            out.append(Resize(tuple(kw["size"]), kw["method"], pad_mode=kw["pad_mode"]))
        elif s["name"] == "RandomResizedCrop":
            out.append(
                RandomResizedCrop(
                    tuple(kw["size"]), kw["min_scale"], tuple(kw["ratio"]), val_xtra=kw["val_xtra"]
                )
            )
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
        raise ExportError(
            f"Export can describe ImageDataset or TensorDataset inputs. Received "
            f"a {type(ds).__name__} with item transforms. Fix: build the loaders "
            "with ImageDataLoaders."
        )
    state = {
        "mode": ds.mode if images else None,
        "item_tfms": [_item_tfm_state(t) for t in ds.tfms] if images else [],
        "batch_tfms": [
            _batch_tfm_state(t) for t in dl.batch_tfms if not getattr(t, "train_only", False)
        ],
    }
    return state


def inputs_state(dls: DataLoaders) -> dict[str, Any]:
    """What `predict` accepts: images (with the size the model sees) or tensors of a shape."""
    ds = (dls.valid or dls.train).dataset
    if isinstance(ds, ImageDataset):
        return {
            "kind": "image",
            "size": None if dls.size is None else list(dls.size),
            "n_channels": dls.n_channels,
            "mode": ds.mode,
        }
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

    def __init__(
        self, model: nn.Module, config: dict[str, Any], device: torch.device | str = "cpu"
    ) -> None:
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
        ds = ImageDataset(
            list(items), None, self.item_tfms, train=False, mode=self.mode, skip_bad=False
        )
        samples = []
        for i, item in enumerate(items):
            if not isinstance(item, (str, Path, bytes, bytearray, Image.Image, Tensor)):
                raise TypeError(
                    f"Expected an image: a path, bytes, a PIL image or a (C, H, W) "
                    f"tensor. Received: {_describe(item)} (item {i})."
                )
            try:
                samples.append(ds[i])
            except RuntimeError as e:
                cause = e.__cause__ or e
                what = "" if isinstance(cause, ImageReadError) else f"{type(cause).__name__}: "
                raise ValueError(
                    f"Could not read item {i} ({_describe(item)}) as an image: {what}{cause}"
                ) from None
        return collate_images(samples)

    def preprocess(self, items: Sequence[Any]) -> tuple[Tensor, ...]:
        """Decode, item transforms, collate, then the validation batch transforms."""
        batch = tuple(t.to(self.device) for t in self._load(items))
        for tfm in self.batch_tfms:
            batch = tfm(batch)
        return (batch[0],)

    def example(self) -> Any:
        """A black 32x32 image (or zeros of the recorded tensor shape)."""
        return Image.new(self.mode or "RGB", (32, 32)) if self.images else super().example()

    def decode(self, probs: Tensor) -> tuple[Any, Any]:
        """One item's decoded prediction (a mask of class indices for segmentation)."""
        if self.task == "segmentation":
            mask = probs.argmax(dim=0)
            return mask, mask
        return super().decode(probs)

    def info(self) -> dict[str, Any]:
        """What the model is (with `inputs`: the images or tensors it expects) and its task."""
        return {**super().info(), "task": self.task}


def predictor_from_config(
    config: dict[str, Any], model: nn.Module, device: torch.device
) -> VisionPredictor:
    """The vision application's predictor (called by `load_learner`)."""
    return VisionPredictor(model, config, device)
