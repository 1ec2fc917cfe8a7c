"""Distributed data parallel: shards, metric merging, and real 2-process runs under torchrun
(gloo on CPU), checked against one process.

Tolerance of 2 processes against 1 (same data, seed, global batch size 32): losses within
rtol 1e-5 (the gradient is averaged over two half batches instead of one batch, float32
rounding); accuracy within 1e-6 (float32 per-batch means); F1 and ROC-AUC exactly equal (exact
counts and ranks over the merged shards).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from fastlearn import CSVLogger, DataLoaders, ProgressCallback, SaveModelCallback
from fastlearn.core.callbacks.distributed import runs_on_this_process
from fastlearn.core.distributed import ShardSampler, unwrap_model
from fastlearn.core.metrics import (
    RMSE,
    BalancedAccuracy,
    Dice,
    F1Score,
    MatthewsCorrCoef,
    PearsonCorrCoef,
    Perplexity,
    R2Score,
    RocAuc,
    SpearmanCorrCoef,
    accuracy,
    as_metric,
    mae,
)

from ..conftest import synth_classification
from .scripts import ddp_run

SCRIPTS = Path(__file__).parent / "scripts"
REPO = Path(__file__).parents[2]
TIMEOUT = 180  # seconds: a hang fails the test instead of blocking CI


# ---------------------------------------------------------------- shards (one process)
@pytest.mark.parametrize(
    "n, world, even", [(10, 2, True), (11, 2, True), (11, 3, False), (2, 4, True), (7, 4, False)]
)
def test_shards_cover_the_set(n, world, even):
    shards = [
        ShardSampler(n, rank=r, world_size=world, shuffle=True, even=even) for r in range(world)
    ]
    torch.manual_seed(0)
    state = torch.get_rng_state()
    got = []
    for s in shards:  # each "process" draws the same order from the same RNG state
        torch.set_rng_state(state)
        idx = s.indices().tolist()
        assert len(idx) == len(s)
        got += idx
    if even:
        assert len({len(s) for s in shards}) == 1 and set(got) == set(range(n))
        assert len(got) == -(-n // world) * world
    else:
        assert sorted(got) == list(range(n))


def test_interleaved_shards_make_the_global_batches():
    torch.manual_seed(0)
    state = torch.get_rng_state()
    full = torch.randperm(64)
    for r in range(2):
        torch.set_rng_state(state)
        shard = ShardSampler(64, rank=r, world_size=2, shuffle=True).indices()
        for i in range(4):  # batch i of rank r (bs 8) is inside batch i of one process (bs 16)
            assert set(shard[i * 8 : (i + 1) * 8].tolist()) <= set(
                full[i * 16 : (i + 1) * 16].tolist()
            )


def test_sharded_loaders_keep_their_kind():
    x, y = synth_classification(40)
    dls = DataLoaders.from_dsets(
        TensorDataset(x[:30], y[:30]), TensorDataset(x[30:], y[30:]), bs=4, device="cpu"
    )
    fast = dls.train.sharded(1, 2)
    assert len(fast) == 4 and type(fast._loader).__name__ == "TensorBatches"
    assert sum(len(b[0]) for b in fast) == 15
    plain = torch.utils.data.DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True)
    wrapped = DataLoaders(plain, device="cpu").train.sharded(0, 2, even=False)
    assert wrapped.bs == 4 and sum(len(b[0]) for b in wrapped) == 20
    with pytest.raises(TypeError, match="map-style"):
        stream = torch.utils.data.DataLoader(_Stream(), batch_size=2)
        DataLoaders(stream, device="cpu").train.sharded(0, 2)


class _Stream(torch.utils.data.IterableDataset):
    def __iter__(self):
        return iter(torch.arange(8).float().view(4, 2))

    def __len__(self):
        return 4


# ---------------------------------------------------------------- metric merging (one process)
_g = torch.Generator().manual_seed(0)
_logits, _classes = torch.randn(90, 3, generator=_g), torch.randint(0, 3, (90,), generator=_g)
_x = torch.randn(90, generator=_g)
_reg = (_x, _x + torch.randn(90, generator=_g))
_seg = (torch.randn(6, 3, 4, 4, generator=_g), torch.randint(0, 3, (6, 4, 4), generator=_g))
_lm = (torch.randn(6, 5, 4, generator=_g), torch.randint(0, 4, (6, 5), generator=_g))
METRICS = [
    (as_metric(accuracy), (_logits, _classes)),
    (F1Score(average="macro"), (_logits, _classes)),
    (BalancedAccuracy(), (_logits, _classes)),
    (MatthewsCorrCoef(), (_logits, _classes)),
    (RocAuc(), (_logits, _classes)),
    (RMSE(), _reg),
    (as_metric(mae), _reg),
    (R2Score(), _reg),
    (PearsonCorrCoef(), _reg),
    (SpearmanCorrCoef(), _reg),
    (Dice(average="macro"), _seg),
    (Perplexity(), _lm),
]


@pytest.mark.parametrize("metric, data", METRICS, ids=lambda m: getattr(m, "name", ""))
def test_merged_shards_equal_one_pass(metric, data):
    """What `Metric.sync` does with the processes' states, on three uneven shards (one empty)."""
    preds, targs = data
    metric.reset()
    metric.update(preds, targs)
    expected = metric.compute()
    parts = []
    for lo, hi in [(0, 1), (1, 1), (1, len(preds))]:
        part = copy.deepcopy(metric)
        part.reset()
        if hi > lo:
            part.update(preds[lo:hi], targs[lo:hi])
        parts.append(part)
    for part in parts[1:]:
        parts[0].merge(part)
    assert parts[0].compute() == pytest.approx(expected, rel=1e-6)  # float32 batch sums


