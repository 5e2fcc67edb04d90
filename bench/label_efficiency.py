"""Label efficiency on the generated set: test UAR against labelled clips per class, fine-tuned from scratch,
from appearance-only pretraining and from appearance + motion pretraining (MAE-DFER), over seeds, plus a
supervised model given plenty of labels (the task's ceiling).

    python -m bench.label_efficiency --jobs 2                          # hours on 2 CPU cores; resumable
    python -m bench.label_efficiency --lr_sweep 4e-3 1.6e-2 6.4e-2     # choose each start's lr on val first

Every run goes through the real entry points with the quick start's recipe (scripts/quickstart.sh), for
`--epochs` epochs as long as fold 1's train split (26 steps with the default 700 clips):
1. `datasets.synthetic` writes the set at 64 px: `--num_clips` labelled clips (fold 1: 3/5 train, 1/5 val,
   1/5 test) and the unlabelled pool (the same pool as the quick start's: same seed).
2. For every seed, `run_pretraining.py` pretrains twice on the pool with the same command, budget and seed,
   once with the motion target (`--use_frame_diff_as_target true`, MAE-DFER) and once without (appearance
   only, as VideoMAE).
3. For each seed and labelled-set size k, train.csv holds k clips per class of fold 1's train split (the seed
   picks them; `--draws` D picks D sets per seed), repeated (as links) so that every run makes the same number
   of steps per epoch; val and test are fold 1's. `run_finetuning.py` fine-tunes from that seed's pretrainings
   and from scratch with the same recipe, budget and seed, each start at its own learning rate (`--lr_scratch`,
   `--lr_pretrained`).
   Reported: the last checkpoint's UAR on a test set of its own (`--test_clips` clips of new faces, generated
   with another seed; `run_finetuning.py --eval`), and its UAR on fold 1's test split. Fold 1's 140 test clips
   alone move a run's UAR by about 3 points with which clips they are (fold 1's UAR minus the 1,400-clip set's:
   standard deviation 3.1 over 81 runs, docs/quickstart.md), as much as some of the differences measured.
4. The ceiling: the same recipe on a separate set with `--ceiling_per_class` labelled clips per class, for
   `--ceiling_epochs`, from scratch and from the first seed's MAE-DFER pretraining (each at its learning rate).
Tables (mean +- std over seeds and labelled sets; the paired differences, each start minus another fine-tuned on
the same labelled set and seed) and the plot go to <out>/label_efficiency.{md,png}, the pretraining losses of
every seed against the loss of predicting no motion to <out>/pretraining_losses.png. Finished runs and tests
(test_last/ or test_set/test_eval/metrics.json, the last pretraining checkpoint present) are not run again; `--jobs`
runs that many at once, the cores shared between them.

`--lr_sweep LR ...` instead fine-tunes every start on fold 1 with k = 60 at each base lr and prints the
validation UAR (mean of the last 5 epochs) per start and lr: the lr of each start is the best of its row.
"""

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bench.motion_energy import motion_target, pretraining_view
from datasets.annotations import read_annotations, write_annotations
from datasets.video_io import open_video

ROOT = Path(__file__).resolve().parents[1]
STARTS = ("scratch", "appearance", "appearance_motion")
NAMES = {"scratch": "from scratch", "appearance": "appearance pretraining", "appearance_motion": "MAE-DFER pretraining"}

# The quick start's recipe (scripts/quickstart.sh); keep the two in step.
COMMON = (
    "--num_frames 8 --sampling_rate 4 --lg_region_size 4 2 4 --device cpu --num_workers 1 --pin_mem false --seed 0"
).split()
PRETRAIN = (
    "--model pretrain_lgi_former_tiny_patch16_64 --input_size 64 --batch_size 32 --lr 1.2e-2 --min_lr 1e-4 "
    "--opt_betas 0.9 0.95 --mask_type part_window --mask_ratio 0.5 --part_win_size 2 2 4 --no_augmentation "
    "--decoder_pos_order raster --warmup_epochs 2 --save_ckpt_freq 10"
).split()
FINETUNE = (
    "--model lgi_former_tiny_patch16_64 --input_size 64 --short_side_size 64 --data_set synthetic --batch_size 16 "
    "--warmup_epochs 2 --min_lr 1e-5 --lg_classify_token_type org --layer_decay 1.0 --drop_path 0 --reprob 0 "
    "--smoothing 0 --mixup 0 --cutmix 0 --aa none --crop_scale 0.8 1.0 --test_num_segment 2 --test_num_crop 1 "
    "--save_ckpt_freq 1000"
).split()


