"""AWD-LSTM: each dropout against a hand computation, tied weights, drop_mult, the stateful
encoder, chunked document encoding and concat pooling against independent references."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fastlearn.text.ulmfit.awd_lstm import (
    AWD_LSTM,
    LanguageModel,
    RNNDropout,
    SentenceEncoder,
    TextClassifier,
    WeightDropLSTM,
    awd_lstm_clas_config,
    awd_lstm_lm_config,
    masked_concat_pool,
)

TINY = {"emb_sz": 8, "n_hid": 12, "n_layers": 2}
DROPS = {"output_p": 0.1, "hidden_p": 0.2, "input_p": 0.3, "embed_p": 0.4, "weight_p": 0.5}


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """allclose with float32 tolerances (torch.testing's first call imports for seconds)."""
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert torch.allclose(actual, expected, rtol=1.3e-6, atol=1e-5), (actual - expected).abs().max()


def lstm_reference(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """A plain LSTM, one step at a time (gates i, f, g, o)."""
    outs = []
    for t in range(x.shape[1]):
        gates = x[:, t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh
        i, f, g, o = gates.chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outs.append(h)
    return torch.stack(outs, 1), h, c


def test_weight_drop_lstm_matches_a_hand_lstm_in_eval_and_in_training() -> None:
    torch.manual_seed(0)
    rnn = WeightDropLSTM(5, 6, weight_p=0.5)
    x, h0 = torch.randn(3, 7, 5), (torch.randn(1, 3, 6), torch.randn(1, 3, 6))
    rnn.eval()
    out, (h, c) = rnn(x, h0)
    ref, ref_h, ref_c = lstm_reference(
        x, h0[0][0], h0[1][0], rnn.weight_ih, rnn.weight_hh, rnn.bias_ih, rnn.bias_hh
    )
    assert_close(out, ref)
    assert_close(h[0], ref_h)
    rnn.train()
    torch.manual_seed(1)
    out = rnn(x, h0)[0]
    torch.manual_seed(1)
    w_ih, w_hh, b_ih, b_hh = rnn.weights()  # the same mask: drawn first in forward
    assert_close(out, lstm_reference(x, h0[0][0], h0[1][0], w_ih, w_hh, b_ih, b_hh)[0])


def test_weight_dropout_zeroes_hh_weights_in_training_only() -> None:
    torch.manual_seed(0)
    rnn = WeightDropLSTM(5, 16, weight_p=0.5).train()
    w_ih, w_hh, _, _ = rnn.weights()
    dropped = w_hh == 0
    assert 0.3 < dropped.float().mean() < 0.7  # single weights, not whole rows
    assert not dropped.all(1).any()
    assert_close(w_hh[~dropped], rnn.weight_hh[~dropped] * 2)
    assert w_ih is rnn.weight_ih  # input-to-hidden untouched
    rnn.eval()
    assert rnn.weights()[1] is rnn.weight_hh
    # gradients reach only the kept entries of the raw weights
    rnn.train()
    x, h0 = torch.randn(2, 4, 5), (torch.zeros(1, 2, 16), torch.zeros(1, 2, 16))
    torch.manual_seed(2)
    rnn(x, h0)[0].sum().backward()
    torch.manual_seed(2)
    kept = rnn.weights()[1] != 0
    assert (rnn.weight_hh.grad[~kept] == 0).all()


def test_eval_lstm_equals_torch_lstm() -> None:
    torch.manual_seed(0)
    rnn, ref = WeightDropLSTM(4, 5, 0.3).eval(), nn.LSTM(4, 5, batch_first=True)
    with torch.no_grad():
        for mine, theirs in zip(rnn.parameters(), ref.parameters()):
            theirs.copy_(mine)
    x = torch.randn(2, 6, 4)
    zeros = (torch.zeros(1, 2, 5), torch.zeros(1, 2, 5))
    assert_close(rnn(x, zeros)[0], ref(x, zeros)[0])


def test_embedding_dropout_drops_whole_words() -> None:
    torch.manual_seed(0)
    enc = AWD_LSTM(50, **TINY, embed_p=0.5, input_p=0, hidden_p=0, weight_p=0).train()
    ids = torch.tensor([[3, 4, 3, 5, 3, 4] * 4])
    emb = enc.embed(ids)[0]
    full = enc.encoder.weight[ids[0]]
    for row, word in zip(emb, ids[0].tolist()):
        same = emb[ids[0] == word]
        assert torch.equal(same, same[:1].expand_as(same))  # one word, one fate
        assert torch.allclose(row, full[0] * 0) or torch.allclose(row, enc.encoder.weight[word] * 2)
    assert torch.equal(enc.eval().embed(ids), enc.encoder(ids))


def test_rnn_dropout_is_one_mask_per_sequence() -> None:
    torch.manual_seed(0)
    x = torch.ones(4, 9, 6)
    y = RNNDropout(0.5).train()(x)
    assert torch.equal(y, y[:, :1].expand_as(y))
    assert set(y.unique().tolist()) == {0.0, 2.0}
    assert torch.equal(RNNDropout(0.5).eval()(x), x)


def test_decoder_is_tied_to_the_embedding() -> None:
    lm = LanguageModel(30, TINY)
    enc, dec = lm[0].encoder.weight, lm[1].decoder.weight
    assert dec is enc and dec.data_ptr() == enc.data_ptr()
    assert len(list(lm.parameters())) == len({id(p) for p in lm.parameters()})
    lm(torch.randint(0, 30, (2, 5))).sum().backward()
    with torch.no_grad():  # a plain SGD step
        for p in lm.parameters():
            p -= 0.1 * p.grad
    assert torch.equal(lm[0].encoder.weight, lm[1].decoder.weight)


def _dropouts(model: nn.Module) -> dict[str, float]:
    enc = model[0] if isinstance(model[0], AWD_LSTM) else model[0].module
    found = {
        "embed_p": enc.embed_p,
        "input_p": enc.input_dp.p,
        "hidden_p": enc.hidden_dps[0].p,
        "weight_p": enc.rnns[0].weight_p,
    }
    if isinstance(model, LanguageModel):
        found["output_p"] = model[1].output_dp.p
    else:
        found["output_p"] = next(m.p for m in model[1].modules() if isinstance(m, nn.Dropout))
    assert all(r.weight_p == found["weight_p"] for r in enc.rnns)
    assert all(d.p == found["hidden_p"] for d in enc.hidden_dps)
    return found


@pytest.mark.parametrize("drop_mult", [0.0, 0.5, 2.0])
def test_drop_mult_scales_every_dropout(drop_mult: float) -> None:
    lm = LanguageModel(30, {**TINY, **DROPS}, drop_mult=drop_mult)
    clas = TextClassifier(30, 3, {**TINY, **DROPS}, drop_mult=drop_mult)
    expected = {k: pytest.approx(v * drop_mult) for k, v in DROPS.items()}
    assert _dropouts(lm) == expected
    if drop_mult:  # p=0 leaves no Dropout module in the head
        assert _dropouts(clas) == expected


def test_default_configs_are_the_papers_sizes() -> None:
    for config in (awd_lstm_lm_config, awd_lstm_clas_config):
        assert (config["emb_sz"], config["n_hid"], config["n_layers"]) == (400, 1152, 3)
    with pytest.raises(ValueError, match="Unknown AWD-LSTM config"):
        LanguageModel(10, {"emb_size": 3})


def test_encoder_state_is_carried_between_calls_until_reset() -> None:
    torch.manual_seed(0)
    enc = AWD_LSTM(40, **TINY).eval()
    ids = torch.randint(0, 40, (3, 12))
    whole = enc(ids)
    enc.reset()
    parts = torch.cat([enc(ids[:, :5]), enc(ids[:, 5:])], 1)
    assert_close(parts, whole)
    enc.reset()
    assert_close(enc(ids[:, :5]), whole[:, :5])
    assert enc.hidden is not None and not enc.hidden[0][0].requires_grad


def test_chunked_encoding_equals_one_shot_encoding() -> None:
    torch.manual_seed(0)
    awd = AWD_LSTM(40, **TINY).eval()
    ids = torch.randint(2, 40, (3, 23))
    chunked, mask = SentenceEncoder(awd, seq_len=5, pad_idx=1)(ids)
    one_shot, _ = SentenceEncoder(awd, seq_len=100, pad_idx=1)(ids)
    awd.reset()
    plain = awd(ids)  # the stateful encoder over the whole texts at once
    assert_close(chunked, one_shot)
    assert_close(chunked, plain)
    assert mask.all()


def test_a_text_padded_at_the_start_encodes_as_it_does_alone() -> None:
    torch.manual_seed(0)
    awd = AWD_LSTM(40, **TINY).eval()
    enc = SentenceEncoder(awd, seq_len=4, pad_idx=1)
    texts = [torch.randint(2, 40, (n,)) for n in (13, 6, 1, 9)]
    batch = torch.ones(4, 13, dtype=torch.long)
    for row, t in enumerate(texts):
        batch[row, 13 - len(t) :] = t
    out, mask = enc(batch)
    for row, t in enumerate(texts):
        alone, _ = enc(t[None])
        assert mask[row].sum() == len(t)
        assert_close(out[row][mask[row]], alone[0])


def test_max_len_keeps_the_last_tokens_of_each_text() -> None:
    awd = AWD_LSTM(40, **TINY).eval()
    batch = torch.randint(2, 40, (2, 20))
    batch[1, :12] = 1  # 8 real tokens
    _, mask = SentenceEncoder(awd, seq_len=4, pad_idx=1, max_len=6)(batch)
    assert mask.sum(1).tolist() == [6, 6]
    assert mask[0, 14:].all() and mask[1, 2:8].all() and not mask[1, 8:].any()


def test_outputs_before_every_kept_token_are_not_stored() -> None:
    torch.manual_seed(0)
    awd = AWD_LSTM(40, **TINY).eval()
    batch = torch.randint(2, 40, (2, 50))
    batch[1, :20] = 1  # 30 real tokens
    full, full_mask = SentenceEncoder(awd, seq_len=4, pad_idx=1, max_len=None)(batch)
    out, mask = SentenceEncoder(awd, seq_len=4, pad_idx=1, max_len=6)(batch)
    # kept: row 0 positions 44-49, row 1 positions 24-29; stored from chunk 24-27 on
    assert out.shape == (2, 26, TINY["emb_sz"]) and mask.shape == (2, 26)
    assert mask.sum(1).tolist() == [6, 6] and mask[0, 20:].all() and mask[1, :6].all()
    assert_close(out[mask], full[:, 24:][mask])
    assert full_mask[:, 24:][mask].all()


def test_concat_pool_ignores_padding() -> None:
    torch.manual_seed(0)
    out = torch.randn(3, 7, 4)
    lengths = [7, 3, 1]
    mask = torch.arange(7)[None] < torch.tensor(lengths)[:, None]
    out[~mask] = 1e6  # padded positions must not count
    pooled = masked_concat_pool(out, mask)
    for row, n in enumerate(lengths):
        real = out[row, :n]
        expected = torch.cat([real[-1], real.max(0).values, real.mean(0)])
        assert_close(pooled[row], expected)


@pytest.mark.parametrize("kind", ["lm", "classifier"])
def test_forward_backward_no_nan(kind: str) -> None:
    torch.manual_seed(0)
    model = (
        LanguageModel(30, {**TINY, **DROPS})
        if kind == "lm"
        else TextClassifier(30, 3, {**TINY, **DROPS}, seq_len=4)
    ).train()
    ids = torch.randint(2, 30, (4, 11))
    ids[2, :5] = 1
    out = model(ids)
    assert out.shape == ((4, 11, 30) if kind == "lm" else (4, 3))
    out.float().pow(2).mean().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_generate_is_greedy_at_temperature_zero_and_skips_banned_ids() -> None:
    torch.manual_seed(0)
    lm = LanguageModel(20, TINY).train()
    prompt = torch.tensor([2, 5, 7])
    a, _ = lm.generate(prompt, 6, temperature=0)
    b, _ = lm.generate(prompt, 6, temperature=0)
    assert torch.equal(a, b) and len(a) == 6
    assert lm.training and lm[0].hidden is None  # mode and state restored
    sampled, probs = lm.generate(prompt, 30, temperature=1.0, banned=list(range(10)))
    assert (sampled >= 10).all() and probs[:10].sum() == 0
