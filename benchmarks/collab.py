"""Collaborative filtering on MovieLens 100K: fastlearn vs a hand-written PyTorch loop vs fastai.

The example's setup (item by title, 20% random validation, bs 64, 50 factors,
y_range=(0, 5.5), fit_one_cycle(5, 5e-3, wd=0.1)) run three ways, interleaved, several times:

- fastlearn: `collab_learner(dls, ...)` and `learn.fit_one_cycle(...)`;
- plain: the same split, the same batches (a shuffled index slice of the same tensors), the same
  model and initialisation, AdamW with the same one-cycle schedule, all written out by hand;
- fastai 2.8 in `.venv-fastai` (a subprocess; skipped with a note when absent).

Reports the median seconds per epoch (training + validation, from the fit's wall time) and the
median final validation MSE, with ratios to the plain loop. Every run uses the same number of
torch threads (default 1: on a small shared machine, several threads per process make these tiny
64-row batches many times slower, see docs/benchmarks.md).

    python benchmarks/collab.py                      # ml-100k via FASTLEARN_DATA_MIRROR or cache
    python benchmarks/collab.py --data ../shared/datasets/ml-100k.zip --repeats 5
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

import pandas as pd
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
EPOCHS, LR, WD, BS, N_FACTORS, Y_RANGE = 5, 5e-3, 0.1, 64, 50, (0.0, 5.5)


# ------------------------------------------------------------------------- data
def movielens_folder(data: str | None) -> Path:
    """The extracted ml-100k folder: --data (folder or zip), else untar_data(URLs.ML_100k)."""
    from fastlearn import URLs, untar_data

    if data is None:
        os.environ.setdefault("FASTLEARN_DATA_MIRROR", f"file://{ROOT.parent / 'shared/datasets'}/")
        return untar_data(URLs.ML_100k)
    path = Path(data)
    if path.is_file():
        return untar_data(path.resolve().as_uri())
    if not (path / "u.data").is_file():
        sys.exit(f"No MovieLens 100K at {path}: expected u.data and u.item there (or the zip).")
    return path


def load_ratings(folder: Path) -> pd.DataFrame:
    """user, movie, rating, timestamp, title (u.item is latin-1, '|' separated)."""
    ratings = pd.read_csv(
        folder / "u.data", sep="\t", header=None, names=["user", "movie", "rating", "timestamp"]
    )
    movies = pd.read_csv(
        folder / "u.item",
        sep="|",
        encoding="latin-1",
        header=None,
        usecols=(0, 1),
        names=("movie", "title"),
    )
    return ratings.merge(movies)


# ------------------------------------------------------------------------- fastlearn
def run_fastlearn(ratings: pd.DataFrame, seed: int, device: str) -> dict:
    from fastlearn import set_seed
    from fastlearn.collab import CollabDataLoaders, collab_learner

    set_seed(seed)
    dls = CollabDataLoaders.from_df(ratings, item_name="title", bs=BS, seed=seed, device=device)
    learn = collab_learner(dls, n_factors=N_FACTORS, y_range=Y_RANGE, show_progress=False)
    start = time.perf_counter()
    learn.fit_one_cycle(EPOCHS, LR, wd=WD)
    _sync(device)
    seconds = (time.perf_counter() - start) / EPOCHS
    return {"epoch_s": seconds, "mse": learn.recorder.values[-1][1]}


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


def run_plain(ratings: pd.DataFrame, seed: int, device: str) -> dict:
    """The same split and tensors as fastlearn (taken from its DataLoaders), trained by hand."""
    from fastlearn import set_seed
    from fastlearn.collab import CollabDataLoaders

    set_seed(seed)
    dls = CollabDataLoaders.from_df(ratings, item_name="title", bs=BS, seed=seed, device="cpu")
    x_train, y_train = (t.to(device) for t in dls.train.dataset.tensors)
    x_valid, y_valid = (t.to(device) for t in dls.valid.dataset.tensors)
    model = DotBias(dls.n_users, dls.n_items, N_FACTORS).to(device)
    opt = torch.optim.AdamW(
        model.parameters(), lr=LR, betas=(0.95, 0.99), eps=1e-5, weight_decay=WD
    )
    n_batches = math.ceil(len(x_train) / BS)
    total, step = EPOCHS * n_batches, 0
    start = time.perf_counter()
    for _ in range(EPOCHS):
        model.train()
        perm = torch.randperm(len(x_train), device=device)
        for b in range(n_batches):
            lr, beta1 = one_cycle(step / total)
            for group in opt.param_groups:
                group["lr"], group["betas"] = lr, (beta1, 0.99)
            idx = perm[b * BS : (b + 1) * BS]
            loss = nn.functional.mse_loss(model(x_train[idx]), y_train[idx])
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
    return {"epoch_s": (time.perf_counter() - start) / EPOCHS, "mse": mse}


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
    start = time.perf_counter()
    learn.fit_one_cycle(5, 5e-3, wd=0.1)
    seconds = (time.perf_counter() - start) / 5
print(json.dumps({"epoch_s": seconds, "mse": float(learn.recorder.values[-1][1])}))
"""


