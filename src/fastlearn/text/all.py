"""Everything the course's text lessons use, for `from fastlearn.text.all import *`.

    from fastlearn.text.all import *
    path = untar_data(URLs.IMDB_SAMPLE)
    df = pd.read_csv(path / "texts.csv")
    dls_lm = TextDataLoaders.from_df(df, "text", is_lm=True, valid_pct=0.1)
    learn = language_model_learner(dls_lm, AWD_LSTM, drop_mult=0.3,
                                   metrics=[accuracy, Perplexity()])

As fastai's, it also brings numpy (`np`), pandas (`pd`), torch, `nn`, `F` and `Path`. The
star imports below read explicit `__all__` lists, so the names are exactly those listed.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .. import *  # noqa: F403 (fastlearn defines an explicit __all__)
from .. import __all__ as _core_all
from . import *  # noqa: F403 (fastlearn.text defines an explicit __all__)
from . import __all__ as _text_all

__all__ = [*_core_all, *_text_all, "Path", "np", "pd", "torch", "nn", "F"]
