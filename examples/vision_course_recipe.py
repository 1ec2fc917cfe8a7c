"""The course's CNN recipe: small images frozen, lr_find, unfreeze with a slice, then double
the image size and do it again (progressive resizing), on the three Pets breeds.

    python examples/vision_course_recipe.py [--data FOLDER] [--size 96] [--epochs 2] [--plots DIR]

From the course notes: pick the learning rate with the finder and fit the head (body frozen);
unfreeze, run the finder again and fit every layer with discriminative learning rates
`slice(low, lr / 5)`, `low` from the finder; then go bigger on the image size (double it):
freeze, finder, fit; unfreeze, finder, refit. The same learner continues on new loaders
(`learn.dls = bigger`), which keep the pretrained model's normalisation. Prints the error rate
after each stage; asserts the final one is at most 5% and not significantly worse than the
linear probe on the final (larger) images, measured in the same run (`check_probe`). With
`--plots DIR`, saves each learning rate finder's curve there.
"""

from __future__ import annotations

from common import Timer, check, check_probe, dataset, parse_args

from fastlearn.vision.all import *


def pets(path: Path, size: int, bs: int) -> ImageDataLoaders:
    """Presizing: items at 1.5x the size on the CPU, then random crops of size in batches."""
    return ImageDataLoaders.from_name_re(
        path,
        get_image_files(path),
        pat=r"^(.+)_\d+\.jpg$",
        valid_pct=0.2,
        seed=42,
        item_tfms=Resize(int(size * 1.5)),
        batch_tfms=aug_transforms(size=size, min_scale=0.75),
        bs=bs,
    )


def stage(learn: VisionLearner, name: str, epochs: int, num_it: int, plots: str) -> None:
    """Frozen: finder, fit the head. Unfrozen: finder, fit all with slice(low, lr / 5)."""

    def plot(which: str) -> Path | None:  # where to save the finder's curve, if anywhere
        return Path(plots) / f"lr_find_{name.replace(' ', '')}_{which}.png" if plots else None

    learn.freeze()
    lr = learn.lr_find(num_it=num_it, show_plot=False, plot_path=plot("frozen")).valley
    learn.fit_one_cycle(epochs, lr)
    print(f"{name}, frozen at lr {lr:.2e}: error {learn.recorder.history[-1]['error_rate']:.4f}")
    learn.unfreeze()
    low = learn.lr_find(num_it=num_it, show_plot=False, plot_path=plot("unfrozen")).valley
    lrs = slice(min(low, lr / 50), lr / 5)
    learn.fit_one_cycle(epochs, lrs)
    print(
        f"{name}, unfrozen at slice({lrs.start:.2e}, {lrs.stop:.2e}): error "
        f"{learn.recorder.history[-1]['error_rate']:.4f}"
    )


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], size=96, epochs=2, bs=32, num_it=30, plots="")
    path = dataset(URLs.PETS, args.data, "images") / "images"
    set_seed(args.seed)
    learn = vision_learner(pets(path, args.size, args.bs), "efficientnet_lite0", metrics=error_rate)
    with Timer(f"{args.size} px"):
        stage(learn, f"{args.size} px", args.epochs, args.num_it, args.plots)
    learn.dls = pets(path, 2 * args.size, args.bs)  # progressive resizing: same weights
    with Timer(f"{2 * args.size} px"):
        stage(learn, f"{2 * args.size} px", args.epochs, args.num_it, args.plots)
    error = learn.recorder.history[-1]["error_rate"]
    check("error_rate", error, 0.05, at_most=True)
    with Timer("linear probe"):
        probe = learn.probe()
    check_probe("lr_find + slice", learn, probe)


if __name__ == "__main__":
    main()
