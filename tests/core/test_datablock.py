"""The core DataBlock: getters, splits, block encodings and errors, checked against
hand-computed expectations on small frames and lists."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from fastlearn import (
    CategoryBlock,
    ColReader,
    ColSplitter,
    DataBlock,
    DataBlockError,
    IndexSplitter,
    MultiCategoryBlock,
    RandomSplitter,
    RegressionBlock,
    TransformBlock,
)


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "fname": ["a", "b", "c", "d", "e", "f"],
            "labels": ["dog cat", "cat", "cat", "person", "dog", "cat person"],
            "single": ["dog", "cat", "cat", "dog", "cat", "dog"],
            "y": [1.5, 2.0, 3.0, 4.0, 5.0, 6.0],
            "is_valid": [False, False, True, False, True, False],
        }
    )


def test_empty_datablock_gives_the_rows_twice(frame):
    dsets = DataBlock().datasets(frame)
    x, y = dsets.train[0]
    assert isinstance(x, pd.Series) and x.equals(y)
    assert len(dsets.train) + len(dsets.valid) == len(frame)


def test_get_x_get_y_lambdas_read_rows(frame):
    dsets = DataBlock(
        get_x=lambda r: r["fname"], get_y=lambda r: r["labels"], splitter=ColSplitter()
    ).datasets(frame)
    assert [dsets.train[i] for i in range(len(dsets.train))] == [
        ("a", "dog cat"),
        ("b", "cat"),
        ("d", "person"),
        ("f", "cat person"),
    ]
    assert dsets.valid[1] == ("e", "dog")


def test_category_block_sorted_vocab_and_indices(frame):
    dsets = DataBlock(
        blocks=(TransformBlock, CategoryBlock),
        get_x=ColReader("fname"),
        get_y=ColReader("single"),
        splitter=ColSplitter(),
    ).datasets(frame)
    assert list(dsets.vocab) == ["cat", "dog"]
    targets = [int(dsets.train[i][1]) for i in range(len(dsets.train))]
    assert targets == [1, 0, 1, 1]  # a dog, b cat, d dog, f dog
    assert dsets.train[0][1].dtype == torch.int64
    assert dsets.decode(dsets.train[1]) == ("b", "cat")


def test_category_block_keeps_given_vocab_and_first_seen_order(frame):
    dsets = DataBlock(
        blocks=(TransformBlock, CategoryBlock(vocab=["dog", "cat"])),
        get_y=ColReader("single"),
        splitter=ColSplitter(),
    ).datasets(frame)
    assert list(dsets.vocab) == ["dog", "cat"]
    assert int(dsets.train[0][1]) == 0
    unsorted = DataBlock(
        blocks=(TransformBlock, CategoryBlock(sort=False)),
        get_y=ColReader("single"),
        splitter=ColSplitter(),
    ).datasets(frame)
    assert list(unsorted.vocab) == ["dog", "cat"]  # 'dog' is the first training label


def test_multi_category_block_multi_hot(frame):
    dsets = DataBlock(
        blocks=(TransformBlock, MultiCategoryBlock),
        get_x=ColReader("fname"),
        get_y=ColReader("labels", label_delim=" "),
        splitter=ColSplitter(),
    ).datasets(frame)
    assert list(dsets.vocab) == ["cat", "dog", "person"]
    x, y = dsets.train[0]
    assert x == "a" and y.tolist() == [1.0, 1.0, 0.0]
    idxs = torch.where(dsets.train[3][1] == 1.0)[0]
    assert list(dsets.vocab[idxs]) == ["cat", "person"]  # the book indexes the vocab by a tensor


def test_multi_category_encoded_columns():
    df = pd.DataFrame({"x": [1, 2, 3, 4], "a": [1, 0, 1, 0], "b": [0, 1, 1, 0]})
    dsets = DataBlock(
        blocks=(TransformBlock, MultiCategoryBlock(encoded=True, vocab=["a", "b"])),
        get_x=ColReader("x"),
        get_y=ColReader(["a", "b"]),
        splitter=IndexSplitter([3]),
    ).datasets(df)
    assert [dsets.train[i][1].tolist() for i in range(3)] == [[1, 0], [0, 1], [1, 1]]
    assert list(dsets.vocab) == ["a", "b"]


def test_regression_block_and_loaders(frame):
    dls = DataBlock(
        blocks=(RegressionBlock, RegressionBlock),
        get_x=ColReader("y"),
        get_y=ColReader("y"),
        splitter=ColSplitter(),
    ).dataloaders(frame, bs=2, shuffle=False)
    xb, yb = dls.one_batch()
    assert yb.dtype == torch.float32 and yb.tolist() == [1.5, 2.0]
    assert len(dls.train) == 2 and len(dls.valid) == 1


def test_regression_refuses_nan_and_strings(frame):
    bad = frame.assign(y=[1.0, float("nan"), 3.0, 4.0, 5.0, 6.0])
    with pytest.raises(DataBlockError, match="NaN or infinite"):
        DataBlock(blocks=(TransformBlock, RegressionBlock), get_y=ColReader("y")).datasets(bad)
    with pytest.raises(DataBlockError, match="RegressionBlock takes numbers"):
        DataBlock(blocks=(TransformBlock, RegressionBlock), get_y=ColReader("single")).datasets(
            frame
        )


def test_split_is_the_splitters(frame):
    dsets = DataBlock(
        blocks=(TransformBlock, CategoryBlock),
        get_x=ColReader("fname"),
        get_y=ColReader("single"),
        splitter=RandomSplitter(valid_pct=0.5, seed=3),
    ).datasets(frame)
    assert dsets.splits == RandomSplitter(valid_pct=0.5, seed=3)(frame)


def test_a_list_source_with_get_items():
    items = [f"{c}_{i}" for c in "ab" for i in range(5)]
    block = DataBlock(
        blocks=(TransformBlock, CategoryBlock),
        get_items=lambda n: items[:n],
        get_y=lambda s: s.split("_")[0],
        splitter=IndexSplitter([0, 5]),
    )
    dsets = block.datasets(10)
    assert len(dsets.train) == 8 and list(dsets.vocab) == ["a", "b"]
    assert dsets.valid[1] == ("b_0", torch.tensor(1))


def test_each_source_learns_its_own_vocab():
    block = DataBlock(
        blocks=(TransformBlock, CategoryBlock), get_y=lambda s: s[0], splitter=IndexSplitter([0])
    )
    assert list(block.datasets(["a1", "a2", "b1"]).vocab) == ["a", "b"]
    assert list(block.datasets(["c1", "c2", "d1"]).vocab) == ["c", "d"]


def test_new_replaces_transforms_only():
    block = DataBlock(
        blocks=(TransformBlock, CategoryBlock), get_y=lambda s: s[0], item_tfms=str.upper
    )
    other = block.new(item_tfms=str.lower)
    assert other.item_tfms == [str.lower] and block.item_tfms == [str.upper]
    assert other.get_y is block.get_y and other.splitter is block.splitter


def test_item_tfms_apply_to_inputs_only():
    dsets = DataBlock(
        blocks=(TransformBlock, CategoryBlock),
        get_y=lambda s: s[-1],
        item_tfms=str.upper,
        splitter=IndexSplitter([0]),
    ).datasets(["ab", "cd", "eb"])
    assert dsets.train[0] == ("CD", torch.tensor(1))


# ---------------------------------------------------------------------------------- bad input
def test_missing_get_y_names_the_block():
    with pytest.raises(DataBlockError, match=r"CategoryBlock.*needs get_y"):
        DataBlock(
            blocks=(TransformBlock, CategoryBlock), get_items=lambda s: ["a", "b", "c"]
        ).datasets(None)


def test_getter_of_wrong_type_names_getter_and_value(frame):
    def labels(r):
        return r["labels"].split(" ")

    with pytest.raises(DataBlockError, match=r"get_y labels returned list \['dog', 'cat'\]"):
        DataBlock(blocks=(TransformBlock, CategoryBlock), get_y=labels).datasets(frame)
    with pytest.raises(DataBlockError, match="MultiCategoryBlock takes a list"):
        DataBlock(blocks=(TransformBlock, MultiCategoryBlock), get_y=ColReader("labels")).datasets(
            frame
        )


def test_one_class_is_an_error():
    items = [f"images/cat_{i}.jpg" for i in range(6)]
    with pytest.raises(DataBlockError, match=r"found 1 class: \['images'\].*get_y / parent_label"):
        DataBlock(blocks=(TransformBlock, CategoryBlock), get_y=lambda s: s.split("/")[0]).datasets(
            items
        )


def test_failing_getter_names_step_and_item(frame):
    def broken(r):
        return r["nope"]

    with pytest.raises(DataBlockError, match=r"Step get_y broken failed on row .*'fname': 'a'"):
        DataBlock(blocks=(TransformBlock, CategoryBlock), get_y=broken).datasets(frame)


def test_unseen_validation_label_is_an_error(frame):
    with pytest.raises(DataBlockError, match=r"never seen in training: \['dog'\]"):
        DataBlock(
            blocks=(TransformBlock, CategoryBlock),
            get_y=ColReader("labels"),
            splitter=ColSplitter(),
        ).datasets(frame)


def test_no_items_and_bad_blocks():
    with pytest.raises(DataBlockError, match="get_items found no items"):
        DataBlock(get_items=lambda s: []).datasets("somewhere")
    with pytest.raises(DataBlockError, match="Expected blocks such as"):
        DataBlock(blocks=(3, CategoryBlock))
    with pytest.raises(DataBlockError, match="n_inp"):
        DataBlock(blocks=(TransformBlock, CategoryBlock), n_inp=3)


# ---------------------------------------------------------------------------------- summary
def test_summary_walks_every_step(frame, capsys):
    text = DataBlock(
        blocks=(TransformBlock, MultiCategoryBlock),
        get_x=ColReader("fname"),
        get_y=ColReader("labels", label_delim=" "),
        splitter=ColSplitter(),
    ).summary(frame, bs=2)
    assert text == capsys.readouterr().out
    for part in (
        "get_items (the source): 6 items",
        "4 train, 2 valid",
        "get_y ColReader('labels', label_delim=' ') -> ['dog', 'cat']",
        "vocab (3): ['cat', 'dog', 'person']",
        "one batch (bs=2)",
        "y: tensor (2, 3) float32",
        "Every step ran.",
    ):
        assert part in text, part


def test_summary_points_at_the_failing_step(frame, capsys):
    def bad_tfm(x):
        raise OSError("cannot decode")

    block = DataBlock(
        blocks=(TransformBlock, CategoryBlock),
        get_x=ColReader("fname"),
        get_y=ColReader("single"),
        item_tfms=bad_tfm,
    )
    with pytest.raises(DataBlockError, match="after TransformBlock value failed: OSError"):
        block.summary(frame)
    out = capsys.readouterr().out
    assert "get_y ColReader('single') -> " in out and "FAILED" in out
    assert "Every step ran" not in out
