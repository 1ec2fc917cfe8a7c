#!/usr/bin/env bash
# The main job: train a small CNN on bundled digits (see `fastlearn demo --help`).
set -euo pipefail
EXTRAS=demo . "$(dirname "${BASH_SOURCE[0]}")/env.sh"
fastlearn demo "$@"
