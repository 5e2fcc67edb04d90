"""CPU runtimes of a fine-tuned classifier: PyTorch float32 vs ONNX Runtime float32 vs ONNX Runtime int8.

    python -m datasets.synthetic --out saved/data/synthetic160 --num_clips 350 --num_pretrain 0 --size 160
    python -m datasets.synthetic --out saved/data/synthetic160_test --num_clips 210 --num_pretrain 0 --seed 1
    python -m bench.fit_head --data saved/data/synthetic160/split01 --out saved/model/runtime_bench/head_fit.pth
    python -m bench.bench_runtime --checkpoint saved/model/runtime_bench/head_fit.pth \
        --data saved/data/synthetic160_test/split01 --clips 200 [--batch_size 4] [--threads 2]

(or any fine-tuned checkpoint: run_finetuning.py's output, an upstream release, a .safetensors file).

Exports the checkpoint to ONNX (float32, then int8 by dynamic quantisation of the linear layers) under --out,
loads --clips clips from the annotation files in --data (the centre clip of each video, as validation reads
it), then runs every batch through the three runtimes in rotating order: a busy spell on shared cores slows
all three alike (paired, interleaved repetitions). Reports clips/s, the speed-up over PyTorch (ratio of
total wall times, the median of the per-batch ratios, and the ratio of process CPU times, which time spent
waiting for a busy core does not inflate: with --threads 1 it is the cleanest figure on shared cores) and the
agreement with PyTorch float32 over all clips: top-1 agreement and the largest difference of any class
probability. Prints Markdown; writes results.json.
"""

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import onnxruntime
import torch

from bench.common import markdown_table
from datasets.transforms import normalize
from datasets.video_dataset import FinetuneDataset
from engine.export import export_config
from models.checkpoint import classifier_from_checkpoint
from models.export_config import write_config
from models.onnx_export import OnnxClassifier, export_onnx, quantize_int8
from system.memory import keep_freed_memory


def load_clips(data, count, num_classes, num_frames, sampling_rate, input_size):
    """(count, T, S, S, 3) uint8 clips and their labels from train/val/test.csv under `data`."""
    clips, labels = [], []
    for name in ("test.csv", "val.csv", "train.csv"):
        dataset = FinetuneDataset(
            Path(data) / name, "val", num_classes, num_frames=num_frames, sampling_rate=sampling_rate,
            input_size=input_size, short_side_size=input_size,
        )  # fmt: skip
        for i in range(min(len(dataset), count - len(clips))):
            video, label = dataset[i]
            clips.append(video)
            labels.append(label)
    if len(clips) < count:
        raise ValueError(f"{data}: only {len(clips)} clips, --clips {count} asked")
    return torch.stack(clips), torch.tensor(labels)


def export_both(model, checkpoint, out):
    """model.onnx (float32) and model_int8.onnx, quantised from the float32 graph."""
    config = export_config(checkpoint, model)
    fp32 = export_onnx(model, Path(out) / "model.onnx", config)
    int8 = Path(out) / "model_int8.onnx"
    quantize_int8(fp32, int8)
    write_config(int8, {**config, "precision": "int8"})
    return fp32, int8


def progress(times, logits):
    """Running figures of each runtime against the first: total seconds, speed-up, agreement."""
    names = list(times)
    base = torch.cat(logits[names[0]]).softmax(-1)
    parts = [f"{names[0]} {sum(times[names[0]]):.0f} s"]
    for name in names[1:]:
        probs = torch.cat(logits[name]).softmax(-1)
        agree = (probs.argmax(-1) == base.argmax(-1)).float().mean().item()
        speedup = sum(times[names[0]]) / sum(times[name])
        diff = (probs - base).abs().max().item()
        parts.append(f"{name} {speedup:.2f}x, top-1 {100 * agree:.1f}%, prob diff {diff:.4f}")
    return "; ".join(parts)


def run_interleaved(runtimes, clips, batch_size):
    """Wall and CPU seconds per batch and the logits of every runtime; batch i starts with runtime i mod R."""
    names = list(runtimes)
    times = {name: [] for name in names}
    cpu = {name: [] for name in names}
    logits = {name: [] for name in names}
    with torch.inference_mode():
        warm = normalize(clips[:batch_size])
        for name in names:
            runtimes[name](warm)
        for i, start in enumerate(range(0, len(clips), batch_size)):
            x = normalize(clips[start : start + batch_size])
            for k in range(len(names)):
                name = names[(i + k) % len(names)]
                begin, begin_cpu = time.perf_counter(), time.process_time()
                out = runtimes[name](x)
                times[name].append(time.perf_counter() - begin)
                cpu[name].append(time.process_time() - begin_cpu)
                logits[name].append(out.float())
            print(f"{min(start + batch_size, len(clips))}/{len(clips)} clips: {progress(times, logits)}", flush=True)
    return times, cpu, {name: torch.cat(v) for name, v in logits.items()}