def run(command, log, threads=None):
    """Run an entry point with its output in `log`; stop the benchmark with the log's tail on failure."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)} if threads else None
    start = time.time()
    with open(log, "w") as f:
        done = subprocess.run([sys.executable, *command], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, env=env)
    if done.returncode:
        tail = "\n".join(log.read_text().splitlines()[-5:])
        raise SystemExit(f"error: {command[0]} failed, see {log}:\n{tail}")
    return time.time() - start


def run_all(runs, jobs):
    """Run the (command, output folder) pairs, `jobs` at a time, the cores shared between them."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with ThreadPoolExecutor(jobs) as pool:
        waiting = [pool.submit(run, command, out / "run.log", threads) for command, out in runs]
        for (command, out), job in zip(runs, waiting, strict=True):
            print(f"{command[0]} {out.parent.name}/{out.name}: {job.result() / 60:.1f} min", flush=True)


def generate(out, num_clips, num_pretrain, seed):
    command = ["-m", "datasets.synthetic", "--out", str(out), "--size", "64", "--seed", str(seed), "--reuse"]
    run(command + ["--num_clips", str(num_clips), "--num_pretrain", str(num_pretrain)], out / "generate.log")


def pretrain_command(data, out, motion, epochs, seed):
    command = ["run_pretraining.py", *PRETRAIN, *COMMON, "--data_path", str(data / "pretrain.csv")]
    command += ["--epochs", str(epochs), "--use_frame_diff_as_target", str(motion).lower(), "--seed", str(seed)]
    return command + ["--output_dir", str(out)]


def zero_motion_loss(data, clips=200):
    """The motion loss of predicting no motion: the motion target's mean square on the pool's first `clips`
    clips, taken as the pretraining takes them (bench/motion_energy.py)."""
    losses = []
    for i, sample in enumerate(read_annotations(data / "pretrain.csv")[:clips]):
        video = open_video(sample.path)
        clip = pretraining_view(video.read(list(range(len(video)))), i, augment=False)
        losses.append(float(motion_target(clip).pow(2).mean()))
    return float(np.mean(losses))


def subset(split, out, per_class, seed, repeat_to):
    """train.csv with `per_class` clips of each class drawn by `seed` (an int or a sequence of ints), repeated to
    about `repeat_to` rows (the repeats as symbolic links under `out/repeats/`: an annotation file may not list a
    clip twice)."""
    samples = read_annotations(split / "train.csv")
    rng = np.random.default_rng(seed)
    chosen = []
    for label in sorted({s.label for s in samples}):
        pool = [s for s in samples if s.label == label]
        if per_class > len(pool):
            raise SystemExit(f"error: {split}/train.csv has {len(pool)} clips of class {label}, asked {per_class}")
        chosen += [pool[i] for i in rng.choice(len(pool), per_class, replace=False)]
    rows = [(s.path, s.label) for s in chosen]
    (out / "repeats").mkdir(parents=True, exist_ok=True)
    for r in range(1, max(1, round(repeat_to / len(chosen)))):
        for s in chosen:
            link = out / "repeats" / f"{r}_{Path(s.path).name}"
            if not link.is_symlink():
                link.symlink_to(s.path)
            rows.append((str(link), s.label))
    out.mkdir(parents=True, exist_ok=True)
    write_annotations(out / "train.csv", rows)
    for name in ("val", "test"):
        write_annotations(out / f"{name}.csv", [(s.path, s.label) for s in read_annotations(split / f"{name}.csv")])
    return out


