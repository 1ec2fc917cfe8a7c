"""The progress bar as a person sees it: in a real pseudo-terminal of 60, 80 and 200 columns
(rendered by a terminal emulator, pyte), and in a real Jupyter kernel (nbclient)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import textwrap
import time

import pytest

pyte = pytest.importorskip("pyte", reason="the terminal test renders with pyte (fastlearn[dev])")

FIT = textwrap.dedent("""
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset
    from fastlearn import DataLoaders, Learner, ProgressCallback, accuracy, set_seed
    set_seed(0)
    ProgressCallback.refresh = 0.0  # redraw at every batch: the worst case for stale lines
    x = torch.randn(2048, 4); y = (x[:, 0] > 0).long()
    dls = DataLoaders.from_dsets(TensorDataset(x[:1600], y[:1600]),
                                 TensorDataset(x[1600:], y[1600:]), bs=8)
    learn = Learner(dls, nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)),
                    metrics=accuracy)
    learn.fit_one_cycle(2, 1e-2)
    print("DONE")
""")


def run_in_pty(code: str, columns: int, rows: int = 24, resize_to: int | None = None) -> bytes:
    """Run python `code` with its stdout on a pseudo-terminal of that size; all it wrote."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    out, deadline, resized = b"", time.monotonic() + 120, False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
            if resize_to and not resized and b"train" in out:
                fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, resize_to, 0, 0))
                resized = True
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(master)
    return out


def screen_lines(output: bytes, columns: int) -> list[str]:
    """The non-empty lines a terminal of `columns` shows after `output` (tall: no scrolling)."""
    screen = pyte.Screen(columns, 400)
    stream = pyte.ByteStream(screen)
    stream.feed(output.replace(b"\n", b"\r\n") if b"\r\n" not in output else output)
    return [line.rstrip() for line in screen.display if line.strip()]


@pytest.mark.parametrize("columns", [60, 80, 200])
def test_a_fit_leaves_only_the_table_on_screen(columns):
    lines = screen_lines(run_in_pty(FIT, columns), columns)
    assert lines[0].split() == ["epoch", "train_loss", "valid_loss", "accuracy", "time"]
    assert [line.split()[0] for line in lines[1:3]] == ["0", "1"]
    assert lines[3:] == ["DONE"], lines  # no stale bar line left behind
    assert not any("█" in line or "·" in line for line in lines)


def test_the_bar_fits_the_width_and_follows_a_resize():
    out = run_in_pty(FIT, 200, resize_to=60)
    draws = [d for d in out.decode("utf-8", "replace").split("\r") if "train |" in d]
    widths = [len(d.split("\x1b[K")[0]) for d in draws]
    assert max(widths) <= 199 and min(widths) <= 59  # cut to the width, then to the new one
    lines = screen_lines(out, 60)
    assert lines[-1] == "DONE" and not any("█" in line for line in lines)


def test_a_real_notebook_shows_one_html_table_and_no_text_bar():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(FIT.replace('print("DONE")', "")))
    nbclient.NotebookClient(nb, timeout=180, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    html = [o for o in outputs if o.output_type in ("display_data", "update_display_data")]
    streams = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert len(html) == 1  # one block, updated in place
    final = html[0]["data"]["text/html"]
    assert final.count("<tr>") == 3 and "<th>accuracy</th>" in final
    assert "█" not in streams and "epoch" not in streams  # no text bar or table as well
