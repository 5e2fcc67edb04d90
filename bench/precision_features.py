"""How far bf16 moves the features a classifier's head reads, against how far apart those features lie from clip
to clip, and how large the head is: why a path keeps one model's decisions and not another's.

    python -m bench.precision_features --checkpoint CHECKPOINT --data FOLD_FOLDER --clips 24

A head multiplies the feature error by its weights: the same bf16 error changes no decision behind a trained
head and many behind one fitted to the faint directions of a backbone that did not separate the classes
(docs/deployment.md). Prints the mean feature norm, the mean distance of a clip's features from their mean, the
mean bf16 error, their ratio, and the head's mean weight norm per class.
"""

import argparse

import torch

from bench.bench_runtime import load_clips
from bench.fit_head import head_inputs
from models.checkpoint import classifier_from_checkpoint


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True, help="folder of train/val/test.csv")
    p.add_argument("--clips", type=int, default=24)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model, checkpoint = classifier_from_checkpoint(args.checkpoint)
    model.eval()
    _, frames, size, _ = model.patch_embed.input_shape
    rate = getattr(checkpoint.get("args"), "sampling_rate", None) or 4
    clips, labels = load_clips(args.data, args.clips, model.num_classes, frames, rate, size)
    items = list(zip(clips, labels, strict=True))
    fp32 = head_inputs(model, items, batch_size=4)[0]
    with torch.autocast("cpu", torch.bfloat16):
        bf16 = head_inputs(model, items, batch_size=4)[0].float()
    spread = (fp32 - fp32.mean(0)).norm(dim=1).mean().item()
    error = (bf16 - fp32).norm(dim=1).mean().item()
    head = model.head.weight.norm(dim=1).mean().item()
    norm = fp32.norm(dim=1).mean().item()
    print(f"{args.checkpoint}: {args.clips} clips; features: norm {norm:.3f}, spread {spread:.4f}, bf16 error "
          f"{error:.4f} ({error / spread:.2%} of the spread); head: weight norm per class {head:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
