"""Real small exported files, one per application, for the model-file corpus.

Each maker trains nothing (the weights don't matter to a header fuzzer): it builds a tiny
learner of its application on synthetic data and calls `learn.export`, so the header is the
one the library really writes. `SAMPLE_INPUTS` holds an input each predictor must take.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def tiny_vision_body(pretrained: bool = False, num_classes: int = 1000) -> nn.Sequential:
    from fastlearn.vision.models.layers import conv_bn_relu

    return nn.Sequential(
        conv_bn_relu(3, 8, stride=2),
        conv_bn_relu(8, 8, stride=2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, num_classes),
    )


def register_tiny_arch() -> str:
    """The vision files name this architecture; a loading process must register it too."""
    from fastlearn.vision.models import register_arch

    register_arch(
        "security_tiny",
        tiny_vision_body,
        cut=-3,
        meta={"stats": ((0.5,) * 3, (0.25,) * 3), "split": 1},
        overwrite=True,
    )
    return "security_tiny"


def vision_file(folder: Path) -> Path:
    from PIL import Image

    from fastlearn.vision.augment import Resize
    from fastlearn.vision.data import ImageDataLoaders
    from fastlearn.vision.learner import vision_learner

    rng = np.random.default_rng(0)
    files = []
    for i in range(8):
        files.append(folder / f"{'Cat' if i % 2 else 'dog'}_{i}.png")
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(files[-1])
    dls = ImageDataLoaders.from_name_func(
        folder,
        files,
        lambda f: f[0].isupper(),
        seed=0,
        item_tfms=Resize(16),
        bs=4,
        num_workers=0,
        device="cpu",
    )
    learn = vision_learner(dls, register_tiny_arch(), pretrained=False, show_progress=False)
    return learn.export(folder / "vision.fl")


def text_file(folder: Path) -> Path:
    from fastlearn.text import AWD_LSTM, text_classifier_learner

    from ..text.helpers import TINY, clas_dls, corpus, lm_dls

    dls = clas_dls(lm_dls(corpus(20)), corpus(20))
    learn = text_classifier_learner(
        dls, AWD_LSTM, config=TINY, pretrained=False, show_progress=False, path=folder
    )
    return learn.export(folder / "text.fl")


def tabular_file(folder: Path) -> Path:
    from fastlearn.tabular import TabularDataLoaders, tabular_learner

    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "shop": rng.choice(["a", "b"], 40),
            "x": rng.normal(size=40),
            "label": rng.choice(["p", "q"], 40),
        }
    )
    dls = TabularDataLoaders.from_df(
        df, cat_names=["shop"], cont_names=["x"], y_names="label", valid_pct=0.25, seed=0, bs=8
    )
    learn = tabular_learner(dls, layers=[8], show_progress=False)
    return learn.export(folder / "tabular.fl")


def collab_file(folder: Path, use_nn: bool = False) -> Path:
    from fastlearn.collab import CollabDataLoaders, collab_learner

    df = pd.DataFrame(
        {
            "user": [f"u{i % 5}" for i in range(30)],
            "title": [f"film {i % 4}" for i in range(30)],
            "rating": [float(1 + i % 5) for i in range(30)],
        }
    )
    dls = CollabDataLoaders.from_df(df, bs=8, seed=0, device="cpu")
    learn = collab_learner(
        dls,
        use_nn=use_nn,
        n_factors=4,
        layers=[8] if use_nn else None,
        y_range=(0, 5.5),
        show_progress=False,
    )
    return learn.export(folder / ("collab_nn.fl" if use_nn else "collab.fl"))


def transformers_file(folder: Path) -> Path:
    """A 2-layer BERT of width 16 with a word-level tokenizer, saved and loaded as a folder."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    from fastlearn.text import HFTextDataLoaders, transformers_learner

    words = "[PAD] [UNK] [CLS] [SEP] good bad film plot great awful".split()
    raw = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
    )
    model_dir = folder / "tiny_bert"
    tokenizer.save_pretrained(model_dir)
    config = BertConfig(
        vocab_size=len(words),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    BertForSequenceClassification(config).save_pretrained(model_dir)
    df = pd.DataFrame(
        {
            "text": ["good film", "bad plot", "great", "awful film"] * 3,
            "label": ["pos", "neg", "pos", "neg"] * 3,
            "is_valid": [i % 4 == 0 for i in range(12)],
        }
    )
    dls = HFTextDataLoaders.from_df(
        df,
        "text",
        "label",
        valid_col="is_valid",
        tokenizer=str(model_dir),
        max_len=16,
        bs=4,
        device="cpu",
    )
    learn = transformers_learner(dls, model_dir, show_progress=False)
    return learn.export(folder / "transformers.fl")


MAKERS: dict[str, Callable[[Path], Path]] = {
    "vision": vision_file,
    "text": text_file,
    "tabular": tabular_file,
    "collab": collab_file,
    "collab_nn": lambda folder: collab_file(folder, use_nn=True),
    "transformers": transformers_file,
}


def sample_input(app: str, folder: Path, predictor: object = None) -> object:
    """An input the predictor of `app` takes (a pair of texts where `predictor` reads pairs)."""
    if app == "vision":
        return sorted(folder.glob("*.png"))[0]
    if app == "transformers" and getattr(predictor, "tokenize", None) and predictor.tokenize.pair:
        return ("good", "film")
    if app in ("text", "transformers"):
        return "good film"
    if app == "tabular":
        return {"shop": "a", "x": 0.5}
    return ("u1", "film 2")
