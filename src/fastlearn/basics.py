"""The names every course notebook leans on, shared by the `fastlearn.<app>.all` modules:

- the core's API (`Learner`, `DataLoader`, `untar_data`, `URLs`, the losses, metrics and
  callbacks, `MixUp`, `CutMix`...);
- the course's helpers: `L`, `Path` (with `.ls()`), `first`, `tensor`, `to_np`, `to_cpu`,
  `one_hot`, `coll_repr`, `CategoryMap`, `defaults`, `Module`, `Embedding`, `sigmoid_range`,
  `save_pickle`, `load_pickle`;
- the usual modules and functions: `np`, `pd`, `torch`, `nn`, `F`, `math`, `re`, `partial`,
  `array` (numpy's).

    from fastlearn.basics import *

Unlike fastai's `basics` it leaves out matplotlib (`plt`), which only the `*.all` modules
import: `fastlearn.collab`, which star-imports this module, then stays free of it. Pandas is
imported here; `import fastlearn` alone imports neither.
"""

import math
import re
from functools import partial

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from numpy import array
from torch import nn

from . import *  # noqa: F403 (fastlearn defines an explicit __all__)
from . import __all__ as _core_all
from .core.collections import L, Path, first
from .core.export import load_learner
from .core.layers import Embedding, Module, sigmoid_range
from .core.utils import (
    CategoryMap,
    coll_repr,
    defaults,
    delegates,
    load_pickle,
    one_hot,
    save_pickle,
    tensor,
    to_cpu,
    to_np,
)

__all__ = [
    *_core_all,
    # the course's helpers
    "L",
    "Path",
    "first",
    "partial",
    "tensor",
    "to_np",
    "to_cpu",
    "one_hot",
    "coll_repr",
    "CategoryMap",
    "defaults",
    "Module",
    "Embedding",
    "sigmoid_range",
    "load_learner",
    "save_pickle",
    "load_pickle",
    "delegates",
    # the usual modules
    "np",
    "pd",
    "torch",
    "nn",
    "F",
    "math",
    "re",
    "array",
]
