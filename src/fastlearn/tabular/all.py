"""Everything the course's tabular lessons use, for `from fastlearn.tabular.all import *`.

    from fastlearn.tabular.all import *
    path = untar_data(URLs.ADULT_SAMPLE)
    dls = TabularDataLoaders.from_csv(path / "adult.csv", path=path, y_names="salary",
        cat_names=["workclass", "education", "marital-status", "occupation", "relationship",
                   "race"], cont_names=["age", "fnlwgt", "education-num"],
        procs=[Categorify, FillMissing, Normalize])
    learn = tabular_learner(dls, metrics=accuracy)
    learn.fit_one_cycle(3, 1e-2)

It gives the tabular API (TabularDataLoaders, TabularPandas, tabular_learner, Categorify,
FillMissing, Normalize, cont_cat_split, add_datepart, get_emb_sz...), the course's everyday
names of `fastlearn.basics` (Learner, L, Path, tensor, Module, np, pd, torch, nn, F...) and
matplotlib's `plt`. The star imports read explicit `__all__` lists.
"""

import matplotlib.pyplot as plt

from ..basics import *
from ..basics import __all__ as _basics_all
from . import *
from . import __all__ as _tabular_all

__all__ = list(dict.fromkeys([*_basics_all, *_tabular_all, "plt"]))
