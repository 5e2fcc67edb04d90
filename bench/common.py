"""Timing helpers for the benchmarks: medians after warm-up, a matmul ceiling measured in the same run."""

import statistics
import time

import numpy as np
import torch


def part_window_masks(batch, seed=0):
    """(B, 800) bool masks: 90% part-window tube masking for the 16x160x160 clip grid."""
    rng = np.random.default_rng(seed)
    masks = []
    for _ in range(batch):
        frame = np.ones((2, 50), dtype=bool)
        for window in frame:
            window[rng.permutation(50)[:5]] = False
        masks.append(np.tile(frame.reshape(-1), 8))
    return torch.from_numpy(np.stack(masks))


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_time(fn, device, repeats=3, warmup=1):
    """Median wall time of fn() in seconds over `repeats` runs after `warmup` runs."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_flops_per_s(device, dtype=torch.float32, n=2048, repeats=5):
    """Achievable dense matmul FLOP/s on this device and dtype (the MFU denominator)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    seconds = median_time(lambda: a @ b, device, repeats=repeats, warmup=2)
    return 2 * n**3 / seconds


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
