"""Speed switches: mixed precision (bfloat16, float16 with a gradient scaler), channels-last
memory format, and torch.compile.

    learn.to_bf16()            # CPU or CUDA: autocast to bfloat16, no scaler needed
    learn.to_fp16()            # CUDA: autocast to float16, loss scaling, overflowing steps skipped
    learn.to_channels_last()   # convolution models: NHWC weights and inputs
    learn.compile()            # torch.compile, with a message (and eager mode) where unsupported
"""

from __future__ import annotations

import shutil
import warnings
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..callback import Callback, CancelStepException

if TYPE_CHECKING:
    from ..learner import Learner

__all__ = [
    "MixedPrecisionCallback",
    "ChannelsLastCallback",
    "compile_model",
    "fp16_unavailable",
    "bf16_unavailable",
    "fast_cpu_bf16",
]


def fp16_unavailable(device: torch.device) -> str | None:
    """Why float16 mixed precision can't run on `device` (None when it can)."""
    if device.type != "cuda":
        return (
            f"to_fp16() expected a CUDA device. Received: {device.type}. Training goes on "
            "in float32. Fix: use learn.to_bf16() on CPUs (autocast to bfloat16)."
        )
    return None


def fast_cpu_bf16() -> bool:
    """Whether this CPU has fast bfloat16 matrix kernels (oneDNN with AVX-512 or AMX)."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(check()) if check is not None else torch.cpu._is_avx512_supported()


def bf16_unavailable(device: torch.device) -> str | None:
    """Why bfloat16 mixed precision can't run (fast) on `device` (None when it can)."""
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return (
            "to_bf16() expected a GPU with bfloat16 support (compute capability 8.0+). "
            "Received: one without. Training goes on in float32. Fix: use learn.to_fp16()."
        )
    if device.type == "cpu" and not fast_cpu_bf16():
        return (
            "to_bf16() expected a CPU with fast bfloat16 kernels (AVX-512 or AMX). "
            "Received: one without, where autocast would run matrix products many times "
            "slower. Training goes on in float32. Fix: to_bf16(force=True) to use it anyway."
        )
    if device.type not in ("cuda", "cpu"):
        return (
            f"to_bf16() expected a CUDA or CPU device. Received: {device.type}. Training "
            "goes on in float32."
        )
    return None


class MixedPrecisionCallback(Callback):
    """Runs the forward pass and the loss under `torch.autocast` in `dtype`; predictions are
    cast back to float32 for the loss and metrics. For float16 a gradient scaler multiplies the
    loss before the backward pass and skips the steps whose gradients overflow (inf/NaN),
    lowering the scale, so a run survives the occasional overflow."""

    order = -5  # after GradientAccumulation (-10) decides on the step, before clipping (0)

    def __init__(self, dtype: torch.dtype = torch.bfloat16) -> None:
        if dtype not in (torch.bfloat16, torch.float16):
            raise ValueError(f"Expected dtype torch.bfloat16 or torch.float16. Received: {dtype}.")
        self.dtype = dtype
        self.scaler: torch.amp.GradScaler | None = None
        self._autocast: Any = None
        self.skipped_steps = 0

    def before_fit(self, learn: Learner) -> None:
        self.learn = learn
        if self.dtype == torch.float16 and self.scaler is None:
            self.scaler = torch.amp.GradScaler(learn.dls.device.type)

    def before_batch(self, learn: Learner) -> None:  # training, validation and get_preds
        self._autocast = torch.autocast(learn.dls.device.type, dtype=self.dtype)
        self._autocast.__enter__()

    def after_pred(self, learn: Learner) -> None:
        pred = learn.pred
        if isinstance(pred, torch.Tensor) and pred.dtype in (torch.float16, torch.bfloat16):
            learn.pred = pred.float()

    def after_loss(self, learn: Learner) -> None:
        self._exit_autocast()

    def after_cancel_batch(self, learn: Learner) -> None:
        self._exit_autocast()

    def after_fit(self, learn: Learner) -> None:
        self._exit_autocast()  # a fit cancelled mid-batch must not leave autocast on

    def _exit_autocast(self) -> None:
        if self._autocast is not None:
            self._autocast.__exit__(None, None, None)
            self._autocast = None

    def before_backward(self, learn: Learner) -> None:
        if self.scaler is not None:
            learn.loss_grad = self.scaler.scale(learn.loss_grad)

    def before_step(self, learn: Learner) -> None:
        if self.scaler is None:
            return
        self._step_ok = False
        self.scaler.step(self)  # unscales the gradients; calls self.step() only if all finite
        if not self._step_ok:
            self.skipped_steps += 1
            raise CancelStepException()

    # GradScaler.step(optimizer) needs `param_groups` (to unscale) and `step` (to call when the
    # gradients are finite): the callback stands in for the optimiser, which the loop steps.
    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """The learner's optimiser's parameter groups."""
        return self.learn.opt.param_groups

    def step(self) -> None:
        """Called by the scaler when the gradients are finite: the step goes ahead."""
        self._step_ok = True

    def after_step(self, learn: Learner) -> None:
        if self.scaler is not None:
            self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        """The loss scale and its growth tracker (float16)."""
        return {"scaler": self.scaler.state_dict()} if self.scaler is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict`."""
        if "scaler" in state:
            if self.scaler is None:
                self.scaler = torch.amp.GradScaler("cuda")
            self.scaler.load_state_dict(state["scaler"])


class ChannelsLastCallback(Callback):
    """Keeps the model's weights and the 4-d inputs in channels-last (NHWC) memory format, which
    convolutions run faster in on recent GPUs and CPUs (and with mixed precision)."""

    def before_fit(self, learn: Learner) -> None:
        learn.model.to(memory_format=torch.channels_last)

    def before_batch(self, learn: Learner) -> None:
        learn.xb = tuple(
            x.contiguous(memory_format=torch.channels_last)
            if isinstance(x, torch.Tensor) and x.ndim == 4
            else x
            for x in learn.xb
        )


def _compile_unsupported(model: nn.Module, device: torch.device, backend: str) -> str | None:
    if not hasattr(nn.Module, "compile"):
        return f"torch {torch.__version__} has no nn.Module.compile (torch >= 2.2 does)"
    if not torch._dynamo.is_dynamo_supported():
        return "torch.compile does not support this Python version or platform"
    if (
        backend == "inductor"
        and device.type == "cpu"
        and not any(shutil.which(cc) for cc in ("g++", "c++", "clang++"))
    ):
        return "the inductor backend needs a C++ compiler on CPUs and none was found"
    return None


def compile_model(
    model: nn.Module,
    device: torch.device,
    *,
    backend: str = "inductor",
    mode: str | None = None,
    fallback: bool = True,
) -> bool:
    """Compile `model` in place (its class and state_dict keys stay); False, with a message,
    where torch.compile can't run here. With `fallback`, a graph that fails to compile later
    runs eagerly with a warning instead of stopping the fit (`torch._dynamo.config.suppress_errors`,
    a process-wide setting)."""
    reason = _compile_unsupported(model, device, backend)
    if reason is not None:
        warnings.warn(
            f"learn.compile(): {reason}; training goes on without compiling.", stacklevel=3
        )
        return False
    if fallback:
        torch._dynamo.config.suppress_errors = True
    model.compile(backend=backend, mode=mode)
    return True
