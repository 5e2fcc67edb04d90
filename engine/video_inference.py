"""Emotion timeline of a whole video: sliding 16-frame windows over the tracked face, batched, in one pass.

Window w samples frames start_w + k * stride (k < clip_len), clamped to the last frame; windows start every
`hop` frames and the last one ends on the last frame. A window whose sampled frames mostly lack a face is
marked faceless and gets no prediction; a frame's probabilities are the mean over the face windows that
cover it, and frames that no face window covers stay NaN (no face), never guessed.

`run_windows` reads the frames once, in order, and keeps only those a window still needs: a window is cropped
when its last frame arrives, predicted when `batch_size` face windows are waiting, and a frame is handed on
(`on_frame`) and dropped as soon as every window covering it has its prediction. Memory holds at most
(batch_size - 1) * hop + span frames (span = (clip_len - 1) * stride + 1), whatever the video's length: when
windows without a face separate the waiting ones, a batch runs before it is full rather than hold more.
"""

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch

from datasets.transforms import clip_tensor
from engine.setup import release_freed_memory
from preprocess.face_crop import crop_faces

RELEASE_EVERY_FRAMES = 1024  # first-pass frames between hand-backs of freed memory (the second pass: every batch)


@dataclass
class Window:
    start: int  # first frame covered
    end: int  # last frame covered (inclusive)
    indices: np.ndarray  # (clip_len,) sampled frames
    has_face: bool
    probs: np.ndarray | None = None  # (K,) softmax, None without a face


def handing_back_memory(frames):
    """The frames as they come, handing freed memory back every RELEASE_EVERY_FRAMES of them: the first pass
    must not grow with the video's length either (without it, 12 minutes into the first pass over a 60-minute
    video malloc held 0.75 GB of free blocks)."""
    for count, frame in enumerate(frames, 1):
        yield frame
        if count % RELEASE_EVERY_FRAMES == 0:
            release_freed_memory()


def plan_windows(num_frames, clip_len=16, stride=4, hop=16):
    """Sampled frame indices of every window, (W, clip_len)."""
    span = (clip_len - 1) * stride + 1
    starts = list(range(0, max(num_frames - span, 0) + 1, hop))
    if num_frames > span and starts[-1] != num_frames - span:
        starts.append(num_frames - span)
    offsets = np.arange(clip_len) * stride
    return np.minimum(np.array(starts)[:, None] + offsets[None], num_frames - 1)


def face_boxes(track, indices, min_face_fraction=0.5):
    """Whether each window has enough face, (W,) bool, and the box of each sampled frame, (W, clip_len, 4).

    Sampled frames without a box borrow the box of the nearest frame in the window that has one.
    """
    found = track.found[indices]  # W, clip_len
    has_face = found.mean(axis=1) >= min_face_fraction
    boxes = np.full(indices.shape + (4,), np.nan, np.float32)
    positions = np.arange(indices.shape[1])
    for w in np.flatnonzero(has_face):
        known = np.flatnonzero(found[w])
        nearest = known[np.abs(positions[:, None] - known[None]).argmin(1)]
        boxes[w] = track.boxes[indices[w, nearest]]
    return has_face, boxes


def frame_probs(windows, num_classes):
    """(K,) mean of the face windows' probabilities, in window order; NaN when there is none."""
    total, count = np.zeros(num_classes), 0
    for w in windows:
        if w.probs is not None:
            total += w.probs
            count += 1
    return total / count if count else np.full(num_classes, np.nan)


def frame_timeline(windows, num_frames, num_classes):
    """(T, K) per-frame probabilities: mean of the face windows covering each frame; NaN where none does."""
    total = np.zeros((num_frames, num_classes))
    count = np.zeros(num_frames)
    for w in windows:
        if w.probs is not None:
            total[w.start : w.end + 1] += w.probs
            count[w.start : w.end + 1] += 1
    timeline = np.full((num_frames, num_classes), np.nan)
    covered = count > 0
    timeline[covered] = total[covered] / count[covered, None]
    return timeline


@dataclass
class StreamStats:
    max_buffered: int = 0  # most frames held at once
    batches: int = 0  # forward passes


def run_windows(
    predict: Callable[[list[torch.Tensor]], np.ndarray],
    frames: Iterable[np.ndarray],
    num_frames: int,
    track,
    num_classes: int,
    clip_len: int = 16,
    stride: int = 4,
    hop: int = 16,
    input_size: int = 160,
    batch_size: int = 8,
    on_frame: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None = None,
    stats: StreamStats | None = None,
) -> list[Window]:
    """All windows of a `num_frames`-frame video with their predictions, reading `frames` once in order.

    `predict` maps a list of (clip_len, S, S, 3) uint8 face clips to (N, K) probabilities. `on_frame(frame, box,
    probs)` gets every frame in order with its track box and its (K,) probabilities (NaN without a face)
    as soon as they are final. Raises ValueError when `frames` holds fewer than `num_frames` frames.
    """
    indices = plan_windows(num_frames, clip_len, stride, hop)
    max_held = (batch_size - 1) * hop + (clip_len - 1) * stride + 1
    has_face, boxes = face_boxes(track, indices)
    windows = [Window(int(i[0]), int(i[-1]), i, bool(f)) for i, f in zip(indices, has_face, strict=True)]
    starts, ends = indices[:, 0], indices[:, -1]
    stats = stats if stats is not None else StreamStats()
    buffer = {}  # frame index -> frame, for the frames a window or on_frame still needs
    waiting = []  # (window index, clip): cropped face windows without a prediction yet
    cropped = emitted = received = 0  # windows [0, cropped) are cropped; frames [0, emitted) handed on

    def predict_waiting():
        for (w, _), probs in zip(waiting, predict([clip for _, clip in waiting]), strict=True):
            windows[w].probs = probs
        stats.batches += 1
        waiting.clear()
        release_freed_memory()  # what malloc keeps must not grow with the video's length (a page fault per page)

    def hand_on(first, stop):  # frames [first, stop), whose covering windows all have their prediction
        for u in range(first, stop):
            if on_frame is not None:
                covering = windows[np.searchsorted(ends, u) : np.searchsorted(starts, u, side="right")]
                on_frame(buffer[u], track.boxes[u], frame_probs(covering, num_classes))
        return max(first, stop)

    for t, frame in enumerate(itertools.islice(frames, num_frames)):
        buffer[t], received = frame, t + 1
        stats.max_buffered = max(stats.max_buffered, len(buffer))
        while cropped < len(windows) and windows[cropped].end <= t:  # complete: crop its face clip
            if has_face[cropped]:
                clip = crop_faces(np.stack([buffer[i] for i in indices[cropped]]), boxes[cropped], input_size)
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
    return windows
