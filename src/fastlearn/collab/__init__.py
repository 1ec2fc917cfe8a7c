"""Collaborative filtering: ratings tables, dot-product and neural models, interpretation.

    from fastlearn.collab.all import *
    dls = CollabDataLoaders.from_df(ratings, item_name="title", bs=64)
    learn = collab_learner(dls, n_factors=50, y_range=(0, 5.5))
    learn.fit_one_cycle(5, 5e-3, wd=0.1)
    learn.most_similar("Star Wars (1977)", 5)
"""

from .data import CollabDataLoaders, CollabVocab, IdMap, UnknownIdError
from .interpret import pca, plot_pca_labels
from .learner import CollabLearner, collab_learner, collab_model_from_config
from .models import COLLAB_MODELS, CollabModel, EmbeddingDotBias, EmbeddingNN

__all__ = [
    "CollabDataLoaders", "CollabVocab", "IdMap", "UnknownIdError", "pca", "plot_pca_labels",
    "CollabLearner", "collab_learner", "collab_model_from_config", "COLLAB_MODELS",
    "CollabModel", "EmbeddingDotBias", "EmbeddingNN",
]
