"""TextBlock in a DataBlock: the book's calls (IMDb folders, a DataFrame), the constructors as
thin wrappers over it (checked against a hand-built tokenize -> vocab -> ids reference), bad
input named at its step, and summary."""

from __future__ import annotations

from functools import partial

import pandas as pd
import pytest
import torch

from fastlearn import (
    CategoryBlock,
    ColReader,
    ColSplitter,
    DataBlock,
    DataBlockError,
    GrandparentSplitter,
    MultiCategoryBlock,
    RandomSplitter,
    parent_label,
)
from fastlearn.text import (
    TextBlock,
    TextDataLoaders,
    Vocab,
    WordTokenizer,
    get_text_files,
    tokenize_texts,
)

WORDS = "good bad movie film plot actor story great awful fun dull scene".split()


def corpus(n: int = 60, seed: int = 0) -> pd.DataFrame:
    g = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(n):
        k = int(torch.randint(3, 25, (1,), generator=g))
        words = [WORDS[int(j)] for j in torch.randint(0, len(WORDS), (k,), generator=g)]
        label = "pos" if words.count("good") >= words.count("bad") else "neg"
        rows.append((" ".join(words).capitalize() + ".", label, i % 5 == 0))
    return pd.DataFrame(rows, columns=["text", "label", "is_valid"])


@pytest.fixture
def imdb(tmp_path):
    """IMDb's layout: train/<label>/*.txt, test/<label>/*.txt, unsup/*.txt (and a non-text)."""
    df = corpus(40)
    for i, row in df.iterrows():
        folder = tmp_path / ("test" if row["is_valid"] else "train") / row["label"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i}.txt").write_text(row["text"])
    (tmp_path / "unsup").mkdir()
    for i in range(6):
        (tmp_path / "unsup" / f"u{i}.txt").write_text("Fun fun scene. " * (i + 1))
    (tmp_path / "train" / "README.md").write_text("not a review")
    return tmp_path


def test_get_text_files_lists_only_txt_in_the_folders(imdb) -> None:
    files = get_text_files(imdb, folders=["train", "unsup"])
    assert len(files) == 32 + 6 and all(f.suffix == ".txt" for f in files)
    assert not any("test" in f.parts for f in files)


def test_the_books_imdb_language_model_and_classifier(imdb) -> None:
    get_imdb = partial(get_text_files, folders=["train", "test", "unsup"])
    dls_lm = DataBlock(
        blocks=TextBlock.from_folder(imdb, is_lm=True, min_freq=1),
        get_items=get_imdb,
        splitter=RandomSplitter(0.1, seed=0),
    ).dataloaders(imdb, path=imdb, bs=4, seq_len=8, device="cpu")
    assert isinstance(dls_lm, TextDataLoaders) and dls_lm.is_lm and dls_lm.path == imdb
    assert dls_lm.seq_len == 8 and list(dls_lm.vocab) == dls_lm.text_vocab.itos
    assert len(dls_lm.train.dataset) + len(dls_lm.valid.dataset) == 46
    x, y = dls_lm.one_batch()
    assert x.shape == y.shape and x.shape[0] == 4 and torch.equal(x[:, 1:], y[:, :-1])

    dls_clas = DataBlock(
        blocks=(TextBlock.from_folder(imdb, vocab=dls_lm.vocab), CategoryBlock),
        get_y=parent_label,
        get_items=partial(get_text_files, folders=["train", "test"]),
        splitter=GrandparentSplitter(valid_name="test"),
    ).dataloaders(imdb, path=imdb, bs=8, seq_len=72, device="cpu")
    assert not dls_clas.is_lm and dls_clas.vocab == ["neg", "pos"] and dls_clas.seq_len == 72
    assert dls_clas.text_vocab.itos == dls_lm.text_vocab.itos
    assert (len(dls_clas.train.dataset), len(dls_clas.valid.dataset)) == (32, 8)
    x, y = dls_clas.valid.one_batch()
    assert x.shape[0] == 8 and y.dtype == torch.long


@pytest.mark.parametrize("get_x", [ColReader("text"), None])
def test_from_df_block_equals_the_wrapper_and_a_hand_built_reference(get_x) -> None:
    df = corpus()
    dblock = DataBlock(
        blocks=(TextBlock.from_df("text", seq_len=72, min_freq=2), CategoryBlock),
        get_x=get_x,
        get_y=ColReader("label"),
        splitter=ColSplitter(),
    )
    dls = dblock.dataloaders(df, bs=8, device="cpu")
    wrapped = TextDataLoaders.from_df(
        df, "text", "label", "is_valid", min_freq=2, bs=8, device="cpu"
    )
    # the reference: tokenize, a vocabulary on the training texts, ids, sorted classes
    train, valid = df.index[~df.is_valid].tolist(), df.index[df.is_valid].tolist()
    tokens = tokenize_texts(df.text.tolist(), tokenizer=WordTokenizer())
    vocab = Vocab.from_tokens([tokens[i] for i in train], min_freq=2)
    for d in (dls, wrapped):
        assert d.text_vocab.itos == vocab.itos and d.vocab == ["neg", "pos"]
        assert (len(d.train.dataset), len(d.valid.dataset)) == (len(train), len(valid))
        assert d.valid.dataset.ids[3].tolist() == vocab.numericalize(tokens[valid[3]]).tolist()
        labels = [["neg", "pos"].index(v) for v in df.label[valid]]
        assert d.valid.dataset.labels.tolist() == labels
    torch.manual_seed(0)
    a = [b for b in dls.train]
    torch.manual_seed(0)
    b = [b for b in wrapped.train]
    assert all(torch.equal(p, q) for u, v in zip(a, b) for p, q in zip(u, v))


