"""Collaborative filtering: ratings tables, dot-product and neural models, interpretation.

>>> from fastlearn.collab import *      # as the book's chapter 8: `from fastai.collab import *`
>>> dls = CollabDataLoaders.from_df(ratings, item_name="title", bs=64)
>>> learn = collab_learner(dls, n_factors=50, y_range=(0, 5.5))
>>> learn.fit_one_cycle(5, 5e-3, wd=0.1)
>>> learn.most_similar("Star Wars (1977)", 5)

Ids of any type (ints, strings, titles) are kept in a `CollabVocab` (two `IdMap`s) that the
model carries, so `learn.model.bias(...)`, `learn.predict(...)`, `learn.recommend(...)` and the
other interpretation methods take raw ids; `learn.export(path)` writes them with the
weights, and `load_learner(path)` returns a `CollabPredictor` taking (user, item) pairs.

As fastai's, `from fastlearn.collab import *` also gives the course's everyday names
(`fastlearn.basics`: Learner, untar_data, URLs, Module, Embedding, sigmoid_range, MSELossFlat,
tensor, L, np, pd, torch, nn, F...) and `get_emb_sz`; matplotlib's `plt` comes only with
`fastlearn.collab.all`.
"""

from .. import basics
from ..basics import *  # noqa: F403 (fastlearn.basics defines an explicit __all__)
from ..core.layers import get_emb_sz
from .data import CollabDataLoaders
from .export import CollabPredictor
from .interpret import pca, plot_pca_labels
from .learner import CollabLearner, collab_learner
from .models import COLLAB_MODELS, CollabModel, EmbeddingDotBias, EmbeddingNN
from .vocab import CollabVocab, IdMap, UnknownIdError

__all__ = [
    *basics.__all__,
    "get_emb_sz",
    "CollabDataLoaders",
    "CollabVocab",
    "IdMap",
    "UnknownIdError",
    "pca",
    "plot_pca_labels",
    "CollabLearner",
    "collab_learner",
    "CollabPredictor",
    "COLLAB_MODELS",
    "CollabModel",
    "EmbeddingDotBias",
    "EmbeddingNN",
]
