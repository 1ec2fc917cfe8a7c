"""Transfer learning: `fine_tune(1)` defaults against the linear probe and fastai 2.8's fine_tune.

The Pets sample's 3 breeds (600 photos), EfficientNet-Lite0 pretrained, every contender on the
same images, splits and model:

- images: the 600 photos through fastlearn's validation pipeline (`Resize(128)`, Lite0's
  normalisation) once, as one tensor, so no contender augments or resizes differently;
- splits: `valid_pct=0.2` with split seeds 0..4 (five 120-image validation sets, 600
  validation predictions in all); each training run is repeated with seeds 0..S-1;
- probe: `fit_probe` (what `linear_probe` fits) on the pretrained body's pooled features;
- fastlearn: `vision_learner(dls, "efficientnet_lite0", normalize=False).fine_tune(1)`;
- fastai: fastai 2.8's `Learner` over the same model (fastlearn's body and default head, the
  same 3 parameter groups), `freeze()` then `fine_tune(1)`, with fastai's own defaults (the
  frozen body's BatchNorm layers train and update their statistics), in `.venv-fastai` (a
  subprocess that imports fastlearn's model code from `src/`; skipped with a note when absent:
  `bash benchmarks/setup_fastai_env.sh`).

Prints each run's errors (out of 120) after the frozen epoch and at the end, the sums over the
five splits per seed, and McNemar's exact test on the validation predictions where two
contenders disagree (pooled over the splits of a seed; the five validation sets overlap, so
the pooling is indicative).

    python benchmarks/transfer.py [--data FOLDER] [--seeds 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from fastlearn.core.data import DataLoader
from fastlearn.vision.all import (
    DataLoaders,
    ImageDataLoaders,
    Resize,
    error_rate,
    get_image_files,
    set_seed,
    vision_learner,
)
from fastlearn.vision.augment import Normalize
from fastlearn.vision.models import EFFICIENTNET_LITE_STATS
from fastlearn.vision.models.efficientnet import efficientnet_lite0_weights_file
from fastlearn.vision.models.heads import create_body
from fastlearn.vision.models.registry import get_arch
from fastlearn.vision.probe import fit_probe, mcnemar_p_worse, probe_features

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
from common import dataset  # noqa: E402 (the examples' data finder)
from fastai_env import fastai_python  # noqa: E402 (beside this file)

from fastlearn.core.urls import URLs  # noqa: E402

SIZE, BS, PAT = 128, 32, r"^(.+)_\d+\.jpg$"

FASTAI_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import torch
from torch.utils.data import TensorDataset
from fastai.basics import CrossEntropyLossFlat, DataLoaders, Learner, error_rate, set_seed
from fastai.callback.all import *  # fine_tune, the one-cycle schedule
from fastlearn.vision.models.heads import create_body, create_head, vision_splitter

torch.set_num_threads(int(sys.argv[3]))
data = torch.load(sys.argv[2])
x, y = data["x"], data["y"]
out = []
for seed in data["seeds"]:
    for split, (tr, va) in data["splits"].items():
        set_seed(seed)
        body = create_body("efficientnet_lite0", weights_path=data["weights"])
        model = torch.nn.Sequential(body, create_head(data["nf"], data["n_out"]))
        dls = DataLoaders.from_dsets(
            TensorDataset(x[tr], y[tr]), TensorDataset(x[va], y[va]), bs=data["bs"], device="cpu"
        )
        learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), metrics=error_rate,
                        splitter=lambda m: vision_splitter(m, data["split_at"]))
        learn.freeze()
        with learn.no_bar(), learn.no_logging():
            learn.fine_tune(1)
            frozen = round(float(learn.recorder.values[0][2]) * len(va))  # get_preds resets it
            preds, targs = learn.get_preds(dl=dls.valid)
        correct = (preds.argmax(1) == targs).tolist()
        out.append(dict(seed=seed, split=int(split), frozen=frozen, correct=correct))
print(json.dumps(out))
"""


