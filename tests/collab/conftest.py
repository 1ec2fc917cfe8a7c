"""Collab fixtures: a synthetic low-rank ratings table and a learner trained on it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fastlearn import set_seed
from fastlearn.collab import CollabDataLoaders, CollabLearner, collab_learner

N_USERS, N_ITEMS, RANK = 60, 40, 3


def low_rank_ratings(seed: int = 0, density: float = 0.7, noise: float = 0.1) -> pd.DataFrame:
    """Ratings 1..5 from a rank-3 matrix plus user and item offsets, 70% of pairs observed.

    Users are strings ("u7"), items are titles ("film 3"): ids of any type.
    """
    rng = np.random.default_rng(seed)
    users, items = rng.normal(size=(N_USERS, RANK)), rng.normal(size=(N_ITEMS, RANK))
    full = (
        3.0
        + 0.6 * users @ items.T / np.sqrt(RANK)
        + rng.normal(0, 0.3, (N_USERS, 1))
        + rng.normal(0, 0.3, (1, N_ITEMS))
    )
    mask = rng.random((N_USERS, N_ITEMS)) < density
    u, i = np.nonzero(mask)
    r = np.clip(full[u, i] + rng.normal(0, noise, len(u)), 1, 5)
    return pd.DataFrame(
        {"user": [f"u{k}" for k in u], "title": [f"film {k}" for k in i], "rating": r}
    )


@pytest.fixture(scope="session")
def ratings() -> pd.DataFrame:
    return low_rank_ratings()


@pytest.fixture(scope="session")
def dls(ratings: pd.DataFrame) -> CollabDataLoaders:
    return CollabDataLoaders.from_df(ratings, bs=64, seed=0, device="cpu")


@pytest.fixture(scope="session")
def trained(dls: CollabDataLoaders) -> CollabLearner:
    """EmbeddingDotBias fitted on the low-rank table (about a second)."""
    set_seed(0)
    learn = collab_learner(dls, n_factors=8, y_range=(0, 5.5), show_progress=False)
    learn.fit_one_cycle(8, 5e-2, wd=0.01)
    return learn
