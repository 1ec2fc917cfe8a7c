"""The main job (`fastlearn demo`) and the command line."""

from __future__ import annotations

import subprocess
import sys

from fastlearn.cli import main


def test_demo_trains_plots_saves_and_predicts(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--epochs", "5"]) == 0
    out = capsys.readouterr().out
    for name in ("loss.png", "lr_find.png", "confusion_matrix.png"):
        assert (tmp_path / name).stat().st_size > 5000, name
    assert (tmp_path / "models" / "digits_cnn.pth").exists()
    acc = float(
        out.split("Validation accuracy ")[1].split(".")[0]
        + "."
        + out.split("Validation accuracy ")[1].split(".")[1][:4]
    )
    assert acc > 0.95
    assert "train_loss" in out and "predicted a validation digit" in out


def test_help_lists_the_commands():
    result = subprocess.run(
        [sys.executable, "-m", "fastlearn.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "demo" in result.stdout and "datasets" in result.stdout


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: fastlearn" in capsys.readouterr().out


def test_import_is_light():
    code = (
        "import sys, fastlearn; heavy = [m for m in ('matplotlib', 'pandas', 'sklearn', "
        "'transformers', 'scipy') if m in sys.modules]; print(heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
