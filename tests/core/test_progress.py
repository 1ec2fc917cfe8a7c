"""Progress bars in a terminal and a notebook; plots written as PNG files."""

from __future__ import annotations

import io
import sys
import types

import pytest

from fastlearn import ProgressCallback, accuracy
from fastlearn.core.callbacks import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_bar_redraws_in_place(synth_learner, monkeypatch):
    monkeypatch.setattr(ProgressCallback, "refresh", 0.0)  # draw at every batch
    out = Terminal()
    learn = synth_learner(metrics=accuracy, cbs=[ProgressCallback(file=out)])
    learn.fit(1, lr=1e-2)
    text = out.getvalue()
    assert "\r" in text and "epoch 0 [1/1] train" in text and "8/8" in text and "loss" in text
    assert "epoch 0 [1/1] valid" in text
    last_line = text.rstrip("\n").split("\n")[-1].split("\r")[-1].replace("\x1b[K", "")
    assert last_line.split()[0] == "0"  # the table row follows the cleared bar


def test_non_terminal_output_has_only_the_table(synth_learner):
    out = io.StringIO()
    synth_learner(cbs=[ProgressCallback(file=out)]).fit(2, lr=1e-2)
    assert "\r" not in out.getvalue() and len(out.getvalue().splitlines()) == 3


def test_notebook_updates_one_html_block(synth_learner, monkeypatch):
    shown = []

    class Handle:
        def update(self, content):
            shown.append(("update", content.data))

    def display(content, display_id=False):
        shown.append(("display", content.data))
        return Handle()

    fake = types.ModuleType("IPython.display")
    fake.HTML = lambda data: types.SimpleNamespace(data=data)
    fake.display = display
    monkeypatch.setitem(sys.modules, "IPython.display", fake)
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    monkeypatch.setattr(ProgressCallback, "refresh", 0.0)
    learn = synth_learner(metrics=accuracy, cbs=[ProgressCallback()])
    learn.fit(2, lr=1e-2)
    assert [kind for kind, _ in shown].count("display") == 1
    final = shown[-1][1]
    assert "<table>" in final and "<th>accuracy</th>" in final and final.count("<tr>") == 3
    assert any("<progress" in html for _, html in shown)


@pytest.mark.parametrize("plot", ["loss", "sched"])
def test_plots_are_written(synth_learner, tmp_path, plot):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    learn = synth_learner()
    learn.fit_one_cycle(2, 1e-2)
    path = tmp_path / f"{plot}.png"
    getattr(learn.recorder, f"plot_{plot}")(path=path)
    assert path.stat().st_size > 5000


def test_lr_find_plot_is_written(synth_learner, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    path = tmp_path / "new" / "folder" / "lr.png"  # folders that do not exist yet
    synth_learner().lr_find(num_it=30, plot_path=path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    assert sorted(p.name for p in path.parent.iterdir()) == ["lr.png"]  # no temporary left


def test_save_figure_format_from_suffix_and_nothing_half_written(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from fastlearn.core.io import save_figure

    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    assert save_figure(fig, tmp_path / "a" / "plot.svg") is fig
    assert (tmp_path / "a" / "plot.svg").read_text().lstrip().startswith("<?xml")
    assert save_figure(fig, None) is fig  # nothing written
    (tmp_path / "b.png").write_bytes(b"old")
    fig.savefig = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("disk full"))
    with pytest.raises(RuntimeError, match="disk full"):
        save_figure(fig, tmp_path / "b.png")
    assert (tmp_path / "b.png").read_bytes() == b"old"  # the previous file stays whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b.png"]