def summarize(times, cpu, logits, labels, reference):
    rows, results = [], {}
    base_probs = logits[reference].softmax(-1)
    for name in times:
        probs = logits[name].softmax(-1)
        total = sum(times[name])
        result = dict(
            clips_per_s=len(labels) / total,
            speedup_total=sum(times[reference]) / total,
            speedup_median=statistics.median(r / t for r, t in zip(times[reference], times[name], strict=True)),
            speedup_cpu=sum(cpu[reference]) / sum(cpu[name]),
            top1_agreement=(probs.argmax(-1) == base_probs.argmax(-1)).float().mean().item(),
            max_prob_diff=(probs - base_probs).abs().max().item(),
            max_logit_diff=(logits[name] - logits[reference]).abs().max().item(),
            accuracy=(probs.argmax(-1) == labels).float().mean().item(),
            mean_top_prob=probs.max(-1).values.mean().item(),
            classes_predicted=len(probs.argmax(-1).unique()),
        )
        results[name] = result
        rows.append(
            [
                name,
                f"{result['clips_per_s']:.2f}",
                f"{result['speedup_total']:.2f}x",
                f"{result['speedup_median']:.2f}x",
                f"{result['speedup_cpu']:.2f}x",
                f"{100 * result['top1_agreement']:.1f}%",
                f"{result['max_prob_diff']:.4f}",
                f"{100 * result['accuracy']:.1f}%",
                f"{result['mean_top_prob']:.2f}",
                str(result["classes_predicted"]),
            ]
        )
    header = ["runtime", "clips/s", "speed-up (total)", "speed-up (median batch)", "speed-up (CPU time)",
              "top-1 agreement", "max prob diff", "accuracy", "mean top prob", "classes predicted"]  # fmt: skip
    return results, markdown_table(header, rows)


def machine():
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())  # fmt: skip
    return dict(cpu=model, cores=os.cpu_count(), torch=torch.__version__, onnxruntime=onnxruntime.__version__)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="a fine-tuned checkpoint (.pth or .safetensors)")
    p.add_argument("--data", default="saved/data/synthetic160_test/split01", help="folder of train/val/test.csv")
    p.add_argument("--clips", type=int, default=200)
    p.add_argument("--batch_size", type=int, default=4)
    p.add_argument("--threads", type=int, default=2, help="intra-op threads of every runtime")
    p.add_argument("--out", default="saved/bench/runtime", help="ONNX files and results.json")
    args = p.parse_args(argv)

    keep_freed_memory()  # as demo.py does on CPU
    torch.set_num_threads(args.threads)
    model, checkpoint = classifier_from_checkpoint(args.checkpoint)
    started = time.perf_counter()
    fp32, int8 = export_both(model, checkpoint, args.out)
    print(f"exported {fp32} and {int8} in {time.perf_counter() - started:.0f} s")
    sampling_rate = getattr(checkpoint.get("args"), "sampling_rate", None) or 4
    _, num_frames, input_size, _ = model.patch_embed.input_shape
    clips, labels = load_clips(args.data, args.clips, model.num_classes, num_frames, sampling_rate, input_size)
    runtimes = {
        "PyTorch float32": model,
        "ONNX Runtime float32": OnnxClassifier(fp32, threads=args.threads),
        "ONNX Runtime int8": OnnxClassifier(int8, threads=args.threads),
    }
    load_before = [round(v, 2) for v in os.getloadavg()]
    times, cpu, logits = run_interleaved(runtimes, clips, args.batch_size)
    load_after = [round(v, 2) for v in os.getloadavg()]
    results, table = summarize(times, cpu, logits, labels, "PyTorch float32")
    name = model.model_config.get("name", "upstream")
    setup = dict(
        checkpoint=str(args.checkpoint), model=name, clips=len(labels), batch_size=args.batch_size,
        threads=args.threads, clip=f"{num_frames}x{input_size}x{input_size}", load_before=load_before,
        load_after=load_after, **machine(),
    )  # fmt: skip
    print(f"{name}, {len(labels)} clips of {setup['clip']}, batch {args.batch_size}, {args.threads} threads")
    print(f"{setup['cpu']} ({setup['cores']} cores), torch {setup['torch']}, onnxruntime {setup['onnxruntime']}")
    print(f"load average (1, 5, 15 min) before {load_before}, after {load_after}")
    print(table)
    out = Path(args.out) / "results.json"
    out.write_text(json.dumps(dict(setup=setup, results=results), indent=2) + "\n")
    print(f"wrote {out}")
    return results


if __name__ == "__main__":
    main()
