"""Small torch helpers: devices, seeds, moving nested batches."""

from __future__ import annotations

import os
import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "set_seed",
    "default_device",
    "to_device",
    "to_detach",
    "num_cpus",
    "get_rng_states",
    "set_rng_states",
]


def set_seed(seed: int, *, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so two runs give identical results."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def get_rng_states() -> dict[str, Any]:
    """Every random generator's state, for exact resume."""
    states = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what `get_rng_states` returned."""
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def default_device(use_cuda: bool | None = None) -> torch.device:
    """CUDA if available (and not disabled), else Apple MPS, else CPU."""
    if use_cuda is not False and torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    if use_cuda is not False and getattr(torch.backends, "mps", None) is not None:
        if torch.backends.mps.is_available():
            return torch.device("mps")
    return torch.device("cpu")


def to_device(batch: Any, device: torch.device | str | None, non_blocking: bool = False) -> Any:
    """Move every tensor in a nested tuple/list/dict to `device`."""
    if device is None:
        return batch
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, Mapping):
        return type(batch)({k: to_device(v, device, non_blocking) for k, v in batch.items()})
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(to_device(b, device, non_blocking) for b in batch))
    if isinstance(batch, Sequence) and not isinstance(batch, str):
        return type(batch)(to_device(b, device, non_blocking) for b in batch)
    return batch


def to_detach(batch: Any, cpu: bool = True) -> Any:
    """Detach every tensor in a nested structure (and move it to the CPU)."""
    if isinstance(batch, torch.Tensor):
        batch = batch.detach()
        return batch.cpu() if cpu else batch
    if isinstance(batch, Mapping):
        return {k: to_detach(v, cpu) for k, v in batch.items()}
    if isinstance(batch, Sequence) and not isinstance(batch, str):
        return type(batch)(to_detach(b, cpu) for b in batch)
    return batch


def num_cpus() -> int:
    """CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
