"""Serving fixtures: one exported test model per input kind; Pillow's limit restored."""

from __future__ import annotations

import pytest

from .helpers import MAKERS, write_model

pytest.importorskip("starlette", reason="the web app needs: pip install 'fastlearn[serve]'")


@pytest.fixture(autouse=True)
def _restore_pillow_limit():
    """create_app lowers PIL.Image.MAX_IMAGE_PIXELS for the process; undo it per test."""
    from PIL import Image

    before = Image.MAX_IMAGE_PIXELS
    yield
    Image.MAX_IMAGE_PIXELS = before


@pytest.fixture(scope="session")
def model_files(tmp_path_factory):
    """{kind: path of its exported test model}, for image, text, tabular, collab, tensor."""
    folder = tmp_path_factory.mktemp("serve_models")
    return {kind: write_model(kind, folder / f"{kind}.fl") for kind in MAKERS}
