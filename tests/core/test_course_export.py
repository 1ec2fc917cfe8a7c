"""The course's inference code on an exported model: `load_learner(path/'export.pkl')` finds
the safe `.fl` file, and the predictor offers `dls.vocab`, `dls.c` and `predict`."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from fastlearn.core.export import ExportError, load_learner, register_builder

from ..conftest import TinyNet


@register_builder("test_course_tiny_net")
def tiny_net(n_out: int = 2) -> TinyNet:
    return TinyNet(n_out=n_out)


@pytest.fixture
def learn(synth_learner, tmp_path):
    learn = synth_learner(path=tmp_path)
    learn.dls.vocab = ["no", "yes"]
    learn.fit(1, lr=1e-2)
    return learn


def test_export_pkl_finds_the_fl_file_beside_it(learn, tmp_path):
    learn.export(builder="test_course_tiny_net")  # the course's call: writes export.fl
    with pytest.warns(UserWarning, match="loading export.fl") as caught:
        learn_inf = load_learner(tmp_path / "export.pkl")
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    x = learn.dls.valid.dataset.tensors[0][0]
    label, idx, probs = learn.predict(x)
    assert learn_inf.predict(x)[0] == label and torch.equal(learn_inf.predict(x)[2], probs)
    # Same stem first: model.pkl -> model.fl.
    learn.export("model.fl", builder="test_course_tiny_net")
    with pytest.warns(UserWarning, match="loading model.fl"):
        load_learner(tmp_path / "model.pkl")


def test_no_model_file_names_the_fl_file(tmp_path):
    with pytest.raises(
        FileNotFoundError,
        match=r"fastlearn writes safe \.fl files \(learn\.export\(\) wrote "
        r"export\.fl\); load that",
    ):
        load_learner(tmp_path / "export.pkl")


class Marker:
    """Unpickling this would create a file: it must never happen."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_real_pickle_is_never_unpickled(learn, tmp_path):
    learn.export(builder="test_course_tiny_net")
    marker = tmp_path / "ran"
    (tmp_path / "export.pkl").write_bytes(pickle.dumps(Marker(os.fspath(marker))))
    with pytest.raises(ExportError, match="never unpickles"):
        load_learner(tmp_path / "export.pkl")
    assert not marker.exists()


def test_predictor_dls_offers_vocab_and_c(learn, tmp_path):
    learn_inf = load_learner(learn.export(builder="test_course_tiny_net"))
    assert learn_inf.dls.vocab == ["no", "yes"] == learn.dls.vocab
    assert learn_inf.dls.c == 2
    with pytest.raises(AttributeError):
        learn_inf.dls.vocab = ["a", "b"]
    learn_inf.dls.vocab.append("changed")  # a copy: the predictor keeps its classes
    assert learn_inf.dls.vocab == ["no", "yes"]
    learn.dls.vocab = None  # regression-like: no classes; c from the builder's n_out
    regression = load_learner(
        learn.export("r.fl", builder="test_course_tiny_net", builder_kwargs={"n_out": 2})
    )
    assert regression.dls.vocab is None and regression.dls.c == 2


def test_predictor_repr_names_app_model_size_and_classes():
    from torch import nn

    from fastlearn.core.export import Predictor

    p = Predictor(
        nn.Linear(3, 2), {"application": "core", "builder": "my_mlp", "vocab": ["a", "b"]}
    )
    assert repr(p) == "Predictor(core: my_mlp (8 parameters), vocab (2): ['a', 'b'], device cpu)"
