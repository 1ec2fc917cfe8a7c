"""The ULMFiT tokenizers: the rules, word and subword tokenizers, detokenizing, and a corpus
tokenized in parallel processes with a cache on disk."""
