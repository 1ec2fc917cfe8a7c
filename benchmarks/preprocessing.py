"""Preprocessing speed: one tabular row through predict, a million rows through a fitted
TabularProcessor, a million tokens through a Vocab. These were speed claims in test names;
a shared CI machine can't time them reliably, so they are measured here and printed.

    python benchmarks/preprocessing.py [--rounds 5]

Each figure is the median of `--rounds` runs, wall seconds; the reference lines are what the
tests once expected on an idle machine (about 0.2 ms a row, about a second for each million).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch


def median_seconds(run: Callable[[], object], rounds: int) -> float:
    """The median wall time of `rounds` calls of `run` (one untimed call first)."""
    run()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def tabular_predict(rounds: int) -> float:
    """Seconds for `TabularLearner.predict` of one row (a small trained classifier)."""
    from fastlearn import set_seed
    from fastlearn.tabular import TabularDataLoaders, tabular_learner

    rng = np.random.default_rng(0)
    n = 2000
    df = pd.DataFrame(
        {
            "color": rng.choice(["red", "blue", "green"], n),
            "x": rng.normal(size=n),
            "noise": rng.normal(size=n),
        }
    )
    df["label"] = np.where(df.x > 0, "yes", "no")
    set_seed(0)
    dls = TabularDataLoaders.from_df(
        df,
        cat_names=["color"],
        cont_names=["x", "noise"],
        y_names="label",
        valid_pct=0.2,
        seed=0,
        device="cpu",
    )
    learn = tabular_learner(dls, layers=[32, 16], show_progress=False)
    learn.fit(1, 1e-2)
    row = df.iloc[0]
    return median_seconds(lambda: [learn.predict(row) for _ in range(50)], rounds) / 50


def tabular_transform(rounds: int, n: int = 1_000_000) -> float:
    """Seconds for `TabularProcessor.transform` of n rows x 10 columns (5% missing numbers)."""
    from fastlearn.tabular import TabularProcessor

    rng = np.random.default_rng(0)
    words = np.array([f"v{k}" for k in range(100)])
    df = pd.DataFrame({f"c{i}": words[rng.integers(0, 100, n)] for i in range(5)})
    for i in range(5):
        df[f"x{i}"] = np.where(rng.random(n) < 0.05, np.nan, rng.normal(size=n))
    proc = TabularProcessor([f"c{i}" for i in range(5)], [f"x{i}" for i in range(5)])
    proc.fit(df.iloc[:100_000])
    cats, conts = proc.transform(df)
    assert cats.shape == (n, 10) and conts.shape == (n, 5)
    return median_seconds(lambda: proc.transform(df), rounds)


def vocab_numericalize(rounds: int, n: int = 1_000_000) -> float:
    """Seconds for `Vocab.numericalize` of n tokens (a sixth of them unknown)."""
    from fastlearn.text import Vocab

    vocab = Vocab.from_tokens([[f"w{i}" for i in range(1000)] * 3])
    tokens = [f"w{i % 1200}" for i in range(n)]
    ids = vocab.numericalize(tokens)
    assert ids.shape == (n,)
    return median_seconds(lambda: vocab.numericalize(tokens), rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [
        ("tabular predict, one row", tabular_predict(args.rounds), 0.0002),
        ("tabular transform, 1M rows x 10", tabular_transform(args.rounds), 1.0),
        ("vocab numericalize, 1M tokens", vocab_numericalize(args.rounds), 1.0),
    ]
    print(f"{'what':<34}{'median s':>12}{'idle-machine s':>16}")
    for name, seconds, reference in rows:
        print(f"{name:<34}{seconds:>12.4f}{reference:>16.4f}")


if __name__ == "__main__":
    main()
