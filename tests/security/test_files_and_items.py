"""Items that fail in loader workers, numpy inputs, file modes and parents that are files."""

from __future__ import annotations

import os
import stat
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from fastlearn import DataLoader, DataLoaders, ItemDataset
from fastlearn.core.io import atomic_write, save_figure


def _fails_on_odd(i: int) -> torch.Tensor:
    if i % 2:
        raise OSError(f"item {i} is corrupt")
    return torch.tensor([float(i)])


def test_bad_items_are_reported_from_worker_processes():
    ds = ItemDataset(list(range(8)), torch.zeros(8), [_fails_on_odd])
    dl = DataLoader(ds, 4, num_workers=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xs = torch.cat([xb for xb, _ in dl]).flatten().tolist()
    assert all(x % 2 == 0 for x in xs)  # each bad item replaced by the next good one
    assert sorted(ds.bad_items) == [1, 3, 5, 7]


def test_numpy_and_float64_inputs_to_test_dl():
    x, y = torch.randn(20, 3), torch.randint(0, 2, (20,))
    dls = DataLoaders.from_dsets(TensorDataset(x, y), TensorDataset(x, y), bs=4)
    batch = dls.test_dl(np.random.randn(6, 3)).one_batch()[0]
    assert batch.dtype == torch.float32 and batch.shape == (4, 3)
    batch = dls.test_dl(torch.randn(5, 3, dtype=torch.float64)).one_batch()[0]
    assert batch.dtype == torch.float32


def test_written_files_get_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "model.fl") as f:
            f.write(b"x")
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig = plt.figure()
        save_figure(fig, tmp_path / "plot.png")
        plt.close(fig)
    finally:
        os.umask(old)
    for name in ("model.fl", "plot.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name


def test_a_parent_that_is_a_file_is_named(tmp_path):
    (tmp_path / "models").write_text("not a folder")
    with pytest.raises(NotADirectoryError, match=r"models' is a file, not a folder"):
        with atomic_write(tmp_path / "models" / "sub" / "export.fl") as f:
            f.write(b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["models"]
