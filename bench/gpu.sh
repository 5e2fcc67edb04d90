#!/usr/bin/env bash
# One command for a CUDA machine with torch, timm and einops already installed (no network needed):
# checks the models against the upstream reference on the GPU, then times bf16 training and inference.
# Usage: bash bench/gpu.sh [--batch_size 32] [--compile_modes default] [--profile_rows 0]
# Estimated 6-9 minutes on an H100 with every part: host-sync count, eager, compiled and CUDA-graph rows (each
# printed as it finishes), then profiles of single training steps. Drop parts with the flags above.
# Through the device tool, keep the whole output, not just its tail: bash bench/gpu.sh 2>&1 | tee $OUT/gpu.log
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
TEST_DEVICE=cuda "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_models_reference.py -k "not flops"
"$PYTHON" -m bench.bench_gpu "$@"
