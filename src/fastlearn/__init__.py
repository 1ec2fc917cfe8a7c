"""fastlearn: the fast.ai course's deep-learning workflow on plain PyTorch.

    from fastlearn import *
    learn = Learner(dls, model, metrics=accuracy)
    learn.fit_one_cycle(3, 1e-2)

`import fastlearn` alone imports nothing heavy: the core's names (listed in
`fastlearn.core.api`) are imported, with torch and numpy, on the first use of one of them, so
that the `fastlearn` command answers `--help` and `--version` at once. Matplotlib, pandas,
scikit-learn and transformers are imported when a feature needs them. The applications live
in `fastlearn.vision`, `fastlearn.text`, `fastlearn.tabular` and `fastlearn.collab`
(`from fastlearn.vision.all import *` mirrors the course's `from fastai.vision.all import *`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__  # re-exported

if TYPE_CHECKING:  # what type checkers and editors see; at run time, __getattr__ below
    from .core.api import *  # noqa: F403
    from .core.api import __all__ as __all__


def __getattr__(name: str) -> Any:
    """`fastlearn.Learner`, `from fastlearn import *`: the core's names, imported on first use."""
    if name.startswith("__") and name != "__all__":  # __path__, __wrapped__... probes
        raise AttributeError(f"module 'fastlearn' has no attribute {name!r}")
    from .core import api  # binds fastlearn.core, and the submodules api imports

    if name in globals():  # `fastlearn.core` after `import fastlearn`
        return globals()[name]
    if name != "__all__" and name not in api.__all__:
        raise AttributeError(f"module 'fastlearn' has no attribute {name!r}")
    value = getattr(api, name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    from .core import api

    return sorted({*globals(), *api.__all__})
