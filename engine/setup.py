"""Small run-setup helpers shared by the entry scripts."""

import argparse
import ctypes

import torch


def str2bool(value):
    """argparse type for upstream's boolean flags (`--pin_mem False`)."""
    if isinstance(value, bool):
        return value
    if value.lower() in ("1", "true", "yes", "y"):
        return True
    if value.lower() in ("0", "false", "no", "n"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {value!r}")


def parse_amp(choice, device):
    """Mixed-precision dtype: 'auto' is fp16 on GPUs (upstream) and off on CPUs, where bf16 is slow."""
    if choice == "auto":
        return torch.float16 if device.type == "cuda" else None
    return {"fp16": torch.float16, "bf16": torch.bfloat16, "none": None}[choice]


def build_ema(model, decay):
    from timm.utils import ModelEmaV3

    return ModelEmaV3(model, decay=decay)


def keep_freed_memory():
    """Make glibc malloc keep freed memory for reuse instead of handing it back to the OS; True if applied.

    PyTorch's CPU allocator is plain malloc. By default a freed activation above malloc's mmap threshold
    goes back to the OS and the next one is page-faulted in, zero-filled: about 130k page faults per
    base-model forward at batch 4, 5-20% of its time. With mmap off and trimming off, freed blocks are
    reused (the effect of running under jemalloc or tcmalloc). The process keeps its peak memory.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return False
    m_trim_threshold, m_mmap_max = -1, -4
    return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 2**31 - 1))
