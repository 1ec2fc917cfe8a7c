"""ONNX export: a small CNN and a tabular-like model (embedding + continuous input), each
checked here against onnxruntime on fresh inputs of another batch size."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from fastlearn import DataLoaders, Learner, set_seed
from fastlearn.core.export import ExportError, load_learner, register_builder
from fastlearn.core.onnx import to_onnx

onnx = pytest.importorskip("onnx", reason="ONNX export needs onnx: pip install onnx")
ort = pytest.importorskip("onnxruntime", reason="the check needs: pip install onnxruntime")


@register_builder("test_onnx_cnn")
def small_cnn(n_out: int = 3) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, n_out),
    )


class EmbeddingMLP(nn.Module):
    """A tabular model in miniature: an embedding per category column, continuous inputs."""

    def __init__(self, n_cats: tuple[int, ...] = (5, 3), n_cont: int = 2) -> None:
        super().__init__()
        self.embeds = nn.ModuleList(nn.Embedding(n, 3) for n in n_cats)
        self.bn = nn.BatchNorm1d(n_cont)
        self.head = nn.Sequential(
            nn.Linear(3 * len(n_cats) + n_cont, 16), nn.ReLU(), nn.Linear(16, 2)
        )

    def forward(self, x_cat: torch.Tensor, x_cont: torch.Tensor) -> torch.Tensor:
        embs = [e(x_cat[:, i]) for i, e in enumerate(self.embeds)]  # each (B, 3)
        return self.head(torch.cat([*embs, self.bn(x_cont)], dim=1))  # (B, 2)


def image_learner(tmp_path) -> Learner:
    set_seed(0)
    x, y = torch.randn(48, 3, 16, 16), torch.randint(0, 3, (48,))
    dls = DataLoaders.from_dsets(
        TensorDataset(x[:32], y[:32]), TensorDataset(x[32:], y[32:]), bs=16, device="cpu"
    )
    dls.vocab = ["a", "b", "c"]
    learn = Learner(dls, small_cnn(), path=tmp_path, show_progress=False)
    learn.fit(1, lr=1e-2)
    return learn


def tabular_learner(tmp_path) -> Learner:
    set_seed(0)
    n = 64
    cats = torch.stack([torch.randint(0, 5, (n,)), torch.randint(0, 3, (n,))], dim=1)
    conts, y = torch.randn(n, 2), torch.randint(0, 2, (n,))
    dls = DataLoaders.from_dsets(
        TensorDataset(cats[:48], conts[:48], y[:48]),
        TensorDataset(cats[48:], conts[48:], y[48:]),
        bs=16,
        device="cpu",
        n_inp=2,
    )
    learn = Learner(dls, EmbeddingMLP(), path=tmp_path, show_progress=False)
    learn.fit(1, lr=1e-2)
    return learn


def run_onnx(path, *inputs) -> torch.Tensor:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {f"input_{i}": x.numpy() for i, x in enumerate(inputs)}
    return torch.from_numpy(session.run(None, feed)[0])


def test_cnn_matches_onnxruntime_at_any_batch_size(tmp_path):
    learn = image_learner(tmp_path)
    learn.model.train()  # export must not change the live model's mode
    path = learn.to_onnx("cnn.onnx")
    assert path == tmp_path / "cnn.onnx" and path.exists()
    assert learn.model.training and not list(tmp_path.glob(".cnn.onnx*"))
    learn.model.eval()
    for bs in (1, 7):
        x = torch.randn(bs, 3, 16, 16)
        with torch.no_grad():
            expected = learn.model(x)
        torch.testing.assert_close(run_onnx(path, x), expected, atol=1e-5, rtol=1e-4)
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    config = json.loads(meta["fastlearn"])
    assert config["vocab"] == ["a", "b", "c"] and config["activation"] == "softmax"


def test_embedding_and_continuous_inputs(tmp_path):
    learn = tabular_learner(tmp_path)
    path = learn.to_onnx(tmp_path / "tab.onnx")
    learn.model.eval()
    cats = torch.stack([torch.randint(0, 5, (9,)), torch.randint(0, 3, (9,))], dim=1)
    conts = torch.randn(9, 2)
    with torch.no_grad():
        expected = learn.model(cats, conts)
    torch.testing.assert_close(run_onnx(path, cats, conts), expected, atol=1e-5, rtol=1e-4)
    names = [i.name for i in onnx.load(str(path)).graph.input]
    assert names == ["input_0", "input_1"]


def test_from_a_loaded_predictor(tmp_path):
    learn = image_learner(tmp_path)
    predictor = load_learner(
        learn.export("m.fl", builder="test_onnx_cnn", builder_kwargs={"n_out": 3})
    )
    x = torch.randn(4, 3, 16, 16)
    with pytest.raises(ExportError, match="example_inputs"):
        to_onnx(predictor, tmp_path / "p.onnx")
    path = to_onnx(predictor, tmp_path / "p.onnx", x)
    probs = torch.stack([predictor.predict(xi)[2] for xi in x])
    torch.testing.assert_close(torch.softmax(run_onnx(path, x), dim=1), probs, atol=1e-5, rtol=1e-4)


class Stateful(nn.Module):
    """Its output depends on a Python counter: a trace records one value of it."""

    def __init__(self) -> None:
        super().__init__()
        self.lin, self.calls = nn.Linear(4, 2), 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.lin(x) * self.calls


def test_a_model_the_export_cannot_record_is_refused(tmp_path):
    with pytest.raises(ExportError, match="differ from PyTorch"):
        to_onnx(
            Learner(tabular_learner(tmp_path).dls, Stateful()),
            tmp_path / "s.onnx",
            torch.randn(3, 4),
        )
    assert list(tmp_path.glob("*.onnx*")) == [] and list(tmp_path.glob(".s.onnx*")) == []


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(TypeError, match="Learner or a Predictor"):
        to_onnx(nn.Linear(2, 2), tmp_path / "x.onnx", torch.randn(1, 2))
    with pytest.raises(ExportError, match="tuple of tensors"):
        to_onnx(image_learner(tmp_path), tmp_path / "x.onnx", [[1.0, 2.0]])


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("onnxscript") is None,
    reason="dynamo=True needs onnxscript: pip install onnxscript",
)
def test_dynamo_exporter(tmp_path):
    learn = tabular_learner(tmp_path)
    path = learn.to_onnx("dyn.onnx", dynamo=True)
    cats, conts = torch.zeros(5, 2, dtype=torch.long), torch.randn(5, 2)
    learn.model.eval()
    with torch.no_grad():
        expected = learn.model(cats, conts)
    torch.testing.assert_close(run_onnx(path, cats, conts), expected, atol=1e-5, rtol=1e-4)


# ---------------------------------------------------------------------------- the applications
def test_a_tabular_learner(tmp_path):
    pd = pytest.importorskip("pandas")
    from fastlearn.tabular.all import (
        Categorify,
        FillMissing,
        Normalize,
        TabularDataLoaders,
        tabular_learner,
    )

    g = torch.Generator().manual_seed(0)
    n = 200
    df = pd.DataFrame(
        {
            "age": (torch.rand(n, generator=g) * 60 + 18).tolist(),
            "hours": (torch.rand(n, generator=g) * 50 + 10).tolist(),
            "workclass": [["Private", "Gov", "Self"][i % 3] for i in range(n)],
            "y": [["<50k", ">=50k"][i % 2] for i in range(n)],
        }
    )
    df.loc[3, "age"] = float("nan")
    dls = TabularDataLoaders.from_df(
        df,
        y_names="y",
        cat_names=["workclass"],
        cont_names=["age", "hours"],
        bs=32,
        procs=[Categorify, FillMissing, Normalize],
    )
    learn = tabular_learner(dls, layers=[20, 10], show_progress=False, path=tmp_path)
    learn.fit(1, 1e-2)
    path = learn.to_onnx("adult.onnx")
    x_cat, x_cont, _ = dls.valid.one_batch()
    learn.model.eval()
    with torch.no_grad():
        expected = learn.model(x_cat, x_cont)
    torch.testing.assert_close(run_onnx(path, x_cat, x_cont), expected, atol=1e-5, rtol=1e-4)


def tiny_arch(pretrained: bool = False, num_classes: int = 1000) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, num_classes),
    )


def test_a_vision_learner(tmp_path):
    pytest.importorskip("fastlearn.vision.learner")
    from PIL import Image

    from fastlearn.vision.augment import Resize
    from fastlearn.vision.data import ImageDataLoaders
    from fastlearn.vision.learner import vision_learner
    from fastlearn.vision.models import register_arch
    from fastlearn.vision.models.registry import _REGISTRY

    for split in ("train", "valid"):
        for name, colour in [("red", (220, 0, 0)), ("blue", (0, 0, 220))]:
            (tmp_path / split / name).mkdir(parents=True)
            for i in range(2):
                Image.new("RGB", (40, 30 + i), colour).save(tmp_path / split / name / f"{i}.png")
    dls = ImageDataLoaders.from_folder(
        tmp_path, item_tfms=Resize(32), bs=4, num_workers=0, device="cpu"
    )
    register_arch(
        "test_onnx_tiny",
        tiny_arch,
        cut=-3,
        overwrite=True,
        meta={"stats": ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)), "split": 3},
    )
    try:
        learn = vision_learner(dls, "test_onnx_tiny", pretrained=True, show_progress=False)
        path = learn.to_onnx(tmp_path / "colours.onnx")
    finally:
        _REGISTRY.pop("test_onnx_tiny", None)
    x = dls.valid.one_batch()[0]  # resized and normalised, as the model sees it
    learn.model.eval()
    with torch.no_grad():
        expected = learn.model(x)
    torch.testing.assert_close(run_onnx(path, x), expected, atol=1e-4, rtol=1e-3)
    config = json.loads({p.key: p.value for p in onnx.load(str(path)).metadata_props}["fastlearn"])
    assert config["application"] == "vision" and config["vocab"] == ["blue", "red"]
    assert config["preprocessing"]["batch_tfms"][-1] == {
        "name": "Normalize",
        "mean": [0.5, 0.5, 0.5],
        "std": [0.25, 0.25, 0.25],
    }
