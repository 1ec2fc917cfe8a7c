"""Three pet breeds from the file names (`from_name_re`), with presizing and augmentation.

    python examples/vision_pets_breeds.py [--data FOLDER] [--size 160] [--epochs 2]
        [--freeze-epochs 2] [--plots DIR]

Labels come from a regular expression on the file name (`Bengal_12.jpg` -> `Bengal`). Presizing
as in the course: each image is first resized large on the CPU (`Resize(224)`), then
`aug_transforms(size=160, min_scale=0.75)` crops and augments a whole batch on the device in
one resampling. EfficientNet-Lite0 pretrained, `fine_tune`: two epochs for the new head (body
frozen), then two for every layer. Prints the error rate (asserted at most 5%, and not
significantly worse than the linear probe on the same images, measured in the same run:
`check_probe`), the confusion matrix and the most confused pairs. With `--plots DIR`, saves
there a training batch, the confusion matrix, the top losses and a Grad-CAM heat map.
"""

from __future__ import annotations

from common import Timer, check, check_probe, dataset, parse_args

from fastlearn.vision.all import *


def main() -> None:
    args = parse_args(
        __doc__.splitlines()[0], size=160, presize=224, epochs=2, freeze_epochs=2, bs=32, plots=""
    )
    path = dataset(URLs.PETS, args.data, "images") / "images"
    set_seed(args.seed)
    dls = ImageDataLoaders.from_name_re(
        path,
        get_image_files(path),
        pat=r"^(.+)_\d+\.jpg$",
        valid_pct=0.2,
        seed=42,
        item_tfms=Resize(args.presize),
        batch_tfms=aug_transforms(size=args.size, min_scale=0.75),
        bs=args.bs,
    )
    print(f"classes: {dls.vocab}")
    learn = vision_learner(dls, "efficientnet_lite0", metrics=error_rate)
    with Timer("fine_tune"):
        learn.fine_tune(args.epochs, freeze_epochs=args.freeze_epochs)

    interp = ClassificationInterpretation.from_learner(learn)
    print(interp.print_confusion_matrix())
    print("most confused:", interp.most_confused())
    if args.plots:
        out = Path(args.plots)
        dls.show_batch(path=out / "breeds_batch.png")
        interp.plot_confusion_matrix(path=out / "breeds_confusion.png")
        interp.plot_top_losses(6, path=out / "breeds_top_losses.png")
        image = dls.valid.dataset.items[0]
        plot_grad_cam(learn, image, path=out / "breeds_grad_cam.png")
        print(
            f"plots in {out}: breeds_batch, breeds_confusion, breeds_top_losses, "
            f"breeds_grad_cam (of {image.name}, predicted {learn.predict(image)[0]})"
        )
    error = learn.recorder.history[-1]["error_rate"]
    check("error_rate", error, 0.05, at_most=True)
    with Timer("linear probe"):
        probe = learn.probe()
    check_probe("fine_tune", learn, probe)


if __name__ == "__main__":
    main()
