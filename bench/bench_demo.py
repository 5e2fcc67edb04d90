"""Demo speed: seconds of video processed per second of wall time, split into first pass / model / outputs.

    .venv/bin/python -m bench.bench_demo [--models lgi_former_tiny_patch16_160 lgi_former_base_patch16_160]
        [--frames 250] [--detector auto] [--detect_every 1 5] [--detect_side 320] [--batch_size 8 4]
        [--repeats 2] [--default_malloc]

Renders a talking face (datasets/synthetic.py) at 240x240, pads it to a 320x240 25 fps H.264 video, saves a
randomly initialised checkpoint per model the way training does, and runs `demo.main` on it exactly as
`python demo.py video.mp4 --checkpoint ckpt` would. The stages are timed by wrapping the functions the demo's
streaming pipeline (inference/recognizer.py) calls: first pass (decoding, shot cuts, detection and tracking:
build_detector, Recognizer.find_persons), model (Recognizer.probabilities: forward passes), outputs (timeline.png,
annotated.mp4 frame by frame, predictions); "other" is the rest: the second pass's decoding and face crops,
and loading the checkpoint. `--detect_every k` is demo.py's flag: the detector sees every k-th frame and
the track bridges the others. Best of `--repeats` runs per row.
"""

import argparse
import functools
import itertools
import os
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from unittest import mock

import cv2
import numpy as np
import torch

import demo
from bench.common import markdown_table, timed
from datasets.synthetic import render_clip
from datasets.video_io import write_video
from engine.checkpoint import save_checkpoint
from inference import recognizer, report
from models import create_model
from preprocess.face_detect import build_detector
from system.memory import keep_freed_memory

FPS = 25
STAGES = {  # (owner, attribute): stage
    (recognizer, "build_detector"): "first pass",
    (recognizer.Recognizer, "find_persons"): "first pass",
    (recognizer.Recognizer, "probabilities"): "model",
    (report.AnnotatedVideo, "write"): "outputs",
    (demo, "plot_timeline"): "outputs",
    (demo, "write_predictions"): "outputs",
}
COLUMNS = ("first pass", "model", "outputs", "other")
HEADER = ("model", "detect every", "batch", *(f"{c} s" for c in COLUMNS), "total s", "median s", "video s/s", "face")


def face_video(path, num_frames, seed=11):
    """A 320x240 25 fps talking face (an identity MTCNN and Haar find in almost every frame), background stretched."""
    frames = render_clip(seed, 0, num_frames=num_frames, size=240)
    frames = np.stack([cv2.copyMakeBorder(f, 0, 0, 40, 40, cv2.BORDER_REPLICATE) for f in frames])
    write_video(path, frames, fps=FPS)
    return path


def random_checkpoint(path, name):
    torch.manual_seed(0)
    model = create_model(name, init_scale=1.0)
    return save_checkpoint(path, model, "best", args=argparse.Namespace(data_set="synthetic", sampling_rate=4))


def timed_demo(video, checkpoint, output, detector, every, side, batch_size):
    """One demo.main run -> ({stage: seconds}, report)."""
    seconds = defaultdict(float)
    replaced = {"build_detector": functools.partial(build_detector, max_side=side)}
    patches = [
        mock.patch.object(owner, name, timed(seconds, stage, replaced.get(name, getattr(owner, name))))
        for (owner, name), stage in STAGES.items()
    ]
    args = demo.get_args([str(video), "--checkpoint", str(checkpoint), "--output", str(output), "--device", "cpu",
                          "--detector", detector, "--batch_size", str(batch_size),
                          "--detect_every", str(every)])  # fmt: skip
    for patch in patches:
        patch.start()
    try:
        start = time.perf_counter()
        report = demo.main(args)
        total = time.perf_counter() - start
    finally:
        for patch in patches:
            patch.stop()
    seconds["other"] = total - sum(seconds.values())
    seconds["total"] = total
    return seconds, report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["lgi_former_tiny_patch16_160", "lgi_former_small_patch16_160",
                                                        "lgi_former_base_patch16_160"])  # fmt: skip
    parser.add_argument("--frames", type=int, default=250, help="video length at 25 fps")
    parser.add_argument("--detector", default="auto", help="auto, mtcnn or haar, as demo.py")
    parser.add_argument("--detect_every", type=int, nargs="+", default=[1])
    parser.add_argument("--detect_side", type=int, default=320, help="frames shrunk to this for detection")
    parser.add_argument("--batch_size", type=int, nargs="+", default=[8], help="windows per forward pass")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--default_malloc", action="store_true", help="leave glibc malloc's settings alone")
    args = parser.parse_args(argv)
    kept = not args.default_malloc and keep_freed_memory()
    load = os.getloadavg()[0]

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        video = face_video(tmp / "face.mp4", args.frames)
        for name in args.models:
            checkpoint = random_checkpoint(tmp / f"{name}.pth", name)
            for every, batch_size in itertools.product(args.detect_every, args.batch_size):
                runs = [
                    timed_demo(video, checkpoint, tmp / "out", args.detector, every, args.detect_side, batch_size)
                    for _ in range(args.repeats)
                ]
                best, report = min(runs, key=lambda run: run[0]["total"])
                median = statistics.median(run[0]["total"] for run in runs)
                duration = report["duration_s"]
                face_frames = [p["face_frames"] for p in report["persons"]]
                detected = sum(f["detected"] + f["bridged"] for f in face_frames)
                rows.append(
                    (name.removesuffix("_patch16_160"), every, batch_size, *(f"{best[c]:.2f}" for c in COLUMNS),
                     f"{best['total']:.2f}", f"{median:.2f}", f"{duration / best['total']:.2f}",
                     f"{detected}/{report['num_frames']}")
                )  # fmt: skip
                print(f"{name} detect_every {every} batch_size {batch_size}: {best['total']:.1f} s", flush=True)

    detector = build_detector(args.detector).name
    print(f"\n{args.frames} frames of 320x240 at {FPS} fps ({args.frames / FPS:.1f} s), detector {detector} at "
          f"{args.detect_side} px, torch threads {torch.get_num_threads()}, freed memory kept: {kept}, "
          f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")  # fmt: skip
    print(markdown_table(HEADER, rows))


if __name__ == "__main__":
    main()
