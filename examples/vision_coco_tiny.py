"""COCO tiny: object detection (6 classes, 200 images of 128 x 128), FCOS over EfficientNet-Lite0.

    python examples/vision_coco_tiny.py [--data FOLDER] [--epochs 30] [--size 192]
    python examples/vision_coco_tiny.py --part overfit     # the pipeline check alone

128-pixel JPEGs decode in well under a millisecond: loader workers (`--workers`) only add
processes competing for the cores, so the default is none.

As the course's lesson: boxes from `train.json` with `get_annotations`, a DataBlock of
(ImageBlock, BBoxBlock, BBoxLblBlock), a held-back 20% of the images (RandomSplitter,
seed 42). Three runs, each printed with its COCO mAP@[.5:.95] and mAP@.5:

1. the pipeline check: the detector overfits 8 images (train = valid, no augmentation) to
   mAP@.5 >= 0.9; if it can't, the encoding, the loss or NMS is wrong;
2. the reference: the same detector, same schedule, from random weights (no pretraining);
3. the model: pretrained body, `fine_tune`.

The metric is also checked against pycocotools on the model's own validation detections,
when pycocotools is installed. The assertions' floors come from measured runs; see
docs/detection.md for the figures and how the floors were chosen.
"""

from __future__ import annotations

from common import Timer, check, dataset, parse_args

from fastlearn.vision.all import *
from fastlearn.vision.detection import (
    BBoxBlock,
    BBoxLblBlock,
    DetectionInterpretation,
    MeanAveragePrecision,
    coco_evaluate,
    detection_learner,
    get_annotations,
)
from fastlearn.vision.detection.show import show_detection_batch

# Measured (2 CPU cores, seed 42, the defaults below; docs/detection.md): overfit 8 images
# mAP@.5 0.948; held-back 40 images: model mAP@.5 0.041 (mAP 0.009), reference (no
# pretraining, same schedule) 0.012. Floors: 60% of the model's figure, and pretraining ahead
# of the reference by at least one point.
FLOOR_MAP50, FLOOR_GAIN, FLOOR_OVERFIT = 0.025, 0.01, 0.9


def blocks(img2bbox, *, size, splitter, augment, get_items=get_image_files):
    return DataBlock(
        blocks=(ImageBlock, BBoxBlock, BBoxLblBlock),
        n_inp=1,
        get_items=get_items,
        splitter=splitter,
        get_y=[lambda o: img2bbox[o.name][0], lambda o: img2bbox[o.name][1]],
        item_tfms=Resize(size, method="squish"),
        batch_tfms=aug_transforms(max_rotate=5, max_warp=0.1, pad_mode="zeros")
        if augment
        else None,
    )


def learner(dls, pretrained, args):
    return detection_learner(
        dls,
        "efficientnet_lite0",
        pretrained=pretrained,
        width=args.width,
        n_convs=args.n_convs,
        metrics=[MeanAveragePrecision(), MeanAveragePrecision(0.5)],
    )


def report(name, learn):
    last = learn.recorder.history[-1]
    print(f"{name}: mAP@[.5:.95] {last['mAP']:.3f}  mAP@.5 {last['mAP50']:.3f}")
    return last


def check_against_pycocotools(learn):
    """Our mAP on the model's validation detections equals the COCO reference evaluator's."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        print("pycocotools not installed: the reference check is skipped")
        return
    import contextlib
    import io

    from fastlearn.vision.detection import to_coco
    from fastlearn.vision.detection.postprocess import split_targets

    dets, targets = [], []
    for x, boxes, labels in learn.dls.valid:
        dets += learn.detect_batch(x)
        targets += split_targets(boxes, labels)
    n_classes = len(learn.dls.vocab) - 1
    ours = coco_evaluate(dets, targets, n_classes)
    gt, results = to_coco(dets, targets, n_classes)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(results), "bbox")
        ev.evaluate(), ev.accumulate(), ev.summarize()
    diff = max(abs(ours["map"] - ev.stats[0]), abs(ours["map50"] - ev.stats[1]))
    print(
        f"pycocotools: mAP {ev.stats[0]:.4f} mAP@.5 {ev.stats[1]:.4f} (ours differ by {diff:.1e})"
    )
    check("agreement with pycocotools (1 - max difference)", 1 - diff, 1 - 1e-4)


def main() -> None:
    args = parse_args(
        __doc__.splitlines()[0],
        epochs=30,
        lr=4e-3,
        bs=8,
        size=192,
        width=64,
        n_convs=2,
        overfit_epochs=100,
        overfit_lr=3e-3,
        part="all",
        figures=".",
        workers=0,
    )
    path = dataset(URLs.COCO_TINY, args.data, "train.json")
    images, lbl_bbox = get_annotations(path / "train.json")
    img2bbox = dict(zip(images, lbl_bbox))
    print(f"{len(images)} images, {sum(len(b) for b, _ in lbl_bbox)} boxes")

    if args.part in ("all", "overfit"):
        overfit = overfit_check(args, path, img2bbox)
        check("overfit mAP@.5", overfit["mAP50"], FLOOR_OVERFIT)
    if args.part in ("all", "train"):
        train(args, path, img2bbox)


def overfit_check(args, path, img2bbox):
    """1. the pipeline check: 8 images, trained and validated on."""
    eight = sorted(get_image_files(path / "train"))[:8]
    same = lambda items: (list(range(len(items))), list(range(len(items))))  # noqa: E731
    set_seed(args.seed)
    dls8 = blocks(
        img2bbox, size=args.size, splitter=same, augment=False, get_items=None
    ).dataloaders(eight, bs=8, num_workers=args.workers)
    learn8 = learner(dls8, True, args)
    learn8.unfreeze()
    with Timer("overfit 8 images"):
        learn8.fit_one_cycle(args.overfit_epochs, slice(args.overfit_lr / 15, args.overfit_lr))
    return report("overfit 8 images", learn8)


def train(args, path, img2bbox):
    """2. and 3.: the held-back 20%, without and with pretraining."""
    block = blocks(img2bbox, size=args.size, splitter=RandomSplitter(0.2, seed=42), augment=True)
    results = {}
    for name, pretrained in (("reference (no pretraining)", False), ("model", True)):
        set_seed(args.seed)
        dls = block.dataloaders(path / "train", bs=args.bs, num_workers=args.workers)
        learn = learner(dls, pretrained, args)
        with Timer(f"{name} training"):
            if pretrained:
                learn.fine_tune(args.epochs, args.lr, freeze_epochs=3, lr_mult=20)
            else:
                learn.fit_one_cycle(args.epochs + 3, slice(args.lr / 40, args.lr / 2))
        results[name] = report(name, learn)
    print(f"{len(dls.train.dataset)} training images, {len(dls.valid.dataset)} validation")
    learn.show_results(max_n=6, path=Path(args.figures) / "coco_tiny_results.png")
    DetectionInterpretation.from_learner(learn).plot_top_losses(
        6, path=Path(args.figures) / "coco_tiny_worst.png"
    )
    show_detection_batch(
        dls, dls.train.one_batch(), max_n=6, path=Path(args.figures) / "coco_tiny_batch.png"
    )  # augmented

    check_against_pycocotools(learn)
    check("model mAP@.5", results["model"]["mAP50"], FLOOR_MAP50)
    check(
        "model mAP@.5 - reference mAP@.5",
        results["model"]["mAP50"] - results["reference (no pretraining)"]["mAP50"],
        FLOOR_GAIN,
    )


if __name__ == "__main__":
    main()