def labelled_set(seed, draw, k):
    """A labelled set's name and the seed that draws its clips: a seed's first draw keeps the name and clips it had
    before `--draws` (its runs are reused)."""
    return (f"seed{seed}_k{k}", seed) if draw == 0 else (f"seed{seed}_draw{draw}_k{k}", (seed, draw))


def finetune_command(split, out, init, lr, epochs, seed):
    command = ["run_finetuning.py", *FINETUNE, *COMMON, "--data_path", str(split), "--output_dir", str(out)]
    command += ["--epochs", str(epochs), "--lr", str(lr), "--seed", str(seed)]
    return command + (["--finetune", str(init)] if init else [])


def test_command(test_set, out, epochs):
    """Test run `out`'s last checkpoint on `test_set`/test.csv; the metrics go to out/test_set/test_eval/."""
    command = ["run_finetuning.py", *FINETUNE, *COMMON, "--data_path", str(test_set), "--eval"]
    return command + ["--resume", str(out / f"checkpoint-{epochs - 1}.pth"), "--output_dir", str(out / "test_set")]


def read_log(out):
    """The per-epoch records of a run's log.txt."""
    return [json.loads(line) for line in (out / "log.txt").read_text().splitlines()]


def finetune_result(out):
    """The last checkpoint's metrics on the test set (when tested there) and its UAR on fold 1's test split
    (fold_uar), plus the validation UAR of every epoch."""
    log = read_log(out)
    seconds = sum(r["train_epoch_time_s"] for r in log)
    fold = json.loads((out / "test_last" / "metrics.json").read_text())
    result = {"fold_uar": fold["uar"], "val_uar": [r["val_uar"] for r in log], "train_seconds": seconds}
    tested = out / "test_set" / "test_eval" / "metrics.json"
    return {**json.loads(tested.read_text()), **result} if tested.exists() else result


def table(results, sizes, key):
    """Markdown: mean +- std of `key` per labelled-set size and start."""
    lines = ["| labelled clips per class | " + " | ".join(NAMES[s] for s in STARTS) + " |", "|---|---|---|---|"]
    for k in sizes:
        cells = [f"{np.mean(u):.1f} +- {np.std(u):.1f}" for u in ([r[key] for r in results[s][k]] for s in STARTS)]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired(results, sizes):
    """Markdown: each pretrained start minus each other start on the same labelled set and seed (test set UAR)."""
    lines = []
    for ahead, behind in (
        ("appearance_motion", "appearance"),
        ("appearance_motion", "scratch"),
        ("appearance", "scratch"),
    ):
        cells = []
        for k in sizes:
            gaps = np.array([a["uar"] - b["uar"] for a, b in zip(results[ahead][k], results[behind][k], strict=True)])
            cells.append(
                f"{k} per class {gaps.mean():+.1f} ({gaps.min():+.1f} to {gaps.max():+.1f}, ahead in "
                f"{(gaps > 0).sum()} of {len(gaps)})"
            )
        lines.append(f"- {NAMES[ahead]} minus {NAMES[behind]}: " + "; ".join(cells))
    return "\n".join(lines)


