"""Vision loading pipeline: fastlearn against a straightforward Pillow + torch pipeline.

Both do the same work on the Pets sample (600 JPEG photos, about 500x375) for one training
epoch of batches of 64: decode, resize/crop to the item size, flip, rotate, zoom, perspective
warp, brightness and contrast, normalise, batch.

- fastlearn: `ImageDataLoaders` with `Resize` on the CPU (Pillow, in workers), collated as
  uint8, then `aug_transforms()` + `Normalize` per batch: one `grid_sample` for the geometry.
- plain: a torch `Dataset` doing everything per item with Pillow (a resample per geometric
  augmentation: rotate, zoom, warp), brightness/contrast and normalisation per item in torch,
  then the default collate of float tensors: what a careful user writes by hand.

Two recipes: plain 224 resizing, and the course's presizing (460 on the CPU, then a random
crop of 75-100% to 224 in the batch). Runs alternate; the median of the repeats is reported.

    FASTLEARN_DATA_MIRROR=file:///work/shared/datasets/ python benchmarks/vision.py \
        [--repeats 3] [--workers 0 2] [--bs 64] [--threads 1]

With 0 workers everything runs in the main process, and its CPU time per image is reported
too: a figure that other jobs sharing the cores hardly move (wall clock does). One torch
thread by default: the plain pipeline's many small per-item torch ops slow down several
times with 2 threads on busy cores (thread hand-offs), which would flatter fastlearn.

Then training steps: `VisionLearner.fit_one_cycle` against a hand-written loop (Adam +
OneCycleLR, uint8 batches turned to floats and normalised) on the same model, initial weights
and in-memory batches, for a small CNN (where the loop's overhead shows) and a ResNet-18.
Alone: `python benchmarks/vision.py train [--repeats 3] [--n 512] [--bs 32] [--threads 1]`;
the loading part alone: `python benchmarks/vision.py load [--repeats 3] [--workers 0 2] ...`.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import TensorDataset

from fastlearn.core.data import DataLoaders
from fastlearn.core.download import URLs, untar_data
from fastlearn.vision.augment import IntToFloat, Normalize, Resize, aug_transforms
from fastlearn.vision.data import ImageDataLoaders
from fastlearn.vision.image import get_image_files
from fastlearn.vision.learner import VisionLearner
from fastlearn.vision.models import create_vision_model, simple_cnn

STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


# ---------------------------------------------------------------------------- the plain pipeline
class PlainDataset(torch.utils.data.Dataset):
    """Per item, with Pillow: resize + crop, flip, rotate, zoom, warp; torch: lighting, norm."""

    def __init__(
        self, files: list[Path], labels: list[int], item: int, size: int, min_scale: float
    ) -> None:
        self.files, self.labels = files, labels
        self.item, self.size, self.min_scale = item, size, min_scale
        self.mean = torch.tensor(STATS[0]).view(3, 1, 1)
        self.std = torch.tensor(STATS[1]).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img = ImageOps.exif_transpose(Image.open(self.files[i]).convert("RGB"))
        img = random_crop(img, self.item)  # the item resize: shorter side, random crop
        if self.size != self.item:  # presizing: a random 75-100% region to the final size
            side = self.item * math.sqrt(random.uniform(self.min_scale, 1.0))
            x0, y0 = random.uniform(0, self.item - side), random.uniform(0, self.item - side)
            img = img.resize(
                (self.size, self.size), Image.BILINEAR, box=(x0, y0, x0 + side, y0 + side)
            )
        img = augment(img, self.size)
        x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float() / 255
        x = lighting(x)
        return (x - self.mean) / self.std, self.labels[i]


def random_crop(img: Image.Image, size: int) -> Image.Image:
    w, h = img.size
    scale = size / min(w, h)
    img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
    left, top = random.randint(0, img.width - size), random.randint(0, img.height - size)
    return img.crop((left, top, left + size, top + size))


def augment(img: Image.Image, size: int) -> Image.Image:
    """aug_transforms' geometry, one Pillow operation (and resample) at a time."""
    if random.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    if random.random() < 0.75:
        img = img.rotate(random.uniform(-10, 10), Image.BILINEAR)
    if random.random() < 0.75:
        side = size / random.uniform(1.0, 1.1)
        x0, y0 = random.uniform(0, size - side), random.uniform(0, size - side)
        img = img.resize((size, size), Image.BILINEAR, box=(x0, y0, x0 + side, y0 + side))
    if random.random() < 0.75:
        gx, gy = (random.uniform(-0.2, 0.2) / size for _ in range(2))
        img = img.transform(
            (size, size), Image.PERSPECTIVE, (1, 0, 0, 0, 1, 0, gx, gy), Image.BILINEAR
        )
    return img


