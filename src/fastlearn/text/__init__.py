"""Text: tokenization, vocabularies, TextDataLoaders, the AWD-LSTM language model and the
ULMFiT classifier.

    from fastlearn.text import TextDataLoaders, language_model_learner, text_classifier_learner
    dls_lm = TextDataLoaders.from_df(df, "text", is_lm=True, valid_pct=0.1)
    learn = language_model_learner(dls_lm, AWD_LSTM, drop_mult=0.3)
    learn.fit_one_cycle(1, 2e-2)

Needs pandas for the DataFrame/CSV/folder constructors; `import fastlearn` alone does not load
this package.
"""

from .data import (
    LMDataLoader,
    SortedTextDataLoader,
    TextDataLoaders,
    TextDataset,
    tokenizer_from_state,
)
from .export import TextPredictor
from .learner import (
    LMLearner,
    ModelResetterCallback,
    RNNRegularizerCallback,
    TextClassifierLearner,
    classifier_splitter,
    language_model_learner,
    lm_splitter,
    text_classifier_learner,
)
from .models.awd_lstm import (
    AWD_LSTM,
    LanguageModel,
    SequentialRNN,
    TextClassifier,
    awd_lstm_clas_config,
    awd_lstm_lm_config,
    awd_lstm_small_config,
    masked_concat_pool,
)
from .pretrained import load_pretrained, read_vocab_file
from .tokenize import (
    SPECIAL_TOKENS,
    SubwordTokenizer,
    WordTokenizer,
    detokenize,
    tokenize_texts,
)
from .vocab import Numericalize, Vocab

# ---- transformers (HF) path: names from text/transformers.py, hf_data.py, hf_load.py -------
# The transformers colleague tells the lead what to import and list here (keep those imports
# lazy-friendly: `transformers` itself must only load when used).
_TRANSFORMERS_ALL: list[str] = []
# ---------------------------------------------------------------------------------------------

__all__ = [
    "LMDataLoader",
    "SortedTextDataLoader",
    "TextDataLoaders",
    "TextDataset",
    "tokenizer_from_state",
    "TextPredictor",
    "LMLearner",
    "ModelResetterCallback",
    "RNNRegularizerCallback",
    "TextClassifierLearner",
    "classifier_splitter",
    "language_model_learner",
    "lm_splitter",
    "text_classifier_learner",
    "AWD_LSTM",
    "LanguageModel",
    "SequentialRNN",
    "TextClassifier",
    "awd_lstm_clas_config",
    "awd_lstm_lm_config",
    "awd_lstm_small_config",
    "masked_concat_pool",
    "load_pretrained",
    "read_vocab_file",
    "SPECIAL_TOKENS",
    "SubwordTokenizer",
    "WordTokenizer",
    "detokenize",
    "tokenize_texts",
    "Numericalize",
    "Vocab",
    *_TRANSFORMERS_ALL,
]
