#!/usr/bin/env bash
# Runs a command with every numerical library held to the kernels it picks on an AVX2-only CPU (Intel Haswell to
# Comet Lake, AMD Zen 1-3), at this machine's speed: PyTorch's own kernels, oneDNN and MKL capped at AVX2, NumPy
# at x86-64-v3, OpenBLAS at Haswell, OpenCV without AVX-512. What an AVX2 CPU computes, not how fast it runs:
# the tiny model's forward and backward pass gives bit for bit what it gives under QEMU's Haswell
# (`python -m bench.avx2_check`), and `--precision auto` sees no bf16 (oneDNN's cap, system/cpu.py).
#   bash bench/avx2.sh bash scripts/quickstart.sh
set -euo pipefail
export ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2
export NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR" OPENBLAS_CORETYPE=Haswell OPENCV_CPU_DISABLE=AVX512-SKX
exec "$@"
