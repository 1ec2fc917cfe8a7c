"""Text: tokenization, vocabularies, TextDataLoaders, the AWD-LSTM language model and the
ULMFiT classifier.

    from fastlearn.text import TextDataLoaders, language_model_learner, text_classifier_learner
    dls_lm = TextDataLoaders.from_df(df, "text", is_lm=True, valid_pct=0.1)
    learn = language_model_learner(dls_lm, AWD_LSTM, drop_mult=0.3)
    learn.fit_one_cycle(1, 2e-2)

The HuggingFace path (`HFTextDataLoaders`, `transformers_learner`) imports `transformers` only
when a model or tokenizer is loaded. Needs pandas for the DataFrame/CSV/folder constructors;
`import fastlearn` alone does not load this package.
"""

from .blocks import TextBlock, get_text_files
from .data import (
    LMDataLoader,
    SortedTextDataLoader,
    TextDataLoaders,
    TextDataset,
    tokenizer_from_state,
)
from .export import TextPredictor
from .hf_data import HFTextDataLoaders
from .hf_export import TransformersPredictor
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
    Tokenizer,
    WordTokenizer,
    detokenize,
    tokenize_texts,
)
from .transformers import (
    HFClassifier,
    TransformersLearner,
    load_from_parts,
    save_pretrained_parts,
    transformers_learner,
    transformers_splitter,
)
from .vocab import Numericalize, Vocab

__all__ = [
    "TextBlock",
    "get_text_files",
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
    "Tokenizer",
    "WordTokenizer",
    "detokenize",
    "tokenize_texts",
    "Numericalize",
    "Vocab",
    # the transformers path
    "HFTextDataLoaders",
    "TransformersPredictor",
    "HFClassifier",
    "TransformersLearner",
    "load_from_parts",
    "save_pretrained_parts",
    "transformers_learner",
    "transformers_splitter",
]