def lighting(x: torch.Tensor, max_lighting: float = 0.2) -> torch.Tensor:
    if random.random() < 0.75:
        x = x * random.uniform(1 - max_lighting, 1 + max_lighting)  # brightness
    if random.random() < 0.75:
        c = math.exp(random.uniform(math.log(1 - max_lighting), -math.log(1 - max_lighting)))
        x = (x - x.mean()) * c + x.mean()  # contrast
    return x.clamp_(0, 1)


def plain_loader(files, labels, item, size, min_scale, bs, workers):
    ds = PlainDataset(files, labels, item, size, min_scale)
    return torch.utils.data.DataLoader(
        ds,
        batch_size=bs,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        persistent_workers=workers > 0,
    )


# ---------------------------------------------------------------------------- fastlearn
def fastlearn_loader(path, files, item, size, min_scale, bs, workers):
    batch_tfms = aug_transforms(size=None if size == item else size, min_scale=min_scale)
    dls = ImageDataLoaders.from_name_func(
        path,
        files,
        lambda name: name[0].isupper(),
        item_tfms=Resize(item),
        batch_tfms=[*batch_tfms, Normalize.from_stats(*STATS)],
        bs=bs,
        num_workers=workers,
        device="cpu",
        splitter=lambda items: (list(range(len(items))), []),
    )
    return dls.train


def epoch(loader) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds of this process (all its threads) and images, for one pass."""
    start, cpu, n = time.perf_counter(), time.process_time(), 0
    for xb, _ in loader:
        n += len(xb)
    return time.perf_counter() - start, time.process_time() - cpu, n


def decode_only(files: list[Path]) -> float:
    start = time.perf_counter()
    for f in files:
        with Image.open(f) as img:
            img.convert("RGB")
    return len(files) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    """The loading part: images/s of both pipelines (alone: `benchmarks/vision.py load ...`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, min(os.cpu_count(), 8)])
    parser.add_argument("--bs", type=int, default=64)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of the main process (workers use 1, as torch sets)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if "FASTLEARN_DATA_MIRROR" not in os.environ:
        if not SHARED.is_dir():
            raise SystemExit(
                "Set FASTLEARN_DATA_MIRROR=file:///path/to/datasets/ (a folder "
                "holding oxford-iiit-pet-sample.tgz)."
            )
        os.environ["FASTLEARN_DATA_MIRROR"] = SHARED.as_uri() + "/"
    path = untar_data(URLs.PETS) / "images"
    files = get_image_files(path)
    labels = [int(f.name[0].isupper()) for f in files]
    torch.manual_seed(0)
    random.seed(0)
    print(
        f"Pets sample: {len(files)} JPEGs, bs {args.bs}, torch threads "
        f"{torch.get_num_threads()}, {os.cpu_count()} CPUs; Pillow decode alone: "
        f"{decode_only(files):.0f} images/s"
    )
    print(
        "images/s: wall clock; with 0 workers also per CPU second of the process (robust when "
        "other jobs share the cores)"
    )
    print(f"{'recipe':26}{'workers':>8}{'measure':>9}{'plain':>9}{'fastlearn':>11}{'ratio':>8}")
    for name, item, size, min_scale in [
        ("Resize(224) + aug", 224, 224, 1.0),
        ("presize 460 -> 224 + aug", 460, 224, 0.75),
    ]:
        for workers in args.workers:
            loaders = {
                "plain": plain_loader(files, labels, item, size, min_scale, args.bs, workers),
                "fastlearn": fastlearn_loader(path, files, item, size, min_scale, args.bs, workers),
            }
            wall: dict[str, list[float]] = {k: [] for k in loaders}
            cpu: dict[str, list[float]] = {k: [] for k in loaders}
            for dl in loaders.values():
                epoch(dl)  # warm up: workers started, files in the page cache
            for _ in range(args.repeats):
                for k, dl in loaders.items():
                    seconds, cpu_seconds, n = epoch(dl)
                    wall[k].append(n / seconds)
                    cpu[k].append(n / cpu_seconds)
            for measure, rates in [("wall", wall), ("cpu", cpu)][: 2 if workers == 0 else 1]:
                plain, fast = (statistics.median(rates[k]) for k in ("plain", "fastlearn"))
                print(
                    f"{name:26}{workers:>8}{measure:>9}{plain:>9.0f}{fast:>11.0f}"
                    f"{fast / plain:>8.2f}"
                )


