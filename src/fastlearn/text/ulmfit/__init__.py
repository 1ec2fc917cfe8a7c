"""The ULMFiT pipeline: fastai's tokenization and vocabulary, the AWD-LSTM language model
fine-tuned on the corpus, then a classifier on its encoder."""
