"""Finding and decoding images: every Pillow mode to a uint8 (C, H, W) tensor.

    >>> files = get_image_files(path)                  # sorted Paths, recursive
    >>> x = load_image(files[0], draft_size=224)       # uint8 (3, H, W), H and W >= 224
    >>> bad = verify_images(files)                     # the files Pillow cannot decode

Decoding is Pillow's. A JPEG can be decoded straight at 1/2, 1/4 or 1/8 of its size (the
decoder skips the fine DCT coefficients, much faster than decoding and then shrinking):
`draft_size` is the smallest size the later resize needs, and the largest reduction that
still covers it is used (other formats can't be decoded smaller: `max_pixels` bounds them).
The EXIF orientation is applied, so a photo taken sideways stands up.

Only regular files are opened (a FIFO or device named `x.jpg` would block or never end), and
an image of more than `max_pixels` (default `MAX_PIXELS`, 10^8: 300 MB decoded) is refused
from its header, before decoding, in training as in prediction; pass `max_pixels=` (to
`load_image`, `ImageDataLoaders.from_*`, `ImageBlock`, `ImageDataset`) for larger ones. A file
that can't be read is an `ImageReadError` naming it, what went wrong and the fix.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import warnings
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import IO

import numpy as np
import torch
from PIL import Image

from ..core.collections import L, Path
from ..core.getters import get_files
from ..core.torch_utils import num_cpus

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "ImageReadError",
    "ImageSource",
    "get_image_files",
    "load_image",
    "open_image",
    "open_image_sized",
    "image_to_tensor",
    "open_mask",
    "verify_images",
]

IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".png",
        ".bmp",
        ".gif",
        ".tif",
        ".tiff",
        ".webp",
        ".ppm",
        ".pgm",
        ".pbm",
        ".pnm",
        ".ico",
        ".jfif",
    }
)
ImageSource = str | os.PathLike | bytes | Image.Image | torch.Tensor
MAX_PIXELS = 10**8  # the default bound on an image's width x height: 300 MB decoded as RGB


class ImageReadError(OSError):
    """An image that can't be read: names the file (or item), what went wrong and the fix."""


