"""Word tokenizer rules, detokenize, parallel and cached corpus tokenization, subword tokenizer."""

from __future__ import annotations

import json
import math
import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastlearn.text import (
    SPECIAL_TOKENS,
    SubwordTokenizer,
    WordTokenizer,
    detokenize,
    tokenize_texts,
    tokenizer_from_state,
)
from fastlearn.text.ulmfit.tokenize import parallel
from fastlearn.text.ulmfit.tokenize.rules import BOS, EOS

tok = WordTokenizer()

RULES = [  # (text, tokens after xxbos)
    ("", []),
    ("hello world", ["hello", "world"]),
    ("Hello", ["xxmaj", "hello"]),
    ("HELLO there", ["xxup", "hello", "there"]),
    ("I am A1", ["xxmaj", "i", "am", "xxup", "a1"]),
    ("McDonald", ["mcdonald"]),
    ("don't", ["do", "n't"]),
    ("Don't", ["xxmaj", "do", "n't"]),
    ("it's", ["it", "'s"]),
    ("can't won't isn't", ["ca", "n't", "wo", "n't", "is", "n't"]),
    (
        "I'm you're we've they'll he'd",
        ["xxmaj", "i", "'m", "you", "'re", "we", "'ve", "they", "'ll", "he", "'d"],
    ),
    ("it’s", ["it", "’s"]),
    ("o'clock rock'n'roll", ["o'clock", "rock'n'roll"]),
    ("'quoted'", ["'", "quoted", "'"]),
    ("Hello, world!", ["xxmaj", "hello", ",", "world", "!"]),
    ("wow!!!!", ["wow", "xxrep", "4", "!"]),
    ("wow!!!", ["wow", "!", "!", "!"]),
    ("sooooo", ["s", "xxrep", "5", "o"]),
    ("very very very good", ["xxwrep", "3", "very", "good"]),
    ("no no no no!", ["xxwrep", "4", "no", "!"]),
    ("very very good", ["very", "very", "good"]),
    ("the the theory", ["the", "the", "theory"]),
    ("a<br />b<br>c<BR/>d", ["a", "b", "c", "d"]),
    ("Tom &amp; Jerry", ["xxmaj", "tom", "&", "xxmaj", "jerry"]),
    ("&quot;hi&quot; &#39;x&#39;", ['"', "hi", '"', "'", "x", "'"]),
    ("  lots   of\n\tspace  ", ["lots", "of", "space"]),
    ("3.14 and 1,000 at 10:30", ["3.14", "and", "1,000", "at", "10:30"]),
    ("$100 or 50%", ["$", "100", "or", "50", "%"]),
    ("well-made 2nd", ["well", "-", "made", "2nd"]),
    (
        "the U.S. e.g. Mr. Smith",
        ["the", "xxup", "u.s.", "e.g.", "xxmaj", "mr.", "xxmaj", "smith"],
    ),
    ("mail a.b@c.com now", ["mail", "a.b@c.com", "now"]),
    ("see https://fast.ai/x?a=1.", ["see", "https://fast.ai/x?a=1", "."]),
    ("wait... (yes)", ["wait", "...", "(", "yes", ")"]),
    ("2013 @-@ 14 <unk> 1 @,@ 000", ["2013", "-", "14", "xxunk", "1,000"]),
    ("a\x00b\x07c", ["a", "b", "c"]),
    ("1990\x962000 ok\x85", ["1990", "–", "2000", "ok", "…"]),  # Windows-1252 mojibake
    ("I cannot. CANNOT", ["xxmaj", "i", "can", "not", ".", "xxup", "can", "xxup", "not"]),
    (
        "J. K. Rowling, Acme Co.",
        ["xxup", "j.", "xxup", "k.", "xxmaj", "rowling", ",", "xxmaj", "acme", "xxmaj", "co."],
    ),
    ("''hi''", ["''", "hi", "''"]),
    ("naïve café", ["naïve", "café"]),
    ("cafe\u0301 नमस्ते", ["cafe\u0301", "नमस्ते"]),
    ("👍🏽 👨\u200d👩\u200d👧!", ["👍🏽", "👨\u200d👩\u200d👧", "!"]),
    ("مرحبا بالعالم", ["مرحبا", "بالعالم"]),
]


