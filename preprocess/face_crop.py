"""Face crops of raw videos: detect, keep the main face track, crop square frames, write frame folders.

Each video becomes <out>/<its path under --input, without extension>/<frame:06d>.jpg, one file per frame
in which the main face was detected or bridged (frames numbered as in the video; missing frames are left
out), and <out>/annotations.csv lists '<folder> <label>' relative to --out (label from --labels, else 0).
Videos already cropped are kept, so an interrupted run resumes; a video with no face gets no folder.

  python -m preprocess.face_crop --input my_videos/ --out saved/faces --size 224
"""

import argparse
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from datasets.labels import get_label_map
from datasets.video_io import VideoReadError
from preprocess.common import VIDEO_EXTS, LayoutError, first_few, read_rows, require, user_errors
from preprocess.face_detect import DETECTORS, FaceDetector, build_detector
from preprocess.face_track import FaceTrack, track_faces


@dataclass
class CropConfig:
    size: int = 224  # side of the square crops, pixels
    margin: float = 0.3  # crop side = (1 + margin) x the longer side of the detected face box
    max_gap: int = 15  # longest run of frames without detection that the track bridges
    smooth: int = 5  # moving-average window over the box, frames
    detect_every: int = 1  # run the detector on every k-th frame, bridge the others


def crop_face(frame: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) frame, square [x1, y1, x2, y2] box -> (size, size, 3); outside the frame is black."""
    x1, y1, x2, y2 = np.round(box).astype(int)
    x2, y2 = max(x2, x1 + 1), max(y2, y1 + 1)
    h, w = frame.shape[:2]
    pad = max(0, -x1, -y1, x2 - w, y2 - h)
    if pad:
        frame = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    patch = frame[y1 + pad : y2 + pad, x1 + pad : x2 + pad]
    shrink = patch.shape[0] > size
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def crop_faces(frames: np.ndarray, boxes: np.ndarray, size: int = 224) -> np.ndarray:
    """(T, H, W, 3) frames, (T, 4) boxes (no NaN: select found frames first) -> (T, size, size, 3)."""
    return np.stack([crop_face(f, b, size) for f, b in zip(frames, boxes, strict=True)])


def read_video(path: Path, chunk: int = 64) -> Iterator[np.ndarray]:
    """Decode a video as RGB chunks (n <= chunk, H, W, 3) uint8."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise VideoReadError(path, "the decoder cannot open this video")
    try:
        frames, total = [], 0
        while True:
            ok, frame = cap.read()
            if ok:
                frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            if frames and (len(frames) == chunk or not ok):
                total += len(frames)
                yield np.stack(frames)
                frames = []
            if not ok:
                break
    finally:
        cap.release()
    if not total:
        raise VideoReadError(path, "no frames decoded")


def detect_video(path: Path, detector: FaceDetector, detect_every: int = 1) -> list[np.ndarray]:
    """Per-frame (N, 5) detections of a whole video; frames skipped by detect_every get none."""
    detections, t = [], 0
    for chunk in read_video(path):
        picked = [i for i in range(len(chunk)) if (t + i) % detect_every == 0]
        found = dict(zip(picked, detector.detect(chunk[picked]), strict=True)) if picked else {}
        detections += [found.get(i, np.zeros((0, 5), np.float32)) for i in range(len(chunk))]
        t += len(chunk)
    return detections