def fastai_python() -> str | None:
    """The python of .venv-fastai if fastai imports there, else None."""
    python = ROOT / ".venv-fastai" / "bin" / "python"
    if not python.exists():
        return None
    ok = subprocess.run([str(python), "-c", "import fastai"], capture_output=True)
    return str(python) if ok.returncode == 0 else None


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
def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="ml-100k folder or zip (default: untar_data)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-fastai", action="store_true")
    parser.add_argument("--json", help="also write the raw runs here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = movielens_folder(args.data)
    ratings = load_ratings(folder)
    python = None if args.no_fastai or args.device != "cpu" else fastai_python()
    runs: dict[str, list[dict]] = {"plain": [], "fastlearn": []}
    impls = {
        "plain": lambda: run_plain(ratings, args.seed, args.device),
        "fastlearn": lambda: run_fastlearn(ratings, args.seed, args.device),
    }
    if python:
        runs["fastai"] = []
        impls["fastai"] = lambda: run_fastai(python, folder, args.seed, args.threads)
    names = list(impls)
    for r in range(args.repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate the order
            result = impls[name]()
            runs[name].append(result)
            print(
                f"round {r + 1} {name:>9}: {result['epoch_s']:.3f} s/epoch, "
                f"valid MSE {result['mse']:.4f}",
                flush=True,
            )
    report(runs, args, python is not None)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "runs": runs}, indent=1))


def report(runs: dict[str, list[dict]], args: argparse.Namespace, has_fastai: bool) -> None:
    med = {
        k: {m: statistics.median(r[m] for r in v) for m in ("epoch_s", "mse")}
        for k, v in runs.items()
    }
    base = med["plain"]["epoch_s"]
    print(
        f"\nml-100k, {EPOCHS} epochs, bs {BS}, device {args.device}, {args.threads} thread(s), "
        f"median of {args.repeats}, torch {torch.__version__}"
    )
    print(f"| {'':9} | s/epoch | vs plain | valid MSE |\n|---|---|---|---|")
    for name, m in med.items():
        print(f"| {name:9} | {m['epoch_s']:7.3f} | {m['epoch_s'] / base:7.2f}x | {m['mse']:.4f} |")
    if not has_fastai:
        print("fastai: skipped (no .venv-fastai with fastai; bash benchmarks/setup_fastai_env.sh)")
    ratio = med["fastlearn"]["epoch_s"] / base
    print(
        f"targets: fastlearn <= 1.10x plain: {'met' if ratio <= 1.10 else 'MISSED'} "
        f"({ratio:.3f}x); MSE not above plain's: "
        f"{'met' if med['fastlearn']['mse'] <= med['plain']['mse'] + 1e-4 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
