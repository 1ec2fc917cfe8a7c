"""AWD-LSTM (Merity et al. 2017), its language model and the ULMFiT classifier (Howard & Ruder
2018), as the course uses them.

    >>> lm = LanguageModel(vocab_sz=1000, config=awd_lstm_small_config)
    >>> lm(torch.randint(0, 1000, (4, 20))).shape   # (B, T, vocab)
    torch.Size([4, 20, 1000])

Regularisation, each probability scaled by `drop_mult`: embedding dropout (whole words, `embed_p`),
input dropout on the embeddings (`input_p`), DropConnect on each LSTM's hidden-to-hidden matrix
(`weight_p`), variational dropout between layers (`hidden_p`) and on the last layer's output
(`output_p`); "variational" = one mask per sequence, the same at every time step.

The encoder is stateful, as a language model over a stream needs: each call starts from the
hidden state the previous call left (detached: truncated back-propagation through time) until
`reset()`. The classifier's `SentenceEncoder` instead starts every batch of documents from zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...core.layers import LinBnDrop

__all__ = [
    "AWD_LSTM",
    "WeightDropLSTM",
    "RNNDropout",
    "LinearDecoder",
    "SequentialRNN",
    "LanguageModel",
    "SentenceEncoder",
    "PoolingLinearClassifier",
    "TextClassifier",
    "masked_concat_pool",
    "dropout_mask",
    "awd_lstm_lm_config",
    "awd_lstm_clas_config",
    "awd_lstm_small_config",
]

Hidden = list[tuple[Tensor, Tensor]]  # per layer: (h, c), each (1, B, n_out)

# fastai's defaults (emb 400, hidden 1152, 3 layers: the ULMFiT paper's sizes).
awd_lstm_lm_config: dict[str, Any] = dict(
    emb_sz=400, n_hid=1152, n_layers=3, pad_token=1, output_p=0.1, hidden_p=0.15, input_p=0.25,
    embed_p=0.02, weight_p=0.2)  # fmt: skip
awd_lstm_clas_config: dict[str, Any] = dict(
    emb_sz=400, n_hid=1152, n_layers=3, pad_token=1, output_p=0.4, hidden_p=0.3, input_p=0.4,
    embed_p=0.05, weight_p=0.5)  # fmt: skip
# A CPU-sized model (about 12x fewer LSTM multiply-adds per token); dropouts as the LM's.
awd_lstm_small_config: dict[str, Any] = {
    **awd_lstm_lm_config,
    "emb_sz": 200,
    "n_hid": 400,
    "n_layers": 2,
}
_DROPOUTS = ("output_p", "hidden_p", "input_p", "embed_p", "weight_p")


def scaled_config(config: dict[str, Any], drop_mult: float) -> dict[str, Any]:
    """`config` with every dropout probability multiplied by `drop_mult`."""
    unknown = sorted(set(config) - set(awd_lstm_lm_config))
    if unknown:
        raise ValueError(
            f"Unknown AWD-LSTM config keys {unknown}. Expected some of "
            f"{sorted(awd_lstm_lm_config)}."
        )
    return {k: v * drop_mult if k in _DROPOUTS else v for k, v in config.items()}


def dropout_mask(x: Tensor, size: Sequence[int], p: float) -> Tensor:
    """A mask like `x` (dtype, device) of `size`: 0 with probability p, else 1/(1-p)."""
    return x.new_empty(*size).bernoulli_(1 - p).div_(1 - p)


class RNNDropout(nn.Module):
    """Variational dropout: one mask per sequence, shared along time. x: (B, T, C)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        return x * dropout_mask(x, (x.size(0), 1, x.size(2)), self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class WeightDropLSTM(nn.Module):
    """A one-layer LSTM whose hidden-to-hidden weights get DropConnect while training.

    The dropped copy is made each call from the raw weights (`weight_hh`), so only the forward
    pass sees zeros; gradients flow to the kept entries. Gates in torch's order (i, f, g, o).
    """

    def __init__(self, n_in: int, n_out: int, weight_p: float = 0.0) -> None:
        super().__init__()
        self.n_in, self.n_out, self.weight_p = n_in, n_out, weight_p
        self.weight_ih = nn.Parameter(torch.empty(4 * n_out, n_in))
        self.weight_hh = nn.Parameter(torch.empty(4 * n_out, n_out))
        self.bias_ih = nn.Parameter(torch.empty(4 * n_out))
        self.bias_hh = nn.Parameter(torch.empty(4 * n_out))
        bound = 1 / math.sqrt(n_out)  # as nn.LSTM
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def weights(self) -> list[Tensor]:
        """[w_ih, w_hh (dropped while training), b_ih, b_hh]."""
        w_hh = self.weight_hh
        if self.training and self.weight_p > 0:
            w_hh = F.dropout(w_hh, self.weight_p, training=True)
        return [self.weight_ih, w_hh, self.bias_ih, self.bias_hh]

    def forward(self, x: Tensor, hidden: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple]:
        """x (B, T, n_in), hidden (h, c) each (1, B, n_out) -> out (B, T, n_out), (h, c)."""
        out, h, c = torch.lstm(
            x, hidden, self.weights(), True, 1, 0.0, self.training, False, True
        )  # biases, layers, dropout, train, bidirectional, batch_first
        return out, (h, c)

    def extra_repr(self) -> str:
        return f"{self.n_in}, {self.n_out}, weight_p={self.weight_p}"


class AWD_LSTM(nn.Module):  # noqa: N801 (the architecture's name, as the course writes it)
    """Embedding -> n_layers LSTMs (the last one emb_sz wide, so a decoder can be tied).

    Call it on token ids (B, T) to get the last layer's outputs (B, T, emb_sz), continuing
    from the state left by the previous call; `reset()` forgets it.
    """

    init_range = 0.1

    def __init__(
        self,
        vocab_sz: int,
        emb_sz: int = 400,
        n_hid: int = 1152,
        n_layers: int = 3,
        pad_token: int = 1,
        hidden_p: float = 0.2,
        input_p: float = 0.6,
        embed_p: float = 0.1,
        weight_p: float = 0.5,
    ) -> None:
        super().__init__()
        self.emb_sz, self.n_hid, self.n_layers, self.pad_token = emb_sz, n_hid, n_layers, pad_token
        self.embed_p = embed_p
        self.encoder = nn.Embedding(vocab_sz, emb_sz, padding_idx=pad_token)
        nn.init.uniform_(self.encoder.weight, -self.init_range, self.init_range)
        sizes = [emb_sz] + [n_hid] * (n_layers - 1) + [emb_sz]
        self.rnns = nn.ModuleList(
            WeightDropLSTM(sizes[i], sizes[i + 1], weight_p) for i in range(n_layers)
        )
        self.input_dp = RNNDropout(input_p)
        self.hidden_dps = nn.ModuleList(RNNDropout(hidden_p) for _ in range(n_layers - 1))
        self.hidden: Hidden | None = None

    def reset(self) -> None:
        """Forget the hidden state (the next call starts from zeros)."""
        self.hidden = None

    def zero_hidden(self, bs: int) -> Hidden:
        """Zero (h, c) for every layer, for a batch of `bs`."""
        w = self.encoder.weight
        return [(w.new_zeros(1, bs, rnn.n_out), w.new_zeros(1, bs, rnn.n_out)) for rnn in self.rnns]

    def embed(self, ids: Tensor) -> Tensor:
        """Embeddings (B, T, emb_sz), whole words dropped (the same word everywhere) in training."""
        emb = self.encoder(ids)
        if self.training and self.embed_p > 0:  # a mask over the vocabulary, looked up per token
            mask = dropout_mask(emb, (self.encoder.num_embeddings,), self.embed_p)
            emb = emb * mask[ids].unsqueeze(-1)
        return emb

    def forward_state(self, ids: Tensor, hidden: Hidden) -> tuple[Tensor, Hidden]:
        """Outputs (B, T, emb_sz) and the new state, from `hidden`; stateless."""
        x = self.input_dp(self.embed(ids))
        new_hidden = []
        for i, rnn in enumerate(self.rnns):
            x, h = rnn(x, hidden[i])
            new_hidden.append(h)
            if i < self.n_layers - 1:
                x = self.hidden_dps[i](x)
        return x, new_hidden

    def forward(self, ids: Tensor) -> Tensor:
        bs = ids.shape[0]
        if self.hidden is None or self.hidden[0][0].shape[1] != bs:
            self.hidden = self.zero_hidden(bs)
        out, hidden = self.forward_state(ids, self.hidden)
        self.hidden = [(h.detach(), c.detach()) for h, c in hidden]
        return out


class LinearDecoder(nn.Module):
    """Output dropout then a linear layer to the vocabulary, its weight tied to an embedding.

    While training it keeps the last input before and after dropout (`raw_output`,
    `dropped_output`) for the activation regularisers (AR/TAR, `RNNRegularizerCallback`).
    """

    def __init__(
        self,
        n_out: int,
        n_hid: int,
        output_p: float = 0.1,
        tie_encoder: nn.Embedding | None = None,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.decoder = nn.Linear(n_hid, n_out, bias=bias)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
        if bias:
            nn.init.zeros_(self.decoder.bias)
        if tie_encoder is not None:
            self.decoder.weight = tie_encoder.weight  # one Parameter, one storage
        self.output_dp = RNNDropout(output_p)
        self.raw_output: Tensor | None = None
        self.dropped_output: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        dropped = self.output_dp(x)
        if self.training:
            self.raw_output, self.dropped_output = x, dropped
        return self.decoder(dropped)


class SequentialRNN(nn.Sequential):
    """A Sequential whose `reset()` resets every child that has one."""

    def reset(self) -> None:
        """Forget recurrent state."""
        for child in self.children():
            if hasattr(child, "reset"):
                child.reset()


class LanguageModel(SequentialRNN):
    """AWD_LSTM encoder + tied LinearDecoder: ids (B, T) -> next-token logits (B, T, vocab).

    Built from plain JSON-able arguments (kept in `self.config`) so an export can rebuild it.
    """

    def __init__(
        self, vocab_sz: int, config: dict[str, Any] | None = None, drop_mult: float = 1.0
    ) -> None:
        config = dict(awd_lstm_lm_config if config is None else config)
        full = scaled_config({**awd_lstm_lm_config, **config}, drop_mult)
        output_p = full.pop("output_p")
        encoder = AWD_LSTM(vocab_sz, **full)
        decoder = LinearDecoder(vocab_sz, full["emb_sz"], output_p, tie_encoder=encoder.encoder)
        super().__init__(encoder, decoder)
        self.config = {"vocab_sz": vocab_sz, "config": config, "drop_mult": drop_mult}

    @torch.no_grad()
    def generate(
        self, ids: Tensor, n_words: int, temperature: float = 0.75, banned: Sequence[int] = ()
    ) -> tuple[Tensor, Tensor]:
        """Sample `n_words` ids after the prompt `ids` (1-d), one step at a time with the state
        carried; temperature 0 takes the most likely word. Returns (new ids, last step's
        probabilities). Runs in eval mode and leaves the model reset and in its previous mode.
        """
        was_training = self.training
        self.eval()
        self.reset()
        try:
            logits = self(ids[None])[0, -1]
            out, probs = [], logits.new_empty(0)
            for _ in range(n_words):
                logits = logits.float()
                logits[list(banned)] = -float("inf")
                probs = torch.softmax(logits / max(temperature, 1e-8), -1)
                nxt = torch.multinomial(probs, 1) if temperature > 0 else logits.argmax()[None]
                out.append(nxt)
                logits = self(nxt[None])[0, -1]
            return (torch.cat(out) if out else ids.new_empty(0)), probs
        finally:
            self.reset()
            self.train(was_training)


def _right_align(ids: Tensor, pad_idx: int) -> tuple[Tensor, Tensor]:
    """Move each row's leading pads to its end: (ids (B, L), lengths (B,))."""
    # False only on the leading pads (an int cumsum: ONNX's CumSum takes no booleans)
    is_text = (ids != pad_idx).long().cumsum(1) > 0
    lengths = is_text.sum(1)
    pos = torch.arange(ids.shape[1], device=ids.device)
    src = (pos + (ids.shape[1] - lengths)[:, None]).clamp(max=ids.shape[1] - 1)
    aligned = ids.gather(1, src).masked_fill(pos >= lengths[:, None], pad_idx)
    return aligned, lengths


class SentenceEncoder(nn.Module):
    """Runs an AWD_LSTM over whole documents in chunks of `seq_len`, the state carried across.

    ids (B, L) padded at the start -> outputs (B, L', emb_sz) and a mask (B, L'), True where an
    output is a real token within the last `max_len` of its text; L' = L, less the whole chunks
    before every text's kept tokens (their outputs are not stored, so a 1 MB text costs memory
    for its last `max_len` tokens only, as in fastai). Each text is read from its
    first real token, from a zero state, so a padded text encodes exactly as it does alone
    (the leading pads never enter the LSTM): rows are shifted so that the text comes first,
    and the outputs are in that layout (row r's token j at position j - its number of pads).
    A chunk skips the texts it holds nothing of. Gradients stop at chunk borders (truncated
    BPTT, as fastai) and chunks before every text's last `max_len` tokens run without them.
    """

    def __init__(
        self, module: AWD_LSTM, seq_len: int = 72, pad_idx: int = 1, max_len: int | None = 72 * 20
    ) -> None:
        super().__init__()
        self.module, self.seq_len, self.pad_idx, self.max_len = module, seq_len, pad_idx, max_len

    def reset(self) -> None:
        """Nothing to forget: every call starts from zero."""
        self.module.reset()

    def forward(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        ids, lengths = _right_align(ids, self.pad_idx)
        bs, total = ids.shape
        max_len = total if self.max_len is None else self.max_len
        start = (lengths - max_len).clamp(min=0)  # first kept position of each text
        # Outputs are stored from the chunk holding the first kept position of any text.
        first = int(start.min()) // self.seq_len * self.seq_len if bs else 0
        hidden = self.module.zero_hidden(bs)
        pieces = []  # per chunk (B, t, emb_sz); zeros where no output is kept
        for i in range(0, total, self.seq_len):
            rows = (lengths > i).nonzero().flatten()  # texts with tokens in this chunk
            chunk = ids[rows, i : i + self.seq_len]
            needed = bool((start[rows] < i + chunk.shape[1]).any())
            if len(rows):
                state = [(h[:, rows], c[:, rows]) for h, c in hidden]
                with torch.set_grad_enabled(needed and torch.is_grad_enabled()):
                    o, state = self.module.forward_state(chunk, state)
                for layer, (h, c) in enumerate(state):
                    hidden[layer][0][:, rows] = h.detach()
                    hidden[layer][1][:, rows] = c.detach()
            if i < first:
                continue
            zeros = self.module.encoder.weight.new_zeros(bs, chunk.shape[1], self.module.emb_sz)
            pieces.append(zeros.index_copy(0, rows, o) if len(rows) and needed else zeros)
        out = torch.cat(pieces, 1)  # (B, L - first, emb_sz)
        pos = torch.arange(first, total, device=ids.device)
        mask = (pos < lengths[:, None]) & (pos >= start[:, None])
        return out, mask


def masked_concat_pool(output: Tensor, mask: Tensor) -> Tensor:
    """[last kept output, max pool, mean pool] over the positions where `mask` is True.

    output (B, L, C), mask (B, L) -> (B, 3C). The "last" is the last True position per row.
    """
    pos = torch.arange(mask.shape[1], device=mask.device)
    last = (pos * mask).argmax(1)  # (B,)
    last_out = output[torch.arange(output.shape[0], device=output.device), last]
    m = mask[:, :, None]
    max_pool = output.masked_fill(~m, -float("inf")).max(1).values
    max_pool = torch.where(mask.any(1, keepdim=True), max_pool, 0.0)  # an empty text: zeros
    mean_pool = output.masked_fill(~m, 0).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
    return torch.cat([last_out, max_pool, mean_pool], 1)


class PoolingLinearClassifier(nn.Module):
    """Concat pooling then BatchNorm-Dropout-Linear blocks (ReLU between)."""

    def __init__(self, dims: Sequence[int], ps: Sequence[float]) -> None:
        super().__init__()
        if len(ps) != len(dims) - 1:
            raise ValueError(
                f"Expected one dropout per linear layer ({len(dims) - 1}). "
                f"Received: {len(ps)} ({list(ps)})."
            )
        acts = [nn.ReLU(inplace=True)] * (len(dims) - 2) + [None]
        self.layers = nn.Sequential(
            *[LinBnDrop(i, o, p=p, act=a) for i, o, p, a in zip(dims[:-1], dims[1:], ps, acts)]
        )

    def forward(self, encoded: tuple[Tensor, Tensor]) -> Tensor:
        output, mask = encoded
        return self.layers(masked_concat_pool(output, mask))


class TextClassifier(SequentialRNN):
    """SentenceEncoder(AWD_LSTM) + PoolingLinearClassifier: ids (B, L) -> logits (B, n_class).

    The head is [3 * emb_sz, *lin_ftrs, n_class] with dropouts [output_p, *ps] (ps default 0.1
    each), as fastai's `get_text_classifier`; `self.config` holds the JSON-able arguments.
    """

    def __init__(
        self,
        vocab_sz: int,
        n_class: int,
        config: dict[str, Any] | None = None,
        drop_mult: float = 1.0,
        lin_ftrs: Sequence[int] = (50,),
        ps: Sequence[float] | None = None,
        seq_len: int = 72,
        max_len: int | None = 72 * 20,
    ) -> None:
        config = dict(awd_lstm_clas_config if config is None else config)
        full = scaled_config({**awd_lstm_clas_config, **config}, drop_mult)
        output_p = full.pop("output_p")
        ps = [0.1] * len(lin_ftrs) if ps is None else list(ps)
        encoder = SentenceEncoder(AWD_LSTM(vocab_sz, **full), seq_len, full["pad_token"], max_len)
        head = PoolingLinearClassifier([full["emb_sz"] * 3, *lin_ftrs, n_class], [output_p, *ps])
        super().__init__(encoder, head)
        self.config = {
            "vocab_sz": vocab_sz,
            "n_class": n_class,
            "config": config,
            "drop_mult": drop_mult,
            "lin_ftrs": list(lin_ftrs),
            "ps": ps,
            "seq_len": seq_len,
            "max_len": max_len,
        }
