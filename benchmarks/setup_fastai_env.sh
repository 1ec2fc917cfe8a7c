#!/usr/bin/env bash
# Creates a separate virtual environment with fastai 2.8 for side-by-side benchmarks.
# fastai is never imported by fastlearn; benchmarks call this environment's python
# (safetensors: benchmarks/transfer.py builds fastlearn's models there, from src/).
# Usage: bash benchmarks/setup_fastai_env.sh [DIR]   (default: .venv-fastai)
set -euo pipefail
dir=${1:-.venv-fastai}
if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c "import fastai, safetensors" 2>/dev/null; then
  echo "$dir/bin/python"; exit 0
fi
python3 -m venv "$dir"
"$dir/bin/pip" install -q torch==2.13.0 >&2
"$dir/bin/pip" install -q --no-deps "fastai>=2.8,<2.9" >&2
"$dir/bin/pip" install -q fastcore fasttransform fastprogress fastdownload "plum-dispatch<2.10" \
  "spacy<4" pandas scikit-learn scipy matplotlib pyyaml requests cloudpickle safetensors >&2
echo "$dir/bin/python"
