"""Bike sharing, hourly rentals as regression: date parts from `add_datepart`, the last 20%
of the hours (by date) as validation, and the RMSE in bikes against a mean-per-hour baseline.

    python examples/tabular_bike.py [--data FOLDER] [--epochs 8] [--threads 1]

The model learns log(1 + count) within a bounded range (`y_range`), so errors are relative;
its predictions are turned back into counts for the RMSE. Prints both RMSEs and asserts the
model's is under 60% of the baseline's.
"""

from __future__ import annotations

from common import dataset, parse_args

from fastlearn.tabular.all import *


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], epochs=8, lr=1e-2, bs=128)
    path = dataset(URLs.BIKE, args.data, "hour.csv")
    df = pd.read_csv(path / "hour.csv")
    df["date"] = pd.to_datetime(df["dteday"]) + pd.to_timedelta(df["hr"], unit="h")
    df = add_datepart(df, "date", time=True, drop=False)  # Year, Month, ... Hour, Elapsed
    df["log_cnt"] = np.log1p(df["cnt"])
    # casual + registered = cnt (the answer); instant, dteday, yr, mnth, hr and weekday repeat
    # the date, which add_datepart has expanded.
    features = df.drop(
        columns=[
            "instant",
            "dteday",
            "yr",
            "mnth",
            "hr",
            "weekday",
            "casual",
            "registered",
            "cnt",
            "log_cnt",
            "date",
            "Minute",
            "Second",
        ]
    )
    cont_names, cat_names = cont_cat_split(features, max_card=24)
    print(f"categorical: {cat_names}\ncontinuous: {cont_names}")

    set_seed(args.seed)
    dls = TabularDataLoaders.from_df(
        df,
        cat_names=cat_names,
        cont_names=cont_names,
        y_names="log_cnt",
        splitter=TimeSplitter("date", 0.2),
        bs=args.bs,
    )
    dls.show_batch(3)
    y_max = float(df["log_cnt"].max()) * 1.2
    learn = tabular_learner(dls, y_range=(0, y_max), metrics=rmse)
    learn.fit_one_cycle(args.epochs, args.lr)

    preds, targets = learn.get_preds()
    counts, predicted = np.expm1(targets.numpy().ravel()), np.expm1(preds.numpy().ravel())
    model_rmse = float(np.sqrt(np.mean((predicted - counts) ** 2)))
    train_rows, valid_rows = TimeSplitter("date", 0.2)(df)
    per_hour = df.iloc[train_rows].groupby("hr")["cnt"].mean()
    baseline = per_hour.reindex(df["hr"].iloc[valid_rows]).to_numpy()
    baseline_rmse = float(np.sqrt(np.mean((baseline - counts) ** 2)))
    first_valid = df["date"].iloc[valid_rows].min()
    print(f"validation: {len(valid_rows)} hours from {first_valid:%Y-%m-%d %H:00}")
    print(
        f"RMSE (bikes per hour): model {model_rmse:.1f}, mean-per-hour baseline "
        f"{baseline_rmse:.1f} (ratio {model_rmse / baseline_rmse:.2f})"
    )
    assert model_rmse < 0.6 * baseline_rmse, (model_rmse, baseline_rmse)


if __name__ == "__main__":
    main()
