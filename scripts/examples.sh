#!/usr/bin/env bash
# Run lesson examples; each asserts its own target metric and exits non-zero when it misses.
# These need the course's datasets, so they are not tests (tests never read ../shared):
#   bash scripts/examples.sh                          # the examples that run in minutes
#   bash scripts/examples.sh collab_movielens vision_pets_breeds   # named ones
# Data: FASTLEARN_DATA_MIRROR, else ../shared/datasets beside the clone when present.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EXTRAS=all . "$ROOT/scripts/env.sh"
if [ -z "${FASTLEARN_DATA_MIRROR:-}" ] && [ -d "$ROOT/../shared/datasets" ]; then
  export FASTLEARN_DATA_MIRROR="file://$(cd "$ROOT/../shared/datasets" && pwd)/"
fi
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(tabular_adult vision_mnist vision_mnist_transfer collab_movielens vision_pets_is_cat)
cd "$ROOT/examples"
for name in "${names[@]}"; do
  echo "== $name"
  python "${name%.py}.py"
done
