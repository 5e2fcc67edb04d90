"""A fine-tuned classifier in minutes of CPU: train only the classification head on a frozen backbone.

    python -m bench.fit_head --model lgi_former_base_patch16_160 --data saved/data/synthetic160/split01 \
        --data_set synthetic --out saved/model/runtime_bench/head_fit.pth

Fine-tuning the whole base model (run_finetuning.py) costs about 4 CPU-seconds per clip and step, hours on
two shared cores. Here every training clip (centre clip, no augmentation) goes through the backbone once,
then the head is fitted to the pooled, normalised features by full-batch L-BFGS (cross-entropy plus an L2
penalty). The result predicts the data with real margins, unlike a random head, so bench_runtime can measure
how far int8 moves its decisions. Saved as a regular checkpoint with the run's args. `--finetune` keeps the
backbone (and pooling) of a fine-tuned checkpoint instead of a freshly initialised one: a short fine-tuning
moves the weights, the fitted head gives its features confident margins (bench/make_base_model.sh).
"""

import argparse

import torch
import torch.nn.functional as F

from datasets.specs import get_spec
from datasets.transforms import normalize
from datasets.video_dataset import FinetuneDataset
from engine.checkpoint import save_checkpoint
from models import create_model
from models.checkpoint import classifier_from_checkpoint


@torch.no_grad()
def head_inputs(model, dataset, batch_size):
    """(N, C) inputs of model.head and (N,) labels over the dataset."""
    captured = []
    hook = model.head.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0]))
    labels = []
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        model(normalize(torch.stack([video for video, _ in items])))
        labels += [label for _, label in items]
        print(f"features {len(labels)}/{len(dataset)}", flush=True)
    hook.remove()
    return torch.cat(captured), torch.tensor(labels)


def fit_linear(features, labels, num_classes, weight_decay, steps=200):
    """Weight (K, C) and bias (K,) minimising cross-entropy + weight_decay * |W|^2 / 2."""
    weight = torch.zeros(num_classes, features.shape[1], requires_grad=True)
    bias = torch.zeros(num_classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(features @ weight.T + bias, labels) + weight_decay / 2 * weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach(), bias.detach()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="lgi_former_base_patch16_160")
    p.add_argument("--finetune", default=None, help="a fine-tuned classifier whose backbone to keep (else --model, "
                   "freshly initialised)")  # fmt: skip
    p.add_argument("--data", required=True, help="folder with train.csv")
    p.add_argument("--data_set", default="synthetic", help="dataset record: classes and sampling rate")
    p.add_argument("--out", required=True, help="checkpoint to write")
    p.add_argument("--weight_decay", type=float, default=1e-3)
    p.add_argument("--batch_size", type=int, default=4)
    p.add_argument("--max_clips", type=int, default=None, help="use the first N training clips")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    spec = get_spec(args.data_set)
    torch.manual_seed(args.seed)
    if args.finetune:
        model, checkpoint = classifier_from_checkpoint(args.finetune)
        run = argparse.Namespace(**{**vars(checkpoint["args"]), "head_refit": args.data})
    else:
        model = create_model(args.model, num_classes=spec.num_classes)
        run = argparse.Namespace(model=args.model, data_set=spec.name, sampling_rate=spec.sampling_rate, head_only=True)
    model.eval()
    _, num_frames, size, _ = model.patch_embed.input_shape
    train = FinetuneDataset(
        f"{args.data}/train.csv", "val", spec.num_classes, num_frames=num_frames,
        sampling_rate=run.sampling_rate or spec.sampling_rate, input_size=size, short_side_size=size,
    )  # fmt: skip
    if args.max_clips:
        train = torch.utils.data.Subset(train, range(min(args.max_clips, len(train))))
    features, labels = head_inputs(model, train, args.batch_size)
    weight, bias = fit_linear(features, labels, spec.num_classes, args.weight_decay)
    model.head.weight.data.copy_(weight)
    model.head.bias.data.copy_(bias)
    accuracy = ((features @ weight.T + bias).argmax(1) == labels).float().mean().item()
    run.input_size = size
    save_checkpoint(args.out, model, 0, args=run)
    print(f"fitted the head on {len(labels)} clips (train accuracy {100 * accuracy:.1f}%); wrote {args.out}")


if __name__ == "__main__":
    main()
