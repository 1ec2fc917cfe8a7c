"""The MovieLens example: a clear message without data; the full run (slow) when data is here."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "collab_movielens.py"


def load_example():
    spec = importlib.util.spec_from_file_location("collab_movielens", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_missing_data_says_what_to_do(tmp_path):
    example = load_example()
    with pytest.raises(SystemExit, match="u.data and u.item"):
        example.movielens_folder(str(tmp_path / "nowhere"))


def test_reads_an_extracted_folder(tmp_path):
    (tmp_path / "u.data").write_text("196\t242\t3\t881250949\n186\t242\t4\t891717742\n")
    (tmp_path / "u.item").write_bytes("242|Kolya (1996)|24-Jan-1997\n".encode("latin-1"))
    example = load_example()
    ratings = example.load_ratings(example.movielens_folder(str(tmp_path)))
    assert ratings.title.tolist() == ["Kolya (1996)", "Kolya (1996)"]


@pytest.mark.slow
def test_example_reaches_its_target(tmp_path):
    shared = ROOT.parent / "shared" / "datasets" / "ml-100k.zip"
    if "FASTLEARN_DATA_MIRROR" not in os.environ and not shared.is_file():
        pytest.skip("ml-100k not available (set FASTLEARN_DATA_MIRROR)")
    out = subprocess.run(
        [sys.executable, str(EXAMPLE), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "OK: validation MSE" in out.stdout
    assert (tmp_path / "collab_movielens_pca.png").stat().st_size > 10_000
