"""Everything the course's tabular lessons use, for `from fastlearn.tabular.all import *`.

    from fastlearn.tabular.all import *
    path = untar_data(URLs.ADULT_SAMPLE)
    dls = TabularDataLoaders.from_csv(path / "adult.csv", path=path, y_names="salary",
        cat_names=["workclass", "education", "marital-status", "occupation", "relationship",
                   "race"], cont_names=["age", "fnlwgt", "education-num"],
        procs=[Categorify, FillMissing, Normalize])
    learn = tabular_learner(dls, metrics=accuracy)
    learn.fit_one_cycle(3, 1e-2)

As fastai's, it also brings numpy (`np`), pandas (`pd`), torch, `nn`, `F` and `Path`. The
star imports below read explicit `__all__` lists, so the names are exactly those listed.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from fastlearn import *  # noqa: F403
from fastlearn import __all__ as _core_all
from fastlearn.tabular import *  # noqa: F403
from fastlearn.tabular import __all__ as _tabular_all

__all__ = [*_core_all, *_tabular_all, "Path", "np", "pd", "torch", "nn", "F"]
