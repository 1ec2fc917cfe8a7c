"""Training throughput: 1 process against 2 (DistributedDataParallel, gloo on CPU), and the
bfloat16 mixed-precision speed-up, on an MLP large enough that compute dominates.

Every run trains the same model (512-2048-2048-10, 5.3 M parameters) with Adam on the same
in-memory rows at a global batch size of 256: one warm-up epoch, then timed epochs; the
figure is training samples per second. The 2-process run is launched with torchrun, one
thread per process; the 1-process runs use 1 thread, then every core. Runs are repeated,
alternating, and the median is reported.

    python benchmarks/distributed.py [--repeats 3] [--epochs 2] [--rows 8192] [--force-bf16]

On a machine with as many free cores as processes, 2 processes approach 2x one 1-thread
process; on a 2-core machine shared with other work they can't show a real speed-up. The
bf16 runs need a CPU with fast bfloat16 kernels (AVX-512 or AMX); elsewhere the script times
one matrix product in both precisions instead (`--force-bf16` trains anyway: hours there).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

from fastlearn import Callback, DataLoaders, Learner, set_seed
from fastlearn.core.callbacks.precision import fast_cpu_bf16
from fastlearn.core.distributed import is_main_process, world_size

GLOBAL_BS = 256


class Throughput(Callback):
    """Samples per second over the training phases after the first epoch (warm-up)."""

    order = 100

    def __init__(self) -> None:
        self.seconds, self.samples = 0.0, 0

    def before_train(self, learn: Learner) -> None:
        self.start = time.perf_counter()

    def after_batch(self, learn: Learner) -> None:
        if learn.training and learn.epoch > 0:
            self.samples += learn.yb[0].shape[0] * world_size()

    def after_train(self, learn: Learner) -> None:
        if learn.epoch > 0:
            self.seconds += time.perf_counter() - self.start

    def per_second(self) -> float:
        return self.samples / self.seconds


def train(rows: int, epochs: int, bf16: bool = False) -> float:
    """Samples per second of `epochs` timed epochs (after one warm-up)."""
    set_seed(0)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(rows, 512, generator=g)
    y = (x[:, :10] @ torch.randn(10, 10, generator=g)).argmax(1)
    dls = DataLoaders.from_dsets(
        TensorDataset(x, y), None, bs=GLOBAL_BS // world_size(), device="cpu"
    )
    model = nn.Sequential(
        nn.Linear(512, 2048), nn.ReLU(), nn.Linear(2048, 2048), nn.ReLU(), nn.Linear(2048, 10)
    )
    learn = Learner(dls, model, show_progress=False)
    if bf16:
        learn.to_bf16(force=True)
    meter = Throughput()
    learn.fit(1 + epochs, lr=1e-3, cbs=[meter])
    return meter.per_second()


def two_processes(rows: int, epochs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                "--nproc_per_node",
                "2",
                __file__,
                "--worker",
                str(out),
                "--rows",
                str(rows),
                "--epochs",
                str(epochs),
            ],
            check=True,
            env=env,
            capture_output=True,
            timeout=1200,
        )
        return json.loads(out.read_text())["per_second"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rows", type=int, default=8192)
    parser.add_argument("--force-bf16", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # a torchrun process: result file
    args = parser.parse_args()
    if args.worker:
        torch.set_num_threads(1)
        per_second = train(args.rows, args.epochs)
        if is_main_process():
            Path(args.worker).write_text(json.dumps({"per_second": per_second}))
        return

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    runs: dict[str, list[float]] = {}

    def one(threads: int, bf16: bool = False) -> float:
        torch.set_num_threads(threads)
        return train(args.rows, args.epochs, bf16)

    contenders = {
        "1 process, 1 thread, fp32": lambda: one(1),
        f"1 process, {cores} threads, fp32": lambda: one(cores),
        "2 processes (DDP, gloo), 1 thread each, fp32": lambda: two_processes(
            args.rows, args.epochs
        ),
    }
    bf16 = fast_cpu_bf16() or args.force_bf16
    if bf16:
        contenders["1 process, 1 thread, bf16 autocast"] = lambda: one(1, bf16=True)
        contenders[f"1 process, {cores} threads, bf16 autocast"] = lambda: one(cores, bf16=True)
    for r in range(args.repeats):
        for name, run in contenders.items():
            runs.setdefault(name, []).append(run())
            print(f"repeat {r + 1}: {name}: {runs[name][-1]:.0f} samples/s", flush=True)
    base = statistics.median(runs["1 process, 1 thread, fp32"])
    print(
        f"\n{cores} cores, torch {torch.__version__}, {args.rows} rows, global bs {GLOBAL_BS},"
        f" {args.epochs} timed epochs, median of {args.repeats}\n"
    )
    print("| run | samples/s | vs 1 process, 1 thread, fp32 |\n|---|---|---|")
    for name, values in runs.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.0f} | {median / base:.2f} |")
    if not bf16:
        torch.set_num_threads(1)
        fp32_s, bf16_s = matmul_seconds(torch.float32), matmul_seconds(torch.bfloat16)
        print(
            f"\nThis CPU has no fast bfloat16 kernels (AVX-512/AMX): bf16 training skipped. "
            f"(256x2048) @ (2048x2048), 1 thread: fp32 {fp32_s * 1e3:.0f} ms, bf16 "
            f"{bf16_s * 1e3:.0f} ms ({fp32_s / bf16_s:.3f}x)."
        )
        return
    for threads in (1, cores):
        name = f"1 process, {threads} thread{'s' if threads > 1 else ''}"
        speed_up = statistics.median(runs[f"{name}, bf16 autocast"]) / statistics.median(
            runs[f"{name}, fp32"]
        )
        print(f"bf16 speed-up at {threads} thread(s): {speed_up:.2f}x")


def matmul_seconds(dtype: torch.dtype) -> float:
    """Seconds of one (256, 2048) @ (2048, 2048) product in `dtype` (after one warm-up)."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(256, 2048, generator=g).to(dtype)
    b = torch.randn(2048, 2048, generator=g).to(dtype)
    a @ b
    start = time.perf_counter()
    a @ b
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
