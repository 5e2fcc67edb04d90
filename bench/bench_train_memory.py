"""GPU memory of a training step, estimated on the CPU: what autograd keeps for the backward pass of one clip,
times the batch, plus 16 bytes per parameter (fp32 weights, gradients and AdamW's two moments).

    .venv/bin/python -m bench.bench_train_memory [--batch 32]

Saved tensors are counted once per storage under bf16 autocast, as a GPU run keeps them under fp16 or bf16; the
allocator's workspace and fragmentation come on top, so read the totals as a lower bound. Prints a Markdown table.
"""

import argparse

import torch

from bench.common import markdown_table, part_window_masks
from models import create_model

GIB = 2**30


def saved_bytes(loss):
    """Bytes of the distinct storages autograd saves while `loss()` runs its forward pass under bf16 autocast."""
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss()
    return sum(storages.values())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32, help="clips per GPU")
    args = parser.parse_args()
    clip = torch.randn(1, 3, 16, 160, 160)
    classifier = create_model("lgi_former_base_patch16_160", num_classes=7, drop_path_rate=0.1).train()
    mae = create_model("pretrain_lgi_former_base_patch16_160").train()
    mask = part_window_masks(1)
    steps = {
        "fine-tuning, lgi_former_base_patch16_160": (classifier, lambda: classifier(clip).sum()),
        "pretraining, pretrain_lgi_former_base_patch16_160": (mae, lambda: mae.forward_loss(clip, mask)[0]),
    }
    rows = []
    for name, (model, loss) in steps.items():
        per_clip = saved_bytes(loss) / GIB
        state = 16 * sum(p.numel() for p in model.parameters()) / GIB
        rows.append([name, f"{per_clip:.3f}", f"{state:.2f}", f"{state + args.batch * per_clip:.1f}"])
    header = ["step", "saved GiB per clip", "weights + grads + AdamW GiB", f"total GiB at batch {args.batch}"]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
