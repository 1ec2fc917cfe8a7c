"""The processes of a distributed run: process group, ranks, collectives and data shards.

Under `torchrun --nproc_per_node N script.py` (which sets WORLD_SIZE, RANK, LOCAL_RANK,
MASTER_ADDR and MASTER_PORT) the Learner calls `init_distributed` and adds a
`DistributedCallback`. In one process every helper here is a cheap no-op, so the same script
runs on 1 or N processes.

    torchrun --nproc_per_node 2 train.py     # gloo on CPU, NCCL on CUDA
"""

from __future__ import annotations

import datetime
import math
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Sampler

__all__ = [
    "launched_distributed",
    "is_distributed",
    "rank",
    "local_rank",
    "world_size",
    "is_main_process",
    "init_distributed",
    "barrier",
    "all_reduce_sum",
    "agree",
    "broadcast_tensor",
    "broadcast_buffers",
    "gather_objects",
    "main_process_only",
    "unwrap_model",
    "ShardSampler",
]

T = TypeVar("T")


def is_distributed() -> bool:
    """Whether a process group of more than one process is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def launched_distributed() -> bool:
    """Whether this process is one of several: torchrun set WORLD_SIZE > 1, or a process group
    of several processes is already initialised."""
    return is_distributed() or int(os.environ.get("WORLD_SIZE", "1")) > 1


def rank() -> int:
    """This process's rank (0 in one process; from RANK before the group is initialised)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    """This process's rank on its machine (LOCAL_RANK): the GPU it uses."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def world_size() -> int:
    """Number of processes (1 when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Whether this is rank 0, the process that prints and writes files."""
    return rank() == 0


def init_distributed(
    device: torch.device | str, timeout: datetime.timedelta | None = None
) -> torch.device:
    """Join the process group torchrun describes (NCCL for CUDA, gloo otherwise) and return the
    device this process uses: `cuda:LOCAL_RANK` on GPUs, the CPU otherwise.

    A process group you initialised yourself (any backend and timeout) is kept as it is.
    """
    device = torch.device(device)
    if device.type == "mps":
        raise ValueError(
            "Distributed training expected a CUDA or CPU device. Received: mps "
            "(no torch.distributed backend runs on Apple GPUs). Fix: pass "
            "device='cpu' to the DataLoaders, or run one process."
        )
    if device.type == "cuda":
        device = torch.device("cuda", local_rank())
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
        if missing:
            raise RuntimeError(
                f"WORLD_SIZE={os.environ.get('WORLD_SIZE')} is set but "
                f"{', '.join(missing)} not. Fix: launch with torchrun "
                "(python -m torch.distributed.run --nproc_per_node N script.py)."
            )
        backend = "nccl" if device.type == "cuda" else "gloo"
        kwargs: dict[str, Any] = {"timeout": timeout} if timeout is not None else {}
        dist.init_process_group(backend, **kwargs)
    return device


def _comm_device() -> torch.device:
    """Where tensors for collectives live: NCCL needs the current GPU, gloo the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier() -> None:
    """Wait for every process (no-op in one process)."""
    if is_distributed():
        dist.barrier()


def all_reduce_sum(values: Sequence[float]) -> list[float]:
    """Element-wise sums over every process, in float64 (the values themselves in one process)."""
    if not is_distributed():
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return t.tolist()


def agree(flag: bool) -> bool:
    """True only if every process passes True (a logical AND over the processes)."""
    if not is_distributed():
        return flag
    t = torch.tensor([int(flag)], dtype=torch.int32, device=_comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def broadcast_tensor(t: torch.Tensor, src: int = 0) -> torch.Tensor:
    """Rank `src`'s copy of `t` (same shape and dtype on every process), on `t`'s device."""
    if not is_distributed():
        return t
    buf = t.to(_comm_device()).contiguous()
    dist.broadcast(buf, src)
    return buf.to(t.device)


def broadcast_buffers(module: nn.Module, src: int = 0) -> None:
    """Give every process rank `src`'s buffers (BatchNorm running statistics), in place."""
    if not is_distributed():
        return
    for buffer in module.buffers():
        buffer.copy_(broadcast_tensor(buffer, src))


def gather_objects(obj: T) -> list[T]:
    """Every process's `obj` (picklable), in rank order; `[obj]` in one process."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def main_process_only(func: Callable[..., T]) -> Callable[..., T | None]:
    """Decorator: run `func` on rank 0 only (other processes get None), then wait for rank 0,
    so that a file it writes exists for every process afterwards. Call it on every process."""

    def wrapper(*args: Any, **kwargs: Any) -> T | None:
        try:
            return func(*args, **kwargs) if is_main_process() else None
        finally:
            barrier()

    wrapper.__name__, wrapper.__doc__ = func.__name__, func.__doc__
    return wrapper


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside DistributedDataParallel / DataParallel / torch.compile wrappers."""
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        else:
            return model


class ShardSampler(Sampler[int]):
    """Process `rank`'s share of every epoch: the epoch's order (a permutation drawn from the
    global torch RNG when `shuffle`, 0..n-1 otherwise, or the indices a `source` sampler yields)
    cut into `world_size` interleaved shards: rank r gets positions r, r + world_size, ...

    Every process uses rank 0's order (broadcast once per epoch), so shards never overlap even
    when the processes' RNGs differ. With interleaved shards, batch i of every process together
    is batch i of one process with `world_size` times the batch size: the same data, seed and
    global batch size train the same model. `even` repeats the first items so every process gets
    the same number (training: DistributedDataParallel needs equal batch counts); without it the
    shards partition the set exactly (validation, where metrics are then merged).
    """

    def __init__(
        self,
        source: int | Sampler | Sequence[int],
        *,
        rank: int,
        world_size: int,
        shuffle: bool = False,
        even: bool = True,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(
                f"Expected 0 <= rank < world_size. Received: rank={rank}, world_size={world_size}."
            )
        self.source, self.rank, self.world_size = source, rank, world_size
        self.shuffle, self.even = shuffle, even
        self.n = source if isinstance(source, int) else len(source)

    def __len__(self) -> int:
        if self.even:
            return math.ceil(self.n / self.world_size)
        return len(range(self.rank, self.n, self.world_size))

    def indices(self) -> torch.Tensor:
        """This epoch's indices for this process (draws the epoch's order)."""
        if isinstance(self.source, int):
            order = torch.randperm(self.n) if self.shuffle else torch.arange(self.n)
        else:
            order = torch.as_tensor(list(self.source), dtype=torch.long)
        order = broadcast_tensor(order)
        if self.even and self.n % self.world_size:
            total = len(self) * self.world_size
            order = order.repeat(math.ceil(total / max(self.n, 1)))[:total]
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())
