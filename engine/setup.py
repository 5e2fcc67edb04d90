"""Flag types and settings both entry points and the inspection commands read: booleans, worker count, precision."""

import argparse
import os

import torch

from system.cpu import bf16_features, no_bf16_reason


def str2bool(value):
    """argparse type for upstream's boolean flags (`--pin_mem False`)."""
    if isinstance(value, bool):
        return value
    if value.lower() in ("1", "true", "yes", "y"):
        return True
    if value.lower() in ("0", "false", "no", "n"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {value!r}")


def default_workers(upstream=4):
    """Upstream's DataLoader worker count, at most the cores this process may run on (torch warns above that)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(upstream, cores)


def parse_amp(choice, device):
    """Mixed-precision dtype: 'auto' is fp16 on GPUs (upstream) and off on CPUs; bf16 on a CPU needs its bf16
    instructions (system/cpu.py), without which it runs about 100x slower than float32."""
    if choice == "bf16" and device.type == "cpu" and not bf16_features():
        raise ValueError(f"--amp bf16: {no_bf16_reason()}; use --amp none")
    if choice == "auto":
        return torch.float16 if device.type == "cuda" else None
    return {"fp16": torch.float16, "bf16": torch.bfloat16, "none": None}[choice]
