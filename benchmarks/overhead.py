"""The Learner's overhead against a hand-written PyTorch loop, in one run.

Both train the same small MLP from the same initial weights on the same pre-made tensors
(many small batches), with the same one-cycle schedule, and evaluate accuracy on the
validation set each epoch. fastlearn runs `fit_one_cycle` with a metric and its progress
bar drawing (into a terminal-like buffer). Runs alternate, and the median is reported.

    python benchmarks/overhead.py [--epochs 3] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import io
import statistics
import time

import torch
from torch import nn
from torch.utils.data import TensorDataset

from fastlearn import SGD, Adam, DataLoaders, Learner, ProgressCallback, accuracy, set_seed


class Terminal(io.StringIO):
    """A buffer that claims to be a terminal, so the progress bar really draws."""

    def isatty(self) -> bool:
        return True


def make_data(n: int = 20_000, n_in: int = 32, n_classes: int = 10):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, n_in, generator=g)
    w = torch.randn(n_in, n_classes, generator=g)
    y = (x @ w + 0.5 * torch.randn(n, n_classes, generator=g)).argmax(1)
    cut = int(0.8 * n)
    return x[:cut], y[:cut], x[cut:], y[cut:]


def make_model(n_in: int = 32, n_classes: int = 10) -> nn.Module:
    return nn.Sequential(
        nn.Linear(n_in, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, n_classes)
    )


def plain_loop(model, data, epochs: int, bs: int, lr: float, adam: bool) -> float:
    """What a careful user writes by hand: shuffled index slices, OneCycleLR, eval accuracy."""
    xt, yt, xv, yv = data
    opt = (
        torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.99), eps=1e-5)
        if adam
        else torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    )
    steps = epochs * -(-len(xt) // bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt,
        max_lr=lr,
        total_steps=steps,
        pct_start=0.25,
        div_factor=25.0,
        final_div_factor=1e5 / 25.0,
    )
    loss_func = nn.CrossEntropyLoss()
    acc = 0.0
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), bs):
            idx = perm[i : i + bs]
            loss = loss_func(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            sched.step()
        model.eval()
        correct = torch.zeros(())
        with torch.no_grad():
            for i in range(0, len(xv), bs):
                correct += (model(xv[i : i + bs]).argmax(1) == yv[i : i + bs]).sum()
        acc = float(correct) / len(xv)
    return acc


def fastlearn_fit(model, data, epochs: int, bs: int, lr: float, adam: bool) -> float:
    xt, yt, xv, yv = data
    dls = DataLoaders.from_dsets(TensorDataset(xt, yt), TensorDataset(xv, yv), bs=bs, device="cpu")
    learn = Learner(
        dls,
        model,
        loss_func=nn.CrossEntropyLoss(),
        metrics=accuracy,
        wd=0,
        opt_func=Adam if adam else (lambda p, lr: SGD(p, lr, mom=0.9)),
        show_progress=False,
        cbs=[ProgressCallback(file=Terminal())],
    )
    learn.fit_one_cycle(epochs, lr)
    return learn.recorder.history[-1]["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--bs", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sgd", action="store_true", help="SGD with momentum instead of Adam")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = make_data()
    set_seed(0)
    init = make_model()
    runs = {"plain": plain_loop, "fastlearn": fastlearn_fit}
    times: dict[str, list[float]] = {k: [] for k in runs}
    accs: dict[str, float] = {}
    fastlearn_fit(copy.deepcopy(init), data, 1, args.bs, 1e-3, not args.sgd)  # warm-up
    for r in range(args.repeats):
        order = list(runs) if r % 2 == 0 else list(reversed(runs))
        for name in order:
            set_seed(r)
            model = copy.deepcopy(init)
            start = time.perf_counter()
            accs[name] = runs[name](model, data, args.epochs, args.bs, 3e-3, not args.sgd)
            times[name].append(time.perf_counter() - start)
    n_batches = args.epochs * (-(-len(data[0]) // args.bs) + -(-len(data[2]) // args.bs))
    plain = statistics.median(times["plain"])
    print(
        f"MLP 32-128-128-10, {len(data[0])} train / {len(data[2])} valid rows, bs {args.bs}, "
        f"{args.epochs} epochs ({n_batches} batches), {args.threads} thread(s), "
        f"median of {args.repeats}"
    )
    print(f"{'':12}{'seconds':>10}{'us/batch':>10}{'ratio':>8}{'accuracy':>10}")
    for name in runs:
        t = statistics.median(times[name])
        print(f"{name:12}{t:10.3f}{1e6 * t / n_batches:10.1f}{t / plain:8.3f}{accs[name]:10.4f}")


if __name__ == "__main__":
    main()
