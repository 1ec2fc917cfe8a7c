"""HFTokenize: texts or text pairs -> token ids with a HuggingFace fast tokenizer, in batch
mode, truncated to `max_len` and right-padded into one tensor (the tokenizer is an object
passed in, so this module imports nothing from transformers).

    >>> tokenize = HFTokenize(tokenizer, max_len=128)
    >>> tokenize(["a first text", "a second, longer text"])["input_ids"]  # (2, T) int32
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any

import torch

__all__ = ["HFTokenize", "as_text", "Item"]

Item = str | tuple[str, str]


class HFTokenize:
    """Texts (or text pairs) -> right-padded token ids, truncated to `max_len`, in batch mode.

    `truncation`: "head" keeps the first tokens (the tokenizer's own truncation, pairs
    shortened longest first), "head_tail" keeps the first quarter and the last three quarters
    of a long single text (reviews end with their verdict), special tokens kept in place.
    An item that encodes to no token at all (an empty text, with a tokenizer that adds no
    special tokens, as GPT-2's) is read as one token, `empty_id` (eos, sep, unk or pad), so
    that every row has something for the model to attend to.
    """

    def __init__(
        self, tokenizer: Any, max_len: int = 256, *, pair: bool = False, truncation: str = "head"
    ) -> None:
        model_max = getattr(tokenizer, "model_max_length", None) or 0
        if max_len < 4 or (0 < model_max < 10**6 and max_len > model_max):
            raise ValueError(
                f"Expected 4 <= max_len <= {model_max} (the tokenizer's "
                f"model_max_length). Received: max_len={max_len}."
            )
        if truncation not in ("head", "head_tail") or (pair and truncation != "head"):
            raise ValueError(
                f"Expected truncation 'head' (or 'head_tail' for single texts). "
                f"Received: {truncation!r}{' for pairs' if pair else ''}."
            )
        self.tokenizer, self.max_len, self.pair = tokenizer, max_len, pair
        self.truncation = truncation
        self.with_types = "token_type_ids" in getattr(tokenizer, "model_input_names", ())
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else (tokenizer.eos_token_id or 0))
        candidates = (
            getattr(tokenizer, name, None)
            for name in ("eos_token_id", "sep_token_id", "unk_token_id")
        )
        self.empty_id = int(next((c for c in candidates if c is not None), self.pad_id))

    def check_item(self, item: Any) -> Item:
        """One text (or pair) as the model reads it; anything else is a clear error."""
        if self.pair:
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise TypeError(
                    f"This model reads pairs of texts. Expected (text_a, text_b). "
                    f"Received: {type(item).__name__} {str(item)[:60]!r}."
                )
            return (as_text(item[0]), as_text(item[1]))
        if not isinstance(item, str):
            raise TypeError(
                f"This model reads one text per item. Expected a str. Received: "
                f"{type(item).__name__} {str(item)[:60]!r}."
            )
        return item

    def __call__(self, items: Sequence[Item], chunk: int = 8192) -> dict[str, torch.Tensor]:
        """`input_ids` (N, T) int32 padded with `pad_id`, `token_type_ids` (N, T) int8 when the
        model takes them, `lengths` (N,) int64; T is the longest encoded item."""
        ids: list[list[int]] = []
        types: list[list[int]] = []
        head = self.truncation == "head"
        for i in range(0, len(items), chunk):  # bounded memory on large corpora
            part = items[i : i + chunk]
            args = ([a for a, _ in part], [b for _, b in part]) if self.pair else (list(part),)
            enc = self.tokenizer(
                *args,
                truncation=head,
                max_length=self.max_len if head else None,
                padding=False,
                return_attention_mask=False,
                return_token_type_ids=self.with_types,
                verbose=False,
            )
            ids += enc["input_ids"] if head else [self._head_tail(x) for x in enc["input_ids"]]
            if self.with_types:
                types += (
                    enc["token_type_ids"]
                    if head
                    else [self._head_tail(x) for x in enc["token_type_ids"]]
                )
        for j in (j for j, row in enumerate(ids) if not row):  # nothing to attend to
            ids[j] = [self.empty_id]
            if self.with_types:
                types[j] = [0]
        lengths = torch.tensor([len(x) for x in ids], dtype=torch.long)
        width = int(lengths.max()) if len(ids) else 0
        filled = torch.arange(width) < lengths[:, None]  # (N, T)
        out = {"input_ids": _pad(ids, filled, self.pad_id, torch.int32), "lengths": lengths}
        if self.with_types:
            out["token_type_ids"] = _pad(types, filled, 0, torch.int8)
        return out

    def _head_tail(self, row: list[int]) -> list[int]:
        if len(row) <= self.max_len:
            return row
        n_head = self.max_len // 4
        return row[:n_head] + row[len(row) - (self.max_len - n_head) :]


def _pad(rows: list[list[int]], filled: torch.Tensor, value: int, dtype: torch.dtype):
    out = torch.full(filled.shape, value, dtype=dtype)
    out[filled] = torch.tensor(list(chain.from_iterable(rows)), dtype=dtype)
    return out


def as_text(value: Any) -> str:
    """A cell as text: missing values (None, NaN) become "", other values `str(value)`."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return value if isinstance(value, str) else str(value)
