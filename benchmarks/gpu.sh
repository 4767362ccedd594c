#!/usr/bin/env bash
# The GPU measurements of issue 19 on one CUDA GPU (an H200: about 5 minutes), written to benchmarks/results/gpu.json,
# which the benchmarks page (nbs/22_benchmarks.ipynb) renders. Run from the repository root, in the project's venv:
#   bash benchmarks/gpu.sh                     # all sections
#   bash benchmarks/gpu.sh --no-compile        # any of gpu.py's options pass through
# bitsandbytes is optional (pip install bitsandbytes); without it the 8/4-bit section records the ImportError.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
timeout 590 "$PY" benchmarks/gpu.py "$@"
