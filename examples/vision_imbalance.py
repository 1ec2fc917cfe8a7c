"""Class imbalance: Pets breeds with 10% of the Bengal training images kept, trained three ways.

    python examples/vision_imbalance.py [--data FOLDER] [--size 128] [--keep 0.1]

1. plain: the imbalanced training set as it is; 2. oversampled: `dls.resampled("over")` draws
every class as often as the largest each epoch; 3. class weights: cross entropy weighted by
inverse class frequency (`class_weights`).

The validation set keeps every class whole. Prints per-class recall (from the confusion matrix)
and balanced accuracy for each, and how each remedy changes the rare class's recall. Which
remedy wins is what this example measures, so it asserts only a floor that catches a broken
run: balanced accuracy at least 0.8 for all three (chance is 0.33); it asserts plain
`fine_tune` is not significantly worse than the linear probe on the same images.
"""

from __future__ import annotations

from common import Timer, check, check_probe, dataset, parse_args

from fastlearn.vision.all import *

RARE = "Bengal"


def imbalanced_splitter(labels: list[str], keep: float, seed: int):
    """A random 20% validation split; of the rest, only `keep` of the RARE class."""

    def split(items: list) -> tuple[list[int], list[int]]:
        train, valid = RandomSplitter(0.2, seed=seed)(items)
        rare = [i for i in train if labels[i] == RARE]
        kept = set(rare[: max(1, round(keep * len(rare)))])
        return [i for i in train if labels[i] != RARE or i in kept], valid

    return split


def recalls(learn: VisionLearner) -> list[float]:
    """Per-class recall: the confusion matrix's diagonal over its row sums."""
    cm = ClassificationInterpretation.from_learner(learn).confusion_matrix().double()
    return (cm.diag() / cm.sum(1).clamp(min=1)).tolist()


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], size=128, epochs=1, bs=32, keep=0.1)
    path = dataset(URLs.PETS, args.data, "images") / "images"
    files = get_image_files(path)
    pat = r"^(.+)_\d+\.jpg$"
    labels = [RegexLabeller(pat)(f) for f in files]
    dls = ImageDataLoaders.from_name_re(
        path,
        files,
        pat=pat,
        splitter=imbalanced_splitter(labels, args.keep, 42),
        item_tfms=Resize(args.size),
        batch_tfms=aug_transforms(),
        bs=args.bs,
    )
    counts = torch.bincount(dls.train.dataset.targets, minlength=len(dls.vocab)).tolist()
    print(f"training images per class: {dict(zip(dls.vocab, counts))}")
    weights = class_weights(dls.train.dataset.targets, len(dls.vocab))
    runs = {
        "plain": (dls, None),
        "oversampled": (dls.resampled("over", seed=args.seed), None),
        "class weights": (dls, CrossEntropyLossFlat(weight=weights)),
    }
    results, errors, learners = {}, {}, {}
    for name, (run_dls, loss_func) in runs.items():
        set_seed(args.seed)
        learn = vision_learner(
            run_dls,
            "efficientnet_lite0",
            metrics=error_rate,
            loss_func=loss_func,
            show_progress=False,
        )
        with Timer(name):
            learn.fine_tune(args.epochs)
        results[name] = recalls(learn)
        errors[name] = learn.recorder.history[-1]["error_rate"]
        learners[name] = learn

    rare = dls.vocab.index(RARE)
    print(f"{'recall':16}" + "".join(f"{c:>18}" for c in dls.vocab) + f"{'balanced acc':>16}")
    for name, rec in results.items():
        print(f"{name:16}" + "".join(f"{r:18.3f}" for r in rec) + f"{sum(rec) / len(rec):16.3f}")
    for name in ("oversampled", "class weights"):
        change = results[name][rare] - results["plain"][rare]
        print(f"{name}: {RARE} recall {change:+.3f} against plain training")
    for name, rec in results.items():
        check(f"{name}: balanced accuracy", sum(rec) / len(rec), 0.8)
    with Timer("linear probe"):
        probe = linear_probe(dls, "efficientnet_lite0")
    check_probe("plain fine_tune", learners["plain"], probe)


if __name__ == "__main__":
    main()
