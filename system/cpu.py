"""What this CPU can execute fast: its instruction-set features, whether it has bf16 and int8 (VNNI) instructions.

The features come from CPUID as PyTorch's cpuinfo reads it (what this process can execute, also under an emulator
such as `qemu-x86_64 -cpu Haswell-noTSX`), else from /proc/cpuinfo's flags. Without AVX512_BF16 or AMX-BF16 (Xeons
before Cooper Lake, EPYCs before Zen 4, AVX2-only CPUs) PyTorch emulates bf16 about 100x slower than float32,
and so it does where ONEDNN_MAX_CPU_ISA (or its older name DNNL_MAX_CPU_ISA) holds oneDNN, which runs PyTorch's
bf16 products, below the bf16 kernels.
"""

import os

import torch

BF16_FEATURES = ("amx_bf16", "avx512_bf16")
INT8_FEATURES = ("amx_int8", "avx512_vnni", "avx_vnni")  # exact, fast uint8 x int8 products in ONNX Runtime
# oneDNN's instruction-set levels (values of ONEDNN_MAX_CPU_ISA), lowest first, and the lowest that runs each bf16
# feature's kernels; an unknown value (ALL, DEFAULT, a newer level) caps nothing.
ONEDNN_LEVELS = (
    "SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI", "AVX512_CORE_BF16",
    "AVX10_1_512", "AVX512_CORE_FP16", "AVX10_1_512_AMX", "AVX512_CORE_AMX",
)  # fmt: skip
BF16_LEVEL = {"avx512_bf16": "AVX512_CORE_BF16", "amx_bf16": "AVX10_1_512_AMX"}


def cpu_features():
    """The CPU's features as a set of names (avx2, avx512_vnni, avx512_bf16, amx_bf16, amx_int8, ...)."""
    get_capabilities = getattr(torch.cpu, "get_capabilities", None)
    if get_capabilities is not None:
        return {name for name, value in get_capabilities().items() if value is True}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def onednn_cap():
    """oneDNN's instruction-set cap as (variable, value), or None: ONEDNN_MAX_CPU_ISA, else DNNL_MAX_CPU_ISA (the
    name oneDNN still reads, after the new one)."""
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        if os.environ.get(name):
            return name, os.environ[name]
    return None


def bf16_features(features=None, onednn_max_isa=None):
    """The bf16 instruction sets among `features` (default: this CPU's) that oneDNN may use under its cap
    (default: onednn_cap()'s), sorted; empty where bf16 is slow."""
    features = cpu_features() if features is None else features
    cap = (onednn_max_isa or (onednn_cap() or ("", ""))[1]).upper()
    top = ONEDNN_LEVELS.index(cap) if cap in ONEDNN_LEVELS else len(ONEDNN_LEVELS)
    return sorted(f for f in BF16_FEATURES if f in features and ONEDNN_LEVELS.index(BF16_LEVEL[f]) <= top)


def no_bf16_reason(features=None):
    """Why bf16_features(features) is empty, in a few words."""
    cap = onednn_cap()
    if cap and bf16_features(features, onednn_max_isa="ALL"):
        return f"{cap[0]}={cap[1]} holds oneDNN below its bf16 kernels"
    return "no bf16 instructions on this CPU (AVX512_BF16 or AMX-BF16)"


def int8_features(features=None):
    """The VNNI / AMX-INT8 instruction sets among `features` (default: this CPU's), sorted; empty where ONNX
    Runtime's int8 products run its slower uint8 x uint8 kernels (AVX2, AVX-512 before Cascade Lake)."""
    features = cpu_features() if features is None else features
    return sorted(f for f in INT8_FEATURES if f in features)
