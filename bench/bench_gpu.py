"""GPU timings: bf16 autocast training and inference of LGI-Former and ViT-B, eager and torch.compile.

    python -m bench.bench_gpu [--batch_size 32] [--repeats 5] [--profile_rows 25]   (bench/gpu.sh runs it)

MFU is the best repeat's FLOP/s (FLOP counter; training = 3x forward) over the best bf16 8192^2 matmul sampled
between the repeats (bench/common.py). Then one eager training step of each model, and one pretraining step,
run under torch.profiler: the ops that take the most device time, and the number of kernels per step, which
say what to work on next when the MFU is low.
"""

import argparse
import time

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
        step()
        sync(device)
    events = prof.key_averages()
    on_device = device.type == "cuda"
    kernels = sum(e.count for e in events if on_device and e.device_type == torch.autograd.DeviceType.CUDA)
    sort = "self_device_time_total" if on_device else "self_cpu_time_total"
    print(f"\n{title}" + (f": {kernels} kernels" if on_device else ""))
    print(events.table(sort_by=sort, row_limit=rows, max_name_column_width=60))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--no_compile", action="store_true", help="skip the torch.compile rows")
    parser.add_argument("--profile_rows", type=int, default=25, help="rows of the profile tables (0: no profile)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    dtype = torch.bfloat16
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    start = time.time()
    ceiling = MatmulCeiling(device, dtype, n=8192 if device.type == "cuda" else 1024)
    rows = []
    for compile in (False,) if args.no_compile else (False, True):
        tag = " (compiled)" if compile else ""
        for name in MODELS:
            timed = bench_classifier(name, args.batch_size, device, args.repeats, ceiling, dtype, compile)
            rows += [(name + tag, *r) for r in timed]
            print(f"{name}{tag} done at {time.time() - start:.0f} s", flush=True)
        timed = bench_pretrain(PRETRAIN, args.batch_size, device, args.repeats, ceiling, dtype, compile)
        rows += [(PRETRAIN + tag, *r) for r in timed]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"\n{name}, torch {torch.__version__}, bf16 autocast, batch {args.batch_size}")
    print(f"bf16 matmul: {ceiling.describe(1e12, 'TFLOP/s')}\n")
    print(format_rows(rows, ceiling), flush=True)
    if args.profile_rows:
        for model_name in MODELS:
            train_step = classifier_steps(model_name, args.batch_size, device, dtype)[2]
            title = f"{model_name}, one eager training step, batch {args.batch_size}"
            profile_step(title, train_step, device, args.profile_rows)
        train_step = pretrain_steps(PRETRAIN, args.batch_size, device, dtype)[1]
        profile_step(f"{PRETRAIN}, one eager step, batch {args.batch_size}", train_step, device, args.profile_rows)
    print(f"\ntotal {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
