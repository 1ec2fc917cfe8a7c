"""Lesson: collaborative filtering on MovieLens 100K (the course's recommender notebook).

Users and films become embeddings; a rating is their dot product plus a user bias and a film
bias, squashed into (0, 5.5). Trains it with weight decay 0.1 and without, then the neural
variant, and looks inside: the films rated low or high whatever the taste, a PCA picture of
the film factors, similar films, recommendations. Asserts validation MSE <= 0.81 and that
wd=0.1 beats wd=0.

    python examples/collab_movielens.py                   # ml-100k through untar_data
    python examples/collab_movielens.py --data path/to/ml-100k.zip   # or the extracted folder

untar_data looks in FASTLEARN_DATA_MIRROR first (e.g. file:///work/shared/datasets/); when
that is unset and ../shared/datasets holds ml-100k.zip, the script points it there.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd
import torch

from fastlearn import URLs, set_seed, untar_data
from fastlearn.collab import CollabDataLoaders, collab_learner
from fastlearn.core.download import DownloadError

ROOT = Path(__file__).resolve().parents[1]
TARGET_MSE = 0.81


def movielens_folder(data: str | None) -> Path:
    """The extracted ml-100k folder: --data (a folder or the zip), else untar_data."""
    if data is not None:
        path = Path(data)
        if path.is_dir() and (path / "u.data").is_file():
            return path
        if path.is_file():
            return untar_data(str(path.resolve()))
        sys.exit(
            f"No MovieLens 100K at {path}: pass the folder holding u.data and u.item, "
            f"or ml-100k.zip."
        )
    shared = ROOT.parent / "shared" / "datasets"
    if "FASTLEARN_DATA_MIRROR" not in os.environ and (shared / "ml-100k.zip").is_file():
        os.environ["FASTLEARN_DATA_MIRROR"] = shared.as_uri() + "/"
    try:
        return untar_data(URLs.ML_100k)
    except (DownloadError, OSError) as e:
        sys.exit(
            f"Could not get MovieLens 100K ({e}).\nFix: set FASTLEARN_DATA_MIRROR to a "
            f"folder holding ml-100k.zip (e.g. file:///work/shared/datasets/), or pass "
            f"--data path/to/ml-100k.zip."
        )


def load_ratings(folder: Path) -> pd.DataFrame:
    """user, movie, rating, timestamp and the film's title (u.item is latin-1, '|' separated)."""
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


def train(dls: CollabDataLoaders, wd: float, seed: int, **kwargs) -> tuple:
    """A learner fitted as the course does; returns it and its final validation MSE."""
    set_seed(seed)
    learn = collab_learner(dls, y_range=(0, 5.5), **kwargs)
    learn.fit_one_cycle(5, 5e-3, wd=wd)
    return learn, learn.recorder.values[-1][1]


def show(title: str, rows: list) -> None:
    print(f"\n{title}")
    for name, value in rows:
        print(f"  {value:7.3f}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Collaborative filtering on MovieLens 100K.")
    parser.add_argument("--data", help="ml-100k folder or zip (default: untar_data)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default="outputs", help="folder for the PCA picture")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (64-row batches gain nothing from more)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    ratings = load_ratings(movielens_folder(args.data))
    print(ratings.head(), f"\n{len(ratings)} ratings")
    dls = CollabDataLoaders.from_df(ratings, item_name="title", bs=64, seed=args.seed)
    print(
        f"{dls.n_users} users, {dls.n_items} films; first batch x (user, film indices):\n"
        f"{dls.one_batch()[0][:3]}"
    )

    print("\nEmbeddingDotBias, 50 factors, weight decay 0.1")
    learn, mse = train(dls, 0.1, args.seed, n_factors=50)
    print("\nthe same without weight decay")
    _, mse_no_wd = train(dls, 0.0, args.seed, n_factors=50)
    print("\nEmbeddingNN, hidden layers [100, 50], weight decay 0.1")
    _, mse_nn = train(dls, 0.1, args.seed, use_nn=True, layers=[100, 50])
    print(
        f"\nvalidation MSE: dot product wd=0.1 {mse:.4f}, wd=0 {mse_no_wd:.4f}, neural {mse_nn:.4f}"
    )

    show("Lowest film biases (rated low whatever the taste):", learn.items_by_bias(5))
    show("Highest film biases:", learn.items_by_bias(5, highest=True))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    learn.plot_item_pca(n=50, top=1000, path=out / "collab_movielens_pca.png")
    print(f"\nPCA of the film factors: {out / 'collab_movielens_pca.png'}")
    for film in ("Silence of the Lambs, The (1991)", "Star Wars (1977)"):
        show(
            f"Most similar to {film} (cosine, films with 50+ ratings):",
            learn.most_similar(film, 5, min_ratings=50),
        )
    show("Recommended for user 196 (films not yet rated):", learn.recommend(196, 5))
    star_wars = learn.predict((196, "Star Wars (1977)"))
    newcomer = learn.predict(("new user", "Star Wars (1977)"), unknown="bias")
    print(f"\nuser 196 -> Star Wars: {star_wars:.2f}; a new user (film bias only): {newcomer:.2f}")

    assert mse <= TARGET_MSE, f"validation MSE {mse:.4f} above the target {TARGET_MSE}"
    assert mse < mse_no_wd, f"wd=0.1 ({mse:.4f}) should beat wd=0 ({mse_no_wd:.4f})"
    print(
        f"\nOK: validation MSE {mse:.4f} <= {TARGET_MSE}; wd=0.1 beats wd=0 "
        f"({mse:.4f} < {mse_no_wd:.4f})"
    )


if __name__ == "__main__":
    main()
