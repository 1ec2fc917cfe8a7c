"""MNIST sample (3 vs 7) from scratch with a small CNN: accuracy at least 99%.

    python examples/vision_mnist.py [--data FOLDER] [--epochs 2]

`ImageDataLoaders.from_folder` labels each digit by its folder (train/3, valid/7 ...) and
decodes the PNGs as one grey channel (`mode="L"`). The model is `simple_cnn`: stride-2
conv-BN-ReLU blocks, pooling and a linear layer, trained with the one-cycle schedule. The
model is exported (builder `simple_cnn`) and reloaded for a prediction.
"""

from __future__ import annotations

import tempfile

from common import Timer, check, dataset, parse_args

from fastlearn.vision.all import *


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], epochs=2, lr=1e-2, bs=128)
    path = dataset(URLs.MNIST_SAMPLE, args.data, "train/3")
    set_seed(args.seed)
    dls = ImageDataLoaders.from_folder(path, train="train", valid="valid", mode="L", bs=args.bs)
    print(
        f"{len(dls.train.dataset)} training and {len(dls.valid.dataset)} validation digits, "
        f"classes {dls.vocab}, {dls.n_channels} channel"
    )
    channels = (16, 32, 64, 128)
    model = simple_cnn(len(dls.vocab), channels, in_channels=dls.n_channels)
    learn = VisionLearner(
        dls,
        model,
        metrics=accuracy,
        builder="simple_cnn",
        builder_kwargs={
            "n_out": len(dls.vocab),
            "channels": list(channels),
            "in_channels": dls.n_channels,
        },
    )
    with Timer("fit_one_cycle"):
        learn.fit_one_cycle(args.epochs, args.lr)

    file = get_image_files(path / "valid" / "7")[0]
    predictor = load_learner(learn.export(Path(tempfile.mkdtemp()) / "mnist.fl"))
    print(
        f"{file.name}: learn.predict {learn.predict(file)[0]!r}, exported model "
        f"{predictor.predict(file)[0]!r}"
    )
    check("accuracy", learn.recorder.history[-1]["accuracy"], 0.99)


if __name__ == "__main__":
    main()
