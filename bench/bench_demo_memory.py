"""Demo memory and speed on long videos: peak RSS, CPU and wall time per video-second of `python demo.py`.

    .venv/bin/python -m bench.bench_demo_memory [--minutes 1 10] [--baseline DIR] [--baseline_minutes 1]
        [--model lgi_former_base_patch16_160] [--detector mtcnn] [--detect_every 5] [--hop 16]

Generates 25 fps 480x270 H.264 talking-face videos of the given lengths (a 10 s face from datasets/synthetic.py
played back and forth, written frame by frame; kept in --workdir for the next run) and a randomly initialised
checkpoint of --model, then runs demo.py on each video in a fresh process, as a user would, and reads the
process's peak resident memory and CPU time (user + system) from the kernel (wait4). On a shared machine the
wall time measures the neighbours as much as the demo; the CPU time does not. --baseline DIR runs DIR/demo.py
as well, in the same run, e.g. the demo before streaming:

    mkdir /tmp/baseline && git archive 3bb9eb7 | tar -x -C /tmp/baseline

The baseline holds every frame in memory, so it only runs on videos of at most --baseline_minutes.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from bench.bench_demo import random_checkpoint
from bench.common import markdown_table
from datasets.synthetic import render_clip
from datasets.video_io import VideoWriter

FPS = 25
ROOT = Path(__file__).resolve().parents[1]
HEADER = ("demo", "video", "frames", "peak RSS GiB", "CPU s", "CPU s per video s", "wall s", "load before", "exit")


def long_face_video(path, minutes, seed=11):
    """A 480x270 talking face of `minutes`, its 10 s clip played forwards and backwards; written once."""
    if path.exists():
        return path
    clip = render_clip(seed, 0, num_frames=10 * FPS, size=240)
    clip = np.stack([cv2.copyMakeBorder(f, 15, 15, 120, 120, cv2.BORDER_REPLICATE) for f in clip])  # 270 x 480
    loop = np.concatenate([clip, clip[-2:0:-1]])  # forwards, then backwards without repeating the ends
    partial = path.with_suffix(".partial.mp4")
    with VideoWriter(partial, fps=FPS) as writer:
        for t in range(round(minutes * 60 * FPS)):
            writer.write(loop[t % len(loop)])
    partial.rename(path)
    return path


def run_demo(tree, video, checkpoint, output, options):
    """demo.py of `tree` on `video` in a fresh process -> (peak RSS in bytes, CPU seconds, wall seconds, exit code,
    its last line)."""
    command = [sys.executable, "demo.py", str(video), "--checkpoint", str(checkpoint), "--output", str(output),
               "--device", "cpu", *options]  # fmt: skip
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = process.stdout.read().strip().splitlines()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    cpu = usage.ru_utime + usage.ru_stime
    return usage.ru_maxrss * 1024, cpu, wall, process.returncode, lines[-1] if lines else ""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 10], help="video lengths")
    parser.add_argument("--baseline", default=None, help="a source tree whose demo.py runs too (see above)")
    parser.add_argument("--baseline_minutes", type=float, default=1, help="longest video the baseline gets")
    parser.add_argument("--model", default="lgi_former_base_patch16_160")
    parser.add_argument("--detector", default="mtcnn")
    parser.add_argument("--detect_every", type=int, default=5)
    parser.add_argument("--hop", type=int, default=16, help="demo.py --hop: frames between window starts")
    parser.add_argument("--workdir", default="/tmp/bench_demo_memory", help="videos and checkpoint are kept here")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    checkpoint = workdir / f"{args.model}.pth"
    if not checkpoint.exists():
        random_checkpoint(checkpoint, args.model)
    options = ["--detector", args.detector, "--detect_every", str(args.detect_every), "--hop", str(args.hop)]
    trees = {"streaming": ROOT} | ({"baseline": Path(args.baseline)} if args.baseline else {})

    rows = []
    for minutes in args.minutes:
        video = long_face_video(workdir / f"face_{minutes:g}min.mp4", minutes)
        for name, tree in trees.items():
            if name == "baseline" and minutes > args.baseline_minutes:
                continue
            load = os.getloadavg()[0]
            rss, cpu, wall, code, last = run_demo(tree, video, checkpoint, workdir / f"out_{name}", options)
            rows.append((name, f"{minutes:g} min", round(minutes * 60 * FPS), f"{rss / 2**30:.2f}", f"{cpu:.0f}",
                         f"{cpu / (minutes * 60):.2f}", f"{wall:.0f}", f"{load:.1f}", code))  # fmt: skip
            print(f"{name}, {minutes:g} min: peak {rss / 2**30:.2f} GiB, CPU {cpu:.0f} s, wall {wall:.0f} s, "
                  f"exit {code}: {last}", flush=True)  # fmt: skip

    print(f"\n{args.model} (random weights), --detector {args.detector} --detect_every {args.detect_every} "
          f"--hop {args.hop}, 480x270 at {FPS} fps, {os.cpu_count()} CPUs, OMP_NUM_THREADS "
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, load average at the end "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    print(markdown_table(HEADER, rows))


if __name__ == "__main__":
    main()
