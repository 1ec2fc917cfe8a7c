"""Tabular speed: fastlearn vs a hand-written PyTorch loop vs fastai 2.8, on the course's Adult
setup (6 categorical + 3 continuous columns, 20% random validation with seed 42, bs 64,
fit_one_cycle(3, 1e-2), layers [200, 100]).

    python benchmarks/tabular.py [--data FOLDER] [--rounds 3] [--threads 1] [--no-fastai]

The plain loop uses the same TabularModel, the same tensors (checked equal to its own
pandas preprocessing), the same shuffles (same seed), AdamW with the same decoupled weight
decay (none on BatchNorm and biases) and the same one-cycle schedule, written out by hand:
it ends at the same accuracy. The machine may be shared, so the runs are interleaved
(fastlearn, plain, fastai; the order rotating each round) and medians reported; then a
lockstep run alternates single epochs of fastlearn and the plain loop (a callback runs the
plain epoch after each fastlearn epoch, outside fastlearn's clock), the ratio least moved
by other jobs. Wall and CPU (process) seconds are both reported.
fastai runs in its own virtual environment (`bash benchmarks/setup_fastai_env.sh`, or
FASTAI_PYTHON=...); without it its column is skipped.
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

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from fastlearn import Callback, URLs, accuracy, set_seed, untar_data
from fastlearn.tabular import TabularDataLoaders, TabularModel, get_emb_sz, tabular_learner

ROOT = Path(__file__).resolve().parents[1]
from fastai_env import fastai_python  # noqa: E402 (beside this file)

CAT_NAMES = ["workclass", "education", "marital-status", "occupation", "relationship", "race"]
CONT_NAMES = ["age", "fnlwgt", "education-num"]
SETUP = dict(
    y_names="salary", cat_names=CAT_NAMES, cont_names=CONT_NAMES, valid_pct=0.2, seed=42, bs=64
)


def adult_csv(data: str | None) -> Path:
    """adult.csv from --data, FASTLEARN_DATA_MIRROR, ../shared/datasets, or the course URL."""
    if data is not None and (Path(data) / "adult.csv").is_file():
        return Path(data) / "adult.csv"
    if data is not None:
        os.environ["FASTLEARN_DATA_MIRROR"] = Path(data).resolve().as_uri() + "/"
    shared = ROOT.parent / "shared" / "datasets"
    if "FASTLEARN_DATA_MIRROR" not in os.environ and shared.is_dir():
        os.environ["FASTLEARN_DATA_MIRROR"] = shared.as_uri() + "/"
    try:
        return untar_data(URLs.ADULT_SAMPLE) / "adult.csv"
    except (OSError, ValueError) as e:
        sys.exit(
            f"Adult data not found ({e}). Fix: --data FOLDER holding adult_sample.tgz or "
            "adult.csv, or FASTLEARN_DATA_MIRROR=file:///path/to/mirror/."
        )


# ---------------------------------------------------------------------- fastlearn
class EpochClock(Callback):
    """Wall and CPU (process) seconds of each epoch, training and validation together."""

    order = 100

    def before_fit(self, learn) -> None:
        self.wall, self.cpu = [], []

    def before_epoch(self, learn) -> None:
        self.start = (time.perf_counter(), time.process_time())

    def after_epoch(self, learn) -> None:
        self.wall.append(time.perf_counter() - self.start[0])
        self.cpu.append(time.process_time() - self.start[1])


def run_fastlearn(csv: Path, epochs: int, seed: int) -> dict:
    start = time.perf_counter()
    dls = TabularDataLoaders.from_csv(csv, device="cpu", **SETUP)
    set_seed(seed)
    learn = tabular_learner(dls, metrics=accuracy, show_progress=False)
    build = time.perf_counter() - start
    clock = EpochClock()
    learn.fit_one_cycle(epochs, 1e-2, cbs=clock)
    df = pd.read_csv(csv, skipinitialspace=True)
    rows = [df.iloc[i] for i in range(200)]
    return dict(
        epochs=clock.wall,
        cpu=clock.cpu,
        build=build,
        accuracy=learn.recorder.values[-1][-1],
        predict=_latency(learn.predict, rows),
        predict_dict=_latency(learn.predict, [r.to_dict() for r in rows]),
    )


def _latency(predict, rows: list) -> float:
    """Median seconds of one call, over `rows` (after a warm-up call)."""
    predict(rows[0])
    times = []
    for row in rows:
        start = time.perf_counter()
        predict(row)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ---------------------------------------------------------------------- the plain loop
def plain_preprocess(df: pd.DataFrame, train: np.ndarray) -> tuple[torch.Tensor, ...]:
    """Categories sorted per column (0 = missing/unseen), median fill + `_na` flag, z-score."""
    tr, cats, conts = df.iloc[train], [], []
    for name in CAT_NAMES:
        classes = sorted(tr[name].dropna().unique())
        cats.append(pd.Index(classes).get_indexer(df[name]) + 1)
    for name in CONT_NAMES:
        x = df[name].astype(float)
        filled = x.fillna(tr[name].median())
        mean, std = filled.iloc[train].mean(), filled.iloc[train].std(ddof=0)
        conts.append(((filled - mean) / std).to_numpy())
        if tr[name].isna().any():
            cats.append(x.isna().to_numpy().astype(np.int64) + 1)  # False -> 1, True -> 2
    y = pd.Index(sorted(tr["salary"].unique())).get_indexer(df["salary"])
    return (
        torch.from_numpy(np.stack(cats, 1).astype(np.int64)),
        torch.from_numpy(np.stack(conts, 1).astype(np.float32)),
        torch.from_numpy(y),
    )


def one_cycle(pos: float, lr_max: float) -> tuple[float, float]:
    """(lr, beta1) at training position pos: cosine warm-up over 25%, then cosine down."""

    def cos(a: float, b: float, p: float) -> float:
        return a + (1 + math.cos(math.pi * (1 - p))) * (b - a) / 2

    if pos < 0.25:
        return cos(lr_max / 25, lr_max, pos / 0.25), cos(0.95, 0.85, pos / 0.25)
    return cos(lr_max, lr_max / 1e5, (pos - 0.25) / 0.75), cos(0.85, 0.95, (pos - 0.25) / 0.75)


def plain_setup(csv: Path, seed: int, emb_szs: list) -> tuple:
    """Tensors, model and AdamW (decay off for BatchNorm and biases), as one writes them."""
    df = pd.read_csv(csv, skipinitialspace=True)
    train_idx, valid_idx = (torch.tensor(i) for i in _split(len(df)))
    cats, conts, y = plain_preprocess(df, train_idx.numpy())
    train = (cats[train_idx], conts[train_idx], y[train_idx])
    valid = (cats[valid_idx], conts[valid_idx], y[valid_idx])
    set_seed(seed)
    model = TabularModel(emb_szs, len(CONT_NAMES), 2, [200, 100])
    no_decay = {
        id(p)
        for m in model.modules()
        for n, p in m.named_parameters(recurse=False)
        if isinstance(m, torch.nn.BatchNorm1d) or n == "bias"
    }
    groups = [
        {"params": [p for p in model.parameters() if id(p) not in no_decay], "weight_decay": 0.01},
        {"params": [p for p in model.parameters() if id(p) in no_decay], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=1e-2, betas=(0.95, 0.99), eps=1e-5)
    return train, valid, model, opt


def plain_epoch(model, opt, train: tuple, valid: tuple, step: int, steps: int) -> tuple:
    """One epoch: shuffled batches of 64 (last partial dropped), then validation loss and
    accuracy accumulated on the device. Returns (accuracy, step)."""
    (xc, xn, yt), (vc, vn, vy), bs = train, valid, 64
    model.train()
    train_loss = torch.zeros(())
    for idx in torch.randperm(len(yt))[: len(yt) // bs * bs].split(bs):
        lr, beta1 = one_cycle(step / steps, 1e-2)
        for group in opt.param_groups:
            group["lr"], group["betas"] = lr, (beta1, 0.99)
        loss = F.cross_entropy(model(xc[idx], xn[idx]), yt[idx])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        train_loss += loss.detach()
        step += 1
    model.eval()
    valid_loss, correct = torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.long)
    with torch.no_grad():
        for i in range(0, len(vy), bs):
            out = model(vc[i : i + bs], vn[i : i + bs])
            valid_loss += F.cross_entropy(out, vy[i : i + bs]) * len(out)
            correct += (out.argmax(1) == vy[i : i + bs]).sum()
    _ = (train_loss.item(), valid_loss.item() / len(vy))  # what a log line would print
    return correct.item() / len(vy), step


def run_plain(csv: Path, epochs: int, seed: int, emb_szs: list) -> dict:
    start = time.perf_counter()
    train, valid, model, opt = plain_setup(csv, seed, emb_szs)
    build = time.perf_counter() - start
    steps, step, wall, cpu = epochs * (len(train[2]) // 64), 0, [], []
    for _ in range(epochs):
        start = (time.perf_counter(), time.process_time())
        acc, step = plain_epoch(model, opt, train, valid, step, steps)
        wall.append(time.perf_counter() - start[0])
        cpu.append(time.process_time() - start[1])
    with torch.no_grad():
        forward = _latency(lambda r: model(*r), [(valid[0][:1], valid[1][:1])] * 200)
    return dict(epochs=wall, cpu=cpu, build=build, accuracy=acc, predict=forward)


class Lockstep(Callback):
    """After each fastlearn epoch (and after EpochClock has stopped), one plain-loop epoch,
    timed the same way: the two alternate every few seconds, so load on a shared machine
    falls on both alike."""

    order = 110

    def __init__(self, csv: Path, seed: int, emb_szs: list, epochs: int) -> None:
        self.train, self.valid, self.model, self.opt = plain_setup(csv, seed, emb_szs)
        self.step, self.steps = 0, epochs * (len(self.train[2]) // 64)
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def after_epoch(self, learn) -> None:
        start = (time.perf_counter(), time.process_time())
        _, self.step = plain_epoch(
            self.model, self.opt, self.train, self.valid, self.step, self.steps
        )
        self.wall.append(time.perf_counter() - start[0])
        self.cpu.append(time.process_time() - start[1])


def run_lockstep(csv: Path, epochs: int, seed: int, emb_szs: list) -> list[tuple[float, float]]:
    """(wall, CPU) ratios fastlearn / plain loop of each epoch, the two run in turn."""
    dls = TabularDataLoaders.from_csv(csv, device="cpu", **SETUP)
    set_seed(seed)
    learn = tabular_learner(dls, metrics=accuracy, show_progress=False)
    clock, plain = EpochClock(), Lockstep(csv, seed, emb_szs, epochs)
    learn.fit_one_cycle(epochs, 1e-2, cbs=[clock, plain])
    return [(a / b, c / d) for a, b, c, d in zip(clock.wall, plain.wall, clock.cpu, plain.cpu)]


def _split(n: int) -> tuple[list[int], list[int]]:
    """fastai's RandomSplitter(0.2, seed=42): a seeded permutation, the first 20% valid."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(42)).tolist()
    cut = int(round(0.2 * n))
    return perm[cut:], perm[:cut]


