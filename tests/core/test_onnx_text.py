"""ONNX export of the ULMFiT text classifier: onnxruntime's logits equal the PyTorch model's
on padded batches of any size and length (texts longer than a chunk and than `max_len`,
a row of pads only), from a Learner and from a loaded Predictor; a language model is refused
up front, saying what is supported."""

from __future__ import annotations

import pytest
import torch

from fastlearn import set_seed
from fastlearn.core.export import ExportError, load_learner
from fastlearn.core.onnx import to_onnx
from fastlearn.text import AWD_LSTM, language_model_learner, text_classifier_learner

from ..text.helpers import TINY, clas_dls, lm_dls

onnx = pytest.importorskip("onnx", reason="ONNX export needs onnx: pip install onnx")
ort = pytest.importorskip("onnxruntime", reason="the check needs: pip install onnxruntime")


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    set_seed(0)
    dls = clas_dls(lm_dls())  # chunks of seq_len=8 tokens
    learn = text_classifier_learner(
        dls,
        AWD_LSTM,
        config=TINY,
        pretrained=False,
        max_len=12,
        path=tmp_path_factory.mktemp("text_onnx"),
        show_progress=False,
    )
    learn.fit(1, 1e-2)
    return learn


def padded_batch(bs: int, length: int, vocab_size: int, pad: int, seed: int) -> torch.Tensor:
    """Token ids (bs, length), each row a text of random length after its leading pads; the
    last row is pads only when bs > 2."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(pad + 1, vocab_size, (bs, length), generator=g)
    for row in range(bs):
        n_pads = (
            length if bs > 2 and row == bs - 1 else int(torch.randint(0, length, (1,), generator=g))
        )
        ids[row, :n_pads] = pad
    return ids


def run_onnx(path, ids: torch.Tensor) -> torch.Tensor:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(["output"], {"input_0": ids.numpy()})[0])


def test_classifier_logits_equal_pytorch_on_padded_batches(classifier):
    path = classifier.to_onnx("clas.onnx")
    model = classifier.model.eval()
    vocab_size, pad = len(classifier.dls.text_vocab), classifier.dls.pad_idx
    for seed, (bs, length) in enumerate([(1, 3), (3, 7), (8, 30), (5, 50), (2, 1)]):
        ids = padded_batch(bs, length, vocab_size, pad, seed)
        with torch.no_grad():
            expected = model(ids)  # the chunked SentenceEncoder, as in training
        torch.testing.assert_close(run_onnx(path, ids), expected, atol=1e-5, rtol=1e-4)
    names = [i.name for i in onnx.load(str(path)).graph.input]
    assert names == ["input_0"]


def test_from_a_loaded_predictor(classifier, tmp_path):
    predictor = load_learner(classifier.export(tmp_path / "clas.fl"))
    texts = ["good movie, good plot.", "Bad.", "dull " * 20 + "awful scene."]
    (ids,) = predictor.preprocess(texts)
    path = to_onnx(predictor, tmp_path / "clas.onnx", ids)
    probs = torch.softmax(run_onnx(path, ids), dim=1)
    expected = torch.stack([p for _, _, p in predictor.predict_batch(texts)])
    torch.testing.assert_close(probs, expected, atol=1e-5, rtol=1e-4)


def test_a_language_model_is_refused_naming_the_classifier(tmp_path):
    learn = language_model_learner(
        lm_dls(), AWD_LSTM, config=TINY, pretrained=False, path=tmp_path, show_progress=False
    )
    with pytest.raises(ExportError, match="takes the classifier .*Received: a language model"):
        learn.to_onnx("lm.onnx")
    assert list(tmp_path.glob("*.onnx*")) == [] and list(tmp_path.glob(".lm.onnx*")) == []
