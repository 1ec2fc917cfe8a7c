"""DataLoaders, splitters, imbalance samplers and their errors."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import Dataset, TensorDataset

from fastlearn import (
    ColSplitter,
    DataLoader,
    DataLoaders,
    FuncSplitter,
    GrandparentSplitter,
    ImbalancedSampler,
    IndexSplitter,
    RandomSplitter,
    TimeSplitter,
    class_weights,
)


def test_tensor_dataset_batches_cover_every_item_once():
    x = torch.arange(100).float().unsqueeze(1)
    dl = DataLoader(TensorDataset(x, x.squeeze(1).long()), bs=32, shuffle=True, device="cpu")
    seen = torch.cat([xb.squeeze(1) for xb, _ in dl])
    assert len(dl) == 4 and sorted(seen.tolist()) == list(range(100))
    assert [len(b[0]) for b in dl] == [32, 32, 32, 4]
    assert len(dl.new(drop_last=True)) == 3


def test_shuffle_changes_order_each_epoch():
    x = torch.arange(64)
    dl = DataLoader(TensorDataset(x), bs=64, shuffle=True, device="cpu")
    assert not torch.equal(next(iter(dl))[0], next(iter(dl))[0])


class Squares(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        return torch.tensor([float(i)]), i * i


def test_any_dataset_and_batch_transforms():
    def double(batch):
        return batch[0] * 2, batch[1]

    def augment(batch):
        return batch[0] + 1000, batch[1]

    augment.train_only = True
    dls = DataLoaders.from_dsets(
        Squares(), Squares(), bs=4, shuffle=False, device="cpu", batch_tfms=[double, augment]
    )
    xb, yb = dls.train.one_batch()
    assert xb.flatten().tolist() == [1000, 1002, 1004, 1006] and yb.tolist() == [0, 1, 4, 9]
    xv, _ = dls.valid.one_batch()
    assert xv.flatten().tolist() == [0, 2, 4, 6]  # no augmentation in validation
    assert dls.new(bs=5).train.bs == 5


def test_from_items_labels_and_test_dl():
    items = list(range(40))
    dls = DataLoaders.from_items(
        items,
        label_func=lambda i: "even" if i % 2 == 0 else "odd",
        item_tfms=[lambda i: torch.tensor([float(i)])],
        valid_pct=0.25,
        seed=0,
        bs=8,
        device="cpu",
        num_workers=0,
    )
    assert dls.vocab == ["even", "odd"]
    assert len(dls.train.dataset) == 30 and len(dls.valid.dataset) == 10
    xb, yb = dls.valid.one_batch()
    assert [int(v) % 2 for v in xb.flatten()] == yb.tolist()
    tdl = dls.test_dl([3, 4])
    (xt,) = tdl.one_batch()
    assert xt.flatten().tolist() == [3.0, 4.0]


def test_label_func_failure_names_the_item():
    def label(i):
        if i == 7:
            raise KeyError("no label")
        return i % 2

    with pytest.raises(ValueError, match="failed on item 7"):
        DataLoaders.from_items(range(10), label_func=label, device="cpu")


def test_bad_item_is_skipped_and_reported():
    def load(i):
        if i == 3:
            raise OSError("truncated file")
        return torch.tensor([float(i)])

    dls = DataLoaders.from_items(
        list(range(8)),
        labels=[i % 2 for i in range(8)],
        item_tfms=[load],
        splitter=IndexSplitter([6, 7]),
        bs=8,
        shuffle=False,
        device="cpu",
        num_workers=0,
    )
    with pytest.warns(UserWarning, match="Skipping item 3"):
        xb, _ = dls.train.one_batch()
    assert len(xb) == 6 and dls.train.dataset.bad_items == [3]


def test_empty_and_bad_valid_pct():
    with pytest.raises(ValueError, match="empty"):
        DataLoaders.from_dsets(TensorDataset(torch.zeros(0, 2)), None)
    with pytest.raises(ValueError, match="Expected at least one item"):
        DataLoaders.from_items([], labels=[])
    for bad in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match="valid_pct"):
            RandomSplitter(bad)


def test_num_workers_load_in_worker_processes():
    dls = DataLoaders.from_dsets(Squares(), None, bs=5, num_workers=2, device="cpu", shuffle=False)
    assert [b[1].tolist() for b in dls.train] == [[0, 1, 4, 9, 16], [25, 36, 49, 64, 81]]


def test_num_workers_degrade_when_unavailable(monkeypatch):
    import multiprocessing

    class Ctx:
        def Lock(self):
            raise OSError("no semaphores here")

    monkeypatch.setattr(multiprocessing, "get_context", lambda *a: Ctx())
    with pytest.warns(UserWarning, match="num_workers=0"):
        dl = DataLoader(Squares(), bs=5, num_workers=2)
    assert dl._loader.num_workers == 0


# ---------------------------------------------------------------- splitters
def test_random_splitter_is_seeded_and_disjoint():
    a = RandomSplitter(0.2, seed=42)(range(100))
    b = RandomSplitter(0.2, seed=42)(range(100))
    assert a == b and len(a[1]) == 20 and set(a[0]).isdisjoint(a[1])
    assert sorted(a[0] + a[1]) == list(range(100))


def test_other_splitters():
    assert IndexSplitter([1, 3])(range(5)) == ([0, 2, 4], [1, 3])
    df = pd.DataFrame({"is_valid": [False, True, False, True]})
    assert ColSplitter()(df) == ([0, 2], [1, 3])
    paths = ["d/train/cat/1.jpg", "d/valid/cat/2.jpg", "d/train/dog/3.jpg"]
    assert GrandparentSplitter()(paths) == ([0, 2], [1])
    assert FuncSplitter(lambda x: x > 2)(range(5)) == ([0, 1, 2], [3, 4])


def test_time_splitter_puts_the_latest_rows_in_validation():
    dates = pd.date_range("2020-01-01", periods=10, freq="D")
    df = pd.DataFrame({"when": dates[np.random.default_rng(0).permutation(10)]})
    train, valid = TimeSplitter("when", valid_pct=0.3)(df)
    assert df.loc[valid, "when"].min() > df.loc[train, "when"].max()
    assert len(valid) == 3


# ---------------------------------------------------------------- imbalance
def test_oversampling_draws_every_class_as_often_as_the_largest():
    y = torch.tensor([0] * 90 + [1] * 10)
    sampler = ImbalancedSampler(y, mode="over", seed=0)
    counts = Counter(y[list(sampler)].tolist())
    assert counts == {0: 90, 1: 90} and len(sampler) == 180
    minority = [i for i in sampler if i >= 90]
    assert Counter(minority) == {i: 9 for i in range(90, 100)}  # repeated evenly


def test_undersampling_ratio():
    y = torch.tensor([0] * 90 + [1] * 10)
    sampler = ImbalancedSampler(y, mode="under", ratio=2, seed=0)
    counts = Counter(y[list(sampler)].tolist())
    assert counts == {0: 20, 1: 10}


def test_resampled_dataloaders():
    x = torch.randn(100, 2)
    y = torch.tensor([0] * 90 + [1] * 10)
    dls = DataLoaders.from_dsets(TensorDataset(x, y), TensorDataset(x, y), bs=20, device="cpu")
    over = dls.resampled("over", seed=0)
    ys = torch.cat([b[1] for b in over.train])
    assert Counter(ys.tolist()) == {0: 90, 1: 90}
    assert len(over.valid.dataset) == 100


def test_class_weights_balance():
    w = class_weights(torch.tensor([0] * 90 + [1] * 10), 2)
    assert w[1] / w[0] == pytest.approx(9.0)


def test_repr_says_sizes_vocab_and_device():
    x, y = torch.randn(100, 3), torch.randint(0, 3, (100,))
    dls = DataLoaders.from_dsets(
        TensorDataset(x, y), TensorDataset(x[:20], y[:20]), bs=16, vocab=["a", "b", "c"]
    )
    assert repr(dls) == (
        "DataLoaders(train: 100 items in 7 batches of 16; valid: 20 items in "
        "2 batches of 16; vocab (3): ['a', 'b', 'c']; device: cpu)"
    )


def test_train_ds_and_valid_ds():
    x, y = torch.randn(10, 3), torch.randint(0, 2, (10,))
    train, valid = TensorDataset(x[:8], y[:8]), TensorDataset(x[8:], y[8:])
    dls = DataLoaders.from_dsets(train, valid, bs=4)
    assert dls.train_ds is train and dls.valid_ds is valid
    assert DataLoaders.from_dsets(train, bs=4).valid_ds is None