def plot(path, results, sizes):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for start in STARTS:
        uars = np.array([[r["uar"] for r in results[start][k]] for k in sizes])
        ax.errorbar(sizes, uars.mean(1), yerr=uars.std(1), marker="o", capsize=3, label=NAMES[start])
    ax.axhline(100 / 7, color="grey", linestyle=":", label="chance")
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(sizes, [str(k) for k in sizes])
    ax.set_xlabel("labelled training clips per class")
    ax.set_ylabel("test UAR (%) on new faces, mean +- std")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def plot_pretraining(path, folders, zero_motion):
    """Appearance and motion loss per epoch of every pretraining, the loss of predicting no motion dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (appearance, motion) = plt.subplots(1, 2, figsize=(9, 3.6))
    for (start, seed), folder in folders.items():
        log = read_log(folder)
        style = {"color": "C2" if start == "appearance_motion" else "C1", "alpha": 0.9, "linewidth": 1.2}
        label = NAMES[start] if seed == min(s for _, s in folders) else None
        epochs = [r["epoch"] + 1 for r in log]
        appearance.plot(epochs, [r["train_appearance"] for r in log], label=label, **style)
        if start == "appearance_motion":
            motion.plot(epochs, [r["train_motion"] for r in log], label=label, **style)
    motion.axhline(zero_motion, color="grey", linestyle=":", label="predicting no motion")
    for ax, name in ((appearance, "appearance loss"), (motion, "motion loss")):
        ax.set_xlabel("pretraining epoch")
        ax.set_ylabel(f"{name} (training, masked tokens)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("saved/bench/label_efficiency"))
    p.add_argument("--per_class", type=int, nargs="+", default=[5, 20, 60])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--draws", type=int, default=1, help="labelled sets drawn per seed and size, each fine-tuned")
    p.add_argument("--num_clips", type=int, default=700, help="labelled clips (fold 1 trains on 3/5)")
    p.add_argument("--num_pretrain", type=int, default=3000)
    p.add_argument("--test_clips", type=int, default=1400, help="the test set's clips (new faces, every run tested)")
    p.add_argument("--pretrain_epochs", type=int, default=50)
    p.add_argument("--epochs", type=int, default=30, help="fine-tuning epochs of every run")
    p.add_argument("--lr_scratch", type=float, default=4e-3, help="base lr from scratch (chosen on val)")
    p.add_argument("--lr_pretrained", type=float, default=1.6e-2, help="base lr from pretraining (chosen on val)")
    p.add_argument("--lr_sweep", type=float, nargs="+", default=None, help="only compare these base lrs on val")
    p.add_argument("--ceiling_per_class", type=int, default=300, help="labelled clips per class (0: skip)")
    p.add_argument("--ceiling_epochs", type=int, default=60, help="from scratch it needs long: docs/quickstart.md")
    p.add_argument("--jobs", type=int, default=1, help="runs at once, the cores shared between them")
    args = p.parse_args(argv)
    start_time = time.time()
    data = args.out / "data"
    generate(data, args.num_clips, args.num_pretrain, seed=0)
    pretrained = {
        (start, seed): args.out / f"pretrain_{start}_seed{seed}" for start in STARTS[1:] for seed in args.seeds
    }
    last = f"checkpoint-{args.pretrain_epochs - 1}.pth"
    run_all(
        [
            (pretrain_command(data, out, start == "appearance_motion", args.pretrain_epochs, seed), out)
            for (start, seed), out in pretrained.items()
            if not (out / last).exists()
        ],
        args.jobs,
    )
    inits = {(start, seed): None for seed in args.seeds for start in STARTS[:1]}
    inits.update({key: out / last for key, out in pretrained.items()})
    lrs = {start: args.lr_scratch if start == "scratch" else args.lr_pretrained for start in STARTS}
    fold = data / "split01"
    repeat_to = len(read_annotations(fold / "train.csv"))
    runs = {}  # output folder: command
    compared = defaultdict(list)  # (start, k): the output folders of its runs, one per seed and labelled set
    if args.lr_sweep:
        name, rng_seed = labelled_set(0, 0, 60)
        split = subset(fold, args.out / "splits" / name, 60, rng_seed, repeat_to)
        for start in STARTS:
            for lr in args.lr_sweep:
                out = args.out / "lr_sweep" / f"{start}_lr{lr:g}"
                runs[out] = finetune_command(split, out, inits[start, args.seeds[0]], lr, args.epochs, 0)
    else:
        for seed in args.seeds:
            for draw, k in itertools.product(range(args.draws), args.per_class):
                name, rng_seed = labelled_set(seed, draw, k)
                split = subset(fold, args.out / "splits" / name, k, rng_seed, repeat_to)
                for start in STARTS:
                    out = args.out / "runs" / f"{name}_{start}"
                    runs[out] = finetune_command(split, out, inits[start, seed], lrs[start], args.epochs, seed)
                    compared[start, k].append(out)
        if args.ceiling_per_class:
            big = args.out / "data_ceiling"
            generate(big, args.ceiling_per_class * 7 * 5 // 3, 0, seed=1)
            for start in ("scratch", "appearance_motion"):
                out = args.out / "runs" / f"ceiling_{start}_e{args.ceiling_epochs}"
                init = inits[start, args.seeds[0]]
                runs[out] = finetune_command(big / "split01", out, init, lrs[start], args.ceiling_epochs, 0)
    run_all(
        [(command, out) for out, command in runs.items() if not (out / "test_last" / "metrics.json").exists()],
        args.jobs,
    )
    if not args.lr_sweep:
        test_set = args.out / "test_set"
        generate(args.out / "data_test", args.test_clips, 0, seed=2)
        clips = [
            s
            for part in ("train", "val", "test")
            for s in read_annotations(args.out / "data_test/split01" / f"{part}.csv")
        ]
        write_annotations(test_set / "test.csv", [(s.path, s.label) for s in clips])
        run_all(
            [
                (test_command(test_set, out, int(command[command.index("--epochs") + 1])), out / "test_set")
                for out, command in runs.items()
                if not (out / "test_set/test_eval/metrics.json").exists()
            ],
            args.jobs,
        )
    if args.lr_sweep:
        for start in STARTS:
            cells = []
            for lr in args.lr_sweep:
                val_uar = finetune_result(args.out / "lr_sweep" / f"{start}_lr{lr:g}")["val_uar"]
                cells.append(f"lr {lr:g}: val UAR {np.mean(val_uar[-5:]):.1f}")
            print(f"{NAMES[start]}: " + ", ".join(cells), flush=True)
        return
    results = {
        start: {k: [finetune_result(out) for out in compared[start, k]] for k in args.per_class} for start in STARTS
    }
    ceiling = {}
    if args.ceiling_per_class:
        per_class = len(read_annotations(args.out / "data_ceiling" / "split01" / "train.csv")) // 7
        for start in ("scratch", "appearance_motion"):
            metrics = finetune_result(args.out / "runs" / f"ceiling_{start}_e{args.ceiling_epochs}")
            ceiling[start] = {**metrics, "per_class": per_class, "epochs": args.ceiling_epochs}
    finished = [r for start in STARTS for k in args.per_class for r in results[start][k]] + list(ceiling.values())
    train_hours = sum(r["train_seconds"] for r in finished) / 3600
    zero_motion = zero_motion_loss(data)
    test_size = len(read_annotations(args.out / "test_set" / "test.csv"))
    report = f"Test UAR on the test set ({test_size} clips of new faces):\n\n" + table(results, args.per_class, "uar")
    report += "\n\nPaired, on the same labelled set and seed:\n" + paired(results, args.per_class)
    report += f"\n\nTest UAR on fold 1's test split ({len(read_annotations(fold / 'test.csv'))} clips):\n\n"
    report += table(results, args.per_class, "fold_uar")
    for start, r in ceiling.items():
        report += (
            f"\n\nCeiling, {NAMES[start]} with {r['per_class']} labelled clips per class for {r['epochs']} epochs: "
            f"test UAR {r['uar']:.1f}, WAR {r['war']:.1f} on the test set; {r['fold_uar']:.1f} on its own fold 1."
        )
    report += (
        f"\n\nSeeds {args.seeds}, {args.draws} labelled set(s) per seed and size, pretraining "
        f"{args.pretrain_epochs} epochs per start and seed; the motion loss of predicting no motion "
        f"{zero_motion:.3f}. Fine-tuning epochs summed over the {len(finished)} runs: {train_hours:.1f} h on "
        f"{os.cpu_count()} cores, {args.jobs} run(s) at once (pretraining, validation and tests not counted); this "
        f"invocation took {(time.time() - start_time) / 3600:.1f} h (finished runs are reused)."
    )
    (args.out / "label_efficiency.md").write_text(report + "\n")
    plot(args.out / "label_efficiency.png", results, args.per_class)
    plot_pretraining(args.out / "pretraining_losses.png", pretrained, zero_motion)
    print(report)


if __name__ == "__main__":
    main()
