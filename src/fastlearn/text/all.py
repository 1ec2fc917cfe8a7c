"""Everything the course's text lessons use, for `from fastlearn.text.all import *`.

    from fastlearn.text.all import *
    path = untar_data(URLs.IMDB_SAMPLE)
    df = pd.read_csv(path / "texts.csv")
    dls_lm = TextDataLoaders.from_df(df, "text", is_lm=True, valid_pct=0.1)
    learn = language_model_learner(dls_lm, AWD_LSTM, drop_mult=0.3,
                                   metrics=[accuracy, Perplexity()])

It gives the text API (TextDataLoaders, Tokenizer, WordTokenizer, SubwordTokenizer,
Numericalize, language_model_learner...), the course's everyday names of `fastlearn.basics`
(Learner, L, first, coll_repr, tensor, Path, np, pd, torch, nn, F...) and matplotlib's `plt`.
The star imports read explicit `__all__` lists.
"""

import matplotlib.pyplot as plt

from ..basics import *
from ..basics import __all__ as _basics_all
from . import *
from . import __all__ as _text_all

__all__ = list(dict.fromkeys([*_basics_all, *_text_all, "plt"]))
