"""Collaborative filtering on MovieLens 100K: fastlearn vs a hand-written PyTorch loop vs fastai.

The example's setup (item by title, 20% random validation, bs 64, 50 factors,
y_range=(0, 5.5), fit_one_cycle(5, 5e-3, wd=0.1)) run three ways, interleaved, several times:

- fastlearn: `collab_learner(dls, ...)` and `learn.fit_one_cycle(...)`;
- plain: the same split and tensors, the same batches (a shuffled index slice, the permutation
  drawn as fastlearn draws it), the same model and initialisation, AdamW (decoupled weight
  decay, as fastlearn's optimiser) with the same one-cycle schedule, all written out by hand;
- fastai 2.8 in `.venv-fastai` (a subprocess; skipped with a note when absent);
- with --fused, fastlearn again with torch's fused Adam kernel as `opt_func`.

Reports medians of seconds per epoch (training + validation, from the fit's wall time, and the
process's CPU time, steadier on a shared machine) and of the final validation MSE, with ratios
to the plain loop. Every run uses the same number of torch threads (default 1: on a small
shared machine several threads per process make these 64-row batches many times slower).

    python benchmarks/collab.py                      # ml-100k via FASTLEARN_DATA_MIRROR or cache
    python benchmarks/collab.py --data ../shared/datasets/ml-100k.zip --repeats 5

Instruction counts, which other jobs on the machine do not disturb (one short epoch each,
300 + 75 batches; callgrind writes one file per run, in the order printed):

    valgrind --tool=callgrind --zero-before=getppid --dump-before=getpgrp \\
        python benchmarks/collab.py --instructions
    grep summary callgrind.out.*
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from fastlearn import set_seed
from fastlearn.collab import CollabDataLoaders, collab_learner
from fastlearn.core.data import DataLoader
from fastlearn.core.losses import MSELossFlat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
from collab_movielens import load_ratings, movielens_folder  # noqa: E402 (the example's reader)
from fastai_env import fastai_python  # noqa: E402 (beside this file)

EPOCHS, LR, WD, BS, N_FACTORS, Y_RANGE = 5, 5e-3, 0.1, 64, 50, (0.0, 5.5)


# ------------------------------------------------------------------------- fastlearn
class FlatFreeMSE(MSELossFlat):
    """MSELossFlat without its flatten step (the outputs and targets already match): what the
    loss costs inside fastlearn's overhead (--instructions only)."""

    def forward(self, preds: torch.Tensor, targs: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(preds, targs, reduction=self.reduction)


def fused_adam(params: Any, lr: float = 1e-3) -> torch.optim.Optimizer:
    """fastlearn's Adam settings with torch's fused kernel (--fused: a possible core default)."""
    return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.99), eps=1e-5, fused=True)


def run_fastlearn(
    dls: CollabDataLoaders,
    seed: int,
    *,
    epochs: int = EPOCHS,
    loss_func: nn.Module | None = None,
    mark: bool = False,
    **kwargs: Any,
) -> dict:
    set_seed(seed)
    learn = collab_learner(
        dls,
        n_factors=N_FACTORS,
        y_range=Y_RANGE,
        show_progress=False,
        loss_func=loss_func,
        **kwargs,
    )
    if mark:
        learn.create_opt()  # outside the counted region, as the plain loop's optimiser
        os.getppid()  # callgrind --zero-before=getppid
    wall, cpu = time.perf_counter(), time.process_time()
    learn.fit_one_cycle(epochs, LR, wd=WD)
    _sync(dls.device)
    if mark:
        os.getpgrp()  # callgrind --dump-before=getpgrp
    return {
        "epoch_s": (time.perf_counter() - wall) / epochs,
        "cpu_s": (time.process_time() - cpu) / epochs,
        "mse": learn.recorder.values[-1][1],
    }


# ------------------------------------------------------------------------- plain PyTorch
def embedding(n: int, width: int) -> nn.Embedding:
    """An embedding initialised from a truncated normal, std 0.01 (in creation order)."""
    emb = nn.Embedding(n, width)
    with torch.no_grad():
        nn.init.trunc_normal_(emb.weight, std=0.01, a=-0.02, b=0.02)
    return emb


