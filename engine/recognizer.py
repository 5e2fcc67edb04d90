"""Emotion recognition on whole videos, as a Python API: load a fine-tuned classifier once, call it on videos.

    from engine.recognizer import Recognizer

    recognizer = Recognizer.from_checkpoint("checkpoint-best.pth")  # ours, upstream's, .safetensors or .onnx
    result = recognizer("talk.mp4")  # a video file, a frame folder or a (T, H, W, 3) uint8 RGB array
    result.label, result.probabilities  # overall: the mean over the windows with a face (None without one)
    result.to_dict()["windows"]  # per window: frames, seconds, label, probabilities (demo.py's predictions.json)

The video is read twice, one frame at a time, so memory does not grow with its length. The first pass runs the
face detector on every `detect_every`-th frame and links the detections into the main face track
(preprocess/face_track.py), which needs all of the video's detections, a few bytes per frame. The second pass
crops the tracked face, slides the windows over it (engine/video_inference.py) and, when asked, writes the
annotated video. `detector="none"` takes the frames as face crops already (the whole frame is the face). A
video that stops decoding part way is analysed up to there and `result.stopped` says why.

Backends: "torch" (.pth or .safetensors, on `device`) and "onnxruntime" (a .onnx file from engine/export.py, on
the CPU). A backend is a callable from a normalised float tensor (B, 3, T, H, W) to logits (B, K).
"""

import contextlib
import functools
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from datasets.labels import get_label_map
from datasets.specs import get_spec
from datasets.transforms import normalize
from datasets.video_io import VideoReadError, stream_frames
from engine.report import AnnotatedVideo, overall_prediction, window_rows
from engine.video_inference import StreamStats, Window, frame_timeline, handing_back_memory, run_windows
from preprocess.face_detect import build_detector
from preprocess.face_track import FaceTrack, detect_and_track, whole_frame_track

MAX_SIDE = 640  # frames are downscaled to this for detection, cropping and the annotated video
DEFAULT_FPS = 25.0  # frame rate of frame folders and arrays unless told
BACKENDS = ("torch", "onnxruntime")


def downscale(frame, max_side=MAX_SIDE):
    """(H, W, 3) frame with its longer side shrunk to at most max_side."""
    h, w = frame.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return frame
    return cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


class FrameSource:
    """A video file, a frame folder or a (T, H, W, 3) uint8 RGB array, read any number of times, one frame at
    a time, downscaled. `stopped` holds why a first complete read ended early (the frames up to there count)."""

    def __init__(self, video, fps=None):
        if isinstance(video, np.ndarray):
            if video.dtype != np.uint8 or video.ndim != 4 or video.shape[-1] != 3 or not len(video):
                raise ValueError(f"frames: expected a uint8 RGB array (T, H, W, 3), got {video.dtype} {video.shape}")
        self.video, self.given_fps = video, fps
        self.name = "array" if isinstance(video, np.ndarray) else str(video)
        self.stopped = None

    @functools.cached_property
    def fps(self):
        """The given rate, else a video file's own (asked once the file is known to decode), else 25."""
        if self.given_fps or isinstance(self.video, np.ndarray) or Path(self.video).is_dir():
            return self.given_fps or DEFAULT_FPS
        return video_fps(self.video)

    def frames(self, wanted=None):
        """Every frame in order, or None where `wanted(index)` declines it; VideoReadError where decoding fails."""
        if isinstance(self.video, np.ndarray):
            wanted = wanted or (lambda index: True)
            return (downscale(frame) if wanted(t) else None for t, frame in enumerate(self.video))
        return (frame if frame is None else downscale(frame) for frame in stream_frames(self.video, wanted))

    def readable_frames(self, wanted=None):
        """As frames(), but a decoding failure after the first frame ends the frames and is kept in `stopped`."""
        count = 0
        try:
            for frame in self.frames(wanted):
                yield frame
                count += 1
        except VideoReadError as err:
            if not count:
                raise
            self.stopped = str(err)
        if not count:
            raise VideoReadError(self.name, "no frames decoded")


def video_fps(path, default=DEFAULT_FPS):
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return fps if fps and fps > 0 else default


@dataclass
class Recognition:
    """What a call returns: the windows with their probabilities, the face track, and the video's facts."""

    source: str
    fps: float
    num_frames: int
    classes: tuple[str, ...]
    windows: list[Window]
    track: FaceTrack
    stopped: str | None = None  # why decoding ended before the video's end, None when it did not
    stats: StreamStats = field(default_factory=StreamStats)

    @property
    def overall(self):
        return overall_prediction(self.windows, self.classes)

    @property
    def label(self):
        """The overall class, None when no window has a face."""
        overall = self.overall
        return overall["label"] if overall else None

    @property
    def probabilities(self):
        """{class: probability} averaged over the windows with a face, None when there are none."""
        overall = self.overall
        return overall["probs"] if overall else None

    @property
    def timeline(self):
        """(T, K) per-frame probabilities, NaN where no face window covers the frame."""
        return frame_timeline(self.windows, self.num_frames, len(self.classes))

    def to_dict(self):
        """The numbers of demo.py's predictions.json (it adds the true label and the processing time)."""
        return {
            "video": self.source,
            "fps": self.fps,
            "num_frames": self.num_frames,
            "duration_s": round(self.num_frames / self.fps, 3),
            "classes": list(self.classes),
            "face_frames": self.track.counts(),
            "overall": self.overall,
            "windows": window_rows(self.windows, self.classes, self.fps),
            "decoding_stopped": self.stopped,
        }


