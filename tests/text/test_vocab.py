"""Vocab: frequency order, min_freq/max_vocab, specials first, padding, unknowns, state."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fastlearn.text import SPECIAL_TOKENS, Numericalize, Vocab
from fastlearn.text.ulmfit.tokenize.rules import UNK

N_SPECIAL = len(SPECIAL_TOKENS)
CORPUS = [["xxbos", "b", "a", "b", "c"], ["a", "b", "rare", "c", "c"], ["d", "a", "b"]]
# counts: b 4, a 3, c 3 (a seen first), d 1, rare 1


def test_frequency_order_min_freq_and_ties() -> None:
    vocab = Vocab.from_tokens(CORPUS)  # min_freq=3
    assert vocab.itos[:N_SPECIAL] == list(SPECIAL_TOKENS)
    assert vocab.itos[N_SPECIAL : N_SPECIAL + 3] == ["b", "a", "c"]
    assert "d" not in vocab and "rare" not in vocab
    assert Vocab.from_tokens(CORPUS, min_freq=1).itos[N_SPECIAL : N_SPECIAL + 5] == [
        "b",
        "a",
        "c",
        "rare",
        "d",
    ]


def test_max_vocab_counts_the_specials() -> None:
    vocab = Vocab.from_tokens(CORPUS, min_freq=1, max_vocab=N_SPECIAL + 2)
    real = [t for t in vocab.itos if not t.startswith("xxfake")]
    assert real == [*SPECIAL_TOKENS, "b", "a"]
    assert Vocab.from_tokens(CORPUS, max_vocab=3).itos[:N_SPECIAL] == list(SPECIAL_TOKENS)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from("abcdefghijklmnopqrstuvwxyz") | st.text(max_size=3))),
    st.integers(1, 4),
    st.integers(0, 40),
)
def test_size_is_a_multiple_of_8_and_unique(token_lists, min_freq, max_vocab) -> None:  # type: ignore[no-untyped-def]
    vocab = Vocab.from_tokens(token_lists, min_freq=min_freq, max_vocab=max_vocab)
    assert len(vocab) % 8 == 0 and len(set(vocab.itos)) == len(vocab)
    assert vocab.itos[:N_SPECIAL] == list(SPECIAL_TOKENS)
    assert len(vocab) < max(max_vocab, N_SPECIAL) + 8


def test_fake_tokens_do_not_clash() -> None:
    vocab = Vocab.from_tokens([["xxfake"] * 3], pad_to=8)
    assert len(vocab) == 16 and vocab.itos.count("xxfake") == 1


def test_unknown_maps_to_xxunk() -> None:
    vocab = Vocab.from_tokens(CORPUS)
    ids = vocab.numericalize(["b", "never-seen", "d", "xxbos"])
    assert ids.dtype == torch.long and ids.shape == (4,)
    assert ids.tolist() == [N_SPECIAL, vocab.stoi[UNK], vocab.stoi[UNK], 2]
    assert vocab.decode(ids) == ["b", UNK, UNK, "xxbos"]


def test_numericalize_batch_and_decode_inputs() -> None:
    vocab = Vocab.from_tokens(CORPUS, min_freq=1)
    batch = vocab.numericalize_batch(CORPUS + [[]])
    assert [t.tolist() for t in batch] == [vocab.numericalize(t).tolist() for t in CORPUS + [[]]]
    ids = vocab.numericalize(CORPUS[0])
    assert vocab.decode(ids) == vocab.decode(ids.numpy()) == vocab.decode(ids.tolist()) == CORPUS[0]
    assert vocab.decode(np.array([], dtype=np.int64)) == []


def test_bad_inputs_raise() -> None:
    vocab = Vocab.from_tokens(CORPUS)
    with pytest.raises(TypeError, match="list of tokens"):
        vocab.numericalize("a string")  # type: ignore[arg-type]
    with pytest.raises(IndexError, match=r"Received: \[9999\]"):
        vocab.decode([1, 9999])
    with pytest.raises(IndexError):
        vocab.decode([-1])
    with pytest.raises(ValueError, match="duplicates"):
        Vocab(["xxunk", "a", "a"])
    with pytest.raises(ValueError, match="xxunk"):
        Vocab(["a", "b"])


def test_state_round_trip() -> None:
    vocab = Vocab.from_tokens(CORPUS, min_freq=2, max_vocab=100)
    state = json.loads(json.dumps(vocab.to_state()))
    again = Vocab.from_state(state)
    assert again.itos == vocab.itos and (again.min_freq, again.max_vocab) == (2, 100)
    assert torch.equal(again.numericalize(CORPUS[1]), vocab.numericalize(CORPUS[1]))
    with pytest.raises(ValueError, match="itos"):
        Vocab.from_state({"tokens": []})


def test_numericalize_transform() -> None:
    num = Numericalize.from_tokens(CORPUS, min_freq=1)
    ids = num(["a", "zzz"])
    assert num.decode(ids) == ["a", UNK] and len(num.vocab) % 8 == 0


def test_a_million_tokens_numericalize_with_their_unknowns() -> None:
    # its speed is measured in benchmarks/preprocessing.py
    vocab = Vocab.from_tokens([[f"w{i}" for i in range(1000)] * 3])
    tokens = [f"w{i % 1200}" for i in range(1_000_000)]
    ids = vocab.numericalize(tokens)
    assert ids.shape == (1_000_000,) and int((ids == vocab.stoi[UNK]).sum()) == 833 * 200