@pytest.mark.parametrize("text,expected", RULES)
def test_rules(text: str, expected: list[str]) -> None:
    assert tok(text) == [BOS, *expected]


@pytest.mark.parametrize(
    "settings,text,expected",
    [
        ({"add_eos": True}, "Hi", [BOS, "xxmaj", "hi", EOS]),
        ({"add_bos": False}, "Hi", ["xxmaj", "hi"]),
        ({"lowercase": False}, "Hi THERE", [BOS, "Hi", "THERE"]),
        ({"replace_rep": False}, "no!!!!", [BOS, "no", "!", "!", "!", "!"]),
        ({"replace_wrep": False}, "go go go", [BOS, "go", "go", "go"]),
        ({"fix_html": False}, "a &amp; b", [BOS, "a", "&", "amp", ";", "b"]),
    ],
)
def test_rule_switches(settings: dict, text: str, expected: list[str]) -> None:
    assert WordTokenizer(**settings)(text) == expected


def test_fields_are_marked() -> None:
    assert tok(("A title", "the body")) == [
        BOS,
        "xxfld",
        "1",
        "xxmaj",
        "a",
        "title",
        "xxfld",
        "2",
        "the",
        "body",
    ]
    assert tok(("only one",)) == [BOS, "only", "one"]  # a list is several texts (the course's)


def test_special_tokens_in_order() -> None:
    assert SPECIAL_TOKENS == (
        "xxunk",
        "xxpad",
        "xxbos",
        "xxeos",
        "xxfld",
        "xxrep",
        "xxwrep",
        "xxup",
        "xxmaj",
    )


@pytest.mark.parametrize(
    "text",
    [
        "Hello, world! I don't think it's (really) that good.",
        "The U.S. economy grew 3.5% in 2019; analysts were surprised.",
        'She said "yes" and left.',
        "NASA launched a rocket: it worked!",
        "Wow!!!! That was sooooo good.",
        "It was a very very very long well-known film, Mr. Smith's best.",
        "It costs $20 [or so] and I'm fine with that?",
    ],
)
def test_detokenize_round_trip(text: str) -> None:
    assert detokenize(tok(text)) == " ".join(text.split())


@pytest.mark.parametrize(
    "tokens,expected",
    [
        (["xxmaj", "xxunk"], "xxunk"),
        (["xxup", "xxunk", "is", "xxmaj", "here"], "xxunk is Here"),
        (["xxbos", "xxmaj", "xxmaj", "the", "xxup", "xxbos", "end"], "The end"),
        (["xxmaj", "xxfake", "xxup", "xxfake3"], "xxfake xxfake3"),
        (["xxrep", "3", "xxunk"], "xxunk xxunk xxunk"),
        (["a", "xxunk", ",", "xxmaj", "xxeos", "b"], "a xxunk, b"),
    ],
)
def test_case_markers_leave_special_tokens_whole(tokens: list[str], expected: str) -> None:
    assert detokenize(tokens) == expected


# Tokens a language model may emit in any order: specials, words, numbers, punctuation.
ANY_TOKEN = st.sampled_from(
    [*SPECIAL_TOKENS, "xxfake", "the", "film", "i", "n't", "'s", "3", "12", ".", ",", "!", "("]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(ANY_TOKEN, max_size=30))
def test_detokenize_never_mangles_special_tokens(tokens: list[str]) -> None:
    text = detokenize(tokens)
    for special in [*SPECIAL_TOKENS, "xxfake"]:
        assert special.capitalize() not in text and special.upper() not in text
    if not {"xxrep", "xxwrep"} & set(tokens):  # no repeat to expand: each xxunk kept once
        assert text.count("xxunk") == tokens.count("xxunk")
    if not {"xxrep", "xxwrep", "n't", "'s"} & set(tokens):  # clitics glue to the word before
        again = WordTokenizer(add_bos=False, replace_wrep=False)(text)
        assert again.count("xxunk") == tokens.count("xxunk")


