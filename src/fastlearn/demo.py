"""`fastlearn demo`: the whole workflow on scikit-learn's bundled 8x8 digits, in under a minute.

Builds the data, finds a learning rate, trains a small CNN with one-cycle, saves the loss and
lr-finder plots and a confusion matrix as PNG files, saves the model, reloads it into a
fresh learner and predicts one image.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

from .core.data import DataLoaders
from .core.interpret import ClassificationInterpretation
from .core.learner import Learner
from .core.metrics import accuracy
from .core.splitters import RandomSplitter
from .core.torch_utils import set_seed

__all__ = ["digits_dls", "digits_cnn", "run_demo"]


def digits_dls(bs: int = 64, seed: int = 42) -> DataLoaders:
    """scikit-learn's 1,797 handwritten digits (8x8, grey), 20% held out for validation."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError(
            "The demo's data ships with scikit-learn. Fix: pip install "
            "'fastlearn[demo]' (or scikit-learn)."
        ) from e
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8)
    x = (x - x.mean()) / x.std()
    y = torch.tensor(digits.target, dtype=torch.long)
    train_idx, valid_idx = RandomSplitter(0.2, seed=seed)(range(len(y)))
    train = TensorDataset(x[train_idx], y[train_idx])
    valid = TensorDataset(x[valid_idx], y[valid_idx])
    return DataLoaders.from_dsets(train, valid, bs=bs, vocab=[str(d) for d in range(10)])


def _conv(n_in: int, n_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(n_in, n_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(n_out),
        nn.ReLU(),
    )


def digits_cnn(n_classes: int = 10) -> nn.Sequential:
    """A small CNN for 8x8 images: 8x8 -> 4x4 -> 2x2, pooled, linear."""
    return nn.Sequential(
        _conv(1, 32, 1),
        _conv(32, 64, 2),
        _conv(64, 128, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(0.1),
        nn.Linear(128, n_classes),
    )


def run_demo(out: str | Path = "demo_output", epochs: int = 6, seed: int = 42) -> float:
    """Run the demo; returns the validation accuracy (and raises if it is not above 95%)."""
    import matplotlib

    matplotlib.use("Agg")
    start = time.perf_counter()
    # A model this small gains nothing from intra-op threads, and on a busy machine
    # they spin against each other: one thread is several times faster here.
    torch.set_num_threads(1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    set_seed(seed)
    dls = digits_dls(seed=seed)
    print(
        f"Data: {len(dls.train.dataset)} training and {len(dls.valid.dataset)} validation "
        f"digits (8x8), on {dls.device}."
    )
    learn = Learner(dls, digits_cnn(), metrics=accuracy, path=out)
    suggestions = learn.lr_find(plot_path=out / "lr_find.png")
    lr = min(max(suggestions.steep, 1e-3), 1e-2)  # steepest descent, kept in a sane range
    print(
        f"lr_find suggests valley={suggestions.valley:.2e}, steep={suggestions.steep:.2e}, "
        f"minimum/10={suggestions.minimum:.2e}; training at {lr:.2e}."
    )
    learn.fit_one_cycle(epochs, lr)
    learn.recorder.plot_loss(path=out / "loss.png")
    interp = ClassificationInterpretation.from_learner(learn)
    interp.plot_confusion_matrix(path=out / "confusion_matrix.png")
    acc = learn.recorder.history[-1]["accuracy"]
    print(f"Most confused (actual, predicted, count): {interp.most_confused()[:3]}")
    saved = learn.save("digits_cnn")
    fresh = Learner(dls, digits_cnn(), metrics=accuracy, show_progress=False, path=out)
    fresh.load("digits_cnn")
    x, y = dls.valid.dataset[0]
    label, _, probs = fresh.predict(x)
    print(
        f"Reloaded {saved} and predicted a validation digit: {label} "
        f"(p={float(probs.max()):.3f}, actual {dls.vocab[int(y)]})."
    )
    print(
        f"Validation accuracy {acc:.4f}. Plots in {out}/: loss.png, lr_find.png, "
        f"confusion_matrix.png. Total time {time.perf_counter() - start:.1f} s."
    )
    if acc <= 0.95:
        raise RuntimeError(f"Demo accuracy {acc:.4f} is not above 0.95.")
    return acc