class Recognizer:
    """A classifier with its sampling settings and a face detector; `recognizer(video)` -> Recognition.

    classify: normalised float (B, 3, clip_len, input_size, input_size) on `device` -> logits (B, K).
    """

    def __init__(
        self,
        classify,
        classes,
        clip_len=16,
        input_size=160,
        stride=4,
        hop=16,
        batch_size=8,
        detector="auto",
        detect_every=1,
        device="cpu",
    ):
        if detect_every < 1 or hop < 1 or batch_size < 1 or stride < 1:
            raise ValueError("detect_every, hop, batch_size and stride must be at least 1")
        self.classify, self.classes = classify, tuple(classes)
        self.clip_len, self.input_size, self.stride, self.hop = clip_len, input_size, stride, hop
        self.batch_size, self.detect_every, self.device = batch_size, detect_every, torch.device(device)
        if detector == "none":
            self.detector = None  # the frames are face crops already
        else:
            self.detector = build_detector(detector) if isinstance(detector, str) else detector

    @classmethod
    def from_checkpoint(cls, path, device=None, backend=None, labels=None, stride=None, **options):
        """A fine-tuned checkpoint: .pth (ours or upstream's) or .safetensors with backend "torch", an exported
        .onnx with "onnxruntime" (the default follows the suffix). `labels` names a label table (dfew, mafw, ...)
        instead of the checkpoint's classes; `stride` overrides its sampling rate; `options` go to __init__."""
        backend = backend or ("onnxruntime" if str(path).endswith(".onnx") else "torch")
        if backend == "torch":
            classify, facts = _torch_classifier(path, device or ("cuda" if torch.cuda.is_available() else "cpu"))
        elif backend == "onnxruntime":
            classify, facts = _onnx_classifier(path)
        else:
            raise ValueError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
        classes = class_names(facts["class_names"], facts["data_set"], labels, facts["num_classes"])
        stride = stride or facts["sampling_rate"] or 4
        return cls(classify, classes, facts["clip_len"], facts["input_size"], stride, device=facts["device"], **options)

    def __call__(self, video, fps=None, annotated=None):
        """Recognise `video` (a path to a video file or frame folder, or a (T, H, W, 3) uint8 RGB array); `fps`
        for folders and arrays (default 25); `annotated`: where to write the annotated video, if anywhere."""
        source = FrameSource(video, fps)
        track = self.track(source)  # the first pass tells whether the file decodes at all
        num_frames, stats = len(track.status), StreamStats()
        writer = AnnotatedVideo(annotated, self.classes, source.fps) if annotated else contextlib.nullcontext()
        with writer, contextlib.closing(source.frames()) as frames:
            windows = run_windows(
                self.probabilities, frames, num_frames, track, len(self.classes), self.clip_len, self.stride,
                self.hop, self.input_size, self.batch_size, writer.write if annotated else None, stats,
            )  # fmt: skip
        return Recognition(source.name, source.fps, num_frames, self.classes, windows, track, source.stopped, stats)

    def track(self, source):
        """First pass: the main face track of every readable frame."""
        if self.detector is None:
            frames = source.readable_frames(wanted=lambda t: t == 0)
            height, width = next(frames).shape[:2]
            return whole_frame_track(1 + sum(1 for _ in frames), height, width)
        every = self.detect_every
        frames = handing_back_memory(source.readable_frames(lambda t: t % every == 0))
        return detect_and_track(frames, self.detector, every)

    @torch.inference_mode()
    def probabilities(self, clips):
        """(N, K) softmax of a list of (clip_len, S, S, 3) uint8 face clips, one forward pass."""
        batch = normalize(torch.stack(clips).to(self.device))
        return torch.softmax(torch.as_tensor(self.classify(batch)).float(), dim=-1).cpu().numpy()


def class_names(stated, data_set, override, num_classes):
    """The label table `override` names, else the checkpoint's own names or its dataset's, else 'class k'."""
    if override:
        classes = get_label_map(override).classes
    elif stated:
        classes = tuple(stated)
    else:
        classes = get_spec(data_set).class_names if data_set else tuple(f"class {k}" for k in range(num_classes))
    if len(classes) != num_classes:
        raise ValueError(f"labels {override!r} have {len(classes)} classes, the checkpoint predicts {num_classes}")
    return classes


def _torch_classifier(path, device):
    from models.checkpoint import classifier_from_checkpoint

    model, checkpoint = classifier_from_checkpoint(path)
    args = checkpoint.get("args")
    _, clip_len, input_size, _ = model.patch_embed.input_shape
    facts = {
        "class_names": checkpoint.get("class_names"),
        "data_set": getattr(args, "data_set", None),
        "sampling_rate": getattr(args, "sampling_rate", None),
        "num_classes": model.num_classes,
        "clip_len": clip_len,
        "input_size": input_size,
        "device": device,
    }
    return model.to(device), facts


def _onnx_classifier(path):
    if not str(path).endswith(".onnx"):
        raise ValueError(f"{path}: the onnxruntime backend runs an exported .onnx file (python -m engine.export)")
    from models.onnx_export import OnnxClassifier

    classifier = OnnxClassifier(path)
    facts = {
        "class_names": classifier.class_names,
        "data_set": classifier.data_set,
        "sampling_rate": classifier.sampling_rate,
        "num_classes": classifier.num_classes,
        "clip_len": classifier.num_frames,
        "input_size": classifier.input_size,
        "device": "cpu",
    }
    return classifier, facts
