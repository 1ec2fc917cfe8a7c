"""The course's helpers (core/utils.py, core/layers.py): tensor, to_np, to_cpu, one_hot,
coll_repr, CategoryMap, defaults, save/load_pickle, Module, and the losses and loader they
are used with, checked against numpy, torch and hand computations."""

from __future__ import annotations

import copy
from collections import namedtuple

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import TensorDataset

from fastlearn import DataLoader, LabelSmoothingCrossEntropy, Learner, MSELossFlat
from fastlearn.core.collections import L
from fastlearn.core.layers import Embedding, Module
from fastlearn.core.utils import (
    CategoryMap,
    coll_repr,
    defaults,
    load_pickle,
    one_hot,
    save_pickle,
    tensor,
    to_cpu,
    to_np,
)


# ---------------------------------------------------------------------- tensor
@pytest.mark.parametrize(
    "args, expected",
    [
        (([1, 2],), torch.tensor([1, 2])),
        ((1, 2, 3), torch.tensor([1, 2, 3])),
        ((5,), torch.tensor(5)),
        (([[1.5, 2.0]],), torch.tensor([[1.5, 2.0]])),
        ((np.array([1.0, 2.0]),), torch.tensor([1.0, 2.0])),  # float64 -> float32, as fastai
        (
            (np.arange(6, dtype=np.int32).reshape(2, 3),),
            torch.arange(6, dtype=torch.int32).reshape(2, 3),
        ),
        (([torch.ones(2), torch.zeros(2)],), torch.tensor([[1.0, 1.0], [0.0, 0.0]])),
        ((np.arange(4)[::-1],), torch.tensor([3, 2, 1, 0])),  # negative strides
    ],
)
def test_tensor_builds_what_torch_would(args, expected):
    out = tensor(*args)
    assert out.dtype == expected.dtype and torch.equal(out, expected)


def test_tensor_of_a_pil_image_is_hwc_uint8():
    rgb = np.random.default_rng(0).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    out = tensor(Image.fromarray(rgb))
    assert out.shape == (5, 7, 3) and out.dtype == torch.uint8
    assert np.array_equal(out.numpy(), rgb)
    assert tensor(Image.fromarray(rgb[..., 0])).shape == (5, 7)  # mode L: (H, W)


def test_tensor_shares_numpy_memory_and_keeps_tensors():
    arr = np.zeros(3, dtype=np.float32)
    out = tensor(arr)
    arr[0] = 7
    assert out[0] == 7
    t = torch.arange(3)
    assert tensor(t) is t
    assert tensor([1, 2], dtype=torch.float64).dtype == torch.float64  # asked: kept


def test_tensor_refuses_objects_by_name():
    with pytest.raises(TypeError, match="Python objects"):
        tensor(np.array(["a", None], dtype=object))


# ---------------------------------------------------------------------- to_np, to_cpu
def test_to_np_and_to_cpu_walk_nested_structures():
    Pair = namedtuple("Pair", "a b")
    x = {"p": Pair(torch.ones(2, requires_grad=True), [torch.zeros(1), "s"]), "n": 3}
    out = to_np(x)
    assert isinstance(out["p"], Pair) and isinstance(out["p"].a, np.ndarray)
    assert np.array_equal(out["p"].a, np.ones(2)) and out["p"].b[1] == "s" and out["n"] == 3
    assert isinstance(to_np(L([torch.ones(1)])), L)
    moved = to_cpu((torch.ones(1), [torch.zeros(2)]))
    assert moved[0].device.type == "cpu" and moved[1][0].device.type == "cpu"


# ---------------------------------------------------------------------- one_hot, coll_repr
def test_one_hot_is_fastais_multi_hot_vector():
    assert one_hot(3, 5).tolist() == [0, 0, 0, 1, 0]
    assert one_hot([1, 3], 5).tolist() == [0, 1, 0, 1, 0]
    assert one_hot(torch.tensor([0, 4]), 5).tolist() == [1, 0, 0, 0, 1]
    assert one_hot([], 3).tolist() == [0, 0, 0]
    assert one_hot(2, 4).dtype == torch.uint8
    # the same as torch's one-hot rows summed
    assert torch.equal(one_hot([0, 2], 4), F.one_hot(torch.tensor([0, 2]), 4).sum(0).byte())
    with pytest.raises(IndexError, match=r"\[0, 3\)"):
        one_hot(5, 3)


def test_coll_repr_shows_length_and_head_like_an_L():
    assert coll_repr(range(1000), 5) == "(#1000) [0, 1, 2, 3, 4, ...]"
    assert coll_repr(["a", "b"]) == "(#2) ['a', 'b']"
    assert coll_repr(L(range(3))) == repr(L(range(3)))
    assert coll_repr(list(range(12))) == repr(L(range(12)))  # both show the first 10


# ---------------------------------------------------------------------- CategoryMap
def test_category_map_is_an_l_with_o2i():
    vocab = CategoryMap(["#na#", "high", "low"])
    assert vocab == ["#na#", "high", "low"] and isinstance(vocab, L)
    assert vocab.o2i == {"#na#": 0, "high": 1, "low": 2}
    assert all(vocab[vocab.o2i[v]] == v for v in vocab)
    assert vocab[torch.tensor(2)] == "low"
    with pytest.raises(ValueError, match="repeats"):
        CategoryMap(["a", "b", "a"])


