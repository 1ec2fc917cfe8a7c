"""Appends each epoch's results to a CSV file as the epoch ends."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

from ..callback import Callback

if TYPE_CHECKING:
    from ..learner import Learner

__all__ = ["CSVLogger"]


class CSVLogger(Callback):
    """Writes the results table to `fname` (relative to learn.path), one row per epoch."""

    order = 60
    main_process_only = True  # one file, written by rank 0

    def __init__(self, fname: str | Path = "history.csv", append: bool = False) -> None:
        self.fname, self.append = Path(fname), append

    def before_fit(self, learn: Learner) -> None:
        self.path = self.fname if self.fname.is_absolute() else learn.path / self.fname
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not (self.append and self.path.exists())
        self.file = open(self.path, "a" if not new else "w", newline="")
        self.writer = csv.writer(self.file)
        if new:
            self.writer.writerow(learn.recorder.metric_names)
            self.file.flush()

    def after_epoch(self, learn: Learner) -> None:
        self.writer.writerow(learn.recorder.log)
        self.file.flush()

    def after_fit(self, learn: Learner) -> None:
        self.file.close()