ROUND_TRIP_WORDS = st.sampled_from(
    ["the", "film", "Good", "BAD", "I", "A", "NASA", "it", "don't", "It's", "xxunk", "3.5"]
    + ["1,000", "well-made", "café", "Ōsaka", "مرحبا", "👍", "naïve", "soooo", "x"]
)
ROUND_TRIP_ENDS = st.sampled_from(["", "", ",", ".", "!", "?", ";", ":", "...", "!!!!", "%"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(ROUND_TRIP_WORDS, ROUND_TRIP_ENDS).map("".join), max_size=20))
def test_detokenize_round_trips_words_and_punctuation(words: list[str]) -> None:
    """Words in any case (not mixed: McDonald loses its inner capital) with trailing
    punctuation, one space apart, come back exactly, and so do their tokens."""
    text = " ".join(words)
    tokens = tok(text)
    assert detokenize(tokens) == text
    assert tok(detokenize(tokens)) == tokens


def test_detokenize_fields_and_clipping() -> None:
    assert detokenize(tok(("Title", "Body text"))) == "Title\nBody text"
    assert detokenize(["xxbos", "xxrep", "99999999", "!"], max_repeat=5) == "!!!!!"
    assert detokenize(["xxmaj"]) == "" and detokenize([]) == ""


WEIRD = st.sampled_from(
    list("aAzZ09 .,!?'’\"-@:/<>&;#_\n\t")
    + ["\u0301", "\u200d", "\u200c", "\ufe0f", "👍", "🏽"]
    + ["\u05d0", "\u0627", "\u202e", "\x00", "\x1f", "\x85", "\u2028", "\xa0", "İ", "ß", "ǅ"]
    + ["xxbos", "<br />", "&amp;", "n't", "'s", "http://", "www.", "U.S.", " @-@ ", "\ud800"]
)


def _check_tokens(tokens: list[str]) -> None:
    assert tokens[0] == BOS
    for t in tokens:
        assert t and isinstance(t, str)
        assert not any(c.isspace() for c in t), repr(t)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text() | st.lists(WEIRD, max_size=40).map("".join))
def test_any_text_tokenizes(text: str) -> None:
    tokens = tok(text)
    _check_tokens(tokens)
    detokenize(tokens)  # never crashes either


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=30), min_size=2, max_size=4))
def test_any_fields_tokenize(fields: list[str]) -> None:
    _check_tokens(tok(tuple(fields)))  # a tuple: the fields of one text


@pytest.mark.parametrize("text", ["", " \n\t ", "!?.,;:", "\u202e\u05d0\u0627", "\x00\x01\x7f"])
def test_degenerate_texts(text: str) -> None:
    _check_tokens(tok(text))


def test_one_megabyte_text() -> None:
    sentence = "Hello World! It's GREAT, isn't it... 3.5% of U.S. fans said sooooo. "
    text = sentence * 15_000
    tokens = tok(text)
    assert len(text) > 1_000_000
    _check_tokens(tokens)
    one = tok(sentence)[1:]  # the sentence's tokens repeat, nothing lost or merged at the seams
    assert tokens == [BOS, *one * 15_000]
    assert detokenize(tokens) == text.strip()


@pytest.mark.parametrize(
    "bad,type_name",
    [(None, "NoneType"), (math.nan, "float"), (3, "int"), (b"x", "bytes"), (("a", None), "tuple")],
)
def test_non_strings_raise(bad: object, type_name: str) -> None:
    with pytest.raises(TypeError, match=rf"text 2 .*Received: {type_name}"):
        tokenize_texts(["ok", "fine", bad])
    with pytest.raises(TypeError, match=type_name):
        tok(bad)  # type: ignore[arg-type]


CORPUS = [
    f"Review {i}: I {'LOVED' if i % 3 else 'hated'} it!!!! Don't miss it, "
    f"it's {'very ' * (i % 4)}good."
    for i in range(300)
] + ["", "<br />", ("Title", "Body")]


