#!/usr/bin/env bash
# Runs a command with every numerical library held to the kernels it picks on an AVX2-only CPU (Intel Haswell to
# Comet Lake, AMD Zen 1-3), at this machine's speed: PyTorch's own kernels, oneDNN and MKL capped at AVX2, NumPy
# at x86-64-v3, OpenBLAS at Haswell, OpenCV without AVX-512; and where Linux can fault CPUID (`cpuid_fault` in
# /proc/cpuinfo) and gcc is here, CPUID itself answers without AVX-512, VNNI and AMX in the command and its
# children (bench/cpuid_avx2.c, built once into saved/bench/), so that ONNX Runtime, which has no switch of its
# own, runs its AVX2 kernels too. What an AVX2 CPU computes, not how fast it runs: the tiny model's forward and
# backward pass gives bit for bit what it gives under QEMU's Haswell, and ONNX Runtime's uint8 x int8 products
# saturate as they do there (`python -m bench.avx2_check`); `--precision auto` sees no bf16.
#   bash bench/avx2.sh bash scripts/quickstart.sh
set -euo pipefail
export ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2
export NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR" OPENBLAS_CORETYPE=Haswell
export TORCHINDUCTOR_CACHE_DIR="${TMPDIR:-/tmp}/torchinductor_avx2_$(id -un)"  # torch.compile's kernels for AVX2 apart
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
library="$here/../saved/bench/cpuid_avx2.so"
if ! grep -qw cpuid_fault /proc/cpuinfo; then
  echo "bench/avx2.sh: no CPUID faulting here: ONNX Runtime keeps this CPU's kernels" >&2
elif [ "$library" -nt "$here/cpuid_avx2.c" ] || { mkdir -p "$(dirname "$library")" &&
  gcc -O2 -shared -fPIC -o "$library" "$here/cpuid_avx2.c" -ldl; }; then
  export LD_PRELOAD="$library${LD_PRELOAD:+:$LD_PRELOAD}"
  masked=true
else
  echo "bench/avx2.sh: could not build bench/cpuid_avx2.c (gcc): ONNX Runtime keeps this CPU's kernels" >&2
fi
${masked:-false} || export OPENCV_CPU_DISABLE=AVX512-SKX  # with CPUID masked OpenCV warns at this cap
exec "$@"
