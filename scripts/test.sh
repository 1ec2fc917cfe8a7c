#!/usr/bin/env bash
# The test suite (slow tests excluded; add `-m slow` to run only those).
set -euo pipefail
EXTRAS=all . "$(dirname "${BASH_SOURCE[0]}")/env.sh"
python -m pytest -q --timeout=600 "$@"
