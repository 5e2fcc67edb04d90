"""Emotion timeline of a video: find the face, slide the fine-tuned model over it, write a report.

    python demo.py my_video.mp4                          # after the quick start: uses its checkpoint
    python demo.py my_video.mp4 --checkpoint dfew_fold1.pth --labels dfew
    python demo.py frames_folder/ --fps 30
    python demo.py --webcam 0 --max_seconds 10           # record from a camera, then analyse

Writes to output/<video name>/: annotated.mp4 (face box, label, one bar per class), timeline.png,
predictions.json and predictions.csv (per window: start/end time and probabilities, plus the overall
label), and prints a summary with the time taken. Stretches without a face are reported as such.
"""

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from datasets.labels import get_label_map
from datasets.specs import get_spec
from datasets.video_io import VideoReadError, open_video
from engine.report import overall_prediction, plot_timeline, write_annotated_video, write_predictions
from engine.setup import keep_freed_memory
from engine.video_inference import frame_timeline, run_windows
from models import CheckpointError
from models.checkpoint import classifier_from_checkpoint
from preprocess.face_detect import build_detector
from preprocess.face_track import detect_and_track, whole_frame_track

DEFAULT_CHECKPOINT = Path("saved/model/quickstart/finetune_pretrained/checkpoint-best.pth")
MAX_SIDE = 640  # frames are downscaled to this for detection and the annotated video


def get_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", nargs="?", help="a video file (mp4, avi, mov, webm, ...) or a folder of frames")
    p.add_argument("--webcam", type=int, default=None, help="record from this camera index instead")
    p.add_argument("--max_seconds", type=float, default=10.0, help="webcam recording length")
    p.add_argument("--checkpoint", default=None, help=f"fine-tuned checkpoint (default: {DEFAULT_CHECKPOINT})")
    p.add_argument("--labels", default=None, help="class names: dfew, mafw, ferv39k, ... (default: checkpoint's)")
    p.add_argument("--true_label", default=None, help="the video's known class, shown next to the prediction")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--output", default=None, help="output folder (default: output/<video name>/)")
    p.add_argument("--stride", type=int, default=None, help="frame step inside a window (default: checkpoint's)")
    p.add_argument("--hop", type=int, default=16, help="frames between window starts")
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument(
        "--detector", default="auto", help="face detector: auto, mtcnn, haar; none when frames are face crops already"
    )
    p.add_argument("--detect_every", type=int, default=1, help="detect on every k-th frame, track the rest (faster)")
    p.add_argument("--fps", type=float, default=25.0, help="frame rate of a frame folder (videos know theirs)")
    return p.parse_args(argv)


def video_fps(path, default):
    if Path(path).is_dir():
        return default
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return fps if fps and fps > 0 else default


def downscale(frames, max_side=MAX_SIDE):
    h, w = frames.shape[1:3]
    scale = max_side / max(h, w)
    if scale >= 1:
        return frames
    size = (round(w * scale), round(h * scale))
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])


def load_video(path):
    """Every frame, downscaled. PyAV alone: it is exact, and it fails quietly on a broken file."""
    video = open_video(path, backends=("pyav",))
    if len(video) == 0:
        raise VideoReadError(path, "no frames")
    return downscale(video.read(np.arange(len(video))))


def record_webcam(index, max_seconds):
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
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    except KeyboardInterrupt:
        pass
    finally:
        capture.release()
    if not frames:
        raise VideoReadError(f"camera {index}", "no frames read")
    return downscale(np.stack(frames)), fps


def class_names(checkpoint, override, num_classes):
    if override:
        classes = get_label_map(override).classes
    else:
        args = checkpoint.get("args") if isinstance(checkpoint, dict) else None
        data_set = getattr(args, "data_set", None)
        classes = get_spec(data_set).class_names if data_set else tuple(f"class {k}" for k in range(num_classes))
    if len(classes) != num_classes:
        raise ValueError(f"--labels {override} has {len(classes)} classes, the checkpoint predicts {num_classes}")
    return classes


def resolve_checkpoint(path):
    if path:
        return Path(path)
    if DEFAULT_CHECKPOINT.exists():
        return DEFAULT_CHECKPOINT
    raise CheckpointError(
        f"{DEFAULT_CHECKPOINT}: no checkpoint yet; run the quick start (bash scripts/quickstart.sh) "
        "or pass --checkpoint <fine-tuned .pth>"
    )


def main(args):
    start = time.time()
    device = torch.device(args.device)
    if device.type == "cpu":
        keep_freed_memory()
    model, checkpoint = classifier_from_checkpoint(resolve_checkpoint(args.checkpoint))
    model.to(device)
    classes = class_names(checkpoint, args.labels, model.num_classes)
    if args.true_label is not None and args.true_label not in classes:
        raise ValueError(f"--true_label {args.true_label!r} is not a class of this model: {', '.join(classes)}")
    saved_args = checkpoint.get("args")
    stride = args.stride or getattr(saved_args, "sampling_rate", None) or 4
    _, clip_len, input_size, _ = model.patch_embed.input_shape

    if args.webcam is not None:
        frames, fps = record_webcam(args.webcam, args.max_seconds)
        source, name = f"camera {args.webcam}", f"webcam{args.webcam}"
    elif args.video:
        source, name = Path(args.video), Path(args.video.rstrip("/")).stem
        frames, fps = load_video(source), video_fps(source, args.fps)
    else:
        raise ValueError("give a video file or folder, or --webcam N")
    output = Path(args.output) if args.output else Path("output") / name
    output.mkdir(parents=True, exist_ok=True)

    if args.detector == "none":
        track = whole_frame_track(frames)
    else:
        track = detect_and_track(frames, build_detector(args.detector), args.detect_every)
    windows = run_windows(model, frames, track, device, clip_len, stride, args.hop, input_size, args.batch_size)
    timeline = frame_timeline(windows, len(frames), len(classes))
    title = str(name) if args.true_label is None else f"{name} (true class: {args.true_label})"
    plot_timeline(output / "timeline.png", timeline, classes, fps, title=title)
    write_annotated_video(output / "annotated.mp4", frames, track.boxes, timeline, classes, fps)
    seconds = time.time() - start
    report = write_predictions(
        output, source, windows, classes, fps, len(frames), track.counts(), seconds, args.true_label
    )

    duration = len(frames) / fps
    print(f"{source}: {len(frames)} frames ({duration:.1f} s at {fps:.1f} fps), face in {track.found.sum()} frames")
    face_windows = sum(w.probs is not None for w in windows)
    print(f"{len(windows)} windows of {clip_len} frames (stride {stride}, hop {args.hop}), {face_windows} with a face")
    overall = overall_prediction(windows, classes)
    if overall is None:
        print("no face found in the video: nothing to classify (the report says so)")
    else:
        top = sorted(overall["probs"].items(), key=lambda kv: -kv[1])[:3]
        print("overall: " + ", ".join(f"{c} {p:.2f}" for c, p in top))
        if args.true_label is not None:
            verdict = "right" if overall["label"] == args.true_label else "wrong"
            print(f"predicted {overall['label']}, true class {args.true_label} ({verdict})")
    print(f"took {seconds:.1f} s ({duration / seconds:.2f} s of video per second); wrote {output}/")
    return report


if __name__ == "__main__":
    try:
        main(get_args())
    except (CheckpointError, VideoReadError, ValueError) as err:
        sys.exit(f"error: {err}")
