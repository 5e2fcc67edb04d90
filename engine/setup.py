"""Run setup shared by the entry scripts: flags, worker count, precision, allocator, seeds, logger, lr scaling,
schedules."""

import argparse
import ctypes
import functools
import importlib.util
import os
import shutil
from pathlib import Path
from typing import NamedTuple

import torch

from system.cpu import bf16_features

from . import distributed as dist
from .data import seed_everything
from .logger import RunLogger
from .optim import build_schedules


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
        raise ValueError("--amp bf16: this CPU has no bf16 instructions (AVX512_BF16 or AMX-BF16); use --amp none")
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
    libc = _glibc()
    if libc is None:
        return False
    m_trim_threshold, m_mmap_max = -1, -4
    return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 2**31 - 1))


def release_freed_memory():
    """Hand what malloc holds free back to the OS (glibc's malloc_trim); True if it released any. With
    keep_freed_memory a process keeps its high-water mark, and over a long stream freed blocks that no
    longer fit the next request add up: calling this now and then keeps memory from growing with the stream.
    """
    libc = _glibc()
    return libc is not None and bool(libc.malloc_trim(0))


@functools.cache
def _glibc():
    """The C library when it is glibc, whose malloc the two functions above tune; None elsewhere. Opened once:
    the windows hand memory back after every batch."""
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def start_run(args):
    """What both entry points do first: the device (torch.distributed under torchrun), freed-memory reuse on
    CPU, the per-rank seed; returns (device, amp dtype, output folder or None, logger)."""
    device = dist.init_distributed(args.device)
    if device.type == "cpu":
        keep_freed_memory()  # reuse freed activations instead of page-faulting them in again each step
    seed_everything(args.seed + dist.rank())
    output_dir = Path(args.output_dir) if args.output_dir else None
    return device, parse_amp(args.amp, device), output_dir, RunLogger(output_dir, args.log_dir)


def compile_in_place(model, device):
    """`--compile`: torch.compile the model in place, so its state-dict keys, checkpoints and EMA stay those of
    the plain model; first checks for what inductor needs to build kernels (a C++ compiler, or Triton)."""
    if device.type == "cpu" and not (os.environ.get("CXX") or shutil.which("g++")):
        raise ValueError("--compile on CPU needs a C++ compiler (g++, or one named by $CXX); none was found")
    if device.type == "cuda" and importlib.util.find_spec("triton") is None:
        raise ValueError("--compile on a GPU needs the triton package, which this torch install lacks")
    model.compile()


class ScaledRates(NamedTuple):
    lr: float
    min_lr: float
    warmup_lr: float
    total_batch: int


def scaled_lrs(args):
    """The base rates scaled by total batch / 256 (upstream's rule), total batch = batch x views per clip
    (num_sample) x update_freq x ranks."""
    total_batch = args.batch_size * getattr(args, "num_sample", 1) * args.update_freq * dist.world_size()
    return ScaledRates(*(v * total_batch / 256 for v in (args.lr, args.min_lr, args.warmup_lr)), total_batch)


def plan_steps(args, loader, rates):
    """(optimizer steps per epoch, (lr, weight decay) per step); data smaller than one batch is an error."""
    lr, min_lr, warmup_lr, total_batch = rates
    steps = len(loader) // args.update_freq
    if steps == 0:
        raise ValueError(
            f"{args.data_path}: {len(loader.dataset)} training clips are fewer than one batch of {total_batch}"
        )
    schedules = build_schedules(
        lr, min_lr, args.epochs, steps, args.warmup_epochs, args.warmup_steps, warmup_lr, args.weight_decay,
        args.weight_decay_end,
    )  # fmt: skip
    return steps, schedules