# ---------------------------------------------------------------------------- training steps
def hand_loop(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, bs: int, epochs: int, lr: float
) -> float:
    """What a careful user writes: shuffled index slices, uint8 -> float, normalise, Adam,
    OneCycleLR. Returns the last loss."""
    mean = torch.tensor(STATS[0]).view(1, 3, 1, 1)
    std = torch.tensor(STATS[1]).view(1, 3, 1, 1)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.99), eps=1e-5)
    steps = epochs * -(-len(x) // bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt,
        max_lr=lr,
        total_steps=steps,
        pct_start=0.25,
        div_factor=25.0,
        final_div_factor=1e5 / 25.0,
    )
    loss_func = torch.nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), bs):
            idx = perm[i : i + bs]
            xb = (x[idx].float() / 255 - mean) / std
            loss = loss_func(model(xb), y[idx])
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            sched.step()
    return float(loss.detach())


def learner_loop(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, bs: int, epochs: int, lr: float
) -> float:
    """The same steps through VisionLearner.fit_one_cycle (no validation set, no metrics)."""
    dls = DataLoaders.from_dsets(
        TensorDataset(x, y),
        None,
        bs=bs,
        device="cpu",
        vocab=["0", "1"],
        batch_tfms=[IntToFloat(), Normalize.from_stats(*STATS)],
    )
    learn = VisionLearner(
        dls, model, torch.nn.CrossEntropyLoss(), wd=0.0, show_progress=False, task="classification"
    )
    learn.fit_one_cycle(epochs, lr)
    return float(learn.loss)


def train_steps(repeats: int = 3, n: int = 512, bs: int = 32, epochs: int = 1) -> None:
    """Learner training steps against the hand-written loop: same model, weights, batches."""
    cases = [
        ("simple_cnn, 32 px", 32, lambda: simple_cnn(2)),
        (
            "resnet18 (scratch), 64 px",
            64,
            lambda: create_vision_model("resnet18", 2, pretrained=False),
        ),
    ]
    print(
        f"\nTraining steps: {n} images, bs {bs}, {epochs} epoch(s), Adam + one-cycle, "
        f"median of {repeats}"
    )
    print(f"{'model':28}{'hand s':>9}{'learner s':>11}{'ms/step':>9}{'ratio':>8}")
    for name, size, make in cases:
        g = torch.Generator().manual_seed(0)
        x = (torch.rand(n, 3, size, size, generator=g) * 255).to(torch.uint8)
        y = torch.randint(0, 2, (n,), generator=g)
        torch.manual_seed(0)
        init = make()
        times: dict[str, list[float]] = {"hand": [], "learner": []}
        runs = {"hand": hand_loop, "learner": learner_loop}
        learner_loop(copy.deepcopy(init), x, y, bs, 1, 1e-3)  # warm-up (lazy imports, caches)
        for r in range(repeats):
            for k in ("hand", "learner") if r % 2 == 0 else ("learner", "hand"):
                model = copy.deepcopy(init)
                torch.manual_seed(r)
                start = time.perf_counter()
                runs[k](model, x, y, bs, epochs, 1e-3)
                times[k].append(time.perf_counter() - start)
        hand, learn = (statistics.median(times[k]) for k in ("hand", "learner"))
        steps = epochs * -(-n // bs)
        print(
            f"{name:28}{hand:>9.2f}{learn:>11.2f}{1000 * learn / steps:>9.1f}{learn / hand:>8.3f}"
        )


def train_main(argv: list[str]) -> None:
    """`python benchmarks/vision.py train [--repeats 3] [--n 512] [--bs 32] [--threads 1]`."""
    parser = argparse.ArgumentParser(description=train_steps.__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n", type=int, default=512, help="training images per epoch")
    parser.add_argument("--bs", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    train_steps(args.repeats, args.n, args.bs, args.epochs)


if __name__ == "__main__":
    if sys.argv[1:2] == ["train"]:  # the training-steps part alone
        train_main(sys.argv[2:])
    elif sys.argv[1:2] == ["load"]:  # the loading part alone
        main(sys.argv[2:])
    else:
        main()
        train_steps()
