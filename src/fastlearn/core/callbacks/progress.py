"""Progress bars (epochs and batches) and the results table, in a terminal or a notebook.

In a terminal the batch bar redraws one line in place at most ten times a second, cut to the
terminal's width at each redraw (so a narrow or resized terminal never fills with stale bar
lines); when output is not a terminal (a log file, CI) only the table rows are printed. In
Jupyter the bar and the table are one HTML block updated in place, and nothing else. The
bar names the epoch as the table does (from 0), then its count: `epoch 0 [1/5]`.
"""

from __future__ import annotations

import html
import math
import shutil
import sys
import time
from typing import TYPE_CHECKING, Any

from ..callback import Callback

if TYPE_CHECKING:
    from ..learner import Learner

__all__ = ["ProgressCallback", "format_time", "in_notebook", "terminal_columns"]

_CLEAR_LINE = "\x1b[K"  # ANSI: erase from the cursor to the end of the line


def format_time(seconds: float) -> str:
    """mm:ss (or h:mm:ss)."""
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def in_notebook() -> bool:
    """Whether we run inside a Jupyter kernel (Jupyter, VS Code, Colab: any IPython kernel that
    displays HTML), not a terminal IPython."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ipython = shell.get_ipython()
    return ipython is not None and getattr(ipython, "kernel", None) is not None


def terminal_columns() -> int:
    """The terminal's width now ($COLUMNS, else the terminal's size, else 80)."""
    return max(shutil.get_terminal_size((80, 24)).columns, 20)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6f}" if math.isfinite(value) else str(value)
    return str(value)


class ProgressCallback(Callback):
    """Draws the epoch and batch progress and prints one table row per epoch."""

    order = 80
    main_process_only = True  # the terminal is rank 0's
    refresh = 0.1  # seconds between redraws of the bar

    def __init__(self, file: Any = None) -> None:
        self.file = file
        self._handle = None
        self.live = False  # until before_fit: get_preds/predict before any fit draw no bar

    @property
    def out(self) -> Any:
        """Where the table is written (stdout by default)."""
        return self.file or sys.stdout

    def before_fit(self, learn: Learner) -> None:
        self.notebook = in_notebook() and self.file is None
        self.live = self.notebook or bool(getattr(self.out, "isatty", lambda: False)())
        self.names = learn.recorder.metric_names
        self.rows: list[list[str]] = []
        self._last = 0.0
        self._fit_start = time.perf_counter()
        # each column as wide as its name, and at least a 6-decimal number (or mm:ss)
        self.widths = [max(len(n), 5 if n in ("epoch", "time") else 9) for n in self.names]
        if not self.notebook:
            self._print_line(self._row(self.names))

    def before_epoch(self, learn: Learner) -> None:
        self._epoch_start = time.perf_counter()

    def after_batch(self, learn: Learner) -> None:
        if not self.live:
            return
        now = time.perf_counter()
        if now - self._last < self.refresh and learn.iter + 1 < learn.n_iter:
            return
        self._last = now
        self._draw(learn, now)

    def _draw(self, learn: Learner, now: float) -> None:
        done, total = learn.iter + 1, max(learn.n_iter, 1)
        elapsed = now - self._epoch_start
        eta = elapsed / done * (total - done)
        phase = "train" if learn.training else "valid"
        loss = learn.recorder.smooth_loss if learn.training else math.nan
        # the epoch as the table numbers it (from 0), then how many of how many
        head = f"epoch {learn.epoch} [{learn.epoch + 1}/{learn.n_epoch}] {phase} "
        tail = f" {done}/{total} [{format_time(elapsed)}<{format_time(eta)}]" + (
            f" loss {loss:.4f}" if learn.training else ""
        )
        if self.notebook:
            self._show_html(head + tail, done / total)
            return
        columns = terminal_columns() - 1  # never the last column: no wrap, whatever the size
        width = max(5, min(30, columns - len(head) - len(tail) - 2))
        filled = int(width * done / total)
        text = f"{head}|{'█' * filled}{'·' * (width - filled)}|{tail}"
        # back to the line's start, the text cut to the width, the rest of the line cleared
        self.out.write("\r" + text[:columns] + _CLEAR_LINE)
        self.out.flush()

    def after_epoch(self, learn: Learner) -> None:
        log = learn.recorder.log
        row = [str(log[0])] + [_fmt(v) for v in log[1:-1]] + [format_time(log[-1])]
        self.rows.append(row)
        if self.notebook:
            self._show_html("", 1.0)
        else:
            if self.live:
                self.out.write("\r" + _CLEAR_LINE)
            self._print_line(self._row(row))

    def _row(self, cells: list[str]) -> str:
        return "  ".join(f"{v:>{w}}" for v, w in zip(cells, self.widths))

    def _print_line(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def _show_html(self, bar_text: str, frac: float) -> None:
        from IPython.display import HTML, display

        head = "".join(f"<th>{html.escape(n)}</th>" for n in self.names)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>" for r in self.rows
        )
        bar = (
            f"<progress value='{frac:.3f}' max='1' style='width:300px'></progress> "
            f"{html.escape(bar_text)}"
            if bar_text
            else ""
        )
        content = HTML(f"<div>{bar}</div><table><tr>{head}</tr>{body}</table>")
        if self._handle is None:
            self._handle = display(content, display_id=True)
        else:
            self._handle.update(content)

    def after_fit(self, learn: Learner) -> None:
        self._handle = None
