"""Does each inference precision keep a fine-tuned model's decisions, and how fast is it? Every path the recognizer
offers (inference/backends.py, exactly as `--precision` loads it) against PyTorch float32 on the same clips.

    bash bench/make_base_model.sh   # the fine-tuned base LGI-Former on the generated set (about an hour)
    python -m bench.bench_precision --checkpoint saved/model/base_synthetic/base_fitted.pth \
        --data saved/data/synthetic160/split01 --clips 280 --out saved/bench/precision
    # an AVX2-only CPU's int8, emulated (minutes per clip): the same probabilities as int8-u8u8 above?
    qemu-x86_64 -cpu Haswell-noTSX .venv/bin/python -m bench.bench_precision ... --precisions int8-u8u8 \
        --clips 2 --batch_size 1 --compare saved/bench/precision/probs.npz --out saved/bench/precision_avx2

Loads the test split's clips (the centre clip of each video, as validation reads it), runs every batch through
every path in rotating order (a busy spell on shared cores slows all alike) and reports, against float32: clips/s
and the speed-up, top-1 agreement and the largest difference of any class probability, with the accuracy, the
mean top probability and the number of classes predicted (is the model confident, are its classes varied). The
goal a path must hold for `auto` to take it (inference/precision.py): top-1 agreement >= 99% and probabilities
within 0.02. Writes results.json and
probs.npz (every path's probabilities); `--compare` also reports each path against the same path of an earlier
run's probs.npz (e.g. int8 under an emulated AVX2 CPU against int8 here: are the logits the same?). fp16 on a CPU
runs PyTorch's CPU autocast, standing in for the numerics of a GPU's fp16. int8-u8u8 runs int8 with its weights
left as uint8, the kernels a CPU without VNNI (AVX2, AVX-512 before Cascade Lake) runs: its integer products are
exact on every CPU, so it measures those CPUs' int8 here, at native speed (qemu needs minutes per clip); a few
clips under `qemu-x86_64 -cpu Haswell-noTSX` with `--precisions int8-u8u8 --compare` check that claim. The bf16
kernels of a CPU with AVX512_BF16 but no AMX (AMD Zen 4, Intel Cooper Lake) run on an AMX CPU with
ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16.
"""

import argparse
import json
import os
from contextlib import nullcontext
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from bench.bench_runtime import load_clips, machine, run_interleaved, summarize
from inference.backends import load_classifier
from inference.precision import PRECISIONS, PrecisionChoice
from models import onnx_export
from system.cpu import cpu_features, onednn_cap
from system.memory import keep_freed_memory

GOAL_TOP1, GOAL_PROB = 0.99, 0.02
U8U8 = "int8-u8u8"  # int8 as a CPU without VNNI runs it: the weights stay uint8


def load_paths(checkpoint, precisions, cache_dir):
    """{precision: classify} as the recognizer loads them; fp16 through CPU autocast, int8-u8u8 as int8 with
    the uint8 weights CPUs without VNNI keep (see the docstring)."""
    paths = {}
    fp16 = PrecisionChoice("fp16", "CPU autocast, for a GPU's numerics")
    for name in precisions:
        precision = {"fp16": fp16, U8U8: "int8"}.get(name, name)
        with mock.patch.object(onnx_export, "u8s8_saturates", lambda: True) if name == U8U8 else nullcontext():
            paths[name], facts, _ = load_classifier(checkpoint, "cpu", precision, cache_dir)
    return paths, facts


def largest_margin_changed(reference, probs):
    """The widest gap between the reference's two top probabilities on a clip whose top class `probs` changed
    (None when none changed): do the changes touch only near-ties?"""
    top2 = np.sort(reference, -1)[:, -2:]
    changed = reference.argmax(-1) != probs.argmax(-1)
    return float((top2[:, 1] - top2[:, 0])[changed].max()) if changed.any() else None


