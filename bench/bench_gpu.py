"""GPU timings: bf16 autocast training and inference of LGI-Former and ViT-B, eager and torch.compile.

    python -m bench.bench_gpu [--batch_size 32] [--repeats 3] [--compile_modes default reduce-overhead]
                              [--profile_rows 15]   (bench/gpu.sh runs it)

Each timing runs `--calls` steps back to back before waiting for the GPU (the steady state of a training
loop, where the host queues the next step while the GPU works). MFU is the best repeat's FLOP/s (FLOP
counter; training = 3x forward) over the best bf16 8192^2 matmul sampled between the repeats
(bench/common.py). Compile modes: 'default' (inductor kernels), 'reduce-overhead' (the same kernels replayed
as CUDA graphs: no per-kernel launch cost on the host). A row that fails prints its error and the run goes on.
Then one training step of each model (eager, and compiled for the LGI-Former) and one pretraining step run
under torch.profiler: the ops that take the most device time, the kernels per step, and how much of the
step's wall time the GPU was busy (low = the host's kernel launches set the pace). First, the host syncs of
one eager fine-tune and one pretraining step, counted by torch.cuda's sync debug mode (expected: 0 and 1).
"""

import argparse
import time
import warnings

import torch
from torch.profiler import ProfilerActivity, profile

from bench.bench_models import bench_classifier, bench_pretrain, classifier_steps, format_rows, pretrain_steps
from bench.common import MatmulCeiling, sync

MODELS = ("lgi_former_base_patch16_160", "videomae_vit_base_patch16_160")
PRETRAIN = "pretrain_lgi_former_base_patch16_160"


def profile_step(title, step, device, rows):
    """torch.profiler table of one call of step() after warm-up: the ops that take the most device time."""
    for _ in range(3):
        step()
    sync(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        step()
        sync(device)
        wall = time.perf_counter() - start
    events = prof.key_averages()
    on_device = device.type == "cuda"
    kernels = [e for e in events if on_device and e.device_type == torch.autograd.DeviceType.CUDA]
    summary = f"{wall * 1e3:.1f} ms wall (profiled)"
    if on_device:
        busy = sum(e.self_device_time_total for e in kernels) / 1e6  # microseconds -> seconds
        summary += f", {sum(e.count for e in kernels)} kernels, GPU busy {busy * 1e3:.1f} ms ({busy / wall:.0%})"
    print(f"\n{title}: {summary}")
    sort = "self_device_time_total" if on_device else "self_cpu_time_total"
    print(events.table(sort_by=sort, row_limit=rows, max_name_column_width=60))


def count_host_syncs(step):
    """How often one call of step() makes the host wait for the GPU (torch.cuda sync debug mode)."""
    step()
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def timed_rows(args, device, dtype, ceiling, compile_mode, start):
    """Rows of every model (and the pretraining step) in one compile mode; a failure becomes a row."""
    tag = "" if compile_mode is None else f" ({compile_mode})"
    timing = {"warmup": 1 if compile_mode is None else 3, "calls": args.calls}
    jobs = [(name, bench_classifier) for name in args.models] + [(args.pretrain_model, bench_pretrain)]
    rows = []
    for name, bench in jobs:
        try:
            timed = bench(name, args.batch_size, device, args.repeats, ceiling, dtype, compile_mode, **timing)
        except Exception as err:  # report and go on: one failing mode must not cost the device run
            print(f"{name}{tag} FAILED: {type(err).__name__}: {str(err)[:300]}", flush=True)
            continue
        rows += [(name + tag, *r) for r in timed]
        rates = ", ".join(f"{what} {batch / min(times):.0f} clips/s" for what, batch, times, _ in timed)
        print(f"{name}{tag} at {time.time() - start:.0f} s: {rates}", flush=True)  # survives a timeout
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--calls", type=int, default=5, help="steps per timing, back to back")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--models", nargs="+", default=list(MODELS), help="classifiers to time and profile")
    parser.add_argument("--pretrain_model", default=PRETRAIN)
    parser.add_argument(
        "--compile_modes", nargs="*", default=["default", "reduce-overhead"], help="torch.compile modes to time"
    )
    parser.add_argument("--profile_rows", type=int, default=15, help="rows of the profile tables (0: no profile)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    dtype = torch.bfloat16
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    start = time.time()
    if device.type == "cuda":
        syncs = {
            "fine-tune step": count_host_syncs(classifier_steps(args.models[0], 2, device, dtype)[2]),
            "pretraining step": count_host_syncs(pretrain_steps(args.pretrain_model, 2, device, dtype)[1]),
        }
        print("host syncs per eager step: " + ", ".join(f"{k} {v}" for k, v in syncs.items()), flush=True)
    ceiling = MatmulCeiling(device, dtype, n=8192 if device.type == "cuda" else 1024)
    rows = []
    for compile_mode in [None, *args.compile_modes]:
        rows += timed_rows(args, device, dtype, ceiling, compile_mode, start)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"\n{name}, torch {torch.__version__}, bf16 autocast, batch {args.batch_size}, {args.calls} steps per timing")
    print(f"bf16 matmul: {ceiling.describe(1e12, 'TFLOP/s')}\n")
    print(format_rows(rows, ceiling), flush=True)
    if args.profile_rows:
        profiled = [(model, None) for model in args.models]
        if args.compile_modes:
            profiled.append((args.models[0], args.compile_modes[0]))
        for model_name, compile_mode in profiled:
            train_step = classifier_steps(model_name, args.batch_size, device, dtype, compile_mode)[2]
            how = "compiled" if compile_mode else "eager"
            profile_step(f"{model_name}, one {how} training step, batch {args.batch_size}", train_step, device,
                         args.profile_rows)  # fmt: skip
        train_step = pretrain_steps(args.pretrain_model, args.batch_size, device, dtype)[1]
        title = f"{args.pretrain_model}, one eager step, batch {args.batch_size}"
        profile_step(title, train_step, device, args.profile_rows)
    print(f"\ntotal {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
