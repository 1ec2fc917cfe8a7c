"""Getters, labellers, the new splitters, L and Path.ls, against hand-computed answers."""

from __future__ import annotations

import pathlib
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch

from fastlearn import (
    ColReader,
    FileSplitter,
    L,
    MaskSplitter,
    RandomSubsetSplitter,
    RegexLabeller,
    TrainTestSplitter,
    first,
    get_files,
    parent_label,
    using_attr,
)
from fastlearn.core.collections import Path


@pytest.fixture
def tree(tmp_path):
    for rel in (
        "train/cat/1.jpg",
        "train/cat/2.PNG",
        "train/dog/3.jpg",
        "valid/dog/4.jpg",
        "valid/notes.txt",
        ".hidden/5.jpg",
        "train/.6.jpg",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    return tmp_path


def test_get_files_extensions_folders_hidden(tree):
    names = [f.relative_to(tree).as_posix() for f in get_files(tree, extensions=[".jpg", "png"])]
    assert names == ["train/cat/1.jpg", "train/cat/2.PNG", "train/dog/3.jpg", "valid/dog/4.jpg"]
    assert [f.name for f in get_files(tree, folders=["valid"])] == ["notes.txt", "4.jpg"]
    assert [f.name for f in get_files(tree / "valid", recurse=False)] == ["notes.txt"]
    files = get_files(tree)
    assert isinstance(files, L) and isinstance(files[0], Path)
    with pytest.raises(FileNotFoundError, match="Folders not found.*Folders in"):
        get_files(tree, folders=["test"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        get_files(tree / "nothing")


def test_path_ls(tree):
    entries = Path(tree).ls()
    assert isinstance(entries, L) and [p.name for p in entries] == [".hidden", "train", "valid"]
    assert isinstance(entries[0] / "cat", Path)
    assert [p.name for p in Path(tree / "valid").ls(file_exts=[".txt"])] == ["notes.txt"]
    assert len(Path(tree / "train" / "cat").ls(n_max=1)) == 1
    assert repr(Path(tree).ls()).startswith("(#3) [")
    with pytest.raises(NotADirectoryError, match="which is a file"):
        Path(tree / "valid" / "notes.txt").ls()


def test_parent_label_regex_using_attr():
    p = pathlib.Path("pets/images/great_pyrenees_173.jpg")
    assert parent_label(p) == "images"
    assert parent_label("a/b/c.txt") == "b"
    pat = r"^(.+)_\d+\.jpg$"
    assert RegexLabeller(pat)(p) == "great_pyrenees"  # a path: its name
    assert using_attr(RegexLabeller(pat), "name")(p) == "great_pyrenees"
    assert RegexLabeller(r"images/(\w+?)_", match="path")(p) == "great"
    assert RegexLabeller(r"(.+)_\d+")("Abyssinian_12") == "Abyssinian"  # a plain string
    with pytest.raises(ValueError, match="does not match"):
        RegexLabeller(pat)(pathlib.Path("x.png"))
    with pytest.raises(ValueError, match="group"):
        RegexLabeller(r"\d+")
    with pytest.raises(AttributeError, match="attribute 'stem'"):
        using_attr(str.upper, "stem")(3)


def test_col_reader_row_and_column():
    df = pd.DataFrame({"fname": ["a", "b"], "labels": ["x y", np.nan], "n": [1, 2]})
    row = df.iloc[0]
    assert ColReader("fname", pref="train/", suff=".jpg")(row) == Path("train/a.jpg")
    assert ColReader("fname", pref=pathlib.Path("train"))(row) == Path("train/a")
    assert ColReader("labels", label_delim=" ")(row) == ["x", "y"]
    assert ColReader("labels", label_delim=" ")(df.iloc[1]) == []
    assert ColReader(["fname", "n"])(row) == ["a", 1]
    assert ColReader(0)(row) == "a"
    assert ColReader("fname", suff=".png").column(df) == ["a.png", "b.png"]
    assert ColReader("n").column(df) == [1, 2] and isinstance(ColReader("n").column(df)[0], int)
    with pytest.raises(KeyError, match="expected a column 'nope'"):
        ColReader("nope")(row)
    with pytest.raises(KeyError, match="expected a column 'nope'"):
        ColReader("nope").column(df)


def test_mask_and_file_splitters(tmp_path):
    items = [pathlib.Path(f"d/{i}.jpg") for i in range(5)]
    assert MaskSplitter([0, 1, 0, 0, 1])(items) == ([0, 2, 3], [1, 4])
    with pytest.raises(ValueError, match="one flag per item"):
        MaskSplitter([True])(items)
    listing = tmp_path / "valid.txt"
    listing.write_text("1.jpg\n3.jpg\n\n")
    assert FileSplitter(listing)(items) == ([0, 2, 4], [1, 3])
    with pytest.raises(FileNotFoundError):
        FileSplitter(tmp_path / "none.txt")(items)


def test_train_test_splitter_stratifies():
    labels = ["a"] * 80 + ["b"] * 20
    train, valid = TrainTestSplitter(0.25, random_state=0, stratify=labels)(labels)
    assert len(valid) == 25 and sorted(train + valid) == list(range(100))
    assert Counter(labels[i] for i in valid) == {"a": 20, "b": 5}
    same = TrainTestSplitter(0.25, random_state=0, stratify=labels)(labels)
    assert same == (train, valid)
    train, valid = TrainTestSplitter(10, shuffle=False)(list(range(50)))
    assert valid == list(range(40, 50))


def test_random_subset_splitter():
    train, valid = RandomSubsetSplitter(0.5, 0.2, seed=1)(list(range(100)))
    assert len(train) == 50 and len(valid) == 20 and not set(train) & set(valid)
    with pytest.raises(ValueError, match="sum <= 1"):
        RandomSubsetSplitter(0.9, 0.2)


def test_l_helpers():
    xs = L(range(5))
    assert xs.map(lambda x: x * 2).filter(lambda x: x > 2) == [4, 6, 8]
    assert xs[[0, 4]] == [0, 4] and xs[torch.tensor([1, 2])] == [1, 2]
    assert xs[np.array([True, False, True, False, False])] == [0, 2]
    assert xs[1] == 1 and isinstance(xs[1:3], L)
    assert L([{"a": 1}, {"a": 2}]).attrgot("a") == [1, 2]
    assert L([(1, 2), (3, 4)]).itemgot(1) == [2, 4]
    assert L([3, 1, 3]).unique() == [3, 1]
    assert repr(L(range(12))) == "(#12) [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...]"
    assert L("ab") == ["ab"] and L(1, 2) == [1, 2]
    assert first(xs, lambda x: x > 2) == 3 and first([]) is None