def test_from_folder_wrapper_splits_labels_and_ids(imdb) -> None:
    dls = TextDataLoaders.from_folder(imdb, bs=4, min_freq=1, device="cpu")
    files = sorted((imdb / "train").glob("*/*.txt")) + sorted((imdb / "test").glob("*/*.txt"))
    texts = [f.read_text() for f in files]
    tokens = tokenize_texts(texts)
    vocab = Vocab.from_tokens(tokens[:32], min_freq=1)
    assert dls.text_vocab.itos == vocab.itos and dls.path == imdb
    assert (len(dls.train.dataset), len(dls.valid.dataset)) == (32, 8)
    assert dls.valid.dataset.ids[0].tolist() == vocab.numericalize(tokens[32]).tolist()
    assert [dls.vocab[int(i)] for i in dls.valid.dataset.labels] == [
        f.parent.name for f in files[32:]
    ]


def test_several_text_columns_become_fields_and_backwards_reverses() -> None:
    df = corpus(20).assign(title="A title")
    block = TextBlock.from_df(["title", "text"], min_freq=1)
    dsets = DataBlock(
        blocks=(block, CategoryBlock), get_y=ColReader("label"), splitter=ColSplitter()
    ).datasets(df)
    tokens = dsets.blocks[0].text_vocab.decode(dsets.encoded[0][0])
    assert tokens[:4] == ["xxbos", "xxfld", "1", "xxmaj"] and "xxfld" in tokens[4:]
    back = DataBlock(
        blocks=(TextBlock.from_df("text", backwards=True, min_freq=1), CategoryBlock),
        get_y=ColReader("label"),
        splitter=ColSplitter(),
    )
    fwd = back.new()
    fwd.blocks[0].backwards = False
    b, f = back.datasets(df), fwd.datasets(df)
    assert torch.equal(b.encoded[0][5], f.encoded[0][5].flip(0))
    assert b.blocks[0].decode(b.encoded[0][5]) == f.blocks[0].decode(f.encoded[0][5])
    dls = back.dataloaders(df, bs=4, device="cpu")
    assert dls.backwards and dls.decode(dls.numericalize([df.text[0]])[0]) == df.text[0]


def test_empty_texts_and_a_multi_label_target() -> None:
    df = pd.DataFrame(
        {
            "text": ["", "Good film.", "Bad plot.", "   "] * 5,
            "tags": ["a", "a b", "b", ""] * 5,
            "is_valid": [False] * 16 + [True] * 4,
        }
    )
    dls = DataBlock(
        blocks=(TextBlock.from_df("text", min_freq=1), MultiCategoryBlock),
        get_y=ColReader("tags", label_delim=" "),
        splitter=ColSplitter(),
    ).dataloaders(df, bs=4, device="cpu")
    assert dls.valid.dataset.ids[0].tolist() == [dls.text_vocab.stoi["xxbos"]]
    x, y = dls.valid.one_batch()
    assert y.tolist() == [[1, 0], [1, 1], [0, 1], [0, 0]] and (x[:, -1] != dls.pad_idx).all()


def test_a_getter_returning_no_text_is_named_with_its_value() -> None:
    df = corpus(20)
    dblock = DataBlock(
        blocks=(TextBlock.from_df("text"), CategoryBlock),
        get_x=lambda r: len(r["text"]),
        get_y=ColReader("label"),
        splitter=ColSplitter(),
    )
    with pytest.raises(
        DataBlockError,
        match=r"get_x lambda.*returned int \d+ for item 0.*"
        r"TextBlock.*a text is a str",
    ):
        dblock.datasets(df)
    df.loc[4, "text"] = None
    with pytest.raises(
        DataBlockError,
        match=r"get_x ColReader\('text'\) returned (NoneType "
        r"None|float nan) for item 4.*fillna",
    ):
        TextDataLoaders.from_df(df, "text", "label", "is_valid")


def test_one_class_a_language_model_with_a_target_and_item_tfms_are_refused() -> None:
    df = corpus(20).assign(label="pos")
    with pytest.raises(DataBlockError, match="CategoryBlock found 1 class"):
        TextDataLoaders.from_df(df, "text", "label", "is_valid")
    dblock = DataBlock(
        blocks=(TextBlock.from_df("text", is_lm=True), CategoryBlock),
        get_y=ColReader("label"),
        splitter=ColSplitter(),
    )
    with pytest.raises(DataBlockError, match="reads the texts alone"):
        dblock.datasets(corpus(20))
    dblock = DataBlock(
        blocks=(TextBlock.from_df("text"), CategoryBlock),
        item_tfms=str.lower,
        get_y=ColReader("label"),
        splitter=ColSplitter(),
    )
    with pytest.raises(DataBlockError, match="no item transforms"):
        dblock.datasets(corpus(20))


def test_summary_traces_text_tokens_ids_and_points_at_a_failing_step(capsys) -> None:
    dblock = DataBlock(
        blocks=(TextBlock.from_df("text", min_freq=1), CategoryBlock),
        get_y=ColReader("label"),
        splitter=ColSplitter(),
    )
    text = dblock.summary(corpus(20), bs=4)
    assert "tokenize (WordTokenizer)" in text and "numericalize (vocab of" in text
    assert "Every step ran." in text

    class Broken(WordTokenizer):
        def tokenize_batch(self, texts):
            raise RuntimeError("the tokenizer broke")

    broken = DataBlock(
        blocks=(TextBlock.from_df("text", tok=Broken()), CategoryBlock),
        get_y=ColReader("label"),
        splitter=ColSplitter(),
    )
    with pytest.raises(DataBlockError, match=r"Step TextBlock.*encode failed.*the tokenizer"):
        broken.summary(corpus(20))
    assert "FAILED" in capsys.readouterr().out
