"""Tokenization and numericalization as the book's chapter 10 writes them: `WordTokenizer`
called on a list, `Tokenizer(spacy)`, `SubwordTokenizer(vocab_sz=...)` with `setup`, and
`Numericalize()` set up on tokenized texts."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from fastlearn.core.collections import L, first
from fastlearn.core.utils import coll_repr
from fastlearn.text import (
    SPECIAL_TOKENS,
    Numericalize,
    SubwordTokenizer,
    Tokenizer,
    Vocab,
    WordTokenizer,
    tokenize_texts,
    tokenizer_from_state,
)
from fastlearn.text.ulmfit.vocab import FAKE

TXTS = L(
    [
        "This movie was great! I loved it, the acting was SO good.",
        "The U.S. dollar $1 is $1.00. A terrible film, I hated it.",
        "Great acting and a great story. I will watch it again and again.",
        "It was boring... the story made no sense and the acting was bad.",
    ]
    * 5
)


def test_word_tokenizer_on_a_list_gives_token_lists():
    spacy = WordTokenizer()
    toks = first(spacy(["The U.S. dollar $1 is $1.00."]))
    # fastlearn's word tokenizer applies fastai's rules itself (spaCy's does not)
    assert toks == [
        "xxbos",
        "xxmaj",
        "the",
        "xxup",
        "u.s.",
        "dollar",
        "$",
        "1",
        "is",
        "$",
        "1.00",
        ".",
    ]
    assert spacy(list(TXTS[:3])) == [spacy(t) for t in TXTS[:3]]
    assert spacy(("a", "b")) == ["xxbos", "xxfld", "1", "a", "xxfld", "2", "b"]  # fields


def test_tokenizer_wraps_a_tokenizer():
    spacy = WordTokenizer()
    tkn = Tokenizer(spacy)
    toks = tkn(TXTS[0])
    assert isinstance(toks, L) and list(toks) == spacy(TXTS[0])
    assert coll_repr(toks, 3) == f"(#{len(toks)}) ['xxbos', 'xxmaj', 'this', ...]"
    toks200 = TXTS.map(tkn)
    assert len(toks200) == len(TXTS) and toks200[1] == spacy(TXTS[1])
    assert tkn(list(TXTS[:2])) == [spacy(TXTS[0]), spacy(TXTS[1])]
    assert tkn.detokenize(toks).startswith("This movie was great!")
    assert tokenize_texts(TXTS[:3], tokenizer=tkn) == spacy(list(TXTS[:3]))
    assert tokenizer_from_state(tkn.to_state()) == spacy
    with pytest.raises(TypeError, match="WordTokenizer or a SubwordTokenizer"):
        Tokenizer("spacy")


def test_subword_tokenizer_with_the_courses_names():
    pytest.importorskip("tokenizers")
    sp = SubwordTokenizer(vocab_sz=60)
    assert sp.vocab_size == 60 and SubwordTokenizer().vocab_size == 8000
    sp.setup(TXTS)
    pieces = first(sp([TXTS[0]]))
    assert pieces == sp(TXTS[0]) and pieces[0] == "xxbos"
    assert "".join(p for p in pieces if p not in SPECIAL_TOKENS).replace("▁", "") == (
        "".join(t for t in WordTokenizer()(TXTS[0]) if t not in SPECIAL_TOKENS)
    )
    assert len(sp.itos) <= 60
    tkn = Tokenizer(SubwordTokenizer(vocab_sz=60)).setup(TXTS)
    assert list(tkn(TXTS[0])) == pieces
    with pytest.raises(ValueError, match="give one"):
        SubwordTokenizer(100, vocab_sz=60)


def test_numericalize_sets_up_its_vocab_from_tokens():
    tkn = Tokenizer(WordTokenizer())
    toks200 = TXTS.map(tkn)
    num = Numericalize()
    with pytest.raises(RuntimeError, match="setup"):
        num(toks200[0])
    num.setup(toks200)
    # the vocabulary, by hand: specials, then tokens seen 3+ times by decreasing count
    counts = Counter(t for toks in toks200 for t in toks)
    frequent = [t for t, c in counts.most_common() if c >= 3 and t not in SPECIAL_TOKENS]
    itos = list(num.vocab)
    assert itos[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    assert itos[len(SPECIAL_TOKENS) : len(SPECIAL_TOKENS) + len(frequent)] == frequent
    assert len(itos) % 8 == 0 and all(
        t.startswith(FAKE) for t in itos[len(SPECIAL_TOKENS) + len(frequent) :]
    )
    toks = tkn(TXTS[0])
    nums = num(toks)[:20]
    assert nums.dtype == torch.int64
    assert nums.tolist() == [itos.index(t) if t in itos else 0 for t in toks[:20]]
    assert " ".join(num.vocab[o] for o in nums) == " ".join(toks[:20])  # all frequent here
    assert coll_repr(num.vocab, 3).startswith(f"(#{len(itos)}) ['xxunk', 'xxpad', 'xxbos'")
    nums200 = toks200.map(num)
    assert len(nums200) == len(toks200) and torch.equal(nums200[0], num(toks200[0]))
    num.setup([["other", "tokens"]])  # set up once: a given vocabulary is kept
    assert list(num.vocab) == itos


def test_numericalize_takes_a_vocab_or_its_tokens():
    vocab = Vocab.from_tokens([["a", "b", "a"]], min_freq=1)
    assert Numericalize(vocab).vocab is vocab
    num = Numericalize(list(vocab))
    assert num(["a", "zzz"]).tolist() == [vocab.stoi["a"], vocab.unk_id]
    assert num.decode(num(["a", "b"])) == ["a", "b"]
    assert Numericalize(min_freq=1).setup([["z", "z"]]).vocab[len(SPECIAL_TOKENS)] == "z"