def images(folder: Path, seeds: range) -> tuple[torch.Tensor, torch.Tensor, dict, list[str]]:
    """All photos through the validation pipeline, their labels, and the splits."""
    files = sorted(get_image_files(folder))
    index = {str(f): i for i, f in enumerate(files)}
    y = torch.zeros(len(files), dtype=torch.long)
    splits = {}
    for split in seeds:
        dls = ImageDataLoaders.from_name_re(
            folder, files, pat=PAT, valid_pct=0.2, seed=split, item_tfms=Resize(SIZE), bs=64
        )
        tr = [index[str(f)] for f in dls.train_ds.items]
        va = [index[str(f)] for f in dls.valid_ds.items]
        y[tr], y[va] = torch.as_tensor(dls.train_ds.targets), torch.as_tensor(dls.valid_ds.targets)
        splits[split] = (tr, va)
    normalize = Normalize(*EFFICIENTNET_LITE_STATS)
    batches = (b[0] if isinstance(b, (tuple, list)) else b for b in dls.test_dl(files))
    x = torch.cat([normalize((b,))[0] for b in batches])
    return x, y, splits, list(dls.vocab)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="folder holding oxford-iiit-pet-sample.tgz (or extracted)")
    parser.add_argument("--seeds", type=int, default=2, help="training seeds per split")
    parser.add_argument("--splits", type=int, default=5, help="split seeds 0..N-1")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = dataset(URLs.PETS, args.data, "images") / "images"
    x, y, splits, vocab = images(folder, range(args.splits))
    seeds = list(range(args.seeds))
    body = create_body("efficientnet_lite0")
    results: dict[str, dict[tuple[int, int], list[bool]]] = {"probe": {}, "fastlearn": {}}
    frozen: dict[str, dict[tuple[int, int], int]] = {"fastlearn": {}, "fastai": {}}

    feats, _ = probe_features(body, DataLoader(TensorDataset(x, y), 64))
    for split, (tr, va) in splits.items():
        probe = fit_probe((feats[tr], y[tr]), (feats[va], y[va]))
        for seed in seeds:
            results["probe"][seed, split] = list(probe.correct)

    for seed in seeds:
        for split, (tr, va) in splits.items():
            start = time.perf_counter()
            set_seed(seed)
            dls = DataLoaders.from_dsets(
                TensorDataset(x[tr], y[tr]), TensorDataset(x[va], y[va]), bs=BS
            )
            learn = vision_learner(
                dls,
                "efficientnet_lite0",
                n_out=len(vocab),
                normalize=False,
                metrics=error_rate,
                show_progress=False,
            )
            learn.fine_tune(1)
            preds, targs = learn.get_preds(dl=dls.valid)
            results["fastlearn"][seed, split] = (preds.argmax(1) == targs).tolist()
            frozen["fastlearn"][seed, split] = round(
                learn.recorder.history[0]["error_rate"] * len(va)
            )
            print(
                f"fastlearn seed {seed} split {split}: frozen {frozen['fastlearn'][seed, split]}, "
                f"final {len(va) - sum(results['fastlearn'][seed, split])} of {len(va)} "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )

    python = fastai_python("safetensors")  # safetensors: fastlearn's models, from src/
    if python is None:
        print(
            "fastai: skipped (no .venv-fastai with fastai and safetensors; run "
            "bash benchmarks/setup_fastai_env.sh)"
        )
    else:
        with tempfile.TemporaryDirectory() as tmp:
            file = Path(tmp) / "pets.pt"
            torch.save(
                dict(
                    x=x,
                    y=y,
                    splits=splits,
                    seeds=seeds,
                    bs=BS,
                    nf=feats.shape[1],
                    n_out=len(vocab),
                    split_at=get_arch("efficientnet_lite0").meta.split,
                    weights=str(efficientnet_lite0_weights_file()),
                ),
                file,
            )
            start = time.perf_counter()
            done = subprocess.run(
                [python, "-c", FASTAI_SCRIPT, str(ROOT / "src"), str(file), str(args.threads)],
                capture_output=True,
                text=True,
                timeout=4 * 3600,
            )
        if done.returncode != 0:
            raise RuntimeError(f"fastai run failed:\n{done.stderr[-3000:]}")
        results["fastai"] = {}
        for run in json.loads(done.stdout.strip().splitlines()[-1]):
            results["fastai"][run["seed"], run["split"]] = run["correct"]
            frozen["fastai"][run["seed"], run["split"]] = run["frozen"]
        print(f"fastai: {len(results['fastai'])} runs ({time.perf_counter() - start:.0f} s)")

    n_valid = sum(len(va) for _, va in splits.values())
    print(f"\nErrors out of {n_valid} ({len(splits)} splits), per seed:")
    print(
        "| contender | after the frozen epoch | after fine_tune(1) | per split |\n|---|---|---|---|"
    )
    for name, runs in results.items():
        for seed in seeds:
            errs = [len(runs[seed, s]) - sum(runs[seed, s]) for s in splits]
            fz = sum(frozen[name][seed, s] for s in splits) if name in frozen else ""
            print(f"| {name} seed {seed} | {fz} | {sum(errs)} | {', '.join(map(str, errs))} |")
    print("\nPaired (McNemar, one-sided: is the first worse?), pooled over the splits:")
    pairs = [("fastlearn", "probe"), ("fastai", "probe"), ("fastai", "fastlearn")]
    for a, b in pairs:
        if a not in results:
            continue
        for seed in seeds:
            ra = sum((results[a][seed, s] for s in splits), [])
            rb = sum((results[b][seed, s] for s in splits), [])
            only_b = sum(cb and not ca for ca, cb in zip(ra, rb))
            only_a = sum(ca and not cb for ca, cb in zip(ra, rb))
            print(
                f"{a} vs {b}, seed {seed}: right only by {b} {only_b}, only by {a} {only_a}; "
                f"p({a} worse) = {mcnemar_p_worse(only_b, only_a):.3f}, "
                f"p({b} worse) = {mcnemar_p_worse(only_a, only_b):.3f}"
            )


if __name__ == "__main__":
    main()
