"""What the text (ULMFiT) examples share: options, finding a dataset, the small AWD-LSTM.

Datasets come through `untar_data` (cached under FASTLEARN_HOME, default ~/.fastlearn). Where
FASTLEARN_DATA_MIRROR is not set and this checkout sits beside `shared/datasets` (the team's
local mirror), that folder is the mirror. Elsewhere: `--data FOLDER` (holding the archive,
e.g. wikitext-2.tgz, or its extracted folder), or FASTLEARN_DATA_MIRROR=file:///path/, or
network access to the course's URLs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from fastlearn import fastlearn_home, untar_data

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
# A CPU-sized AWD-LSTM: 2 layers, 128-wide embeddings (tied decoder), 384 hidden units.
SMALL = {"emb_sz": 128, "n_hid": 384, "n_layers": 2}
# Where the WikiText-2 language model is written and read back by the IMDb example.
PRETRAINED = fastlearn_home() / "models" / "wt2_awd_lstm_small.fl"


def parse_args(description: str, **defaults: float) -> argparse.Namespace:
    """--data, --seed, --threads and one `--name value` option per keyword."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", help="folder holding the archive (or extracted files)")
    parser.add_argument("--seed", type=int, default=42, help="training seed (default 42)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: on a shared 2-core machine more "
        "threads than free cores slow these small LSTMs; 0: torch's)",
    )
    for name, value in defaults.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def dataset(url: str, data: str | None, expected: str) -> Path:
    """The extracted folder holding `expected` (a file name), or exit saying where to put it."""
    if data is not None:
        folder = Path(data).expanduser()
        if (folder / expected).is_file():
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
    if not (path / expected).is_file():
        sys.exit(f"Expected {expected} in {path}. Fix: untar_data({url!r}, force=True).")
    return path
