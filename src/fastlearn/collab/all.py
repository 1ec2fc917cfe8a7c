"""Everything the course's collaborative-filtering lesson uses, for `from ... import *`.

    from fastlearn.collab.all import *

gives the collab API (CollabDataLoaders, collab_learner, EmbeddingDotBias, EmbeddingNN, pca,
...), the core's public names (Learner, untar_data, URLs, MSELossFlat, set_seed, ...) and the
usual modules: torch, nn, F, np, pd (pandas).
"""

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .. import *  # noqa: F403 (fastlearn defines an explicit __all__)
from .. import __all__ as _core_all
from ..core.export import load_learner
from ..core.layers import Embedding, sigmoid_range
from . import *  # noqa: F403 (fastlearn.collab defines an explicit __all__)
from . import __all__ as _collab_all

__all__ = [
    *_core_all,
    *_collab_all,
    "Embedding",
    "sigmoid_range",
    "load_learner",
    "torch",
    "nn",
    "F",
    "np",
    "pd",
]
