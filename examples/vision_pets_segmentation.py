"""Pets trimaps as masks, a U-Net over the pretrained EfficientNet-Lite0 encoder.

    python examples/vision_pets_segmentation.py [--data FOLDER] [--size 128] [--epochs 3]
        [--plots DIR]

The Oxford-IIIT Pet trimaps mark each pixel pet (1), background (2) or border (3). They are
turned once into masks of class indices (background 0, pet 1, border 255 = void, left out of
the loss and the metrics) under `annotations/pet_masks`. `SegmentationDataLoaders` moves every
mask with its image (nearest neighbour); `unet_learner` builds the U-Net over the pretrained
encoder (Lite0's blocks without its 1280-wide head conv: 9.3M parameters), frozen for the
first epoch of `fine_tune`, its BatchNorm layers on their ImageNet statistics throughout.
Prints pet-vs-background Jaccard (IoU) and Dice; asserts Jaccard >= 0.8. With `--plots DIR`,
saves validation images with their target and predicted masks there.
"""

from __future__ import annotations

from common import Timer, check, dataset, parse_args

from fastlearn.vision.all import *

VOID = 255


def pet_masks(trimaps: Path, out: Path) -> Path:
    """Trimaps (1 pet, 2 background, 3 border) as masks (1 pet, 0 background, 255 void)."""
    out.mkdir(exist_ok=True)
    lut = np.array([VOID, 1, 0, VOID] + [VOID] * 252, dtype=np.uint8)
    for f in sorted(trimaps.glob("*.png")):
        if not (out / f.name).exists():
            Image.fromarray(lut[np.asarray(Image.open(f))]).save(out / f.name)
    return out


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], size=128, epochs=3, lr=2e-3, bs=16, plots="")
    path = dataset(URLs.PETS, args.data, "annotations/trimaps")
    masks = pet_masks(path / "annotations" / "trimaps", path / "annotations" / "pet_masks")
    set_seed(args.seed)
    dls = SegmentationDataLoaders.from_label_func(
        path,
        get_image_files(path / "images"),
        lambda f: masks / f"{f.stem}.png",
        codes=["background", "pet"],
        valid_pct=0.2,
        seed=42,
        item_tfms=Resize(args.size),
        batch_tfms=aug_transforms(),
        bs=args.bs,
    )
    metrics = [Jaccard(ignore_index=VOID), Dice(ignore_index=VOID)]
    learn = unet_learner(
        dls,
        "efficientnet_lite0",
        metrics=metrics,
        loss_func=CrossEntropyLossFlat(axis=1, ignore_index=VOID),
    )
    with Timer("fine_tune"):
        learn.fine_tune(args.epochs, args.lr)

    last = learn.recorder.history[-1]
    print(f"dice = {last['dice']:.4f}")
    if args.plots:
        learn.show_results(max_n=6, path=Path(args.plots) / "pets_segmentation_results.png")
        print(f"plot: {Path(args.plots) / 'pets_segmentation_results.png'}")
    check("jaccard (pet vs background)", last["jaccard_coeff"], 0.8)


if __name__ == "__main__":
    main()
