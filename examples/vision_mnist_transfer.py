"""MNIST sample (3 vs 7) with a pretrained body: `fine_tune(1)` beats the linear probe.

    python examples/vision_mnist_transfer.py [--data FOLDER] [--size 64] [--epochs 1]

Where the Pets examples have 480 training images, this one has 12,396: enough for the
unfrozen stage of `fine_tune` to adapt the body. EfficientNet-Lite0 (ImageNet weights) with
`fine_tune`'s default arguments, digits resized to 64 px (grey PNGs, read as RGB as the
course does). The linear probe (`learn.probe()`: logistic regression on the frozen body's
pooled features of the same images) is measured in the same run. Asserts that fine-tuning
is at least as good as the probe, rate against rate (2,038 validation digits: one error is
0.05 points), and not significantly worse on the items where they disagree; the error after
the frozen epoch alone is printed too (the head alone trails the probe: see
docs/benchmarks.md, "Transfer learning").
"""

from __future__ import annotations

from common import Timer, check, check_probe, dataset, parse_args

from fastlearn.vision.all import *


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], size=64, epochs=1, bs=64)
    path = dataset(URLs.MNIST_SAMPLE, args.data, "train/3")
    set_seed(args.seed)
    dls = ImageDataLoaders.from_folder(
        path, train="train", valid="valid", item_tfms=Resize(args.size), bs=args.bs
    )
    print(
        f"{len(dls.train.dataset)} training and {len(dls.valid.dataset)} validation digits, "
        f"classes {dls.vocab}"
    )
    learn = vision_learner(dls, efficientnet_lite0, metrics=error_rate)
    with Timer("linear probe"):
        probe = learn.probe()
    with Timer("fine_tune"):
        learn.fine_tune(args.epochs)
    history = learn.recorder.history
    print(f"error after the frozen epoch {history[0]['error_rate']:.4f}")
    check("error_rate", history[-1]["error_rate"], probe.error_rate, at_most=True)
    check_probe("fine_tune", learn, probe)


if __name__ == "__main__":
    main()
