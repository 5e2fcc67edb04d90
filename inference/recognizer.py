"""Emotion recognition on whole videos, per person, as a Python API: load a fine-tuned classifier once, call it
on videos.

    from inference import Recognizer

    recognizer = Recognizer.from_checkpoint("checkpoint-best.pth")  # ours, upstream's, .safetensors or .onnx
    result = recognizer("talk.mp4")  # a video file, a frame folder or a (T, H, W, 3) uint8 RGB array
    for person in result.persons:  # everyone whose face was found, in order of first appearance
        person.id, person.label, person.probabilities  # overall: the mean over the windows with their face
        person.windows, person.track  # per window: frames, probabilities, box; per frame: box and status
    result.to_dict()  # demo.py's predictions.json

The video is read twice, one frame at a time, so memory does not grow with its length. The first pass finds
shot cuts on every frame, runs the face detector on every `detect_every`-th frame, and the tracker
(inference/persons.py) turns the detections into persons (`faces="all"`) or keeps the one with the most face
(`faces="main"`, for DFEW-style clips); it keeps a few bytes per frame. The second pass crops each person's
face, slides the windows over it (inference/windows.py) and, when asked, writes the annotated video.
`detector="none"` takes the frames as face crops already (the whole frame is the face, one person). A video
that stops decoding part way is analysed up to there and `result.stopped` says why.

The classifier (inference/backends.py) is a callable from a normalised float tensor (B, 3, T, H, W) to logits
(B, K): PyTorch at fp32, bf16 or fp16, or ONNX Runtime at int8 or for an exported .onnx file.
"""

import contextlib
import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from datasets.labels import get_label_map
from datasets.specs import get_spec
from datasets.transforms import normalize
from inference.backends import load_classifier
from inference.checkpoints import FACE_MARGIN, default_checkpoint, face_margin, generated_set_warning
from inference.frames import FrameSource
from inference.persons import MAX_GAP, Person, main_person, scan, track_persons
from inference.progress import reporting
from inference.report import AnnotatedVideo, overall_prediction, window_rows
from inference.windows import StreamStats, Window, frame_timeline, run_windows, sampled_frames
from preprocess.face_detect import build_detector
from preprocess.face_track import FaceTrack, whole_frame_track
from system.memory import release_freed_memory

FACES = ("all", "main")
RELEASE_EVERY_FRAMES = 1024  # first-pass frames between hand-backs of freed memory (the second pass: every batch)
log = logging.getLogger(__name__)


@dataclass
class PersonResult:
    """One person: the windows with their probabilities, and the face track."""

    id: int
    windows: list[Window]
    track: FaceTrack
    classes: tuple[str, ...]

    @property
    def overall(self):
        return overall_prediction(self.windows, self.classes)

    @property
    def label(self):
        """The overall class, None when no window has this person's face."""
        overall = self.overall
        return overall["label"] if overall else None

    @property
    def probabilities(self):
        """{class: probability} averaged over the windows with this person's face, None when there are none."""
        overall = self.overall
        return overall["probs"] if overall else None

    @property
    def timeline(self):
        """(T, K) per-frame probabilities, NaN where the person's face is not, or no classified window covers it."""
        return frame_timeline(self.windows, self.track, len(self.classes))

    def to_dict(self, fps):
        found = np.flatnonzero(self.track.found)
        return {
            "person": self.id,
            "first_s": round(found[0] / fps, 3) if len(found) else None,
            "last_s": round((found[-1] + 1) / fps, 3) if len(found) else None,
            "face_frames": self.track.counts(),
            "overall": self.overall,
            "windows": window_rows(self.windows, self.classes, fps),
        }


