"""The ULMFiT pipeline: fastai-style tokenization, a vocabulary, the AWD-LSTM language model
fine-tuned on the corpus, then a classifier on its encoder.

- `tokenize/`: rules, word and subword tokenizers, parallel cached tokenization;
- `vocab.py`: `Vocab` and `Numericalize`;
- `loaders.py`: the language model's stream and the classifier's padded batches;
- `blocks.py`: `TextBlock` for the DataBlock; `data.py`: `TextDataLoaders`; `show.py`;
- `awd_lstm.py`: the model; `pretrained.py`: WT103 / fastlearn weights for a new vocabulary;
- `learner.py`: `language_model_learner`, `text_classifier_learner`;
- `export.py`: `TextPredictor`; `traceable.py`: the classifier as one function for ONNX.
"""
