"""Model speed on this machine: base LGI-Former and ViT-B, inference and training step, the pretraining step.

    .venv/bin/python -m bench.bench_models [--batch_sizes 1 4] [--repeats 3] [--device cpu] [--default_malloc]

FLOPs come from the FLOP counter (training step = 3x forward). MFU is the FLOP/s of the best repeat over the
best float32 2048x2048 matmul sampled between the repeats of every row (same run, dtype and thread count;
see bench/common.py). On CPU, freed memory is kept for reuse (`keep_freed_memory`) unless --default_malloc.
Prints a Markdown table.
"""

import argparse
import os
import statistics

import torch

from bench.common import MatmulCeiling, markdown_table, part_window_masks, run_times
from models import create_model
from models.flops import count_flops
from system.memory import keep_freed_memory

CLIP = (3, 16, 160, 160)


def _autocast(device, amp_dtype):
    return torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None)


def _compiled(model, compile_mode):
    """The model itself (eager) or torch.compile'd in `compile_mode` ('default', 'reduce-overhead' = CUDA graphs)."""
    return model if compile_mode is None else torch.compile(model, mode=compile_mode)


def _step_begin(compile_mode):
    if compile_mode == "reduce-overhead":
        torch.compiler.cudagraph_mark_step_begin()  # the previous step's graph outputs may be overwritten


def classifier_steps(name, batch, device, amp_dtype=None, compile_mode=None):
    """(forward FLOPs of the batch, inference(), train_step()) for a random batch; the training step is
    forward, backward and a fused AdamW step, as in engine/."""
    model = create_model(name).to(device)
    x = torch.randn(batch, *CLIP, device=device)
    flops = count_flops(model.eval(), x[:1])[0] * batch
    net = _compiled(model, compile_mode)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)

    def infer():
        model.eval()
        _step_begin(compile_mode)
        with torch.inference_mode(), _autocast(device, amp_dtype):
            net(x)

    def train_step():
        model.train()
        _step_begin(compile_mode)
        with _autocast(device, amp_dtype):
            loss = net(x).float().logsumexp(1).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return flops, infer, train_step


def pretrain_steps(name, batch, device, amp_dtype=None, compile_mode=None):
    """(forward FLOPs of the batch, train_step()) for one pretraining step with 90% part-window masks."""
    model = create_model(name).to(device).train()
    x = torch.randn(batch, *CLIP, device=device)
    mask = part_window_masks(batch).to(device)
    flops = count_flops(model, x[:1], mask[:1])[0] * batch
    net = _compiled(model, compile_mode)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)

    def train_step():
        _step_begin(compile_mode)
        with _autocast(device, amp_dtype):
            pred = net(x, mask)
        model.loss(x, mask, pred)[0].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return flops, train_step


def bench_classifier(name, batch, device, repeats, ceiling, amp_dtype=None, compile_mode=None, warmup=1, calls=1):
    """(what, batch, seconds per call of each repeat, FLOPs) for inference and one training step."""
    flops, infer, train_step = classifier_steps(name, batch, device, amp_dtype, compile_mode)
    timing = {"repeats": repeats, "warmup": warmup, "ceiling": ceiling, "calls": calls}
    return [
        ("inference", batch, run_times(infer, device, **timing), flops),
        ("train step", batch, run_times(train_step, device, **timing), 3 * flops),
    ]


def bench_pretrain(name, batch, device, repeats, ceiling, amp_dtype=None, compile_mode=None, warmup=1, calls=1):
    """(what, batch, seconds per call of each repeat, FLOPs) for one pretraining step."""
    flops, train_step = pretrain_steps(name, batch, device, amp_dtype, compile_mode)
    timing = {"repeats": repeats, "warmup": warmup, "ceiling": ceiling, "calls": calls}
    return [("pretrain step", batch, run_times(train_step, device, **timing), 3 * flops)]


def format_rows(rows, ceiling):
    """rows of (model, what, batch, run times, flops) -> Markdown table; rates and MFU from the best run."""
    header = ("model", "what", "batch", "median s", "best s", "clips/s", "GFLOP/s", "MFU")
    table = []
    for model, what, batch, times, flops in rows:
        best = min(times)
        rate = flops / best
        table.append(
            (model, what, batch, f"{statistics.median(times):.3f}", f"{best:.3f}", f"{batch / best:.2f}",
             f"{rate / 1e9:.1f}", f"{rate / ceiling.best:.0%}")
        )  # fmt: skip
    return markdown_table(header, table)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", nargs="+", default=["lgi_former_base_patch16_160", "videomae_vit_base_patch16_160"])
    parser.add_argument("--default_malloc", action="store_true", help="leave glibc malloc's settings alone")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    kept = device.type == "cpu" and not args.default_malloc and keep_freed_memory()
    load = os.getloadavg()[0]
    torch.manual_seed(0)

    ceiling = MatmulCeiling(device)
    lgi = count_flops(create_model("lgi_former_base_patch16_160").eval(), torch.randn(1, *CLIP))[0]
    vit = count_flops(create_model("videomae_vit_base_patch16_160").eval(), torch.randn(1, *CLIP))[0]
    rows = []
    for name in args.models:
        for batch in args.batch_sizes:
            rows += [(name, *r) for r in bench_classifier(name, batch, device, args.repeats, ceiling)]
    pretrain = "pretrain_lgi_former_base_patch16_160"
    rows += [(pretrain, *r) for r in bench_pretrain(pretrain, max(args.batch_sizes), device, args.repeats, ceiling)]
    print(f"threads: {torch.get_num_threads()}, torch {torch.__version__}, device {device}, freed memory kept: {kept}")
    print(f"load average: {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (other jobs on these cores)")
    print(f"float32 2048x2048 matmul: {ceiling.describe()}")
    print(f"forward FLOPs per clip: LGI-Former {lgi / 1e9:.2f} G, ViT-B {vit / 1e9:.2f} G, ratio {lgi / vit:.3f}")
    print()
    print(format_rows(rows, ceiling))


if __name__ == "__main__":
    main()
