"""Detection: the Learner's training step against a hand-written loop, and predict latency.

    python benchmarks/detection.py [--repeats 3] [--threads 1] [--size 128]

1. Training steps: the same FCOS model (same initial weights) on the same in-memory batches
   (uint8 images, padded boxes and labels), Adam + one-cycle, one epoch, no validation:
   `DetectionLearner.fit_one_cycle` against the loop a careful user writes (uint8 -> float,
   normalise, model, `FCOSLoss`, backward, step, schedule). Runs alternate; medians.
2. Predict latency on the CPU: an exported detector (`load_learner`) predicting one JPEG at a
   time (decode, resize, normalise, model, postprocess, boxes to pixels), median of N, with
   the model's forward alone beside it.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import TensorDataset

from fastlearn import DataLoaders, set_seed
from fastlearn.core.export import load_learner
from fastlearn.vision.augment import IntToFloat, Normalize
from fastlearn.vision.detection import DetectionLearner, FCOSLoss, build_detector
from fastlearn.vision.detection.model import fcos_splitter
from fastlearn.vision.models import EFFICIENTNET_LITE_STATS as STATS

CASES = {  # name: (arch, head width, head convs)
    "FCOS tiny head on resnet18 (scratch)": ("resnet18", 32, 1),
    "FCOS on efficientnet_lite0 (example's)": ("efficientnet_lite0", 64, 2),
}


def make_batches(n: int, size: int, n_classes: int = 6, max_boxes: int = 6):
    """uint8 images (n, 3, size, size), boxes (n, max_boxes, 4) in [-1, 1], labels padded."""
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(n, 3, size, size, generator=g) * 255).to(torch.uint8)
    xy = torch.rand(n, max_boxes, 2, generator=g) * 1.4 - 1
    boxes = torch.cat([xy, xy + 0.1 + torch.rand(n, max_boxes, 2, generator=g) * 0.5], -1)
    labels = torch.randint(1, n_classes + 1, (n, max_boxes), generator=g)
    labels[torch.rand(n, max_boxes, generator=g) < 0.4] = 0  # padding: 0 to 6 boxes per image
    return x, boxes.clamp(-1, 1), labels


def hand_loop(model, data, bs: int, epochs: int, lr: float) -> float:
    """What a careful user writes: shuffled index slices, uint8 -> float, normalise, Adam with
    the parameter groups, OneCycleLR. Returns the last loss."""
    x, boxes, labels = data
    mean = torch.tensor(STATS[0]).view(1, 3, 1, 1)
    std = torch.tensor(STATS[1]).view(1, 3, 1, 1)
    opt = torch.optim.Adam(
        [{"params": g} for g in fcos_splitter(model)], lr=lr, betas=(0.9, 0.99), eps=1e-5
    )
    steps = epochs * -(-len(x) // bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt,
        max_lr=lr,
        total_steps=steps,
        pct_start=0.25,
        div_factor=25.0,
        final_div_factor=1e5 / 25.0,
    )
    loss_func = FCOSLoss()
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), bs):
            idx = perm[i : i + bs]
            xb = (x[idx].float() / 255 - mean) / std
            loss = loss_func(model(xb), boxes[idx], labels[idx])
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            sched.step()
    return float(loss.detach())


def learner_loop(model, data, bs: int, epochs: int, lr: float) -> float:
    """The same steps through DetectionLearner.fit_one_cycle (no validation, no metrics)."""
    vocab = ["#na#", *map(str, range(6))]
    dls = DataLoaders.from_dsets(
        TensorDataset(*data),
        None,
        bs=bs,
        device="cpu",
        vocab=vocab,
        batch_tfms=[IntToFloat(), Normalize.from_stats(*STATS)],
    )
    learn = DetectionLearner(
        dls, model, FCOSLoss(), wd=0.0, show_progress=False, splitter=fcos_splitter
    )
    learn.fit_one_cycle(epochs, lr)
    return float(learn.loss)


def train_steps(repeats: int, n: int, bs: int, size: int) -> None:
    print(
        f"Training steps: {n} images of {size} px, bs {bs}, 1 epoch, Adam + one-cycle, "
        f"median of {repeats}, {torch.get_num_threads()} thread(s)"
    )
    print(f"{'model':42}{'hand s':>9}{'learner s':>11}{'ms/step':>9}{'ratio':>8}")
    data = make_batches(n, size)
    for name, (arch, width, n_convs) in CASES.items():
        torch.manual_seed(0)
        init = build_detector(arch, 6, pretrained=False, width=width, n_convs=n_convs)
        runs = {"hand": hand_loop, "learner": learner_loop}
        times: dict[str, list[float]] = {"hand": [], "learner": []}
        learner_loop(copy.deepcopy(init), [t[:bs] for t in data], bs, 1, 1e-3)  # warm-up
        for r in range(repeats):
            for k in ("hand", "learner") if r % 2 == 0 else ("learner", "hand"):
                model = copy.deepcopy(init)
                torch.manual_seed(r)
                start = time.perf_counter()
                runs[k](model, data, bs, 1, 1e-3)
                times[k].append(time.perf_counter() - start)
        hand, learn = (statistics.median(times[k]) for k in ("hand", "learner"))
        steps = -(-n // bs)
        print(
            f"{name:42}{hand:>9.2f}{learn:>11.2f}{1000 * learn / steps:>9.0f}{learn / hand:>8.3f}"
        )


def latency(n: int, size: int) -> None:
    """Median time of predictor.predict(one JPEG), and of the model's forward alone."""
    from fastlearn.core.datablock import DataBlock
    from fastlearn.vision.augment import Resize
    from fastlearn.vision.blocks import ImageBlock
    from fastlearn.vision.detection import BBoxBlock, BBoxLblBlock, detection_learner

    folder = Path(tempfile.mkdtemp())
    g = torch.Generator().manual_seed(0)
    files = []
    for i in range(4):
        arr = (torch.rand(480, 640, 3, generator=g) * 255).to(torch.uint8).numpy()
        path = folder / f"{i}.jpg"
        Image.fromarray(arr).save(path, quality=90)
        files.append((str(path), [[10, 10, 200, 200]], ["thing"]))
    block = DataBlock(
        blocks=(ImageBlock, BBoxBlock, BBoxLblBlock),
        n_inp=1,
        get_x=lambda o: o[0],
        get_y=[lambda o: o[1], lambda o: o[2]],
        splitter=lambda o: ([0, 1], [2, 3]),
        item_tfms=Resize(size, method="squish"),
    )
    print(
        f"\nPredict latency: one 640 x 480 JPEG per call, resized to {size} px, median of {n}, "
        f"{torch.get_num_threads()} thread(s)"
    )
    print(f"{'model':42}{'predict ms':>12}{'forward ms':>12}")
    for name, (arch, width, n_convs) in CASES.items():
        set_seed(0)
        dls = block.dataloaders(files, bs=2, num_workers=0, device="cpu")
        learn = detection_learner(
            dls, arch, pretrained=False, width=width, n_convs=n_convs, show_progress=False
        )
        predictor = load_learner(learn.export(folder / "det.fl"))
        jpeg = files[0][0]
        predictor.predict(jpeg)  # warm-up
        times, fwd = [], []
        for _ in range(n):
            start = time.perf_counter()
            predictor.predict(jpeg)
            times.append(time.perf_counter() - start)
        x = torch.rand(1, 3, size, size)
        with torch.no_grad():
            for _ in range(n):
                start = time.perf_counter()
                predictor.model(x)
                fwd.append(time.perf_counter() - start)
        print(
            f"{name:42}{1000 * statistics.median(times):>12.1f}"
            f"{1000 * statistics.median(fwd):>12.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n", type=int, default=192, help="training images")
    parser.add_argument("--bs", type=int, default=16)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--latency-n", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's)")
    parser.add_argument("--part", choices=("all", "train", "latency"), default="all")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.part in ("all", "train"):
        train_steps(args.repeats, args.n, args.bs, args.size)
    if args.part in ("all", "latency"):
        latency(args.latency_n, args.size)


if __name__ == "__main__":
    main()
