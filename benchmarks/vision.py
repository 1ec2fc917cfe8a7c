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
        [--repeats 3] [--workers 0 2] [--bs 64]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from fastlearn.core.download import URLs, untar_data
from fastlearn.vision.augment import Normalize, Resize, aug_transforms
from fastlearn.vision.data import ImageDataLoaders
from fastlearn.vision.image import get_image_files

STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


# ---------------------------------------------------------------------------- the plain pipeline
class PlainDataset(torch.utils.data.Dataset):
    """Per item, with Pillow: resize + crop, flip, rotate, zoom, warp; torch: lighting, norm."""

    def __init__(self, files: list[Path], labels: list[int], item: int, size: int,
                 min_scale: float) -> None:
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
            img = img.resize((self.size, self.size), Image.BILINEAR,
                             box=(x0, y0, x0 + side, y0 + side))
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
        img = img.transform((size, size), Image.PERSPECTIVE, (1, 0, 0, 0, 1, 0, gx, gy),
                            Image.BILINEAR)
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
    return torch.utils.data.DataLoader(ds, batch_size=bs, shuffle=True, drop_last=True,
                                       num_workers=workers, persistent_workers=workers > 0)


# ---------------------------------------------------------------------------- fastlearn
def fastlearn_loader(path, files, item, size, min_scale, bs, workers):
    batch_tfms = aug_transforms(size=None if size == item else size, min_scale=min_scale)
    dls = ImageDataLoaders.from_name_func(
        path, files, lambda name: name[0].isupper(), item_tfms=Resize(item),
        batch_tfms=[*batch_tfms, Normalize.from_stats(*STATS)], bs=bs, num_workers=workers,
        device="cpu", splitter=lambda items: (list(range(len(items))), []))
    return dls.train


def epoch(loader) -> tuple[float, int]:
    """Seconds for one pass and the number of images it yielded."""
    start, n = time.perf_counter(), 0
    for xb, _ in loader:
        n += len(xb)
    return time.perf_counter() - start, n


def decode_only(files: list[Path]) -> float:
    start = time.perf_counter()
    for f in files:
        with Image.open(f) as img:
            img.convert("RGB")
    return len(files) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, min(os.cpu_count(), 8)])
    parser.add_argument("--bs", type=int, default=64)
    args = parser.parse_args()
    if "FASTLEARN_DATA_MIRROR" not in os.environ:
        if not SHARED.is_dir():
            raise SystemExit("Set FASTLEARN_DATA_MIRROR=file:///path/to/datasets/ (a folder "
                             "holding oxford-iiit-pet-sample.tgz).")
        os.environ["FASTLEARN_DATA_MIRROR"] = SHARED.as_uri() + "/"
    path = untar_data(URLs.PETS) / "images"
    files = get_image_files(path)
    labels = [int(f.name[0].isupper()) for f in files]
    torch.manual_seed(0)
    random.seed(0)
    print(f"Pets sample: {len(files)} JPEGs, bs {args.bs}, torch threads "
          f"{torch.get_num_threads()}, {os.cpu_count()} CPUs; Pillow decode alone: "
          f"{decode_only(files):.0f} images/s")
    print(f"{'recipe':28}{'workers':>8}{'plain img/s':>13}{'fastlearn img/s':>17}{'ratio':>8}")
    for name, item, size, min_scale in [("Resize(224) + aug", 224, 224, 1.0),
                                        ("presize 460 -> 224 + aug", 460, 224, 0.75)]:
        for workers in args.workers:
            loaders = {"plain": plain_loader(files, labels, item, size, min_scale, args.bs,
                                             workers),
                       "fastlearn": fastlearn_loader(path, files, item, size, min_scale, args.bs,
                                                     workers)}
            rates: dict[str, list[float]] = {k: [] for k in loaders}
            for k, dl in loaders.items():
                epoch(dl)  # warm up: workers started, files in the page cache
            for _ in range(args.repeats):
                for k, dl in loaders.items():
                    seconds, n = epoch(dl)
                    rates[k].append(n / seconds)
            plain, fast = (statistics.median(rates[k]) for k in ("plain", "fastlearn"))
            print(f"{name:28}{workers:>8}{plain:>13.0f}{fast:>17.0f}{fast / plain:>8.2f}")


if __name__ == "__main__":
    main()
