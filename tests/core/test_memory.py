"""Memory: epochs do not grow the process's memory, and get_preds can reduce on the fly or
stream to disk instead of holding every prediction."""

from __future__ import annotations

import gc
import tracemalloc

import torch
from torch.utils.data import TensorDataset

from fastlearn import Callback, DataLoaders, accuracy

from ..conftest import synth_classification


class _Census(Callback):
    """Live tensors after epoch 1 (warmed up) and at the end, and the Python memory allocated
    in between and still held."""

    order = 200

    def after_epoch(self, learn):
        if learn.epoch == 1:
            self.tensors = [_live_tensors()]
            tracemalloc.start()

    def after_fit(self, learn):
        self.held = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        self.tensors.append(_live_tensors())


def _live_tensors() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if issubclass(type(o), torch.Tensor))


def test_epochs_do_not_grow_memory(synth_learner):
    census = _Census()
    learn = synth_learner(metrics=accuracy)
    learn.fit(6, lr=1e-2, cbs=[census])
    assert census.tensors[0] == census.tensors[1]  # no tensor kept per epoch or batch
    # The recorder keeps three floats per batch (loss, lr, mom) and one row per epoch: a few
    # kB over 4 epochs of 8 batches; a kept graph or batch would be far more.
    assert census.held < 32_000, census.held
    assert all(isinstance(v, float) for v in learn.recorder.losses)
    assert not learn.recorder.smoother.pending


def _big_learner(synth_learner, n: int = 2048):
    x, y = synth_classification(n)
    dls = DataLoaders.from_dsets(TensorDataset(x, y), TensorDataset(x, y), bs=256, device="cpu")
    return synth_learner(dls=dls)


def test_get_preds_reduce_keeps_only_what_the_function_returns(synth_learner):
    learn = _big_learner(synth_learner)
    probs, targs = learn.get_preds()
    correct = learn.get_preds(reduce=lambda p, t: p.argmax(1) == t)
    assert correct.shape == (2048,) and correct.dtype == torch.bool
    assert torch.equal(correct, probs.argmax(1) == targs)
    totals = learn.get_preds(reduce=lambda p, t: p.sum(0, keepdim=True))  # one row per batch
    torch.testing.assert_close(totals.sum(0), probs.sum(0))


def test_get_preds_streams_batches_to_disk(synth_learner, tmp_path):
    learn = _big_learner(synth_learner)
    probs, targs = learn.get_preds()
    files = learn.get_preds(save_to=tmp_path / "preds")
    assert len(files) == 8 and all(f.exists() for f in files)
    parts = [torch.load(f, weights_only=True) for f in files]
    torch.testing.assert_close(torch.cat([p["preds"] for p in parts]), probs)
    assert torch.equal(torch.cat([p["targs"] for p in parts]), targs)
