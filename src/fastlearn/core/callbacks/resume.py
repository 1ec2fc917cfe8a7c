"""Exact resume: one checkpoint file holding everything a fit needs to continue, written
atomically; `fit(..., resume=path)` continues from it.

    cbs = [CheckpointCallback("run", every_batches=200)]
    learn.fit_one_cycle(5, 1e-2, cbs=cbs, resume="run")   # the same line starts and resumes

A resumed fit ends with the same weights, bit for bit on CPU, as one never interrupted: the
checkpoint keeps the model, the optimiser, the position in the schedule (epoch, batch,
`learn.train_iter`), every RNG state, the RNG state that ordered the current epoch (so its
shuffle replays), gradients accumulated so far, the recorder's history and every callback's
`state_dict`. The file is a plain dict read back with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..callback import Callback
from ..distributed import barrier, gather_objects, is_main_process, rank, unwrap_model, world_size
from ..io import atomic_save
from ..torch_utils import get_rng_states, set_rng_states
from .recorder import Recorder

if TYPE_CHECKING:
    from ..learner import Learner

__all__ = ["CheckpointCallback", "ResumeCallback", "CHECKPOINT_VERSION"]

CHECKPOINT_VERSION = 1


class CheckpointCallback(Callback):
    """Saves a resumable checkpoint to `learn.path/model_dir/{fname}.pth` at the end of every
    epoch and, with `every_batches`, every that many training batches. Each save replaces the
    previous one atomically (temporary file, fsync, rename): a crash, even a SIGKILL in the
    middle of a write, leaves the previous whole checkpoint. In a distributed run rank 0 writes
    the file (with every process's RNG states) and the others wait for it."""

    order = 100  # last: the epoch's row, the trackers' and the scheduler's state are final
    run_valid = False  # after_batch: training batches only

    def __init__(self, fname: str | Path = "checkpoint", every_batches: int | None = None) -> None:
        if every_batches is not None and every_batches < 1:
            raise ValueError(f"Expected every_batches >= 1 or None. Received: {every_batches}.")
        self.fname, self.every_batches = fname, every_batches

    def before_fit(self, learn: Learner) -> None:
        self.path = learn._model_path(self.fname)
        if is_main_process():  # what a write killed half-way left behind (see io.atomic_write)
            for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
                stale.unlink(missing_ok=True)

    def after_batch(self, learn: Learner) -> None:
        every = self.every_batches
        if every and (learn.train_iter + 1) % every == 0 and learn.iter + 1 < learn.n_iter:
            self.save(learn, batches_done=learn.iter + 1, train_iter=learn.train_iter + 1)

    def after_epoch(self, learn: Learner) -> None:
        self.save(learn, batches_done=None, train_iter=learn.train_iter)

    def save(self, learn: Learner, *, batches_done: int | None, train_iter: int) -> None:
        """Write the checkpoint (every process must call this: it gathers their RNG states)."""
        state = checkpoint_state(learn, batches_done=batches_done, train_iter=train_iter)
        if is_main_process():
            atomic_save(state, self.path)
        barrier()


def checkpoint_state(learn: Learner, *, batches_done: int | None, train_iter: int) -> dict:
    """Everything a fit needs to continue after `batches_done` batches of epoch `learn.epoch`
    (None: after the whole epoch), as a plain dict of tensors and Python values."""
    model = unwrap_model(learn.model)
    grads = [p.grad for p in model.parameters()]
    rng = {
        "rng": _plain_rng(get_rng_states()),
        "epoch_rng": learn.dls.train.epoch_rng_state if batches_done else None,
    }
    return {
        "version": CHECKPOINT_VERSION,
        "model": model.state_dict(),
        "opt": learn.opt.state_dict(),
        "grads": grads if any(g is not None for g in grads) else None,  # accumulation under way
        "n_epoch": learn.n_epoch,
        "total_iters": learn.total_iters,
        "epoch": learn.epoch,
        "batches_done": batches_done,
        "train_iter": train_iter,
        "ranks": gather_objects(rng),  # one entry per process
        "recorder": learn.recorder.state_dict(),
        "callbacks": {key: cb.state_dict() for key, cb in _keyed(learn.cbs)},
    }


def _keyed(cbs: list[Callback]) -> list[tuple[str, Callback]]:
    """Callbacks whose state a checkpoint keeps, keyed by class name (and rank among equals)."""
    seen: Counter[str] = Counter()
    out = []
    for cb in cbs:
        if isinstance(cb, (Recorder, CheckpointCallback, ResumeCallback)):
            continue
        name = type(cb).__name__
        out.append((f"{name}_{seen[name]}" if seen[name] else name, cb))
        seen[name] += 1
    return out


def _plain_rng(states: dict[str, Any]) -> dict[str, Any]:
    """RNG states with NumPy's array as a list (so `weights_only` loading accepts them)."""
    name, keys, pos, has_gauss, cached = states["numpy"]
    return {**states, "numpy": (name, keys.tolist(), pos, has_gauss, cached)}


def _numpy_rng(states: dict[str, Any]) -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = states["numpy"]
    return {**states, "numpy": (name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached)}


class ResumeCallback(Callback):
    """Restores a `CheckpointCallback` file when a fit starts (`fit(..., resume=path)` adds it).
    Without the file it says so and the fit starts from the beginning, so one command both
    starts a run and resumes it after a crash."""

    order = 110  # after every other before_fit, which reset what this restores

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def before_fit(self, learn: Learner) -> None:
        self.path = learn._model_path(self.path)
        if not self.path.exists():
            print(f"No checkpoint at {self.path}: training from the start.")
            return
        state = torch.load(self.path, map_location="cpu", weights_only=True)
        _check_compatible(state, learn, self.path)
        model = unwrap_model(learn.model)
        model.load_state_dict(state["model"])
        learn.opt.load_state_dict(state["opt"])
        if state["grads"] is not None:
            for p, g in zip(model.parameters(), state["grads"]):
                p.grad = None if g is None else g.to(p.device)
        learn.recorder.load_state_dict(state["recorder"])
        for key, cb in _keyed(learn.cbs):
            if key in state["callbacks"]:
                cb.load_state_dict(state["callbacks"][key])
        self._restore_position(learn, state)

    def _restore_position(self, learn: Learner, state: dict[str, Any]) -> None:
        done = state["batches_done"]
        learn.train_iter = state["train_iter"]
        learn.start_epoch = state["epoch"] + (1 if done is None else 0)
        ranks = state["ranks"]
        own = ranks[rank()] if len(ranks) == world_size() else ranks[0]
        if done is not None:
            learn.dls.train.resume_epoch(own["epoch_rng"], done)
        set_rng_states(_numpy_rng(own["rng"]))  # last: nothing after this draws
        epoch = state["epoch"]
        where = f"epoch {epoch}, batch {done}" if done else f"end of epoch {epoch}"
        print(f"Resuming from {self.path} ({where}).")

    def after_fit(self, learn: Learner) -> None:
        learn.start_epoch = 0


def _check_compatible(state: dict[str, Any], learn: Learner, path: Path) -> None:
    if state.get("version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"{path} is not a CheckpointCallback checkpoint of version "
            f"{CHECKPOINT_VERSION}. Received: version {state.get('version')}. Fix: "
            "resume from a file CheckpointCallback wrote (learn.load reads save())."
        )
    if (state["n_epoch"], state["total_iters"]) != (learn.n_epoch, learn.total_iters):
        raise ValueError(
            f"{path} was written by a fit of {state['n_epoch']} epochs and "
            f"{state['total_iters']} batches. Received a fit of {learn.n_epoch} "
            f"epochs and {learn.total_iters} batches. Fix: resume with the same "
            "number of epochs, data, batch size and number of processes."
        )