def test_settings_are_not_state():
    metric = F1Score(average="macro")
    metric.update(_logits, _classes)
    assert set(metric.accumulated()) == {"counts", "n_classes"}


def test_output_callbacks_run_on_rank_0_only(monkeypatch):
    csv, progress, save = CSVLogger(), ProgressCallback(), SaveModelCallback()
    assert all(runs_on_this_process(cb) for cb in (csv, progress, save))
    monkeypatch.setenv("RANK", "1")
    assert not runs_on_this_process(csv) and not runs_on_this_process(progress)
    assert runs_on_this_process(save)  # it calls learn.save, which writes on rank 0 only


def test_the_distributed_callback_does_nothing_in_one_process(synth_learner):
    from fastlearn.core.callbacks.distributed import DistributedCallback

    plain = synth_learner(seed=4)
    plain.fit_one_cycle(2, 1e-2)
    with_cb = synth_learner(seed=4, cbs=[DistributedCallback(sync_bn=True)])
    with_cb.fit_one_cycle(2, 1e-2)
    assert with_cb.recorder.losses == plain.recorder.losses


def test_unwrap_model():
    model = torch.nn.Linear(2, 2)
    assert unwrap_model(model) is model
    assert unwrap_model(torch.nn.DataParallel(model)) is model


# ---------------------------------------------------------------- torchrun, 2 processes
def _torchrun(out: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "--monitor-interval",
            "0.5",
            str(SCRIPTS / "ddp_run.py"),
            str(out),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
        cwd=REPO,
    )
    return proc, time.perf_counter() - start


def _results(out: Path, rank: int) -> dict:
    return json.loads((out / f"rank{rank}.json").read_text())


def _drop_time(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "time"} for row in history]


def test_two_processes_equal_one_and_only_rank_0_writes(tmp_path):
    proc, _ = _torchrun(tmp_path / "ddp")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ranks = [_results(tmp_path / "ddp", r) for r in (0, 1)]

    one = ddp_run.make_learner(tmp_path / "one", show_progress=False)
    ddp_run.fit(one)
    expected = _drop_time(one.recorder.history)[-3:]  # the one-cycle fit (before: lr_find)

    # Every process reports the same rows, and they are the one-process rows.
    assert _drop_time(ranks[0]["history"])[-3:] == _drop_time(ranks[1]["history"])[-3:]
    assert ranks[0]["weights"] == ranks[1]["weights"]
    for got, want in zip(_drop_time(ranks[0]["history"])[-3:], expected):
        assert got["f1_score"] == want["f1_score"]
        assert got["roc_auc_score"] == want["roc_auc_score"]
        assert got["accuracy"] == pytest.approx(want["accuracy"], abs=1e-6)
        for key in ("train_loss", "valid_loss"):
            assert got[key] == pytest.approx(want[key], rel=1e-5)
    assert len(ranks[0]["history"]) == len(one.recorder.history)

    # Rank 0 wrote every output, rank 1 none; rank 0 printed the table once.
    out = tmp_path / "ddp"
    written = {Path(p).relative_to(out).as_posix() for p in ranks[0]["writes"]}
    assert written == {"history.csv", "models/best.pth", "models/final.pth", "loss.png", "model.fl"}
    assert [p for p in ranks[1]["writes"] if p != os.devnull] == []
    assert not list(out.rglob("*.tmp"))
    assert len((out / "history.csv").read_text().splitlines()) == 4
    assert proc.stdout.count("train_loss") == 1


def test_a_crash_in_one_process_ends_the_run_with_an_error(tmp_path):
    proc, seconds = _torchrun(tmp_path, "--crash-rank", "1")
    assert proc.returncode != 0
    assert "simulated crash on rank 1" in proc.stdout + proc.stderr
    assert seconds < TIMEOUT


def test_one_process_stopping_mid_epoch_stops_them_all(tmp_path):
    proc, _ = _torchrun(tmp_path, "--stop-rank", "1")  # rank 1 alone stops in epoch 1
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Another process stopped the fit" in proc.stdout
    ranks = [_results(tmp_path, r) for r in (0, 1)]
    assert ranks[0]["weights"] == ranks[1]["weights"]  # BatchNorm statistics included
    lengths = [len(r["history"]) for r in ranks]
    assert lengths[0] == lengths[1]  # lr_find's epochs, then epoch 0 of the fit
    assert _results(tmp_path, 0)["history"][-1]["epoch"] == 0


@pytest.mark.skipif(
    torch.cuda.device_count() < 2, reason="needs 2 CUDA GPUs (NCCL backend, SyncBatchNorm)"
)
def test_sync_batchnorm_on_two_gpus_equals_one_gpu(tmp_path):  # pragma: no cover - CPU CI
    proc, _ = _torchrun(tmp_path / "ddp", "--cuda")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    one = ddp_run.make_learner(tmp_path / "one", show_progress=False, cuda=True)
    ddp_run.fit(one)
    for got, want in zip(
        _drop_time(_results(tmp_path / "ddp", 0)["history"]), _drop_time(one.recorder.history)
    ):
        assert got["valid_loss"] == pytest.approx(want["valid_loss"], rel=1e-4)
