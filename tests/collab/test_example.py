"""The MovieLens example's data handling: a clear message without data, an extracted folder read.

The full run needs MovieLens 100K: `bash scripts/examples.sh collab_movielens` (it asserts its
target itself); tests never need a dataset beside the clone."""

from __future__ import annotations

import importlib.util
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