@dataclass
class Recognition:
    """What a call returns: every person with their windows and track, and the video's facts."""

    source: str
    fps: float
    num_frames: int
    classes: tuple[str, ...]
    persons: list[PersonResult]
    shot_starts: list[int]  # first frame of every shot
    faces: str = "all"
    stopped: str | None = None  # why decoding ended before the video's end, None when it did not
    warning: str | None = None  # what the results cannot be trusted for (a model trained on generated faces)
    precision: str | None = None  # the classifier's numeric path (fp32, bf16, fp16, int8), when known
    stats: StreamStats = field(default_factory=StreamStats)

    @property
    def main(self):
        """The person with the most classified windows (the first of them on a tie), None without any."""
        return max(self.persons, key=lambda p: sum(w.probs is not None for w in p.windows), default=None)

    @property
    def label(self):
        """The main person's overall class, None without a face."""
        return self.main.label if self.main else None

    @property
    def probabilities(self):
        """The main person's overall probabilities, None without a face."""
        return self.main.probabilities if self.main else None

    def to_dict(self):
        """The numbers of demo.py's predictions.json (it adds the true label and the processing time)."""
        return {
            "video": self.source,
            "fps": self.fps,
            "num_frames": self.num_frames,
            "duration_s": round(self.num_frames / self.fps, 3),
            "classes": list(self.classes),
            "faces": self.faces,
            "shot_starts_s": [round(t / self.fps, 3) for t in self.shot_starts],
            "persons": [p.to_dict(self.fps) for p in self.persons],
            "decoding_stopped": self.stopped,
            "warning": self.warning,
            "precision": self.precision,
        }