_CHANNELS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}
_ORIENTATION_TAG = 0x0112
_TRANSPOSES = {  # EXIF orientation -> the transposition that stands the image up
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def get_image_files(
    path: str | os.PathLike,
    recurse: bool = True,
    folders: Sequence[str] | None = None,
    *,
    extensions: Iterable[str] = IMAGE_EXTENSIONS,
) -> L:
    """Image files under `path`, sorted, as an `L` of `Path`s; `folders` keeps only those
    top-level sub-folders (the core's `get_files` with the image extensions).

    Hidden files and folders (names starting with '.') are skipped; the extension test ignores
    case. A missing `path` or folder is an error; a folder with no image gives an empty L.

        >>> get_image_files(path, folders=["train", "valid"])
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(
            f"Expected a folder of images. Received: {str(path)!r}, "
            f"which {'is a file' if path.exists() else 'does not exist'}."
        )
    files = get_files(path, extensions=extensions, recurse=recurse, folders=folders)
    odd = [f for f in files if not _is_regular(f)]
    if odd:
        warnings.warn(
            f"Skipping {len(odd)} paths that are not regular files (FIFOs, devices, "
            f"sockets or broken links, which would block or fail when read): "
            f"{[str(f) for f in odd[:5]]}.",
            UserWarning,
            stacklevel=2,
        )
        files = L(f for f in files if _is_regular(f))
    return files


def _is_regular(path: str | os.PathLike) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _image_file(source: object) -> contextlib.AbstractContextManager[IO[bytes]]:
    """The bytes of `source`: bytes, a path (a regular file only) or a file object (the
    caller's, left open)."""
    if isinstance(source, (bytes, bytearray)):
        return io.BytesIO(source)
    if isinstance(source, (str, os.PathLike)):
        return _open_regular(source)
    return contextlib.nullcontext(source)  # type: ignore[return-value]


def _open_regular(path: str | os.PathLike) -> IO[bytes]:
    """`path` opened for reading if it is a regular file (checked on the open descriptor, so
    a FIFO is never waited on), else an ImageReadError."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = (
                "a FIFO"
                if stat.S_ISFIFO(mode)
                else "a folder"
                if stat.S_ISDIR(mode)
                else "a device or socket"
            )
            raise ImageReadError(
                f"{str(path)!r} is {kind}, not a regular file: reading it "
                "could block forever. Fix: remove it from the image folder."
            )
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_image(
    source: ImageSource,
    mode: str | None = "RGB",
    draft_size: int | tuple[int, int] | None = None,
    *,
    max_pixels: int | None = MAX_PIXELS,
) -> Image.Image:
    """A decoded Pillow image, upright, in `mode` ('RGB', 'L', 'LA', 'RGBA', None = as stored).

    Transparent images are composited on white when `mode` drops the alpha channel; 1-bit,
    palette, CMYK, YCbCr, 16-bit and float images are converted (16-bit values scaled by
    1/257 so 65535 -> 255). `mode=None` keeps the stored channel count (1, 2, 3 or 4).
    A file of more than `max_pixels` pixels is refused before decoding (None: no bound).
    """
    return open_image_sized(source, mode, draft_size, max_pixels=max_pixels)[0]


def open_image_sized(
    source: ImageSource,
    mode: str | None = "RGB",
    draft_size: int | tuple[int, int] | None = None,
    *,
    max_pixels: int | None = MAX_PIXELS,
) -> tuple[Image.Image, tuple[int, int]]:
    """`open_image`, and the full upright size (w, h) of the source: what pixel coordinates
    given for the file refer to when `draft_size` decoded it smaller."""
    if mode is not None and mode not in _CHANNELS:
        raise ValueError(f"Expected mode 'RGB', 'L', 'LA', 'RGBA' or None. Received: {mode!r}.")
    if isinstance(source, torch.Tensor):
        img = _tensor_to_image(source, mode)
        return img, img.size
    if isinstance(source, Image.Image):
        img = _convert(_upright(_base_mode(source)), mode)
        return img, img.size
    with _image_file(source) as fp, _read_errors(source, max_pixels), Image.open(fp) as img:
        _check_pixels(img.size, max_pixels, source)
        (w, h), sideways = img.size, img.getexif().get(_ORIENTATION_TAG, 1) in (5, 6, 7, 8)
        if draft_size is not None and img.format == "JPEG":
            _draft(img, draft_size)
        img.load()
        return _convert(_upright(_base_mode(img)), mode), ((h, w) if sideways else (w, h))


def _check_pixels(size: tuple[int, int], max_pixels: int | None, source: object) -> None:
    w, h = size
    if max_pixels is not None and w * h > max_pixels:
        raise ImageReadError(
            f"{_name(source)} is {w}x{h} = {w * h:,} pixels, more than max_pixels="
            f"{max_pixels:,} ({w * h * 3 / 2**20:,.0f} MB to decode), refused before decoding. "
            "Fix: shrink the image, or pass a larger max_pixels= (load_image, "
            "ImageDataLoaders.from_*, ImageBlock, ImageDataset)."
        )


@contextlib.contextmanager
def _read_errors(source: object, max_pixels: int | None) -> Iterator[None]:
    """Pillow's errors (which name no file, or a temporary one) as an ImageReadError with the
    file and the fix."""
    try:
        yield
    except ImageReadError:
        raise
    except Image.DecompressionBombError as e:  # Pillow's own bound, before ours could run
        raise ImageReadError(
            f"{_name(source)} is larger than Pillow allows ({e}). Fix: shrink "
            "it; to load it anyway raise PIL.Image.MAX_IMAGE_PIXELS and "
            "max_pixels=."
        ) from e
    except Exception as e:  # noqa: BLE001 (decoders raise OSError, SyntaxError, ValueError...)
        raise ImageReadError(
            f"Can't read {_name(source)} as an image: {type(e).__name__}: "
            f"{e}. It is truncated, damaged or not an image. Fix: replace or "
            "remove it (verify_images(files) lists every such file)."
        ) from e


def image_to_tensor(img: Image.Image) -> torch.Tensor:
    """A Pillow image (L, LA, RGB or RGBA) as a uint8 (C, H, W) tensor."""
    arr = np.array(img, dtype=np.uint8)  # (H, W) or (H, W, C), a writable copy
    if arr.ndim == 2:
        arr = arr[None]
    else:
        arr = arr.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(arr))


def load_image(
    source: ImageSource,
    mode: str | None = "RGB",
    draft_size: int | tuple[int, int] | None = None,
    *,
    max_pixels: int | None = MAX_PIXELS,
) -> torch.Tensor:
    """Decode a path, bytes or Pillow image to a uint8 (C, H, W) tensor (see `open_image`).

    >>> load_image("cat.jpg").shape, load_image("cat.jpg", mode="L").shape
    (torch.Size([3, 375, 500]), torch.Size([1, 375, 500]))
    >>> load_image("big.jpg", draft_size=224).shape  # decoded at 1/8: (3, 378, 504)
    """
    if isinstance(source, torch.Tensor) and source.dtype == torch.uint8 and source.ndim == 3:
        return source
    return image_to_tensor(open_image(source, mode, draft_size, max_pixels=max_pixels))


def open_mask(source: str | os.PathLike | bytes | Image.Image) -> Image.Image:
    """A segmentation mask of class indices (Pillow mode P, L, I;16 or I), upright, undecoded."""
    if isinstance(source, Image.Image):
        img = source
    else:
        with _image_file(source) as fp, _read_errors(source, None), Image.open(fp) as img:
            img.load()
    if img.mode == "1":
        img = img.convert("L")
    if img.mode not in ("P", "L", "I", "I;16", "I;16L", "I;16B"):
        raise ValueError(
            f"Expected a mask of class indices (Pillow mode P, L or I). Received: mode "
            f"{img.mode!r} for {_name(source)}. Fix: convert colour-coded masks to one class "
            "index per pixel."
        )
    return _upright(img)


def verify_images(
    files: Iterable[str | os.PathLike],
    *,
    n_workers: int | None = None,
    max_pixels: int | None = MAX_PIXELS,
) -> L:
    """The files that fail to decode (corrupt, truncated, not images, not regular files, more
    than `max_pixels`), in the order given (an `L`, so `verify_images(files).map(Path.unlink)`
    removes them).

        >>> bad = verify_images(get_image_files(path))
        >>> for f in bad: f.unlink()
    """
    files = [Path(f) for f in files]
    with ThreadPoolExecutor(n_workers or min(num_cpus(), 8)) as pool:  # decoders drop the GIL
        ok = list(pool.map(lambda f: _decodes(f, max_pixels), files))
    return L(f for f, good in zip(files, ok) if not good)


def _decodes(path: Path, max_pixels: int | None) -> bool:
    try:
        with _open_regular(path) as fp, Image.open(fp) as img:
            _check_pixels(img.size, max_pixels, path)
            img.load()
        return True
    except Exception:  # noqa: BLE001 (any decoder failure means a bad file)
        return False


def _draft(img: Image.Image, draft_size: int | tuple[int, int]) -> None:
    """Ask the JPEG decoder for the largest 1/2^k reduction still covering (h, w) upright."""
    h, w = (draft_size, draft_size) if isinstance(draft_size, int) else draft_size
    if img.getexif().get(_ORIENTATION_TAG, 1) in (5, 6, 7, 8):  # stored sideways
        h, w = w, h
    img.draft(None, (int(w), int(h)))


def _upright(img: Image.Image) -> Image.Image:
    """Apply the EXIF orientation (no copy when there is none)."""
    orientation = img.getexif().get(_ORIENTATION_TAG, 1)
    if orientation in _TRANSPOSES:
        img = img.transpose(_TRANSPOSES[orientation])
    return img


def _base_mode(img: Image.Image) -> Image.Image:
    """Any Pillow mode as one of L, LA, RGB, RGBA."""
    mode = img.mode
    if mode in _CHANNELS:
        return img
    if mode == "1":
        return img.convert("L")
    if mode.startswith("I"):  # I;16*, I: 16-bit values, 65535 -> 255
        arr = np.asarray(img).astype(np.float32) / 257.0
        return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")
    if mode == "F":
        return Image.fromarray(np.clip(np.rint(np.asarray(img)), 0, 255).astype(np.uint8), "L")
    if mode == "P":
        return img.convert("RGBA" if "transparency" in img.info else "RGB")
    if mode in ("PA", "RGBa", "RGBX"):
        return img.convert("RGBA" if mode != "RGBX" else "RGB")
    if mode == "La":
        return img.convert("LA")
    return img.convert("RGB")  # CMYK, YCbCr, LAB, HSV


def _convert(img: Image.Image, mode: str | None) -> Image.Image:
    """L/LA/RGB/RGBA to `mode`; alpha composited on white when the target has none."""
    if mode is None or img.mode == mode:
        return img
    if img.mode in ("LA", "RGBA") and mode in ("L", "RGB"):
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, img.convert("RGBA"))
    return img.convert(mode)


def _tensor_to_image(x: torch.Tensor, mode: str | None) -> Image.Image:
    """A (C, H, W) or (H, W) tensor (uint8, or float in [0, 1]) as a Pillow image."""
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[0] not in (1, 2, 3, 4):
        raise ValueError(
            f"Expected an image tensor (C, H, W) with 1-4 channels. Received: "
            f"shape {tuple(x.shape)}."
        )
    if x.is_floating_point():
        x = (x.clamp(0, 1) * 255).round()
    arr = x.detach().cpu().to(torch.uint8).permute(1, 2, 0).numpy()
    stored = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[arr.shape[2]]
    return _convert(Image.fromarray(arr[..., 0] if stored == "L" else arr, stored), mode)


def _name(source: object) -> str:
    return repr(str(source)) if isinstance(source, (str, os.PathLike)) else type(source).__name__
