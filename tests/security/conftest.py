"""The bad-input corpus: each test module here builds its own hostile inputs (archives, URLs,
HTTP bodies, training faults) and checks that each is refused with a clear error, or handled
as documented, and that nothing is left half-written."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    """A private fastlearn cache per test; no mirror; no real back-off waits."""
    from fastlearn.core import fetch

    monkeypatch.setenv("FASTLEARN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FASTLEARN_DATA_MIRROR", raising=False)
    monkeypatch.delenv("FASTLEARN_MAX_EXTRACT_BYTES", raising=False)
    monkeypatch.setattr(fetch.time, "sleep", lambda s: None)
    return tmp_path / "home"