class Recognizer:
    """A classifier with its sampling settings and a face detector; `recognizer(video)` -> Recognition.

    classify: normalised float (B, 3, clip_len, input_size, input_size) on `device` -> logits (B, K).
    `data_set`: what the classifier was fine-tuned on; a model of the generated set warns on real footage.
    `precision`: the classifier's numeric path (inference/precision.py), recorded in every result.
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
        detect_every=5,
        faces="all",
        min_face=40,
        margin=FACE_MARGIN,
        device="cpu",
        data_set=None,
        precision=None,
    ):
        if detect_every < 1 or hop < 1 or batch_size < 1 or stride < 1 or min_face < 1:
            raise ValueError("detect_every, hop, batch_size, stride and min_face must be at least 1")
        if faces not in FACES:
            raise ValueError(f"faces must be one of {', '.join(FACES)}, got {faces!r}")
        self.classify, self.classes = classify, tuple(classes)
        self.clip_len, self.input_size, self.stride, self.hop = clip_len, input_size, stride, hop
        self.batch_size, self.detect_every, self.device = batch_size, detect_every, torch.device(device)
        self.faces, self.min_face, self.margin, self.data_set = faces, min_face, margin, data_set
        self.warned = False  # the warning of a model of the generated set is logged once
        self.precision = precision  # the classifier's numeric path (an inference.precision.PrecisionChoice), if known
        if detector == "none":
            self.detector = None  # the frames are face crops already
        else:
            self.detector = build_detector(detector) if isinstance(detector, str) else detector

    @classmethod
    def from_checkpoint(cls, path=None, device=None, labels=None, stride=None, precision="auto", cache_dir=None,
                        **options):  # fmt: skip
        """A fine-tuned checkpoint: .pth (ours or upstream's), .safetensors or an exported .onnx; without a path,
        the one model in checkpoint/ or the quick start's (inference/checkpoints.py). `precision`: auto, fp32,
        bf16, fp16 or int8 (inference/precision.py; auto picks the fastest path that keeps the model's decisions
        on this machine; int8 builds an ONNX model on first use and keeps it in `cache_dir`,
        inference/model_cache.py). `labels` names a label table (dfew, mafw, ...) instead of the checkpoint's
        classes; `stride` overrides its sampling rate; `options` go to __init__ (`margin` defaults to the one
        that frames faces as the checkpoint's training set did). The path taken: `recognizer.precision`."""
        path = path or default_checkpoint()
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        classify, facts, choice = load_classifier(path, device, precision, cache_dir)
        log.info("%s", choice)
        classes = class_names(facts["class_names"], facts["data_set"], labels, facts["num_classes"])
        stride = stride or facts["sampling_rate"] or 4
        if options.get("margin") is None:
            options["margin"] = face_margin(facts["data_set"])
        return cls(
            classify, classes, facts["clip_len"], facts["input_size"], stride, device=facts["device"],
            data_set=facts["data_set"], precision=choice, **options,
        )  # fmt: skip

    def __call__(self, video, fps=None, annotated=None, progress=None):
        """Recognise `video` (a path to a video file or frame folder, or a (T, H, W, 3) uint8 RGB array); `fps`
        for folders and arrays (default 25); `annotated`: where to write the annotated video, if anywhere;
        `progress`: a callable taking an inference.progress.Progress now and then (frames read, faces found,
        windows classified, time left) in both passes."""
        source = FrameSource(video, fps)
        persons, num_frames, shot_starts = self.find_persons(source, progress)  # does the file decode at all?
        warning = generated_set_warning(self.data_set, video)
        if warning and not self.warned:
            log.warning("warning: %s", warning)
            self.warned = True
        stats, ids = StreamStats(), [p.id for p in persons]
        tracks = [p.track for p in persons]
        writer = AnnotatedVideo(annotated, self.classes, source.fps, ids) if annotated else contextlib.nullcontext()
        counts = lambda: (len(persons), stats.classified)  # noqa: E731
        # Without the annotated video, only the frames the windows sample are converted to RGB and downscaled.
        sampled = sampled_frames(num_frames, self.clip_len, self.stride, self.hop)
        wanted = None if annotated else lambda t: t < num_frames and sampled[t]
        with writer, contextlib.closing(source.frames(wanted)) as frames:
            frames = reporting(frames, "classifying", num_frames, counts, progress)
            windows = run_windows(
                self.probabilities, frames, num_frames, tracks, len(self.classes), self.clip_len, self.stride,
                self.hop, self.input_size, self.batch_size, writer.write if annotated else None, stats,
            )  # fmt: skip
        results = [PersonResult(p.id, w, p.track, self.classes) for p, w in zip(persons, windows, strict=True)]
        precision = self.precision.precision if self.precision else None
        return Recognition(
            source.name, source.fps, num_frames, self.classes, results, shot_starts, self.faces, source.stopped,
            warning, precision, stats,
        )  # fmt: skip

    def find_persons(self, source, progress=None) -> tuple[list[Person], int, list[int]]:
        """First pass: the persons (all, or the main one), the number of readable frames, the shot starts."""
        if self.detector is None:
            frames = source.readable_frames(wanted=lambda t: t == 0)
            height, width = next(frames).shape[:2]
            num_frames = 1 + sum(1 for _ in frames)
            return (
                [Person(1, whole_frame_track(num_frames, height, width), [(0, num_frames - 1)], 0.0)],
                num_frames,
                [0],
            )
        frames = handing_back_memory(source.readable_frames())
        found = scan(frames, self.detector, self.detect_every, self.min_face, progress, source.expected_frames)
        max_gap = max(MAX_GAP, 2 * self.detect_every - 1)  # one missed detection is always bridged
        persons = track_persons(found, max_gap=max_gap, margin=self.margin)
        if self.faces == "main":
            persons = [Person(1, p.track, p.tracklets, p.size) for p in main_person(persons)]
        return persons, found.num_frames, found.shot_starts

    @torch.inference_mode()
    def probabilities(self, clips):
        """(N, K) softmax of a list of (clip_len, S, S, 3) uint8 face clips, one forward pass."""
        batch = normalize(torch.stack(clips).to(self.device))
        return torch.softmax(torch.as_tensor(self.classify(batch)).float(), dim=-1).cpu().numpy()


def handing_back_memory(frames):
    """The frames as they come, handing freed memory back every RELEASE_EVERY_FRAMES of them: the first pass
    must not grow with the video's length either (without it, 12 minutes into the first pass over a 60-minute
    video malloc held 0.75 GB of free blocks)."""
    for count, frame in enumerate(frames, 1):
        yield frame
        if count % RELEASE_EVERY_FRAMES == 0:
            release_freed_memory()


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
