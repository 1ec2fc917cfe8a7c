#!/usr/bin/env bash
# The test suite (slow tests excluded; add `-m slow` to run only those).
set -euo pipefail
EXTRAS=all . "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# The browser test drives Debian's Chromium (Playwright's own browser download can't run
# offline). Installed when missing and we may; otherwise that test skips with its reason.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
    >/dev/null 2>&1 || echo "Could not install chromium: the browser test will skip." >&2
fi
# One style, enforced: lint and formatting (ruff, pinned in the dev extra) before the tests.
(cd "$(dirname "${BASH_SOURCE[0]}")/.." && ruff check -q src tests examples benchmarks \
  && ruff format --check -q src tests examples benchmarks) \
  || { echo "ruff: fix with 'ruff check --fix' and 'ruff format' (see above)" >&2; exit 1; }
python -m pytest -q --timeout=600 "$@"
