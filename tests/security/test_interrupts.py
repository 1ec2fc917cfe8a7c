"""Ctrl-C during `fit`: a script stops (the lines after fit, an export of a half-trained model,
never run); an interactive session keeps a usable learner. A real SIGINT, sent by this test
to a child process paused inside an epoch."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = r"""
import sys, time
import torch
from torch import nn
from torch.utils.data import TensorDataset
from fastlearn import Callback, DataLoaders, Learner

torch.manual_seed(0)
x = torch.randn(64, 4)
dls = DataLoaders.from_dsets(TensorDataset(x, (x[:, 0] > 0).long()),
                             TensorDataset(x, (x[:, 0] > 0).long()), bs=8)


class Pause(Callback):
    def after_batch(self, learn):
        if learn.epoch == 1 and learn.iter == 2 and learn.training:
            print("PAUSED", flush=True)
            time.sleep(60)  # the SIGINT arrives here


learn = Learner(dls, nn.Linear(4, 2), show_progress=False)
if sys.argv[2] != "default":
    learn.reraise_interrupt = sys.argv[2] == "True"
learn.fit(3, 1e-2, cbs=[Pause()])
print("AFTER FIT", learn.interrupted, len(learn.recorder.history), learn.in_fit, flush=True)
open(sys.argv[1], "w").write("a half-trained model")
"""


def interrupt(tmp_path: Path, setting: str, *flags: str) -> tuple[int, str, str, Path]:
    """Run the script, send SIGINT once it pauses in epoch 1; (returncode, out, err, file)."""
    script, out_file = tmp_path / "train.py", tmp_path / "exported.txt"
    script.write_text(SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, *flags, str(script), str(out_file), setting],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "PAUSED"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return proc.returncode, "PAUSED\n" + out, err, out_file


def test_a_script_stops_at_ctrl_c_after_the_learner_is_left_clean(tmp_path):
    code, out, err, exported = interrupt(tmp_path, "default")
    assert code in (-signal.SIGINT, 130), (code, err)  # killed by SIGINT, as Python does
    assert "Interrupted at epoch 1, batch 2" in out and "the script stops here" in out
    assert "AFTER FIT" not in out and not exported.exists()
    assert "KeyboardInterrupt" in err


@pytest.mark.parametrize(
    "setting, flags",
    [("False", ()), ("default", ("-i",))],
    ids=["reraise_interrupt=False", "python -i"],
)
def test_an_interactive_session_keeps_the_learner(tmp_path, setting, flags):
    code, out, err, exported = interrupt(tmp_path, setting, *flags)
    assert code == 0, err
    assert "AFTER FIT True 1 False" in out  # interrupted, epoch 0 recorded, out of the fit
    assert exported.exists()
