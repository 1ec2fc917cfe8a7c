"""One training script for 1 or N processes, for the distributed tests: run it plainly, or as

    python -m torch.distributed.run --standalone --nproc_per_node 2 ddp_run.py OUT

The global batch size is fixed (32), so each of N processes uses 32 / N. Every process writes
OUT/rank{R}.json: its results history, a checksum of its weights and the files it opened for
writing (to check that only rank 0 writes). `--crash-rank R` makes rank R raise in epoch 1;
`--stop-rank R` makes rank R alone stop the fit in epoch 1 (with stopping agreed before every
backward pass), on a model with BatchNorm. `--cuda` trains on the GPUs with
a BatchNorm layer made SyncBatchNorm (its statistics over the global batch, as in one process).
"""

from __future__ import annotations

import argparse
import builtins
import json
import os
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

from fastlearn import (
    Callback,
    CancelFitException,
    CSVLogger,
    DataLoaders,
    F1Score,
    Learner,
    RocAuc,
    SaveModelCallback,
    accuracy,
    set_seed,
)
from fastlearn.core.callbacks.distributed import DistributedCallback
from fastlearn.core.distributed import rank, world_size
from fastlearn.core.export import register_builder

GLOBAL_BS, N_TRAIN, N_VALID = 32, 256, 67  # 67: unequal validation shards (34 + 33)


@register_builder("ddp_run_mlp")
def mlp(batch_norm: bool = False) -> nn.Module:
    norm = [nn.BatchNorm1d(32)] if batch_norm else []
    return nn.Sequential(nn.Linear(8, 32), *norm, nn.ReLU(), nn.Linear(32, 3))


def make_learner(
    path: str | Path,
    *,
    show_progress: bool = True,
    cuda: bool = False,
    batch_norm: bool = False,
    sync_stop_every_batch: bool = False,
) -> Learner:
    """Three classes. BatchNorm (`batch_norm`, or `cuda` where it is synchronised) makes the
    processes' statistics differ from one process's."""
    set_seed(0)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N_TRAIN + N_VALID, 8, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    dls = DataLoaders.from_dsets(
        TensorDataset(x[:N_TRAIN], y[:N_TRAIN]),
        TensorDataset(x[N_TRAIN:], y[N_TRAIN:]),
        bs=GLOBAL_BS // world_size(),
        val_bs=16,
        device="cuda" if cuda else "cpu",
    )
    model = mlp(batch_norm=batch_norm or cuda)
    cbs = (
        [DistributedCallback(sync_bn=cuda, sync_stop_every_batch=sync_stop_every_batch)]
        if world_size() > 1
        else []
    )
    return Learner(
        dls,
        model,
        metrics=[accuracy, F1Score(average="macro"), RocAuc()],
        path=path,
        show_progress=show_progress,
        cbs=cbs,
    )


def fit(learn: Learner, extra_cbs: list[Callback] = ()) -> None:
    """lr_find (its suggestion unused), then 3 epochs of one-cycle."""
    learn.lr_find(num_it=20, show_plot=False)
    learn.fit_one_cycle(
        3, 1e-2, cbs=[CSVLogger("history.csv"), SaveModelCallback(fname="best"), *extra_cbs]
    )


class CrashCallback(Callback):
    def after_batch(self, learn: Learner) -> None:
        if learn.training and (learn.epoch, learn.iter) == (1, 2):
            raise RuntimeError(f"simulated crash on rank {rank()}")


class StopCallback(Callback):
    def after_loss(self, learn: Learner) -> None:
        if learn.training and (learn.epoch, learn.iter) == (1, 2):
            raise CancelFitException()


def track_writes() -> list[str]:
    """Record every file this process opens for writing or renames into place."""
    writes: list[str] = []
    real_open, real_replace = builtins.open, os.replace

    def tracking_open(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, Path)) and any(c in mode for c in "wax+"):
            writes.append(str(file))
        return real_open(file, mode, *args, **kwargs)

    def tracking_replace(src, dst, *args, **kwargs):
        writes.append(str(dst))
        return real_replace(src, dst, *args, **kwargs)

    builtins.open, os.replace = tracking_open, tracking_replace
    return writes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--crash-rank", type=int)
    parser.add_argument("--stop-rank", type=int)
    parser.add_argument("--cuda", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    writes = track_writes()
    stop = args.stop_rank is not None
    learn = make_learner(args.out, cuda=args.cuda, batch_norm=stop, sync_stop_every_batch=stop)
    extra = [CrashCallback()] if args.crash_rank == rank() else []
    extra += [StopCallback()] if args.stop_rank == rank() else []
    fit(learn, extra)
    learn.save("final")
    learn.export(
        "model.fl", builder="ddp_run_mlp", builder_kwargs={"batch_norm": args.cuda or stop}
    )
    learn.recorder.plot_loss(path=Path(args.out) / "loss.png")
    weights = sum(float(p.double().sum()) for p in learn.model.state_dict().values())
    result = {"history": learn.recorder.history, "weights": weights, "writes": list(writes)}
    Path(args.out, f"rank{rank()}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
