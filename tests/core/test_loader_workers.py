"""Worker processes and the garbage they inherit from the parent.

A loader's worker is a fork of the training process: it inherits every object of the parent,
including unreachable ones not yet collected (a dropped learner's loaders sit in reference
cycles). A garbage collection inside the worker would run their finalisers there, and torch's
loader iterator, finalised in a process that did not start its workers, prints
"AssertionError: can only test a child process" tracebacks. Workers freeze what they inherit.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import gc, torch
    from torch.utils.data import Dataset
    from fastlearn.core.loader import DataLoader

    class Items(Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            gc.collect()  # as an allocation-heavy item (a decoded image) may set off
            return torch.tensor([float(i)]), torch.tensor(i)

    class Holder:
        pass

    gc.disable()  # keep the dropped loader uncollected in the parent until the fork
    dropped = Holder()
    dropped.cycle = dropped
    dropped.dl = DataLoader(Items(), bs=4, num_workers=2)
    assert len(list(dropped.dl)) == 2  # its persistent workers and iterator are alive
    del dropped  # garbage in a reference cycle, inherited by the next loader's workers
    batches = list(DataLoader(Items(), bs=4, num_workers=2))
    print("batches", len(batches), sorted(torch.cat([b[1] for b in batches]).tolist()))
    gc.enable()
    gc.collect()  # the parent finalises the dropped loader, as it should
    """
)


def test_workers_do_not_finalise_the_parents_garbage() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "batches 2 [0, 1, 2, 3, 4, 5, 6, 7]" in done.stdout
    assert "can only test a child process" not in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