# ---------------------------------------------------------------------- fastai, in its own venv
FASTAI_SCRIPT = r"""
import json, statistics, sys, time, warnings
warnings.filterwarnings("ignore")
import torch
from fastai.tabular.all import *
csv, epochs, seed, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
cat_names, cont_names = json.loads(sys.argv[5])
torch.set_num_threads(threads)
class EpochTimer(Callback):
    order = 100
    def before_fit(self): self.wall, self.cpu = [], []
    def before_epoch(self): self.start = (time.perf_counter(), time.process_time())
    def after_epoch(self):
        self.wall.append(time.perf_counter() - self.start[0])
        self.cpu.append(time.process_time() - self.start[1])
start = time.perf_counter()
dls = TabularDataLoaders.from_csv(csv, y_names="salary", cat_names=cat_names, cont_names=cont_names,
    procs=[Categorify, FillMissing, Normalize], valid_idx=None, seed=42, bs=64, device="cpu")
set_seed(seed)
learn = tabular_learner(dls, metrics=accuracy)
build = time.perf_counter() - start
timer = EpochTimer()
with learn.no_bar(), learn.no_logging():
    learn.fit_one_cycle(epochs, 1e-2, cbs=timer)
acc = float(learn.recorder.values[-1][-1])  # before predict, which logs too
df = pd.read_csv(csv, skipinitialspace=True)
times = []
with learn.no_bar():
    learn.predict(df.iloc[0])
    for i in range(30):
        t = time.perf_counter(); learn.predict(df.iloc[i]); times.append(time.perf_counter() - t)
result = dict(epochs=timer.wall, cpu=timer.cpu, build=build, accuracy=acc,
              predict=statistics.median(times))
print(json.dumps(result))
"""


