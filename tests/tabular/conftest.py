"""Synthetic tables for the tabular tests (no dataset on disk), and one trained learner."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fastlearn import accuracy, set_seed
from fastlearn.tabular import TabularDataLoaders, tabular_learner

EFFECT = {"red": -1.5, "green": 0.0, "blue": 1.5, "black": 0.5}


def make_table(n: int = 800, seed: int = 0) -> pd.DataFrame:
    """A colour with an effect, an informative x, a noise column, a class and two numbers.

    `label` is "yes" when x + effect(colour) > 0 (learnable, not linear in the codes);
    `amount` and `amount2` are numeric targets of the same inputs. Some x are missing.
    """
    rng = np.random.default_rng(seed)
    color = rng.choice(list(EFFECT), n)
    x = rng.normal(size=n)
    signal = x + np.vectorize(EFFECT.get)(color)
    df = pd.DataFrame(
        {
            "color": color,
            "size": rng.choice(["S", "M", "L"], n),
            "x": np.where(rng.random(n) < 0.05, np.nan, x),
            "noise": rng.normal(10, 3, n),
            "label": np.where(signal > 0, "yes", "no"),
            "amount": 3 * signal + 0.1 * rng.normal(size=n),
            "amount2": -signal,
        }
    )
    return df


def table_dls(df: pd.DataFrame | None = None, **kwargs) -> TabularDataLoaders:
    """Loaders over the synthetic table: label by default, on the CPU, a fixed split."""
    df = make_table() if df is None else df
    args = dict(
        cat_names=["color", "size"],
        cont_names=["x", "noise"],
        y_names="label",
        valid_pct=0.25,
        seed=0,
        bs=64,
        device="cpu",
    )
    return TabularDataLoaders.from_df(df, **{**args, **kwargs})


@pytest.fixture(scope="session")
def table() -> pd.DataFrame:
    return make_table()


@pytest.fixture(scope="session")
def trained(table):
    """A classifier trained once on the synthetic table (reused, never trained further)."""
    set_seed(0)
    learn = tabular_learner(
        table_dls(table), layers=[32, 16], metrics=accuracy, show_progress=False
    )
    learn.fit_one_cycle(8, 1e-2)
    return learn