class DotBias(nn.Module):
    """The dot product with biases, squashed into y_range; initialised as fastlearn's."""

    def __init__(self, n_users: int, n_items: int, n_factors: int) -> None:
        super().__init__()
        self.u_weight, self.i_weight = embedding(n_users, n_factors), embedding(n_items, n_factors)
        self.u_bias, self.i_bias = embedding(n_users, 1), embedding(n_items, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        users, items = x[:, 0], x[:, 1]
        res = (
            (self.u_weight(users) * self.i_weight(items)).sum(1)
            + self.u_bias(users).squeeze(1)
            + self.i_bias(items).squeeze(1)
        )
        return torch.sigmoid(res) * (Y_RANGE[1] - Y_RANGE[0]) + Y_RANGE[0]


def cos_between(start: float, end: float, pos: float) -> float:
    return start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2


def one_cycle(pos: float, pct: float = 0.25) -> tuple[float, float]:
    """(lr, beta1) at `pos` in [0, 1]: warm-up then annealing, momentum the opposite way."""
    if pos < pct:
        p = pos / pct
        return cos_between(LR / 25, LR, p), cos_between(0.95, 0.85, p)
    p = (pos - pct) / (1 - pct)
    return cos_between(LR, LR / 1e5, p), cos_between(0.85, 0.95, p)


def run_plain(
    dls: CollabDataLoaders, seed: int, *, epochs: int = EPOCHS, mark: bool = False
) -> dict:
    """fastlearn's split and tensors (from its DataLoaders), trained by hand."""
    device = dls.device
    x_train, y_train = (t.to(device) for t in dls.train.dataset.tensors)
    x_valid, y_valid = (t.to(device) for t in dls.valid.dataset.tensors)
    set_seed(seed)
    model = DotBias(dls.n_users, dls.n_items, N_FACTORS).to(device)
    opt = torch.optim.AdamW(
        model.parameters(), lr=LR, betas=(0.95, 0.99), eps=1e-5, weight_decay=WD
    )
    n_batches = math.ceil(len(x_train) / BS)
    total, step = epochs * n_batches, 0
    if mark:
        os.getppid()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x_train)).to(device)  # on the CPU, as fastlearn draws it
        for b in range(n_batches):
            lr, beta1 = one_cycle(step / total)
            for group in opt.param_groups:
                group["lr"], group["betas"] = lr, (beta1, 0.99)
            idx = perm[b * BS : (b + 1) * BS]
            loss = F.mse_loss(model(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            step += 1
        model.eval()
        sse = torch.zeros((), device=device)
        with torch.no_grad():
            for b in range(0, len(x_valid), BS):
                sse += ((model(x_valid[b : b + BS]) - y_valid[b : b + BS]) ** 2).sum()
        mse = (sse / len(x_valid)).item()
    _sync(device)
    if mark:
        os.getpgrp()
    return {
        "epoch_s": (time.perf_counter() - wall) / epochs,
        "cpu_s": (time.process_time() - cpu) / epochs,
        "mse": mse,
    }


# ------------------------------------------------------------------------- fastai
FASTAI_SCRIPT = """
import json, sys, time, torch, pandas as pd
torch.set_num_threads(int(sys.argv[2]))
from fastai.collab import CollabDataLoaders, collab_learner
from fastai.torch_core import set_seed
folder, seed = sys.argv[1], int(sys.argv[3])
ratings = pd.read_csv(folder + '/u.data', sep='\\t', header=None,
                      names=['user', 'movie', 'rating', 'timestamp'])
movies = pd.read_csv(folder + '/u.item', sep='|', encoding='latin-1', header=None,
                     usecols=(0, 1), names=('movie', 'title'))
ratings = ratings.merge(movies)
set_seed(seed)
dls = CollabDataLoaders.from_df(ratings, item_name='title', bs=64, seed=seed, device='cpu')
learn = collab_learner(dls, n_factors=50, y_range=(0, 5.5))
with learn.no_bar(), learn.no_logging():
    wall, cpu = time.perf_counter(), time.process_time()
    learn.fit_one_cycle(5, 5e-3, wd=0.1)
    wall, cpu = (time.perf_counter() - wall) / 5, (time.process_time() - cpu) / 5
print(json.dumps({"epoch_s": wall, "cpu_s": cpu, "mse": float(learn.recorder.values[-1][1])}))
"""


def run_fastai(python: str, folder: Path, seed: int, threads: int) -> dict:
    out = subprocess.run(
        [python, "-c", FASTAI_SCRIPT, str(folder), str(threads), str(seed)],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"fastai run failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------- main
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def count_instructions(dls: CollabDataLoaders, seed: int) -> None:
    """One short epoch (300 + 75 batches, the full vocabularies) per contender, each between
    the markers callgrind is told to zero and dump at (see the module docstring)."""
    tensors = [dl.dataset.tensors for dl in (dls.train, dls.valid)]
    small = CollabDataLoaders(
        DataLoader(TensorDataset(*(t[: 300 * BS] for t in tensors[0])), BS, shuffle=True),
        DataLoader(TensorDataset(*(t[: 75 * BS] for t in tensors[1])), BS),
        collab_vocab=dls.collab_vocab,
        device=dls.device,
    )
    run_plain(small, seed, epochs=1)  # warm-up: lazy imports and first-call costs, not counted
    runs = [
        ("plain", lambda: run_plain(small, seed, epochs=1, mark=True)),
        ("fastlearn", lambda: run_fastlearn(small, seed, epochs=1, mark=True)),
        (
            "fastlearn, MSE without flatten",
            lambda: run_fastlearn(small, seed, epochs=1, mark=True, loss_func=FlatFreeMSE()),
        ),
    ]
    for k, (name, run) in enumerate(runs, 1):
        run()
        print(f"callgrind dump {k}: {name}", flush=True)


def paired_ratios(dls: CollabDataLoaders, seed: int, pairs: int) -> None:
    """`pairs` one-epoch fits of plain and fastlearn back to back (order alternating): the
    median and quartiles of the per-pair ratios, steadier than a ratio of medians when the
    machine's load drifts."""
    ratios: dict[str, list[float]] = {"epoch_s": [], "cpu_s": []}
    for k in range(pairs):
        order = [("plain", run_plain), ("fastlearn", run_fastlearn)][:: 1 if k % 2 else -1]
        res = {name: run(dls, seed, epochs=1) for name, run in order}
        for m in ratios:
            ratios[m].append(res["fastlearn"][m] / res["plain"][m])
    for m, name in (("epoch_s", "wall"), ("cpu_s", "CPU")):
        q1, med, q3 = statistics.quantiles(ratios[m], n=4)
        print(
            f"fastlearn / plain over {pairs} paired one-epoch fits ({name}): median "
            f"{med:.3f}x, quartiles {q1:.3f}x-{q3:.3f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="ml-100k folder or zip (default: untar_data)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-fastai", action="store_true")
    parser.add_argument("--instructions", action="store_true", help="see the docstring")
    parser.add_argument("--fused", action="store_true", help="add fastlearn with fused Adam")
    parser.add_argument("--pairs", type=int, default=0, help="then N paired one-epoch fits")
    parser.add_argument("--json", help="also write the raw runs here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = movielens_folder(args.data)
    ratings = load_ratings(folder)
    dls = CollabDataLoaders.from_df(
        ratings, item_name="title", bs=BS, seed=args.seed, device=args.device
    )
    if args.instructions:
        return count_instructions(dls, args.seed)
    python = None if args.no_fastai or args.device != "cpu" else fastai_python()
    impls = {
        "plain": lambda: run_plain(dls, args.seed),
        "fastlearn": lambda: run_fastlearn(dls, args.seed),
    }
    if args.fused:
        impls["fastlearn, fused Adam"] = lambda: run_fastlearn(dls, args.seed, opt_func=fused_adam)
    if python:
        impls["fastai"] = lambda: run_fastai(python, folder, args.seed, args.threads)
    runs: dict[str, list[dict]] = {name: [] for name in impls}
    names = list(impls)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # torch's lazy imports, untimed
    for r in range(args.repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate the order
            result = impls[name]()
            runs[name].append(result)
            print(
                f"round {r + 1} {name}: {result['epoch_s']:.3f} s/epoch "
                f"({result['cpu_s']:.3f} s CPU), valid MSE {result['mse']:.4f}",
                flush=True,
            )
    report(runs, args, python is not None)
    if args.pairs:
        paired_ratios(dls, args.seed, args.pairs)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "runs": runs}, indent=1))


def report(runs: dict[str, list[dict]], args: argparse.Namespace, has_fastai: bool) -> None:
    med = {
        k: {m: statistics.median(r[m] for r in v) for m in ("epoch_s", "cpu_s", "mse")}
        for k, v in runs.items()
    }
    wall, cpu = med["plain"]["epoch_s"], med["plain"]["cpu_s"]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"\nml-100k, {EPOCHS} epochs, bs {BS}, device {args.device}, {args.threads} "
        f"thread(s), median of {args.repeats}, torch {torch.__version__}, load {load:.1f}"
    )
    print("| | s/epoch (wall) | vs plain | s/epoch (CPU) | vs plain | valid MSE |")
    print("|---|---|---|---|---|---|")
    for name, m in med.items():
        print(
            f"| {name} | {m['epoch_s']:.3f} | {m['epoch_s'] / wall:.2f}x | {m['cpu_s']:.3f} "
            f"| {m['cpu_s'] / cpu:.2f}x | {m['mse']:.4f} |"
        )
    if not has_fastai:
        print("fastai: skipped (no .venv-fastai with fastai; bash benchmarks/setup_fastai_env.sh)")
    ratio = med["fastlearn"]["epoch_s"] / wall
    mse_ok = med["fastlearn"]["mse"] <= med["plain"]["mse"]
    print(
        f"targets: fastlearn <= 1.10x plain (wall): {'met' if ratio <= 1.10 else 'MISSED'} "
        f"({ratio:.3f}x); MSE not above plain's: {'met' if mse_ok else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
