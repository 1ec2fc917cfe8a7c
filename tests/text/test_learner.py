"""Text learners: training, generation, parameter groups for gradual unfreezing, encoder
hand-over, pretrained weights (fastlearn's and fastai's layout, vocabulary mapping), export."""

from __future__ import annotations

import pickle
from collections import OrderedDict

import pytest
import torch

from fastlearn import Callback, set_seed
from fastlearn.core.export import load_learner
from fastlearn.text import (
    AWD_LSTM,
    TextDataLoaders,
    language_model_learner,
    read_vocab_file,
    text_classifier_learner,
)
from fastlearn.text.ulmfit.pretrained import match_embeddings

from .helpers import TINY, clas_dls, corpus, lm_dls


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """allclose with float32 tolerances (torch.testing's first call imports for seconds)."""
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert torch.allclose(actual, expected, rtol=1.3e-6, atol=1e-5), (actual - expected).abs().max()


@pytest.fixture
def dls_lm() -> TextDataLoaders:
    return lm_dls()


def lm_learner(dls, **kwargs):
    set_seed(0)
    kwargs.setdefault("config", TINY)
    return language_model_learner(dls, AWD_LSTM, show_progress=False, **kwargs)


def test_language_model_trains_and_generates(dls_lm, tmp_path) -> None:
    untrained_loss = lm_learner(dls_lm).validate()[0]  # the same seed: the same start
    learn = lm_learner(dls_lm, path=tmp_path)
    learn.fit_one_cycle(2, 3e-2)
    history = learn.recorder.history
    assert set(history[-1]) >= {"train_loss", "valid_loss", "accuracy", "perplexity"}
    # ~3.18 untrained, ~2.91 after two epochs; the tiny corpus keeps accuracy near 6%
    assert history[-1]["valid_loss"] < history[0]["valid_loss"] < untrained_loss - 0.1
    assert history[-1]["perplexity"] == pytest.approx(
        float(torch.tensor(history[-1]["valid_loss"]).exp()), rel=1e-4
    )
    text = learn.predict("Good movie", n_words=7, temperature=0.75)
    assert text.startswith("Good movie") and len(text.split()) > 2
    assert "xxunk" not in text and learn.model[0].hidden is None


def test_splitters_give_groups_for_gradual_unfreezing(dls_lm) -> None:
    learn = lm_learner(dls_lm)
    assert learn.n_groups == TINY["n_layers"] + 1  # one per LSTM, then embedding + decoder
    n_params = sum(len(g["params"]) for g in learn.make_opt().param_groups)
    assert n_params == len(list(learn.model.parameters()))  # the tied weight once
    clas = text_classifier_learner(clas_dls(dls_lm), AWD_LSTM, config=TINY, show_progress=False)
    assert clas.n_groups == TINY["n_layers"] + 2  # embedding, LSTMs, head
    clas.freeze_to(-2)
    encoder, head = clas.model[0].module, clas.model[1]
    assert all(p.requires_grad for p in [*encoder.rnns[-1].parameters(), *head.parameters()])
    assert not any(
        p.requires_grad for p in [*encoder.rnns[0].parameters(), *encoder.encoder.parameters()]
    )
    clas.freeze()
    bn = [p for m in head.modules() if isinstance(m, torch.nn.BatchNorm1d) for p in m.parameters()]
    assert all(p.requires_grad for p in bn) and not encoder.rnns[-1].weight_ih.requires_grad
    clas.unfreeze()
    assert all(p.requires_grad for p in clas.model.parameters())


def test_ar_tar_are_added_to_the_training_loss(dls_lm) -> None:
    class Spy(Callback):
        order = 10

        def after_loss(self, learn):
            if learn.training:
                dec = learn.model[1]
                assert dec.raw_output is None  # consumed by the regulariser, which ran first
                self.extra = float(learn.loss_grad.detach() - learn.loss)

    class Before(Callback):
        order = -10

        def after_loss(self, learn):
            if learn.training:
                dec = learn.model[1]
                raw, drop = dec.raw_output.detach(), dec.dropped_output.detach()
                self.expected = float(
                    2 * drop.pow(2).mean() + 1 * (raw[:, 1:] - raw[:, :-1]).pow(2).mean()
                )

    spy, before = Spy(), Before()
    learn = lm_learner(dls_lm, cbs=[spy, before])
    learn.fit(1, 1e-3)
    assert spy.extra == pytest.approx(before.expected, rel=1e-4) and spy.extra > 0


def test_save_encoder_then_load_encoder(dls_lm, tmp_path) -> None:
    learn = lm_learner(dls_lm, path=tmp_path)
    learn.fit(1, 1e-2)
    path = learn.save_encoder("enc")
    assert path == tmp_path / "models" / "enc.pth"
    clas = text_classifier_learner(
        clas_dls(dls_lm), AWD_LSTM, config=TINY, show_progress=False, path=tmp_path
    )
    clas.load_encoder("enc")
    mine, theirs = clas.model[0].module.state_dict(), learn.model[0].state_dict()
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)
    assert clas.model[1].layers[-1][-1].weight.requires_grad  # frozen but for the head
    assert not clas.model[0].module.rnns[-1].weight_hh.requires_grad
    clas.fit_one_cycle(1, 1e-2)
    with pytest.raises(FileNotFoundError, match="save_encoder"):
        clas.load_encoder("nope")
    big = text_classifier_learner(
        clas_dls(dls_lm),
        AWD_LSTM,
        config={**TINY, "emb_sz": 12},
        show_progress=False,
        path=tmp_path,
    )
    with pytest.raises(ValueError, match="sizes"):
        big.load_encoder("enc")


