"""fastai 2.8's own environment, for the benchmarks that run it side by side.

fastlearn never imports fastai: a benchmark runs fastai's side as a subprocess of this
environment's python (`bash benchmarks/setup_fastai_env.sh` creates it; `FASTAI_PYTHON`
points elsewhere).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fastai_python(*modules: str) -> str | None:
    """The python of fastai's environment (`FASTAI_PYTHON`, else `.venv-fastai`) if fastai and
    `modules` import there, else None."""
    python = os.environ.get("FASTAI_PYTHON", str(ROOT / ".venv-fastai" / "bin" / "python"))
    if not Path(python).exists():
        return None
    check = f"import {', '.join(('fastai', *modules))}"
    done = subprocess.run([python, "-c", check], capture_output=True)
    return python if done.returncode == 0 else None
