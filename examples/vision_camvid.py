"""CamVid tiny: road scenes, 32 classes per pixel, U-Net over EfficientNet-Lite0.

    python examples/vision_camvid.py [--data FOLDER] [--epochs 10]

As the course's lesson: masks `labels/<name>_P.png` beside `images/<name>.png`, codes from
`codes.txt`, `unet_learner` and `fine_tune`. The metric is foreground accuracy: pixel
accuracy leaving out the 'Void' code. Prints it (and asserts a floor of 0.6, far below what
training reaches, to catch a broken pipeline).
"""

from __future__ import annotations

from common import Timer, check, dataset, parse_args

from fastlearn.vision.all import *


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], epochs=10, lr=2e-3, bs=8)
    path = dataset(URLs.CAMVID_TINY, args.data, "codes.txt")
    codes = (path / "codes.txt").read_text().split()
    void = codes.index("Void")
    set_seed(args.seed)
    dls = SegmentationDataLoaders.from_label_func(
        path,
        get_image_files(path / "images"),
        lambda f: path / "labels" / f"{f.stem}_P{f.suffix}",
        codes=codes,
        valid_pct=0.2,
        seed=42,
        bs=args.bs,
    )
    print(f"{len(dls.train.dataset)} training images, {len(codes)} codes, void = {void}")
    learn = unet_learner(dls, "efficientnet_lite0", metrics=ForegroundAccuracy(bkg_idx=void))
    with Timer("fine_tune"):
        learn.fine_tune(args.epochs, args.lr)
    check("foreground_acc", learn.recorder.history[-1]["foreground_acc"], 0.6)


if __name__ == "__main__":
    main()