def test_parallel_equals_serial() -> None:
    serial = tokenize_texts(CORPUS, n_workers=1)
    assert serial == [tok(t) for t in CORPUS]
    assert tokenize_texts(CORPUS, n_workers=2, min_parallel_chars=0) == serial
    assert tokenize_texts(CORPUS, n_workers=3, min_parallel_chars=0) == serial


class PidTokenizer(WordTokenizer):
    def tokenize_batch(self, texts):  # type: ignore[no-untyped-def]
        return [[str(os.getpid())] for _ in texts]


def test_parallel_uses_worker_processes() -> None:
    pids = tokenize_texts(CORPUS, tokenizer=PidTokenizer(), n_workers=2, min_parallel_chars=0)
    assert len(pids) == len(CORPUS) and str(os.getpid()) not in {p for (p,) in pids}
    serial = tokenize_texts(CORPUS, tokenizer=PidTokenizer(), min_parallel_chars=10**9)
    assert {p for (p,) in serial} == {str(os.getpid())}


def test_parallel_falls_back_to_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoProcesses:
        def Pool(self, n: int) -> None:  # noqa: N802 (multiprocessing's name)
            raise OSError("no semaphores here")

    monkeypatch.setattr(parallel.mp, "get_context", lambda method=None: NoProcesses())
    with pytest.warns(UserWarning, match="worker processes failed"):
        assert tokenize_texts(CORPUS, n_workers=2, min_parallel_chars=0) == tokenize_texts(
            CORPUS, n_workers=1
        )


class CountingTokenizer(WordTokenizer):
    calls = 0

    def tokenize_batch(self, texts):  # type: ignore[no-untyped-def]
        CountingTokenizer.calls += 1
        return super().tokenize_batch(texts)


def test_cache_hit_does_not_retokenize(tmp_path) -> None:  # type: ignore[no-untyped-def]
    counting = CountingTokenizer()
    CountingTokenizer.calls = 0
    first = tokenize_texts(CORPUS, tokenizer=counting, n_workers=1, cache_dir=tmp_path)
    assert CountingTokenizer.calls == 1
    second = tokenize_texts(CORPUS, tokenizer=counting, n_workers=1, cache_dir=tmp_path)
    assert CountingTokenizer.calls == 1 and second == first
    (cache,) = tmp_path.glob("tokens-*.txt")  # plain text, never a pickle
    assert json.loads(cache.read_text("utf-8").split("\n")[0])["n_texts"] == len(CORPUS)
    tokenize_texts(CORPUS[:-1], tokenizer=counting, n_workers=1, cache_dir=tmp_path)
    tokenize_texts(CORPUS, tokenizer=CountingTokenizer(add_eos=True), cache_dir=tmp_path)
    assert CountingTokenizer.calls == 3 and len(list(tmp_path.glob("tokens-*.txt"))) == 3


def test_cache_survives_corruption_and_odd_text(tmp_path) -> None:  # type: ignore[no-untyped-def]
    texts = ["lone \ud800 surrogate", "", "x", "line\nbreaks\r\nand\u2028seps"]
    tok_no_bos = WordTokenizer(add_bos=False)
    first = tokenize_texts(texts, tokenizer=tok_no_bos, cache_dir=tmp_path)
    assert (
        first[1] == [] and tokenize_texts(texts, tokenizer=tok_no_bos, cache_dir=tmp_path) == first
    )
    (cache,) = tmp_path.glob("tokens-*.txt")
    cache.write_text("garbage")
    with pytest.warns(UserWarning, match="unreadable token cache"):
        assert tokenize_texts(texts, tokenizer=tok_no_bos, cache_dir=tmp_path) == first
    assert tokenize_texts(texts, tokenizer=tok_no_bos, cache_dir=tmp_path) == first


def test_word_tokenizer_state_round_trip() -> None:
    custom = WordTokenizer(add_eos=True, replace_wrep=False)
    state = json.loads(json.dumps(custom.to_state()))
    assert WordTokenizer.from_state(state) == custom


