"""Emotion timelines of a video, one per person: find every face, follow each person, slide the fine-tuned
model over each face, write a report.

    python demo.py my_video.mp4                          # the model in checkpoint/, else the quick start's
    python demo.py my_video.mp4 --checkpoint dfew_fold1.pth --labels dfew
    python demo.py clip.mp4 --faces main                 # only the person with the most face (DFEW-style clips)
    python demo.py frames_folder/ --fps 30
    python demo.py --webcam 0 --max_seconds 10           # record from a camera, then analyse

Writes to output/<video name>/: annotated.mp4 (each person's box with its ID and label; `--no_video` skips it),
timeline.png (one panel per person), predictions.json and predictions.csv (per person and window: start/end
time, face box and probabilities, plus each person's overall label), and prints a summary with the time taken.
Stretches without a person's face are reported as such; a video that stops decoding part way is analysed up to
there. The video is streamed (inference/recognizer.py, the Python API behind this script): memory does not grow
with its length.
"""

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from datasets.video_io import VideoReadError
from inference.frames import downscale
from inference.options import add_recognizer_arguments, recognizer_from_args
from inference.progress import ProgressDisplay
from inference.report import plot_timeline, write_predictions
from inference.windows import plan_windows
from models import CheckpointError


def get_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", nargs="?", help="a video file (mp4, avi, mov, webm, ...) or a folder of frames")
    p.add_argument("--webcam", type=int, default=None, help="record from this camera index instead")
    p.add_argument("--max_seconds", type=float, default=10.0, help="webcam recording length")
    p.add_argument("--true_label", default=None, help="the video's known class, shown next to the prediction")
    p.add_argument("--output", default=None, help="output folder (default: output/<video name>/)")
    p.add_argument("--no_video", action="store_true", help="skip annotated.mp4 (faster)")
    add_recognizer_arguments(p)
    p.add_argument("--fps", type=float, default=25.0, help="frame rate of a frame folder (videos know theirs)")
    return p.parse_args(argv)


def record_webcam(index, max_seconds):
    """The camera's frames (downscaled as the demo reads videos) and its frame rate; memory grows with
    max_seconds."""
    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        raise VideoReadError(f"camera {index}", "cannot open the camera")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    frames, start = [], time.time()
    print(f"recording camera {index} for {max_seconds:.0f} s (Ctrl-C stops early)...")
    try:
        while time.time() - start < max_seconds:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(downscale(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)))
    except KeyboardInterrupt:
        pass
    finally:
        capture.release()
    if not frames:
        raise VideoReadError(f"camera {index}", "no frames read")
    return np.stack(frames), fps


def main(args):
    start = time.time()
    if args.webcam is None and not args.video:
        raise ValueError("give a video file or folder, or --webcam N")
    recognizer = recognizer_from_args(args)
    classes = recognizer.classes
    if args.true_label is not None and args.true_label not in classes:
        raise ValueError(f"--true_label {args.true_label!r} is not a class of this model: {', '.join(classes)}")

    if args.webcam is not None:
        video, fps = record_webcam(args.webcam, args.max_seconds)
        source, name = f"camera {args.webcam}", f"webcam{args.webcam}"
    else:
        video, fps = args.video, args.fps if Path(args.video).is_dir() else None
        source, name = Path(args.video), Path(args.video.rstrip("/")).stem
    output = Path(args.output) if args.output else Path("output") / name
    output.mkdir(parents=True, exist_ok=True)

    display = ProgressDisplay()  # bars on a terminal, else a line every 30 s
    try:
        annotated = None if args.no_video else output / "annotated.mp4"
        result = recognizer(video, fps=fps, annotated=annotated, progress=display)
    finally:
        display.close()
    title = str(name) if args.true_label is None else f"{name} (true class: {args.true_label})"
    timelines = {f"person {p.id}": p.timeline for p in result.persons}
    plot_timeline(output / "timeline.png", timelines, classes, result.fps, title=title)
    seconds = time.time() - start
    report = {**result.to_dict(), "video": str(source), "true_label": args.true_label}
    report["processing_s"] = round(seconds, 2)
    write_predictions(output, report)

    n, fps = result.num_frames, result.fps
    shots = f", {len(result.shot_starts)} shots" if len(result.shot_starts) > 1 else ""
    persons = f"{len(result.persons)} person" + ("" if len(result.persons) == 1 else "s")
    print(f"{source}: {n} frames ({n / fps:.1f} s at {fps:.1f} fps){shots}, {persons}")
    if result.stopped:
        print(f"warning: {result.stopped}; the timeline ends at frame {n} ({n / fps:.1f} s)")
    planned = len(plan_windows(n, recognizer.clip_len, recognizer.stride, args.hop))
    print(f"{planned} windows of {recognizer.clip_len} frames (stride {recognizer.stride}, hop {args.hop}) per person")
    if not result.persons:
        print("no face found in the video: nothing to classify (the report says so)")
    for person in result.persons:
        face_windows = sum(w.probs is not None for w in person.windows)
        summary = f"person {person.id}: face in {person.track.found.sum()} frames, {face_windows} windows"
        if person.label is None:
            print(f"{summary}, too little face to classify")
            continue
        top = sorted(person.probabilities.items(), key=lambda kv: -kv[1])[:3]
        print(f"{summary}: " + ", ".join(f"{c} {p:.2f}" for c, p in top))
    if args.true_label is not None and result.label is not None:
        verdict = "right" if result.label == args.true_label else "wrong"
        print(f"predicted {result.label} (person {result.main.id}), true class {args.true_label} ({verdict})")
    print(f"took {seconds:.1f} s ({n / fps / seconds:.2f} s of video per second); wrote {output}/")
    return report


if __name__ == "__main__":
    try:
        main(get_args())
    except (CheckpointError, VideoReadError, ValueError) as err:
        sys.exit(f"error: {err}")
