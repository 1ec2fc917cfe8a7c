"""Data-parallel training across the processes torchrun starts (DistributedDataParallel).

The Learner adds a `DistributedCallback` by itself when WORLD_SIZE > 1; pass one in `cbs` to
change its settings, e.g. `Learner(dls, model, cbs=DistributedCallback(sync_bn=True))`.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from typing import TYPE_CHECKING, Any

from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..callback import Callback, CancelFitException
from ..distributed import (
    agree,
    broadcast_buffers,
    is_distributed,
    is_main_process,
    local_rank,
    rank,
    world_size,
)
from .schedule import LRFinderCallback
from .training import TerminateOnNaNCallback

if TYPE_CHECKING:
    from ..learner import Learner

__all__ = ["DistributedCallback", "runs_on_this_process"]


def runs_on_this_process(cb: Callback) -> bool:
    """Whether the learner fires `cb`'s events here: callbacks that write to the terminal or
    to files (`main_process_only = True`, as ProgressCallback and CSVLogger) on rank 0 only."""
    return is_main_process() or not cb.main_process_only


class _DDP(DistributedDataParallel):
    """DistributedDataParallel whose state_dict is the wrapped model's (no 'module.' prefix), so
    callbacks that save or restore weights mid-fit work unchanged."""

    def state_dict(self, *args: Any, **kwargs: Any) -> Any:
        return self.module.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        return self.module.load_state_dict(state_dict, strict=strict, assign=assign)


class DistributedCallback(Callback):
    """Trains with DistributedDataParallel: each process gets its shard of every epoch (the
    training order reshuffled each epoch, validation split exactly), gradients are averaged in
    the backward pass, and the processes agree on stopping so none waits forever.

    `sync_bn` turns BatchNorm layers into SyncBatchNorm (CUDA only: statistics over the global
    batch). `quiet_workers` silences printing on ranks other than 0 during a fit. Stopping is
    agreed at each epoch and validation; with `sync_stop_every_batch` (default: when an lr
    finder or TerminateOnNaNCallback is present, whose decisions depend on one process's loss)
    also before every backward pass, at the cost of one tiny collective per batch. The values
    trackers see are reduced across processes, so early stopping decides alike everywhere; a
    callback of yours that stops some processes only must do it in a batch event with
    `sync_stop_every_batch`, or in `after_epoch` after every callback that communicates
    (order > 100 when a CheckpointCallback is present, > 55 otherwise).

    In one process (the same script without torchrun) it does nothing.
    """

    order = -30  # shard the loaders before other callbacks look at them

    def __init__(
        self,
        *,
        sync_bn: bool = False,
        find_unused_parameters: bool = False,
        quiet_workers: bool = True,
        sync_stop_every_batch: bool | None = None,
    ) -> None:
        self.sync_bn, self.find_unused_parameters = sync_bn, find_unused_parameters
        self.quiet_workers, self.sync_stop_every_batch = quiet_workers, sync_stop_every_batch
        self.ddp: _DDP | None = None

    def before_fit(self, learn: Learner) -> None:
        self.stopped, self.ddp = False, None
        if not is_distributed():  # the same script on one process: nothing to do
            return
        self._quiet = self._silence() if self.quiet_workers and not is_main_process() else None
        if self.sync_bn:
            self._convert_sync_bn(learn)
        self.loaders = (learn.dls.train, learn.dls.valid)
        learn.dls.train = learn.dls.train.sharded(rank(), world_size(), even=True)
        if learn.dls.valid is not None:
            learn.dls.valid = learn.dls.valid.sharded(rank(), world_size(), even=False)
        learn.total_iters = learn.n_epoch * len(learn.dls.train)  # schedules see the shard
        self.bare = learn.model
        device = next(learn.model.parameters()).device
        self.ddp = _DDP(
            learn.model,
            device_ids=[local_rank()] if device.type == "cuda" else None,
            find_unused_parameters=self.find_unused_parameters,
        )
        every = self.sync_stop_every_batch
        self.every_batch = (
            every
            if every is not None
            else any(isinstance(cb, (LRFinderCallback, TerminateOnNaNCallback)) for cb in learn.cbs)
        )

    def _silence(self) -> contextlib.ExitStack:
        quiet = contextlib.ExitStack()
        quiet.enter_context(contextlib.redirect_stdout(quiet.enter_context(open(os.devnull, "w"))))
        return quiet

    def _convert_sync_bn(self, learn: Learner) -> None:
        if learn.dls.device.type != "cuda":
            warnings.warn(
                "sync_bn=True needs CUDA (torch's SyncBatchNorm runs on GPUs only); "
                "BatchNorm statistics stay per process on the CPU.",
                stacklevel=2,
            )
            return
        # The converted layers reuse the same Parameter objects: the optimiser is unaffected.
        learn.model = nn.SyncBatchNorm.convert_sync_batchnorm(learn.model)

    # The model is DistributedDataParallel only while training: validation runs the bare model,
    # so ranks with unequal validation shards never wait for each other.
    def before_train(self, learn: Learner) -> None:
        if self.ddp is not None:
            learn.model = self.ddp

    def after_train(self, learn: Learner) -> None:
        if self.ddp is None:
            return
        learn.model = self.bare
        # DDP gives every process rank 0's buffers as each forward starts; after the last one
        # they differ by one local update: rank 0's, everywhere, for validation and saving.
        broadcast_buffers(self.bare)

    def before_epoch(self, learn: Learner) -> None:
        if self.ddp is not None:
            self._agree_to_go_on()

    def before_validate(self, learn: Learner) -> None:
        if self.ddp is not None and learn.in_fit:  # not in get_preds, called by one process
            self._agree_to_go_on()

    def before_backward(self, learn: Learner) -> None:
        if self.ddp is not None and self.every_batch and learn.training:
            self._agree_to_go_on()

    def _agree_to_go_on(self) -> None:
        """A process that stopped calls `agree(False)` in after_fit; the others meet it at
        their next agreement and stop too, instead of waiting in a collective forever."""
        if not agree(True):
            self.stopped = True
            print("Another process stopped the fit: stopping here too.")
            raise CancelFitException()

    def after_fit(self, learn: Learner) -> None:
        if self.ddp is None:
            return
        if not self.stopped:
            agree(False)
        broadcast_buffers(self.bare)  # also after a fit stopped in the middle of an epoch
        learn.model, self.ddp = self.bare, None
        learn.dls.train, learn.dls.valid = self.loaders
        if self._quiet is not None:
            self._quiet.close()
