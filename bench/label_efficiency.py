"""Label efficiency on the generated set: test UAR against labelled clips per class, fine-tuned from scratch,
from appearance-only pretraining and from appearance + motion pretraining (MAE-DFER), 3 seeds each, plus a
supervised model given plenty of labels (the task's ceiling).

    python -m bench.label_efficiency                       # hours on 2 CPU cores; resumes where it stopped
    python -m bench.label_efficiency --per_class 5 30 --seeds 0 --epochs 10     # a shorter look

Every run goes through the real entry points with the quick start's recipe (scripts/quickstart.sh):
1. `datasets.synthetic` writes the set at 64 px: `--num_clips` labelled clips (fold 1: 3/5 train, 1/5 val,
   1/5 test) and the unlabelled pool; a second, larger labelled set for the ceiling.
2. `run_pretraining.py` pretrains twice on the pool with the same budget, once with the motion target
   (`--use_frame_diff_as_target true`, MAE-DFER) and once without (appearance only, as VideoMAE).
3. For each seed and labelled-set size k, train.csv holds k clips per class of fold 1's train split (the seed
   picks them), repeated so that every run makes the same number of steps per epoch; val and test are fold
   1's. `run_finetuning.py` fine-tunes from each initialisation with the same recipe and budget, each
   initialisation at its own learning rate (`--lr_scratch`, `--lr_pretrained`: chosen on the validation
   split, see docs). Reported: the last checkpoint's test UAR / WAR on the whole test split.
4. Tables (mean +- std over seeds) and the plot go to <out>/label_efficiency.{md,png}.
Finished runs (test_last/metrics.json present) are not run again.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from datasets.annotations import read_annotations, write_annotations

ROOT = Path(__file__).resolve().parents[1]
INITS = ("scratch", "appearance", "appearance_motion")
LABELS = {
    "scratch": "from scratch",
    "appearance": "appearance pretraining",
    "appearance_motion": "MAE-DFER pretraining",
}


def run(command, log):
    """Run an entry point with its output in `log`; stop the benchmark with the log's tail on failure."""
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with open(log, "w") as f:
        done = subprocess.run([sys.executable, *command], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode:
        tail = log.read_text().splitlines()[-5:]
        raise SystemExit(f"error: {' '.join(command[:1])} failed ({log}):\n" + "\n".join(tail))
    return time.time() - start


def generate(out, num_clips, num_pretrain, seed):
    if not (out / "split01" / "test.csv").exists():
        run(
            [
                "-m",
                "datasets.synthetic",
                "--out",
                str(out),
                "--size",
                "64",
                "--num_clips",
                str(num_clips),
                "--num_pretrain",
                str(num_pretrain),
                "--seed",
                str(seed),
            ],
            out.parent / f"{out.name}_generate.log",
        )


def pretrain(data, out, motion, args):
    checkpoint = out / f"checkpoint-{args.pretrain_epochs - 1}.pth"
    if not checkpoint.exists():
        seconds = run(
            [
                "run_pretraining.py",
                "--model",
                "pretrain_lgi_former_tiny_patch16_64",
                "--input_size",
                "64",
                "--data_path",
                str(data / "pretrain.csv"),
                "--epochs",
                str(args.pretrain_epochs),
                "--use_frame_diff_as_target",
                str(motion).lower(),
                "--output_dir",
                str(out),
                *QUICKSTART_PRETRAIN,
                *common_flags(args),
            ],
            out / "run.log",
        )
        print(f"pretrained {out.name} in {seconds / 60:.1f} min", flush=True)
    return checkpoint


def subset(split, out, per_class, seed, repeat_to):
    """train.csv with `per_class` clips of each class drawn by `seed`, repeated to about `repeat_to` rows."""
    samples = read_annotations(split / "train.csv")
    rng = np.random.default_rng(seed)
    chosen = []
    for label in sorted({s.label for s in samples}):
        pool = [s for s in samples if s.label == label]
        if per_class > len(pool):
            raise SystemExit(f"error: {split}/train.csv has {len(pool)} clips of class {label}, asked {per_class}")
        chosen += [pool[i] for i in rng.choice(len(pool), per_class, replace=False)]
    rows = [(s.path, s.label) for s in chosen] * max(1, round(repeat_to / len(chosen)))
    out.mkdir(parents=True, exist_ok=True)
    write_annotations(out / "train.csv", rows)
    for name in ("val", "test"):
        write_annotations(out / f"{name}.csv", [(s.path, s.label) for s in read_annotations(split / f"{name}.csv")])
    return out


def finetune(split, out, init, lr, args):
    metrics = out / "test_last" / "metrics.json"
    if not metrics.exists():
        command = [
            "run_finetuning.py",
            "--model",
            "lgi_former_tiny_patch16_64",
            "--input_size",
            "64",
            "--short_side_size",
            "64",
            "--data_set",
            "synthetic",
            "--data_path",
            str(split),
            "--epochs",
            str(args.epochs),
            "--lr",
            str(lr),
            "--output_dir",
            str(out),
            *QUICKSTART_FINETUNE,
            *common_flags(args),
        ]
        if init is not None:
            command += ["--finetune", str(init)]
        run(command, out / "run.log")
    return json.loads(metrics.read_text())


def common_flags(args):
    return [
        "--device",
        "cpu",
        "--num_workers",
        "1",
        "--pin_mem",
        "false",
        "--sampling_rate",
        "2",
        "--batch_size",
        str(args.batch_size),
        "--seed",
        "0",
    ]


# The quick start's recipes (scripts/quickstart.sh): keep the two in step.
QUICKSTART_PRETRAIN = [
    "--warmup_epochs",
    "3",
    "--lr",
    "1.2e-2",
    "--min_lr",
    "1e-4",
    "--opt_betas",
    "0.9",
    "0.95",
    "--mask_type",
    "part_window",
    "--mask_ratio",
    "0.9",
    "--part_win_size",
    "2",
    "2",
    "4",
]
QUICKSTART_FINETUNE = [
    "--warmup_epochs",
    "2",
    "--min_lr",
    "1e-5",
    "--layer_decay",
    "0.75",
    "--drop_path",
    "0.1",
    "--mixup",
    "0",
    "--cutmix",
    "0",
    "--aa",
    "none",
    "--crop_scale",
    "0.8",
    "1.0",
    "--test_num_segment",
    "2",
    "--test_num_crop",
    "1",
    "--save_ckpt_freq",
    "1000",
]


def table(results, sizes, ceiling):
    lines = ["| labelled clips per class | " + " | ".join(LABELS[i] for i in INITS) + " |", "|---|---|---|---|"]
    for k in sizes:
        cells = []
        for init in INITS:
            uars = [r["uar"] for r in results[init][k]]
            cells.append(f"{np.mean(uars):.1f} +- {np.std(uars):.1f} (n={len(uars)})")
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    if ceiling is not None:
        lines.append(
            f"\nSupervised ceiling ({ceiling['per_class']} labelled clips per class, from scratch): "
            f"UAR {ceiling['uar']:.1f}, WAR {ceiling['war']:.1f} on {ceiling['num_samples']} test videos"
        )
    return "\n".join(lines)


def plot(path, results, sizes):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for init in INITS:
        uars = np.array([[r["uar"] for r in results[init][k]] for k in sizes])
        ax.errorbar(sizes, uars.mean(1), yerr=uars.std(1), marker="o", capsize=3, label=LABELS[init])
    ax.axhline(100 / 7, color="grey", linestyle=":", label="chance")
    ax.set_xscale("log")
    ax.set_xticks(sizes, [str(k) for k in sizes])
    ax.set_xlabel("labelled training clips per class")
    ax.set_ylabel("test UAR (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("saved/bench/label_efficiency"))
    p.add_argument("--per_class", type=int, nargs="+", default=[2, 5, 10, 30, 60])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--num_clips", type=int, default=700, help="labelled clips (fold 1 trains on 3/5)")
    p.add_argument("--num_pretrain", type=int, default=3000)
    p.add_argument("--pretrain_epochs", type=int, default=40)
    p.add_argument("--epochs", type=int, default=30, help="fine-tuning epochs of every run")
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--lr_scratch", type=float, default=1e-2, help="base lr from scratch (chosen on val)")
    p.add_argument("--lr_pretrained", type=float, default=1e-2, help="base lr from pretraining (chosen on val)")
    p.add_argument("--ceiling_clips", type=int, default=3500, help="labelled clips of the ceiling's set (0: skip)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    start = time.time()
    data = args.out / "data"
    generate(data, args.num_clips, args.num_pretrain, seed=0)
    inits = {
        "scratch": None,
        "appearance": pretrain(data, args.out / "pretrain_appearance", False, args),
        "appearance_motion": pretrain(data, args.out / "pretrain_appearance_motion", True, args),
    }
    fold = data / "split01"
    repeat_to = len(read_annotations(fold / "train.csv"))
    results = {init: {k: [] for k in args.per_class} for init in INITS}
    for seed in args.seeds:
        for k in args.per_class:
            split = subset(fold, args.out / "splits" / f"seed{seed}_k{k}", k, seed, repeat_to)
            for init in INITS:
                lr = args.lr_scratch if init == "scratch" else args.lr_pretrained
                metrics = finetune(split, args.out / "runs" / f"seed{seed}_k{k}_{init}", inits[init], lr, args)
                results[init][k].append(metrics)
                print(f"seed {seed}, {k} per class, {init}: UAR {metrics['uar']:.1f}", flush=True)
    ceiling = None
    if args.ceiling_clips:
        big = args.out / "data_ceiling"
        generate(big, args.ceiling_clips, 0, seed=1)
        ceiling = finetune(big / "split01", args.out / "runs" / "ceiling", None, args.lr_scratch, args)
        ceiling["per_class"] = len(read_annotations(big / "split01" / "train.csv")) // 7
    report = table(results, args.per_class, ceiling)
    report += f"\n\n{len(args.seeds)} seeds; wall time {(time.time() - start) / 3600:.1f} h on {os.cpu_count()} cores."
    (args.out / "label_efficiency.md").write_text(report + "\n")
    plot(args.out / "label_efficiency.png", results, args.per_class)
    print(report)


if __name__ == "__main__":
    main()
