"""Small run-setup helpers shared by the entry scripts."""

import argparse

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
