"""Tabular data: preprocessing, TabularDataLoaders, entity-embedding model, tabular_learner.

    from fastlearn.tabular import TabularDataLoaders, tabular_learner
    dls = TabularDataLoaders.from_csv("adult.csv", y_names="salary", cat_names=[...],
                                      cont_names=[...], valid_pct=0.2, seed=42)
    learn = tabular_learner(dls, metrics=accuracy)
    learn.fit_one_cycle(3, 1e-2)
    learn.predict(df.iloc[0])

Needs pandas (the `tabular` extra); `import fastlearn` alone does not load this package.
"""

from .cells import NA, MissingColumnError, UnseenCategoryError, UnseenCategoryWarning
from .columns import add_datepart, cont_cat_split
from .data import CategoryBlock, RegressionBlock, TabularDataLoaders
from .learner import TabularLearner, tabular_learner
from .model import TabularModel, get_emb_sz, tabular_config
from .preprocess import PROCS, TabularProcessor
from .procs import Categorify, FillMissing, Normalize, TabularProc
from .table import TabularPandas

__all__ = [
    "add_datepart",
    "cont_cat_split",
    "CategoryBlock",
    "RegressionBlock",
    "TabularDataLoaders",
    "TabularPandas",
    "TabularLearner",
    "tabular_learner",
    "TabularModel",
    "get_emb_sz",
    "tabular_config",
    "PROCS",
    "TabularProcessor",
    "NA",
    "Categorify",
    "FillMissing",
    "MissingColumnError",
    "UnseenCategoryError",
    "UnseenCategoryWarning",
    "Normalize",
    "TabularProc",
]