def run_fastai(python: str, csv: Path, epochs: int, seed: int, threads: int) -> dict:
    out = subprocess.run(
        [
            python,
            "-c",
            FASTAI_SCRIPT,
            str(csv),
            str(epochs),
            str(seed),
            str(threads),
            json.dumps([CAT_NAMES, CONT_NAMES]),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"fastai run failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- driver
def check_same_tensors(csv: Path) -> None:
    """fastlearn's tables equal the hand-written preprocessing's (so the batches are the same)."""
    dls = TabularDataLoaders.from_csv(csv, device="cpu", **SETUP)
    df = pd.read_csv(csv, skipinitialspace=True)
    train, _ = _split(len(df))
    cats, conts, y = (t[train] for t in plain_preprocess(df, np.asarray(train)))
    ours = dls.train.dataset.tensors
    assert torch.equal(ours[0], cats) and torch.equal(ours[2], y), "categorical codes differ"
    torch.testing.assert_close(ours[1], conts, rtol=0, atol=1e-6)


def profile_epoch(csv: Path) -> None:
    """Where one fastlearn epoch spends its time (cProfile, top functions by own time)."""
    import cProfile
    import pstats

    dls = TabularDataLoaders.from_csv(csv, device="cpu", **SETUP)
    learn = tabular_learner(dls, metrics=accuracy, show_progress=False)
    learn.fit_one_cycle(1, 1e-2)  # warm up
    profiler = cProfile.Profile()
    profiler.runcall(learn.fit_one_cycle, 1, 1e-2)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="folder holding adult_sample.tgz or adult.csv")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads, for all three")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-fastai", action="store_true")
    parser.add_argument(
        "--lockstep",
        type=int,
        default=8,
        help="epochs of fastlearn and the plain loop in turn (0: skip)",
    )
    parser.add_argument("--profile", action="store_true", help="profile one fastlearn epoch")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    csv = adult_csv(args.data)
    if args.profile:
        return profile_epoch(csv)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # torch's one-time lazy imports
    check_same_tensors(csv)
    python = None if args.no_fastai else fastai_python()
    names = ["fastlearn", "plain loop"] + (["fastai 2.8"] if python else [])
    emb_szs = get_emb_sz(TabularDataLoaders.from_csv(csv, device="cpu", **SETUP))
    runners = {
        "fastlearn": lambda seed: run_fastlearn(csv, args.epochs, seed),
        "plain loop": lambda seed: run_plain(csv, args.epochs, seed, emb_szs),
        "fastai 2.8": lambda seed: run_fastai(python, csv, args.epochs, seed, args.threads),
    }
    results: dict[str, list[dict]] = {n: [] for n in names}
    for r in range(args.rounds):  # the order rotates; round r trains with seed + r
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            results[name].append(runners[name](args.seed + r))
        fl, plain = results["fastlearn"][-1], results["plain loop"][-1]
        ratios = [_median_epoch([fl], c) / _median_epoch([plain], c) for c in ("epochs", "cpu")]
        accs = ", ".join(f"{n} {results[n][-1]['accuracy']:.4f}" for n in names)
        print(
            f"round {r + 1}/{args.rounds} ({', '.join(order)}): fastlearn/plain wall "
            f"{ratios[0]:.3f}, CPU {ratios[1]:.3f}; accuracy {accs}",
            flush=True,
        )
    print_table(results, args)
    if args.lockstep:
        ratios = run_lockstep(csv, args.lockstep, args.seed, emb_szs)
        for i, name in enumerate(("wall", "CPU")):
            values = [r[i] for r in ratios]
            print(
                f"lockstep, fastlearn / plain per epoch ({name}): "
                f"{', '.join(f'{v:.3f}' for v in values)}; median "
                f"{statistics.median(values):.3f} (target <= 1.10)"
            )


