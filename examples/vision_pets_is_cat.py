"""Lesson 1: is it a cat? Pets sample, EfficientNet-Lite0 pretrained, `fine_tune(1)`.

    python examples/vision_pets_is_cat.py [--data FOLDER] [--size 192] [--epochs 1]

The course's first model with only the import line changed (and EfficientNet-Lite0, whose
ImageNet weights install offline, for resnet34). Images are 192 px to run in a few minutes on
two CPU cores. Prints the error rate and asserts it is at most 2% and not significantly worse
than a linear probe on the same images (`linear_probe`, same run, `check_probe`); then exports
the model and checks that the loaded predictor agrees with `learn.predict`.
"""

from __future__ import annotations

import tempfile

from common import Timer, check, check_probe, dataset, parse_args

from fastlearn.vision.all import *


def is_cat(x: str) -> bool:
    return x[0].isupper()


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], size=192, epochs=1, bs=32)
    path = dataset(URLs.PETS, args.data, "images") / "images"
    set_seed(args.seed)
    dls = ImageDataLoaders.from_name_func(
        path,
        get_image_files(path),
        valid_pct=0.2,
        seed=42,
        label_func=is_cat,
        item_tfms=Resize(args.size),
        bs=args.bs,
    )
    print(
        f"{len(dls.train.dataset)} training and {len(dls.valid.dataset)} validation images, "
        f"classes {dls.vocab}"
    )
    learn = vision_learner(dls, efficientnet_lite0, metrics=error_rate)
    with Timer("fine_tune"):
        learn.fine_tune(args.epochs)

    error = learn.recorder.history[-1]["error_rate"]
    file = get_image_files(path)[0]
    label, _, probs = learn.predict(file)
    print(f"{file.name}: is a cat? {label} (probability {float(probs.max()):.3f})")
    predictor = load_learner(learn.export(Path(tempfile.mkdtemp()) / "pets_is_cat.fl"))
    assert predictor.predict(file)[0] == label
    check("error_rate", error, 0.02, at_most=True)
    with Timer("linear probe"):
        probe = linear_probe(dls, efficientnet_lite0)
    check_probe("fine_tune", learn, probe)


if __name__ == "__main__":
    main()
