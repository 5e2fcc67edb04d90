"""GPU timings: bf16 autocast training and inference of LGI-Former and ViT-B, eager and torch.compile.

    python -m bench.bench_gpu [--batch_size 32] [--repeats 5] [--profile_rows 25]   (bench/gpu.sh runs it)

MFU is the best repeat's FLOP/s (FLOP counter; training = 3x forward) over the best bf16 8192^2 matmul sampled
between the repeats (bench/common.py). Then one eager training step of each model runs under torch.profiler
and the ops that take the most device time are printed, with the number of kernels per step: what to work on
next when the MFU is low.
"""

import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile

from bench.bench_models import CLIP, bench_classifier, bench_pretrain, format_rows
from bench.common import MatmulCeiling, sync
from models import create_model

MODELS = ("lgi_former_base_patch16_160", "videomae_vit_base_patch16_160")


def profile_train_step(name, batch, device, dtype, rows):
    """torch.profiler table of one eager autocast training step (forward, backward, AdamW) after warm-up."""
    model = create_model(name).to(device).train()
    x = torch.randn(batch, *CLIP, device=device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)

    def train_step():
        with torch.autocast(device.type, dtype=dtype):
            loss = model(x).float().logsumexp(1).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(3):
        train_step()
    sync(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        train_step()
        sync(device)
    events = prof.key_averages()
    on_device = device.type == "cuda"
    kernels = sum(e.count for e in events if on_device and e.device_type == torch.autograd.DeviceType.CUDA)
    sort = "self_device_time_total" if on_device else "self_cpu_time_total"
    print(f"\n{name}, one eager training step, batch {batch}" + (f": {kernels} kernels" if on_device else ""))
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
        pretrain = "pretrain_lgi_former_base_patch16_160"
        timed = bench_pretrain(pretrain, args.batch_size, device, args.repeats, ceiling, dtype, compile)
        rows += [(pretrain + tag, *r) for r in timed]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"\n{name}, torch {torch.__version__}, bf16 autocast, batch {args.batch_size}")
    print(f"bf16 matmul: {ceiling.describe(1e12, 'TFLOP/s')}\n")
    print(format_rows(rows, ceiling), flush=True)
    if args.profile_rows:
        for model_name in MODELS:
            profile_train_step(model_name, args.batch_size, device, dtype, args.profile_rows)
    print(f"\ntotal {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
