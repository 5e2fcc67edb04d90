#!/usr/bin/env bash
# One command for a CUDA machine with torch, timm and einops already installed (no network needed):
# checks the models against the upstream reference on the GPU, then times bf16 training and inference.
# Usage: bash bench/gpu.sh [--batch_size 32]   (about 5-8 minutes on an H100; ends with a profile of one
# eager training step per model: the ops that take the device time)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
TEST_DEVICE=cuda "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_models_reference.py -k "not flops"
"$PYTHON" -m bench.bench_gpu "$@"
