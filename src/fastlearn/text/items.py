"""What a text is, for both pipelines (ULMFiT and HuggingFace): a str, or a tuple of str
fields (several text columns); a missing text (NaN, None) is refused, never guessed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["Text", "check_text", "text_error"]

Text = str | Sequence[str]  # one text, or several fields of one text


def _is_fields(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and all(isinstance(f, str) for f in value)


def text_error(value: Any) -> str | None:
    """Why `value` is not a text (a str, or a non-empty tuple/list of str fields), or None
    when it is: the one missing-text policy of the DataBlock and HuggingFace loaders."""
    if isinstance(value, str) or (_is_fields(value) and len(value) > 0):
        return None
    return (
        "a text is a str (or a tuple of str, one per text column); a missing text (NaN, "
        "None) is refused. Fix: df[col] = df[col].fillna('') to read missing texts as "
        "empty, or drop those rows."
    )


def check_text(text: Any, index: int) -> None:
    """Raise a TypeError naming text `index` unless it is a str or a tuple/list of str."""
    if isinstance(text, str) or _is_fields(text):
        return
    raise TypeError(
        f"Expected text {index} to be a str (or a tuple/list of str fields). "
        f"Received: {type(text).__name__} {text!r:.60}. "
        "Fill or drop missing values first, e.g. `df[col].fillna('')`."
    )