def test_tokenizer_from_state_rebuilds_either_kind() -> None:
    pytest.importorskip("tokenizers")
    word = WordTokenizer(add_eos=True, lowercase=False)
    sub = SubwordTokenizer(vocab_size=80, model="unigram", rules=word)
    sub.train(SUBWORD_CORPUS, n_workers=1)
    for original in (word, sub):
        state = json.loads(json.dumps(original.to_state()))  # as read from an export header
        rebuilt = tokenizer_from_state(state)
        assert type(rebuilt) is type(original)
        assert rebuilt.tokenize_batch(SUBWORD_CORPUS[:3]) == original.tokenize_batch(
            SUBWORD_CORPUS[:3]
        )
    assert tokenizer_from_state(word.to_state()) == word
    rebuilt_sub = tokenizer_from_state(sub.to_state())
    assert rebuilt_sub.rules == word and rebuilt_sub.model == "unigram"
    assert rebuilt_sub.itos == sub.itos
    for bad in ({"type": "spacy"}, {"fix_html": True}, ["word"], None):
        with pytest.raises(ValueError, match="tokenizer state"):
            tokenizer_from_state(bad)  # type: ignore[arg-type]


SUBWORD_CORPUS = [
    "The quick brown fox jumps over the lazy dog. I don't like it!!!!",
    "A TINY corpus, with Capitals and some repeated repeated repeated words.",
    "Subword tokenizers split rare words into frequent pieces.",
] * 30


@pytest.mark.parametrize("model", ["bpe", "unigram"])
def test_subword_tokenizer(model: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("tokenizers")
    sub = SubwordTokenizer(vocab_size=120, model=model).train(SUBWORD_CORPUS, n_workers=1)
    tokens = sub("The TINY fox doesn't split!!!!")
    assert tokens[:3] == [BOS, "xxmaj", "▁the"] or tokens[:2] == [BOS, "xxmaj"]
    assert {"xxup", "xxrep"} <= set(tokens)
    assert all(t and not any(c.isspace() for c in t) for t in tokens)
    assert sub.itos[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    for text in SUBWORD_CORPUS[:3]:
        assert sub.detokenize(sub(text)) == text
    sub.save(tmp_path / "sub.json")
    loaded = SubwordTokenizer.load(tmp_path / "sub.json")
    assert loaded.model == model and loaded.tokenize_batch(
        SUBWORD_CORPUS[:3]
    ) == sub.tokenize_batch(SUBWORD_CORPUS[:3])
    state = json.loads(json.dumps(sub.to_state()))
    assert SubwordTokenizer.from_state(state)(SUBWORD_CORPUS[0]) == sub(SUBWORD_CORPUS[0])
    assert tokenize_texts(SUBWORD_CORPUS[:3], tokenizer=sub, n_workers=1) == sub.tokenize_batch(
        SUBWORD_CORPUS[:3]
    )


@pytest.fixture(scope="module")
def trained_bpe() -> SubwordTokenizer:
    pytest.importorskip("tokenizers")
    return SubwordTokenizer(vocab_size=120, model="bpe").train(SUBWORD_CORPUS, n_workers=1)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text() | st.lists(WEIRD, max_size=40).map("".join))
def test_subword_tokenizer_takes_any_text(trained_bpe: SubwordTokenizer, text: str) -> None:
    tokens = trained_bpe(text)
    _check_tokens(tokens)
    trained_bpe.detokenize(tokens)  # never crashes either


def test_subword_tokenizer_one_megabyte_text(trained_bpe: SubwordTokenizer) -> None:
    sentence = "The quick brown fox, the LAZY dog!!!! مرحبا 👍🏽 "
    tokens = trained_bpe(sentence * 25_000)
    one = trained_bpe(sentence)[1:]
    assert tokens == [BOS, *one * 25_000]


def test_subword_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="'bpe' or 'unigram'"):
        SubwordTokenizer(model="wordpiece")
    with pytest.raises(RuntimeError, match="not trained"):
        SubwordTokenizer(vocab_size=100)("text")
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install tokenizers.*fastlearn\[text\]"):
        SubwordTokenizer(vocab_size=100).train(["some text"])