def test_new_words_get_the_mean_embedding(dls_lm, tmp_path) -> None:
    learn = lm_learner(dls_lm, path=tmp_path)
    learn.save_encoder("enc")
    other = corpus(words=["zebra", "bad", "movie", "unicorn", "good"])
    dls = TextDataLoaders.from_df(
        other, "text", "label", "is_valid", min_freq=1, bs=8, seq_len=8, device="cpu"
    )
    clas = text_classifier_learner(
        dls, AWD_LSTM, config=TINY, show_progress=False, path=tmp_path
    ).load_encoder("enc")
    old = learn.model[0].encoder.weight.detach()
    new = clas.model[0].module.encoder.weight.detach()
    old_index = dls_lm.text_vocab.stoi
    for i, word in enumerate(dls.text_vocab.itos):
        expected = old[old_index[word]] if word in old_index else old.mean(0)
        assert_close(new[i], expected)
    assert "zebra" not in old_index and "movie" in old_index


def test_match_embeddings_against_a_hand_mapping() -> None:
    weights, bias = torch.arange(12.0).view(4, 3), torch.tensor([1.0, 2.0, 3.0, 6.0])
    enc, new_bias = match_embeddings(
        {"encoder.weight": weights}, bias, ["a", "b", "c", "d"], ["c", "new", "a"]
    )
    assert enc["encoder.weight"].tolist() == [[6, 7, 8], [4.5, 5.5, 6.5], [0, 1, 2]]
    assert new_bias.tolist() == [3, 3, 1]


def fastai_layout(state: dict[str, torch.Tensor]) -> OrderedDict:
    """fastlearn LM weights renamed as fastai's WT103 file names them."""
    out = OrderedDict()
    out["0.encoder.weight"] = state["0.encoder.weight"]
    out["0.encoder_dp.emb.weight"] = state["0.encoder.weight"].clone()
    layers = sorted({k.split(".")[2] for k in state if k.startswith("0.rnns.")})
    for layer in layers:
        pre = f"0.rnns.{layer}"
        out[f"{pre}.weight_hh_l0_raw"] = state[f"{pre}.weight_hh"]
        out[f"{pre}.module.weight_ih_l0"] = state[f"{pre}.weight_ih"]
        out[f"{pre}.module.weight_hh_l0"] = torch.zeros_like(state[f"{pre}.weight_hh"])
        out[f"{pre}.module.bias_ih_l0"] = state[f"{pre}.bias_ih"]
        out[f"{pre}.module.bias_hh_l0"] = state[f"{pre}.bias_hh"]
    out["1.decoder.weight"] = state["1.decoder.weight"]
    out["1.decoder.bias"] = state["1.decoder.bias"]
    return out


def test_pretrained_from_fastai_files(dls_lm, tmp_path) -> None:
    source = lm_learner(dls_lm)
    with torch.no_grad():
        source.model[1].decoder.bias.normal_()
    torch.save(fastai_layout(source.model.state_dict()), tmp_path / "lstm_fwd.pth")
    (tmp_path / "itos_wt103.pkl").write_bytes(pickle.dumps(list(dls_lm.text_vocab.itos)))
    for pretrained in ((tmp_path / "lstm_fwd.pth", tmp_path / "itos_wt103.pkl"), tmp_path):
        learn = language_model_learner(dls_lm, AWD_LSTM, pretrained=pretrained, show_progress=False)
        mine, ref = learn.model.state_dict(), source.model.state_dict()
        assert all(torch.equal(mine[k], ref[k]) for k in ref)  # sizes taken from the file
        assert learn.model[0].emb_sz == TINY["emb_sz"]
        assert not learn.model[0].rnns[0].weight_ih.requires_grad  # frozen
        assert learn.model[0].encoder.weight.requires_grad
    with pytest.raises(ValueError, match="differ from the pretrained"):
        language_model_learner(dls_lm, AWD_LSTM, config={"emb_sz": 400}, pretrained=tmp_path)


def test_vocab_pickles_with_objects_are_refused(tmp_path) -> None:
    (tmp_path / "vocab.pkl").write_bytes(pickle.dumps(OrderedDict(a=1)))
    with pytest.raises(pickle.UnpicklingError, match="only a plain list of strings"):
        read_vocab_file(tmp_path / "vocab.pkl")
    (tmp_path / "v.json").write_text('["xxunk", "xxpad", "a"]')
    (tmp_path / "v.txt").write_text("xxunk\nxxpad\na\n")
    assert read_vocab_file(tmp_path / "v.json") == read_vocab_file(tmp_path / "v.txt")
    (tmp_path / "bad.json").write_text('{"itos": [1, 2]}')
    with pytest.raises(ValueError, match="list of tokens"):
        read_vocab_file(tmp_path / "bad.json")


