"""Timing helpers for the benchmarks: best-of timings and a matmul ceiling sampled through the run.

The cores may be shared with other jobs, which only ever slow a measurement down. So a benchmark takes the
best of its repeats, and the MFU denominator is the best of many dense-matmul samples taken between those
repeats (same run, dtype and thread count): a busy spell lowers neither side alone.
"""

import functools
import inspect
import statistics
import time

import numpy as np
import torch

from datasets.masking import PartWindowMasking


def part_window_masks(batch, seed=0):
    """(B, 800) bool masks: the 90% part-window tube masks the datasets draw, seeded."""
    np.random.seed(seed)
    generate = PartWindowMasking()
    return torch.from_numpy(np.stack([generate() for _ in range(batch)]))


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class MatmulCeiling:
    """Dense n x n matmul FLOP/s, sampled whenever `sample()` is called; `best` is the MFU denominator."""

    def __init__(self, device, dtype=torch.float32, n=2048):
        self.device, self.n = device, n
        self.a = torch.randn(n, n, device=device, dtype=dtype)
        self.b = torch.randn(n, n, device=device, dtype=dtype)
        self.samples = []
        for _ in range(2):  # warm-up
            self.a @ self.b
        self.sample()

    def sample(self, matmuls=4):
        """One sample: the mean rate of `matmuls` back-to-back products (long enough to smooth clock boosts)."""
        sync(self.device)
        start = time.perf_counter()
        for _ in range(matmuls):
            self.a @ self.b
        sync(self.device)
        self.samples.append(matmuls * 2 * self.n**3 / (time.perf_counter() - start))

    @property
    def best(self):
        return max(self.samples)

    def describe(self, unit=1e9, name="GFLOP/s"):
        s = sorted(self.samples)
        return (
            f"{s[-1] / unit:.1f} {name} best, {statistics.median(s) / unit:.1f} median, "
            f"{s[0] / unit:.1f} worst over {len(s)} samples taken between the timed runs"
        )


def run_times(fn, device, repeats=3, warmup=1, ceiling=None, calls=1):
    """Seconds per fn() call: `repeats` timings after `warmup` calls; samples `ceiling` before and after each.

    Each timing runs fn() `calls` times back to back before waiting for the device, so on a GPU the host can
    queue the next call while the device works (the steady state of a training loop); on CPU use 1.
    """
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        if ceiling is not None:
            ceiling.sample()
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        sync(device)
        times.append((time.perf_counter() - start) / calls)
    if ceiling is not None:
        ceiling.sample()
    return times


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def best_rate(read, items, repeats):
    """Items per CPU second of the fastest of `repeats` passes of read(item) over `items`, numpy reseeded each pass
    (CPU time of this process: other jobs on a shared machine do not count)."""
    rates = []
    for _ in range(repeats):
        np.random.seed(0)
        start = time.process_time()
        for item in items:
            read(item)
        rates.append(len(items) / (time.process_time() - start))
    return max(rates)


def timed(seconds, stage, fn):
    """fn, its wall time added to seconds[stage]; a generator function's time is counted item by item."""

    def timed_generator(*args, **kwargs):
        items = fn(*args, **kwargs)
        while True:
            start = time.perf_counter()
            try:
                item = next(items)
            except StopIteration:
                return
            finally:
                seconds[stage] += time.perf_counter() - start
            yield item

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            seconds[stage] += time.perf_counter() - start

    return functools.wraps(fn)(timed_generator) if inspect.isgeneratorfunction(fn) else wrapper
