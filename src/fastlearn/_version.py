"""The library's version: one place, read by `fastlearn.__version__`, the export header, the
CLI and the package metadata (pyproject.toml reads it as its dynamic version)."""

__version__ = "0.1.0"
