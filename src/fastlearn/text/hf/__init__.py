"""The HuggingFace transformers pipeline: a pretrained model fine-tuned through the Learner.

- `load.py`: tokenizers and models from a folder or the hub (imports `transformers` lazily);
- `tokenize.py`: `HFTokenize`, texts or pairs to padded token ids;
- `data.py`: `HFTextDataLoaders`, length-grouped batches;
- `learner.py`: `HFClassifier`, `transformers_learner`, the parameter groups;
- `parts.py`: `save_pretrained_parts` / `load_from_parts`, a folder transformers can read;
- `export.py`: the single-file export's builder and `TransformersPredictor`.
"""
