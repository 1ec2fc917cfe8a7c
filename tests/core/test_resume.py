"""Exact resume: a run killed with SIGKILL (in a subprocess) and resumed ends with the same
weights, bit for bit, as one never interrupted; the checkpoint on disk is always whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fastlearn import Callback, CancelFitException, EarlyStoppingCallback
from fastlearn.core.callbacks.resume import CheckpointCallback

from .scripts import resume_run

SCRIPT = Path(__file__).parent / "scripts" / "resume_run.py"
REPO = Path(__file__).parents[2]


def _run(out: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(out), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=REPO,
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> resume_run.Learner:
    """The uninterrupted run, in this process (same code, one thread, same seed)."""
    learn = resume_run.make_learner(tmp_path_factory.mktemp("reference"))
    resume_run.fit(learn)
    return learn


@pytest.fixture(scope="module")
def reference_file(tmp_path_factory) -> Path:
    """The uninterrupted run in a subprocess, as the killed and resumed ones run. Bitwise
    equality holds between processes set up alike; the pytest process has other libraries
    loaded, and on some CPUs its float kernels round differently (seen in CI)."""
    out = tmp_path_factory.mktemp("reference_process")
    done = _run(out)
    assert done.returncode == 0, done.stderr
    return out / "final.pt"


def _state(learn_or_file) -> dict:
    if isinstance(learn_or_file, Path):
        return torch.load(learn_or_file, weights_only=True)
    return {"model": learn_or_file.model.state_dict(), "history": learn_or_file.recorder.history}


def _assert_same_run(learn_or_file, reference) -> None:
    final, expected = _state(learn_or_file), _state(reference)
    assert final["model"].keys() == expected["model"].keys()
    for key, value in expected["model"].items():
        assert torch.equal(final["model"][key], value), key

    def drop(history):
        return [{k: v for k, v in row.items() if k != "time"} for row in history]

    assert drop(final["history"]) == drop(expected["history"])


def test_sigkill_in_epoch_3_of_5_then_resume_gives_identical_weights(tmp_path, reference_file):
    killed = _run(tmp_path, "--kill", "2", "5")  # after batch 5 of epoch index 2
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    ckpt = torch.load(tmp_path / "models" / "ckpt.pth", weights_only=True)
    assert (ckpt["epoch"], ckpt["batches_done"]) == (2, 5)  # the last save, mid-epoch
    resumed = _run(tmp_path, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming from" in resumed.stdout and "(epoch 2, batch 5)" in resumed.stdout
    _assert_same_run(tmp_path / "final.pt", reference_file)


def test_sigkill_inside_a_checkpoint_write_leaves_the_previous_one_whole(tmp_path, reference_file):
    killed = _run(tmp_path, "--kill-in-write", "2", "5")  # dies half-way through the next save
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    folder = tmp_path / "models"
    assert len(list(folder.glob(".ckpt.pth.*.tmp"))) == 1  # the half-written temporary file
    ckpt = torch.load(folder / "ckpt.pth", weights_only=True)  # the destination is whole
    assert (ckpt["epoch"], ckpt["batches_done"]) == (2, 5)
    resumed = _run(tmp_path, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert not list(folder.glob("*.tmp"))  # the debris is cleaned up
    _assert_same_run(tmp_path / "final.pt", reference_file)


# ---------------------------------------------------------------- in one process
class _StopAt(Callback):
    order = 200  # after the checkpoint

    def __init__(self, epoch: int, it: int | None) -> None:
        self.epoch, self.it = epoch, it

    def after_batch(self, learn):
        if learn.training and (learn.epoch, learn.iter) == (self.epoch, self.it):
            raise CancelFitException()

    def after_epoch(self, learn):
        if self.it is None and learn.epoch == self.epoch:
            raise CancelFitException()


@pytest.mark.parametrize("epoch, it", [(1, None), (3, 2), (0, 7)], ids=["end", "mid", "last"])
def test_resume_after_a_stop_anywhere(tmp_path, reference, epoch, it):
    learn = resume_run.make_learner(tmp_path)
    resume_run.fit(learn, extra_cbs=[_StopAt(epoch, it)])
    again = resume_run.make_learner(tmp_path)
    resume_run.fit(again, resume=True)
    _assert_same_run(again, reference)


def test_checkpoint_is_a_plain_dict(tmp_path):
    learn = resume_run.make_learner(tmp_path)
    learn.fit(1, cbs=[CheckpointCallback("plain"), EarlyStoppingCallback(patience=3)])
    state = torch.load(tmp_path / "models" / "plain.pth", weights_only=True)
    assert {"model", "opt", "ranks", "recorder", "callbacks", "train_iter", "epoch"} <= state.keys()
    assert state["callbacks"]["EarlyStoppingCallback"]["wait"] == 0
    assert state["batches_done"] is None and state["train_iter"] == 8


def test_resume_without_a_checkpoint_starts_from_scratch(tmp_path, capsys):
    learn = resume_run.make_learner(tmp_path)
    learn.fit(1, resume="missing")
    assert "No checkpoint at" in capsys.readouterr().out
    assert len(learn.recorder.history) == 1


def test_resume_into_another_fit_is_refused(tmp_path):
    learn = resume_run.make_learner(tmp_path)
    learn.fit(2, cbs=[CheckpointCallback("two")])
    with pytest.raises(ValueError, match="2 epochs.*Received a fit of 3 epochs"):
        resume_run.make_learner(tmp_path).fit(3, resume="two")


@pytest.mark.slow
def test_sigkill_then_resume_under_torchrun_gives_identical_weights(tmp_path):
    """2 processes (gloo), each batch 32 of 128 rows a process: killed in epoch 3, resumed."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    launch = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(SCRIPT),
    ]

    def run(out: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*launch, str(out), *args],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            cwd=REPO,
        )

    assert run(tmp_path / "ref").returncode == 0
    assert run(tmp_path / "run", "--kill", "2", "2").returncode != 0
    resumed = run(tmp_path / "run", "--resume")
    assert "(epoch 2, batch 1)" in resumed.stdout, resumed.stdout + resumed.stderr
    ref = torch.load(tmp_path / "ref" / "final.pt", weights_only=True)
    got = torch.load(tmp_path / "run" / "final.pt", weights_only=True)
    assert all(torch.equal(ref["model"][k], got["model"][k]) for k in ref["model"])
