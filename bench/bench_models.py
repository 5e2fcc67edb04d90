"""Model speed on this machine: base LGI-Former and ViT-B, inference and training step, the pretraining step.

    .venv/bin/python -m bench.bench_models [--batch_sizes 1 4] [--repeats 3] [--device cpu]

FLOPs come from the FLOP counter (training step = 3x forward); MFU is achieved FLOP/s over a dense
matmul measured in the same run, in the same dtype. Prints a Markdown table.
"""

import argparse

import torch

from bench.common import markdown_table, matmul_flops_per_s, median_time, part_window_masks
from models import create_model
from models.flops import count_flops

CLIP = (3, 16, 160, 160)


def _autocast(device, amp_dtype):
    return torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None)


def bench_classifier(name, batch, device, repeats, amp_dtype=None, compile=False):
    """(what, batch, seconds, FLOPs) for inference and one training step (forward, backward, AdamW)."""
    model = create_model(name).to(device)
    x = torch.randn(batch, *CLIP, device=device)
    flops = count_flops(model.eval(), x[:1])[0] * batch
    net = torch.compile(model) if compile else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def infer():
        with torch.inference_mode(), _autocast(device, amp_dtype):
            net(x)

    def train_step():
        with _autocast(device, amp_dtype):
            loss = net(x).float().logsumexp(1).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    model.eval()
    rows = [("inference", batch, median_time(infer, device, repeats), flops)]
    model.train()
    rows.append(("train step", batch, median_time(train_step, device, repeats), 3 * flops))
    return rows


def bench_pretrain(name, batch, device, repeats, amp_dtype=None, compile=False):
    """(what, batch, seconds, FLOPs) for one pretraining step with 90% part-window masks."""
    model = create_model(name).to(device).train()
    x = torch.randn(batch, *CLIP, device=device)
    mask = part_window_masks(batch).to(device)
    flops = count_flops(model, x[:1], mask[:1])[0] * batch
    net = torch.compile(model) if compile else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def train_step():
        with _autocast(device, amp_dtype):
            pred = net(x, mask)
        model.loss(x, mask, pred)[0].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return [("pretrain step", batch, median_time(train_step, device, repeats), 3 * flops)]


def format_rows(rows, ceiling):
    """rows of (model, what, batch, seconds, flops) -> Markdown table with GFLOP/s, clips/s and MFU."""
    header = ("model", "what", "batch", "seconds", "clips/s", "GFLOP/s", "MFU")
    table = [
        (m, w, b, f"{s:.3f}", f"{b / s:.1f}", f"{f / s / 1e9:.1f}", f"{f / s / ceiling:.0%}") for m, w, b, s, f in rows
    ]
    return markdown_table(header, table)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", nargs="+", default=["lgi_former_base_patch16_160", "videomae_vit_base_patch16_160"])
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.manual_seed(0)

    ceiling = matmul_flops_per_s(device)
    lgi = count_flops(create_model("lgi_former_base_patch16_160").eval(), torch.randn(1, *CLIP))[0]
    vit = count_flops(create_model("videomae_vit_base_patch16_160").eval(), torch.randn(1, *CLIP))[0]
    rows = []
    for name in args.models:
        for batch in args.batch_sizes:
            rows += [(name, *r) for r in bench_classifier(name, batch, device, args.repeats)]
    pretrain = "pretrain_lgi_former_base_patch16_160"
    rows += [(pretrain, *r) for r in bench_pretrain(pretrain, max(args.batch_sizes), device, args.repeats)]
    print(f"threads: {torch.get_num_threads()}, torch {torch.__version__}, device {device}")
    print(f"float32 matmul ceiling: {ceiling / 1e9:.1f} GFLOP/s (2048x2048, same run)")
    print(f"forward FLOPs per clip: LGI-Former {lgi / 1e9:.2f} G, ViT-B {vit / 1e9:.2f} G, ratio {lgi / vit:.3f}")
    print()
    print(format_rows(rows, ceiling))


if __name__ == "__main__":
    main()
