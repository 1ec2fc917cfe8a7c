"""The ULMFiT pipeline's tokenizers, one module per job:

- `rules.py`: the special tokens (xxbos, xxmaj...) and the rules that insert them;
- `word.py`: `WordTokenizer`, the rule-based word tokenizer;
- `detokenize.py`: readable text back from tokens;
- `parallel.py`: `tokenize_texts`, a corpus in parallel processes;
- `cache.py`: the token cache on disk that `tokenize_texts` keeps;
- `subword.py`: `SubwordTokenizer` (BPE or unigram, HuggingFace `tokenizers`);
- `tokenizer.py`: the course's `Tokenizer` wrapper and `tokenizer_from_state`.
"""
