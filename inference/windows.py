"""Emotion timelines of a whole video: sliding 16-frame windows over each tracked person, batched, in one pass.

Window w samples frames start_w + k * stride (k < clip_len), clamped to the last frame; windows start every
`hop` frames and the last one ends on the last frame. Every person gets the same windows. A window whose
sampled frames mostly lack the person's face is marked faceless and gets no prediction; in the others, a
sampled frame without the face is replaced by the nearest sampled frame with it, so that every crop the model
sees holds the face. A frame's probabilities are the mean over the person's face windows that cover it; frames
that none covers, and frames without the person's face, stay NaN (no face), never guessed.

`run_windows` reads the frames once, in order, and keeps only those a window still needs: a window is cropped
when its last frame arrives, predicted when `batch_size` face windows are waiting, and a frame is handed on
(`on_frame`) and dropped as soon as every window covering it has its prediction. Memory holds at most
(batch_size - 1) * hop + span frames (span = (clip_len - 1) * stride + 1), whatever the video's length or its
number of persons: when windows without a face separate the waiting ones, a batch runs before it is full rather
than hold more.
"""

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch

from datasets.transforms import clip_tensor
from preprocess.face_crop import crop_faces
from system.memory import release_freed_memory


@dataclass
class Window:
    start: int  # first frame covered
    end: int  # last frame covered (inclusive)
    indices: np.ndarray  # (clip_len,) sampled frames
    has_face: bool
    frames: np.ndarray | None = None  # (clip_len,) frames cropped: sampled, those without the face replaced
    boxes: np.ndarray | None = None  # (clip_len, 4) their boxes
    probs: np.ndarray | None = None  # (K,) softmax, None without a face

    @property
    def box(self):
        """The box in the middle of the window, None without a face."""
        return None if self.boxes is None else self.boxes[len(self.boxes) // 2]


def plan_windows(num_frames, clip_len=16, stride=4, hop=16):
    """Sampled frame indices of every window, (W, clip_len)."""
    span = (clip_len - 1) * stride + 1
    starts = list(range(0, max(num_frames - span, 0) + 1, hop))
    if num_frames > span and starts[-1] != num_frames - span:
        starts.append(num_frames - span)
    offsets = np.arange(clip_len) * stride
    return np.minimum(np.array(starts)[:, None] + offsets[None], num_frames - 1)


def sampled_frames(num_frames, clip_len=16, stride=4, hop=16):
    """(T,) bool: the frames some window samples, the only ones its face crops are taken from."""
    sampled = np.zeros(num_frames, bool)
    sampled[plan_windows(num_frames, clip_len, stride, hop)] = True
    return sampled


def face_inputs(track, indices, min_face_fraction=0.5):
    """Whether each window has enough face, (W,) bool, and what to crop: (W, clip_len) frames, (W, clip_len, 4)
    boxes. A sampled frame without a box is replaced by the nearest sampled frame with one (faceless: -1, NaN)."""
    found = track.found[indices]  # W, clip_len
    has_face = found.mean(axis=1) >= min_face_fraction
    frames = np.full(indices.shape, -1)
    positions = np.arange(indices.shape[1])
    for w in np.flatnonzero(has_face):
        known = np.flatnonzero(found[w])
        frames[w] = indices[w, known[np.abs(positions[:, None] - known[None]).argmin(1)]]
    boxes = np.where(frames[..., None] >= 0, track.boxes[np.maximum(frames, 0)], np.nan)
    return has_face, frames, boxes


def frame_probs(windows, num_classes):
    """(K,) mean of the face windows' probabilities, in window order; NaN when there is none."""
    total, count = np.zeros(num_classes), 0
    for w in windows:
        if w.probs is not None:
            total += w.probs
            count += 1
    return total / count if count else np.full(num_classes, np.nan)


def frame_timeline(windows, track, num_classes):
    """(T, K) per-frame probabilities: mean of the face windows covering each frame; NaN where none does and
    where the track has no box (a window reaching into the next shot labels no frame there)."""
    num_frames = len(track.status)
    total = np.zeros((num_frames, num_classes))
    count = np.zeros(num_frames)
    for w in windows:
        if w.probs is not None:
            total[w.start : w.end + 1] += w.probs
            count[w.start : w.end + 1] += 1
    timeline = np.full((num_frames, num_classes), np.nan)
    covered = (count > 0) & track.found
    timeline[covered] = total[covered] / count[covered, None]
    return timeline


@dataclass
class StreamStats:
    max_buffered: int = 0  # most frames held at once
    batches: int = 0  # forward passes
    classified: int = 0  # windows predicted


def run_windows(
    predict: Callable[[list[torch.Tensor]], np.ndarray],
    frames: Iterable[np.ndarray],
    num_frames: int,
    tracks: list,
    num_classes: int,
    clip_len: int = 16,
    stride: int = 4,
    hop: int = 16,
    input_size: int = 160,
    batch_size: int = 8,
    on_frame: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None = None,
    stats: StreamStats | None = None,
) -> list[list[Window]]:
    """The windows of every track (FaceTrack) of a `num_frames`-frame video with their predictions, reading
    `frames` once in order; one list per track.

    `predict` maps a list of (clip_len, S, S, 3) uint8 face clips to (N, K) probabilities; clips of all tracks
    share its batches. `on_frame(frame, boxes, probs)` gets every frame in order with each track's box, (P, 4),
    and (P, K) probabilities (NaN without a face) as soon as they are final. Raises ValueError when `frames`
    holds fewer than `num_frames` frames.
    """
    indices = plan_windows(num_frames, clip_len, stride, hop)
    max_held = (batch_size - 1) * hop + (clip_len - 1) * stride + 1
    inputs = [face_inputs(track, indices) for track in tracks]
    per_track = [[] for _ in tracks]
    windows = []  # every track's windows, by start then track: starts and ends stay sorted
    for w, sampled in enumerate(indices):
        for own, (has_face, crop_frames, boxes) in zip(per_track, inputs, strict=True):
            window = Window(int(sampled[0]), int(sampled[-1]), sampled, bool(has_face[w]))
            if window.has_face:
                window.frames, window.boxes = crop_frames[w], boxes[w]
            own.append(window)
            windows.append(window)
    starts, ends = np.array([w.start for w in windows]), np.array([w.end for w in windows])
    stats = stats if stats is not None else StreamStats()
    buffer = {}  # frame index -> frame, for the frames a window or on_frame still needs
    waiting = []  # (window index, clip): cropped face windows without a prediction yet
    cropped = emitted = received = 0  # windows [0, cropped) are cropped; frames [0, emitted) handed on

    def predict_waiting():
        for (w, _), probs in zip(waiting, predict([clip for _, clip in waiting]), strict=True):
            windows[w].probs = probs
        stats.batches += 1
        stats.classified += len(waiting)
        waiting.clear()
        release_freed_memory()  # what malloc keeps must not grow with the video's length (a page fault per page)

    def hand_on(first, stop):  # frames [first, stop), whose covering windows all have their prediction
        for u in range(first, stop):
            if on_frame is not None:
                covering = windows[np.searchsorted(ends, u) : np.searchsorted(starts, u, side="right")]
                probs = [
                    frame_probs(covering[p :: len(tracks)], num_classes)
                    if track.found[u]
                    else np.full(num_classes, np.nan)
                    for p, track in enumerate(tracks)
                ]
                boxes = [track.boxes[u] for track in tracks]
                on_frame(buffer[u], np.reshape(boxes, (-1, 4)), np.reshape(probs, (-1, num_classes)))
        return max(first, stop)

    for t, frame in enumerate(itertools.islice(frames, num_frames)):
        buffer[t], received = frame, t + 1
        stats.max_buffered = max(stats.max_buffered, len(buffer))
        while cropped < len(windows) and windows[cropped].end <= t:  # complete: crop its face clip
            window = windows[cropped]
            if window.has_face:
                clip = crop_faces(np.stack([buffer[i] for i in window.frames]), window.boxes, input_size)
                waiting.append((cropped, clip_tensor(clip)))
            cropped += 1
        if waiting and (len(waiting) == batch_size or t + 1 - starts[waiting[0][0]] >= max_held):
            predict_waiting()
        # A frame is final once every window starting at or before it is predicted.
        open_window = waiting[0][0] if waiting else cropped
        emitted = hand_on(emitted, min(starts[open_window], t + 1) if open_window < len(windows) else t + 1)
        keep_from = min(emitted, windows[cropped].start) if cropped < len(windows) else emitted
        for i in [i for i in buffer if i < keep_from]:
            del buffer[i]
    if received < num_frames:
        raise ValueError(f"the frames ended after {received} of {num_frames}")
    if waiting:
        predict_waiting()
    hand_on(emitted, num_frames)
    return per_track