def _median_epoch(runs: list[dict], clock: str = "epochs") -> float:
    """Median seconds per epoch over every epoch of `runs` (wall clock, or "cpu")."""
    return statistics.median(t for run in runs for t in run[clock])


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def print_table(results: dict[str, list[dict]], args: argparse.Namespace) -> None:
    """The comparison table, then the paired fastlearn / plain ratios per round."""
    wall, cpu = (_median_epoch(results["plain loop"], c) for c in ("epochs", "cpu"))
    rows = {
        "wall seconds per epoch (median)": lambda rs: f"{_median_epoch(rs):.3f}",
        "  ratio to the plain loop": lambda rs: f"{_median_epoch(rs) / wall:.2f}x",
        "CPU seconds per epoch (median)": lambda rs: f"{_median_epoch(rs, 'cpu'):.3f}",
        "  ratio to the plain loop ": lambda rs: f"{_median_epoch(rs, 'cpu') / cpu:.2f}x",
        "build: read + preprocess + model (s)": lambda rs: f"{_median(rs, 'build'):.2f}",
        "predict(row), median (ms)": lambda rs: f"{_median(rs, 'predict') * 1e3:.3f}",
        "validation accuracy (median)": lambda rs: f"{_median(rs, 'accuracy'):.4f}",
    }
    print(
        f"\nAdult, {args.epochs} epochs x {args.rounds} rounds, torch threads {args.threads}, "
        f"torch {torch.__version__}"
    )
    print(f"{'':38}" + "".join(f"{n:>14}" for n in results))
    for label, cell in rows.items():
        print(f"{label:38}" + "".join(f"{cell(rs):>14}" for rs in results.values()))
    fl = results["fastlearn"]
    for clock in ("epochs", "cpu"):
        paired = [
            _median_epoch([a], clock) / _median_epoch([b], clock)
            for a, b in zip(fl, results["plain loop"])
        ]
        print(
            f"fastlearn / plain, {'wall' if clock == 'epochs' else 'CPU'} time, per round: "
            f"{', '.join(f'{p:.3f}' for p in paired)}; median {statistics.median(paired):.3f}"
            " (target <= 1.10)"
        )
    print(
        f"fastlearn predict(dict row): {_median(fl, 'predict_dict') * 1e3:.3f} ms; the plain "
        "loop's predict column is the model's forward alone on a pre-encoded row"
    )
    if "fastai 2.8" in results:
        fastai = results["fastai 2.8"]
        print(
            f"fastlearn per epoch is {_median_epoch(fastai) / _median_epoch(fl):.1f}x (wall), "
            f"{_median_epoch(fastai, 'cpu') / _median_epoch(fl, 'cpu'):.1f}x (CPU) faster "
            "than fastai 2.8"
        )
    else:
        print(
            "fastai 2.8: skipped (no .venv-fastai; run `bash benchmarks/setup_fastai_env.sh` "
            "or set FASTAI_PYTHON)"
        )


if __name__ == "__main__":
    main()
