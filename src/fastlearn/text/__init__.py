"""Text: two pipelines, one folder each. `ulmfit/`: tokenization, vocabularies,
TextDataLoaders, the AWD-LSTM language model and the ULMFiT classifier. `hf/`: pretrained
HuggingFace transformers fine-tuned through the Learner. `items.py`: what a text is, for both.

    from fastlearn.text import TextDataLoaders, language_model_learner, text_classifier_learner
    dls_lm = TextDataLoaders.from_df(df, "text", is_lm=True, valid_pct=0.1)
    learn = language_model_learner(dls_lm, AWD_LSTM, drop_mult=0.3)
    learn.fit_one_cycle(1, 2e-2)

The HuggingFace path (`HFTextDataLoaders`, `transformers_learner`) imports `transformers` only
when a model or tokenizer is loaded. Needs pandas for the DataFrame/CSV/folder constructors;
`import fastlearn` alone does not load this package.
"""

from ..core.utils import _Defaults
from .hf.data import HFTextDataLoaders
from .hf.export import TransformersPredictor
from .hf.learner import (
    HFClassifier,
    TransformersLearner,
    transformers_learner,
    transformers_splitter,
)
from .hf.parts import load_from_parts, save_pretrained_parts
from .ulmfit.awd_lstm import (
    AWD_LSTM,
    LanguageModel,
    SequentialRNN,
    TextClassifier,
    awd_lstm_clas_config,
    awd_lstm_lm_config,
    awd_lstm_small_config,
    masked_concat_pool,
)
from .ulmfit.blocks import TextBlock, get_text_files
from .ulmfit.data import TextDataLoaders
from .ulmfit.export import TextPredictor
from .ulmfit.learner import (
    LMLearner,
    ModelResetterCallback,
    RNNRegularizerCallback,
    TextClassifierLearner,
    classifier_splitter,
    language_model_learner,
    lm_splitter,
    text_classifier_learner,
)
from .ulmfit.loaders import LMDataLoader, SortedTextDataLoader, TextDataset
from .ulmfit.pretrained import load_pretrained, read_vocab_file
from .ulmfit.tokenize.detokenize import detokenize
from .ulmfit.tokenize.parallel import tokenize_texts
from .ulmfit.tokenize.rules import SPECIAL_TOKENS, TEXT_PROC_RULES
from .ulmfit.tokenize.subword import SubwordTokenizer
from .ulmfit.tokenize.tokenizer import Tokenizer, tokenizer_from_state
from .ulmfit.tokenize.word import WordTokenizer
from .ulmfit.vocab import Numericalize, Vocab


class _TextDefaults(_Defaults):
    """The core's `defaults` (cpus, device, use_cuda), and the text rules as the course reads
    them: `defaults.text_proc_rules` names WordTokenizer's rules in the order applied; each is
    switched by the WordTokenizer flag of that name (`WordTokenizer(replace_rep=False)`)."""

    __slots__ = ()

    @property
    def text_proc_rules(self) -> tuple[str, ...]:
        return TEXT_PROC_RULES


defaults = _TextDefaults()

__all__ = [
    "defaults",
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
