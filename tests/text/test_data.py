"""TextDataLoaders: the language-model stream against the corpus, start padding, length
buckets, the constructors (DataFrame, CSV, IMDb folders) and their errors for bad input."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from fastlearn import DataBlockError
from fastlearn.text import (
    LMDataLoader,
    SortedTextDataLoader,
    SubwordTokenizer,
    TextDataLoaders,
    TextDataset,
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


def numbered_docs(lengths: list[int]) -> list[torch.Tensor]:
    """Documents whose ids count up through the corpus: the stream is 0, 1, 2, ..."""
    starts = [sum(lengths[:i]) for i in range(len(lengths))]
    return [torch.arange(s, s + n) for s, n in zip(starts, lengths)]


@pytest.mark.parametrize("vary", [False, True])
def test_lm_stream_rows_cover_the_corpus_in_order(vary: bool) -> None:
    docs = numbered_docs([7, 30, 12, 1, 25, 9])  # 84 tokens
    bs, seq_len = 4, 5
    dl = LMDataLoader(TextDataset(docs), bs, seq_len=seq_len, vary_seq_len=vary, device="cpu")
    batches = list(dl)
    row_len = (84 - 1) // bs  # 20
    assert len(batches) == len(dl) == math.ceil(row_len / seq_len)
    xs = torch.cat([x for x, _ in batches], 1)
    ys = torch.cat([y for _, y in batches], 1)
    for r in range(bs):  # row r reads stream[r * 20 : (r + 1) * 20], in order
        assert xs[r].tolist() == list(range(r * row_len, (r + 1) * row_len))
    assert torch.equal(ys, xs + 1)  # targets: the next token
    for x, y in batches:
        assert x.shape == y.shape and x.shape[0] == bs


def test_lm_shuffle_reorders_documents_keeping_each_whole() -> None:
    docs = [torch.full((n,), i) for i, n in enumerate([6, 9, 4, 11, 8, 5, 7, 10])]
    dl = LMDataLoader(TextDataset(docs), 2, seq_len=6, shuffle=True, device="cpu")
    torch.manual_seed(0)
    orders = set()
    for _ in range(4):
        rows = torch.cat([x for x, _ in dl], 1)  # one epoch
        stream = torch.cat([rows[0], rows[1]])
        ids = torch.unique_consecutive(stream).tolist()
        assert len(ids) == len(set(ids))  # each document contiguous
        orders.add(tuple(ids))
    assert len(orders) > 1  # documents reshuffled each epoch


def test_varied_windows_fill_each_row_exactly() -> None:
    docs = numbered_docs([2000])
    dl = LMDataLoader(TextDataset(docs), 8, seq_len=20, shuffle=True, device="cpu")
    torch.manual_seed(0)
    lengths = dl._loader.window_lengths()
    assert sum(lengths) == (2000 - 1) // 8 and len(lengths) == len(dl)
    assert min(lengths) >= 1 and len(set(lengths)) > 3  # varied around 20
    assert 15 < sum(lengths) / len(lengths) < 25


def test_classifier_batches_are_padded_at_the_start_and_truncated() -> None:
    texts = [torch.arange(2, 2 + n) for n in (3, 7, 5)]
    ds = TextDataset(texts, torch.tensor([0, 1, 0]))
    x, y = next(iter(SortedTextDataLoader(ds, 3, pad_idx=1, device="cpu")))
    assert x.tolist() == [[1, 1, 1, 1, 2, 3, 4], list(range(2, 9)), [1, 1, 2, 3, 4, 5, 6]]
    assert y.tolist() == [0, 1, 0]
    x, _ = next(iter(SortedTextDataLoader(ds, 3, pad_idx=1, truncate=4, device="cpu")))
    assert x.tolist() == [[1, 2, 3, 4], [2, 3, 4, 5], [2, 3, 4, 5]]


def test_shuffled_classifier_batches_group_similar_lengths() -> None:
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 200, (400,), generator=g).tolist()
    ds = TextDataset([torch.full((n,), 5) for n in lengths], torch.arange(400))
    dl = SortedTextDataLoader(ds, 16, shuffle=True, bucket=50, device="cpu")
    seen, spreads = [], []
    for x, y in dl:
        seen += y.tolist()
        real = (x != 1).sum(1).float()
        spreads.append(float(real.max() - real.min()))
    assert sorted(seen) == list(range(400))  # every text once per epoch
    assert sum(spreads) / len(spreads) < 20  # random batches would spread ~180
    valid = SortedTextDataLoader(ds, 16, device="cpu")
    assert torch.cat([y for _, y in valid]).tolist() == list(range(400))  # data order kept


def test_from_df_language_model_and_classifier_share_a_vocab() -> None:
    df = corpus()
    dls_lm = TextDataLoaders.from_df(
        df, "text", is_lm=True, valid_pct=0.2, seed=0, bs=4, seq_len=8, device="cpu"
    )
    assert dls_lm.is_lm and dls_lm.vocab == dls_lm.text_vocab.itos
    x, y = dls_lm.one_batch()
    assert torch.equal(x[:, 1:], y[:, :-1])
    dls = TextDataLoaders.from_df(
        df, "text", "label", "is_valid", text_vocab=dls_lm.vocab, bs=8, device="cpu"
    )
    assert dls.vocab == ["neg", "pos"] and dls.text_vocab.itos == dls_lm.text_vocab.itos
    assert len(dls.train.dataset) == 48 and len(dls.valid.dataset) == 12
    x, y = dls.valid.one_batch()
    first = dls.valid.dataset.ids[0]
    assert x[0, -len(first) :].tolist() == first.tolist()
    assert dls.decode(first).startswith(df["text"][0].split()[0])


def test_from_df_several_text_columns_become_fields() -> None:
    df = corpus(20).assign(title="A title")
    dls = TextDataLoaders.from_df(
        df, ["title", "text"], "label", valid_pct=0.2, seed=0, min_freq=1, bs=4, device="cpu"
    )
    tokens = dls.text_vocab.decode(dls.train.dataset.ids[0])
    assert tokens[:3] == ["xxbos", "xxfld", "1"] and "xxfld" in tokens[3:]


def test_loaders_refuse_nan_labels_and_non_string_texts() -> None:
    # the DataBlock's checks: the getter, the value and the item are named
    df = corpus(20)
    df.loc[3, "label"] = None
    with pytest.raises(DataBlockError, match=r"get_y ColReader\('label'\).*item 3.*missing label"):
        TextDataLoaders.from_df(df, "text", "label")
    df = corpus(20)
    df["text"] = df["text"].astype(object)
    df.loc[7, "text"] = float("nan")
    with pytest.raises(DataBlockError, match=r"get_x ColReader\('text'\).*float nan.*item 7"):
        TextDataLoaders.from_df(df, "text", "label")
    df.loc[7, "text"] = 42
    with pytest.raises(DataBlockError, match="int 42.*fillna"):
        TextDataLoaders.from_df(df, "text", is_lm=True)
    with pytest.raises(ValueError, match="label_col"):
        TextDataLoaders.from_df(corpus(10), "text")
    with pytest.raises(DataBlockError, match="expected a column 'review'"):
        TextDataLoaders.from_df(corpus(10), "review", "label")
    with pytest.raises(ValueError, match="0 rows"):
        TextDataLoaders.from_df(corpus(10).iloc[:0], "text", "label")


def test_unseen_validation_label_and_tiny_lm_corpus_are_clear_errors() -> None:
    df = corpus(20)
    df.loc[df["is_valid"], "label"] = "other"
    with pytest.raises(ValueError, match="never seen in training"):
        TextDataLoaders.from_df(df, "text", "label", "is_valid")
    with pytest.raises(ValueError, match="too few for bs=64"):
        TextDataLoaders.from_df(corpus(2), "text", is_lm=True, valid_pct=0.5, bs=64)


def test_empty_and_odd_texts_still_batch() -> None:
    df = pd.DataFrame(
        {"text": ["", "   ", "!!!", "مرحبا بالعالم", "👍🏽 ok"] * 4, "label": ["a", "b"] * 10}
    )
    dls = TextDataLoaders.from_df(
        df, "text", "label", valid_pct=0.2, seed=0, bs=5, min_freq=1, device="cpu"
    )
    x, y = dls.one_batch()
    assert x.shape[0] == 5 and (x[:, -1] != dls.pad_idx).all()  # xxbos at least


def test_from_csv_and_test_dl(tmp_path) -> None:
    corpus().to_csv(tmp_path / "texts.csv", index=False)
    dls = TextDataLoaders.from_csv(
        tmp_path / "texts.csv", "text", "label", "is_valid", bs=8, device="cpu"
    )
    assert dls.path == tmp_path
    (x,) = dls.test_dl(["Good good movie.", "Bad."]).one_batch()
    assert x.shape[0] == 2 and x[1, 0] == dls.pad_idx and x[0, 0] != dls.pad_idx
    with pytest.raises(TypeError, match="single str"):
        dls.test_dl("Good movie.")


def test_from_folder_imdb_layout(tmp_path) -> None:
    df = corpus(30)
    for i, row in df.iterrows():
        split = "test" if row["is_valid"] else "train"
        folder = tmp_path / split / row["label"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i}.txt").write_text(row["text"])
    (tmp_path / "unsup").mkdir()
    for i in range(5):
        (tmp_path / "unsup" / f"{i}.txt").write_text("Fun fun scene.")
    dls = TextDataLoaders.from_folder(tmp_path, valid="test", bs=4, device="cpu")
    assert sorted(dls.vocab) == sorted(df["label"].unique())
    assert len(dls.train.dataset) == 24 and len(dls.valid.dataset) == 6
    dls_lm = TextDataLoaders.from_folder(
        tmp_path, is_lm=True, valid_pct=0.2, seed=0, bs=2, seq_len=5, device="cpu"
    )
    assert len(dls_lm.train.dataset) + len(dls_lm.valid.dataset) == 35  # unsup included
    with pytest.raises(ValueError, match="no valid"):
        TextDataLoaders.from_folder(tmp_path, valid="valid", device="cpu")


def test_show_batch_prints_detokenized_text(capsys) -> None:
    dls = TextDataLoaders.from_df(corpus(), "text", "label", "is_valid", bs=4, device="cpu")
    dls.show_batch(2)
    out = capsys.readouterr().out
    assert out.count("\n[") == 1 and "xxbos" not in out and "xxmaj" not in out
    assert out.startswith("[0] neg: ") or out.startswith("[0] pos: ")


def test_untrained_subword_tokenizer_is_trained_on_the_training_texts() -> None:
    tok = SubwordTokenizer(vocab_size=40, model="bpe")
    dls = TextDataLoaders.from_df(
        corpus(), "text", "label", "is_valid", tokenizer=tok, min_freq=1, bs=4, device="cpu"
    )
    assert tok.itos and dls.tokenizer is tok
    x, _ = dls.one_batch()
    assert x.shape[0] == 4


def test_lm_loader_takes_the_courses_list_of_numericalized_texts():
    texts = [torch.arange(10), torch.arange(10, 25), torch.arange(25, 40)]
    x, y = next(iter(LMDataLoader(texts, bs=2, seq_len=5)))
    stream = torch.arange(40)  # the texts end to end, cut into 2 rows of 19 + 1
    assert torch.equal(x, torch.stack([stream[0:5], stream[19:24]]))
    assert torch.equal(y, x + 1)
    with pytest.raises(TypeError, match="text 1 as a 1-d integer tensor.*Numericalize"):
        LMDataLoader([torch.arange(3), torch.rand(4)], bs=1)
    with pytest.raises(TypeError, match="numericalized texts"):
        LMDataLoader([["not", "ids"]], bs=1)
