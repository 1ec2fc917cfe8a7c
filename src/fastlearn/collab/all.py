"""Everything the course's collaborative-filtering lesson uses, for `from ... import *`.

    from fastlearn.collab.all import *

gives `fastlearn.collab` (CollabDataLoaders, collab_learner, EmbeddingDotBias, EmbeddingNN,
pca, get_emb_sz... and the course's everyday names of `fastlearn.basics`: Learner, untar_data,
URLs, Module, Embedding, sigmoid_range, MSELossFlat, tensor, L, np, pd, torch, nn, F...) and
matplotlib's `plt`. The star imports read explicit `__all__` lists.
"""

import matplotlib.pyplot as plt

from . import *
from . import __all__ as _collab_all

__all__ = [*_collab_all, "plt"]
