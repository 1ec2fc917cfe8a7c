"""MovieLens 100k as text regression: each film's mean rating predicted from its title and
genres by fine-tuning MiniLM-L6, judged by Pearson correlation on held-out films.

    python examples/transformers_movielens.py [--data FOLDER] [--model FOLDER] [--epochs 3]

A film's text is "Toy Story (1995). Animation, Children's, Comedy"; its target is the mean of
its ratings (films with at least `--min-ratings` ratings, so the mean is more than noise).
20% of the films (seed 42) are held out. Prints Pearson r (with its 95% interval, by Fisher's
z) and Spearman r, and the RMSE against a baseline that predicts the training mean (whose
correlation is undefined: it is constant); asserts r >= 0.55, the interval's lower end above
0, and an RMSE below the baseline's.
"""

from __future__ import annotations

import math
import time

import pandas as pd
from common import dataset, parse_args

from fastlearn import PearsonCorrCoef, SpearmanCorrCoef, URLs, rmse, set_seed
from fastlearn.text import HFTextDataLoaders, transformers_learner

GENRES = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
]


def film_table(folder, min_ratings: int) -> pd.DataFrame:
    """One row per film: text (title and genres), mean rating, number of ratings."""
    items = pd.read_csv(
        folder / "u.item",
        sep="|",
        encoding="latin-1",
        header=None,
        names=["movie", "title", "date", "video", "url", *GENRES],
    )
    ratings = pd.read_csv(
        folder / "u.data", sep="\t", header=None, names=["user", "movie", "rating", "timestamp"]
    )
    stats = ratings.groupby("movie")["rating"].agg(["mean", "count"])
    films = items.join(stats, on="movie")
    genres = films[GENRES].apply(lambda row: ", ".join(g for g in GENRES if row[g]), axis=1)
    films["text"] = films["title"] + ". " + genres
    return films.loc[films["count"] >= min_ratings, ["text", "mean", "count"]].reset_index(
        drop=True
    )


def main() -> None:
    args = parse_args(
        __doc__.splitlines()[0],
        with_model=True,
        epochs=3,
        lr=2e-4,
        bs=32,
        max_len=48,
        min_ratings=10,
    )
    films = film_table(dataset(URLs.ML_100k, args.data, "u.item"), args.min_ratings)
    print(
        f"{len(films)} films with at least {args.min_ratings} ratings, e.g. "
        f"{films.text[0]!r}: {films['mean'][0]:.2f}"
    )
    set_seed(args.seed)
    start = time.time()
    dls = HFTextDataLoaders.from_df(
        films,
        "text",
        "mean",
        tokenizer=args.model,
        max_len=args.max_len,
        bs=args.bs,
        valid_pct=0.2,
        seed=args.seed,
    )
    learn = transformers_learner(
        dls, args.model, y_range=(1.0, 5.0), metrics=[PearsonCorrCoef(), SpearmanCorrCoef(), rmse]
    )
    learn.fit_one_cycle(args.epochs, args.lr)
    preds, targets = learn.get_preds()
    preds, targets = preds.flatten(), targets.flatten()
    r = float(pd.Series(preds.numpy()).corr(pd.Series(targets.numpy())))
    half = 1.96 / math.sqrt(len(targets) - 3)  # Fisher z: atanh(r) is ~normal, sd 1/sqrt(n-3)
    low, high = math.tanh(math.atanh(r) - half), math.tanh(math.atanh(r) + half)
    model_rmse = float(((preds - targets) ** 2).mean().sqrt())
    train_mean = float(dls.train.dataset.targets.mean())
    base_rmse = float(((targets - train_mean) ** 2).mean().sqrt())
    print(f"held-out films: {len(targets)}, {time.time() - start:.0f} s")
    print(
        f"Pearson r {r:.3f} (95% interval {low:.3f} to {high:.3f}; baseline: undefined, it "
        f"predicts {train_mean:.2f} for all); "
        f"RMSE model {model_rmse:.3f}, training-mean baseline {base_rmse:.3f}"
    )
    print(learn.predict("Star Wars (1977). Action, Adventure, Romance, Sci-Fi, War"))
    assert r >= 0.55 and low > 0 and model_rmse < base_rmse, (r, low, model_rmse, base_rmse)


if __name__ == "__main__":
    main()
