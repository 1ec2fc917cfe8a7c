"""A 5-epoch fit with a checkpoint every 3 batches, for the exact-resume tests.

    python resume_run.py DIR                    # train from scratch (or resume: --resume)
    python resume_run.py DIR --kill 2 5         # SIGKILL itself after batch 5 of epoch 2
    python resume_run.py DIR --kill-in-write 2 5  # SIGKILL inside the next checkpoint write

Writes DIR/final.pt (the model's state_dict and the results history) when the fit ends. It
also runs under torchrun (each process then takes batches of 32 from its half of the rows).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

from fastlearn import (
    Callback,
    DataLoaders,
    GradientAccumulationCallback,
    Learner,
    accuracy,
    set_seed,
)
from fastlearn.core.callbacks.resume import CheckpointCallback
from fastlearn.core.distributed import is_main_process

N_EPOCH, EVERY = 5, 3


def make_learner(path: str | Path) -> Learner:
    """Dropout (RNG), BatchNorm (buffers), shuffling and Adam: all must resume exactly."""
    set_seed(0)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(320, 6, generator=g)
    y = (x[:, 0] - x[:, 1] > 0).long()
    dls = DataLoaders.from_dsets(
        TensorDataset(x[:256], y[:256]), TensorDataset(x[256:], y[256:]), bs=32, device="cpu"
    )
    model = nn.Sequential(
        nn.Linear(6, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 2)
    )
    return Learner(dls, model, metrics=accuracy, path=path, show_progress=False)


def fit(learn: Learner, *, extra_cbs: list[Callback] = (), resume: bool = False) -> None:
    # Accumulating 2 batches puts some checkpoints in the middle of an accumulation.
    cbs = [
        GradientAccumulationCallback(2),
        CheckpointCallback("ckpt", every_batches=EVERY),
        *extra_cbs,
    ]
    learn.fit_one_cycle(N_EPOCH, 1e-2, cbs=cbs, resume="ckpt" if resume else None)


class KillCallback(Callback):
    """SIGKILL this process after batch `it` of epoch `epoch` (or arm a kill inside the next
    checkpoint write)."""

    order = 200

    def __init__(self, epoch: int, it: int, in_write: bool) -> None:
        self.epoch, self.it, self.in_write = epoch, it, in_write

    def after_batch(self, learn: Learner) -> None:
        if learn.training and (learn.epoch, learn.iter) == (self.epoch, self.it):
            if not self.in_write:
                os.kill(os.getpid(), signal.SIGKILL)
            real_save = torch.save

            def half_save(obj, f, *args, **kwargs):  # write half the bytes, then die
                real_save(obj, f, *args, **kwargs)
                f.flush()
                f.truncate(f.tell() // 2)
                f.flush()
                os.fsync(f.fileno())
                os.kill(os.getpid(), signal.SIGKILL)

            torch.save = half_save


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--kill", nargs=2, type=int)
    parser.add_argument("--kill-in-write", nargs=2, type=int)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    learn = make_learner(args.dir)
    kill = args.kill or args.kill_in_write
    extra = [KillCallback(*kill, in_write=args.kill_in_write is not None)] if kill else []
    fit(learn, extra_cbs=extra, resume=args.resume)
    if is_main_process():
        torch.save(
            {"model": learn.model.state_dict(), "history": learn.recorder.history},
            Path(args.dir) / "final.pt",
        )


if __name__ == "__main__":
    sys.exit(main())
