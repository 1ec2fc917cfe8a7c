"""Serving exported models over HTTP: `create_app(path_or_predictor)` (Starlette + uvicorn).

    fastlearn serve model.fl --host 127.0.0.1 --port 8000

The web app needs the `serve` extras (pip install 'fastlearn[serve]'). What it shares with
`fastlearn predict` (reading inputs, formatting answers) lives outside this package, in
`fastlearn.inputs` and `fastlearn.answers`, which need only torch.
"""

from __future__ import annotations

from typing import Any

from ..inputs import InputError, Limits

try:
    from .app import create_app
except ImportError as _missing:  # no starlette: the CLI's predict still works
    _reason = str(_missing)

    def create_app(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
        """Stands in for the web app when its dependencies are missing."""
        raise ImportError(
            f"The web app needs starlette, uvicorn and python-multipart "
            f"({_reason}). Fix: pip install 'fastlearn[serve]'."
        )


__all__ = ["create_app", "InputError", "Limits"]
