"""Callbacks: the event list, the `Callback` base class and the Cancel exceptions.

A callback is an object with methods named after events. Each method receives the
learner explicitly: ``def after_batch(self, learn): ...``. Callbacks run in ascending
``order``; the learner sorts them once per fit, not per event.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

__all__ = [
    "EVENTS",
    "Callback",
    "CancelBatchException",
    "CancelStepException",
    "CancelBackwardException",
    "CancelTrainException",
    "CancelValidException",
    "CancelEpochException",
    "CancelFitException",
]

# The events of a fit, in the order they fire (see tests/core/test_events.py).
EVENTS = (
    "before_fit",
    "before_epoch",
    "before_train",
    "before_batch",
    "after_pred",
    "after_loss",
    "before_backward",
    "after_backward",
    "before_step",
    "after_step",
    "after_batch",
    "after_train",
    "before_validate",
    "after_validate",
    "after_epoch",
    "after_fit",
    "after_cancel_batch",
    "after_cancel_backward",
    "after_cancel_step",
    "after_cancel_train",
    "after_cancel_validate",
    "after_cancel_epoch",
    "after_cancel_fit",
)

# Events fired for each batch: only these honour a callback's run_train / run_valid.
INNER_EVENTS = frozenset(
    {
        "before_batch",
        "after_pred",
        "after_loss",
        "before_backward",
        "after_backward",
        "before_step",
        "after_step",
        "after_batch",
        "after_cancel_batch",
        "after_cancel_backward",
        "after_cancel_step",
    }
)


class CancelBatchException(Exception):
    """Skip the rest of this batch (and the optimiser's zero_grad): `after_cancel_batch`."""


class CancelBackwardException(Exception):
    """Skip the backward pass of this batch."""


class CancelStepException(Exception):
    """Skip the optimiser step of this batch."""


class CancelTrainException(Exception):
    """Skip the rest of this epoch's training phase."""


class CancelValidException(Exception):
    """Skip the rest of this epoch's validation phase."""


class CancelEpochException(Exception):
    """Skip the rest of this epoch."""


class CancelFitException(Exception):
    """Stop training now; `after_fit` still runs."""


def _snake(name: str) -> str:
    name = re.sub(r"Callback$", "", name) or name
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Callback:
    """Base class: override any method named after an event; each takes the learner."""

    order: int = 0
    run_train: bool = True  # fire during training batches
    run_valid: bool = True  # fire during validation batches (and get_preds)
    main_process_only: bool = False  # distributed: fire on rank 0 only (output callbacks)

    @property
    def name(self) -> str:
        """Snake-case name without the `Callback` suffix, e.g. `early_stopping`."""
        return _snake(type(self).__name__)

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to continue exactly (plain Python values and tensors)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(order={self.order})"


def handlers_for(callbacks: list[Callback], event: str) -> list[tuple[Callback, Any]]:
    """The (callback, bound method) pairs that handle `event`, in callback order."""
    return [(cb, getattr(cb, event)) for cb in callbacks if callable(getattr(cb, event, None))]


def sort_callbacks(callbacks: list[Callback]) -> list[Callback]:
    """Callbacks sorted by `order` (stable: insertion order breaks ties)."""
    return sorted(callbacks, key=lambda cb: cb.order)


def annotate(error: BaseException, callback: Callback, event: str) -> BaseException:
    """Add the callback's name and event to an exception raised inside a callback."""
    note = f"(raised in callback {type(callback).__name__}, event {event})"
    if hasattr(error, "add_note"):
        error.add_note(note)
    return error
