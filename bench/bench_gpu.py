"""GPU timings: bf16 autocast training and inference of LGI-Former and ViT-B, eager and torch.compile.

    python -m bench.bench_gpu [--batch_size 32] [--repeats 5]     (bench/gpu.sh runs it after the reference test)

MFU is the best repeat's FLOP/s (FLOP counter; training = 3x forward) over the best bf16 8192^2 matmul sampled
between the repeats (bench/common.py).
"""

import argparse
import time

import torch

from bench.bench_models import bench_classifier, bench_pretrain, format_rows
from bench.common import MatmulCeiling

MODELS = ("lgi_former_base_patch16_160", "videomae_vit_base_patch16_160")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--no_compile", action="store_true", help="skip the torch.compile rows")
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
    print(format_rows(rows, ceiling))
    print(f"\ntotal {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
