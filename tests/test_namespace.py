"""What `from fastlearn.<app>.all import *` gives: the names the course's notebooks use after
`from fastai.<app>.all import *` (a table), and `import fastlearn` alone staying light."""

from __future__ import annotations

import functools
import importlib
import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from fastlearn.core.collections import L, Path

COMMON = [  # every app's all
    "Path",
    "L",
    "first",
    "partial",
    "tensor",
    "to_np",
    "to_cpu",
    "one_hot",
    "array",
    "np",
    "pd",
    "plt",
    "math",
    "re",
    "torch",
    "nn",
    "F",
    "Module",
    "defaults",
    "coll_repr",
    "MixUp",
    "CutMix",
    "LabelSmoothingCrossEntropy",
    "CrossEntropyLossFlat",
    "MSELossFlat",
    "DataLoader",
    "DataLoaders",
    "Learner",
    "untar_data",
    "URLs",
    "accuracy",
    "error_rate",
    "load_learner",
    "Embedding",
    "sigmoid_range",
    "set_seed",
    "RandomSplitter",
    "save_pickle",
    "load_pickle",
]
APPS = {
    "vision": [
        "imagenet_stats",
        "ResizeMethod",
        "PadMode",
        "Resize",
        "ImageDataLoaders",
        "vision_learner",
        "cnn_learner",
        "get_image_files",
        "aug_transforms",
        "Image",
        "resnet34",
        "ClassificationInterpretation",
    ],
    "text": [
        "Tokenizer",
        "WordTokenizer",
        "SubwordTokenizer",
        "Numericalize",
        "TextDataLoaders",
        "language_model_learner",
        "text_classifier_learner",
        "AWD_LSTM",
    ],
    "tabular": [
        "TabularPandas",
        "TabularDataLoaders",
        "tabular_learner",
        "Categorify",
        "FillMissing",
        "Normalize",
        "cont_cat_split",
        "add_datepart",
        "get_emb_sz",
        "CategoryBlock",
        "RegressionBlock",
    ],
    "collab": [
        "CollabDataLoaders",
        "collab_learner",
        "EmbeddingDotBias",
        "EmbeddingNN",
        "get_emb_sz",
        "pca",
    ],
}
ROWS = [(app, name) for app, names in APPS.items() for name in COMMON + names]


@functools.cache
def star(app: str) -> dict:
    namespace: dict = {}
    exec(f"from fastlearn.{app}.all import *", namespace)
    return namespace


@pytest.mark.parametrize("app, name", ROWS)
def test_all_gives_the_courses_name(app, name):
    assert name in star(app), f"fastlearn.{app}.all lacks {name!r}"


@pytest.mark.parametrize("app", APPS)
def test_all_lists_only_what_it_defines(app):
    module = importlib.import_module(f"fastlearn.{app}.all")
    assert all(hasattr(module, n) for n in module.__all__)


@pytest.mark.parametrize("app", APPS)
def test_the_names_are_the_expected_objects(app):
    ns = star(app)
    import matplotlib.pyplot as plt
    import pandas as pd

    assert ns["Path"] is Path and ns["L"] is L and ns["partial"] is functools.partial
    assert ns["np"] is np and ns["pd"] is pd and ns["plt"] is plt and ns["torch"] is torch
    assert ns["math"] is math and ns["re"] is re and ns["array"] is np.array
    assert ns["nn"] is torch.nn and ns["F"] is torch.nn.functional


def test_resize_method_names_give_resize_methods():
    ns = star("vision")
    Image, Resize, ResizeMethod = ns["Image"], ns["Resize"], ns["ResizeMethod"]
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 50, 3), np.uint8))
    for name, method in [("Squish", "squish"), ("Pad", "pad"), ("Crop", "crop")]:
        by_name = Resize(16, getattr(ResizeMethod, name))
        assert by_name.method == method
        by_string = Resize(16, method)
        assert np.array_equal(np.asarray(by_name(img)), np.asarray(by_string(img)))
    assert Resize(16, ResizeMethod.Pad, pad_mode=ns["PadMode"].Zeros).pad_mode == "zeros"
    assert ns["imagenet_stats"] == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def _modules_after(statement: str) -> dict:
    code = (
        f"import sys, json; {statement}; "
        "print(json.dumps({m: m in sys.modules for m in "
        "('matplotlib', 'pandas', 'transformers', 'sklearn', 'PIL')}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_fastlearn_stays_light():
    loaded = _modules_after("import fastlearn")
    assert not loaded["matplotlib"] and not loaded["pandas"] and not loaded["transformers"]
    assert not loaded["sklearn"]


def test_only_the_all_modules_bring_matplotlib():
    assert not _modules_after("import fastlearn.collab")["matplotlib"]
    assert _modules_after("from fastlearn.collab.all import *")["matplotlib"]
