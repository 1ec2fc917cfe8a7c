"""The HuggingFace pipeline: pretrained transformers fine-tuned through the Learner
(`transformers` is imported only in `load.py`, and only when a model or tokenizer loads)."""