# ---------------------------------------------------------------------- defaults
def test_defaults_reads_the_machine_and_is_read_only():
    assert defaults.cpus >= 1 and isinstance(defaults.cpus, int)
    assert isinstance(defaults.device, torch.device)
    assert defaults.use_cuda == torch.cuda.is_available()
    with pytest.raises(AttributeError, match="read-only.*Fix"):
        defaults.cpus = 4
    with pytest.raises(AttributeError):
        defaults.lr = 0.1


def test_save_and_load_pickle_round_trip(tmp_path):
    obj = {"a": L([1, 2]), "t": torch.arange(3)}
    save_pickle(tmp_path / "o.pkl", obj)
    back = load_pickle(tmp_path / "o.pkl")
    assert back["a"] == [1, 2] and torch.equal(back["t"], obj["t"])


# ---------------------------------------------------------------------- Module
class DotProduct(Module):  # the book's chapter 8 model: no super().__init__()
    def __init__(self, n_users: int, n_items: int, n_factors: int) -> None:
        self.user_factors = Embedding(n_users, n_factors)
        self.item_factors = Embedding(n_items, n_factors)
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.user_factors(x[:, 0]) * self.item_factors(x[:, 1])).sum(1) * self.scale


class CallsSuper(Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 1)


def test_module_needs_no_super_init():
    m = DotProduct(5, 4, 3)
    names = [n for n, _ in m.named_parameters()]
    assert names == ["scale", "user_factors.weight", "item_factors.weight"]
    assert set(m.state_dict()) == {"scale", "user_factors.weight", "item_factors.weight"}
    x = torch.tensor([[0, 1], [4, 3]])
    expected = (m.user_factors.weight[[0, 4]] * m.item_factors.weight[[1, 3]]).sum(1)
    assert torch.allclose(m(x), expected)
    assert isinstance(m, nn.Module) and m.training
    assert [n for n, _ in CallsSuper().named_parameters()] == ["lin.weight", "lin.bias"]
    clone = copy.deepcopy(m)
    assert torch.equal(clone.user_factors.weight, m.user_factors.weight)
    plain = type("T", (Module,), {"__init__": lambda self: setattr(self, "a", torch.ones(3))})()
    assert len(list(plain.parameters())) == 0  # a plain tensor is not a parameter


def test_module_trains_in_a_learner():
    g = torch.Generator().manual_seed(0)
    x = torch.stack(
        [torch.randint(0, 5, (64,), generator=g), torch.randint(0, 4, (64,), generator=g)], 1
    )
    y = torch.randn(64, generator=g)
    dl = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
    learn = Learner(
        (dl, DataLoader(TensorDataset(x, y), 32)),
        DotProduct(5, 4, 3),
        loss_func=MSELossFlat(),
        show_progress=False,
    )
    before = learn.validate()[0]
    learn.fit(5, 0.1)
    assert learn.validate()[0] < before


# ---------------------------------------------------------------------- losses and loaders
def test_label_smoothing_matches_the_formula():
    # (1 - eps) * CE + eps * mean over classes of -log p, by hand
    g = torch.Generator().manual_seed(0)
    logits, targ, eps = torch.randn(6, 4, generator=g), torch.tensor([0, 1, 2, 3, 0, 2]), 0.1
    log_p = torch.log_softmax(logits, 1)
    nll = -log_p[torch.arange(6), targ]
    expected = ((1 - eps) * nll + eps * (-log_p).mean(1)).mean()
    assert torch.allclose(LabelSmoothingCrossEntropy(eps)(logits, targ), expected, atol=1e-6)
    per_item = LabelSmoothingCrossEntropy(0.3, reduction="none")(logits, targ)
    assert torch.allclose(per_item, 0.7 * nll + 0.3 * (-log_p).mean(1), atol=1e-6)


def test_dataloader_takes_batch_size():
    dset = TensorDataset(torch.arange(600.0))
    dl = DataLoader(dset, batch_size=256)
    assert dl.bs == 256 and [len(b[0]) for b in dl] == [256, 256, 88]


def test_delegates_shows_the_targets_keywords():
    import inspect

    from fastlearn.core.utils import delegates

    def base(a, b=1, *, c=2):
        return a + b + c

    @delegates(base)
    def wrapper(a, **kwargs):
        return base(a, **kwargs)

    assert list(inspect.signature(wrapper).parameters) == ["a", "b", "c"]
    assert wrapper(1, b=2, c=3) == 6  # the call itself is unchanged

    class Base:
        def __init__(self, n, *, scale=1.0, shift=0.0):
            self.n = n * scale + shift

    @delegates(Base)
    class Child(Base):
        def __init__(self, n, **kwargs):
            super().__init__(n, **kwargs)

    params = inspect.signature(Child).parameters
    assert list(params) == ["n", "scale", "shift"] and params["scale"].default == 1.0
    assert Child(2, scale=3.0).n == 6.0
