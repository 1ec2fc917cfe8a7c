#!/usr/bin/env bash
# Shared set-up: a virtual environment with torch and fastlearn installed (sourced by the
# other scripts). EXTRAS picks the optional dependencies, e.g. EXTRAS=demo or EXTRAS=all.
# torch: when the environment has none, the CPU build torch==2.13.0 is installed first, so
# that pip never resolves an unpinned torch (which would pull several GB of CUDA packages).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="${FASTLEARN_VENV:-$root/.venv}"
if [ ! -x "$venv/bin/python" ]; then
  echo "Creating the virtual environment $venv" >&2
  python3 -m venv "$venv"
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"
if ! python -c "import torch" 2>/dev/null; then
  echo "Installing torch==2.13.0 (CPU build)" >&2
  pip install -q torch==2.13.0
fi
stamp="$venv/.fastlearn-${EXTRAS:-base}.stamp"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "Installing fastlearn[${EXTRAS:-}] into $venv" >&2
  pip install -q -e ".[${EXTRAS:-}]"
  touch "$stamp"
fi