def compare(probs, other_file):
    """Each path's probabilities against the same path's in an earlier run (the first clips both have)."""
    other = np.load(other_file)
    rows = {}
    for name, p in probs.items():
        if name in other.files:
            q = other[name][: len(p)]
            rows[name] = dict(
                clips=len(p), top1_agreement=float((p.argmax(-1) == q.argmax(-1)).mean()),
                max_prob_diff=float(np.abs(p - q).max()),
            )  # fmt: skip
            if "fp32" in other.files:
                ref = other["fp32"][: len(p)]
                rows[name]["vs_other_fp32_top1"] = float((p.argmax(-1) == ref.argmax(-1)).mean())
                rows[name]["vs_other_fp32_max_prob_diff"] = float(np.abs(p - ref).max())
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="a fine-tuned checkpoint (.pth or .safetensors)")
    p.add_argument("--data", default="saved/data/synthetic160/split01", help="folder of train/val/test.csv")
    p.add_argument("--clips", type=int, default=280)
    p.add_argument("--batch_size", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--precisions", nargs="+", default=["fp32", "bf16", "fp16", "int8", U8U8], choices=[*PRECISIONS[1:], U8U8]
    )
    p.add_argument("--cache_dir", default="saved/bench/precision_cache", help="where the int8 ONNX model is built")
    p.add_argument("--compare", default=None, help="probs.npz of an earlier run, compared path by path (its fp32 "
                   "the reference when --precisions leaves fp32 out)")  # fmt: skip
    p.add_argument("--out", default="saved/bench/precision")
    args = p.parse_args(argv)

    keep_freed_memory()  # as demo.py does on CPU
    torch.set_num_threads(args.threads)
    # float32 leads (the reference), unless --compare brings the reference of an earlier run on the same clips
    precisions = [name for name in args.precisions if name != "fp32"]
    precisions = precisions if args.compare and "fp32" not in args.precisions else ["fp32", *precisions]
    paths, facts = load_paths(args.checkpoint, precisions, args.cache_dir)
    clips, labels = load_clips(
        args.data, args.clips, facts["num_classes"], facts["clip_len"], facts["sampling_rate"] or 4, facts["input_size"]
    )
    load_before = [round(v, 2) for v in os.getloadavg()]
    times, cpu, logits = run_interleaved(paths, clips, args.batch_size)
    load_after = [round(v, 2) for v in os.getloadavg()]
    results, table = summarize(times, cpu, logits, labels, precisions[0])
    for result in results.values():
        result["holds_goal"] = result["top1_agreement"] >= GOAL_TOP1 and result["max_prob_diff"] <= GOAL_PROB
    features = sorted(f for f in cpu_features() if f.startswith(("avx", "amx")))
    setup = dict(
        checkpoint=str(args.checkpoint), clips=len(labels), batch_size=args.batch_size, threads=args.threads,
        cpu_features=features, onednn_max_cpu_isa=onednn_cap(), load_before=load_before,
        load_after=load_after, **machine(),
    )  # fmt: skip
    cap = setup["onednn_max_cpu_isa"]
    print(f"{len(labels)} clips, batch {args.batch_size}, {args.threads} threads; {setup['cpu']}: {' '.join(features)}")
    print(f"oneDNN capped: {cap[0]}={cap[1]}" if cap else "oneDNN: every instruction set of this CPU")
    print(f"load average (1, 5, 15 min) before {load_before}, after {load_after}")
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    probs = {name: v.softmax(-1).numpy() for name, v in logits.items()}
    for name in precisions[1:]:
        margin = results[name]["largest_margin_changed"] = largest_margin_changed(probs[precisions[0]], probs[name])
        changed = "on no clip" if margin is None else f"on clips whose top two were at most {margin:.3f} apart"
        print(f"{name}: the top class changed {changed}")
    report = dict(setup=setup, results=results)
    if args.compare:
        report["compared_with"] = {"file": args.compare, **compare(probs, args.compare)}
        print(json.dumps(report["compared_with"], indent=1))
    np.savez(out / "probs.npz", labels=labels.numpy(), **probs)
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}/results.json and probs.npz")
    return results


if __name__ == "__main__":
    main()