def test_pretrained_from_an_exported_fastlearn_lm(dls_lm, tmp_path) -> None:
    source = lm_learner(dls_lm, path=tmp_path)
    source.export("lm.fl")
    other = lm_dls(corpus(seed=1), min_freq=2)
    learn = language_model_learner(
        other, AWD_LSTM, pretrained=tmp_path / "lm.fl", show_progress=False
    )
    old_index = dls_lm.text_vocab.stoi
    word = next(w for w in other.text_vocab.itos if w in old_index and w.isalpha())
    assert_close(
        learn.model[0].encoder.weight[other.text_vocab.stoi[word]],
        source.model[0].encoder.weight[old_index[word]],
    )


def test_export_and_load_learner_predict_like_the_learner(dls_lm, tmp_path) -> None:
    clas = text_classifier_learner(
        clas_dls(dls_lm), AWD_LSTM, config=TINY, show_progress=False, path=tmp_path
    )
    clas.fit(1, 1e-2)
    predictor = load_learner(clas.export("clas.fl"))
    texts = ["Good good movie, great fun.", "Bad awful plot."]
    for text in texts:
        label, index, probs = clas.predict(text)
        p_label, p_index, p_probs = predictor.predict(text)
        assert p_label == label and int(p_index) == int(index)
        assert_close(p_probs, probs)
    assert predictor.info()["vocab"] == ["neg", "pos"]
    lm = lm_learner(dls_lm, path=tmp_path)
    gen = load_learner(lm.export("lm.fl"))
    set_seed(1)
    from_file = gen.generate("Good movie", n_words=5, temperature=0)
    assert from_file == lm.predict("Good movie", n_words=5, temperature=0)


def test_export_header_rebuilds_a_subword_tokenizer(tmp_path) -> None:
    pytest.importorskip("tokenizers")
    from fastlearn.core.export import read_model_file
    from fastlearn.text import SubwordTokenizer

    sub = SubwordTokenizer(vocab_size=40, model="bpe")
    dls = TextDataLoaders.from_df(
        corpus(), "text", "label", "is_valid", tokenizer=sub, min_freq=1, bs=8, device="cpu"
    )
    set_seed(0)
    clas = text_classifier_learner(dls, AWD_LSTM, config=TINY, show_progress=False, path=tmp_path)
    path = clas.export("clas.fl")
    config, _ = read_model_file(path)
    assert config["preprocessing"]["tokenizer"]["type"] == "subword"  # plain JSON in the header
    predictor = load_learner(path)
    assert isinstance(predictor.tokenizer, SubwordTokenizer)
    texts = ["Good good movie, great fun.", "Bad awful plot, dull scene."]
    assert predictor.tokenizer.tokenize_batch(texts) == sub.tokenize_batch(texts)
    for text in texts:
        label, _, probs = clas.predict(text)
        p_label, _, p_probs = predictor.predict(text)
        assert p_label == label
        assert_close(p_probs, probs)


ODD_TEXTS = ["", "   \n\t", "!?...", "👍🏽 café\u0301", "مرحبا بالعالم", "\u202e\x00"]


def test_degenerate_texts_predict_and_generate(dls_lm, tmp_path) -> None:
    clas = text_classifier_learner(
        clas_dls(dls_lm), AWD_LSTM, config=TINY, show_progress=False, path=tmp_path
    )
    predictor = load_learner(clas.export("clas.fl"))
    for text in ODD_TEXTS:
        label, index, probs = clas.predict(text)
        assert label in ("neg", "pos") and label == ["neg", "pos"][int(index)]
        assert torch.isfinite(probs).all() and abs(float(probs.sum()) - 1) < 1e-5
        p_label, _, p_probs = predictor.predict(text)
        assert p_label == label
        assert_close(p_probs, probs)
    lm = lm_learner(dls_lm, path=tmp_path)
    for text in ODD_TEXTS:
        generated = lm.predict(text, n_words=4, temperature=0)
        assert isinstance(generated, str) and "Xx" not in generated and "XX" not in generated
    for bad in (None, 3, float("nan"), b"bytes"):
        with pytest.raises(TypeError, match="Received"):
            clas.predict(bad)
        with pytest.raises(TypeError, match="Received"):
            predictor.predict(bad)


def test_learners_check_their_inputs(dls_lm) -> None:
    with pytest.raises(TypeError, match="language model"):
        language_model_learner(clas_dls(dls_lm), AWD_LSTM)
    with pytest.raises(TypeError, match="classifier"):
        text_classifier_learner(dls_lm, AWD_LSTM)
    with pytest.raises(ValueError, match="AWD_LSTM"):
        language_model_learner(dls_lm, torch.nn.LSTM)
    with pytest.raises(TypeError, match="str prompt"):
        lm_learner(dls_lm).predict(["a"])