def crop_video(path: Path, out_dir: Path, detector: FaceDetector, config: CropConfig) -> FaceTrack:
    """Write the face crops of one video to out_dir (nothing when no face is found); returns the track."""
    track = track_faces(
        detect_video(path, detector, config.detect_every),
        margin=config.margin,
        max_gap=max(config.max_gap, config.detect_every - 1),
        smooth=config.smooth,
    )
    if not track.found.any():
        return track
    partial = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    t = 0
    for chunk in read_video(path):
        for frame in chunk:
            if t < len(track.status) and track.found[t]:
                face = crop_face(frame, track.boxes[t], config.size)
                cv2.imwrite(str(partial / f"{t:06d}.jpg"), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
            t += 1
    partial.rename(out_dir)
    return track


def crop_videos(jobs: list[tuple[Path, Path]], detector: FaceDetector, config: CropConfig) -> None:
    """Crop (video, out_dir) pairs, keeping out_dirs that exist; prints progress, frames/s and failures."""
    frames, kept, unreadable, start = 0, 0, [], time.perf_counter()
    for i, (video, out_dir) in enumerate(jobs, 1):
        if out_dir.is_dir():
            kept += 1
            continue
        try:
            track = crop_video(video, out_dir, detector, config)
        except VideoReadError as e:
            print(f"[{i}/{len(jobs)}] {e}", flush=True)
            unreadable.append(str(video))
            continue
        frames += len(track.status)
        counts = ", ".join(f"{k} {v}" for k, v in track.counts().items())
        print(f"[{i}/{len(jobs)}] {video.name}: {len(track.status)} frames, {counts}", flush=True)
    seconds = time.perf_counter() - start
    print(
        f"face crop ({detector.name}): {len(jobs) - kept} videos, {frames} frames in {seconds:.1f} s"
        f" = {frames / max(seconds, 1e-9):.1f} frames/s; kept {kept} already cropped"
    )
    if unreadable:
        print(f"warning: {len(unreadable)} videos cannot be decoded: {first_few(unreadable)}")
    no_face = [str(video) for video, out_dir in jobs if not out_dir.is_dir() and str(video) not in unreadable]
    if no_face:
        print(f"warning: no face found in {len(no_face)} videos: {first_few(no_face)}")


def add_crop_args(parser: argparse.ArgumentParser) -> None:
    default = CropConfig()
    group = parser.add_argument_group("face crop")
    group.add_argument("--detector", choices=["auto", *DETECTORS], default="auto", help="auto: mtcnn if installed")
    group.add_argument("--size", type=int, default=default.size, help="side of the square crops, pixels")
    group.add_argument("--margin", type=float, default=default.margin, help="crop side = (1 + margin) x face box")
    group.add_argument("--max-gap", type=int, default=default.max_gap, help="frames without a face to bridge")
    group.add_argument("--smooth", type=int, default=default.smooth, help="moving-average window, frames")
    group.add_argument("--detect-every", type=int, default=default.detect_every, help="detect every k-th frame")


def crop_setup(args: argparse.Namespace) -> tuple[FaceDetector, CropConfig]:
    """The detector and crop settings chosen on the command line; a missing detector package exits."""
    try:
        detector = build_detector(args.detector)
    except (ImportError, RuntimeError) as e:
        raise SystemExit(f"error: {e}") from None
    return detector, CropConfig(args.size, args.margin, args.max_gap, args.smooth, args.detect_every)


def folder_name(rel: Path) -> str:
    """Frame folder for a video path: no extension, spaces replaced (annotation files split on spaces)."""
    return rel.with_suffix("").as_posix().replace(" ", "_")


def read_labels(path: Path, classes: str) -> dict[str, int]:
    """'<video> <label>' lines; a label is an index or a class name of the `classes` label map."""
    labels, unknown = {}, []
    label_map = get_label_map(classes)
    for i, fields in read_rows(path):
        video, label = " ".join(fields[:-1]), fields[-1]
        if label.isdigit() and int(label) < label_map.num_classes:
            labels[video] = int(label)
        elif label.lower() in (c.lower() for c in label_map.classes):
            labels[video] = label_map.index(label)
        else:
            unknown.append(f"line {i}: {label!r}")
    require(unknown, f"{path}: labels must be 0..{label_map.num_classes - 1} or {', '.join(label_map.classes)}")
    return labels


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--input", type=Path, required=True, help="a video, or a folder searched for videos")
    parser.add_argument("--out", type=Path, required=True, help="folder for frame folders and annotations.csv")
    parser.add_argument("--labels", type=Path, help="'<video> <label>' per line (path under --input or name)")
    parser.add_argument("--classes", default="dfew", help="label map for class names in --labels")
    add_crop_args(parser)
    args = parser.parse_args(argv)
    with user_errors("face_crop"):
        if args.input.is_file():
            videos, base = [args.input], args.input.parent
        elif args.input.is_dir():
            videos, base = sorted(p for p in args.input.rglob("*") if p.suffix.lower() in VIDEO_EXTS), args.input
        else:
            raise LayoutError(f"--input {args.input}: no such file or folder")
        if not videos:
            raise LayoutError(f"--input {args.input}: no videos ({', '.join(VIDEO_EXTS)})")
        rels = [v.relative_to(base) for v in videos]
        labels = read_labels(args.labels, args.classes) if args.labels else {}
        if args.labels:
            unlabelled = [r.as_posix() for r in rels if r.as_posix() not in labels and r.name not in labels]
            require(unlabelled, f"{args.labels}: no label for these videos")
        detector, config = crop_setup(args)
        jobs = [(v, args.out / folder_name(r)) for v, r in zip(videos, rels, strict=True)]
        args.out.mkdir(parents=True, exist_ok=True)
        crop_videos(jobs, detector, config)
        lines = [
            f"{folder_name(r)} {labels.get(r.as_posix(), labels.get(r.name, 0))}\n"
            for r, (_, out_dir) in zip(rels, jobs, strict=True)
            if out_dir.is_dir()
        ]
        (args.out / "annotations.csv").write_text("".join(lines))
        print(f"wrote {args.out / 'annotations.csv'} ({len(lines)} clips); pass --data_root {args.out.resolve()}")


if __name__ == "__main__":
    main()
